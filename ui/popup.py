"""The cashier's popup: draws a `PopupState`, turns keystrokes into presenter calls. Thin on purpose.

It shows on top of the till WITHOUT taking the keyboard: a barcode scanner is a keyboard, and a scan typed
into the popup would never reach the POS (and would become the buyer's "phone"). The cashier gives it the
keyboard with the hotkey (`ui.hotkey`, F12 by default) or a click; when it closes, the window manager gives
the keyboard back to the POS. A scan that arrives while the popup has the keyboard is recognised by its
speed (`ui.scanner`), undone, and typed into the POS (`ui.handback`).
"""

import logging
import time
import warnings

import qrcode
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from agent.local_schemas import PromptView
from ui import presenter
from ui.handback import HandBack
from ui.hotkey import Hotkey
from ui.presenter import Answer, Mode, PopupState, Problem
from ui.scanner import BurstDetector

log = logging.getLogger(__name__)

STYLE = """
#card { background: #ffffff; border: 1px solid #c9ced6; border-radius: 14px; }
#brand { color: #6b7280; font-size: 15px; }
#countdown { color: #6b7280; font-size: 15px; font-family: "DejaVu Sans Mono", "Consolas", monospace; }
#countdown[urgent="true"] { color: #c0392b; font-weight: 600; }
#takeKeyboard { color: #1d4ed8; font-size: 17px; font-weight: 600; background: #eff6ff;
                border: 1px dashed #93c5fd; border-radius: 8px; padding: 6px 10px; }
#question { color: #111827; font-size: 30px; font-weight: 600; }
#phone { color: #111827; font-size: 40px; font-family: "DejaVu Sans Mono", "Consolas", monospace;
         background: #f3f4f6; border: 2px solid #d1d5db; border-radius: 10px; padding: 8px 16px; }
#phone[valid="true"] { border-color: #2e9d57; }
#phone[invalid="true"] { border-color: #d64545; }
#email { color: #111827; font-size: 30px; background: #f3f4f6; border: 2px solid #d1d5db;
         border-radius: 10px; padding: 8px 14px; }
#problem { color: #c0392b; font-size: 18px; min-height: 26px; }
#hint { color: #6b7280; font-size: 16px; }
#qrCaption { color: #6b7280; font-size: 13px; }
"""
KEY_STYLE = (
    "<span style='background-color:#e5e7eb;font-family:DejaVu Sans Mono,monospace;font-weight:600;"
    "color:#111827'>&nbsp;{key}&nbsp;</span>&nbsp;{label}"
)


def tr(text: str) -> str:
    return QCoreApplication.translate("", text)  # lupdate files bare tr() calls under ""


def problem_text(problem: Problem | None) -> str:
    match problem:
        case None:
            return ""
        case Problem.TOO_FEW_DIGITS:
            return tr("Нужно 10 цифр после +7")
        case Problem.LETTERS:
            return tr("В номере телефона только цифры")
        case Problem.NOT_RUSSIAN:
            return tr("Только российские номера (+7 9xx …)")
        case Problem.INVALID_PHONE:
            return tr("Такого номера не бывает — проверьте цифры")
        case Problem.EMPTY_EMAIL:
            return tr("Введите e-mail")
        case Problem.INVALID_EMAIL:
            return tr("E-mail написан с ошибкой")


URGENT_S = 5  # the countdown turns red this many seconds before the popup gives up
# A tool window that stays on top and never takes the keyboard by itself (X11: WM_HINTS input=False and a
# utility window; Windows: WS_EX_NOACTIVATE), frameless like a notification.
FLAGS = (
    Qt.WindowType.Tool
    | Qt.WindowType.WindowStaysOnTopHint
    | Qt.WindowType.FramelessWindowHint
    | Qt.WindowType.WindowDoesNotAcceptFocus
)


