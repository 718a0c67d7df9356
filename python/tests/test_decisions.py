"""decisions.json (PROTOCOL.md §8, §14) as far as a client needs it: the checks a receiver or a
sender can make without the verifier's state — framing, header, sender, key resolution, size,
freshness, contract, metadata, signature, payload hash, schema — give, step by step, the
verdict the verifier gave; every accepted envelope opens end to end under the manifests' keys
and passes its contract; every depth token the verifier attached verifies under the depth key.

Steps the client cannot judge (send rules, tool policy, guards, rate, causation, depth, replay,
the rejection budget, the reply subject) are checked to get past every client check placed
before them in §8.2's order."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentbus import depth_token, ed25519
from agentbus.contracts import Contract, ContractIssue, Registry, check_metadata, metadata_bytes, parse_tool_type
from agentbus.envelope import Invalid, decode_header, parse_envelope, sha256, signing_input
from agentbus.identity import b64url_decode, parse_iso, to_ms
from agentbus.manifests import CompiledKey, resolve_compiled_key
from agentbus.reasons import Reason

from .conftest import REPO, load_vectors

D = load_vectors("decisions.json")
STEPS = [(s["name"], i, st) for s in D["sequences"] for i, st in enumerate(s["steps"])]

# §8.2: the step of each reason
STEP_OF = {
    "rejection_budget_exceeded": 1, "bad_reply_subject": 2, "malformed": 4, "sender_mismatch": 6, "unknown_sender": 7, "unknown_key": 8,
    "revoked_key": 8, "expired_key": 8, "payload_too_large": 9, "stale_timestamp": 10, "future_timestamp": 10,
    "unknown_recipient": 11, "destination_not_allowed": 11, "unknown_type": 12, "type_not_allowed": 13, "tool_not_allowed": 13,
    "metadata_not_allowed": 14, "metadata_missing": 15, "bad_signature": 16, "payload_hash_mismatch": 17, "schema_invalid": 18,
    "credential_detected": 19, "invisible_text": 19, "control_chars": 19, "argument_refused": 20, "memory_not_allowed": 20,
    "rate_limited": 21, "bad_causation": 22, "depth_exceeded": 23, "replay": 24,
}
CLIENT_STEPS = {4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 17, 18}
MANIFESTS = {m["agent"]: m for m in D["manifests"]}


def _keys(m: dict[str, Any]) -> dict[str, CompiledKey]:
    out = {}
    for k in m["keys"]:
        out[k["key_id"]] = CompiledKey(
            b64url_decode(k["public_key"]),
            to_ms(parse_iso(k["not_before"])) if "not_before" in k else -(2**62),
            to_ms(parse_iso(k["not_after"])) if "not_after" in k else 2**62,
            bool(k.get("revoked", False)),
        )
    return out


KEYS = {a: _keys(m) for a, m in MANIFESTS.items()}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """decisions.json's contracts, the built-in ones from ``agentbus contracts export`` (the CLI,
    as a Python agent gets them) and the pinned tools of decisions.json's manifests."""
    out = subprocess.run(
        ["node", str(REPO / "packages/server/dist/cli/index.js"), "contracts", "export", "--no-manifests",
         "--contracts", str(REPO / "packages/server/dist/examples/quickstart/contracts.mjs")],
        capture_output=True, text=True, check=True, timeout=120,
    )
    exported = json.loads(out.stdout)
    contracts = {t: c for t, c in exported["contracts"].items() if c["builtin"]}
    contracts.update(D["contracts"])
    for server, m in MANIFESTS.items():
        for t in (m.get("mcp") or {}).get("tools", []):
            contracts[f"tool.{server}.{t['name']}"] = {"content_type": "application/json", "json_schema": t["input_schema"]}
    return Registry(Contract.from_json(t, c) for t, c in contracts.items())


def client_checks(step: dict[str, Any], reg: Registry) -> tuple[int, str] | None:
    """The first client-side check of §8.2 that fails: (step number, reason name), or None."""
    now = step.get("now", D["now"])
    data = bytes.fromhex(step["envelope"])
    try:
        parts = parse_envelope(data)
    except Invalid:
        return 4, "malformed"
    try:
        h = decode_header(parts.header_bytes)
    except Invalid:
        return 5, "malformed"
    if h.sender != step["subject_sender"]:
        return 6, "sender_mismatch"
    m = MANIFESTS.get(h.sender)
    if m is None:
        return 7, "unknown_sender"
    key = resolve_compiled_key(KEYS[h.sender], h.key_id, now)
    if isinstance(key, Reason):
        return 8, key.name.lower()
    if len(parts.payload) + metadata_bytes(h.metadata) > m["max_payload_bytes"]:
        return 9, "payload_too_large"
    if h.sent_at_ms < now - D["max_skew_ms"]:
        return 10, "stale_timestamp"
    if h.sent_at_ms > now + D["max_skew_ms"]:
        return 10, "future_timestamp"
    tool = parse_tool_type(h.type)
    contract = reg.get(h.type) if tool is None or h.type in reg else None
    if contract is None:
        return 12, "unknown_type"
    try:
        check_metadata(contract.allowed_metadata, h.metadata, h.type)
    except ContractIssue:
        return 14, "metadata_not_allowed"
    if any(not h.metadata.get(k) for k in contract.required_metadata):
        return 15, "metadata_missing"
    if not ed25519.verify(key, signing_input(parts.header_bytes), parts.signature):
        return 16, "bad_signature"
    if sha256(parts.payload) != h.payload_sha256:
        return 17, "payload_hash_mismatch"
    if h.content_type != contract.content_type:
        return 18, "schema_invalid"
    try:
        contract.decode(parts.payload)
    except ContractIssue:
        return 18, "schema_invalid"
    return None


@pytest.mark.parametrize("name,i,step", STEPS, ids=[f"{n} [{i}]" for n, i, _ in STEPS])
def test_decision_step(name: str, i: int, step: dict[str, Any], registry: Registry) -> None:
    exp = step["expect"]
    got = client_checks(step, registry)
    if exp["verdict"] in ("accepted", "duplicate"):
        assert got is None, f"the verifier {exp['verdict']} it; the client check says {got}"
        # a receiver opens it end to end, and the verifier's depth token verifies
        h = decode_header(parse_envelope(bytes.fromhex(step["envelope"])).header_bytes)
        if exp.get("depth_token"):
            rcpt = h.recipient or f"topic:{h.topic}"
            assert depth_token.depth_of(bytes.fromhex(D["depth_key"]), h.msg_id, rcpt, exp["depth_token"]) == exp["depth"]
        return
    reason = exp["reason"]
    s = STEP_OF[reason]
    if reason == "sender_mismatch":
        s = 3 if exp["detail"] == "wrong partition" else 6
    if s in CLIENT_STEPS:
        assert got is not None and got[1] == reason, f"expected {reason} (step {s}), the client check says {got}"
    elif s >= 4:
        assert got is None or got[0] > s, f"expected {reason} (step {s}), a client check before it failed: {got}"


def test_every_client_reason_is_exercised(registry: Registry) -> None:
    seen = {st["expect"]["reason"] for _, _, st in STEPS}
    assert {r for r, s in STEP_OF.items() if s in CLIENT_STEPS} <= seen
