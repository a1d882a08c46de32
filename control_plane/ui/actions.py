"""The UI's writes: each is one in-process API call as the session's principal (`ui.in_process`), so the
API's guard decides who may (a forged write from a viewer gets the API's 403 and its message) and records
it in the audit trail, exactly as for a call with the token itself."""

from __future__ import annotations

import json
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from control_plane.ui import splits
from control_plane.ui.in_process import path
from control_plane.ui.sessions import Login
from control_plane.ui.web import (
    ROOT,
    after_write,
    api,
    form,
    is_htmx,
    problem,
    refused,
    render,
    state,
    write,
)


async def _proposed(
    request: Request, login: Login
) -> tuple[str, dict[str, object], dict[str, object]] | Response:
    name = request.path_params["app"]
    current = await api(request, login, "GET", path("applications", name))
    if not current.ok:
        return refused(request, login, current)
    before = splits.declaration(current.body)
    return name, before, splits.with_weights(before, await form(request))


@write
async def preview_split(request: Request, login: Login) -> Response:
    """The split the form proposes: the difference, and the result as JSON and HCL (nothing is written)."""
    proposed = await _proposed(request, login)
    if isinstance(proposed, Response):
        return proposed
    name, before, after = proposed
    context = {
        "changes": splits.diff(before, after),
        "declaration_json": splits.as_json(after),
        "declaration_hcl": splits.as_hcl(name, after),
    }
    return render(request, "fragments/split_preview.html", context, login)


@write
async def apply_split(request: Request, login: Login) -> Response:
    """PUT the application with the form's weights; the API's answer (or its refusal) is what is shown."""
    proposed = await _proposed(request, login)
    if isinstance(proposed, Response):
        return proposed
    name, before, after = proposed
    answer = await api(request, login, "PUT", path("applications", name), body=after)
    if not answer.ok:
        return refused(request, login, answer)
    if not is_htmx(request):
        return after_write(request, f"{ROOT}/applications/{name}")
    context = {
        "app": answer.body,
        "changes": splits.diff(before, after),
        "declaration_json": splits.as_json(after),
        "declaration_hcl": splits.as_hcl(name, after),
    }
    return render(request, "fragments/split_applied.html", context, login)


@write
async def create_token(request: Request, login: Login) -> Response:
    values = await form(request)
    body = {"name": values.get("name", "").strip(), "role": values.get("role", "")}
    answer = await api(request, login, "POST", path("tokens"), body=body)
    if not answer.ok:
        return refused(request, login, answer)
    listing = await api(request, login, "GET", path("tokens"))
    if not listing.ok:
        return refused(request, login, listing)
    context = {"tokens": listing.body["tokens"], "created": answer.body}
    return render(request, "tokens.html", context, login, status=201)


@write
async def revoke_token(request: Request, login: Login) -> Response:
    answer = await api(request, login, "DELETE", path("tokens", request.path_params["name"]))
    if not answer.ok:
        return refused(request, login, answer)
    return after_write(request, f"{ROOT}/tokens")


@write
async def create_invoke_key(request: Request, login: Login) -> Response:
    name = request.path_params["app"]
    answer = await api(request, login, "POST", path("applications", name, "invoke-keys"))
    if not answer.ok:
        return refused(request, login, answer)
    listing = await api(request, login, "GET", path("applications", name, "invoke-keys"))
    if not listing.ok:
        return refused(request, login, listing)
    context = {"app": name, "keys": listing.body["invoke_keys"], "created": answer.body}
    return render(request, "invoke_keys.html", context, login, status=201)


@write
async def revoke_invoke_key(request: Request, login: Login) -> Response:
    name, key = request.path_params["app"], request.path_params["key_id"]
    answer = await api(request, login, "DELETE", path("applications", name, "invoke-keys", key))
    if not answer.ok:
        return refused(request, login, answer)
    return after_write(request, f"{ROOT}/applications/{name}/invoke-keys")


@write
async def put_deployment_config(request: Request, login: Login) -> Response:
    """Create or change a config from the knobs typed as a JSON object (omitted knobs take defaults)."""
    values = await form(request)
    name = request.path_params.get("name") or values.get("name", "").strip()
    try:
        knobs = json.loads(values.get("knobs", "") or "{}")
    except ValueError as exc:
        return problem(request, login, 400, f"the knobs are not valid JSON: {exc}")
    if not name:
        return problem(request, login, 400, "name the deployment config")
    answer = await api(request, login, "PUT", path("deployment-configs", name), body=knobs)
    if not answer.ok:
        return refused(request, login, answer)
    return after_write(request, f"{ROOT}/deployment-configs/{quote(name, safe='')}")


@write
async def upload_version(request: Request, login: Login) -> Response:
    """A new version from a `.tar.gz` of the model folder, sent as the request body by the upload form's
    script (`hydro.js`), with the CSRF token in its header; the API checks, stores and builds it."""
    model = request.path_params["model"]
    if request.headers.get("content-type", "").startswith("multipart/"):
        return problem(request, login, 415, "uploading a version needs JavaScript (the page sends the file)")
    limit = state(request).settings.max_package_bytes
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            return problem(request, login, 413, f"the package is larger than the limit of {limit} bytes")
    if not received:
        return problem(request, login, 400, "choose the model folder's .tar.gz to upload")
    answer = await api(
        request,
        login,
        "POST",
        path("models", model, "versions"),
        content=bytes(received),
        content_type="application/gzip",
    )
    if not answer.ok:
        return refused(request, login, answer)
    return render(request, "fragments/uploaded.html", {"accepted": answer.body}, login, status=answer.status)


@write
async def point_application(request: Request, login: Login) -> Response:
    """Route an application (new or existing) to this version alone, weight 100, as `hydro deploy` does:
    its sampling rate, invoke-key requirement and Kafka endpoint stay as they were."""
    model, raw = request.path_params["model"], request.path_params["version"]
    number: int | str = int(raw) if raw.isascii() and raw.isdigit() else raw  # else the API says why
    values = await form(request)
    app = values.get("application", "").strip()
    if not app:
        return problem(request, login, 400, "name the application to point at this version")
    config = values.get("deployment_config", "").strip() or "default"
    current = await api(request, login, "GET", path("applications", app))
    if not current.ok and current.status != 404:
        return refused(request, login, current)
    kept = (
        splits.declaration(current.body)
        if current.ok
        else {"sampling_rate": 1.0, "require_invoke_key": False}
    )
    variant = {"model": model, "version": number, "weight": 100, "deployment_config": config}
    body = {**kept, "stages": [{"variants": [variant]}]}
    answer = await api(request, login, "PUT", path("applications", app), body=body)
    if not answer.ok:
        return refused(request, login, answer)
    return after_write(request, f"{ROOT}/applications/{quote(app, safe='')}")
