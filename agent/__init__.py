"""The register service: checkout state machine, hooks + sync wiring, local API, enrollment, config, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The one version number is pyproject.toml's; installed (pip) or frozen (packaging/build.py puts the
    # package's metadata beside the program), it is read back from the package metadata.
    __version__ = version("echeck")
except PackageNotFoundError:  # a source tree on PYTHONPATH that was never installed
    __version__ = "0+unknown"
