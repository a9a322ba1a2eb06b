"""`echeck-ui`: the cashier's popup and tray, a separate process that talks to the agent's local API."""

import argparse
import logging
import signal
import sys
from pathlib import Path

from ui import __version__
from ui.agent_client import DEFAULT_AGENT, default_secret_file

DEFAULT_KEY = "F12"  # the popup's hotkey (ui.hotkey) unless --hotkey says otherwise

LANGUAGES = ("ru", "en")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="echeck-ui",
        description="The cashier's echeck popup (confirm or type the buyer's phone) and tray icon. Run it in "
        "the cashier's desktop session; it finds the agent at --agent, or with --discover on the network.",
    )
    parser.add_argument("--agent", default=None, help=f"the agent's address (default {DEFAULT_AGENT})")
    parser.add_argument(
        "--discover",
        action="store_true",
        help="find the agent by zeroconf (_echeck-agent._tcp) when it runs on another machine",
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help=f"the agent's local secret (default {default_secret_file()}); copy it here from a remote agent",
    )
    parser.add_argument("--lang", choices=LANGUAGES, default="ru", help="language of the popup (default ru)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before the popup answers 'timed out' and closes"
    )
    parser.add_argument(
        "--hotkey",
        default=DEFAULT_KEY,
        help=f"the key that gives the popup the keyboard (X11 key names: F12, Pause, Scroll_Lock; default "
        f"{DEFAULT_KEY}); grabbed only while the popup is up. 'none': a touch or click only",
    )
    parser.add_argument("--no-tray", action="store_true", help="popup only (kiosk setups without a tray)")
    parser.add_argument("--version", action="version", version=f"echeck-ui {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from PySide6.QtWidgets import QApplication

    from ui.app import CashierApp, UiSettings
    from ui.i18n import install_translator
    from ui.popup import base_font

    agent = args.agent
    if agent is None and args.discover:
        from ui.discovery import discover_agent

        agent = discover_agent(timeout_s=5.0)
        if agent is None:
            print("echeck-ui: no agent found by zeroconf; pass --agent URL", file=sys.stderr)
            return 1
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the popup comes and goes; the tray keeps the process
    app.setFont(base_font())
    install_translator(app, args.lang)
    cashier = CashierApp(
        UiSettings(
            agent_url=agent or DEFAULT_AGENT,
            secret_file=args.secret_file or default_secret_file(),
            popup_timeout_s=args.timeout,
            tray=not args.no_tray,
            hotkey=None if args.hotkey.lower() == "none" else args.hotkey,
        )
    )
    if cashier.tray is not None:
        cashier.tray.quit_requested.connect(app.quit)
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    cashier.start()
    try:
        return app.exec()
    finally:
        cashier.stop()


if __name__ == "__main__":
    sys.exit(main())
