from protos.inference import grpc_service_pb2 as _grpc_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecutionRecord(_message.Message):
    __slots__ = ("request_id", "application", "stage", "model", "version", "shadow", "time_unix_ms", "latency_ms", "status", "error", "request", "response")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    application: str
    stage: int
    model: str
    version: int
    shadow: bool
    time_unix_ms: int
    latency_ms: float
    status: str
    error: str
    request: _grpc_service_pb2.ModelInferRequest
    response: _grpc_service_pb2.ModelInferResponse
    def __init__(self, request_id: _Optional[str] = ..., application: _Optional[str] = ..., stage: _Optional[int] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., shadow: _Optional[bool] = ..., time_unix_ms: _Optional[int] = ..., latency_ms: _Optional[float] = ..., status: _Optional[str] = ..., error: _Optional[str] = ..., request: _Optional[_Union[_grpc_service_pb2.ModelInferRequest, _Mapping]] = ..., response: _Optional[_Union[_grpc_service_pb2.ModelInferResponse, _Mapping]] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("seq", "records")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    records: _containers.RepeatedCompositeFieldContainer[ExecutionRecord]
    def __init__(self, seq: _Optional[int] = ..., records: _Optional[_Iterable[_Union[ExecutionRecord, _Mapping]]] = ...) -> None: ...

class IngestAck(_message.Message):
    __slots__ = ("seq", "accepted", "rejected")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    seq: int
    accepted: int
    rejected: int
    def __init__(self, seq: _Optional[int] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...
