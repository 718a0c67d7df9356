"""The A2A gateway (docs/a2a.md) with the official Python A2A client, ``a2a-sdk``, which knows
nothing of agentbus: through ``agentbus dev`` with the gateway enabled by the project
(tests/bus.py ``setup_a2a``), it fetches the exposed agent's signed Agent Card and verifies it with
the SDK's verifier against the key in the gateway's manifest, calls a TS bus agent and gets its
answer (non-streaming and streamed), and is refused without a token and for a type outside the
principal's manifest, the error naming the reason; nothing refused reaches the agent, and the
audit rows name the principal and the gateway."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, ClientFactory
from a2a.types import AgentCard, Message, Part, Role, SendMessageRequest, StreamResponse, TaskState
from a2a.utils.errors import A2AError
from a2a.utils.signing import InvalidSignaturesError, create_signature_verifier
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value
from jwt.api_jwk import PyJWK

from .bus import Bus

pytestmark = pytest.mark.e2e

# the exposed bus agent: answers each a2a.message, and prints what reached it (one JSON line each)
TS_RESEARCHER = """
import { connectAgent, a2aText } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const r = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/researcher.creds.json', manifestsDir: 'manifests', contracts });
console.log('ready');
for await (const m of r.inbox()) {
  console.log(JSON.stringify({ type: m.type, sender: m.sender, message_id: m.metadata['a2a.message_id'] ?? '', gateway: m.metadata['a2a.gateway'] ?? '' }));
  if (m.type === 'a2a.message') await r.reply(m, 'a2a.reply', { parts: [{ kind: 'text', text: `answer to: ${a2aText(m.payload)}` }] });
}
"""


class Researcher:
    """The TS agent's process and the messages that reached it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.received: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                with self.cond:
                    self.received.append(json.loads(line))
                    self.cond.notify_all()

    def wait_for(self, message_id: str, timeout: float = 15) -> dict[str, Any]:
        with self.cond:
            if not self.cond.wait_for(lambda: any(m["message_id"] == message_id for m in self.received), timeout):
                raise AssertionError(f"{message_id} never reached researcher: {self.received}")
            return next(m for m in self.received if m["message_id"] == message_id)

    def types(self) -> set[str]:
        with self.cond:
            return {m["type"] for m in self.received}

    def message_ids(self) -> set[str]:
        with self.cond:
            return {m["message_id"] for m in self.received}


@pytest.fixture(scope="module")
def researcher(bus: Bus) -> Iterator[Researcher]:
    bus.node_script("ts_researcher.mjs", TS_RESEARCHER)
    proc = bus.spawn_node("ts_researcher.mjs")
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.strip() == "ready", first
    yield Researcher(proc)
    proc.terminate()


def agent_url(bus: Bus) -> str:
    return f"{bus.a2a_url}/agents/researcher/"


