"""Added latency of the register hooks per receipt, the cashier's answer excluded (target ≤ 5 ms).

Method (docs/performance.md, "Drivers"): added latency = quantile(POS → register through the hook) −
quantile(POS → register direct), p50 and p99 over the same number of receipts, interleaved one for one so
both paths see the same machine; with them, the hook process's CPU time and context switches per
receipt, which the host's load does not stretch. Each party is its own process, as in a store: the
register emulators and the hook (with the agent's checkout service and outbox behind it) run as
`benchmarks.drivers_side` subprocesses, the POS is this process. Direct and hooked paths use the same
POS code, the same emulator code and the same transport to the register; what the hooked path adds is
exactly what a store installs.

ATOL proxy: the POS posts a sale task (with the buyer's phone, so nobody is asked) and polls its result
until ready, once straight to the ATOL emulator and once through the proxy (one extra HTTP hop each way).

Shtrih-M tap: the POS script sells (open, two items, close) over a pty pair through the tap to one
emulator on TCP, and over TCP straight to a second, identical emulator. The tap's window is included: the
cashier's answer is sent as TLV 1008 (one more round trip to the register) and the shift is read once.
Before the close both paths pause 20 ms, left out of the figure: the cashier answers in that pause (an
auto-answering cashier in the tap's process), and the answer's time is not the tap's latency.
"""

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import serial

from benchmarks import Figure
from benchmarks.machine import ProcessCost
from benchmarks.support.drivers import PtyPair
from drivers.shtrih import commands as c
from drivers.shtrih.link import LinkClient, SerialChannel
from receipts import VatRate

TARGET_MS = 5.0
PAUSE_S = 0.02  # before the close, on both paths: the cashier's answer, not measured
TASK = {
    "type": "sell",
    "clientInfo": {"emailOrPhone": "+79161234567"},
    "items": [
        {
            "type": "position",
            "name": "Молоко",
            "price": 89.9,
            "quantity": 1,
            "amount": 89.9,
            "tax": {"type": "vat10"},
        }
    ],
    "payments": [{"type": "electronically", "sum": 89.9}],
    "total": 89.9,
}


def quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _cost(hook: str, before: ProcessCost, after: ProcessCost, receipts: int) -> list[Figure]:
    """What the hook's process (the hook and the agent behind it) spent per receipt: the host's load
    stretches wall-clock tails, not these."""
    cpu_ms, switches = after.per(before, receipts)
    return [
        Figure("drivers", f"{hook}: CPU per receipt (hook + agent)", cpu_ms, "ms"),
        Figure("drivers", f"{hook}: context switches per receipt", switches, ""),
    ]


def _figures(area: str, hook: str, direct: list[float], hooked: list[float]) -> list[Figure]:
    (d50, d99), (h50, h99) = quantiles(direct), quantiles(hooked)
    added50, added99 = max(0.0, (h50 - d50) * 1000), max(0.0, (h99 - d99) * 1000)
    return [
        Figure(
            area,
            f"{hook}: added latency per receipt p50",
            added50,
            "ms",
            f"≤ {TARGET_MS:g} ms",
            added50 <= TARGET_MS,
        ),
        Figure(
            area,
            f"{hook}: added latency per receipt p99",
            added99,
            "ms",
            f"≤ {TARGET_MS:g} ms",
            added99 <= TARGET_MS,
        ),
        Figure(
            area, f"{hook}: receipt direct / through it p50", d50 * 1000, "ms", f"{h50 * 1000:.2f} ms through"
        ),
    ]


@dataclass(frozen=True)
class Side:
    address: str
    pid: int


@contextmanager
def side(role: str, *args: str) -> Iterator[Side]:
    """A `drivers_side` role in its own process; yields the address it printed and its pid."""
    command = [sys.executable, "-m", "benchmarks.drivers_side", role, *args]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"{role} did not start (exit {process.poll()})")
        yield Side(line.split(" ", 1)[1].strip(), process.pid)
    finally:
        if process.stdin:
            process.stdin.close()  # the role stops itself
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _atol_receipt(client: httpx.Client) -> float:
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    assert client.post("/api/v2/requests", json={"uuid": request_id, "request": [TASK]}).status_code == 201
    while client.get(f"/api/v2/requests/{request_id}").json()["results"][0]["status"] != "ready":
        pass
    return time.perf_counter() - started


