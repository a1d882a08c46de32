"""The JSON schemas of the API's bodies, for its OpenAPI description (`api/openapi.py`).

Request bodies are the pydantic models the domain modules parse them with, so the description cannot
drift from the validation. Response bodies are written here, key by key, as the domain modules'
`describe` functions build them; the fuzz test (`tests/control_plane/test_fuzz_api.py`) checks every
answer it gets against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from control_plane.applications import ApplicationSpec
from control_plane.deployment_configs import Knobs
from control_plane.drift_jobs import ClaimSpec, CompleteSpec, FailSpec, HeartbeatSpec
from control_plane.drift_reports import RunSpec
from control_plane.kafka_binding import MAX_NAME as MAX_KAFKA_NAME
from control_plane.kafka_binding import NAME_PATTERN
from control_plane.monitoring import ScheduleSpec
from control_plane.retention import MAX_DAYS as MAX_RETENTION_DAYS
from control_plane.retention import RetentionSpec
from control_plane.samples import SamplesSpec
from control_plane.tables import ReportStatus, ReportTrigger, VersionStatus
from control_plane.versions import ExternalSpec
from wire.names import DNS_LABEL_RULE

Schema = dict[str, Any]

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "ApplicationSpec": ApplicationSpec,
    "DeploymentConfigSpec": Knobs,
    "MonitoringSpec": ScheduleSpec,
    "RetentionSpec": RetentionSpec,
    "DriftReportRequest": RunSpec,
    "DriftJobClaim": ClaimSpec,
    "DriftJobHeartbeat": HeartbeatSpec,
    "DriftJobCompletion": CompleteSpec,
    "DriftJobFailure": FailSpec,
    "ExternalVersionSpec": ExternalSpec,
    "SamplesSpec": SamplesSpec,
}
"""Component name -> the pydantic model that parses that request body."""

DNS_LABEL = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""A DNS label, the rule of model, application, deployment config and token names (`wire.names`)."""


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], *, closed: bool = True) -> Schema:
    """An object with exactly (closed) or at least these keys, all of them always present."""
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": not closed,
    }


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time", "description": "ISO 8601 in UTC"}
NAME: Schema = {"type": "string", "pattern": DNS_LABEL, "description": f"a DNS label: {DNS_LABEL_RULE}"}
VERSION_NUMBER: Schema = {"type": "integer", "minimum": 1}


def request_schemas() -> dict[str, Schema]:
    """The request bodies' schemas (and the models they refer to), named for `components.schemas`."""
    keys, definitions = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS.values()],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Schema] = dict(definitions.get("$defs", {}))
    for name, model in REQUEST_MODELS.items():
        if name != model.__name__:
            schemas[name] = keys[(model, "validation")]
    return schemas


_TENSOR: Schema = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": STRING,
        "datatype": STRING,
        "shape": {"type": "array", "items": INTEGER},
        "profile": STRING,
    },
    "additionalProperties": False,
}

_VARIANT = obj(
    {
        "model": NAME,
        "version": VERSION_NUMBER,
        "weight": {"type": "integer", "minimum": 0},
        "deployment_config": NAME,
        "replicas": nullable(obj({"ready": INTEGER, "desired": INTEGER})),
    }
)

_KAFKA_NAME: Schema = {"type": "string", "pattern": NAME_PATTERN, "minLength": 1, "maxLength": MAX_KAFKA_NAME}

_KAFKA = obj(
    {
        "source_topic": _KAFKA_NAME,
        "destination_topic": _KAFKA_NAME,
        "error_topic": _KAFKA_NAME,
        "consumer_group": _KAFKA_NAME,
        "lag": {
            **nullable(
                obj(
                    {
                        "total": INTEGER,
                        "partitions": {
                            "type": "array",
                            "items": obj(
                                {
                                    "partition": INTEGER,
                                    "committed": nullable(INTEGER),
                                    "end": INTEGER,
                                    "lag": INTEGER,
                                }
                            ),
                        },
                    }
                )
            ),
            "description": "the consumer group's lag on the source topic, read from the brokers; null "
            "when they could not be asked (lag_error says why)",
        },
        "lag_error": {**nullable(STRING), "description": "why lag is unknown; null when it is known"},
    }
)

