"""The frozen `echeck-ui` program's entry point (PyInstaller runs this file as __main__)."""

import sys

from ui.cli import main

if __name__ == "__main__":
    sys.exit(main())
