"""A small HTTP load generator: ``python -m bench.loadgen CONFIG_JSON`` (its own process).

Open loop at a fixed rate: request ``i`` is due at ``t0 + i / rate`` and its latency is
measured from that moment, so a server that falls behind shows the queueing it causes
(no coordinated omission); the client opens its connections before the clock starts
(``warm`` requests, 16 unless set, not counted). Closed loop (``rate`` 0): ``concurrency``
clients back to back, which measures the maximum throughput. The mix picks each request's
kind with a seeded RNG. Prints one JSON line: per kind the count, statuses, p50/p95/p99/max
latency in ms.

The client is aiohttp, not httpx: the generator shares the machine's two cores with the
server, and httpx's client cost 2.2-2.6 ms of CPU per request (more than half of what the
server spent on it), aiohttp's 0.7 ms; at 200 requests/s that difference alone was a third of
a core taken from the server under test (docs/benchmarks.md, section 6d).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from typing import Any

import aiohttp


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def _request(kind: str, base: str, sync_ids: list[str], rng: random.Random) -> tuple[str, str]:
    sync = rng.choice(sync_ids)
    return {
        "get_sync": ("GET", f"{base}/syncs/{sync}"),
        "list_runs": ("GET", f"{base}/syncs/{sync}/runs?limit=20"),
        "list_syncs": ("GET", f"{base}/syncs?limit=50"),
        "trigger": ("POST", f"{base}/syncs/{sync}/trigger"),
    }[kind]


async def load(cfg: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(cfg.get("seed", 6))
    kinds, weights = zip(*cfg["mix"].items(), strict=True)
    rate, duration = float(cfg["rate"]), float(cfg["duration"])
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    status: dict[str, dict[str, int]] = {k: {} for k in kinds}
    headers = {"Authorization": f"Bearer {cfg['token']}"}
    connector = aiohttp.TCPConnector(limit=int(cfg.get("connections", 256)))
    timeout = aiohttp.ClientTimeout(total=60)
    session = aiohttp.ClientSession(headers=headers, connector=connector, timeout=timeout)
    async with session as client:

        async def one(kind: str, due: float) -> None:
            method, url = _request(kind, cfg["base"], cfg["syncs"], rng)
            try:
                async with client.request(method, url) as r:
                    await r.read()
                    code = str(r.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                code = type(exc).__name__
            lat[kind].append(time.perf_counter() - due)
            status[kind][code] = status[kind].get(code, 0) + 1

        async def warm(url: str) -> None:
            async with client.get(url) as r:
                await r.read()

        # Open the connections first (not counted): a fresh client's first requests each
        # open a TCP connection at once, and the phase's first 0.15 s then showed 100-200 ms
        # stalls that a long-lived client (a proxy, a pooled SDK) never sees.
        first = f"{cfg['base']}/syncs/{cfg['syncs'][0]}"  # not from ``rng``: the mix stays seeded
        await asyncio.gather(*(warm(first) for _ in range(int(cfg.get("warm", 16)))))
        t0 = time.perf_counter()
        if rate > 0:
            tasks, i = [], 0
            while (due := t0 + i / rate) < t0 + duration:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                kind = rng.choices(kinds, weights)[0]
                tasks.append(asyncio.create_task(one(kind, due)))
                i += 1
            await asyncio.gather(*tasks)
        else:

            async def worker() -> None:
                while time.perf_counter() - t0 < duration:
                    await one(rng.choices(kinds, weights)[0], time.perf_counter())

            await asyncio.gather(*(worker() for _ in range(int(cfg.get("concurrency", 32)))))
        elapsed = time.perf_counter() - t0
    total = sum(len(v) for v in lat.values())
    per_kind = {
        k: {
            "count": len(v),
            "status": status[k],
            "p50_ms": _pct(v, 0.50),
            "p95_ms": _pct(v, 0.95),
            "p99_ms": _pct(v, 0.99),
            "max_ms": round(max(v, default=0) * 1000, 1),
            "mean_ms": round(statistics.fmean(v) * 1000, 1) if v else 0.0,
        }
        for k, v in lat.items()
    }
    return {
        "rate": rate,
        "elapsed_s": round(elapsed, 2),
        "requests": total,
        "achieved_rps": round(total / elapsed, 1),
        "kinds": per_kind,
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(load(cfg))))


if __name__ == "__main__":
    main()
