"""The documented long fault run: `python -m tests.faults.long_run [--faults 1000] [--seed 1]`.

Real cloud and agent processes on loopback, the fault proxy between them injecting drops, resets,
delays, truncated answers, hangs and 500/503/429 at random, and the agent SIGKILLed every few seconds
while the POS keeps closing receipts. It stops once `--faults` faults were injected, lets the agent
drain, checks that every confirmed receipt is in the cloud exactly once, and prints the counts.
"""

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.faults.harness import Till, start_bench, verdict
from tests.faults.proxy import FaultProxy, random_faults

# The quick faults more often than those that make the agent wait a second or more (hang, Retry-After).
KINDS = ("drop", "reset", "delay", "truncate", "http500") * 3 + ("hold", "http503", "http429")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.long_run", description=__doc__)
    parser.add_argument("--faults", type=int, default=1000, help="stop after this many (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between agent SIGKILLs")
    parser.add_argument("--database-url", help="the cloud's database (default: a SQLite file)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="echeck-long-run-") as name:
        tmp = Path(name)
        proxy = FaultProxy(0, chooser=random_faults(rng, 0.8, KINDS), delay_s=0.2, hold_s=5.0)
        url = args.database_url or f"sqlite:///{tmp / 'cloud.db'}"
        bench = start_bench(tmp, url, proxy, timeout_s=1.0, backoff_cap_s=0.2)
        kills = 0
        started = time.monotonic()
        try:
            till = Till(bench.agent.url)
            stop = threading.Event()
            thread = till.run(stop, rate=100)
            next_kill = time.monotonic() + args.kill_every
            while proxy.total + kills < args.faults:
                time.sleep(0.2)
                if time.monotonic() >= next_kill:
                    bench.kill_agent()
                    kills += 1
                    bench.agent.start()
                    next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * args.kill_every
                print(f"\r{proxy.total + kills} faults, {len(till.confirmed)} receipts", end="", flush=True)
            stop.set()
            thread.join(10)
            proxy.chooser = lambda: "pass"
            stored, swallowed = verdict(bench, till)
        finally:
            bench.stop()
    total = proxy.total + kills
    print(
        f"\nfaults injected: {total} ({kills} agent SIGKILLs, network/cloud {dict(proxy.injected)}) in "
        f"{time.monotonic() - started:.0f} s; {stored} receipts in the cloud exactly once "
        f"({len(till.confirmed)} confirmed closes, {swallowed} stored whose answer was lost): OK"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
