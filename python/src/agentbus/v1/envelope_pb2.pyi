from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_ACCEPTED: _ClassVar[Verdict]
    VERDICT_REJECTED: _ClassVar[Verdict]
    VERDICT_DUPLICATE: _ClassVar[Verdict]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_MALFORMED: _ClassVar[Reason]
    REASON_UNKNOWN_SENDER: _ClassVar[Reason]
    REASON_UNKNOWN_KEY: _ClassVar[Reason]
    REASON_REVOKED_KEY: _ClassVar[Reason]
    REASON_EXPIRED_KEY: _ClassVar[Reason]
    REASON_BAD_SIGNATURE: _ClassVar[Reason]
    REASON_SENDER_MISMATCH: _ClassVar[Reason]
    REASON_PAYLOAD_HASH_MISMATCH: _ClassVar[Reason]
    REASON_STALE_TIMESTAMP: _ClassVar[Reason]
    REASON_FUTURE_TIMESTAMP: _ClassVar[Reason]
    REASON_REPLAY: _ClassVar[Reason]
    REASON_DESTINATION_NOT_ALLOWED: _ClassVar[Reason]
    REASON_TYPE_NOT_ALLOWED: _ClassVar[Reason]
    REASON_SCHEMA_INVALID: _ClassVar[Reason]
    REASON_PAYLOAD_TOO_LARGE: _ClassVar[Reason]
    REASON_RATE_LIMITED: _ClassVar[Reason]
    REASON_DEPTH_EXCEEDED: _ClassVar[Reason]
    REASON_UNKNOWN_RECIPIENT: _ClassVar[Reason]
    REASON_METADATA_MISSING: _ClassVar[Reason]
    REASON_BAD_REPLY_SUBJECT: _ClassVar[Reason]
    REASON_UNKNOWN_TYPE: _ClassVar[Reason]
    REASON_METADATA_NOT_ALLOWED: _ClassVar[Reason]
    REASON_BAD_CAUSATION: _ClassVar[Reason]
    REASON_REJECTION_BUDGET_EXCEEDED: _ClassVar[Reason]
    REASON_TOOL_NOT_ALLOWED: _ClassVar[Reason]
    REASON_ARGUMENT_REFUSED: _ClassVar[Reason]
    REASON_APPROVAL_DENIED: _ClassVar[Reason]
    REASON_APPROVAL_TIMEOUT: _ClassVar[Reason]
    REASON_CREDENTIAL_DETECTED: _ClassVar[Reason]
    REASON_INVISIBLE_TEXT: _ClassVar[Reason]
    REASON_CONTROL_CHARS: _ClassVar[Reason]
    REASON_MEMORY_NOT_ALLOWED: _ClassVar[Reason]

