"""What every UI handler shares: the session behind the cookie, CSRF on writes, forms, templates, errors.

A page handler is wrapped by `page` (a login is needed: without one the browser goes to the login form) or
`write` (the same, plus the session's CSRF token, from the form field `csrf_token` or the `X-CSRF-Token`
header that htmx sends, else 403). Whatever fails, the answer is a page that says what in words: the API's
message when the API refused, a generic line (and the traceback in the log) when something else broke.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from control_plane.auth import Principal
from control_plane.state import State
from control_plane.tables import Role
from control_plane.ui import in_process, sessions
from control_plane.ui.in_process import Answer
from control_plane.ui.sessions import Login

logger = logging.getLogger(__name__)

ROOT = "/ui"
COOKIE = "hydro_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024
PAGE_HEADERS = {
    # Every asset is Hydro's own; no page may be framed (its buttons write), nothing inline runs.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # a page may show a secret once (a new token or invoke key): never kept by a cache
    "Cache-Control": "no-store",
}
_RANK = {Role.VIEWER.value: 0, Role.DEPLOYER.value: 1, Role.ADMIN.value: 2}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

Handler = Callable[[Request, Login], Awaitable[Response]]


class FormTooLarge(Exception):
    pass


def state(request: Request) -> State:
    value: State = request.app.state.hydro
    return value


def may(principal: Principal, role: Role) -> bool:
    """Whether `principal` holds `role` or a higher one: what the pages offer (the API decides)."""
    return _RANK.get(principal.role, -1) >= _RANK[role.value]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def current_login(request: Request) -> Login | None:
    current = state(request)
    return await sessions.find(
        current.catalog.sessions,
        request.cookies.get(COOKIE),
        current.clock(),
        admin_from_environment=current.tokens.admin_from_environment,
    )


def render(
    request: Request, template: str, context: dict[str, Any], login: Login | None, status: int = 200
) -> Response:
    principal = None if login is None else login.principal
    values = {
        "login": login,
        "principal": principal,
        "can_deploy": principal is not None and may(principal, Role.DEPLOYER),
        "is_admin": principal is not None and may(principal, Role.ADMIN),
        "csrf": None if login is None else login.csrf,
        "root": ROOT,
        **context,
    }
    return templates.TemplateResponse(request, template, values, status_code=status, headers=PAGE_HEADERS)


def problem(request: Request, login: Login | None, status: int, message: str) -> Response:
    """An error in words: a fragment for htmx (swapped where the result goes), else a whole page."""
    template = "fragments/problem.html" if is_htmx(request) else "problem.html"
    return render(request, template, {"status": status, "message": message}, login, status)


def refused(request: Request, login: Login, answer: Answer) -> Response:
    """The API refused: its status and its own message."""
    return problem(request, login, answer.status, answer.error)


async def api(
    request: Request,
    login: Login,
    method: str,
    api_path: str,
    *,
    body: Any = None,
    content: bytes | None = None,
    content_type: str = "application/octet-stream",
    query: dict[str, str] | None = None,
) -> Answer:
    """Call the REST API in process as the session's principal."""
    return await in_process.call(
        request.app,
        login.principal,
        method,
        api_path,
        body=body,
        content=content,
        content_type=content_type,
        query=query,
    )


def to_login(request: Request) -> Response:
    target = f"{ROOT}/login?next={quote(request.url.path, safe='/')}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _guarded(handler: Handler, *, csrf: bool) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        login: Login | None = None
        try:
            login = await current_login(request)
            if login is None:
                return to_login(request)
            if csrf:
                presented = request.headers.get(CSRF_HEADER)
                if presented is None and _is_form(request):
                    presented = (await form(request)).get(CSRF_FIELD)
                if not sessions.csrf_matches(login, presented):
                    return problem(
                        request,
                        login,
                        403,
                        "this form's CSRF token is missing or belongs to another session; reload the page "
                        "and try again",
                    )
            return await handler(request, login)
        except FormTooLarge:
            return problem(request, login, 413, f"the form is larger than {MAX_FORM_BYTES} bytes")
        except Exception:
            logger.exception("UI %s %s failed", request.method, request.url.path)
            return problem(
                request, login, 500, "the control plane failed to build this page; its log has the details"
            )

    return wrapped


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page or fragment that needs a login."""
    return _guarded(handler, csrf=False)


def write(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A write: needs a login and the session's CSRF token."""
    return _guarded(handler, csrf=True)


async def form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (read once, kept on the request); the last value of a repeated
    field wins. Forms are small: past MAX_FORM_BYTES, FormTooLarge."""
    cached: dict[str, str] | None = getattr(request.state, "ui_form", None)
    if cached is not None:
        return cached
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_FORM_BYTES:
            raise FormTooLarge
    values = dict(parse_qsl(received.decode("utf-8", errors="replace"), keep_blank_values=True))
    request.state.ui_form = values
    return values


def after_write(request: Request, target: str) -> Response:
    """Where a plain (non-htmx) form post lands once it worked."""
    return RedirectResponse(target, status_code=303)
