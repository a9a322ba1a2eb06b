"""`echeck-fakes`: serve the fake providers as one process (for the demo and manual runs).

Prints one JSON line with the bound ports; port 0 picks a free one. SIGTERM or Ctrl-C stops everything.
"""

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

import uvicorn

from fakes import fcm, smsru, smtp, viber
from fakes.behaviour import Behaviour


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="echeck-fakes", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    for name, what in (
        ("smtp", "SMTP server"),
        ("smtp-control", "the mail service's control API"),
        ("fcm", "FCM HTTP v1"),
        ("viber", "Viber gateway"),
        ("smsru", "SMS.ru"),
    ):
        p.add_argument(f"--{name}-port", type=int, default=0, help=f"port of {what} (0: any free one)")
    p.add_argument("--ports-file", type=Path, help="also write the ports JSON here")
    p.add_argument("--delay", type=float, default=0.05, help="seconds before a report (default 0.05)")
    return p.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    def behaviour() -> Behaviour:
        return Behaviour(delay_s=args.delay)

    mail = behaviour()
    controller = smtp.start_smtp(mail, args.host, args.smtp_port)
    apps = {
        "smtp_control": (smtp.create_control_app(mail), args.smtp_control_port),
        "fcm": (fcm.create_app(behaviour()), args.fcm_port),
        "viber": (viber.create_app(behaviour()), args.viber_port),
        "smsru": (smsru.create_app(behaviour()), args.smsru_port),
    }
    # One uvicorn server per fake, each in its own thread (uvicorn leaves signals to the main thread there).
    servers: dict[str, uvicorn.Server] = {}
    threads = []
    for name, (app, port) in apps.items():
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=port, log_level="warning"))
        servers[name] = server
        threads.append(threading.Thread(target=server.run, name=f"fake-{name}", daemon=True))
        threads[-1].start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    deadline = time.monotonic() + 20
    while not all(s.started for s in servers.values()):
        if time.monotonic() > deadline or not all(t.is_alive() for t in threads):
            controller.stop()
            raise OSError("a fake provider did not start (port taken?)")
        time.sleep(0.02)
    ports = {name: s.servers[0].sockets[0].getsockname()[1] for name, s in servers.items()}
    ports["smtp"] = controller.port
    line = json.dumps(ports)
    if args.ports_file:
        args.ports_file.write_text(line, encoding="utf-8")
    print(line, flush=True)
    stop.wait()
    for server in servers.values():
        server.should_exit = True
    for thread in threads:
        thread.join(timeout=10)
    controller.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        serve(args)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"echeck-fakes: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
