"""The agent's prompt channel with no cashier UI running: a POS's ask-contact?wait=15 → its answer.

A real agent is served over loopback HTTP and nothing long-polls its prompts (echeck-ui not started, or
crashed). The agent must say `no_ui` at once instead of holding the sale for the whole wait.
"""

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import Figure

TARGET_P95_MS = 50.0
ASK_WAIT_S = 15  # what a POS passes; the answer must not take it


def _latencies(count: int) -> list[float]:
    from agent.bootstrap import Agent, create_app
    from agent.config import load_config
    from benchmarks.support.serving import live_server

    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(Path(tmp) / "none.toml", env={}, overrides={"data_dir": Path(tmp) / "agent"})
        with (
            live_server(create_app(Agent(config))) as url,
            httpx.Client(base_url=url + "/pos/v1", timeout=ASK_WAIT_S + 5) as pos,
        ):
            for n in range(count):
                cid = f"N{n}"
                pos.post("/checkouts", json={"checkout_id": cid}).raise_for_status()
                started = time.perf_counter()
                answer = pos.post(f"/checkouts/{cid}/ask-contact", params={"wait": ASK_WAIT_S})
                samples.append((time.perf_counter() - started) * 1000)
                if answer.json().get("answer") != "no_ui":
                    raise RuntimeError(f"ask {n}: expected no_ui, got {answer.text}")
                pos.post(f"/checkouts/{cid}/cancel").raise_for_status()
    return samples


def run(quick: bool) -> list[Figure]:
    samples = sorted(_latencies(50 if quick else 500))
    p95 = statistics.quantiles(samples, n=20)[-1]
    name = f"POS ask (wait={ASK_WAIT_S} s), no UI → answer no_ui (n={len(samples)})"
    return [
        Figure("prompts", name + ", p50", statistics.median(samples), "ms"),
        Figure("prompts", name + ", p95", p95, "ms", f"≤ {TARGET_P95_MS:.0f} ms", p95 <= TARGET_P95_MS),
    ]
