"""Every popup mode driven by keystrokes only, against a real agent over loopback HTTP (offscreen Qt)."""

from concurrent.futures import Future

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.local_schemas import SECRET_FILE
from tests.support.live_server import free_port
from tests.ui.conftest import Till, make_ui, wait_listening
from ui.app import CashierApp
from ui.i18n import install_translator
from ui.presenter import Mode
from ui.tray_state import Level

KEY_TIMEOUT_MS = 10_000


def popup_open(qtbot: QtBot, ui: CashierApp) -> None:
    qtbot.waitUntil(lambda: ui.popup.isVisible() and ui.popup.state is not None, timeout=KEY_TIMEOUT_MS)


def prompt_up(
    qtbot: QtBot, till: Till, ui: CashierApp, cid: str, phone: str | None = None, wait: float = 20
) -> Future[dict]:
    """The POS opens a checkout and asks; returns its pending answer once the popup is up."""
    till.open(cid, phone)
    answer = till.ask(cid, wait)
    popup_open(qtbot, ui)
    return answer


def outcome(qtbot: QtBot, answer: Future[dict]) -> dict:
    """What the POS got; the Qt event loop keeps running meanwhile (timers, queued signals)."""
    qtbot.waitUntil(answer.done, timeout=20_000)
    return answer.result()


def type_digits(qtbot: QtBot, ui: CashierApp, digits: str, keypad: bool = False) -> None:
    modifier = Qt.KeyboardModifier.KeypadModifier if keypad else Qt.KeyboardModifier.NoModifier
    for d in digits:
        qtbot.keyClick(ui.popup, d, modifier)