def bench_atol(receipts: int, workdir: Path) -> list[Figure]:
    outbox = str(workdir / "atol.sqlite3")
    with (
        side("atol-emulator") as upstream,
        side("atol-proxy", "--upstream", upstream.address, "--outbox", outbox) as proxy,
        httpx.Client(base_url=upstream.address) as direct_client,
        httpx.Client(base_url=proxy.address) as proxy_client,
    ):
        for _ in range(5):  # warm up connections and imports
            _atol_receipt(direct_client)
            _atol_receipt(proxy_client)
        direct, hooked = [], []
        before = ProcessCost.of(proxy.pid)
        for _ in range(receipts):  # interleaved, so both see the same machine
            direct.append(_atol_receipt(direct_client))
            hooked.append(_atol_receipt(proxy_client))
        time.sleep(0.2)  # the last receipt's recording, after the POS had its answer
        cost = _cost("ATOL proxy", before, ProcessCost.of(proxy.pid), receipts)
    return _figures("drivers", "ATOL proxy", direct, hooked) + cost


def _shtrih_receipt(pos: LinkClient, before_close: Callable[[], None] = lambda: None) -> float:
    started = time.perf_counter()
    c.Answer.decode(pos.execute(c.OpenReceipt().encode())).raise_for_error()
    for price in (8990, 42900):
        item = c.OperationV2(price=price, vat=VatRate.VAT20, name="Товар", quantity=Decimal(1))
        c.Answer.decode(pos.execute(item.encode())).raise_for_error()
    paused = time.perf_counter()
    time.sleep(PAUSE_S)
    resumed = time.perf_counter()
    close = c.CloseReceiptV2(payments=(0, 51890) + (0,) * 14)
    c.Answer.decode(pos.execute(close.encode())).raise_for_error()
    return time.perf_counter() - started - (resumed - paused)


def bench_shtrih(receipts: int, workdir: Path) -> list[Figure]:
    with ExitStack() as stack:
        register = stack.enter_context(side("shtrih-emulator")).address
        direct_port = serial.serial_for_url(register, timeout=0.05)
        stack.callback(direct_port.close)
        direct = LinkClient(SerialChannel(direct_port))
        pos_end = PtyPair()  # the POS's end of the virtual COM pair; the tap opens the other by path
        stack.callback(pos_end.close)
        device = stack.enter_context(side("shtrih-emulator")).address
        outbox = str(workdir / "shtrih.sqlite3")
        tap = stack.enter_context(
            side("shtrih-tap", "--pos", pos_end.path, "--device", device, "--outbox", outbox)
        )
        pos = LinkClient(pos_end)
        for _ in range(5):  # warm up: the tap reads the register's identity at the first close
            _shtrih_receipt(direct)
            _shtrih_receipt(pos)
        direct_times, tapped_times = [], []
        before = ProcessCost.of(tap.pid)
        for _ in range(receipts):
            direct_times.append(_shtrih_receipt(direct))
            tapped_times.append(_shtrih_receipt(pos))
        time.sleep(0.2)
        cost = _cost("Shtrih-M tap", before, ProcessCost.of(tap.pid), receipts)
    return _figures("drivers", "Shtrih-M tap", direct_times, tapped_times) + cost


def run(quick: bool) -> list[Figure]:
    receipts = 40 if quick else 1000  # p99 = the 10th-slowest receipt, not the 3rd: steadier on a shared host
    with tempfile.TemporaryDirectory(prefix="echeck-bench-drivers-") as tmp:
        return bench_atol(receipts, Path(tmp)) + bench_shtrih(receipts, Path(tmp))


if __name__ == "__main__":
    for figure in run(quick="--quick" in sys.argv):
        print(figure)
