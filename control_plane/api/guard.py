"""Access to `/api/v1`, checked in one place before any endpoint runs, and the audit trail of writes.

For each request under `/api/v1` the guard finds the route it will reach and that route's `Access`
(`common.ApiRoute`; a plain `Route` counts as admin-only). A public route passes as is. Otherwise the
caller must present a valid credential (401 otherwise, whatever the path, so unauthenticated callers learn
nothing about routes), and the credential must open the route (403 naming what it needs). A path that no
route matches reaches Starlette's 404/405 once the caller is authenticated.

Every write (POST, PUT, PATCH, DELETE) is recorded in the audit trail with its final status and error
message, just before the last piece of its answer is sent (so the trail is current once the caller has its
answer). A failed insert is logged at error level and never changes the answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_plane import audit
from control_plane.api.common import PREFIX, ApiRoute, error, refusal
from control_plane.auth import Access, Principal, authorize
from control_plane.errors import HydroError
from control_plane.state import State
from control_plane.timestamps import utcnow

logger = logging.getLogger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
INTERNAL = f"{PREFIX}/internal/"
_MAX_ERROR_BODY = 16 * 1024
IN_PROCESS_PRINCIPAL = "hydro.principal"
"""The scope key under which an in-process caller (the web UI, `control_plane.ui.in_process`) hands in the
principal its session acts as, instead of a bearer token. Only code in this process can set a scope key; no
header or path from the network reaches it."""


class Guard:
    """Pure ASGI middleware: authenticate, authorize by the matched route, record writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        access = _access(scope)
        if access is Access.PUBLIC:
            await self.app(scope, receive, send)
            return
        current: State = scope["app"].state.hydro
        method: str = scope["method"]
        principal: Principal | None = None
        try:
            given = scope.get(IN_PROCESS_PRINCIPAL)
            if isinstance(given, Principal):
                principal = given
            else:
                principal = await current.tokens.identify(_header(scope, b"authorization"))
            if access is not None:
                authorize(principal, access, f"{method} {path}")
        except HydroError as exc:
            answer = refusal(exc)
            if method in WRITES:
                await _record(current, principal, method, path, answer.status_code, str(exc))
            await answer(scope, receive, send)
            return
        except Exception:  # the stored tokens could not be read: refuse, since nobody can be checked
            logger.exception("checking the credential of %s %s failed", method, path)
            unavailable = error(
                503, "the control plane cannot check credentials now (its database did not answer)"
            )
            await unavailable(scope, receive, send)
            return
        if method not in WRITES:
            await self.app(scope, receive, send)
            return
        assert principal is not None
        await self._recorded(current, principal, scope, receive, send)

    async def _recorded(
        self, current: State, principal: Principal, scope: Scope, receive: Receive, send: Send
    ) -> None:
        status = 500
        body = bytearray()
        recorded = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                if status >= 400 and len(body) < _MAX_ERROR_BODY:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False) and not recorded:
                    recorded = True
                    if not (principal.is_service and scope["path"].startswith(INTERNAL) and status < 400):
                        await _record(
                            current,
                            principal,
                            scope["method"],
                            scope["path"],
                            status,
                            _error_of(status, bytes(body)),
                        )
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not recorded:
                await _record(
                    current,
                    principal,
                    scope["method"],
                    scope["path"],
                    500,
                    "the call failed before it answered",
                )


def _access(scope: Scope) -> Access | None:
    """The access level of the route this request reaches; None when no route matches path and method."""
    for route in scope["app"].routes:
        if not isinstance(route, Route):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route.access if isinstance(route, ApiRoute) else Access.ADMIN
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _error_of(status: int, body: bytes) -> str | None:
    if status < 400:
        return None
    try:
        parsed: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"HTTP {status}"
    message = parsed.get("error") if isinstance(parsed, dict) else None
    return message if isinstance(message, str) else f"HTTP {status}"


async def _record(
    current: State, principal: Principal | None, method: str, path: str, status: int, error: str | None
) -> None:
    event = audit.Event(
        at=utcnow(),
        token=None if principal is None else principal.name,
        role=None if principal is None else principal.role,
        method=method,
        path=path,
        status=status,
        error=error,
    )
    try:
        await audit.record(current.catalog.sessions, event)
    except Exception:
        logger.exception("could not record %s %s (status %d) in the audit trail", method, path, status)
