"""The register service: checkout state machine, hooks + sync wiring, local API, enrollment, config, CLI."""

import sys

__version__ = "0.1.0"

# httpx's own command line (httpx._main) is loaded by `import httpx` whenever rich, pygments and click
# happen to be installed (~4.5 MB resident); the agent never runs it and its memory target is ≤ 80 MB
# (docs/performance.md). A None entry in sys.modules makes that import raise ImportError, which httpx
# expects: `httpx.main` then only says it cannot run. setdefault: a process that already has it keeps it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
