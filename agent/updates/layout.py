"""The install root on a register: one directory per version, a pointer to the one that runs, and state.

    <root>/versions/0.1.0/          the bundle as built (echeck-agent/, echeck-ui/, update-root.json)
    <root>/versions/0.2.0/          staged next to it; the running one is never written to
    <root>/current                  "0.1.0": the version the service starts (written atomically)
    <root>/update-state.json        versions that failed to start (never retried), the previous version
    <root>/update-metadata/         TUF's trusted metadata (root.json comes with the bundle)
    <root>/update-cache/            downloaded, verified archives

Switching versions is rewriting one small file, so nothing is renamed under a running program (Windows
refuses that), and the previous version stays whole until the new one answered healthy. The data
directory (outbox, enrollment, secrets) lives elsewhere; `check_separate` refuses a root that holds it.
"""

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

TRUSTED_ROOT = "update-root.json"  # in every bundle: the TUF root the next check starts from
_SAFE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+!-]{0,63}$")


class LayoutError(RuntimeError):
    """The install root is not usable for updates; the message says why."""


def parse_version(text: str) -> Version:
    if not _SAFE.match(text):
        raise LayoutError(f"{text!r} is not a version name")
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise LayoutError(f"{text!r} is not a version (PEP 440)") from exc


@dataclass
class UpdateState:
    failed: list[str] = field(default_factory=list)  # started unhealthy once: never applied again
    previous: str | None = None  # what ran before the current version (kept for a manual rollback)
    last_result: str | None = None  # one sentence for status and doctor

    def to_json(self) -> dict[str, Any]:
        return {"failed": self.failed, "previous": self.previous, "last_result": self.last_result}


class Installation:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions_dir = root / "versions"
        self.current_file = root / "current"
        self.state_file = root / "update-state.json"
        self.metadata_dir = root / "update-metadata"
        self.cache_dir = root / "update-cache"

    # --- versions ------------------------------------------------------------------------------------
    def current(self) -> str | None:
        try:
            text = self.current_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def version_dir(self, version: str) -> Path:
        parse_version(version)
        return self.versions_dir / version

    def installed(self) -> list[str]:
        if not self.versions_dir.is_dir():
            return []
        found = []
        for path in self.versions_dir.iterdir():
            if path.is_dir() and _SAFE.match(path.name) and not path.name.endswith(".partial"):
                try:
                    found.append((Version(path.name), path.name))
                except InvalidVersion:
                    continue
        return [name for _v, name in sorted(found)]

    def set_current(self, version: str) -> None:
        """Point the service at `version` (written to a temp file, fsynced, then renamed over)."""
        if not self.version_dir(version).is_dir():
            raise LayoutError(f"version {version} is not installed under {self.versions_dir}")
        _write_atomic(self.current_file, version + "\n")

    def stage_from(self, extracted: Path, version: str) -> Path:
        """Move an extracted bundle in as `versions/<version>`; a half-copied one is never seen as staged."""
        target = self.version_dir(version)
        if target.exists():
            if version == self.current():
                raise LayoutError(f"version {version} is the one running; it is never overwritten")
            shutil.rmtree(target)
        partial = target.with_name(version + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(extracted, partial, symlinks=True)
        os.replace(partial, target)
        return target

    def staged(self) -> str | None:
        """The newest installed version above the current one that has not failed, if any."""
        current = self.current()
        failed = set(self.state().failed)
        base = Version(current) if current else None
        newer = [v for v in self.installed() if v not in failed and (base is None or Version(v) > base)]
        return newer[-1] if newer else None

    def prune(self, keep: set[str]) -> list[str]:
        """Remove installed versions outside `keep` (never the current one); returns what went."""
        keep = keep | {v for v in (self.current(),) if v}
        gone = []
        for version in self.installed():
            if version not in keep:
                shutil.rmtree(self.versions_dir / version, ignore_errors=True)
                gone.append(version)
        return gone

    def trusted_root(self, version: str) -> Path:
        return self.version_dir(version) / TRUSTED_ROOT

    # --- state ---------------------------------------------------------------------------------------
    def state(self) -> UpdateState:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return UpdateState()
        return UpdateState(
            failed=[str(v) for v in data.get("failed", [])],
            previous=data.get("previous"),
            last_result=data.get("last_result"),
        )

    def save_state(self, state: UpdateState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.state_file, json.dumps(state.to_json(), indent=2) + "\n")


def check_separate(root: Path, data_dir: Path) -> None:
    """Updates replace what is under the install root: the data directory must not be there (nor hold it)."""
    r, d = root.resolve(), data_dir.resolve()
    if r == d or d.is_relative_to(r) or r.is_relative_to(d):
        raise LayoutError(
            f"the install root {r} and the data directory {d} overlap: updates would touch the outbox; "
            "keep the data directory outside the install root"
        )


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
