"""Logging in to the web UI with an API token, and out again.

The login form posts the token; the control plane's own token check (`auth.TokenCheck`) says whose it is.
The token itself is then forgotten: the session cookie (HttpOnly, SameSite=Strict, Secure under TLS, with
the session's lifetime) carries only a random session id (`ui.sessions`).
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from control_plane.errors import HydroError
from control_plane.ui import sessions
from control_plane.ui.sessions import Login
from control_plane.ui.web import COOKIE, ROOT, FormTooLarge, current_login, form, render, state, write


def _next(raw: str | None) -> str:
    """Where to go after logging in: a page of the UI, never another site."""
    if raw and raw.startswith(ROOT + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return ROOT


async def login_form(request: Request) -> Response:
    login = await current_login(request)
    if login is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {"next": _next(request.query_params.get("next"))}, None)


async def log_in(request: Request) -> Response:
    current = state(request)
    try:
        values = await form(request)
    except FormTooLarge:
        values = {}
    target = _next(values.get("next"))
    token = values.get("token", "").strip()
    message = None
    if not token:
        message = "enter an API token (hydro up prints the admin token and writes it to ~/.hydro/token)"
    else:
        try:
            principal = await current.tokens.identify(f"Bearer {token}")
        except HydroError as exc:
            message = f"{exc}; check the token and try again"
        else:
            if principal.is_service:
                message = "the service credential cannot log in to the web UI; use an API token"
    if message is not None:
        return render(request, "login.html", {"next": target, "message": message}, None, status=401)
    hours = current.settings.ui_session_hours
    session_id, _ = await sessions.start(current.catalog.sessions, principal, current.clock(), hours)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=math.ceil(hours * 3600),
        path=ROOT,
        secure=current.settings.tls_enabled,
        httponly=True,
        samesite="strict",
    )
    return response


@write
async def log_out(request: Request, login: Login) -> Response:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await sessions.end(state(request).catalog.sessions, session_id)
    response: Response = RedirectResponse(f"{ROOT}/login", status_code=303)
    if request.headers.get("hx-request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": f"{ROOT}/login"})
    response.delete_cookie(COOKIE, path=ROOT, httponly=True, samesite="strict")
    return response


async def to_ui(request: Request) -> Response:
    return RedirectResponse(ROOT, status_code=307)