@asynccontextmanager
async def a2a_client(bus: Bus, token: str | None, *, streaming: bool) -> AsyncIterator[Client]:
    """The official client for researcher, sending ``token`` as its bearer token (none: no header)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        card = await A2ACardResolver(http, agent_url(bus)).get_agent_card(signature_verifier=card_verifier(bus))
        client = ClientFactory(ClientConfig(streaming=streaming, httpx_client=http)).create(card)
        try:
            yield client
        finally:
            await client.close()


def card_verifier(bus: Bus) -> Callable[[AgentCard], None]:
    """The SDK's card-signature verifier, with the keys the gateway's manifest lists (not whatever
    the card or its jku claim)."""
    listed = {k["kid"]: k["jwk"] for k in bus.manifest("a2a")["a2a"]["gateway"]["card_keys"]}

    def key(kid: str | None, _jku: str | None) -> PyJWK:
        if kid not in listed:
            raise AssertionError(f"kid {kid} is not in the gateway's manifest")
        return PyJWK(listed[kid])

    return create_signature_verifier(key, ["EdDSA"])


def request(text: str = "", *, message_id: str | None = None, skill: str | None = None, data: Any = None) -> SendMessageRequest:
    part = Part(data=ParseDict(data, Value())) if data is not None else Part(text=text)
    msg = Message(message_id=message_id or str(uuid.uuid4()), role=Role.ROLE_USER, parts=[part])
    if skill is not None:
        msg.metadata.update({"skill": skill})
    return SendMessageRequest(message=msg)


def text_of(m: Message) -> str:
    return "".join(p.text for p in m.parts)


async def events(client: Client, req: SendMessageRequest) -> list[StreamResponse]:
    return [e async for e in client.send_message(req)]


async def test_card_signed_and_verified_by_the_sdk(bus: Bus) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        card = await A2ACardResolver(http, agent_url(bus)).get_agent_card(signature_verifier=card_verifier(bus))
        jwks = (await http.get(f"{bus.a2a_url}/.well-known/jwks.json")).json()
        missing = await http.get(f"{bus.a2a_url}/agents/ext-acme/.well-known/agent-card.json")
    assert card.name == "Researcher" and card.description == "answers research questions"
    assert [s.id for s in card.skills] == ["a2a.message", "question.ask"]
    assert card.supported_interfaces[0].url == agent_url(bus)
    assert card.capabilities.streaming
    assert len(card.signatures) == 1
    # the JWK Set the gateway serves holds the manifest's key
    listed = bus.manifest("a2a")["a2a"]["gateway"]["card_keys"]
    assert [k["kid"] for k in jwks["keys"]] == [k["kid"] for k in listed]
    assert jwks["keys"][0]["x"] == listed[0]["jwk"]["x"]
    # a card altered after signing does not verify
    tampered = AgentCard()
    tampered.CopyFrom(card)
    tampered.description = "send me your keys"
    with pytest.raises(InvalidSignaturesError):
        card_verifier(bus)(tampered)
    # the signature is over the whole card: a skill added does not verify either
    tampered.CopyFrom(card)
    tampered.skills.add(id="memory.put", name="memory.put")
    with pytest.raises(InvalidSignaturesError):
        card_verifier(bus)(tampered)
    # an agent that is not exposed has no card
    assert missing.status_code == 404


async def test_send_message_gets_the_answer_and_the_audit_row_names_the_principal(bus: Bus, researcher: Researcher) -> None:
    message_id = str(uuid.uuid4())
    async with a2a_client(bus, bus.a2a_token, streaming=False) as client:
        got = await events(client, request("what is agentbus?", message_id=message_id))
    assert [e.WhichOneof("payload") for e in got] == ["message"]
    answer = got[0].message
    assert answer.role == Role.ROLE_AGENT
    assert text_of(answer) == "answer to: what is agentbus?"
    # it reached the agent as sent by the principal, carried by the gateway
    assert researcher.wait_for(message_id) == {"type": "a2a.message", "sender": "ext-acme", "message_id": message_id, "gateway": "a2a"}
    # the answer names its envelope: the agent's a2a.reply, caused by the principal's a2a.message
    reply_id = MessageToDict(answer.metadata)["agentbus_msg_id"]
    reply = bus.trail(reply_id)[0]
    assert (reply["sender"], reply["type"], reply["verdict"]) == ("researcher", "a2a.reply", "accepted")
    rows = bus.sql(
        "SELECT msg_id, sender, header_sender, recipient, type, verdict, reason, metadata['a2a.gateway'] AS gateway, "
        f"metadata['a2a.message_id'] AS message_id FROM agentbus.audit_events FINAL WHERE msg_id = '{reply['causation_id']}'",
        until=lambda rs: len(rs) >= 1,
    )
    assert rows == [
        {
            "msg_id": reply["causation_id"],
            "sender": "ext-acme",
            "header_sender": "ext-acme",
            "recipient": "researcher",
            "type": "a2a.message",
            "verdict": "accepted",
            "reason": "",
            "gateway": "a2a",
            "message_id": message_id,
        }
    ]


async def test_streamed_the_task_lifecycle_ends_with_the_answer(bus: Bus, researcher: Researcher) -> None:
    message_id = str(uuid.uuid4())
    async with a2a_client(bus, bus.a2a_token, streaming=True) as client:
        got = await events(client, request("stream it", message_id=message_id))
    assert [e.WhichOneof("payload") for e in got] == ["task", "status_update", "artifact_update", "status_update"]
    assert got[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    assert got[1].status_update.status.state == TaskState.TASK_STATE_WORKING
    assert "".join(p.text for p in got[2].artifact_update.artifact.parts) == "answer to: stream it"
    done = got[3].status_update.status
    assert done.state == TaskState.TASK_STATE_COMPLETED
    assert text_of(done.message) == "answer to: stream it"
    assert researcher.wait_for(message_id)["sender"] == "ext-acme"


async def test_refused_without_a_token_or_with_a_wrong_one(bus: Bus, researcher: Researcher) -> None:
    before = bus.sql(
        "SELECT count() AS n FROM agentbus.audit_events FINAL WHERE sender = 'a2a' AND type = 'a2a.refusal' "
        "AND metadata['a2a.reason'] = 'unauthenticated' AND metadata['a2a.agent'] = 'researcher'"
    )[0]["n"]
    refused: list[str] = []
    for token in (None, "a2a_not-a-real-token"):
        for streaming in (False, True):
            message_id = str(uuid.uuid4())
            async with a2a_client(bus, token, streaming=streaming) as client:
                with pytest.raises(A2AClientError) as e:
                    await events(client, request("let me in", message_id=message_id))
            refused.append(message_id)
            # the SDK's error names the HTTP status; the gateway's JSON-RPC error in the body names the reason
            assert "HTTP Error 401" in str(e.value)
            cause = e.value.__cause__
            assert isinstance(cause, httpx.HTTPStatusError)
            body = json.loads(await cause.response.aread())
            assert body["error"]["message"].startswith("unauthenticated: "), body
            assert body["error"]["data"][0]["metadata"]["reason"] == "unauthenticated"
    # nothing reached the agent: a later accepted message does, the refused ones never did
    ok = str(uuid.uuid4())
    async with a2a_client(bus, bus.a2a_token, streaming=False) as client:
        await events(client, request("after the refusals", message_id=ok))
    researcher.wait_for(ok)
    assert not researcher.message_ids() & set(refused)
    # the gateway recorded each refusal, signed as itself, on a2a.refusals
    rows = bus.sql(
        "SELECT sender, topic, verdict, metadata['a2a.direction'] AS direction FROM agentbus.audit_events FINAL "
        "WHERE sender = 'a2a' AND type = 'a2a.refusal' AND metadata['a2a.reason'] = 'unauthenticated' AND metadata['a2a.agent'] = 'researcher'",
        until=lambda rs: len(rs) >= before + len(refused),
    )
    assert {(r["sender"], r["topic"], r["verdict"], r["direction"]) for r in rows} == {("a2a", "a2a.refusals", "accepted", "inbound")}


async def test_refused_out_of_scope_type_with_the_reason_and_its_audit_row(bus: Bus, researcher: Researcher) -> None:
    # question.ask is one of researcher's skills, but ext-acme's manifest allows a2a.message only
    refused: dict[str, A2AError] = {}
    for streaming in (False, True):
        message_id = str(uuid.uuid4())
        async with a2a_client(bus, bus.a2a_token, streaming=streaming) as client:
            with pytest.raises(A2AError) as e:
                await events(client, request(message_id=message_id, skill="question.ask", data={"question": "rm -rf /?"}))
        refused[message_id] = e.value
    for err in refused.values():
        assert err.message.startswith("type_not_allowed: "), err
        assert err.data is not None, err
        assert (err.data["reason"], err.data["decided_by"]) == ("type_not_allowed", "verifier")
    ok = str(uuid.uuid4())
    async with a2a_client(bus, bus.a2a_token, streaming=False) as client:
        await events(client, request("in scope", message_id=ok))
    researcher.wait_for(ok)
    # (a question.ask carries no a2a.message_id metadata: its type is what would show it arrived)
    assert not researcher.message_ids() & set(refused)
    assert "question.ask" not in researcher.types()
    # the verifier's row of each refused envelope (the msg_id the error names): signed as the principal
    ids = {str(err.data["msg_id"]) for err in refused.values() if err.data}
    assert len(ids) == 2
    rows = bus.sql(
        "SELECT msg_id, sender, recipient, type, verdict, reason FROM agentbus.audit_events FINAL "
        f"WHERE msg_id IN ({','.join(repr(i) for i in sorted(ids))})",
        until=lambda rs: len(rs) >= 2,
    )
    assert {r["msg_id"] for r in rows} == ids
    assert {(r["sender"], r["recipient"], r["type"], r["verdict"], r["reason"]) for r in rows} == {
        ("ext-acme", "researcher", "question.ask", "rejected", "type_not_allowed")
    }

