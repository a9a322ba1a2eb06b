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
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            out.append((time.perf_counter() - started) * 1000)
            errors += status != 200
            size = len(body)
    finally:
        writer.close()
    return errors, size


def run_load(base_url: str, paths: Sequence[str], connections: int, seconds: float) -> Load:
    parts = urlsplit(base_url)
    assert parts.hostname
    assert parts.port

    async def main() -> Load:
        cycle = itertools.cycle(paths)
        samples: list[float] = []
        started = time.monotonic()
        until = started + seconds
        results = await asyncio.gather(
            *(
                _connection(parts.hostname or "", parts.port or 80, cycle, until, f"bench{i:017d}", samples)
                for i in range(connections)
            )
        )
        took = time.monotonic() - started
        errors = sum(e for e, _ in results)
        size = results[-1][1]
        p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 20 else max(samples)
        return Load(len(samples), took, statistics.median(samples), p95, errors, size)

    return asyncio.run(main())
