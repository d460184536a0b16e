import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckDriftRequest(_message.Message):
    __slots__ = ("model", "version")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetDriftReportRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ListDriftReportsRequest(_message.Message):
    __slots__ = ("model", "version", "drift_only", "limit", "before_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DRIFT_ONLY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    drift_only: bool
    limit: int
    before_id: int
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., drift_only: _Optional[bool] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class DriftReportInfo(_message.Message):
    __slots__ = ("id", "model", "version", "created_at", "drift", "kinds", "live_rows", "outcomes", "summary", "details_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    LIVE_ROWS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    version: str
    created_at: _timestamp_pb2.Timestamp
    drift: bool
    kinds: _containers.RepeatedScalarFieldContainer[str]
    live_rows: int
    outcomes: int
    summary: str
    details_json: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., drift: _Optional[bool] = ..., kinds: _Optional[_Iterable[str]] = ..., live_rows: _Optional[int] = ..., outcomes: _Optional[int] = ..., summary: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class ListDriftReportsResponse(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[DriftReportInfo]
    def __init__(self, reports: _Optional[_Iterable[_Union[DriftReportInfo, _Mapping]]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("open_only", "model", "severity", "limit", "before_id")
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    open_only: bool
    model: str
    severity: str
    limit: int
    before_id: int
    def __init__(self, open_only: _Optional[bool] = ..., model: _Optional[str] = ..., severity: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class AlertInfo(_message.Message):
    __slots__ = ("id", "key", "kind", "severity", "model", "version", "message", "details_json", "created_at", "last_seen_at", "count", "acknowledged_at", "acknowledged_by", "acknowledgement")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGEMENT_FIELD_NUMBER: _ClassVar[int]
    id: int
    key: str
    kind: str
    severity: str
    model: str
    version: str
    message: str
    details_json: str
    created_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    count: int
    acknowledged_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    acknowledgement: str
    def __init__(self, id: _Optional[int] = ..., key: _Optional[str] = ..., kind: _Optional[str] = ..., severity: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., message: _Optional[str] = ..., details_json: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., count: _Optional[int] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ..., acknowledgement: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[AlertInfo]
    def __init__(self, alerts: _Optional[_Iterable[_Union[AlertInfo, _Mapping]]] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("id", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: int
    note: str
    def __init__(self, id: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class CreateExperimentRequest(_message.Message):
    __slots__ = ("model", "control_version", "treatment_version", "strategy", "split", "epsilon", "metric", "confidence", "min_detectable_effect", "min_samples", "max_loss", "end_time", "auto_promote", "name", "description", "create_only")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTROL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MIN_DETECTABLE_EFFECT_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_LOSS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTO_PROMOTE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    model: str
    control_version: str
    treatment_version: str
    strategy: str
    split: float
    epsilon: float
    metric: str
    confidence: float
    min_detectable_effect: float
    min_samples: int
    max_loss: float
    end_time: _timestamp_pb2.Timestamp
    auto_promote: bool
    name: str
    description: str
    create_only: bool
    def __init__(self, model: _Optional[str] = ..., control_version: _Optional[str] = ..., treatment_version: _Optional[str] = ..., strategy: _Optional[str] = ..., split: _Optional[float] = ..., epsilon: _Optional[float] = ..., metric: _Optional[str] = ..., confidence: _Optional[float] = ..., min_detectable_effect: _Optional[float] = ..., min_samples: _Optional[int] = ..., max_loss: _Optional[float] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., auto_promote: _Optional[bool] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., create_only: _Optional[bool] = ...) -> None: ...

class ExperimentInfo(_message.Message):
    __slots__ = ("id", "name", "model", "control_version", "treatment_version", "strategy", "split", "epsilon", "metric", "confidence", "min_detectable_effect", "min_samples", "max_loss", "end_time", "auto_promote", "state", "created_at", "started_at", "ended_at", "end_reason", "winner", "description", "control_sha256", "treatment_sha256", "tau2", "final_results_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTROL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MIN_DETECTABLE_EFFECT_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MAX_LOSS_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTO_PROMOTE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONTROL_SHA256_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    TAU2_FIELD_NUMBER: _ClassVar[int]
    FINAL_RESULTS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    model: str
    control_version: str
    treatment_version: str
    strategy: str
    split: float
    epsilon: float
    metric: str
    confidence: float
    min_detectable_effect: float
    min_samples: int
    max_loss: float
    end_time: _timestamp_pb2.Timestamp
    auto_promote: bool
    state: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    end_reason: str
    winner: str
    description: str
    control_sha256: str
    treatment_sha256: str
    tau2: float
    final_results_json: str
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., model: _Optional[str] = ..., control_version: _Optional[str] = ..., treatment_version: _Optional[str] = ..., strategy: _Optional[str] = ..., split: _Optional[float] = ..., epsilon: _Optional[float] = ..., metric: _Optional[str] = ..., confidence: _Optional[float] = ..., min_detectable_effect: _Optional[float] = ..., min_samples: _Optional[int] = ..., max_loss: _Optional[float] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., auto_promote: _Optional[bool] = ..., state: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_reason: _Optional[str] = ..., winner: _Optional[str] = ..., description: _Optional[str] = ..., control_sha256: _Optional[str] = ..., treatment_sha256: _Optional[str] = ..., tau2: _Optional[float] = ..., final_results_json: _Optional[str] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ("model", "state")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    model: str
    state: str
    def __init__(self, model: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ("experiments",)
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[ExperimentInfo]
    def __init__(self, experiments: _Optional[_Iterable[_Union[ExperimentInfo, _Mapping]]] = ...) -> None: ...

class GetExperimentResultsRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ArmResults(_message.Message):
    __slots__ = ("arm", "version", "predictions", "outcomes", "metric_mean", "metric_std")
    ARM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    METRIC_MEAN_FIELD_NUMBER: _ClassVar[int]
    METRIC_STD_FIELD_NUMBER: _ClassVar[int]
    arm: str
    version: str
    predictions: int
    outcomes: int
    metric_mean: float
    metric_std: float
    def __init__(self, arm: _Optional[str] = ..., version: _Optional[str] = ..., predictions: _Optional[int] = ..., outcomes: _Optional[int] = ..., metric_mean: _Optional[float] = ..., metric_std: _Optional[float] = ...) -> None: ...

class ExperimentResults(_message.Message):
    __slots__ = ("experiment", "control", "treatment", "difference", "ci_low", "ci_high", "p_value", "sequential_p_value", "sequential_decisive", "effect_size", "required_samples_per_arm", "winner", "recommendation", "cs_low", "cs_high", "looks", "loss_exceeded")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_DECISIVE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_SIZE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SAMPLES_PER_ARM_FIELD_NUMBER: _ClassVar[int]
    WINNER_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    CS_LOW_FIELD_NUMBER: _ClassVar[int]
    CS_HIGH_FIELD_NUMBER: _ClassVar[int]
    LOOKS_FIELD_NUMBER: _ClassVar[int]
    LOSS_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    experiment: ExperimentInfo
    control: ArmResults
    treatment: ArmResults
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    sequential_p_value: float
    sequential_decisive: bool
    effect_size: float
    required_samples_per_arm: int
    winner: str
    recommendation: str
    cs_low: float
    cs_high: float
    looks: int
    loss_exceeded: bool
    def __init__(self, experiment: _Optional[_Union[ExperimentInfo, _Mapping]] = ..., control: _Optional[_Union[ArmResults, _Mapping]] = ..., treatment: _Optional[_Union[ArmResults, _Mapping]] = ..., difference: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., p_value: _Optional[float] = ..., sequential_p_value: _Optional[float] = ..., sequential_decisive: _Optional[bool] = ..., effect_size: _Optional[float] = ..., required_samples_per_arm: _Optional[int] = ..., winner: _Optional[str] = ..., recommendation: _Optional[str] = ..., cs_low: _Optional[float] = ..., cs_high: _Optional[float] = ..., looks: _Optional[int] = ..., loss_exceeded: _Optional[bool] = ...) -> None: ...

class ExperimentStateRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    reason: str
    def __init__(self, id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RegisterModelHeader(_message.Message):
    __slots__ = ("name", "version", "model_type", "features", "target", "metadata_json", "tags", "description", "sha256", "reason")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    model_type: str
    features: _containers.RepeatedScalarFieldContainer[str]
    target: str
    metadata_json: str
    tags: _containers.ScalarMap[str, str]
    description: str
    sha256: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., model_type: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., target: _Optional[str] = ..., metadata_json: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., sha256: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RegisterModelRequest(_message.Message):
    __slots__ = ("header", "artifact_chunk", "profile_chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    PROFILE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: RegisterModelHeader
    artifact_chunk: bytes
    profile_chunk: bytes
    def __init__(self, header: _Optional[_Union[RegisterModelHeader, _Mapping]] = ..., artifact_chunk: _Optional[bytes] = ..., profile_chunk: _Optional[bytes] = ...) -> None: ...

class ModelVersionInfo(_message.Message):
    __slots__ = ("name", "version", "stage", "model_type", "features", "target", "task", "class_labels", "sha256", "size", "has_profile", "metrics", "tags", "description", "created_at", "updated_at", "metadata_json", "id")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CLASS_LABELS_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    HAS_PROFILE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    stage: str
    model_type: str
    features: _containers.RepeatedScalarFieldContainer[str]
    target: str
    task: str
    class_labels: _containers.RepeatedScalarFieldContainer[str]
    sha256: str
    size: int
    has_profile: bool
    metrics: _containers.ScalarMap[str, float]
    tags: _containers.ScalarMap[str, str]
    description: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    metadata_json: str
    id: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., stage: _Optional[str] = ..., model_type: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., target: _Optional[str] = ..., task: _Optional[str] = ..., class_labels: _Optional[_Iterable[str]] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., has_profile: _Optional[bool] = ..., metrics: _Optional[_Mapping[str, float]] = ..., tags: _Optional[_Mapping[str, str]] = ..., description: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata_json: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "created_at", "versions", "production_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    created_at: _timestamp_pb2.Timestamp
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersionInfo]
    production_version: str
    def __init__(self, name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., versions: _Optional[_Iterable[_Union[ModelVersionInfo, _Mapping]]] = ..., production_version: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "next_page_token")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    next_page_token: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class PromoteModelRequest(_message.Message):
    __slots__ = ("name", "version", "stage", "reason", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    stage: str
    reason: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., stage: _Optional[str] = ..., reason: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class RollbackModelRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ArchiveModelRequest(_message.Message):
    __slots__ = ("name", "version", "reason", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    reason: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., reason: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StageTransitionInfo(_message.Message):
    __slots__ = ("id", "name", "version", "from_stage", "to_stage", "actor", "reason", "kind", "at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    version: str
    from_stage: str
    to_stage: str
    actor: str
    reason: str
    kind: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., from_stage: _Optional[str] = ..., to_stage: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., kind: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[StageTransitionInfo]
    def __init__(self, transitions: _Optional[_Iterable[_Union[StageTransitionInfo, _Mapping]]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("after_id", "backlog_only")
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_ONLY_FIELD_NUMBER: _ClassVar[int]
    after_id: int
    backlog_only: bool
    def __init__(self, after_id: _Optional[int] = ..., backlog_only: _Optional[bool] = ...) -> None: ...

class RegistryEvent(_message.Message):
    __slots__ = ("id", "kind", "name", "version", "payload_json", "at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    kind: str
    name: str
    version: str
    payload_json: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., payload_json: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoadedVersion(_message.Message):
    __slots__ = ("name", "version", "sha256", "role")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    sha256: str
    role: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., sha256: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class LoadFailure(_message.Message):
    __slots__ = ("name", "version", "error", "at", "sha256")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    error: str
    at: _timestamp_pb2.Timestamp
    sha256: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., error: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sha256: _Optional[str] = ...) -> None: ...

class ExperimentFailure(_message.Message):
    __slots__ = ("experiment_id", "model", "where", "error", "since")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    experiment_id: int
    model: str
    where: str
    error: str
    since: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[int] = ..., model: _Optional[str] = ..., where: _Optional[str] = ..., error: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GatewayStatus(_message.Message):
    __slots__ = ("event_id", "loaded", "failures", "serving", "prediction_log_queued", "prediction_log_dropped", "experiment_failures")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_LOG_QUEUED_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_LOG_DROPPED_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FAILURES_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    loaded: _containers.RepeatedCompositeFieldContainer[LoadedVersion]
    failures: _containers.RepeatedCompositeFieldContainer[LoadFailure]
    serving: bool
    prediction_log_queued: int
    prediction_log_dropped: int
    experiment_failures: _containers.RepeatedCompositeFieldContainer[ExperimentFailure]
    def __init__(self, event_id: _Optional[int] = ..., loaded: _Optional[_Iterable[_Union[LoadedVersion, _Mapping]]] = ..., failures: _Optional[_Iterable[_Union[LoadFailure, _Mapping]]] = ..., serving: _Optional[bool] = ..., prediction_log_queued: _Optional[int] = ..., prediction_log_dropped: _Optional[int] = ..., experiment_failures: _Optional[_Iterable[_Union[ExperimentFailure, _Mapping]]] = ...) -> None: ...

class TriggerRetrainingRequest(_message.Message):
    __slots__ = ("model", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    reason: str
    def __init__(self, model: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListRetrainingRunsRequest(_message.Message):
    __slots__ = ("model", "state", "limit", "before_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    state: str
    limit: int
    before_id: int
    def __init__(self, model: _Optional[str] = ..., state: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ...) -> None: ...

class RetrainingRunInfo(_message.Message):
    __slots__ = ("id", "model", "state", "trigger", "reason", "parent_version", "owner", "started_at", "heartbeat_at", "finished_at", "new_version", "experiment_id", "error", "details_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    NEW_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    model: str
    state: str
    trigger: str
    reason: str
    parent_version: str
    owner: str
    started_at: _timestamp_pb2.Timestamp
    heartbeat_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    new_version: str
    experiment_id: int
    error: str
    details_json: str
    def __init__(self, id: _Optional[int] = ..., model: _Optional[str] = ..., state: _Optional[str] = ..., trigger: _Optional[str] = ..., reason: _Optional[str] = ..., parent_version: _Optional[str] = ..., owner: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., new_version: _Optional[str] = ..., experiment_id: _Optional[int] = ..., error: _Optional[str] = ..., details_json: _Optional[str] = ...) -> None: ...

class ListRetrainingRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RetrainingRunInfo]
    def __init__(self, runs: _Optional[_Iterable[_Union[RetrainingRunInfo, _Mapping]]] = ...) -> None: ...