class Popup(QWidget):
    """One prompt at a time. `answered` carries a `presenter.Answer`; the popup hides itself after it."""

    answered = Signal(object)
    shown = Signal()

    def __init__(
        self, timeout_s: float = 30.0, hotkey: Hotkey | None = None, handback: HandBack | None = None
    ) -> None:
        super().__init__(None, FLAGS)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setWindowTitle("echeck")
        self.setStyleSheet(STYLE)
        self.timeout_s = timeout_s
        self.hotkey = hotkey
        self.handback = handback
        self.state: PopupState | None = None
        self._burst = BurstDetector()
        self._before_burst: PopupState | None = None
        self._deadline = 0.0  # time.monotonic() when the popup gives up
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._on_timeout)
        self._tick = QTimer(self, interval=250)
        self._tick.timeout.connect(self._render_countdown)
        if hotkey is not None:
            hotkey.pressed.connect(self.take_keyboard)
        self._build()

    # -- building -----------------------------------------------------------------------------------
    def _build(self) -> None:
        card = QFrame(self)
        card.setObjectName("card")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(card)
        row = QHBoxLayout(card)
        row.setContentsMargins(28, 22, 28, 20)
        row.setSpacing(24)
        main = QVBoxLayout()
        main.setSpacing(12)
        self.brand = label("brand")
        self.countdown = label("countdown")
        self.countdown.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top = QHBoxLayout()
        top.addWidget(self.brand, 1)
        top.addWidget(self.countdown)
        self.question = label("question", word_wrap=True)
        self.phone = label("phone")
        self.email = QLineEdit()
        self.email.setObjectName("email")
        self.email.setPlaceholderText("name@example.ru")
        self.email.textEdited.connect(self._on_email_edited)
        self.email.returnPressed.connect(self._enter)
        self.email.installEventFilter(self)
        self.problem = label("problem")
        self.hint = label("hint", word_wrap=True, rich=True)
        self.take_hint = label("takeKeyboard", word_wrap=True)
        main.addLayout(top)
        for widget in (self.question, self.phone, self.email, self.problem):
            main.addWidget(widget)
        main.addStretch(1)
        main.addWidget(self.take_hint)
        main.addWidget(self.hint)
        row.addLayout(main, 1)
        qr_box = QVBoxLayout()
        qr_box.setSpacing(6)
        self.qr = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.qr_caption = label("qrCaption", word_wrap=True)
        self.qr_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        qr_box.addStretch(1)
        qr_box.addWidget(self.qr)
        qr_box.addWidget(self.qr_caption)
        qr_box.addStretch(1)
        self.qr_panel = QWidget()
        self.qr_panel.setLayout(qr_box)
        self.qr_panel.setFixedWidth(180)
        row.addWidget(self.qr_panel)
        self.setMinimumWidth(880)

    # -- the prompt's life --------------------------------------------------------------------------
    def show_prompt(self, prompt: PromptView) -> None:
        self.state = presenter.start(prompt)
        self._burst.other()
        self.email.clear()
        self._render_qr(prompt.landing_url)
        self._render()
        timeout = min(self.timeout_s, prompt.expires_in_s) if prompt.expires_in_s > 0 else self.timeout_s
        self._deadline = time.monotonic() + timeout
        self._timer.start(int(timeout * 1000))
        self._tick.start()
        self._render_countdown()
        self.adjustSize()
        screen = QGuiApplication.primaryScreen().availableGeometry()
        self.move(screen.center() - self.rect().center())
        self._accept_focus(False)  # the POS keeps the keyboard: a scan now still reaches it
        self.show()
        self.raise_()
        if self.hotkey is not None:
            self.hotkey.grab()
        self.shown.emit()

    def take_keyboard(self) -> None:
        """The hotkey or a click: the cashier answers now, so keys go to the popup until it closes."""
        if self.state is None or not self.isVisible() or self.has_keyboard:
            return
        if self.handback is not None:
            self.handback.remember_active()  # where a scan typed into the popup is handed back to
        self._accept_focus(True)
        self.raise_()
        self.activateWindow()
        if self.handback is not None:
            self.handback.activate(int(self.winId()))
        if not self.isActiveWindow() and QGuiApplication.platformName() == "offscreen":
            # Offscreen (tests, screenshots) no window system answers the activation request: tell Qt
            # directly. The API is deprecated but is the only direct one.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                QApplication.setActiveWindow(self)
        self._render()

    @property
    def has_keyboard(self) -> bool:
        """Keys go to the popup: the cashier took the keyboard (offscreen, Qt activates any window)."""
        return self.isVisible() and self.accepts_focus and self.isActiveWindow()

    @property
    def accepts_focus(self) -> bool:
        handle = self.windowHandle()
        return handle is not None and not handle.flags() & Qt.WindowType.WindowDoesNotAcceptFocus

    def _accept_focus(self, accept: bool) -> None:
        # On the native window, not the widget: QWidget.setWindowFlag on a shown window re-creates it.
        self.winId()  # the native window exists from here on
        handle = self.windowHandle()
        if handle is not None:
            handle.setFlag(Qt.WindowType.WindowDoesNotAcceptFocus, not accept)

    def withdraw(self) -> None:
        """The checkout moved on (closed, cancelled, answered elsewhere): close without answering."""
        self._finish(None)

    @property
    def prompt_id(self) -> str | None:
        return self.state.prompt_id if self.state and self.isVisible() else None

    # -- keys and clicks -----------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if self.state is None or not self._handle_key(event):
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        self.take_keyboard()
        super().mousePressEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ActivationChange:
            self._render()  # "press F12" while the POS has the keyboard, the keys once the popup has it
        super().changeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # The e-mail field keeps its typing; the popup's own keys (Esc, F2, F3, paste) still work there.
        if watched is self.email and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress:
            own = (Qt.Key.Key_Escape, Qt.Key.Key_F2, Qt.Key.Key_F3, Qt.Key.Key_Return, Qt.Key.Key_Enter)
            if event.key() in own or event.matches(QKeySequence.StandardKey.Paste):
                return self._handle_key(event)
            if event.text().isdigit() and self._burst.digit(event.text(), event.timestamp()):
                self._before_burst = self.state  # the field types the digit itself
            elif not event.text().isdigit():
                self._burst.other()
        return super().eventFilter(watched, event)

    def _handle_key(self, event: QKeyEvent) -> bool:
        state = self.state
        assert state is not None
        key, text = event.key(), event.text()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            scan = self._burst.enter(event.timestamp())
            if scan is None:
                self._enter()
            else:
                self._hand_back(scan)
            return True
        if text.isdigit():
            if self._burst.digit(text, event.timestamp()):
                self._before_burst = state
            self.set_state(presenter.type_digit(state, text))  # main keyboard and numpad alike
            return True
        self._burst.other()
        if key == Qt.Key.Key_Escape:
            self._finish(presenter.escape(state))
        elif event.matches(QKeySequence.StandardKey.Paste):
            self.set_state(presenter.paste(state, QGuiApplication.clipboard().text()))
        elif key == Qt.Key.Key_F2:
            self.set_state(presenter.change_number(state))
        elif key == Qt.Key.Key_F3:
            self.set_state(presenter.toggle_email(state))
        elif key == Qt.Key.Key_Backspace:
            self.set_state(presenter.backspace(state))
        elif text == "@":
            self.set_state(presenter.paste(presenter.toggle_email(state), "@"))
        elif text.isalpha():
            self.set_state(presenter.type_letter(state))
        else:
            return False
        return True

    def _hand_back(self, scan: str) -> None:
        """A scan reached the popup: undo it, give the keyboard back and type the scan into the POS."""
        if self._before_burst is not None:
            self.set_state(self._before_burst)  # the field as the cashier left it
        self._accept_focus(False)
        typed = self.handback is not None and self.handback.type_into_previous(scan + "\n")
        log.warning(
            "a barcode scan reached the popup: %s",
            "handed to the POS" if typed else "undone (no way to type it into the POS here)",
        )
        self._render()

    def _on_email_edited(self, text: str) -> None:
        if self.state is not None:
            self.set_state(presenter.type_text(self.state, text))

    def _enter(self) -> None:
        if self.state is None:
            return
        state, answer = presenter.enter(self.state)
        if answer is None:
            self.set_state(state)
        else:
            self._finish(answer)

    def _on_timeout(self) -> None:
        if self.state is not None and self.isVisible():
            self._finish(presenter.timed_out(self.state))

    def _finish(self, answer: Answer | None) -> None:
        self._timer.stop()
        self._tick.stop()
        if self.hotkey is not None:
            self.hotkey.release()
        self.hide()
        if answer is not None and self.state is not None:
            self.answered.emit((self.state.prompt_id, answer))
        self.state = None

    def set_state(self, state: PopupState) -> None:
        self.state = state
        self._render()

    # -- drawing ------------------------------------------------------------------------------------
    def _render(self) -> None:
        state = self.state
        if state is None:
            return
        brand = tr("Электронный чек")
        self.brand.setText(f"{brand} · {state.buyer_name}" if state.buyer_name else brand)
        keys: list[tuple[str, str]]
        back = [("F2", tr("Назад: %1").replace("%1", state.phone_tail or ""))] if state.can_go_back else []
        if state.mode is Mode.CONFIRM:
            self.question.setText(tr("Телефон оканчивается на %1?").replace("%1", state.phone_tail or ""))
            keys = [("Enter", tr("Да, отправить")), ("F2", tr("Другой номер")), ("Esc", tr("Без чека"))]
        elif state.mode is Mode.PHONE:
            self.question.setText(tr("Номер телефона покупателя"))
            keys = [("Enter", tr("Отправить")), *back, ("F3", tr("E-mail")), ("Esc", tr("Без чека"))]
        else:
            self.question.setText(tr("E-mail покупателя"))
            keys = [("Enter", tr("Отправить")), *back, ("F3", tr("Телефон")), ("Esc", tr("Без чека"))]
        self.phone.setVisible(state.mode is Mode.PHONE)
        self.email.setVisible(state.mode is Mode.EMAIL)
        self.phone.setText(state.phone_display)
        complete = len(state.digits) == presenter.NATIONAL_DIGITS
        self.phone.setProperty("valid", complete and state.can_confirm)
        self.phone.setProperty("invalid", state.problem is not None)
        repolish(self.phone)
        if state.mode is Mode.EMAIL:
            if self.email.text() != state.email:
                self.email.setText(state.email)
            self.email.setFocus()
        else:
            self.setFocus()
        self.problem.setText(problem_text(state.problem))
        hints = (KEY_STYLE.format(key=k, label=label) for k, label in keys)
        self.hint.setText("&nbsp;&nbsp;&nbsp;&nbsp;".join(hints))
        self.hint.setEnabled(self.has_keyboard)
        self.take_hint.setVisible(not self.has_keyboard)
        self.take_hint.setText(self._take_keyboard_text())

    def _take_keyboard_text(self) -> str:
        if self.hotkey is not None and self.hotkey.available:
            return tr("Нажмите %1 или коснитесь окна, чтобы ответить (сканер работает в кассе)").replace(
                "%1", self.hotkey.key_name
            )
        return tr("Коснитесь окна, чтобы ответить (сканер работает в кассе)")

    def _render_countdown(self) -> None:
        left = max(0, int(self._deadline - time.monotonic() + 0.999))  # 12.3 s left shows as 13
        self.countdown.setText(f"0:{left:02d}" if left < 60 else f"{left // 60}:{left % 60:02d}")
        self.countdown.setProperty("urgent", left <= URGENT_S)
        repolish(self.countdown)

    def _render_qr(self, url: str | None) -> None:
        self.qr_panel.setVisible(url is not None)
        if url is None:
            return
        self.qr.setPixmap(qr_pixmap(url, 150))
        self.qr_caption.setText(tr("Чек в телефоне: наведите камеру"))


def label(name: str, word_wrap: bool = False, rich: bool = False) -> QLabel:
    """A label the style sheet finds by `#name`."""
    widget = QLabel()
    widget.setObjectName(name)
    widget.setWordWrap(word_wrap)
    if rich:
        widget.setTextFormat(Qt.TextFormat.RichText)
    return widget


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property used in it changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def qr_pixmap(data: str, size: int) -> QPixmap:
    """The QR code drawn with QPainter from qrcode's matrix (no Pillow)."""
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    cell = size / len(matrix)
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor("white"))
    painter = QPainter(pixmap)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("black"))
    for y, line in enumerate(matrix):
        for x, dark in enumerate(line):
            if dark:
                painter.drawRect(QRectF(x * cell, y * cell, cell + 0.5, cell + 0.5))
    painter.end()
    return pixmap


def base_font() -> QFont:
    font = QFont("DejaVu Sans")
    font.setPointSize(13)
    return font
