"""The register's side of TUF (through tufup): refresh the signed metadata, pick the channel's newest
bundle, download it, verify it against the signed targets (length and SHA-256), and stage it.

A channel is a target name: bundles of channel `beta` are `echeck-beta-<version>.tar.gz` in the one
repository, all signed by the same keys; the register considers only its channel's targets. Anything that
does not verify (metadata signatures, expiry, rollback of versions, a target's bytes) is refused with a
sentence and leaves the install untouched.
"""

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.updates.layout import Installation, LayoutError, parse_version

log = logging.getLogger("agent.updates")
APP = "echeck"  # target names are echeck-<channel>-<version>.tar.gz
CHANNELS = ("stable", "beta")
DEFAULT_CHANNEL = "stable"


class UpdateRefused(RuntimeError):
    """The repository or a download did not verify; nothing was installed."""


def target_name(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"unknown update channel {channel!r} (one of {', '.join(CHANNELS)})")
    return f"{APP}-{channel}"


@dataclass(frozen=True, slots=True)
class Staged:
    version: str
    path: Path


class UpdateClient:
    """One check against `repository_url` (metadata under /metadata/, bundles under /targets/)."""

    def __init__(
        self, installation: Installation, repository_url: str, channel: str = DEFAULT_CHANNEL
    ) -> None:
        self.installation = installation
        self.repository_url = repository_url.rstrip("/")
        self.channel = channel
        target_name(channel)  # an unknown channel is refused here, not at the first check

    def _tufup(self, extract_dir: Path) -> Any:
        from tufup.client import Client

        class _Client(Client):  # type: ignore[misc]
            """tufup swallows metadata failures as "no update"; refreshing first makes them errors."""

            _refreshed = False

            def refresh(self) -> None:
                if not self._refreshed:
                    super().refresh()
                    self._refreshed = True

        current = self.installation.current()
        if current is None:
            raise LayoutError(f"nothing is installed under {self.installation.root} (no `current` file)")
        self._trust_root(current)
        self.installation.cache_dir.mkdir(parents=True, exist_ok=True)
        return _Client(
            app_name=target_name(self.channel),
            app_install_dir=self.installation.root,
            current_version=current,
            metadata_dir=self.installation.metadata_dir,
            metadata_base_url=self.repository_url + "/metadata/",
            target_dir=self.installation.cache_dir,
            target_base_url=self.repository_url + "/targets/",
            extract_dir=extract_dir,
        )

    def _trust_root(self, current: str) -> None:
        """TUF starts from a root it trusts: the one shipped in the running bundle, until a newer one came."""
        trusted = self.installation.metadata_dir / "root.json"
        if trusted.exists():
            return
        shipped = self.installation.trusted_root(current)
        if not shipped.exists():
            raise LayoutError(f"no trusted update root: {shipped} is missing from the installed bundle")
        self.installation.metadata_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shipped, trusted)

    def check_and_stage(self) -> Staged | None:
        """Stage the channel's newest bundle above the running version; None when there is none (or only
        a version that failed to start before). Raises UpdateRefused when something does not verify."""
        from tuf.api.exceptions import DownloadError, RepositoryError

        failed = set(self.installation.state().failed)
        with tempfile.TemporaryDirectory(prefix="extract-", dir=self._scratch()) as scratch:
            extract_dir = Path(scratch) / "bundle"
            extract_dir.mkdir()
            staged: list[Staged] = []
            try:
                client = self._tufup(extract_dir)
                client.refresh()
                newest = client.check_for_updates(pre=None if self.channel == "stable" else "a", patch=False)
                if newest is None:
                    return None
                version = str(newest.version)
                parse_version(version)
                if version in failed:
                    log.info("update %s is known not to start on this register: skipped", version)
                    return None

                def stage(src_dir: Path, dst_dir: Path, **_kwargs: Any) -> None:
                    path = self.installation.stage_from(Path(src_dir), version)
                    staged.append(Staged(version, path))

                client.download_and_apply_update(skip_confirmation=True, install=stage)
            except (RepositoryError, DownloadError) as exc:
                raise UpdateRefused(f"update refused ({type(exc).__name__}): {exc}") from exc
            if not staged:  # tufup logged why (an archive that does not unpack, ...)
                raise UpdateRefused(f"update {version} downloaded but could not be unpacked: not staged")
        log.info("update staged", extra={"version": staged[0].version, "channel": self.channel})
        return staged[0]

    def _scratch(self) -> Path:
        path = self.installation.root / "update-tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path
