# alice and bob of this project, in Python, on the bus that `npx agentbus dev` runs (start it
# first, in another terminal). Needs the Python SDK, not on PyPI yet: pip install -e python/ of
# the agentbus clone (what `agentbus init --python` printed). Run: python example.py
import asyncio
import os

from agentbus import ContractError, RejectedError, TimeoutError, UndeliveredError, connect_agent

SERVERS = os.environ.get("AGENTBUS_SERVERS", "nats://127.0.0.1:4222")


async def main() -> None:
    # contracts.json: this project's contracts as JSON Schema (npx agentbus contracts export -o contracts.json)
    bus = dict(servers=SERVERS, contracts="contracts.json", manifests_dir="manifests")
    alice = await connect_agent(credentials=".agentbus/creds/alice.creds.json", **bus)
    bob = await connect_agent(credentials=".agentbus/creds/bob.creds.json", **bus)

    # bob reads his inbox: verified messages, checked payloads, each msg_id once. A reply carries
    # the causation, the chain depth and the trace of the message it answers.
    async def serve() -> None:
        async for msg in bob.inbox():
            if msg.type == "note.send":
                await bob.reply(msg, "note.ack", {"received": msg.msg_id})
            if msg.type == "question.ask":
                await bob.reply(msg, "question.answer", {"answer": f'you asked "{msg.payload["question"]}": 42'})

    bob_task = asyncio.create_task(serve())

    # Every call either succeeds or raises an error that says why.
    async def step(what: str, fn) -> None:
        try:
            print(f"{what}: {await fn()}")
        except RejectedError as e:
            print(f"{what}: rejected by the verifier: {e.reason_name} ({e.detail})")
        except ContractError as e:
            print(f"{what}: refused before signing: {e.reason_name} ({e.detail})")
        except UndeliveredError:
            print(f"{what}: accepted, but the recipient did not confirm it (is it connected?)")
        except TimeoutError as e:
            print(f"{what}: no answer in time ({e})")

    # send: returns once the verifier accepted it and bob's client confirmed it holds it
    async def note() -> str:
        ack = await alice.send("bob", "note.send", {"text": "hello bob"})
        # bob acknowledges it: alice reads her inbox until the ack comes
        async for msg in alice.inbox():
            if msg.type == "note.ack" and msg.payload["received"] == ack.msg_id:
                break
        return f"delivered and acknowledged, msg {ack.msg_id}"

    await step("alice sends bob a note", note)

    # request: send, then wait for the message that answers it
    async def ask() -> str:
        answer = await alice.request("bob", "question.ask", {"question": "what is six times seven?"}, timeout=5)
        return f"bob answered: {answer.payload['answer']}"

    await step("alice asks bob a question", ask)

    # alice's manifest does not let her send question.answer: the verifier refuses it
    async def forge() -> str:
        await alice.send("bob", "question.answer", {"answer": "forged"})
        return "delivered (it should not have been)"

    await step("alice forges an answer", forge)

    # a payload that breaks its contract never leaves the SDK
    async def malformed() -> str:
        await alice.send("bob", "note.send", {"text": 42})
        return "delivered (it should not have been)"

    await step("alice sends a malformed note", malformed)

    await alice.close()
    await bob.close()
    bob_task.cancel()


asyncio.run(main())
