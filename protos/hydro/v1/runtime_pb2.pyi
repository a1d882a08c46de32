from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuntimeStats(_message.Message):
    __slots__ = ("in_flight", "max_in_flight", "served", "failed", "uptime_s")
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    in_flight: int
    max_in_flight: int
    served: int
    failed: int
    uptime_s: float
    def __init__(self, in_flight: _Optional[int] = ..., max_in_flight: _Optional[int] = ..., served: _Optional[int] = ..., failed: _Optional[int] = ..., uptime_s: _Optional[float] = ...) -> None: ...
