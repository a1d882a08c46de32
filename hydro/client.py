"""A small typed SDK over the control plane's REST API (`/api/v1`) and the router's invoke path.

    with HydroClient.from_settings() as hydro:
        accepted = hydro.upload_version(pack("examples/fraud-detector"))
        version = hydro.version(accepted.model, accepted.version)
        hydro.put_application("fraud", [[Variant("fraud-detector", version.version)]])
        hydro.invoke("fraud", {"amount": [12.5], "country": ["DE"]})

Every refused call raises HydroClientError with the HTTP status and the server's own message. The values
it answers with (ModelVersion, Application, Variant, ...) are defined in `hydro.resources` and exported
here too, so `from hydro.client import HydroClient, Variant` is all a script needs.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from hydro.errors import HydroClientError, HydroConnectionError
from hydro.resources import (
    Accepted,
    ApiToken,
    Application,
    AuditEvent,
    AuditPage,
    Deleted,
    DriftReport,
    GarbageCollection,
    InvokeKey,
    KafkaEndpoint,
    ModelSummary,
    ModelVersion,
    MonitoringSchedule,
    Replicas,
    Variant,
    items_of,
    parse_accepted,
    parse_application,
    parse_audit_page,
    parse_deleted,
    parse_drift_report,
    parse_gc,
    parse_invoke_key,
    parse_model_summary,
    parse_schedule,
    parse_token,
    parse_version,
)

if TYPE_CHECKING:  # imported when used: the Terraform provider starts often and needs neither at once
    from hydro.package import Package
    from hydro.settings import Settings

__all__ = [
    "Accepted",
    "ApiToken",
    "Application",
    "AuditEvent",
    "AuditPage",
    "Deleted",
    "DriftReport",
    "GarbageCollection",
    "HydroClient",
    "InvokeKey",
    "KafkaEndpoint",
    "ModelSummary",
    "ModelVersion",
    "MonitoringSchedule",
    "Replicas",
    "Variant",
]


SamplePair = Mapping[str, Any] | tuple[Mapping[str, Any], Mapping[str, Any]]
"""One sample of an external version: `{"request": ..., "response": ..., "time"?: ...}` or a pair."""
SAMPLE_BATCH = 500
"""Samples per request of `send_samples` (the control plane takes at most 1000 by default)."""


class HydroClient:
    """Synchronous client of one Hydro platform (control plane + router). Use as a context manager."""

    def __init__(
        self,
        control_plane_url: str = "http://127.0.0.1:8080",
        router_url: str = "http://127.0.0.1:8081",
        *,
        token: str | None = None,
        timeout_s: float = 60.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """`verify`: what `https://` URLs are checked against (an SSLContext holding the platform's CA,
        or True for the system's trusted roots)."""
        self.control_plane_url = control_plane_url.rstrip("/")
        self.router_url = router_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s, verify=verify)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> HydroClient:
        """A client configured from `HYDRO_CONTROL_PLANE_URL`, `HYDRO_ROUTER_URL`, the token and
        `HYDRO_TLS_CA_FILE` (the CA `https://` URLs are verified against; unset: the system's).

        Raises SettingsError (one line naming the variable) when a HYDRO_* variable is not usable.
        """
        if settings is None:
            from hydro.settings import Settings
            from servicekit.settings import load

            settings = load(Settings)
        from servicekit.tls import http_verify

        return cls(
            settings.control_plane_url,
            settings.router_url,
            token=settings.bearer_token(),
            timeout_s=settings.timeout_s,
            verify=http_verify(settings),
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
        return parse_accepted(body)

    def register_external(
        self, model: str, signature: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> Accepted:
        """Register a version of `model` that Hydro monitors but does not serve (released at once). To give
        it training data (a reference for drift reports), upload a folder instead: `upload_version(pack(
        folder))` with `external: true` and `training_data` in its hydro.yaml."""
        body: dict[str, Any] = {"external": True, "signature": dict(signature)}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return parse_accepted(self._api("POST", f"/models/{_seg(model)}/versions", json=body))

    def send_samples(
        self, model: str, version: int, pairs: Iterable[SamplePair], *, batch_size: int = SAMPLE_BATCH
    ) -> int:
        """Send an external version's traffic to Sonar: request and response pairs as Open Inference
        Protocol JSON, each a mapping `{"request": ..., "response": ..., "time"?: ISO 8601}` or a
        `(request, response)` tuple; sent `batch_size` at a time (each batch is taken whole or refused
        whole; a refused batch raises, and the batches before it stay sent). The number Sonar took."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        path = f"/models/{_seg(model)}/versions/{version}/samples"
        sent = 0
        batch: list[dict[str, Any]] = []
        for pair in pairs:
            batch.append(_sample(pair))
            if len(batch) == batch_size:
                sent += int(self._api("POST", path, json={"samples": batch})["accepted"])
                batch = []
        if batch:
            sent += int(self._api("POST", path, json={"samples": batch})["accepted"])
        return sent

    def models(self) -> list[ModelSummary]:
        return [parse_model_summary(m) for m in items_of(self._api("GET", "/models"), "models")]

    def versions(self, model: str) -> list[ModelVersion]:
        body = self._api("GET", f"/models/{_seg(model)}/versions")
        return [parse_version(v) for v in items_of(body, "versions")]

    def version(self, model: str, version: int) -> ModelVersion:
        return parse_version(self._api("GET", f"/models/{_seg(model)}/versions/{version}"))

    def delete_version(self, model: str, version: int, *, purge: bool = False) -> Deleted:
        """Delete a version (409 while an application uses it); `purge` also drops its sampled traffic and
        drift reports (kept otherwise, still readable by id)."""
        path = f"/models/{_seg(model)}/versions/{version}"
        return parse_deleted(self._api("DELETE", path, params={"purge": _flag(purge)}))

    def delete_model(self, model: str, *, purge: bool = False) -> Deleted:
        """Delete every version of a model (409 if any is in use); `purge` also forgets the model."""
        return parse_deleted(self._api("DELETE", f"/models/{_seg(model)}", params={"purge": _flag(purge)}))

    def retention(self, model: str) -> float | None:
        """Days of the model's sampled traffic Sonar keeps; None: Sonar's default."""
        return _days(self._api("GET", f"/models/{_seg(model)}/retention"))

    def set_retention(self, model: str, days: float | None) -> float | None:
        """Keep `days` of the model's sampled traffic (None: Sonar's default); Sonar deletes older hours."""
        body = {"sample_retention_days": days}
        return _days(self._api("PUT", f"/models/{_seg(model)}/retention", json=body))

    def version_logs(self, model: str, version: int) -> str:
        response = self._request("GET", self._url(f"/models/{_seg(model)}/versions/{version}/logs"))
        return response.text

    def follow_version_logs(self, model: str, version: int) -> Iterator[str]:
        """The build log as it grows, piece by piece, until the build ends (`?follow=true`)."""
        url = self._url(f"/models/{_seg(model)}/versions/{version}/logs")
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)  # a build step may be silent a while
        try:
            with self._http.stream("GET", url, params={"follow": "true"}, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    raise HydroClientError(response.status_code, _error_message(response), url=url)
                yield from response.iter_text()
        except httpx.TransportError as exc:
            raise HydroConnectionError(
                f"lost {_origin(url)} while following the log ({exc})", url=url
            ) from None

    # applications

    def put_application(
        self,
        name: str,
        stages: Sequence[Sequence[Variant]],
        *,
        sampling_rate: float = 1.0,
        require_invoke_key: bool = False,
        kafka: KafkaEndpoint | None = None,
        wait_s: float | None = None,
    ) -> Application:
        """Declare (or replace) an application: a pipeline of stages of weighted variants, and its Kafka
        endpoint (None: it has none, and one it had is removed).

        With `wait_s` (at most 60), the control plane answers once every router connected to it serves
        the declaration, or after `wait_s` seconds; `Application.routable` says which (and
        `routable_reason` why not)."""
        body: dict[str, Any] = {
            "stages": [{"variants": [v.to_json() for v in stage]} for stage in stages],
            "sampling_rate": sampling_rate,
            "require_invoke_key": require_invoke_key,
        }
        if kafka is not None:
            body["kafka"] = kafka.to_json()
        path = f"/applications/{_seg(name)}"
        if wait_s is not None:
            path += f"?wait=true&timeout_s={wait_s:g}"
        return parse_application(self._api("PUT", path, json=body), name)

    def set_kafka(self, name: str, kafka: KafkaEndpoint | None) -> Application:
        """Give application `name` this Kafka endpoint (None: remove it), keeping the rest of it."""
        current = self.application(name)
        return self.put_application(
            name,
            current.stages,
            sampling_rate=current.sampling_rate,
            require_invoke_key=current.require_invoke_key,
            kafka=kafka,
        )

    def application(self, name: str) -> Application:
        return parse_application(self._api("GET", f"/applications/{_seg(name)}"), name)

    def applications(self) -> list[Application]:
        return [parse_application(a, "") for a in items_of(self._api("GET", "/applications"), "applications")]

    def delete_application(self, name: str) -> None:
        self._request("DELETE", self._url(f"/applications/{_seg(name)}"))

    # invoke keys

    def create_invoke_key(self, app: str) -> InvokeKey:
        """A new invoke key of `app`; its `key` is shown only here."""
        return parse_invoke_key(self._api("POST", f"/applications/{_seg(app)}/invoke-keys"))

    def invoke_keys(self, app: str) -> list[InvokeKey]:
        body = self._api("GET", f"/applications/{_seg(app)}/invoke-keys")
        return [parse_invoke_key(item) for item in items_of(body, "invoke_keys")]

    def revoke_invoke_key(self, app: str, key_id: str) -> None:
        self._request("DELETE", self._url(f"/applications/{_seg(app)}/invoke-keys/{_seg(key_id)}"))

    # deployment configs

    def put_deployment_config(self, name: str, knobs: Mapping[str, Any]) -> dict[str, Any]:
        return self._api("PUT", f"/deployment-configs/{_seg(name)}", json=dict(knobs))

    def deployment_config(self, name: str) -> dict[str, Any]:
        return self._api("GET", f"/deployment-configs/{_seg(name)}")

    def deployment_configs(self) -> list[dict[str, Any]]:
        return items_of(self._api("GET", "/deployment-configs"), "deployment_configs")

    def delete_deployment_config(self, name: str) -> None:
        """Delete a config (409 for `default` or while a variant uses it)."""
        self._request("DELETE", self._url(f"/deployment-configs/{_seg(name)}"))

    # registry garbage collection (admin)

    def gc(self, *, dry_run: bool = False) -> GarbageCollection:
        """Delete the registry's images no version references (`dry_run`: only list them)."""
        return parse_gc(self._api("POST", "/gc", params={"dry_run": _flag(dry_run)}))

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
        return parse_schedule(
            self._api("PUT", f"/models/{_seg(model)}/versions/{version}/monitoring", json=body)
        )

    def monitoring(self, model: str, version: int) -> MonitoringSchedule:
        return parse_schedule(self._api("GET", f"/models/{_seg(model)}/versions/{version}/monitoring"))

    def delete_monitoring(self, model: str, version: int) -> None:
        """Remove the version's drift schedule (its reports stay)."""
        self._request("DELETE", self._url(f"/models/{_seg(model)}/versions/{version}/monitoring"))

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
        return parse_drift_report(
            self._api("POST", f"/models/{_seg(model)}/versions/{version}/drift-reports", json=body)
        )

    def drift_reports(self, model: str, version: int, *, limit: int = 50) -> list[DriftReport]:
        """The version's drift reports, newest first (without per-feature results)."""
        body = self._api(
            "GET", f"/models/{_seg(model)}/versions/{version}/drift-reports", params={"limit": limit}
        )
        return [parse_drift_report(item) for item in items_of(body, "drift_reports")]

    def drift_report(self, report_id: str) -> DriftReport:
        return parse_drift_report(self._api("GET", f"/drift-reports/{_seg(report_id)}"))

    def drift_report_html(self, report_id: str) -> str:
        return self._request("GET", self._url(f"/drift-reports/{_seg(report_id)}/html")).text

    # API tokens and the audit trail (admin tokens only)

    def create_token(self, name: str, role: str) -> ApiToken:
        """A new API token with `role` (viewer, deployer or admin); its `token` is shown only here."""
        return parse_token(self._api("POST", "/tokens", json={"name": name, "role": role}))

    def tokens(self) -> list[ApiToken]:
        return [parse_token(item) for item in items_of(self._api("GET", "/tokens"), "tokens")]

    def revoke_token(self, name: str) -> None:
        self._request("DELETE", self._url(f"/tokens/{_seg(name)}"))

    def audit(self, *, limit: int = 50, before: int | None = None) -> AuditPage:
        """Audit events (writes, refused ones included), newest first; pass `next` as `before` to page on."""
        params: dict[str, int] = {"limit": limit} if before is None else {"limit": limit, "before": before}
        return parse_audit_page(self._api("GET", "/audit", params=params))

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
            untrusted = _certificate_error(exc)
            if untrusted is not None:
                raise HydroClientError(
                    None,
                    f"{_origin(url)} presented a certificate this client does not trust "
                    f"({untrusted.verify_message}); set HYDRO_TLS_CA_FILE to the platform's CA certificate",
                    url=url,
                ) from None
            raise HydroConnectionError(
                f"cannot reach {_origin(url)} ({exc or type(exc).__name__})", url=url
            ) from None
        return response


def _sample(pair: SamplePair) -> dict[str, Any]:
    if isinstance(pair, tuple):
        request, response = pair
        return {"request": request, "response": response}
    return dict(pair)


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure under an httpx error, if that is what it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _days(body: dict[str, Any]) -> float | None:
    days = body.get("sample_retention_days")
    return None if days is None else float(days)


def _flag(value: bool) -> str:
    return "true" if value else "false"


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
