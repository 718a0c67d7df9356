"""The Python client's send -> confirmed round trip and msgs/s (bench/python.ts runs it next to
the TS client's, on one bus). Prints one JSON line.

python bench/send_bench.py URL CREDS MANIFESTS CONTRACTS RECIPIENT N WINDOW
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from agentbus import connect_agent


async def main() -> None:
    url, creds, manifests, contracts, to, n_s, window_s = sys.argv[1:8]
    n, window = int(n_s), int(window_s)
    a = await connect_agent(url, creds, contracts, manifests_dir=manifests)
    payload = {"text": "x" * 200}
    rtt: list[float] = []
    for i in range(n + 20):
        t = time.perf_counter()
        r = await a.send(to, "note.post", payload)
        assert r.delivered
        if i >= 20:
            rtt.append((time.perf_counter() - t) * 1000)
    rtt.sort()
    sem = asyncio.Semaphore(window)

    async def one() -> None:
        async with sem:
            await a.send(to, "note.post", payload)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n * 4)))
    per_s = n * 4 / (time.perf_counter() - t0)
    await a.close()
    print(json.dumps({"median_ms": rtt[len(rtt) // 2], "p99_ms": rtt[min(len(rtt) - 1, int(0.99 * len(rtt)))], "per_s": per_s}))


asyncio.run(main())