def test_known_card_enter_confirms(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c1", phone="+7 916 123 45 67")
    assert "45-67" in ui.popup.question.text()
    # shown without taking the keyboard (a scan goes to the till; tests/ui/test_popup_x11.py proves it on X)
    assert (ui.popup.accepts_focus, ui.popup.has_keyboard) == (False, False)
    assert ui.popup.take_hint.isVisible()
    qtbot.mouseClick(ui.popup, Qt.MouseButton.LeftButton)  # the cashier touches the popup
    qtbot.waitUntil(lambda: ui.popup.has_keyboard, timeout=KEY_TIMEOUT_MS)
    assert not ui.popup.take_hint.isVisible()
    qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
    assert outcome(qtbot, answer)["answer"] == "confirmed"
    assert not ui.popup.isVisible()


def test_change_number_then_numpad_digits(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c2", phone="+7 916 123 45 67")
    qtbot.keyClick(ui.popup, Qt.Key.Key_F2)
    assert ui.popup.phone.isVisible()
    assert ui.popup.phone.text() == "+7 (___) ___-__-__"
    type_digits(qtbot, ui, "903", keypad=True)
    type_digits(qtbot, ui, "7654321")
    assert ui.popup.phone.text() == "+7 (903) 765-43-21"
    qtbot.keyClick(ui.popup, Qt.Key.Key_Enter)  # the numpad's Enter
    result = outcome(qtbot, answer)
    assert (result["answer"], result["contact_masked"]) == ("contact", "+7 *** ***-43-21")


@pytest.mark.parametrize("keys", ["89161234567", "79161234567", "+79161234567", "9161234567"])
def test_the_habitual_8_916_is_typed_as_plus_7_916(
    qtbot: QtBot, till: Till, ui: CashierApp, keys: str
) -> None:
    answer = prompt_up(qtbot, till, ui, "c12")
    qtbot.keyClicks(ui.popup, keys)
    assert ui.popup.phone.text() == "+7 (916) 123-45-67"
    assert ui.popup.problem.text() == ""
    qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
    result = outcome(qtbot, answer)
    assert (result["answer"], result["contact_masked"]) == ("contact", "+7 *** ***-45-67")


def test_f2_goes_back_from_entry_to_the_card_holders_phone(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c13", phone="+7 916 123 45 67")
    qtbot.keyClick(ui.popup, Qt.Key.Key_F2)
    type_digits(qtbot, ui, "903")
    assert "Назад: 45-67" in ui.popup.hint.text()
    qtbot.keyClick(ui.popup, Qt.Key.Key_F2)
    assert (ui.popup.phone.isVisible(), "45-67" in ui.popup.question.text()) == (False, True)
    qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
    assert outcome(qtbot, answer)["answer"] == "confirmed"


def test_the_countdown_shows_the_seconds_left(qtbot: QtBot, till: Till, ui_factory) -> None:
    ui = ui_factory(popup_timeout_s=12)
    answer = prompt_up(qtbot, till, ui, "c14", wait=30)
    assert ui.popup.countdown.isVisible()
    first = ui.popup.countdown.text()
    assert first in ("0:12", "0:11")  # 12 s from now, shown rounded up
    qtbot.waitUntil(lambda: ui.popup.countdown.text() not in ("0:12", first), timeout=KEY_TIMEOUT_MS)
    qtbot.keyClick(ui.popup, Qt.Key.Key_Escape)
    assert outcome(qtbot, answer)["answer"] == "skipped"


def test_paste_any_spelling(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c3")
    QGuiApplication.clipboard().setText(" 8 (916) 555-12-34 ")
    qtbot.keyClick(ui.popup, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert ui.popup.phone.text() == "+7 (916) 555-12-34"
    qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
    assert outcome(qtbot, answer)["contact_masked"] == "+7 *** ***-12-34"


def test_email_alternative(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c4")
    qtbot.keyClick(ui.popup, Qt.Key.Key_F3)
    assert ui.popup.email.isVisible()
    qtbot.keyClicks(ui.popup.email, "Ivan@Mail.ru")
    qtbot.keyClick(ui.popup.email, Qt.Key.Key_Return)
    assert outcome(qtbot, answer)["contact_masked"] == "i***@mail.ru"


def test_escape_skips(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c5")
    qtbot.keyClick(ui.popup, Qt.Key.Key_Escape)
    assert outcome(qtbot, answer)["answer"] == "skipped"
    assert till.pos.get("/checkouts/c5").json()["state"] == "contact_skipped"


def test_bad_input_is_said_inline_and_cannot_be_confirmed(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c6")
    qtbot.keyClicks(ui.popup, "abc")
    assert ui.popup.problem.text() == "В номере телефона только цифры"
    type_digits(qtbot, ui, "916123")
    qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
    assert ui.popup.isVisible()
    assert ui.popup.problem.text() == "Нужно 10 цифр после +7"
    for _ in range(6):
        qtbot.keyClick(ui.popup, Qt.Key.Key_Backspace)
    type_digits(qtbot, ui, "7012345678")  # +7 701: Kazakhstan
    assert ui.popup.problem.text().startswith("Только российские номера")
    qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
    assert ui.popup.isVisible()
    qtbot.keyClick(ui.popup, Qt.Key.Key_F3)
    qtbot.keyClicks(ui.popup.email, "ivan@@mail")
    qtbot.keyClick(ui.popup.email, Qt.Key.Key_Return)
    assert (ui.popup.isVisible(), ui.popup.problem.text()) == (True, "E-mail написан с ошибкой")
    assert not answer.done()
    qtbot.keyClick(ui.popup.email, Qt.Key.Key_Escape)
    assert outcome(qtbot, answer)["answer"] == "skipped"


def test_popup_times_out(qtbot: QtBot, till: Till, ui_factory) -> None:
    ui = ui_factory(popup_timeout_s=0.3)
    answer = prompt_up(qtbot, till, ui, "c7", wait=30)
    assert outcome(qtbot, answer)["answer"] == "timed_out"
    assert not ui.popup.isVisible()


def test_checkout_closed_on_the_pos_closes_the_popup(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    answer = prompt_up(qtbot, till, ui, "c8")
    till.pos.post("/checkouts/c8/cancel").raise_for_status()
    qtbot.waitUntil(lambda: not ui.popup.isVisible(), timeout=KEY_TIMEOUT_MS)
    assert outcome(qtbot, answer)["answer"] == "withdrawn"


def test_ui_down_means_no_contact_at_once(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    ui.stop()
    wait_listening(till, False)
    till.open("c9")
    result = outcome(qtbot, till.ask("c9", wait=120))  # answered at once, not after 120 s
    assert (result["answer"], result["contact_masked"]) == ("no_ui", None)


def test_agent_down_is_said_quietly_in_the_tray(qtbot: QtBot, qapp: QApplication, tmp_path) -> None:
    ui = make_ui(f"http://127.0.0.1:{free_port()}", tmp_path / SECRET_FILE)
    try:
        qtbot.waitUntil(lambda: ui.agent_up is False, timeout=KEY_TIMEOUT_MS)
        qtbot.waitUntil(lambda: ui.tray is not None and ui.tray.view.level is Level.AGENT_DOWN, timeout=5000)
        assert "не отвечает" in ui.tray.toolTip()
        assert not ui.popup.isVisible()
        ui.show_status_window()  # said once: the state line, no repeated details line
        qtbot.waitUntil(lambda: ui.status_window.state.text() == "Агент echeck не отвечает", timeout=5000)
        assert not ui.status_window.details.isVisible()
    finally:
        ui.stop()


def test_status_window_lists_masked_receipts(qtbot: QtBot, till: Till, ui: CashierApp) -> None:
    from receipts.examples import REFERENCE_SALE

    till.open("c10")
    till.pos.post("/checkouts/c10/contact", json={"contact": "+7 916 123 45 67"}).raise_for_status()
    till.pos.post("/checkouts/c10/close", json=REFERENCE_SALE).raise_for_status()
    ui.show_status_window()
    qtbot.waitUntil(lambda: ui.status_window.table.rowCount() == 1, timeout=KEY_TIMEOUT_MS)
    assert ui.status_window.table.item(0, 2).text() == "+7 *** ***-45-67"
    assert ui.status_window.details.isVisible()  # queue and last sync
    assert ui.tray is not None
    assert ui.tray.view.level is Level.OFFLINE  # not enrolled: said in the tray, not in the cashier's face
    ui.status_window.sync_button.click() if ui.status_window.sync_button.isEnabled() else None


@pytest.mark.usefixtures("till")
def test_english_translation(qtbot: QtBot, qapp: QApplication, till: Till, ui: CashierApp) -> None:
    translator = install_translator(qapp, "en")
    try:
        till.open("c11", phone="+7 916 123 45 67")
        answer = till.ask("c11")
        popup_open(qtbot, ui)
        assert ui.popup.question.text() == "Does the phone end in 45-67?"
        qtbot.keyClick(ui.popup, "5")  # a digit starts a new number
        assert ui.popup.state is not None
        assert ui.popup.state.mode is Mode.PHONE
        qtbot.keyClick(ui.popup, Qt.Key.Key_Return)
        assert ui.popup.problem.text() == "Ten digits are needed after +7"
        qtbot.keyClick(ui.popup, Qt.Key.Key_Escape)
        assert outcome(qtbot, answer)["answer"] == "skipped"
    finally:
        qapp.removeTranslator(translator)


def test_a_scan_typed_into_the_popup_is_undone_and_answers_nothing(
    qtbot: QtBot, till: Till, ui: CashierApp
) -> None:
    answer = prompt_up(qtbot, till, ui, "c15")
    qtbot.mouseClick(ui.popup, Qt.MouseButton.LeftButton)
    type_digits(qtbot, ui, "916")  # the cashier (synthesised keys carry no time: never a scan)
    at_ms = 50_000
    for key in [*"4607001234567", "\r"]:  # a scanner: 8 ms a key, then Enter
        code = Qt.Key.Key_Return if key == "\r" else Qt.Key(ord(key))
        event = QKeyEvent(QEvent.Type.KeyPress, code, Qt.KeyboardModifier.NoModifier, key)
        event.setTimestamp(at_ms)
        QApplication.sendEvent(ui.popup, event)
        at_ms += 8
    assert ui.popup.phone.text() == "+7 (916) ___-__-__"  # as the cashier left it
    assert not ui.popup.has_keyboard  # handed back: the cashier takes it again to go on
    assert ui.popup.isVisible()
    assert not answer.done()
    qtbot.keyClick(ui.popup, Qt.Key.Key_Escape)
    assert outcome(qtbot, answer)["answer"] == "skipped"
