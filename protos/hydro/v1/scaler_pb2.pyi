from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActivateRequest(_message.Message):
    __slots__ = ("version_key",)
    VERSION_KEY_FIELD_NUMBER: _ClassVar[int]
    version_key: str
    def __init__(self, version_key: _Optional[str] = ...) -> None: ...

class ActivateResponse(_message.Message):
    __slots__ = ("ready_replicas", "desired_replicas")
    READY_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    ready_replicas: int
    desired_replicas: int
    def __init__(self, ready_replicas: _Optional[int] = ..., desired_replicas: _Optional[int] = ...) -> None: ...

class VersionLoad(_message.Message):
    __slots__ = ("version_key", "in_flight", "queued")
    VERSION_KEY_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    version_key: str
    in_flight: int
    queued: int
    def __init__(self, version_key: _Optional[str] = ..., in_flight: _Optional[int] = ..., queued: _Optional[int] = ...) -> None: ...

class LoadReport(_message.Message):
    __slots__ = ("router_id", "versions", "sent_at_ms")
    ROUTER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    router_id: str
    versions: _containers.RepeatedCompositeFieldContainer[VersionLoad]
    sent_at_ms: int
    def __init__(self, router_id: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[VersionLoad, _Mapping]]] = ..., sent_at_ms: _Optional[int] = ...) -> None: ...

class LoadAck(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("replica_id", "address")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    address: str
    def __init__(self, replica_id: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class VersionReplicas(_message.Message):
    __slots__ = ("version_key", "ready", "starting", "desired")
    VERSION_KEY_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    STARTING_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    version_key: str
    ready: _containers.RepeatedCompositeFieldContainer[Endpoint]
    starting: int
    desired: int
    def __init__(self, version_key: _Optional[str] = ..., ready: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., starting: _Optional[int] = ..., desired: _Optional[int] = ...) -> None: ...

class ReplicaState(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VersionReplicas]
    def __init__(self, versions: _Optional[_Iterable[_Union[VersionReplicas, _Mapping]]] = ...) -> None: ...

class WatchEndpointsRequest(_message.Message):
    __slots__ = ("client",)
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    client: str
    def __init__(self, client: _Optional[str] = ...) -> None: ...

class ListReplicasRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
