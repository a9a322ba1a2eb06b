"""The register service: checkout state machine, hooks + sync wiring, local API, enrollment, config, CLI."""

__version__ = "0.1.0"
