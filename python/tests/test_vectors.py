"""Every vector file in protocol/vectors (PROTOCOL.md §14) through the Python implementation."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from agentbus import depth_token, ed25519
from agentbus.constants import AUDIT_BATCH_DOMAIN, DEPTH_DOMAIN, SIGNING_DOMAIN
from agentbus.envelope import Invalid, decode_header, open_envelope, parse_envelope, signing_input
from agentbus.reasons import Reason, verdict_name, Delivery
from agentbus.v1 import envelope_pb2

from .conftest import VECTORS, load_vectors

SIG = load_vectors("signature.json")
ENV = load_vectors("envelope.json")
DT = load_vectors("depth-token.json")
AB = load_vectors("audit-batch.json")


def test_every_vector_file_is_covered() -> None:
    covered = {"signature.json", "envelope.json", "depth-token.json", "audit-batch.json", "decisions.json"}
    assert {p.name for p in Path(VECTORS).glob("*.json")} == covered


@pytest.mark.parametrize("v", SIG["vectors"], ids=lambda v: v["name"])
def test_signature(v: dict[str, Any]) -> None:
    pk = bytes.fromhex(v["public_key"])
    msg = bytes.fromhex(v["message"])
    sig = bytes.fromhex(v["signature"])
    assert ed25519.verify(pk, msg, sig) is v["valid"], v["why"]


def test_signature_vectors_include_rfc8032_and_speccheck() -> None:
    names = " ".join(v["name"] for v in SIG["vectors"])
    assert "RFC 8032" in names and "speccheck" in names


def _header_json(h: Any) -> dict[str, Any]:
    return {
        "sender": h.sender,
        "key_id": h.key_id,
        "recipient": h.recipient,
        "topic": h.topic,
        "type": h.type,
        "msg_id": h.msg_id.hex(),
        "sent_at_ms": h.sent_at_ms,
        "payload_sha256": h.payload_sha256.hex(),
        "content_type": h.content_type,
        "trace_id": h.trace_id.hex(),
        "span_id": h.span_id.hex(),
        "causation_id": h.causation_id.hex(),
        "depth": h.depth,
        "metadata": dict(sorted(h.metadata.items())),
    }


@pytest.mark.parametrize("v", ENV["vectors"], ids=lambda v: v["name"])
def test_envelope(v: dict[str, Any]) -> None:
    data = bytes.fromhex(v["envelope"])
    if not v["valid"]:
        with pytest.raises(Invalid) as e:
            parts = parse_envelope(data)
            assert v["stage"] == "header", "framing parsed, the vector says it must not"
            decode_header(parts.header_bytes)
        assert e.value.reason == Reason.MALFORMED
        assert v["reason"] == "malformed"
        assert e.value.detail == v["detail"]
        if v["stage"] == "header":
            parse_envelope(data)  # the framing itself is fine
        return
    parts = parse_envelope(data)
    assert parts.header_bytes.hex() == v["parts"]["header"]
    assert parts.payload.hex() == v["parts"]["payload"]
    assert parts.signature.hex() == v["parts"]["signature"]
    h = decode_header(parts.header_bytes)
    assert _header_json(h) == v["header"]
    assert signing_input(parts.header_bytes).hex() == v["signing_input"]
    if "public_key" in v:
        pk = bytes.fromhex(v["public_key"])
        ok = ed25519.verify(pk, signing_input(parts.header_bytes), parts.signature)
        assert ok is v["signature_valid"]
        if ok and hashlib.sha256(parts.payload).digest() == h.payload_sha256:
            opened = open_envelope(data, lambda s, k, at: pk)
            assert opened.header == h


def test_domains() -> None:
    assert SIGNING_DOMAIN.hex() == ENV["vectors"][0]["signing_input"][: len(SIGNING_DOMAIN) * 2]
    assert DEPTH_DOMAIN.hex() == DT["domain"]
    assert AUDIT_BATCH_DOMAIN.hex() == AB["batches"][0]["signing_input_prefix"]


@pytest.mark.parametrize("v", DT["vectors"], ids=lambda v: v["name"])
def test_depth_token(v: dict[str, Any]) -> None:
    key = bytes.fromhex(DT["key"])
    mid = bytes.fromhex(v["msg_id"])
    assert depth_token.mac_input(mid, v["recipient"], v["depth"]).hex() == v["mac_input"]
    assert depth_token.mac(key, mid, v["recipient"], v["depth"]).hex() == v["hmac_sha512_256"]
    assert depth_token.mint(key, mid, v["recipient"], v["depth"]) == v["token"]
    assert depth_token.depth_of(key, mid, v["recipient"], v["token"]) == v["depth"]


@pytest.mark.parametrize("v", DT["invalid"], ids=lambda v: v["name"])
def test_depth_token_invalid(v: dict[str, Any]) -> None:
    key = bytes.fromhex(DT["key"])
    assert depth_token.depth_of(key, bytes.fromhex(v["msg_id"]), v["recipient"], v["token"]) is None


def test_audit_batch_chain() -> None:
    pk = bytes.fromhex(AB["public_key"])
    prev = bytes(32)
    for i, b in enumerate(AB["batches"]):
        batch = bytes.fromhex(b["batch"])
        sig = bytes.fromhex(b["signature"])
        assert hashlib.sha256(batch).hexdigest() == b["sha256"]
        assert ed25519.verify(pk, AUDIT_BATCH_DOMAIN + batch, sig)
        signed = envelope_pb2.SignedAuditBatch.FromString(bytes.fromhex(b["signed_audit_batch"]))
        assert signed.batch == batch and signed.signature == sig
        ab = envelope_pb2.AuditBatch.FromString(batch)
        assert ab.seq == int(b["seq"]) == i + 1
        assert ab.chain_id.hex() == AB["chain_id"]
        assert ab.verifier_id == AB["verifier_id"] and ab.key_id == AB["key_id"]
        assert ab.prev_hash == prev == bytes.fromhex(b["prev_hash"])
        prev = hashlib.sha256(batch).digest()
        assert [e.event_id.hex() for e in ab.events] == [e["event_id"] for e in b["events"]]
        assert [verdict_name(e.verdict) for e in ab.events] == [e["verdict"] for e in b["events"]]
        assert [d.msg_id.hex() for d in ab.deliveries] == [d["msg_id"] for d in b["deliveries"]]
        assert ["delivery_" + Delivery(d.delivery).name.lower() for d in ab.deliveries] == [d["delivery"].lower() for d in b["deliveries"]]
        # every event's header re-verifies against nothing here, but it must decode as a header
        for e in ab.events:
            if e.header:
                decode_header(e.header)


@pytest.mark.parametrize("v", AB["broken"], ids=lambda v: v["name"])
def test_audit_batch_broken(v: dict[str, Any]) -> None:
    pk = bytes.fromhex(AB["public_key"])
    ok = ed25519.verify(pk, AUDIT_BATCH_DOMAIN + bytes.fromhex(v["batch"]), bytes.fromhex(v["signature"]))
    assert ok is v["signature_valid"]
