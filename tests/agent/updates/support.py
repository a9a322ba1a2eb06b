"""What the update tests share: the release tool (a script under packaging/, loaded by path), a real TUF
repository served over HTTP on loopback, bundles of a tiny "agent" that answers /healthz with its version,
and a service manager that runs it as a real process (the role WinSW plays on Windows)."""

import functools
import http.server
import importlib.util
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx

from agent.updates.layout import Installation

ROOT = Path(__file__).resolve().parents[3]

APP = """
import http.server, json, pathlib, sys
version = (pathlib.Path(__file__).parent / "VERSION").read_text().strip()
if (pathlib.Path(__file__).parent / "BROKEN").exists():
    sys.exit("this build does not start")
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "version": version}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@functools.cache
def update_repo() -> ModuleType:
    path = ROOT / "packaging" / "updates" / "update_repo.py"
    spec = importlib.util.spec_from_file_location("echeck_update_repo", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_bundle(where: Path, version: str, *, broken: bool = False) -> Path:
    bundle = where / f"build-{version}"
    agent = bundle / "echeck-agent"
    agent.mkdir(parents=True)
    (agent / "app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    (agent / "VERSION").write_text(version, encoding="utf-8")
    if broken:
        (agent / "BROKEN").write_text("yes", encoding="utf-8")
    return bundle


def install_first(root: Path, bundle: Path, trusted_root: Path, version: str) -> Installation:
    """What the installer does: the bundle in versions/<v>, its trusted root beside it, `current`."""
    installation = Installation(root)
    installation.stage_from(bundle, version)
    (installation.version_dir(version) / "update-root.json").write_bytes(trusted_root.read_bytes())
    installation.current_file.write_text(version + "\n", encoding="utf-8")
    return installation


@contextmanager
def served(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class ProcessService:
    """Starts the agent of a version directory as a real process on a fixed port; stop ends it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.starts: list[str] = []

    def start(self, app_dir: Path) -> None:
        self.starts.append(app_dir.name)
        self.process = subprocess.Popen(
            [sys.executable, str(app_dir / "echeck-agent" / "app.py"), str(self.port)]
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_version(self, timeout_s: float = 10.0) -> str | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return str(httpx.get(self.url + "/healthz", timeout=1).json()["version"])
            except (httpx.HTTPError, ValueError, KeyError):
                time.sleep(0.1)
        return None
