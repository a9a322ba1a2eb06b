"""Job workers (delivery steps) as real processes: SIGKILL one mid-cascade, start another, every delivery
finishes and no channel saw a receipt more often than its attempt's recorded tries."""

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from cloud.delivery import config as delivery_config
from tests.cloud.delivery.conftest import Rig, all_finished, wait_until

BIN = Path(sys.executable).parent


def start_worker(rig: Rig, log: Path, name: str) -> subprocess.Popen[bytes]:
    args = [
        str(BIN / "echeck-cloud"),
        "--database-url",
        rig.cloud.url,
        "worker",
        "--lease",
        "2",
        "--concurrency",
        "4",
        "--poll",
        "0.05",
        "--name",
        name,
        "--public-url",
        "https://r.example",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def test_sigkill_a_worker_mid_cascade_then_every_delivery_finishes(rig: Rig, tmp_path: Path) -> None:
    f = rig.fakes
    with rig.session() as s:  # short steps: even a report lost to a busy machine expires in seconds
        delivery_config.set_policy(s, rig.reg.tenant_id, "viber:15,sms:15")
    f.viber.slow_delay_s = 0.5
    f.viber.default = "delay"  # type: ignore[assignment]
    phones = [f"+7916100{n:04d}" for n in range(40)]
    f.viber.recipients = {p.lstrip("+"): "reject" for p in phones[::3]}  # type: ignore[misc]
    ids = rig.send_receipts(phones)
    first = start_worker(rig, tmp_path / "worker-1.log", "w1")
    try:
        wait_until(lambda: len(f.viber.messages) >= 8, timeout=30, what="first sends")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert not all_finished(rig, len(ids))
        second = start_worker(rig, tmp_path / "worker-2.log", "w2")
        try:
            wait_until(lambda: all_finished(rig, len(ids)), timeout=120, what="all deliveries finished")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(15) == 0
    finally:
        if first.poll() is None:
            first.kill()
    sent = Counter((m["to"], "viber") for m in f.viber.messages)
    sent.update((m["to"], "sms") for m in f.sms.messages)
    for phone, rid in zip(phones, ids, strict=True):
        tl = rig.timeline(rid)
        assert tl["delivery"]["status"] == "delivered", tl
        for attempt in tl["attempts"]:
            # a channel got the receipt once per recorded try, never silently more
            if attempt["channel"] == "viber" and phone in phones[::3]:
                continue  # rejected at send: the fake records nothing
            assert sent[(phone.lstrip("+"), attempt["channel"])] <= attempt["tries"], tl
            assert sent[(phone.lstrip("+"), attempt["channel"])] >= 1
