"""The gRPC side of the provider: each plugin protocol call decoded, handed to its resource, answered.

Every call answers diagnostics, never a traceback: a Problem becomes an error on its attribute, and
anything unexpected an error naming the call (its traceback goes to stderr, which Terraform writes to
its log, TF_LOG_PATH).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import grpc

from terraform.provider.diagnostics import Diagnostics, Problem, Problems, attribute_path
from terraform.provider.platform import Platform
from terraform.provider.protocol import tfplugin6_pb2 as pb
from terraform.provider.protocol import tfplugin6_pb2_grpc as pb_grpc
from terraform.provider.resource import DataSource, Resource
from terraform.provider.schema import Block, schema_proto
from terraform.provider.values import UNKNOWN, decode, encode

logger = logging.getLogger(__name__)
R = TypeVar("R")


class ProviderService(pb_grpc.ProviderServicer):
    def __init__(
        self,
        provider_block: Block,
        resources: Mapping[str, Resource],
        data_sources: Mapping[str, DataSource],
        stop: threading.Event,
    ) -> None:
        self.provider_block = provider_block
        self.resources = resources
        self.data_sources = data_sources
        self.platform = Platform()
        self.stop = stop

    # what the provider offers

    def GetMetadata(self, request: pb.GetMetadata.Request, context: grpc.ServicerContext) -> Any:
        return pb.GetMetadata.Response(
            server_capabilities=_CAPABILITIES,
            resources=[pb.GetMetadata.ResourceMetadata(type_name=n) for n in self.resources],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=n) for n in self.data_sources],
        )

    def GetProviderSchema(self, request: pb.GetProviderSchema.Request, context: grpc.ServicerContext) -> Any:
        return pb.GetProviderSchema.Response(
            provider=schema_proto(self.provider_block),
            resource_schemas={n: schema_proto(r.block) for n, r in self.resources.items()},
            data_source_schemas={n: schema_proto(d.block) for n, d in self.data_sources.items()},
            server_capabilities=_CAPABILITIES,
        )

    # the provider's own configuration

    def ValidateProviderConfig(
        self, request: pb.ValidateProviderConfig.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        _guard(
            diags,
            "validating the provider configuration",
            lambda: decode(request.config, self.provider_block),
        )
        return pb.ValidateProviderConfig.Response(diagnostics=diags.to_proto())

    def ConfigureProvider(self, request: pb.ConfigureProvider.Request, context: grpc.ServicerContext) -> Any:
        diags = Diagnostics()

        def configure() -> None:
            config = decode(request.config, self.provider_block) or {}
            known = {k: (None if v is UNKNOWN else v) for k, v in config.items()}
            self.platform.close()
            self.platform = Platform(
                endpoint=known.get("endpoint"), token=known.get("token"), ca_file=known.get("ca_file")
            )

        _guard(diags, "configuring the provider", configure)
        return pb.ConfigureProvider.Response(diagnostics=diags.to_proto())

    # resources

    def ValidateResourceConfig(
        self, request: pb.ValidateResourceConfig.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        resource = self.resources[request.type_name]
        _guard(
            diags,
            f"validating {request.type_name}",
            lambda: resource.validate(decode(request.config, resource.block), diags),
        )
        return pb.ValidateResourceConfig.Response(diagnostics=diags.to_proto())

    def UpgradeResourceState(
        self, request: pb.UpgradeResourceState.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        block = self.resources[request.type_name].block
        upgraded = _guard(
            diags,
            f"reading the state of {request.type_name}",
            lambda: encode(decode(pb.DynamicValue(json=request.raw_state.json), block), block),
        )
        return pb.UpgradeResourceState.Response(upgraded_state=upgraded, diagnostics=diags.to_proto())

    def ReadResource(self, request: pb.ReadResource.Request, context: grpc.ServicerContext) -> Any:
        diags = Diagnostics()
        resource = self.resources[request.type_name]
        state = decode(request.current_state, resource.block)

        def read() -> pb.DynamicValue:
            return encode(resource.read(self.platform, state, diags), resource.block)

        new_state = _guard(diags, f"reading {request.type_name}", read)
        if new_state is None:  # keep what Terraform had, so a failed refresh forgets nothing
            new_state = request.current_state
        return pb.ReadResource.Response(
            new_state=new_state, diagnostics=diags.to_proto(), private=request.private
        )

    def PlanResourceChange(
        self, request: pb.PlanResourceChange.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        resource = self.resources[request.type_name]
        block = resource.block
        prior = decode(request.prior_state, block)
        proposed = decode(request.proposed_new_state, block)
        if proposed is None:  # destroy
            return pb.PlanResourceChange.Response(planned_state=encode(None, block))
        config = decode(request.config, block)

        def plan() -> pb.PlanResourceChange.Response:
            planned = resource.plan(self.platform, prior, config, diags)
            return pb.PlanResourceChange.Response(
                planned_state=encode(planned.state, block),
                requires_replace=[attribute_path(p) for p in planned.replace] if prior is not None else [],
            )

        response = _guard(diags, f"planning {request.type_name}", plan) or pb.PlanResourceChange.Response()
        response.diagnostics.extend(diags.to_proto())
        return response

    def ApplyResourceChange(
        self, request: pb.ApplyResourceChange.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        resource = self.resources[request.type_name]
        block = resource.block
        prior = decode(request.prior_state, block)
        planned = decode(request.planned_state, block)

        def apply() -> Any:
            if planned is None:
                resource.delete(self.platform, prior, diags)
                return None
            if prior is None:
                return resource.create(self.platform, planned, diags)
            return resource.update(self.platform, prior, planned, diags)

        outcome = _guard(diags, f"applying {request.type_name}", apply, keep=True)
        # failed: record what the platform now holds (what the error says, else the prior state)
        new_state = (outcome.state or prior) if isinstance(outcome, _Kept) else outcome
        return pb.ApplyResourceChange.Response(
            new_state=encode(new_state, block), diagnostics=diags.to_proto()
        )

    def ImportResourceState(
        self, request: pb.ImportResourceState.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        resource = self.resources[request.type_name]

        def import_() -> list[pb.ImportResourceState.ImportedResource]:
            state = resource.import_state(self.platform, request.id, diags)
            return [
                pb.ImportResourceState.ImportedResource(
                    type_name=request.type_name, state=encode(state, resource.block)
                )
            ]

        imported = _guard(diags, f"importing {request.type_name} {request.id!r}", import_) or []
        return pb.ImportResourceState.Response(imported_resources=imported, diagnostics=diags.to_proto())

    # data sources

    def ValidateDataResourceConfig(
        self, request: pb.ValidateDataResourceConfig.Request, context: grpc.ServicerContext
    ) -> Any:
        diags = Diagnostics()
        source = self.data_sources[request.type_name]
        _guard(
            diags,
            f"validating {request.type_name}",
            lambda: source.validate(decode(request.config, source.block), diags),
        )
        return pb.ValidateDataResourceConfig.Response(diagnostics=diags.to_proto())

    def ReadDataSource(self, request: pb.ReadDataSource.Request, context: grpc.ServicerContext) -> Any:
        diags = Diagnostics()
        source = self.data_sources[request.type_name]

        def read() -> pb.DynamicValue:
            return encode(
                source.read(self.platform, decode(request.config, source.block), diags), source.block
            )

        state = _guard(diags, f"reading data source {request.type_name}", read)
        return pb.ReadDataSource.Response(state=state, diagnostics=diags.to_proto())

    def StopProvider(self, request: pb.StopProvider.Request, context: grpc.ServicerContext) -> Any:
        self.platform.close()
        return pb.StopProvider.Response()


_CAPABILITIES = pb.ServerCapabilities(get_provider_schema_optional=True)


class _Kept:
    """A failed apply, with the state to record despite the failure (None: the prior state)."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.state = state


def _guard(diags: Diagnostics, doing: str, call: Callable[[], R], *, keep: bool = False) -> Any:
    """`call()`, with Problems added to `diags` and anything else reported (and logged) as an internal
    error; None (or a _Kept when `keep`) when it failed."""
    try:
        result = call()
    except Problem as problem:
        diags.add(problem)
        return _Kept(problem.state) if keep else None
    except Problems as found:
        for each in found.problems:
            diags.add(each)
        return _Kept(None) if keep else None
    except Exception as exc:
        logger.exception("%s failed", doing)
        diags.add(
            Problem(
                f"{doing}: internal error in terraform-provider-hydro ({type(exc).__name__}: {exc})",
                detail="The provider's log (TF_LOG=debug, TF_LOG_PATH) has the details.",
            )
        )
        return _Kept(None) if keep else None
    return result
