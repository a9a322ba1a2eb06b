"""The tray icon (colour = sync state) and the small status window with the last receipts."""

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.local_schemas import RecentReceipt
from receipts import format_rubles
from ui.tray_state import Level, TrayView


def tr(text: str) -> str:
    return QCoreApplication.translate("", text)  # lupdate files bare tr() calls under ""


def level_text(view: TrayView) -> str:
    match view.level:
        case Level.SYNCED:
            return tr("Чеки отправлены")
        case Level.GROWING:
            return tr("Очередь растёт")
        case Level.OFFLINE:
            return tr("Регистратор не зарегистрирован") if not view.enrolled else tr("Нет связи с облаком")
        case Level.AGENT_DOWN:
            return tr("Агент echeck не отвечает")


def tooltip(view: TrayView) -> str:
    lines = ["echeck: " + level_text(view)]
    if view.level is not Level.AGENT_DOWN:
        lines.append(tr("В очереди: %1").replace("%1", str(view.pending)))
        last = view.last_sync_at.astimezone().strftime("%H:%M:%S") if view.last_sync_at else "—"
        lines.append(tr("Последняя синхронизация: %1").replace("%1", last))
    return "\n".join(lines)


def dot_icon(colour: str, size: int = 64) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("#ffffff"))
    painter.setBrush(QColor(colour))
    painter.drawEllipse(4, 4, size - 8, size - 8)
    painter.setPen(QColor("#ffffff"))
    font = painter.font()
    font.setBold(True)
    font.setPixelSize(size // 2)
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "e")
    painter.end()
    return QIcon(pixmap)


class StatusWindow(QWidget):
    """Sync state in words, the last receipts (contacts masked) and 'sync now'."""

    sync_requested = Signal()

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle(tr("echeck — состояние кассы"))
        self.setStyleSheet(
            "QWidget { font-size: 15px; } #state { font-size: 18px; font-weight: 600; }"
            "QTableWidget { gridline-color: #e5e7eb; } QHeaderView::section { padding: 4px; }"
        )
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.dot = QLabel()
        self.state = QLabel()
        self.state.setObjectName("state")
        self.details = QLabel()
        self.sync_button = QPushButton(tr("Синхронизировать сейчас"))
        self.sync_button.clicked.connect(self.sync_requested)
        top.addWidget(self.dot)
        top.addWidget(self.state, 1)
        top.addWidget(self.sync_button)
        layout.addLayout(top)
        layout.addWidget(self.details)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([tr("Закрыт"), tr("Сумма"), tr("Контакт"), tr("Отправлен")])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        self.resize(640, 380)

    def show_view(self, view: TrayView) -> None:
        self.dot.setPixmap(dot_icon(view.colour, 28).pixmap(28, 28))
        self.state.setText(level_text(view))
        facts = tooltip(view).split("\n")[1:]  # the first line is the state, already said above
        self.details.setText("   ·   ".join(facts))
        self.details.setVisible(bool(facts))
        self.sync_button.setEnabled(view.level is not Level.AGENT_DOWN and view.enrolled)

    def show_receipts(self, receipts: list[RecentReceipt]) -> None:
        states = {"pending": tr("в очереди"), "acked": tr("да"), "rejected": tr("отклонён")}
        self.table.setRowCount(len(receipts))
        for row, receipt in enumerate(receipts):
            cells = [
                receipt.closed_at.astimezone().strftime("%d.%m %H:%M:%S"),
                format_rubles(receipt.total) + " ₽",
                receipt.contact_masked or tr("только бумажный"),  # printed; no e-receipt (skipped, no answer)
                states.get(receipt.state, receipt.state),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)


class Tray(QSystemTrayIcon):
    """Quiet by design: no balloons, only the colour and the tooltip change."""

    open_status = Signal()
    sync_requested = Signal()
    quit_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.view = TrayView(Level.AGENT_DOWN)
        menu = QMenu()
        menu.addAction(tr("Состояние кассы…")).triggered.connect(self.open_status)
        menu.addAction(tr("Синхронизировать сейчас")).triggered.connect(self.sync_requested)
        menu.addSeparator()
        menu.addAction(tr("Выход")).triggered.connect(self.quit_requested)
        self._menu = menu
        self.setContextMenu(menu)
        self.activated.connect(lambda _reason: self.open_status.emit())
        self.show_view(self.view)

    def show_view(self, view: TrayView) -> None:
        self.view = view
        self.setIcon(dot_icon(view.colour))
        self.setToolTip(tooltip(view))
