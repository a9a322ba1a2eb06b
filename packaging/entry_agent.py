"""The frozen `echeck-agent` program's entry point (PyInstaller runs this file as __main__)."""

import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