class Delivery(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_UNSPECIFIED: _ClassVar[Delivery]
    DELIVERY_CONFIRMED: _ClassVar[Delivery]
    DELIVERY_UNCONFIRMED: _ClassVar[Delivery]
    DELIVERY_BROADCAST: _ClassVar[Delivery]
    DELIVERY_REFUSED: _ClassVar[Delivery]
    DELIVERY_HELD: _ClassVar[Delivery]
    DELIVERY_DENIED: _ClassVar[Delivery]
    DELIVERY_APPROVED: _ClassVar[Delivery]
VERDICT_UNSPECIFIED: Verdict
VERDICT_ACCEPTED: Verdict
VERDICT_REJECTED: Verdict
VERDICT_DUPLICATE: Verdict
REASON_UNSPECIFIED: Reason
REASON_MALFORMED: Reason
REASON_UNKNOWN_SENDER: Reason
REASON_UNKNOWN_KEY: Reason
REASON_REVOKED_KEY: Reason
REASON_EXPIRED_KEY: Reason
REASON_BAD_SIGNATURE: Reason
REASON_SENDER_MISMATCH: Reason
REASON_PAYLOAD_HASH_MISMATCH: Reason
REASON_STALE_TIMESTAMP: Reason
REASON_FUTURE_TIMESTAMP: Reason
REASON_REPLAY: Reason
REASON_DESTINATION_NOT_ALLOWED: Reason
REASON_TYPE_NOT_ALLOWED: Reason
REASON_SCHEMA_INVALID: Reason
REASON_PAYLOAD_TOO_LARGE: Reason
REASON_RATE_LIMITED: Reason
REASON_DEPTH_EXCEEDED: Reason
REASON_UNKNOWN_RECIPIENT: Reason
REASON_METADATA_MISSING: Reason
REASON_BAD_REPLY_SUBJECT: Reason
REASON_UNKNOWN_TYPE: Reason
REASON_METADATA_NOT_ALLOWED: Reason
REASON_BAD_CAUSATION: Reason
REASON_REJECTION_BUDGET_EXCEEDED: Reason
REASON_TOOL_NOT_ALLOWED: Reason
REASON_ARGUMENT_REFUSED: Reason
REASON_APPROVAL_DENIED: Reason
REASON_APPROVAL_TIMEOUT: Reason
REASON_CREDENTIAL_DETECTED: Reason
REASON_INVISIBLE_TEXT: Reason
REASON_CONTROL_CHARS: Reason
REASON_MEMORY_NOT_ALLOWED: Reason
DELIVERY_UNSPECIFIED: Delivery
DELIVERY_CONFIRMED: Delivery
DELIVERY_UNCONFIRMED: Delivery
DELIVERY_BROADCAST: Delivery
DELIVERY_REFUSED: Delivery
DELIVERY_HELD: Delivery
DELIVERY_DENIED: Delivery
DELIVERY_APPROVED: Delivery

class Envelope(_message.Message):
    __slots__ = ("header", "payload", "signature")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    payload: bytes
    signature: bytes
    def __init__(self, header: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("sender", "key_id", "recipient", "topic", "type", "msg_id", "sent_at_ms", "payload_sha256", "content_type", "trace_id", "span_id", "causation_id", "depth", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SENDER_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MSG_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSATION_ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    sender: str
    key_id: str
    recipient: str
    topic: str
    type: str
    msg_id: bytes
    sent_at_ms: int
    payload_sha256: bytes
    content_type: str
    trace_id: bytes
    span_id: bytes
    causation_id: bytes
    depth: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, sender: _Optional[str] = ..., key_id: _Optional[str] = ..., recipient: _Optional[str] = ..., topic: _Optional[str] = ..., type: _Optional[str] = ..., msg_id: _Optional[bytes] = ..., sent_at_ms: _Optional[int] = ..., payload_sha256: _Optional[bytes] = ..., content_type: _Optional[str] = ..., trace_id: _Optional[bytes] = ..., span_id: _Optional[bytes] = ..., causation_id: _Optional[bytes] = ..., depth: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("verdict", "reason", "msg_id", "detail", "depth", "verifier_id", "delivery")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MSG_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    reason: Reason
    msg_id: bytes
    detail: str
    depth: int
    verifier_id: str
    delivery: Delivery
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., msg_id: _Optional[bytes] = ..., detail: _Optional[str] = ..., depth: _Optional[int] = ..., verifier_id: _Optional[str] = ..., delivery: _Optional[_Union[Delivery, str]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("event_id", "verifier_id", "verified_at_ms", "verdict", "reason", "detail", "subject_sender", "header", "signature", "payload_size", "payload_sha256", "effective_depth", "raw_size", "shed_count", "window_start_ms", "findings", "memory", "monitor", "would_refuse")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_SENDER_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    RAW_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_MS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    MONITOR_FIELD_NUMBER: _ClassVar[int]
    WOULD_REFUSE_FIELD_NUMBER: _ClassVar[int]
    event_id: bytes
    verifier_id: str
    verified_at_ms: int
    verdict: Verdict
    reason: Reason
    detail: str
    subject_sender: str
    header: bytes
    signature: bytes
    payload_size: int
    payload_sha256: bytes
    effective_depth: int
    raw_size: int
    shed_count: int
    window_start_ms: int
    findings: _containers.RepeatedCompositeFieldContainer[GuardFinding]
    memory: MemoryAccess
    monitor: bool
    would_refuse: Reason
    def __init__(self, event_id: _Optional[bytes] = ..., verifier_id: _Optional[str] = ..., verified_at_ms: _Optional[int] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., subject_sender: _Optional[str] = ..., header: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., payload_size: _Optional[int] = ..., payload_sha256: _Optional[bytes] = ..., effective_depth: _Optional[int] = ..., raw_size: _Optional[int] = ..., shed_count: _Optional[int] = ..., window_start_ms: _Optional[int] = ..., findings: _Optional[_Iterable[_Union[GuardFinding, _Mapping]]] = ..., memory: _Optional[_Union[MemoryAccess, _Mapping]] = ..., monitor: _Optional[bool] = ..., would_refuse: _Optional[_Union[Reason, str]] = ...) -> None: ...

class MemoryAccess(_message.Message):
    __slots__ = ("op", "ns", "key_hash", "value_hash", "value_size", "revision", "status")
    OP_FIELD_NUMBER: _ClassVar[int]
    NS_FIELD_NUMBER: _ClassVar[int]
    KEY_HASH_FIELD_NUMBER: _ClassVar[int]
    VALUE_HASH_FIELD_NUMBER: _ClassVar[int]
    VALUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    op: str
    ns: str
    key_hash: str
    value_hash: str
    value_size: int
    revision: int
    status: str
    def __init__(self, op: _Optional[str] = ..., ns: _Optional[str] = ..., key_hash: _Optional[str] = ..., value_hash: _Optional[str] = ..., value_size: _Optional[int] = ..., revision: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class GuardFinding(_message.Message):
    __slots__ = ("kind", "path", "rule", "hash", "detail", "action")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    path: str
    rule: str
    hash: str
    detail: str
    action: str
    def __init__(self, kind: _Optional[str] = ..., path: _Optional[str] = ..., rule: _Optional[str] = ..., hash: _Optional[str] = ..., detail: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class DeliveryRecord(_message.Message):
    __slots__ = ("msg_id", "recipient", "delivery", "at_ms", "reason", "detail")
    MSG_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    msg_id: bytes
    recipient: str
    delivery: Delivery
    at_ms: int
    reason: Reason
    detail: str
    def __init__(self, msg_id: _Optional[bytes] = ..., recipient: _Optional[str] = ..., delivery: _Optional[_Union[Delivery, str]] = ..., at_ms: _Optional[int] = ..., reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class AuditBatch(_message.Message):
    __slots__ = ("events", "verifier_id", "chain_id", "seq", "prev_hash", "key_id", "created_at_ms", "deliveries")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    verifier_id: str
    chain_id: bytes
    seq: int
    prev_hash: bytes
    key_id: str
    created_at_ms: int
    deliveries: _containers.RepeatedCompositeFieldContainer[DeliveryRecord]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., verifier_id: _Optional[str] = ..., chain_id: _Optional[bytes] = ..., seq: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., key_id: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., deliveries: _Optional[_Iterable[_Union[DeliveryRecord, _Mapping]]] = ...) -> None: ...

class SignedAuditBatch(_message.Message):
    __slots__ = ("batch", "signature")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    batch: bytes
    signature: bytes
    def __init__(self, batch: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...
