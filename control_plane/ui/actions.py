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
from control_plane.ui.web import ROOT, after_write, api, form, is_htmx, problem, refused, render, write


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
