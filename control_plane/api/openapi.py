"""The OpenAPI 3.1 description of the control plane's REST API, served at `GET /api/v1/openapi.json`.

Built in code, operation by operation, beside the routes it describes; a test compares its operations
with the app's routes in both directions, and a fuzz test checks the answers against its schemas.

It covers every route of the API: everything under `/api/v1`, and the bare `/health` and `/metrics` that
the same app serves for probes and Prometheus (the web UI, when mounted, is not part of the API). Each
operation carries `x-hydro-role`, the role it needs: `public` (no token), `viewer` (reads), `deployer`
(versions, applications, configs, monitoring, invoke keys, drift report requests), `admin` (tokens and
audit) and `service` (the package download and the Sonar workers' drift-job calls).
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import drift_reports
from control_plane.api.applications import DEFAULT_WAIT_S, MAX_WAIT_S
from control_plane.api.common import PREFIX, ApiRoute, endpoint
from control_plane.api.openapi_schemas import (
    DNS_LABEL,
    STRING,
    Schema,
    ref,
    request_schemas,
    response_schemas,
)
from control_plane.auth import Access
from control_plane.tables import ReportStatus
from control_plane.versions import MAX_NUMBER

PUBLIC, VIEWER, DEPLOYER, ADMIN, SERVICE = "public", "viewer", "deployer", "admin", "service"

_STATUS_TEXT = {
    400: "Bad input; the message names the problem",
    401: "No valid bearer token (`WWW-Authenticate: Bearer`)",
    403: "The token's role may not do this; the message names the role needed",
    404: "No such thing (or no such route); the message names it",
    409: "Valid, but it clashes with the catalog's current state; the message says how",
    413: "The request body is larger than its limit; the message names the limit",
    503: "The object store (or the database, or Sonar for samples) failed; the message names it",
}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(status: int) -> dict[str, Any]:
    return {"description": _STATUS_TEXT[status], "content": _json(ref("Error"))}


def _ok(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": _json(schema)}


def _text(description: str, media_type: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": STRING}}}


def _param(name: str, where: str, schema: Schema, description: str, *, required: bool = True) -> Schema:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": description}


MODEL = _param("model", "path", STRING, "Model name")
VERSION = _param(
    "version", "path", {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}, "Version number"
)
APP = _param("app", "path", STRING, "Application name")
CONFIG = _param("name", "path", STRING, "Deployment config name")
KEY_ID = _param("key_id", "path", STRING, "Invoke key id")
REPORT_ID = _param("report_id", "path", STRING, "Drift report id")
PURGE = _param(
    "purge",
    "query",
    {"enum": ["true", "false"]},
    "Also delete drift reports (rows and pages) and sampled traffic (and, for a model, its name and the "
    "reports kept from its versions deleted earlier)",
    required=False,
)
TOKEN_NAME = _param("name", "path", {"type": "string", "pattern": DNS_LABEL}, "Token name")


def _operation(
    role: str,
    summary: str,
    responses: dict[int, dict[str, Any]],
    *,
    params: tuple[Schema, ...] = (),
    body: str | None = None,
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    """One operation; a JSON `body` (a schema name) adds 400 and 413, a role other than public 401 and 403."""
    statuses = set(errors)
    if params:
        statuses.add(404)  # a name with a '/' (or a thing that does not exist) matches no route
    if VERSION in params:
        statuses.add(400)  # not a version number
    operation: dict[str, Any] = {"summary": summary, "x-hydro-role": role}
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(ref(body))}
        statuses |= {400, 413}
    if role == PUBLIC:
        operation["security"] = []
    else:
        statuses |= {401, 403}
    answers = {str(status): answer for status, answer in responses.items()}
    answers |= {str(status): _error(status) for status in sorted(statuses)}
    operation["responses"] = dict(sorted(answers.items()))
    return operation


_NO_CONTENT = {"description": "Done; no body"}


def _health(summary: str) -> dict[str, Any]:
    return _operation(
        PUBLIC,
        summary,
        {
            200: _ok("The control plane and its database answer", ref("Health")),
            503: _ok("The database does not answer", ref("HealthUnavailable")),
        },
    )


def _metrics(role: str) -> dict[str, Any]:
    return _operation(role, "Prometheus metrics", {200: _text("Prometheus text format", "text/plain")})


def _paths() -> dict[str, dict[str, Any]]:
    models = f"{PREFIX}/models/{{model}}/versions"
    version = f"{models}/{{version}}"
    app = f"{PREFIX}/applications/{{app}}"
    jobs = f"{PREFIX}/internal/drift-jobs"
    job = (REPORT_ID,)
    return {
        "/health": {"get": _health("Health, for probes (outside /api/v1)")},
        "/metrics": {"get": _metrics(PUBLIC)},
        f"{PREFIX}/health": {"get": _health("Health")},
        f"{PREFIX}/metrics": {"get": _metrics(VIEWER)},
        f"{PREFIX}/openapi.json": {
            "get": _operation(VIEWER, "This description", {200: _ok("OpenAPI 3.1", ref("OpenAPI"))})
        },
        f"{PREFIX}/models": {
            "get": _operation(VIEWER, "List models", {200: _ok("Every model", ref("ModelList"))})
        },
        models: {
            "post": {
                **_operation(
                    DEPLOYER,
                    "Upload a model folder (tar.gz) as the model's next version; it builds in the "
                    "background. "
                    "A JSON body, or a hydro.yaml saying external: true, registers an external version "
                    "(monitored only): released at once, never built, no application may route to it",
                    {
                        201: _ok("An external version, released", ref("VersionAccepted")),
                        202: _ok("Stored; the build starts", ref("VersionAccepted")),
                    },
                    params=(MODEL,),
                    errors=(400, 409, 413, 503),
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        **{
                            kind: {"schema": {"type": "string", "format": "binary"}}
                            for kind in ("application/gzip", "application/octet-stream")
                        },
                        **_json(ref("ExternalVersionSpec")),
                    },
                },
            },
            "get": _operation(
                VIEWER,
                "List a model's versions",
                {200: _ok("Its versions", ref("VersionList"))},
                params=(MODEL,),
            ),
        },
        version: {
            "get": _operation(
                VIEWER, "A version", {200: _ok("The version", ref("Version"))}, params=(MODEL, VERSION)
            ),
            "delete": _operation(
                DEPLOYER,
                "Delete a version: refused (409, naming each application, stage and variant) while in use "
                "or building; else its catalog rows (and monitoring schedule) go in one transaction, its "
                "replicas stop, then its package, reference profile and image (registry and this Docker "
                "host) are removed best-effort, what failed listed in `failed`. Drift reports (still "
                "answering by id and in the version's listing; pending or running ones failed) and sampled "
                "traffic are kept unless purge=true. A second DELETE is a 404.",
                {200: _ok("What was removed", ref("Deleted"))},
                params=(MODEL, VERSION, PURGE),
                errors=(400, 409),
            ),
        },
        f"{PREFIX}/models/{{model}}": {
            "delete": _operation(
                DEPLOYER,
                "Delete every version of a model, as DELETE of a version does for each (409 if any is in "
                "use); the model's name keeps its version numbers unless purge=true, so kept samples never "
                "mix with a new version's",
                {200: _ok("What was removed", ref("Deleted"))},
                params=(MODEL, PURGE),
                errors=(400, 409),
            )
        },
        f"{PREFIX}/models/{{model}}/retention": {
            "put": _operation(
                DEPLOYER,
                "Set how many days of the model's sampled traffic Sonar keeps (null: Sonar's default, "
                "HYDRO_SAMPLE_RETENTION_DAYS); Sonar learns it with the next catalog revision and deletes "
                "older hourly partitions at its next retention pass",
                {200: _ok("The model's retention", ref("Retention"))},
                params=(MODEL,),
                body="RetentionSpec",
            ),
            "get": _operation(
                VIEWER,
                "How many days of the model's sampled traffic Sonar keeps (null: Sonar's default)",
                {200: _ok("The model's retention", ref("Retention"))},
                params=(MODEL,),
            ),
        },
        f"{version}/logs": {
            "get": _operation(
                VIEWER,
                "A version's build log (live while it builds; while queued, its last line says how many "
                "versions wait before it: `queued: 3 ahead`)",
                {200: _text("The log", "text/plain; charset=utf-8")},
                params=(
                    MODEL,
                    VERSION,
                    _param(
                        "follow",
                        "query",
                        {"type": "boolean", "default": False},
                        "Stream the log as chunked text while it grows; the response ends when the build "
                        "ends (a build that has ended answers its whole log at once)",
                        required=False,
                    ),
                ),
                errors=(400,),
            )
        },
        f"{version}/artifact": {
            "get": _operation(
                SERVICE,
                "The stored package (tar.gz with hydro.json), for the process runtime and Sonar",
                {
                    200: {
                        "description": "The package",
                        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
                    }
                },
                params=(MODEL, VERSION),
                errors=(503,),
            )
        },
        f"{version}/samples": {
            "post": _operation(
                DEPLOYER,
                "Send an external version's traffic (OIP JSON request and response pairs) to Sonar; "
                "checked against its signature and taken whole (202 once Sonar acknowledged) or "
                "refused whole",
                {202: _ok("Sonar took every sample", ref("SamplesAccepted"))},
                params=(MODEL, VERSION),
                body="SamplesSpec",
                errors=(409, 503),
            )
        },
        f"{version}/monitoring": {
            "put": _operation(
                DEPLOYER,
                "Set (replace) the version's monitoring schedule",
                {200: _ok("The schedule", ref("Monitoring"))},
                params=(MODEL, VERSION),
                body="MonitoringSpec",
                errors=(409,),
            ),
            "get": _operation(
                VIEWER,
                "The version's monitoring schedule",
                {200: _ok("The schedule", ref("Monitoring"))},
                params=(MODEL, VERSION),
            ),
            "delete": _operation(
                DEPLOYER,
                "Remove the version's monitoring schedule (its drift reports stay); 404 when it has none",
                {204: _NO_CONTENT},
                params=(MODEL, VERSION),
            ),
        },
        f"{version}/drift-reports": {
            "post": _operation(
                DEPLOYER,
                "Request a drift report over a window; a Sonar worker computes it",
                {202: _ok("Recorded, pending", ref("DriftReport"))},
                params=(MODEL, VERSION),
                body="DriftReportRequest",
                errors=(409,),
            ),
            "get": _operation(
                VIEWER,
                "The version's drift reports, newest first (without per-feature results); a deleted "
                "version's kept reports too (404 if it has none)",
                {200: _ok("The reports", ref("DriftReportList"))},
                params=(
                    MODEL,
                    VERSION,
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": drift_reports.MAX_LIST, "default": 50},
                        "How many reports at most",
                        required=False,
                    ),
                    _param(
                        "status",
                        "query",
                        {"enum": list(ReportStatus)},
                        "Only reports in this state",
                        required=False,
                    ),
                ),
                errors=(400,),
            ),
        },
        f"{PREFIX}/drift-reports/{{report_id}}": {
            "get": _operation(
                VIEWER, "A drift report", {200: _ok("The report", ref("DriftReport"))}, params=job
            )
        },
        f"{PREFIX}/drift-reports/{{report_id}}/html": {
            "get": _operation(
                VIEWER,
                "A finished drift report's HTML page (sandboxed by its Content-Security-Policy)",
                {200: _text("The page", "text/html; charset=utf-8")},
                params=job,
                errors=(503,),
            )
        },
        f"{PREFIX}/applications": {
            "get": _operation(
                VIEWER, "List applications", {200: _ok("Every application", ref("ApplicationList"))}
            )
        },
        app: {
            "put": _operation(
                DEPLOYER,
                "Create or replace an application (idempotent); with wait=true, answer once every "
                "connected router serves it, or after timeout_s with routable false and the reason",
                {200: _ok("The application", ref("Application"))},
                params=(
                    APP,
                    _param(
                        "wait",
                        "query",
                        {"type": "boolean", "default": False},
                        "Wait (bounded by timeout_s) until every router connected to this control plane "
                        "acknowledged the revision this declaration produced",
                        required=False,
                    ),
                    _param(
                        "timeout_s",
                        "query",
                        {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S, "default": DEFAULT_WAIT_S},
                        "How long wait=true waits, in seconds",
                        required=False,
                    ),
                ),
                body="ApplicationSpec",
                errors=(409,),
            ),
            "get": _operation(
                VIEWER, "An application", {200: _ok("The application", ref("Application"))}, params=(APP,)
            ),
            "delete": _operation(DEPLOYER, "Delete an application", {204: _NO_CONTENT}, params=(APP,)),
        },
        f"{app}/invoke-keys": {
            "post": _operation(
                DEPLOYER,
                "Create an invoke key (the key is answered once)",
                {201: _ok("The new key", ref("InvokeKeyCreated"))},
                params=(APP,),
            ),
            "get": _operation(
                VIEWER,
                "An application's invoke keys",
                {200: _ok("Its keys", ref("InvokeKeyList"))},
                params=(APP,),
            ),
        },
        f"{app}/invoke-keys/{{key_id}}": {
            "delete": _operation(DEPLOYER, "Revoke an invoke key", {204: _NO_CONTENT}, params=(APP, KEY_ID))
        },
        f"{PREFIX}/deployment-configs": {
            "get": _operation(
                VIEWER, "List deployment configs", {200: _ok("Every config", ref("DeploymentConfigList"))}
            )
        },
        f"{PREFIX}/deployment-configs/{{name}}": {
            "put": _operation(
                DEPLOYER,
                "Create or replace a deployment config; omitted keys take their defaults",
                {200: _ok("The config", ref("DeploymentConfig"))},
                params=(CONFIG,),
                body="DeploymentConfigSpec",
            ),
            "get": _operation(
                VIEWER,
                "A deployment config",
                {200: _ok("The config", ref("DeploymentConfig"))},
                params=(CONFIG,),
            ),
            "delete": _operation(
                DEPLOYER,
                "Delete a deployment config; 409 for `default` or while a variant uses it (naming them)",
                {204: _NO_CONTENT},
                params=(CONFIG,),
                errors=(409,),
            ),
        },
        f"{PREFIX}/gc": {
            "post": _operation(
                ADMIN,
                "Registry garbage collection: delete the registry's images no version references "
                "(dry_run=true only lists them); says how the registry then reclaims the blobs",
                {200: _ok("What was (or would be) deleted", ref("GarbageCollection"))},
                params=(
                    _param("dry_run", "query", {"enum": ["true", "false"]}, "Only list", required=False),
                ),
                errors=(400, 409),
            )
        },
        f"{jobs}/claim": {
            "post": _operation(
                SERVICE,
                "Claim the next drift job under a lease (creates the windows that came due first)",
                {200: _ok("The job", ref("DriftJob")), 204: {"description": "Nothing to do"}},
                body="DriftJobClaim",
            )
        },
        f"{jobs}/{{report_id}}/complete": {
            "post": _operation(
                SERVICE,
                "Store a held job's result (summary, per-feature results, HTML page)",
                {200: _ok("The finished report", ref("DriftReport"))},
                params=job,
                body="DriftJobCompletion",
                errors=(409, 503),
            )
        },
        f"{jobs}/{{report_id}}/fail": {
            "post": _operation(
                SERVICE,
                "Record that a held job could not be computed, and why",
                {200: _ok("The failed report", ref("DriftReport"))},
                params=job,
                body="DriftJobFailure",
                errors=(409,),
            )
        },
        f"{jobs}/{{report_id}}/heartbeat": {
            "post": _operation(
                SERVICE,
                "Extend a held job's lease",
                {200: _ok("The report", ref("DriftReport"))},
                params=job,
                body="DriftJobHeartbeat",
                errors=(409,),
            )
        },
        **_access_paths(),
    }


# ---- tokens and audit (admins only)


def _access_paths() -> dict[str, dict[str, Any]]:
    return {
        f"{PREFIX}/tokens": {
            "post": _operation(
                ADMIN,
                "Create a token with a role (the token is answered once)",
                {201: _ok("The new token", ref("TokenCreated"))},
                body="TokenRequest",
                errors=(409,),
            ),
            "get": _operation(
                ADMIN, "List tokens (never the tokens themselves)", {200: _ok("The tokens", ref("TokenList"))}
            ),
        },
        f"{PREFIX}/tokens/{{name}}": {
            "delete": _operation(
                ADMIN, "Revoke a token", {204: _NO_CONTENT}, params=(TOKEN_NAME,), errors=(409,)
            )
        },
        f"{PREFIX}/audit": {
            "get": _operation(
                ADMIN,
                "The audit log, newest first, a page at a time",
                {200: _ok("A page of events", ref("AuditPage"))},
                params=(
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                        "Events per page",
                        required=False,
                    ),
                    _param(
                        "before",
                        "query",
                        {"type": "integer"},
                        "Only events with a smaller id",
                        required=False,
                    ),
                ),
                errors=(400,),
            )
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI document (built once)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hydro control plane",
            "version": "1",
            "description": "Models, versions, applications, deployment configs, monitoring, drift reports, "
            'invoke keys, tokens and audit. Every error answers `{"error": "..."}`.',
        },
        "paths": _paths(),
        "components": {
            "schemas": {**request_schemas(), **response_schemas()},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer <token>`; the token's role must allow the "
                    "operation (`x-hydro-role`)",
                }
            },
        },
        "security": [{"bearer": []}],
    }


@endpoint
async def serve(request: Request) -> Response:
    return JSONResponse(document())


def routes() -> list[BaseRoute]:
    return [ApiRoute("GET", f"{PREFIX}/openapi.json", serve, Access.VIEWER)]
