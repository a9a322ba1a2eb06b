"""`python -m ui.screenshots DIR`: PNG screenshots of every popup mode and the tray, from the real widgets.

Offscreen (QT_QPA_PLATFORM=offscreen works); the states are reached by the same presenter calls that the
keys make, so the pictures are what the cashier sees.
"""

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.local_schemas import AgentStatus, PromptMode, PromptView, RecentReceipt
from ui import presenter
from ui.cli import DEFAULT_KEY

LANDING = "https://echeck.example.ru/r/12/T1-000125"
Step = Callable[[presenter.PopupState], presenter.PopupState]  # keys the cashier pressed, as presenter calls


def prompt(
    mode: PromptMode, tail: str | None = None, name: str | None = None, url: str | None = None
) -> PromptView:
    return PromptView(
        prompt_id="demo",
        checkout_id="T1-000125",
        mode=mode,
        masked_phone="+7 *** ***-45-67" if tail else None,
        phone_tail=tail,
        buyer_name=name,
        expires_in_s=30,
        landing_url=url,
    )


def sample_status(pending: int, online: bool) -> AgentStatus:
    now = datetime.now(UTC)
    return AgentStatus.model_validate(
        {
            "version": "0.1.0",
            "running": True,
            "enrolled": True,
            "cloud_url": "https://echeck.example.ru",
            "store_id": 3,
            "register_id": 12,
            "outbox": {
                "pending": pending,
                "acked": 1204,
                "rejected": 0,
                "total": 1204 + pending,
                "oldest_pending_age_s": 400.0 if pending else None,
                "last_acked_at": now,
            },
            "sync": {
                "online": online,
                "last_sync_at": now - timedelta(seconds=4),
                "last_error": None if online else "cloud unreachable: connection timed out",
                "consecutive_failures": 0 if online else 4,
            },
            "latency": {"count": 0, "p50_s": None, "p95_s": None, "max_s": None},
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory for the PNG files")
    parser.add_argument("--lang", default="ru", choices=("ru", "en"))
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from ui.hotkey import Hotkey
    from ui.i18n import install_translator
    from ui.popup import Popup, base_font
    from ui.tray import StatusWindow, dot_icon
    from ui.tray_state import tray_view

    class TillHotkey(Hotkey):
        """F12 as on an X11 till: offscreen there is no key to grab, but the pictures show the hint."""

        @property
        def available(self) -> bool:
            return True

    app = QApplication(sys.argv[:1])
    app.setFont(base_font())
    install_translator(app, args.lang)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.lang == "ru" else f"-{args.lang}"
    popup = Popup(hotkey=TillHotkey(DEFAULT_KEY))
    known = prompt(PromptMode.CONFIRM, "45-67", "Мария", LANDING)
    anonymous = prompt(PromptMode.ENTER, url=LANDING)

    def typed(state: presenter.PopupState, digits: str) -> presenter.PopupState:
        for d in digits:
            state = presenter.type_digit(state, d)
        return state

    shots: dict[str, tuple[PromptView, Step]] = {
        "1-known-card-confirm": (known, lambda s: s),
        "2-change-number": (known, lambda s: typed(presenter.change_number(s), "916")),
        "3-phone-entry": (anonymous, lambda s: typed(s, "89161234567")),  # 8 916 …, as cashiers type it
        "4-phone-too-few-digits": (anonymous, lambda s: presenter.enter(typed(s, "916123"))[0]),
        "5-phone-letters": (anonymous, lambda s: presenter.type_letter(typed(s, "916"))),
        "6-not-russian": (anonymous, lambda s: presenter.paste(s, "+1 650 555 1212")),
        "7-email": (
            anonymous,
            lambda s: presenter.type_text(presenter.toggle_email(s), "ivan.petrov@mail.ru"),
        ),
        "8-email-invalid": (anonymous, lambda s: presenter.enter(presenter.type_text(s, "ivan@mail"))[0]),
        "9-no-cloud-no-qr": (prompt(PromptMode.ENTER), lambda s: s),
    }
    popup.show_prompt(known)  # as it appears: on top, the till keeps the keyboard until F12 or a touch
    app.processEvents()
    popup.grab().save(str(args.out / f"popup-0-shown-till-keeps-keyboard{suffix}.png"))
    popup.withdraw()
    for name, (view, step) in shots.items():
        popup.show_prompt(view)
        popup.take_keyboard()  # the cashier pressed F12
        assert popup.state is not None
        popup.set_state(step(popup.state))  # the same state the keys would reach
        app.processEvents()
        popup.grab().save(str(args.out / f"popup-{name}{suffix}.png"))
        popup.withdraw()
    down = StatusWindow()  # the agent does not answer: said once
    down.show_view(tray_view(None))
    down.show()
    app.processEvents()
    down.grab().save(str(args.out / f"status-window-agent-down{suffix}.png"))
    down.hide()
    window = StatusWindow()
    window.show_view(tray_view(sample_status(3, True), previous_pending=3))
    now = datetime.now(UTC)
    window.show_receipts(
        [
            RecentReceipt(
                receipt_key=f"9251440300227597:{55497 - i}:61763593{i}",
                closed_at=now - timedelta(minutes=3 * i),
                total=total,
                contact_masked=contact,
                state=state,
            )
            for i, (total, contact, state) in enumerate(
                [
                    (5200, "+7 *** ***-45-67", "pending"),
                    (129900, "i***@mail.ru", "acked"),
                    (42900, None, "acked"),
                    (549000, "+7 *** ***-12-34", "acked"),
                ]
            )
        ]
    )
    window.show()
    app.processEvents()
    window.grab().save(str(args.out / f"status-window{suffix}.png"))
    for label, status, previous in (
        ("synced", sample_status(0, True), 0),
        ("growing", sample_status(40, True), 10),
        ("offline", sample_status(40, False), 40),
        ("agent-down", None, None),
    ):
        dot_icon(tray_view(status, previous).colour, 64).pixmap(64, 64).save(
            str(args.out / f"tray-{label}.png")
        )
    print(f"screenshots written to {args.out}")
    popup.deleteLater()
    window.deleteLater()
    down.deleteLater()
    app.processEvents()
    app.shutdown()  # tear Qt down before the interpreter does; PySide6 may crash in a late GC otherwise
    return 0


if __name__ == "__main__":
    sys.exit(main())