_REPORT_FIELDS: dict[str, Schema] = {
    "id": STRING,
    "model": NAME,
    "version": VERSION_NUMBER,
    "window_start": TIMESTAMP,
    "window_end": TIMESTAMP,
    "trigger": {"enum": list(ReportTrigger)},
    "status": {"enum": list(ReportStatus)},
    "thresholds": ANY_OBJECT,
    "summary": nullable(ANY_OBJECT),
    "error": nullable(STRING),
    "worker": nullable(STRING),
    "attempts": INTEGER,
    "claimed_at": nullable(TIMESTAMP),
    "lease_expires_at": nullable(TIMESTAMP),
    "html_url": nullable(STRING),
    "created_at": TIMESTAMP,
    "finished_at": nullable(TIMESTAMP),
}

_INVOKE_KEY_FIELDS: dict[str, Schema] = {
    "id": STRING,
    "prefix": STRING,
    "application": NAME,
    "created_at": TIMESTAMP,
}


def _deployment_config() -> Schema:
    knobs = Knobs.model_json_schema(mode="serialization")["properties"]
    return obj(
        {"name": NAME, **{key: {"type": value["type"]} for key, value in knobs.items()}}
        | {"created_at": TIMESTAMP, "updated_at": TIMESTAMP}
    )


def response_schemas() -> dict[str, Schema]:
    """The response bodies' schemas, named for `components.schemas`."""
    version = obj(
        {
            "model": NAME,
            "version": VERSION_NUMBER,
            "key": STRING,
            "status": {"enum": list(VersionStatus)},
            "external": BOOLEAN,
            "image": nullable(STRING),
            "digest": nullable(STRING),
            "signature": obj(
                {
                    "inputs": {"type": "array", "items": _TENSOR},
                    "outputs": {"type": "array", "items": _TENSOR},
                }
            ),
            "runtime": nullable(STRING),
            "entrypoint": nullable(STRING),
            "requirements": nullable(STRING),
            "training_data": nullable(STRING),
            "metadata": ANY_OBJECT,
            "artifact_url": STRING,
            "error": nullable(STRING),
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    )
    application = obj(
        {
            "name": NAME,
            "stages": {"type": "array", "items": obj({"variants": {"type": "array", "items": _VARIANT}})},
            "sampling_rate": NUMBER,
            "require_invoke_key": BOOLEAN,
            "kafka": {**nullable(_KAFKA), "description": "the Kafka endpoint; null when it has none"},
            "invoke_urls": obj({"http": STRING, "v2": STRING, "grpc": STRING}),
            "routable": {
                "type": "boolean",
                "description": "every router connected to this control plane acknowledged `revision`",
            },
            "revision": {
                "type": "integer",
                "description": "the catalog revision routable is about: the current one (GET, list) or the "
                "one the declaration produced (PUT)",
            },
            "routers": obj({"connected": INTEGER, "acknowledged": INTEGER}),
            "routable_reason": {**nullable(STRING), "description": "why not routable; null when it is"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    )
    report_summary = obj(_REPORT_FIELDS)
    return {
        "Error": {
            **obj({"error": STRING}),
            "description": "Every error: a message naming the problem.",
        },
        "Health": obj({"status": {"const": "ok"}}),
        "HealthUnavailable": obj({"status": {"const": "unavailable"}, "error": STRING}),
        "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
        "ModelList": obj(
            {
                "models": {
                    "type": "array",
                    "items": obj(
                        {
                            "name": NAME,
                            "versions": INTEGER,
                            "latest_version": nullable(VERSION_NUMBER),
                            "latest_status": nullable({"enum": list(VersionStatus)}),
                            "created_at": TIMESTAMP,
                        }
                    ),
                }
            }
        ),
        "VersionAccepted": {
            **obj({"model": NAME, "version": VERSION_NUMBER, "status": {"enum": list(VersionStatus)}}),
            "properties": {
                "model": NAME,
                "version": VERSION_NUMBER,
                "status": {"enum": list(VersionStatus)},
                "external": {"const": True, "description": "only for an external version (released)"},
            },
        },
        "SamplesAccepted": obj({"model": NAME, "version": VERSION_NUMBER, "accepted": INTEGER}),
        "Version": version,
        "VersionList": obj({"model": STRING, "versions": {"type": "array", "items": ref("Version")}}),
        "Application": application,
        "ApplicationList": obj({"applications": {"type": "array", "items": ref("Application")}}),
        "DeploymentConfig": _deployment_config(),
        "DeploymentConfigList": obj(
            {"deployment_configs": {"type": "array", "items": ref("DeploymentConfig")}}
        ),
        "InvokeKey": obj(_INVOKE_KEY_FIELDS),
        "InvokeKeyCreated": obj(
            {**_INVOKE_KEY_FIELDS, "key": {**STRING, "description": "the key itself, shown only here"}}
        ),
        "InvokeKeyList": obj({"invoke_keys": {"type": "array", "items": ref("InvokeKey")}}),
        "Monitoring": obj(
            {
                "model": NAME,
                "version": VERSION_NUMBER,
                "cron": STRING,
                "window": STRING,
                "window_s": INTEGER,
                "thresholds": ANY_OBJECT,
                "enabled": BOOLEAN,
                "max_catch_up": INTEGER,
                "next_run_at": nullable(TIMESTAMP),
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            }
        ),
        "Retention": obj(
            {
                "model": NAME,
                "sample_retention_days": {
                    **nullable({**NUMBER, "exclusiveMinimum": 0, "maximum": MAX_RETENTION_DAYS}),
                    "description": "days of sampled traffic Sonar keeps; null: Sonar's default",
                },
            }
        ),
        "DriftReportSummary": report_summary,
        "DriftReport": obj(
            {**_REPORT_FIELDS, "features": nullable({"type": ["array", "object"]})},
        ),
        "DriftReportList": obj(
            {
                "model": STRING,
                "version": INTEGER,
                "drift_reports": {"type": "array", "items": ref("DriftReportSummary")},
            }
        ),
        "DriftJob": obj(
            {
                "id": STRING,
                "model": NAME,
                "version": VERSION_NUMBER,
                "window_start": TIMESTAMP,
                "window_end": TIMESTAMP,
                "trigger": {"enum": list(ReportTrigger)},
                "thresholds": ANY_OBJECT,
                "signature": ANY_OBJECT,
                "training_data": obj(
                    {
                        "path": nullable(STRING),
                        "package_key": STRING,
                        "package_url": STRING,
                        "artifact_endpoint": STRING,
                    }
                ),
                "worker": nullable(STRING),
                "attempts": INTEGER,
                "claimed_at": nullable(TIMESTAMP),
                "lease_expires_at": nullable(TIMESTAMP),
            }
        ),
        **_access_schemas(),
        **_deletion_schemas(),
    }


def _deletion_schemas() -> dict[str, Schema]:
    strings = {"type": "array", "items": STRING}
    return {
        "Deleted": obj(
            {
                "removed": obj(
                    {
                        "versions": {**strings, "description": "The deleted versions, as `model:version`"},
                        "objects": {
                            **INTEGER,
                            "description": "Stored objects removed: packages, reference profiles and, with "
                            "purge, drift report pages",
                        },
                        "images": {
                            **strings,
                            "description": "Images removed from the registry or this Docker host",
                        },
                        "drift_reports": {
                            **INTEGER,
                            "description": "Drift reports removed (purge only; else they are kept)",
                        },
                        "samples": {**INTEGER, "description": "Sampled-traffic parts removed (purge only)"},
                    }
                ),
                "failed": {
                    **strings,
                    "description": "What could not be removed after the catalog rows were deleted (also "
                    "logged); a second DELETE is a 404, so this is the only notice",
                },
            }
        ),
        "GarbageCollection": obj(
            {
                "dry_run": BOOLEAN,
                "registry": STRING,
                "unreferenced": {**strings, "description": "Images no catalog version references"},
                "deleted": {**strings, "description": "The manifests deleted (none on a dry run)"},
                "failed": strings,
                "kept": {**INTEGER, "description": "Tags still referenced (or of a model being built)"},
                "reclaim_blobs": {**STRING, "description": "How the registry frees the blobs' disk space"},
            }
        ),
    }


# ---- tokens and audit: described ahead of their routes (helper "access" adds them in a parallel branch) ----


def _access_schemas() -> dict[str, Schema]:
    role = {"enum": ["viewer", "deployer", "admin"]}
    return {
        "TokenRequest": {
            "type": "object",
            "required": ["name", "role"],
            "properties": {"name": NAME, "role": role},
            "additionalProperties": False,
        },
        "TokenCreated": obj(
            {"name": NAME, "role": role, "token": {**STRING, "description": "the token itself, shown once"}}
        ),
        "TokenList": obj(
            {
                "tokens": {
                    "type": "array",
                    "items": obj({"name": STRING, "role": STRING, "created_at": TIMESTAMP}),
                }
            }
        ),
        "AuditPage": obj(
            {
                "events": {
                    "type": "array",
                    "items": obj(
                        {
                            "id": INTEGER,
                            "at": TIMESTAMP,
                            "token": nullable(STRING),
                            "role": nullable(STRING),
                            "method": STRING,
                            "path": STRING,
                            "status": INTEGER,
                            "error": nullable(STRING),
                        }
                    ),
                },
                "next": {**nullable(INTEGER), "description": "pass as `before` for the next page"},
            }
        ),
    }
