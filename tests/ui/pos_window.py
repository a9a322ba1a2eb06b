"""A stand-in POS window for tests on a real X server: says on stdout what it gets, one line each.

`active` / `inactive` when it gains or loses the keyboard, `key <text>` for every key (`key Return`).
Run as `python -m tests.ui.pos_window` with DISPLAY set.
"""

import sys

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget


class PosWindow(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("POS")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.resize(1000, 700)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        say("key " + ("Return" if enter else event.text() or f"<{event.key()}>"))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ActivationChange:
            say("active" if self.isActiveWindow() else "inactive")
        super().changeEvent(event)


def say(line: str) -> None:
    print(line, flush=True)


def main() -> int:
    app = QApplication(sys.argv[:1])
    window = PosWindow()
    window.show()
    window.activateWindow()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
