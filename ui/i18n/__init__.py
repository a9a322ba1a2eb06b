"""Qt translations of the cashier UI: Russian is the source language; `echeck_ui_en.qm` is English.

Regenerate after changing UI strings: `python -m ui.i18n` (runs PySide6's lupdate, then lrelease).
"""

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTranslator

HERE = Path(__file__).parent


def install_translator(app: QCoreApplication, lang: str) -> QTranslator | None:
    """Russian needs nothing; any other language loads `echeck_ui_<lang>.qm` shipped with the package."""
    if lang == "ru":
        return None
    translator = QTranslator(app)
    if not translator.load(str(HERE / f"echeck_ui_{lang}.qm")):
        raise FileNotFoundError(f"no compiled translation echeck_ui_{lang}.qm in {HERE}")
    app.installTranslator(translator)
    return translator
