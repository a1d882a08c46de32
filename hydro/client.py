"""A small typed SDK over the control plane's REST API (`/api/v1`) and the router's invoke path.

    with HydroClient.from_settings() as hydro:
        accepted = hydro.upload_version(pack("examples/fraud-detector"))
        version = hydro.version(accepted.model, accepted.version)
        hydro.put_application("fraud", [[Variant("fraud-detector", version.version)]])
        hydro.invoke("fraud", {"amount": [12.5], "country": ["DE"]})

Every refused call raises HydroClientError with the HTTP status and the server's own message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from hydro.errors import HydroClientError, HydroConnectionError
from hydro.package import Package
from hydro.settings import Settings

VERSION_STATUSES = ("pending", "building", "released", "failed")


@dataclass(frozen=True)
class InvokeKey:
    """An application's invoke key; `key` is set only in the answer that created it."""

    id: str
    prefix: str
    application: str
    created_at: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Accepted:
    """The answer to an upload: the version number the control plane gave the package."""

    model: str
    version: int
    status: str


@dataclass(frozen=True)
class ModelSummary:
    name: str
    versions: int
    latest_version: int | None
    latest_status: str | None


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    status: str
    image: str | None = None
    digest: str | None = None
    error: str | None = None
    signature: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def finished(self) -> bool:
        return self.status in ("released", "failed")


@dataclass(frozen=True)
class Replicas:
    ready: int
    desired: int


@dataclass(frozen=True)
class Variant:
    """One weighted model version of a stage; `replicas` only in answers (None: scaler not reachable)."""

    model: str
    version: int
    weight: int = 100
    deployment_config: str = "default"
    replicas: Replicas | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "weight": self.weight,
            "deployment_config": self.deployment_config,
        }


@dataclass(frozen=True)
class Application:
    name: str
    stages: tuple[tuple[Variant, ...], ...]
    sampling_rate: float = 1.0
    require_invoke_key: bool = False
    invoke_urls: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitoringSchedule:
    """When Sonar computes a version's drift reports: a cron expression (UTC) and a window length."""

    model: str
    version: int
    cron: str
    window: str
    window_s: int
    thresholds: dict[str, Any] = field(default_factory=dict)
    """Per-method thresholds (numbers) and `correction` (benjamini-hochberg, bonferroni or none)."""
    enabled: bool = True
    max_catch_up: int = 24
    next_run_at: str | None = None


