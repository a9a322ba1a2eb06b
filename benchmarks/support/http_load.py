"""A small closed-loop HTTP/1.1 load generator on asyncio streams: `connections` kept-alive connections,
each sending the next GET as soon as the previous answer is read. Cheaper per request than httpx, so the
client takes less of the two cores the server is measured on (no wrk on these machines)."""

import asyncio
import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# A request unanswered this long counts as an error and ends its connection's turn (a lost answer once
# hung the pages benchmark for good: cloud/tracking/writer.py's missed wake-up).
ANSWER_TIMEOUT_S = 30.0
UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int
    body_bytes: int  # of the last answer

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def _connection(
    host: str, port: int, paths: "itertools.cycle[str]", until: float, cookie: str, out: list[float]
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    errors = size = 0
    try:
        while time.monotonic() < until:
            path = next(paths)
            started = time.perf_counter()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {UA}\r\n"
                f"Cookie: ec_bid={cookie}\r\n\r\n".encode()
            )
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT_S):
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head.split(b" ", 2)[1])
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    body = await reader.readexactly(length)
            except TimeoutError:  # an answer the server never sent: an error, not a benchmark that hangs
                errors += 1
                break
            out.append((time.perf_counter() - started) * 1000)
            errors += status != 200
            size = len(body)
    finally:
        writer.close()
    return errors, size


def _load(samples: list[float], took: float, errors: int, size: int) -> Load:
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 20 else max(samples)
    return Load(len(samples), took, statistics.median(samples), p95, errors, size)


async def _slice(
    base_url: str, paths: "itertools.cycle[str]", connections: int, seconds: float, samples: list[float]
) -> tuple[float, int, int]:
    parts = urlsplit(base_url)
    assert parts.hostname
    assert parts.port
    started = time.monotonic()
    until = started + seconds
    results = await asyncio.gather(
        *(
            _connection(parts.hostname, parts.port, paths, until, f"bench{i:017d}", samples)
            for i in range(connections)
        )
    )
    return time.monotonic() - started, sum(e for e, _ in results), results[-1][1]


def run_load(base_url: str, paths: Sequence[str], connections: int, seconds: float) -> Load:
    samples: list[float] = []
    took, errors, size = asyncio.run(_slice(base_url, itertools.cycle(paths), connections, seconds, samples))
    return _load(samples, took, errors, size)


def run_alternating(
    base_url: str,
    first: Sequence[str],
    second: Sequence[str],
    connections: int,
    seconds: float,
    slices: int = 5,
) -> tuple[Load, Load]:
    """Two loads on one server taking turns, `slices` turns of `seconds / slices` each, so that both are
    measured in the same stretch of time: on a machine shared with other work, a rate measured in one
    10-second run and another in the next moved with the neighbours' load by 3x, and their ratio with it."""
    cycles = itertools.cycle(first), itertools.cycle(second)
    samples: tuple[list[float], list[float]] = ([], [])
    totals = [[0.0, 0, 0], [0.0, 0, 0]]

    async def main() -> None:
        for _ in range(slices):
            for side in (0, 1):
                took, errors, size = await _slice(
                    base_url, cycles[side], connections, seconds / slices, samples[side]
                )
                totals[side][0] += took
                totals[side][1] += errors
                totals[side][2] = size

    asyncio.run(main())
    a, b = (_load(samples[i], float(totals[i][0]), int(totals[i][1]), int(totals[i][2])) for i in (0, 1))
    return a, b
