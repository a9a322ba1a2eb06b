"""The cashier's process: PySide6 popup and tray, talking to the agent over its local API."""

from importlib.metadata import PackageNotFoundError, version

try:
    # pyproject.toml's version, read back from the package metadata (installed, or stamped into the frozen
    # program by packaging/build.py), as agent/__init__.py does.
    __version__ = version("echeck")
except PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
    __version__ = "0+unknown"
