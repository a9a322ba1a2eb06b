"""`python -m ui.i18n`: refresh the .ts sources from the UI code (lupdate) and compile them (lrelease)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = ["popup.py", "tray.py"]


def main() -> int:
    bin_dir = Path(sys.executable).parent
    sources = [str(HERE.parent / name) for name in SOURCES]
    for ts in sorted(HERE.glob("*.ts")):
        subprocess.run([bin_dir / "pyside6-lupdate", *sources, "-no-obsolete", "-ts", str(ts)], check=True)
        subprocess.run([bin_dir / "pyside6-lrelease", str(ts), "-qm", str(ts.with_suffix(".qm"))], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
