"""Message types are contracts (PROTOCOL.md §7.3). Their one source is the TS registry, exported
as JSON Schema by ``agentbus contracts export`` (zod's own output); this module loads that file
and checks payloads with a maintained JSON Schema library (jsonschema, draft 2020-12) before
signing and after receiving. Nothing here is a hand-copied schema.

Protobuf contracts (``application/x-protobuf; proto=<full name>``) have no JSON Schema: the export
names the message, and the client binds the generated message class (protoc's ``_pb2``) to the
type with ``Registry.bind_proto`` (or ``Registry.load(path, proto={type: Class})``). The class's
full name must be the one the contract names."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import jsonschema
from google.protobuf import json_format
from google.protobuf.message import DecodeError, EncodeError, Message
from jsonschema import Draft202012Validator

from .constants import (
    DEFAULT_CRITICAL_METADATA,
    GLOBAL_METADATA_KEYS,
    JSON_CONTENT_TYPE,
    MAX_METADATA_BYTES,
    MAX_METADATA_VALUE_BYTES,
    TOOL_NAME_RE,
    is_agent_id,
)
from .reasons import Reason

CONTRACTS_EXPORT_VERSION = 1
PROTO_CONTENT_TYPE_PREFIX = "application/x-protobuf; proto="
MessageClass: TypeAlias = "type[Message]"
"""A generated protobuf message class (a ``_pb2`` module's, e.g. ``agentbus.v1.envelope_pb2.DeliveryRecord``)."""
TOOL_RESULT_TYPE = "tool.result"


class ContractIssue(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _no_constant(name: str) -> Any:
    # JSON.parse reads no NaN / Infinity; neither does a conforming receiver
    raise ValueError(f"not JSON: {name}")


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON payload may have (PROTOCOL.md §7.3)."""


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _depth_problem(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True if arrays/objects nest deeper than max_depth (one pass, strings skipped, no recursion)."""
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while True:
                k = text.find('"', j)
                if k < 0:
                    return False  # unterminated: json.loads refuses it
                b = k - 1
                while b > i and text[b] == "\\":
                    b -= 1
                if (k - 1 - b) % 2 == 0:
                    i = k + 1
                    break
                j = k + 1
            continue
        if c in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif c in "]}":
            depth -= 1
        i += 1
    return False


def _shown_key(k: str) -> str:
    s = json.dumps(k[:64] + ("…" if len(k) > 64 else ""), ensure_ascii=False)
    return "".join(ch if 0x20 <= ord(ch) < 0x7F else "\\u{%x}" % ord(ch) for ch in s)


def parse_json_payload(payload: bytes) -> Any:
    """Strict UTF-8 (a leading BOM dropped), then strict JSON (PROTOCOL.md §7.3): no object names
    a key twice (compared after escape decoding), nesting at most 64 levels."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractIssue(Reason.SCHEMA_INVALID, "payload is not UTF-8 JSON") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if _depth_problem(text):
        raise ContractIssue(Reason.SCHEMA_INVALID, f"payload: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        raise ContractIssue(
            Reason.SCHEMA_INVALID, f"payload: duplicate key {_shown_key(e.key)} (after escape decoding): an object may name a key once"
        ) from None
    except (ValueError, RecursionError):
        raise ContractIssue(Reason.SCHEMA_INVALID, "payload is not UTF-8 JSON") from None


def encode_json(value: Any) -> bytes:
    """Compact JSON, as JSON.stringify writes it (no spaces; non-ASCII kept as UTF-8)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ContractIssue(Reason.SCHEMA_INVALID, f"not JSON-serializable: {e}") from None


def _issue_line(err: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in err.absolute_path) or "(root)"
    return f"{err.message} at {path}"


@dataclass(frozen=True)
class Contract:
    type: str
    content_type: str
    json_schema: Mapping[str, Any] | None
    metadata: tuple[str, ...] = ()
    required_metadata: tuple[str, ...] = ()
    critical: bool = False
    description: str = ""
    builtin: bool = False
    _validator: Draft202012Validator | None = field(default=None, compare=False, repr=False)
    proto_class: MessageClass | None = field(default=None, compare=False, repr=False)
    """A protobuf contract's generated message class (``Registry.bind_proto``)."""

    @staticmethod
    def from_proto(
        type: str,
        message_class: MessageClass,
        *,
        metadata: Iterable[str] = (),
        required_metadata: Iterable[str] | None = None,
        critical: bool = False,
        description: str = "",
    ) -> Contract:
        """A protobuf contract for a generated message class (as the TS SDK's defineProtoMessage)."""
        required = tuple(required_metadata if required_metadata is not None else (DEFAULT_CRITICAL_METADATA if critical else ()))
        return Contract(
            type=type,
            content_type=PROTO_CONTENT_TYPE_PREFIX + message_class.DESCRIPTOR.full_name,
            json_schema=None,
            metadata=tuple(dict.fromkeys([*metadata, *required])),
            required_metadata=required,
            critical=critical,
            description=description,
            proto_class=message_class,
        )

    @property
    def proto_name(self) -> str | None:
        """The full message name of a protobuf contract; None for JSON."""
        if self.content_type.startswith(PROTO_CONTENT_TYPE_PREFIX):
            return self.content_type[len(PROTO_CONTENT_TYPE_PREFIX) :]
        return None

    def bind_proto(self, message_class: MessageClass) -> Contract:
        """This protobuf contract with its generated message class; ValueError if the class is
        not the message the contract names."""
        name = self.proto_name
        if name is None:
            raise ValueError(f"{self.type} is not a protobuf contract ({self.content_type})")
        got = message_class.DESCRIPTOR.full_name
        if got != name:
            raise ValueError(f"{self.type} carries {name}, not {got}")
        return dataclasses.replace(self, proto_class=message_class)

    @staticmethod
    def from_json(type: str, doc: Mapping[str, Any]) -> Contract:
        schema = doc.get("json_schema")
        critical = bool(doc.get("critical", False))
        required = tuple(doc.get("required_metadata") or (DEFAULT_CRITICAL_METADATA if critical else ()))
        validator = None
        if schema is not None:
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return Contract(
            type=type,
            content_type=str(doc.get("content_type", JSON_CONTENT_TYPE)),
            json_schema=schema,
            metadata=tuple(dict.fromkeys([*(doc.get("metadata") or ()), *required])),
            required_metadata=required,
            critical=critical,
            description=str(doc.get("description", "")),
            builtin=bool(doc.get("builtin", False)),
            _validator=validator,
        )

    @property
    def allowed_metadata(self) -> frozenset[str]:
        return frozenset((*GLOBAL_METADATA_KEYS, *self.metadata))

    def _unbound(self) -> ContractIssue:
        if self.proto_name is not None:
            return ContractIssue(
                Reason.SCHEMA_INVALID,
                f"{self.proto_name} is a protobuf contract and no message class is bound to {self.type} (Registry.bind_proto)",
            )
        return ContractIssue(Reason.SCHEMA_INVALID, f"{self.content_type} payloads have no JSON Schema: this client cannot encode or check them")

    def _check(self, value: Any) -> None:
        if self._validator is None:
            raise self._unbound()
        err = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if err is not None:
            raise ContractIssue(Reason.SCHEMA_INVALID, _issue_line(err))

    def encode(self, value: Any) -> bytes:
        """Check ``value`` against the schema and encode it. Raises ContractIssue. A protobuf
        contract takes an instance of its message class, or a mapping in protobuf's JSON mapping
        (``json_format.ParseDict``: field names as in the .proto or lowerCamelCase, bytes base64)."""
        if self.proto_class is not None:
            return self._encode_proto(self.proto_class, value)
        self._check(value)
        return encode_json(value)

    def _encode_proto(self, cls: MessageClass, value: Any) -> bytes:
        name = cls.DESCRIPTOR.full_name
        if isinstance(value, Mapping):
            try:
                value = json_format.ParseDict(dict(value), cls())
            except (json_format.ParseError, TypeError, ValueError) as e:
                raise ContractIssue(Reason.SCHEMA_INVALID, f"not a {name}: {e}") from None
        elif not isinstance(value, cls):
            raise ContractIssue(Reason.SCHEMA_INVALID, f"expected a {name} or a mapping, got {value.__class__.__name__}")
        try:
            data: bytes = value.SerializeToString()
            return data
        except EncodeError as e:
            raise ContractIssue(Reason.SCHEMA_INVALID, f"not a {name}: {e}") from None

    def decode(self, payload: bytes) -> Any:
        """Decode and check payload bytes (the receiver's check). Raises ContractIssue. A
        protobuf contract's value is an instance of its message class."""
        if self.proto_class is not None:
            try:
                return self.proto_class.FromString(payload)
            except (DecodeError, RuntimeWarning, ValueError):
                raise ContractIssue(Reason.SCHEMA_INVALID, f"payload is not a valid {self.proto_name}") from None
        if self.content_type != JSON_CONTENT_TYPE:
            raise self._unbound()
        value = parse_json_payload(payload)
        self._check(value)
        return value


class Registry:
    """Contracts by type name, from ``agentbus contracts export`` (or decisions.json's ``contracts``)."""

    def __init__(self, contracts: Iterable[Contract] = (), tool_call_schema: Mapping[str, Any] | None = None) -> None:
        self._by_type: dict[str, Contract] = {}
        for c in contracts:
            if c.type in self._by_type:
                raise ValueError(f"contract {c.type} is defined twice")
            self._by_type[c.type] = c
        self._tool_call = Contract.from_json(
            "tool.call", {"content_type": JSON_CONTENT_TYPE, "json_schema": dict(tool_call_schema or {"type": "object"}), "builtin": True}
        )

    @staticmethod
    def from_export(doc: Mapping[str, Any], *, proto: Mapping[str, MessageClass] | None = None) -> Registry:
        """The registry of an export; ``proto`` binds generated message classes to its protobuf
        contracts by type name (``bind_proto``)."""
        if doc.get("agentbus_contracts") != CONTRACTS_EXPORT_VERSION:
            raise ValueError(f"not an agentbus contracts export (version {CONTRACTS_EXPORT_VERSION}): run agentbus contracts export")
        r = Registry(
            (Contract.from_json(t, c) for t, c in doc["contracts"].items()),
            doc.get("tool_call_schema"),
        )
        for t, cls in (proto or {}).items():
            r.bind_proto(t, cls)
        return r

    @staticmethod
    def load(path: str | os.PathLike[str], *, proto: Mapping[str, MessageClass] | None = None) -> Registry:
        with open(path, encoding="utf-8") as f:
            return Registry.from_export(json.load(f), proto=proto)

    def bind_proto(self, type: str, message_class: MessageClass) -> Contract:
        """Bind a generated protobuf message class to the protobuf contract ``type`` of the export
        (its ``proto=`` name must be the class's full name), so this client encodes and decodes
        its payloads. A type the export lacks is added (the verifier still needs it in its registry)."""
        c = self._by_type.get(type)
        bound = Contract.from_proto(type, message_class) if c is None else c.bind_proto(message_class)
        self._by_type[type] = bound
        return bound

    def get(self, type: str) -> Contract | None:
        c = self._by_type.get(type)
        if c is not None:
            return c
        # a tool call no export pinned: any JSON object (the verifier checks the pinned schema)
        if parse_tool_type(type) is not None:
            return Contract(type, JSON_CONTENT_TYPE, self._tool_call.json_schema, builtin=True, _validator=self._tool_call._validator)
        return None

    def __contains__(self, type: object) -> bool:
        return isinstance(type, str) and type in self._by_type

    def types(self) -> list[str]:
        return sorted(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)


def parse_tool_type(type: str) -> tuple[str, str] | None:
    """``tool.<server>.<tool>`` -> (server, tool); None for anything else (tool.result included)."""
    parts = type.split(".")
    if len(parts) != 3 or parts[0] != "tool":
        return None
    if not is_agent_id(parts[1]) or TOOL_NAME_RE.fullmatch(parts[2]) is None:
        return None
    return parts[1], parts[2]


def describe_key(k: str) -> str:
    s = k[:64] + "…" if len(k) > 64 else k
    return "".join(c if ("\x21" <= c <= "\x7e" or c == "…") else "?" for c in s)


def check_metadata(allowed: frozenset[str], md: Mapping[str, str], type: str) -> None:
    """Every key declared, every value within 1024 UTF-8 bytes, the map within 4096 (§7.4)."""
    total = 0
    for k, v in md.items():
        if k not in allowed:
            raise ContractIssue(Reason.METADATA_NOT_ALLOWED, f'metadata key "{describe_key(k)}" is not declared for {type}')
        size = len(v.encode("utf-8"))
        if size > MAX_METADATA_VALUE_BYTES:
            raise ContractIssue(Reason.METADATA_NOT_ALLOWED, f'metadata "{describe_key(k)}": {size} bytes > {MAX_METADATA_VALUE_BYTES}')
        total += len(k.encode("utf-8")) + size
    if total > MAX_METADATA_BYTES:
        raise ContractIssue(Reason.METADATA_NOT_ALLOWED, f"metadata: {total} bytes > {MAX_METADATA_BYTES}")


def metadata_bytes(md: Mapping[str, str]) -> int:
    return sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in md.items())
