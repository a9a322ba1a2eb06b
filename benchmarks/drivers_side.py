"""The processes `bench_drivers` measures against: a register emulator, or a hook as the agent runs it.

Each role runs in its own interpreter, as in a store (the POS, the agent and the ATOL web server or the
register are separate programs), so the benchmark measures the hook and not the GIL shared by everything
in one process. A role prints one line `READY <address>` when it serves, then runs until its standard
input closes (the benchmark exits or dies: no orphans).

    python -m benchmarks.drivers_side atol-emulator
    python -m benchmarks.drivers_side atol-proxy --upstream http://127.0.0.1:P --outbox /tmp/o.sqlite3
    python -m benchmarks.drivers_side shtrih-emulator
    python -m benchmarks.drivers_side shtrih-tap --pos /dev/pts/N --device socket://127.0.0.1:P --outbox …
"""

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from benchmarks.support.drivers import cashier
from sync.outbox import Outbox

PHONE = "79161234567"


def _ready(address: str) -> None:
    print(f"READY {address}", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drivers_side", description=__doc__)
    parser.add_argument("role", choices=["atol-emulator", "atol-proxy", "shtrih-emulator", "shtrih-tap"])
    parser.add_argument("--upstream", help="atol-proxy: the ATOL web server (emulator) URL")
    parser.add_argument("--pos", help="shtrih-tap: the POS side port (a pty slave path)")
    parser.add_argument("--device", help="shtrih-tap: the register (socket://host:port)")
    parser.add_argument("--outbox", type=Path, help="hooks: the outbox file")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        if args.role == "atol-emulator":
            from benchmarks.support.serving import live_server
            from drivers.atol import emulator

            _ready(stack.enter_context(live_server(emulator.create_app(emulator.AtolEmulator()))))
        elif args.role == "shtrih-emulator":
            from drivers.shtrih.emulator import DeviceLink, EmulatedRegister, TcpDevice

            device = TcpDevice(DeviceLink(EmulatedRegister())).start()
            stack.callback(device.stop)
            _ready(device.url)
        else:
            outbox = stack.enter_context(Outbox(args.outbox))
            service = CheckoutService(outbox)
            # the cashier answers every prompt at once: the benchmark leaves the answer's time out
            stack.enter_context(cashier(service.prompts, PHONE))
            if args.role == "atol-proxy":
                from benchmarks.support.serving import free_port
                from drivers.atol.proxy import AtolProxyServer, ProxySettings

                server = AtolProxyServer(
                    CheckoutHook(service), ProxySettings(upstream=args.upstream), port=free_port()
                ).start()
                stack.callback(server.stop)
                _ready(server.url)
            else:
                from drivers.shtrih.tap import SerialTap, TapSettings

                tap = SerialTap(args.pos, args.device, CheckoutHook(service), TapSettings(close_wait_s=1.0))
                stack.callback(tap.stop)
                _ready(tap.start().pos.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
