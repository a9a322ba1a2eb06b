"""The .deb built once per machine and source state: packaging/build.py, cached by a hash of its inputs.

xdist workers (and sessions) share the build through a lock file: the first builds, the others wait and
reuse it. A build of unchanged sources is found again in build/packaging-test/<hash>/ and costs nothing.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "packaging-test"
# What ends up in the package: a change here means a new build.
INPUTS = ("agent", "ui", "sync", "receipts", "drivers", "pos_plugin", "packaging", "installer")
INPUT_FILES = ("pyproject.toml", "docs/packaging.md")


@dataclass(frozen=True)
class DebBuild:
    deb: Path
    version: str
    seconds: float  # the build's wall time; 0 when a cached build was reused


def skip_reason() -> str | None:
    if sys.platform != "linux":
        return "the .deb test runs on Linux"
    if os.geteuid() != 0:
        return "installing a .deb needs root (CI runs this test as root)"
    for tool in ("dpkg", "dpkg-deb"):
        if shutil.which(tool) is None:
            return f"no {tool} on this machine (not Debian or Ubuntu)"
    return None


def inputs_hash() -> str:
    digest = hashlib.sha256()
    files = [ROOT / name for name in INPUT_FILES]
    for folder in INPUTS:
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    import PyInstaller

    digest.update(PyInstaller.__version__.encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def deb_build() -> DebBuild:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    CACHE.mkdir(parents=True, exist_ok=True)
    key = inputs_hash()
    out = CACHE / key
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building the same thing: wait for it
        debs = sorted(out.glob("echeck_*.deb"))
        seconds = 0.0
        if not debs:
            for old in CACHE.iterdir():  # one cached build is enough; they are ~100 MB each
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, str(ROOT / "packaging" / "build.py"), "--out", str(out)],
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
            seconds = time.monotonic() - started
            assert done.returncode == 0, f"packaging/build.py failed:\n{done.stdout}\n{done.stderr}"
            print(done.stdout)
            debs = sorted(out.glob("echeck_*.deb"))
    (deb,) = debs
    version = deb.name.split("_")[1]
    return DebBuild(deb, version, seconds)
