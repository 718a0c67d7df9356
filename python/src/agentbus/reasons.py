"""The closed enums of the wire format (PROTOCOL.md §10), as Python IntEnums.

The numbers are the ``agentbus.v1`` proto enums' (tests/test_proto.py checks that every member
matches the generated descriptor). Enums are open on the wire: a number that is not a member is
kept as a plain ``int`` and named ``reason_<n>``.
"""

from __future__ import annotations

from enum import IntEnum


class Verdict(IntEnum):
    UNSPECIFIED = 0
    ACCEPTED = 1
    REJECTED = 2
    DUPLICATE = 3


class Delivery(IntEnum):
    UNSPECIFIED = 0
    CONFIRMED = 1
    UNCONFIRMED = 2
    BROADCAST = 3
    REFUSED = 4
    HELD = 5
    DENIED = 6
    APPROVED = 7


class Reason(IntEnum):
    UNSPECIFIED = 0
    MALFORMED = 1
    UNKNOWN_SENDER = 2
    UNKNOWN_KEY = 3
    REVOKED_KEY = 4
    EXPIRED_KEY = 5
    BAD_SIGNATURE = 6
    SENDER_MISMATCH = 7
    PAYLOAD_HASH_MISMATCH = 8
    STALE_TIMESTAMP = 9
    FUTURE_TIMESTAMP = 10
    REPLAY = 11
    DESTINATION_NOT_ALLOWED = 12
    TYPE_NOT_ALLOWED = 13
    SCHEMA_INVALID = 14
    PAYLOAD_TOO_LARGE = 15
    RATE_LIMITED = 16
    DEPTH_EXCEEDED = 17
    UNKNOWN_RECIPIENT = 18
    METADATA_MISSING = 19
    BAD_REPLY_SUBJECT = 20
    UNKNOWN_TYPE = 21
    METADATA_NOT_ALLOWED = 22
    BAD_CAUSATION = 23
    REJECTION_BUDGET_EXCEEDED = 24
    TOOL_NOT_ALLOWED = 25
    ARGUMENT_REFUSED = 26
    APPROVAL_DENIED = 27
    APPROVAL_TIMEOUT = 28
    CREDENTIAL_DETECTED = 29
    INVISIBLE_TEXT = 30
    CONTROL_CHARS = 31
    MEMORY_NOT_ALLOWED = 32


def as_reason(n: int) -> Reason | int:
    """The member for ``n``, or ``n`` itself when this version does not know it."""
    try:
        return Reason(n)
    except ValueError:
        return n


def reason_name(reason: int) -> str:
    """``bad_signature`` for 6; ``reason_<n>`` for a number this version does not know."""
    try:
        return Reason(reason).name.lower()
    except ValueError:
        return f"reason_{reason}"


def reason_from_name(name: str) -> Reason | None:
    try:
        return Reason[name.upper()]
    except KeyError:
        return None


def verdict_name(verdict: int) -> str:
    try:
        return Verdict(verdict).name.lower()
    except ValueError:
        return f"verdict_{verdict}"
