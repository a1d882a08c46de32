"""The web UI under /ui: server-rendered pages (Jinja2) over the REST API, called in process, with htmx
(vendored, `scripts/vendor_ui.sh`) for the live parts and the split editor."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from control_plane.ui import actions, login, pages
from control_plane.ui.sessions import Login
from control_plane.ui.web import ROOT, page, problem

STATIC = Path(__file__).parent / "static"


@page
async def no_such_page(request: Request, session: Login) -> Response:
    return problem(request, session, 404, f"there is no page at {request.url.path}")


def routes() -> list[BaseRoute]:
    app = f"{ROOT}/applications/{{app}}"
    version = f"{ROOT}/models/{{model}}/versions/{{version}}"
    return [
        Route("/", login.to_ui, methods=["GET"]),
        Route(ROOT, pages.overview, methods=["GET"]),
        Route(f"{ROOT}/login", login.login_form, methods=["GET"]),
        Route(f"{ROOT}/login", login.log_in, methods=["POST"]),
        Route(f"{ROOT}/logout", login.log_out, methods=["POST"]),
        Route(f"{ROOT}/fragments/applications", pages.overview_rows, methods=["GET"]),
        Route(app, pages.application, methods=["GET"]),
        Route(f"{app}/pipeline", pages.pipeline, methods=["GET"]),
        Route(f"{app}/split/preview", actions.preview_split, methods=["POST"]),
        Route(f"{app}/split", actions.apply_split, methods=["POST"]),
        Route(f"{app}/invoke-keys", pages.invoke_keys, methods=["GET"]),
        Route(f"{app}/invoke-keys", actions.create_invoke_key, methods=["POST"]),
        Route(f"{app}/invoke-keys/{{key_id}}/revoke", actions.revoke_invoke_key, methods=["POST"]),
        Route(f"{ROOT}/models", pages.models, methods=["GET"]),
        Route(f"{ROOT}/models/{{model}}", pages.model, methods=["GET"]),
        Route(f"{ROOT}/models/{{model}}/versions", actions.upload_version, methods=["POST"]),
        Route(version, pages.version, methods=["GET"]),
        Route(f"{version}/log", pages.build_log, methods=["GET"]),
        Route(f"{version}/point", actions.point_application, methods=["POST"]),
        Route(f"{ROOT}/drift-reports/{{report_id}}", pages.drift_report, methods=["GET"]),
        Route(f"{ROOT}/deployment-configs", pages.deployment_configs, methods=["GET"]),
        Route(f"{ROOT}/deployment-configs", actions.put_deployment_config, methods=["POST"]),
        Route(f"{ROOT}/deployment-configs/{{name}}", pages.deployment_config, methods=["GET"]),
        Route(f"{ROOT}/deployment-configs/{{name}}", actions.put_deployment_config, methods=["POST"]),
        Route(f"{ROOT}/tokens", pages.tokens, methods=["GET"]),
        Route(f"{ROOT}/tokens", actions.create_token, methods=["POST"]),
        Route(f"{ROOT}/tokens/{{name}}/revoke", actions.revoke_token, methods=["POST"]),
        Route(f"{ROOT}/audit", pages.audit, methods=["GET"]),
        Mount(f"{ROOT}/static", StaticFiles(directory=STATIC), name="ui-static"),
        Route(f"{ROOT}/{{rest:path}}", no_such_page, methods=["GET"]),
    ]
