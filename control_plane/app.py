"""The Starlette application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from control_plane import api, ui
from control_plane.api.common import http_exception
from control_plane.api.guard import Guard
from control_plane.api.middleware import RefuseUnnamablePaths, RequestMetrics
from control_plane.clock import Clock, system_clock
from control_plane.settings import Settings
from control_plane.state import State, open_state


def create_app(settings: Settings, *, state: State | None = None, clock: Clock = system_clock) -> Starlette:
    """The REST API and the web UI. Its lifespan opens a State (with `clock`), unless one is handed in
    (`serve` shares it with gRPC)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if state is not None:
            app.state.hydro = state
            yield
            return
        async with open_state(settings, clock=clock) as opened:
            app.state.hydro = opened
            yield

    return Starlette(
        routes=[*api.routes(), *ui.routes()],
        middleware=[Middleware(RequestMetrics), Middleware(RefuseUnnamablePaths), Middleware(Guard)],
        exception_handlers={HTTPException: http_exception},
        lifespan=lifespan,
    )