@dataclass(frozen=True)
class DriftReport:
    """A drift report of a version over [window_start, window_end); summary and features once done."""

    id: str
    model: str
    version: int
    window_start: str
    window_end: str
    trigger: str
    status: str
    summary: dict[str, Any] | None = None
    features: list[dict[str, Any]] | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str | None = None
    html_url: str | None = None
    created_at: str | None = None
    finished_at: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class HydroClient:
    """Synchronous client of one Hydro platform (control plane + router). Use as a context manager."""

    def __init__(
        self,
        control_plane_url: str = "http://127.0.0.1:8080",
        router_url: str = "http://127.0.0.1:8081",
        *,
        token: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.control_plane_url = control_plane_url.rstrip("/")
        self.router_url = router_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> HydroClient:
        """A client configured from `HYDRO_CONTROL_PLANE_URL`, `HYDRO_ROUTER_URL` and the token."""
        settings = settings or Settings()
        return cls(
            settings.control_plane_url,
            settings.router_url,
            token=settings.bearer_token(),
            timeout_s=settings.timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HydroClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # models and versions

    def upload_version(self, package: Package) -> Accepted:
        """Upload a packed model folder as the model's next version (built in the background)."""
        body = self._api(
            "POST",
            f"/models/{_seg(package.name)}/versions",
            content=package.data,
            headers={"Content-Type": "application/gzip"},
        )
        return Accepted(model=str(body["model"]), version=int(body["version"]), status=str(body["status"]))

    def models(self) -> list[ModelSummary]:
        body = self._api("GET", "/models")
        return [
            ModelSummary(
                name=str(m["name"]),
                versions=int(m.get("versions") or 0),
                latest_version=m.get("latest_version"),
                latest_status=m.get("latest_status"),
            )
            for m in _items(body, "models")
        ]

    def versions(self, model: str) -> list[ModelVersion]:
        body = self._api("GET", f"/models/{_seg(model)}/versions")
        return [_version(v) for v in _items(body, "versions")]

    def version(self, model: str, version: int) -> ModelVersion:
        return _version(self._api("GET", f"/models/{_seg(model)}/versions/{version}"))

    def version_logs(self, model: str, version: int) -> str:
        response = self._request("GET", self._url(f"/models/{_seg(model)}/versions/{version}/logs"))
        return response.text

    # applications

    def put_application(
        self,
        name: str,
        stages: Sequence[Sequence[Variant]],
        *,
        sampling_rate: float = 1.0,
        require_invoke_key: bool = False,
    ) -> Application:
        """Declare (or replace) an application: a pipeline of stages of weighted variants."""
        body = {
            "stages": [{"variants": [v.to_json() for v in stage]} for stage in stages],
            "sampling_rate": sampling_rate,
            "require_invoke_key": require_invoke_key,
        }
        return _application(self._api("PUT", f"/applications/{_seg(name)}", json=body), name)

    def application(self, name: str) -> Application:
        return _application(self._api("GET", f"/applications/{_seg(name)}"), name)

    def applications(self) -> list[Application]:
        return [_application(a, "") for a in _items(self._api("GET", "/applications"), "applications")]

    def delete_application(self, name: str) -> None:
        self._request("DELETE", self._url(f"/applications/{_seg(name)}"))

    # invoke keys

    def create_invoke_key(self, app: str) -> InvokeKey:
        """A new invoke key of `app`; its `key` is shown only here."""
        return _invoke_key(self._api("POST", f"/applications/{_seg(app)}/invoke-keys"))

    def invoke_keys(self, app: str) -> list[InvokeKey]:
        body = self._api("GET", f"/applications/{_seg(app)}/invoke-keys")
        return [_invoke_key(item) for item in _items(body, "invoke_keys")]

    def revoke_invoke_key(self, app: str, key_id: str) -> None:
        self._request("DELETE", self._url(f"/applications/{_seg(app)}/invoke-keys/{_seg(key_id)}"))

    # deployment configs

    def put_deployment_config(self, name: str, knobs: Mapping[str, Any]) -> dict[str, Any]:
        return self._api("PUT", f"/deployment-configs/{_seg(name)}", json=dict(knobs))

    def deployment_config(self, name: str) -> dict[str, Any]:
        return self._api("GET", f"/deployment-configs/{_seg(name)}")

    # monitoring and drift reports

    def put_monitoring(
        self,
        model: str,
        version: int,
        *,
        cron: str,
        window: str,
        thresholds: Mapping[str, Any] | None = None,
        enabled: bool = True,
        max_catch_up: int = 24,
    ) -> MonitoringSchedule:
        """Set (replace) the version's drift schedule: `cron` in UTC, `window` such as "1h"."""
        body = {
            "cron": cron,
            "window": window,
            "thresholds": dict(thresholds or {}),
            "enabled": enabled,
            "max_catch_up": max_catch_up,
        }
        return _schedule(self._api("PUT", f"/models/{_seg(model)}/versions/{version}/monitoring", json=body))

    def monitoring(self, model: str, version: int) -> MonitoringSchedule:
        return _schedule(self._api("GET", f"/models/{_seg(model)}/versions/{version}/monitoring"))

    def run_drift(
        self,
        model: str,
        version: int,
        *,
        since: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> DriftReport:
        """Start a drift report over the last `since` (e.g. "1h"), or from `start` to `end` (ISO-8601)."""
        body = {"since": since} if since is not None else {"start": start, "end": end}
        return _drift_report(
            self._api("POST", f"/models/{_seg(model)}/versions/{version}/drift-reports", json=body)
        )

    def drift_reports(self, model: str, version: int, *, limit: int = 50) -> list[DriftReport]:
        """The version's drift reports, newest first (without per-feature results)."""
        body = self._api(
            "GET", f"/models/{_seg(model)}/versions/{version}/drift-reports", params={"limit": limit}
        )
        return [_drift_report(item) for item in _items(body, "drift_reports")]

    def drift_report(self, report_id: str) -> DriftReport:
        return _drift_report(self._api("GET", f"/drift-reports/{_seg(report_id)}"))

    def drift_report_html(self, report_id: str) -> str:
        return self._request("GET", self._url(f"/drift-reports/{_seg(report_id)}/html")).text

    # router

    def invoke(self, app: str, inputs: Mapping[str, Any], *, key: str | None = None) -> dict[str, Any]:
        """Call an application through the router's plain form: `{"input": nested list}` both ways.

        `key` is the application's invoke key; the admin token is never sent to the router.
        """
        headers = {"Authorization": f"Bearer {key}"} if key else None
        response = self._request(
            "POST", f"{self.router_url}/apps/{_seg(app)}", json=dict(inputs), headers=headers, token=False
        )
        return _json_object(response)

    def router_serves(self, app: str, model_version: int) -> bool:
        """Whether the router already routes `app` to `model_version` (its routing state follows the
        control plane's watch stream, so a fresh application reaches it a moment after the API answers).

        Asks for the Open Inference Protocol metadata of that version, which never starts a replica. An
        application that needs an invoke key answers 401 before routing, so that counts as served.
        Raises HydroConnectionError when nothing answers at the router's address (or in time).
        """
        url = f"{self.router_url}/v2/models/{_seg(app)}/versions/{model_version}"
        return self._send("GET", url, token=False).status_code in (200, 401)

    # plumbing

    def _url(self, path: str) -> str:
        return f"{self.control_plane_url}/api/v1{path}"

    def _api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _json_object(self._request(method, self._url(path), **kwargs))

    def _request(self, method: str, url: str, *, token: bool = True, **kwargs: Any) -> httpx.Response:
        """Send one request (with the admin token unless `token` is False); raise on any error."""
        response = self._send(method, url, token=token, **kwargs)
        if response.is_error:
            raise HydroClientError(response.status_code, _error_message(response), url=url)
        return response

    def _send(self, method: str, url: str, *, token: bool = True, **kwargs: Any) -> httpx.Response:
        """Send one request (with the admin token unless `token` is False); raise only when no answer came."""
        try:
            request = self._http.build_request(method, url, **kwargs)
            if not token and not kwargs.get("headers"):
                request.headers.pop("authorization", None)
            response = self._http.send(request)
        except httpx.TimeoutException:
            raise HydroConnectionError(f"{method} {url} timed out", url=url) from None
        except httpx.TransportError as exc:
            raise HydroConnectionError(
                f"cannot reach {_origin(url)} ({exc or type(exc).__name__})", url=url
            ) from None
        return response


def _seg(value: str) -> str:
    """One URL path segment (a name never spans segments, whatever it holds)."""
    return quote(value, safe="")


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode()}"


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error
    text = " ".join(response.text.split())[:200]
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise HydroClientError(
            response.status_code,
            f"{response.request.url} answered something that is not JSON",
            url=str(response.url),
        ) from None
    if not isinstance(body, dict):
        raise HydroClientError(
            response.status_code,
            f"{response.request.url} answered JSON that is not an object",
            url=str(response.url),
        )
    return body


def _items(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The list in an answer `{"<key>": [...]}`."""
    items = body.get(key, [])
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _invoke_key(body: Mapping[str, Any]) -> InvokeKey:
    key = body.get("key")
    return InvokeKey(
        id=str(body["id"]),
        prefix=str(body.get("prefix", "")),
        application=str(body.get("application", "")),
        created_at=body.get("created_at"),
        key=key if isinstance(key, str) else None,
    )


def _schedule(body: Mapping[str, Any]) -> MonitoringSchedule:
    return MonitoringSchedule(
        model=str(body["model"]),
        version=int(body["version"]),
        cron=str(body["cron"]),
        window=str(body["window"]),
        window_s=int(body["window_s"]),
        thresholds=dict(body.get("thresholds") or {}),
        enabled=bool(body.get("enabled", True)),
        max_catch_up=int(body.get("max_catch_up", 24)),
        next_run_at=body.get("next_run_at"),
    )


def _drift_report(body: Mapping[str, Any]) -> DriftReport:
    summary = body.get("summary")
    return DriftReport(
        id=str(body["id"]),
        model=str(body["model"]),
        version=int(body["version"]),
        window_start=str(body["window_start"]),
        window_end=str(body["window_end"]),
        trigger=str(body.get("trigger", "")),
        status=str(body["status"]),
        summary=dict(summary) if isinstance(summary, Mapping) else None,
        features=_features(body.get("features")),
        thresholds=dict(body.get("thresholds") or {}),
        error=body.get("error"),
        worker=body.get("worker"),
        html_url=body.get("html_url"),
        created_at=body.get("created_at"),
        finished_at=body.get("finished_at"),
    )


def _features(value: Any) -> list[dict[str, Any]] | None:
    """Per-feature results as a list of objects (an object keyed by feature name becomes one)."""
    if isinstance(value, Mapping):
        return [
            {"name": name, **result} if isinstance(result, Mapping) else {"name": name, "result": result}
            for name, result in value.items()
        ]
    if isinstance(value, list):
        return [item if isinstance(item, dict) else {"result": item} for item in value]
    return None


def _version(body: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        model=str(body["model"]),
        version=int(body["version"]),
        status=str(body["status"]),
        image=body.get("image"),
        digest=body.get("digest"),
        error=body.get("error"),
        signature=dict(body.get("signature") or {}),
        created_at=body.get("created_at"),
    )


def _application(body: Mapping[str, Any], name: str) -> Application:
    stages = []
    for stage in body.get("stages") or []:
        variants = []
        for v in stage.get("variants") or []:
            replicas = v.get("replicas")
            variants.append(
                Variant(
                    model=str(v["model"]),
                    version=int(v["version"]),
                    weight=int(v.get("weight", 100)),
                    deployment_config=str(v.get("deployment_config") or "default"),
                    replicas=None
                    if not isinstance(replicas, Mapping)
                    else Replicas(
                        ready=int(replicas.get("ready", 0)), desired=int(replicas.get("desired", 0))
                    ),
                )
            )
        stages.append(tuple(variants))
    return Application(
        name=str(body.get("name") or name),
        stages=tuple(stages),
        sampling_rate=float(body.get("sampling_rate", 1.0)),
        require_invoke_key=bool(body.get("require_invoke_key", False)),
        invoke_urls={str(k): str(v) for k, v in (body.get("invoke_urls") or {}).items()},
    )
