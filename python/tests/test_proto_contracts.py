"""Protobuf contracts (PROTOCOL.md §7.3: ``application/x-protobuf; proto=<full name>``): a
generated message class bound to the export's contract encodes and decodes its payloads, and a
Python agent and a TS agent exchange one both ways through the verifier, which refuses a payload
that does not decode. The message is agentbus.v1.DeliveryRecord, generated from proto/ for both
languages (protobufjs's static class in TS, envelope_pb2 here); tests/bus.py registers it as
``delivery.report`` in the test project's contracts.mjs."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from agentbus import ContractError, Reason, Registry, RejectedError, connect_agent, seal_envelope
from agentbus.contracts import PROTO_CONTENT_TYPE_PREFIX, Contract, ContractIssue
from agentbus.v1 import envelope_pb2
from agentbus.v1.envelope_pb2 import DeliveryRecord

from .bus import Bus

NAME = "agentbus.v1.DeliveryRecord"
CT = PROTO_CONTENT_TYPE_PREFIX + NAME


def export_doc(**contracts: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {"json_schema": None, "metadata": [], "required_metadata": [], "critical": False, "description": "", "builtin": False}
    return {"agentbus_contracts": 1, "tool_call_schema": {"type": "object"}, "contracts": {t.replace("_", "."): {**base, **c} for t, c in contracts.items()}}


def test_from_proto_names_the_message() -> None:
    c = Contract.from_proto("delivery.report", DeliveryRecord, metadata=["ticket"])
    assert c.content_type == CT and c.proto_name == NAME and c.json_schema is None
    assert "ticket" in c.allowed_metadata


def test_bound_contract_encodes_and_decodes() -> None:
    reg = Registry.from_export(export_doc(delivery_report={"content_type": CT}), proto={"delivery.report": DeliveryRecord})
    c = reg.get("delivery.report")
    assert c is not None and c.proto_class is DeliveryRecord
    msg = DeliveryRecord(msg_id=b"\x01" * 16, recipient="bob", delivery=envelope_pb2.DELIVERY_CONFIRMED, at_ms=1234, detail="ok")
    data = c.encode(msg)
    assert data == msg.SerializeToString()
    assert c.decode(data) == msg
    # a mapping in protobuf's JSON mapping (bytes base64, either field-name style)
    assert c.decode(c.encode({"msgId": "AQEBAQEBAQEBAQEBAQEBAQ==", "recipient": "bob", "delivery": "DELIVERY_CONFIRMED", "at_ms": "1234", "detail": "ok"})) == msg


def test_bound_contract_refuses_what_is_not_its_message() -> None:
    c = Contract.from_proto("delivery.report", DeliveryRecord)
    with pytest.raises(ContractIssue) as e:
        c.encode({"no_such_field": 1})
    assert e.value.reason == Reason.SCHEMA_INVALID and e.value.detail.startswith(f"not a {NAME}: ")
    with pytest.raises(ContractIssue) as e2:
        c.encode(envelope_pb2.Ack())
    assert e2.value.detail == f"expected a {NAME} or a mapping, got Ack"
    with pytest.raises(ContractIssue) as e3:
        c.decode(b"\xff\xff\xff")
    assert (e3.value.reason, e3.value.detail) == (Reason.SCHEMA_INVALID, f"payload is not a valid {NAME}")


def test_binding_checks_the_message_name() -> None:
    reg = Registry.from_export(export_doc(delivery_report={"content_type": CT}, note_send={"content_type": "application/json", "json_schema": {}}))
    with pytest.raises(ValueError, match=f"delivery.report carries {NAME}, not agentbus.v1.Ack"):
        reg.bind_proto("delivery.report", envelope_pb2.Ack)
    with pytest.raises(ValueError, match="note.send is not a protobuf contract"):
        reg.bind_proto("note.send", DeliveryRecord)
    # unbound: loading works, using it says what to do
    c = reg.get("delivery.report")
    assert c is not None
    with pytest.raises(ContractIssue) as e:
        c.encode(DeliveryRecord())
    assert e.value.detail == f"{NAME} is a protobuf contract and no message class is bound to delivery.report (Registry.bind_proto)"
    with pytest.raises(ContractIssue):
        c.decode(b"")


# -- end to end ---------------------------------------------------------------------------

TS_RECEIVER = """
import { connectAgent } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const bob = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/bob.creds.json', manifestsDir: 'manifests', contracts });
console.log('ready');
for await (const msg of bob.inbox()) {
  if (msg.type !== 'delivery.report') continue;
  const p = msg.payload;
  console.log(JSON.stringify({ sender: msg.sender, msgId: Buffer.from(p.msgId).toString('hex'), recipient: p.recipient, delivery: p.delivery, atMs: String(p.atMs), detail: p.detail }));
  break;
}
await bob.close();
"""

TS_SENDER = """
import { connectAgent } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const alice = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/alice.creds.json', manifestsDir: 'manifests', contracts });
const r = await alice.send('pybob', 'delivery.report', { msgId: Buffer.alloc(16, 7), recipient: 'pybob', delivery: 1, atMs: 1700000000123, detail: 'from typescript' });
console.log(JSON.stringify({ msgId: r.msgId }));
await alice.close();
"""


def proto_registry(bus: Bus) -> Registry:
    return Registry.load(bus.proj / "contracts.json", proto={"delivery.report": DeliveryRecord})


@pytest.mark.e2e
async def test_python_sends_typescript_a_protobuf_message(bus: Bus) -> None:
    doc = json.loads((bus.proj / "contracts.json").read_text())
    assert doc["contracts"]["delivery.report"]["content_type"] == CT and doc["contracts"]["delivery.report"]["json_schema"] is None
    bus.node_script("ts_proto_bob.mjs", TS_RECEIVER)
    bob = bus.spawn_node("ts_proto_bob.mjs")
    assert bob.stdout is not None
    loop = asyncio.get_running_loop()
    assert (await loop.run_in_executor(None, bob.stdout.readline)).strip() == "ready"
    alice = await connect_agent(bus.url, bus.creds("pyalice"), proto_registry(bus), manifests_dir=bus.manifests)
    try:
        rec = DeliveryRecord(msg_id=b"\x05" * 16, recipient="carol", delivery=envelope_pb2.DELIVERY_REFUSED, at_ms=1_700_000_000_456, detail="from python")
        r = await alice.send("bob", "delivery.report", rec)
        assert r.delivered
        line = await loop.run_in_executor(None, bob.stdout.readline)
        got = json.loads(line)
        assert got == {"sender": "pyalice", "msgId": "05" * 16, "recipient": "carol", "delivery": envelope_pb2.DELIVERY_REFUSED, "atMs": "1700000000456", "detail": "from python"}
    finally:
        bob.terminate()
        await alice.close()


@pytest.mark.e2e
async def test_typescript_sends_python_a_protobuf_message(bus: Bus) -> None:
    pybob = await connect_agent(bus.url, bus.creds("pybob"), proto_registry(bus), manifests_dir=bus.manifests)
    try:
        inbox = pybob.inbox()
        bus.node_script("ts_proto_alice.mjs", TS_SENDER)
        r = await asyncio.get_running_loop().run_in_executor(None, lambda: bus.run_node("ts_proto_alice.mjs"))
        assert r.returncode == 0, r.stderr
        msg = await inbox.get(timeout=10)
        assert msg.type == "delivery.report" and msg.sender == "alice"
        assert msg.payload == DeliveryRecord(msg_id=b"\x07" * 16, recipient="pybob", delivery=envelope_pb2.DELIVERY_CONFIRMED, at_ms=1_700_000_000_123, detail="from typescript")
        assert msg.payload_bytes == msg.payload.SerializeToString()
    finally:
        await pybob.close()


@pytest.mark.e2e
async def test_the_verifier_refuses_a_payload_that_is_not_the_message(bus: Bus) -> None:
    alice = await connect_agent(bus.url, bus.creds("pyalice"), bus.proj / "contracts.json", manifests_dir=bus.manifests)
    try:
        # unbound in this registry: the SDK says so before signing
        with pytest.raises(ContractError) as c:
            await alice.send("pybob", "delivery.report", DeliveryRecord())
        assert c.value.reason == Reason.SCHEMA_INVALID and "no message class is bound" in c.value.detail
        key = alice.identity.current_key()
        mid = os.urandom(16)
        sealed = seal_envelope(
            sender="pyalice", key_id=key.key_id, sign=key.sign, recipient="pybob", type="delivery.report", payload=b"\xff\xff\xff", content_type=CT, msg_id=mid
        )
        with pytest.raises(RejectedError) as e:
            await alice.send_raw(sealed.data, mid.hex(), recipient="pybob")
        assert (e.value.reason, e.value.detail) == (Reason.SCHEMA_INVALID, f"payload is not a valid {NAME}")
    finally:
        await alice.close()
