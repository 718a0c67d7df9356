"""Credential files and the typed errors: the TS SDK's one-line messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentbus import ContractError, CredentialError, RefusedError, RejectedError, load_credentials, reason_name
from agentbus.errors import PermissionError, TimeoutError, UndeliveredError
from agentbus.identity import b64url_encode, key_id_for
from agentbus import ed25519
from agentbus.reasons import Reason

SEED = bytes(range(32))
NATS_SEED = "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"


def write(tmp: Path, doc: object, mode: int = 0o600) -> Path:
    p = tmp / "a.creds.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    os.chmod(p, mode)
    return p


def good() -> dict[str, object]:
    pk = ed25519.public_key(SEED)
    return {"agentbus_credentials": 1, "agent": "alice", "nats_seed": NATS_SEED, "keys": [{"key_id": key_id_for(pk), "seed": b64url_encode(SEED)}]}


def test_loads_a_credential_file(tmp_path: Path) -> None:
    ident = load_credentials(write(tmp_path, good()))
    assert ident.agent_id == "alice" and ident.nats_public_key.startswith("U")
    k = ident.current_key()
    assert k.key_id == key_id_for(ed25519.public_key(SEED))
    assert ed25519.verify(k.public_key, b"m", k.sign(b"m"))
    assert "SU" not in repr(ident) and SEED.hex() not in repr(k)


@pytest.mark.parametrize(
    "doc,mode,message",
    [
        (good(), 0o644, "credential file is accessible by group or others (mode 644); run: chmod 600 "),
        ("{not json", 0o600, "credential file is not valid JSON"),
        ({**good(), "agent": "Alice"}, 0o600, "malformed credential file: not a valid agent id at agent"),
        ({**good(), "keys": [{"key_id": "kwrong", "seed": b64url_encode(SEED)}]}, 0o600, "malformed credential file: key_id does not match its seed at keys.0.key_id"),
    ],
)
def test_refuses_bad_credential_files(tmp_path: Path, doc: object, mode: int, message: str) -> None:
    p = write(tmp_path, doc, mode)
    with pytest.raises(CredentialError) as e:
        load_credentials(p)
    assert str(e.value).startswith(f"{p}: {message}")
    assert NATS_SEED not in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match=r"cannot read credential file \(ENOENT\)"):
        load_credentials(tmp_path / "none.json")


def test_error_messages_match_the_ts_sdk() -> None:
    assert str(RejectedError(Reason.TYPE_NOT_ALLOWED, "ab", "question.answer")) == "type_not_allowed: question.answer"
    assert str(RejectedError(Reason.BAD_SIGNATURE, "ab")) == "bad_signature"
    assert RejectedError(999, "ab").reason_name == "reason_999" and RejectedError(999, "ab").reason == 999
    assert str(ContractError(Reason.SCHEMA_INVALID, "note.send", "bad")) == "schema_invalid: note.send: bad"
    r = RefusedError(Reason.UNKNOWN_TYPE, "ab", "bob", "x")
    assert (str(r), r.recipient) == ("unknown_type: x", "bob")
    assert isinstance(TimeoutError("t"), builtins_timeout())
    assert str(PermissionError("t", "agentbus.topic.t.>")).startswith('subscribing to topic "t" was refused')
    assert UndeliveredError("ab", "m").msg_id == "ab"
    assert reason_name(Reason.MEMORY_NOT_ALLOWED) == "memory_not_allowed"


def builtins_timeout() -> type[BaseException]:
    import builtins

    return builtins.TimeoutError
