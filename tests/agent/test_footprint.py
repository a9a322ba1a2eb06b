"""The agent's process loads only what it uses: its memory target is ≤ 80 MB (docs/performance.md).

Checked in a fresh interpreter, as `echeck-agent run` starts: the test process has imported everything.
"""

import json
import subprocess
import sys
from pathlib import Path

# Each is a few MB resident that the agent on 127.0.0.1 with a file token store never needs.
NOT_LOADED = (
    "zeroconf",  # only when the agent listens beyond localhost (agent.discovery imports it then)
    "keyring",  # only with the keyring credential store
    "rich",  # httpx's command line pulls rich, pygments and click
    "pygments",
    "httpx._main",
    "sqlmodel",  # the outbox is plain SQLAlchemy Core: no ORM in the agent
    "sqlalchemy.orm",
)


def _loaded_after(code: str) -> set[str]:
    listing = "print(json.dumps([m for m in sys.modules if sys.modules[m] is not None]))"
    probe = f"import json, sys\n{code}\n{listing}"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_agent_imports_leave_out_unused_packages() -> None:
    loaded = _loaded_after(
        "import agent.cli\nagent.cli.keep_unused_modules_out()\nimport agent.bootstrap, uvicorn.main"
    )
    assert not loaded & set(NOT_LOADED)


def test_file_store_never_loads_keyring(tmp_path: Path) -> None:
    loaded = _loaded_after(
        "from pathlib import Path\nfrom agent.credentials import open_store\n"
        f"store = open_store('file', Path({str(tmp_path)!r}))\n"
        "store.set('t', 'v')\nassert store.get('t') == 'v'"
    )
    assert "keyring" not in loaded


def test_loopback_agent_never_loads_zeroconf() -> None:
    loaded = _loaded_after(
        "from agent.discovery import start_advertising\nassert start_advertising('127.0.0.1', 8765) is None"
    )
    assert "zeroconf" not in loaded
