from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TensorSpec(_message.Message):
    __slots__ = ("name", "datatype", "shape", "profile")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    name: str
    datatype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    profile: str
    def __init__(self, name: _Optional[str] = ..., datatype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., profile: _Optional[str] = ...) -> None: ...

class Signature(_message.Message):
    __slots__ = ("inputs", "outputs")
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    inputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    def __init__(self, inputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ...) -> None: ...

class DeploymentConfig(_message.Message):
    __slots__ = ("name", "min_replicas", "max_replicas", "target_concurrency", "container_concurrency", "scale_to_zero_grace_s", "stable_window_s", "panic_window_pct", "panic_threshold_pct", "initial_scale", "cpu", "memory_mb", "hold_timeout_s", "max_queue", "max_scale_up_rate", "max_scale_down_rate")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MAX_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    TARGET_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    SCALE_TO_ZERO_GRACE_S_FIELD_NUMBER: _ClassVar[int]
    STABLE_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    PANIC_WINDOW_PCT_FIELD_NUMBER: _ClassVar[int]
    PANIC_THRESHOLD_PCT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_SCALE_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    HOLD_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_SCALE_UP_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_SCALE_DOWN_RATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    min_replicas: int
    max_replicas: int
    target_concurrency: float
    container_concurrency: int
    scale_to_zero_grace_s: float
    stable_window_s: float
    panic_window_pct: float
    panic_threshold_pct: float
    initial_scale: int
    cpu: float
    memory_mb: int
    hold_timeout_s: float
    max_queue: int
    max_scale_up_rate: float
    max_scale_down_rate: float
    def __init__(self, name: _Optional[str] = ..., min_replicas: _Optional[int] = ..., max_replicas: _Optional[int] = ..., target_concurrency: _Optional[float] = ..., container_concurrency: _Optional[int] = ..., scale_to_zero_grace_s: _Optional[float] = ..., stable_window_s: _Optional[float] = ..., panic_window_pct: _Optional[float] = ..., panic_threshold_pct: _Optional[float] = ..., initial_scale: _Optional[int] = ..., cpu: _Optional[float] = ..., memory_mb: _Optional[int] = ..., hold_timeout_s: _Optional[float] = ..., max_queue: _Optional[int] = ..., max_scale_up_rate: _Optional[float] = ..., max_scale_down_rate: _Optional[float] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("key", "model", "version", "image", "digest", "artifact_url", "signature", "deployment_config", "training_data")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URL_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    key: str
    model: str
    version: int
    image: str
    digest: str
    artifact_url: str
    signature: Signature
    deployment_config: str
    training_data: str
    def __init__(self, key: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., image: _Optional[str] = ..., digest: _Optional[str] = ..., artifact_url: _Optional[str] = ..., signature: _Optional[_Union[Signature, _Mapping]] = ..., deployment_config: _Optional[str] = ..., training_data: _Optional[str] = ...) -> None: ...

class Variant(_message.Message):
    __slots__ = ("version_key", "weight", "deployment_config")
    VERSION_KEY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_CONFIG_FIELD_NUMBER: _ClassVar[int]
    version_key: str
    weight: int
    deployment_config: str
    def __init__(self, version_key: _Optional[str] = ..., weight: _Optional[int] = ..., deployment_config: _Optional[str] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("variants",)
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    def __init__(self, variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ...) -> None: ...

class Application(_message.Message):
    __slots__ = ("name", "stages", "sampling_rate", "require_invoke_key", "invoke_key_hashes", "kafka")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_RATE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_INVOKE_KEY_FIELD_NUMBER: _ClassVar[int]
    INVOKE_KEY_HASHES_FIELD_NUMBER: _ClassVar[int]
    KAFKA_FIELD_NUMBER: _ClassVar[int]
    name: str
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    sampling_rate: float
    require_invoke_key: bool
    invoke_key_hashes: _containers.RepeatedScalarFieldContainer[str]
    kafka: KafkaBinding
    def __init__(self, name: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ..., sampling_rate: _Optional[float] = ..., require_invoke_key: _Optional[bool] = ..., invoke_key_hashes: _Optional[_Iterable[str]] = ..., kafka: _Optional[_Union[KafkaBinding, _Mapping]] = ...) -> None: ...

class KafkaBinding(_message.Message):
    __slots__ = ("source_topic", "destination_topic", "error_topic", "consumer_group")
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_TOPIC_FIELD_NUMBER: _ClassVar[int]
    ERROR_TOPIC_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_GROUP_FIELD_NUMBER: _ClassVar[int]
    source_topic: str
    destination_topic: str
    error_topic: str
    consumer_group: str
    def __init__(self, source_topic: _Optional[str] = ..., destination_topic: _Optional[str] = ..., error_topic: _Optional[str] = ..., consumer_group: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("revision", "applications", "versions", "deployment_configs", "watch_id", "monitored_versions", "sample_retention_days")
    class SampleRetentionDaysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REVISION_FIELD_NUMBER: _ClassVar[int]
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    MONITORED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    applications: _containers.RepeatedCompositeFieldContainer[Application]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    deployment_configs: _containers.RepeatedCompositeFieldContainer[DeploymentConfig]
    watch_id: str
    monitored_versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    sample_retention_days: _containers.ScalarMap[str, float]
    def __init__(self, revision: _Optional[int] = ..., applications: _Optional[_Iterable[_Union[Application, _Mapping]]] = ..., versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., deployment_configs: _Optional[_Iterable[_Union[DeploymentConfig, _Mapping]]] = ..., watch_id: _Optional[str] = ..., monitored_versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., sample_retention_days: _Optional[_Mapping[str, float]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("client", "kind")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    client: str
    kind: str
    def __init__(self, client: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class Acknowledgement(_message.Message):
    __slots__ = ("watch_id", "revision")
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    watch_id: str
    revision: int
    def __init__(self, watch_id: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class AcknowledgeReply(_message.Message):
    __slots__ = ("known",)
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    known: bool
    def __init__(self, known: _Optional[bool] = ...) -> None: ...
