# Two LangGraph agents on the bus: alice's and bob's graphs are plain functions (no model, no
# API key), and every step that talks to the other agent goes over agentbus: signed by the
# sender, checked by the verifier against the manifests, audited, verified by the recipient.
#
# Run it in a project made by `npx agentbus init --python` (it uses that project's alice and bob,
# .agentbus/creds, manifests/ and contracts.json), with `npx agentbus dev` running:
#   pip install -e '../agentbus/python[langgraph]'
#   python ../agentbus/python/examples/langgraph_agents.py
from __future__ import annotations

import asyncio
import os
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from agentbus import AgentClient, InboundMessage, RejectedError, TimeoutError, connect_agent

SERVERS = os.environ.get("AGENTBUS_SERVERS", "nats://127.0.0.1:4222")


# -- bob: one graph run per message in his inbox ----------------------------------------------
class BobState(TypedDict, total=False):
    msg: InboundMessage
    reply_type: str
    reply: dict[str, Any]


def bob_graph(bob: AgentClient, handled: list[str]) -> Any:
    def think(state: BobState) -> BobState:
        # a plain function where a model would be: decide the answer
        msg = state["msg"]
        if msg.type == "question.ask":
            return {"reply_type": "question.answer", "reply": {"answer": f'you asked "{msg.payload["question"]}": 42'}}
        return {"reply_type": "note.ack", "reply": {"received": msg.msg_id}}

    async def respond(state: BobState) -> BobState:
        # over the bus: a reply carries the message's causation, depth token and trace
        await bob.reply(state["msg"], state["reply_type"], state["reply"])
        handled.append(state["msg"].type)
        return {}

    g = StateGraph(BobState)
    g.add_node("think", think)
    g.add_node("respond", respond)
    g.add_edge(START, "think")
    g.add_edge("think", "respond")
    g.add_edge("respond", END)
    return g.compile()


# -- alice: ask, thank, then try what her manifest does not allow -----------------------------
class AliceState(TypedDict, total=False):
    question: str
    answer: InboundMessage
    acked: str
    refused: str


def alice_graph(alice: AgentClient) -> Any:
    async def ask(state: AliceState) -> AliceState:
        # request: send bob question.ask and wait for the message that answers it
        try:
            answer = await alice.request("bob", "question.ask", {"question": state["question"]}, timeout=10)
        except TimeoutError as e:
            print(f"ask: no answer in time ({e})")
            return {}
        print(f'ask: bob answered "{answer.payload["answer"]}" at depth {answer.depth}')
        return {"answer": answer}

    async def thank(state: AliceState) -> AliceState:
        # send, in the answer's chain (depth + 1), then read the inbox until bob acknowledges it
        sent = await alice.send("bob", "note.send", {"text": "thanks, bob"}, causation=state["answer"])
        async for msg in alice.inbox():
            if msg.type == "note.ack" and msg.payload["received"] == sent.msg_id:
                print(f"thank: note {sent.msg_id} delivered at depth {sent.depth}, bob acknowledged it at depth {msg.depth}")
                return {"acked": sent.msg_id}
        raise RuntimeError("alice's inbox closed")

    async def forge(state: AliceState) -> AliceState:
        # alice's manifest does not let her send question.answer: the verifier refuses the step
        try:
            await alice.send("bob", "question.answer", {"answer": "forged"})
        except RejectedError as e:
            print(f"forge: refused by the verifier: {e.reason_name} ({e.detail}), msg {e.msg_id}")
            return {"refused": e.reason_name}
        print("forge: delivered (it should not have been)")
        return {}

    def answered(state: AliceState) -> str:
        # a plain routing function: go on only if bob answered
        return "thank" if state.get("answer") is not None else END

    g = StateGraph(AliceState)
    g.add_node("ask", ask)
    g.add_node("thank", thank)
    g.add_node("forge", forge)
    g.add_edge(START, "ask")
    g.add_conditional_edges("ask", answered, ["thank", END])
    g.add_edge("thank", "forge")
    g.add_edge("forge", END)
    return g.compile()


async def main() -> None:
    bus: dict[str, Any] = dict(servers=SERVERS, contracts="contracts.json", manifests_dir="manifests")
    alice = await connect_agent(credentials=".agentbus/creds/alice.creds.json", **bus)
    bob = await connect_agent(credentials=".agentbus/creds/bob.creds.json", **bus)
    handled: list[str] = []
    bobs = bob_graph(bob, handled)

    async def serve() -> None:
        async for msg in bob.inbox():
            await bobs.ainvoke({"msg": msg})

    bob_task = asyncio.create_task(serve())
    try:
        final = await alice_graph(alice).ainvoke({"question": "what is six times seven?"})
        print(f"done: alice's graph ran ask, thank, forge (refused: {final.get('refused')}); bob's graph answered {', '.join(handled)}")
    finally:
        bob_task.cancel()
        await alice.close()
        await bob.close()


if __name__ == "__main__":
    asyncio.run(main())
