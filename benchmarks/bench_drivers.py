"""Added latency of the register hooks per receipt, the cashier's answer excluded (target ≤ 5 ms).

ATOL proxy: a POS posts a sale task (with the buyer's phone, so nobody is asked) and polls its result,
once straight to the ATOL emulator and once through the proxy; the figure is the difference of the
quantiles. Shtrih-M tap: a POS script sells (open, two items, close) over a pty through the tap to the
emulator on TCP, against the same script straight to the emulator; the tap's window (TLV 1008 with an
answer already given, shift query) is included.
"""

import os
import select
import statistics
import tempfile
import time
import tty
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import serial

from agent.hooks import CheckoutHook
from agent.prompts import AnswerKind, PromptAnswer
from agent.service import CheckoutService
from benchmarks import Figure
from drivers.atol import emulator as atol_emulator
from drivers.atol.proxy import AtolProxy, ProxySettings, create_app
from drivers.shtrih import commands as c
from drivers.shtrih.emulator import DeviceLink, EmulatedRegister, TcpDevice
from drivers.shtrih.link import LinkClient, SerialChannel
from drivers.shtrih.tap import SerialTap, TapSettings
from receipts import VatRate
from sync.outbox import Outbox
from tests.support.live_server import live_server

TARGET_MS = 5.0
TASK = {
    "type": "sell",
    "clientInfo": {"emailOrPhone": "+79161234567"},
    "items": [{"type": "position", "name": "Молоко", "price": 89.9, "quantity": 1, "amount": 89.9,
               "tax": {"type": "vat10"}}],
    "payments": [{"type": "electronically", "sum": 89.9}],
    "total": 89.9,
}  # fmt: skip


def quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _figures(area: str, hook: str, direct: list[float], hooked: list[float]) -> list[Figure]:
    (d50, d99), (h50, h99) = quantiles(direct), quantiles(hooked)
    added50, added99 = max(0.0, (h50 - d50) * 1000), max(0.0, (h99 - d99) * 1000)
    return [
        Figure(area, f"{hook}: added latency per receipt p50", added50, "ms", f"≤ {TARGET_MS:g} ms",
               added50 <= TARGET_MS),
        Figure(area, f"{hook}: added latency per receipt p99", added99, "ms", f"≤ {TARGET_MS:g} ms",
               added99 <= TARGET_MS),
    ]  # fmt: skip


def _atol_receipt(client: httpx.Client) -> float:
    started = time.perf_counter()
    request_id = str(uuid.uuid4())
    assert client.post("/api/v2/requests", json={"uuid": request_id, "request": [TASK]}).status_code == 201
    while client.get(f"/api/v2/requests/{request_id}").json()["results"][0]["status"] != "ready":
        pass
    return time.perf_counter() - started


def bench_atol(receipts: int, workdir: Path) -> list[Figure]:
    outbox = Outbox(workdir / "atol-outbox.sqlite3")
    emulator = atol_emulator.AtolEmulator()
    with live_server(atol_emulator.create_app(emulator)) as upstream:
        proxy = AtolProxy(CheckoutHook(CheckoutService(outbox)), ProxySettings(upstream=upstream))
        with (
            live_server(create_app(proxy)) as proxied,
            httpx.Client(base_url=upstream) as direct_client,
            httpx.Client(base_url=proxied) as proxy_client,
        ):
            for client in (direct_client, proxy_client):  # warm up connections and imports
                _atol_receipt(client)
            direct, hooked = [], []
            for _ in range(receipts):  # interleaved, so both see the same machine
                direct.append(_atol_receipt(direct_client))
                hooked.append(_atol_receipt(proxy_client))
        proxy.close()
    outbox.close()
    return _figures("drivers", "ATOL proxy", direct, hooked)


class _Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> object:
        return os.write(self.master, data)

    def read_some(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        return os.read(self.master, 4096) if ready else b""

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def _shtrih_receipt(pos: LinkClient, before_close: Callable[[], None] = lambda: None) -> float:
    started = time.perf_counter()
    c.Answer.decode(pos.execute(c.OpenReceipt().encode())).raise_for_error()
    for price in (8990, 42900):
        item = c.OperationV2(price=price, vat=VatRate.VAT20, name="Товар", quantity=Decimal(1))
        c.Answer.decode(pos.execute(item.encode())).raise_for_error()
    paused = time.perf_counter()
    before_close()  # the cashier answers while the goods are scanned: not the tap's latency
    resumed = time.perf_counter()
    close = c.CloseReceiptV2(payments=(0, 51890) + (0,) * 14)
    c.Answer.decode(pos.execute(close.encode())).raise_for_error()
    return time.perf_counter() - started - (resumed - paused)


def bench_shtrih(receipts: int, workdir: Path) -> list[Figure]:
    register = EmulatedRegister()
    device = TcpDevice(DeviceLink(register)).start()
    direct_port = serial.serial_for_url(device.url, timeout=0.05)
    direct = LinkClient(SerialChannel(direct_port))
    direct_times = [_shtrih_receipt(direct) for _ in range(receipts)]
    direct_port.close()  # the emulator serves one client at a time, as a register's Ethernet port

    outbox = Outbox(workdir / "shtrih-outbox.sqlite3")
    service = CheckoutService(outbox)
    pos_end = _Pty()
    tap = SerialTap(pos_end.path, device.url, CheckoutHook(service), TapSettings(close_wait_s=1.0)).start()
    pos = LinkClient(pos_end)

    def cashier_answers() -> None:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            _, prompts = service.prompts.snapshot()
            phone = PromptAnswer(AnswerKind.CONTACT, "79161234567")
            if prompts and service.prompts.answer(prompts[0].prompt_id, phone):
                return
            time.sleep(0.001)

    def answered_before_close() -> None:
        cashier_answers()
        time.sleep(0.005)  # the hook applies the answer

    tapped_times = [_shtrih_receipt(pos, answered_before_close) for _ in range(receipts)]
    tap.stop()
    pos_end.close()
    device.stop()
    outbox.close()
    return _figures("drivers", "Shtrih-M tap", direct_times, tapped_times)


def run(quick: bool) -> list[Figure]:
    receipts = 40 if quick else 300
    with tempfile.TemporaryDirectory(prefix="echeck-bench-drivers-") as tmp:
        return bench_atol(receipts, Path(tmp)) + bench_shtrih(receipts, Path(tmp))


if __name__ == "__main__":
    for figure in run(quick=True):
        print(figure)
