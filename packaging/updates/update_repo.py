"""The update repository of echeck's packaged agent (TUF, made and signed with tufup), for release
engineering at head office. Independent of `echeck-cloud`: it writes a directory that any static web
server publishes (metadata/ and targets/), and registers read it over HTTPS.

    update_repo.py init    --repo DIR --keys DIR
    update_repo.py add     --repo DIR --keys DIR --channel beta --version 0.2.0 --bundle BUILD
    update_repo.py promote --repo DIR --keys DIR --version 0.2.0 --from beta --to stable
    update_repo.py refresh --repo DIR --keys DIR    (daily, from cron: re-signs the timestamp)
    update_repo.py list    --repo DIR

(run as `python packaging/updates/update_repo.py ...`)

A channel is a target name (`echeck-<channel>-<version>.tar.gz`); registers of a store whose channel is
beta take only beta's targets. Every bundle gets the repository's current root.json as `update-root.json`,
so the version it installs trusts the same keys. docs/updates.md has the key handling and the rollout.

This file is a script, not a package: `packaging` is also the name of a PyPI library that tufup imports.
"""

import argparse
import contextlib
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

APP = "echeck"
CHANNELS = ("stable", "beta")
TRUSTED_ROOT = "update-root.json"  # agent.updates.layout.TRUSTED_ROOT: where a bundle carries its root
# Root is signed offline and rarely; targets and snapshot at each release; timestamp daily by cron (its
# week of validity rides out a weekend without the cron; registers stop updating when it expires).
EXPIRATION_DAYS = {"root": 365, "targets": 90, "snapshot": 90, "timestamp": 7}

log = logging.getLogger("update_repo")


class RepoError(RuntimeError):
    pass


@contextlib.contextmanager
def _repository(repo_dir: Path, keys_dir: Path, *, create: bool = False) -> Iterator[Any]:
    """tufup's Repository; it keeps its config file in the working directory, so that is the keys dir."""
    from tufup.repo import Repository

    keys_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(keys_dir):
        repo = Repository(
            app_name=APP,
            repo_dir=repo_dir.resolve(),
            keys_dir=keys_dir.resolve(),
            expiration_days=dict(EXPIRATION_DAYS),
        )
        if create:
            repo.initialize()
        else:
            if not (repo.metadata_dir / "root.json").exists():
                raise RepoError(f"{repo_dir} is not an update repository yet: run `init` first")
            repo._load_keys_and_roles(create_keys=False)
        yield repo


def init(repo_dir: Path, keys_dir: Path) -> Path:
    """Keys (ed25519, one per role) and the first signed metadata; returns root.json's path."""
    with _repository(repo_dir, keys_dir, create=True) as repo:
        return Path(repo.metadata_dir) / "root.json"


def versions(repo_dir: Path, channel: str) -> list[Version]:
    prefix = f"{APP}-{channel}-"
    found = []
    for path in (repo_dir / "targets").glob(f"{prefix}*.tar.gz"):
        text = path.name[len(prefix) : -len(".tar.gz")]
        with contextlib.suppress(InvalidVersion):
            found.append(Version(text))
    return sorted(found)


def add(repo_dir: Path, keys_dir: Path, channel: str, version: str, bundle: Path) -> Path:
    """Archive `bundle` (a one-folder build) as the channel's `version`, sign and publish it."""
    from tufup.repo import make_gztar_archive

    if channel not in CHANNELS:
        raise RepoError(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    try:
        wanted = Version(version)
    except InvalidVersion as exc:
        raise RepoError(f"{version!r} is not a version (PEP 440, e.g. 0.2.0 or 0.3.0b1)") from exc
    if channel == "stable" and wanted.is_prerelease:
        raise RepoError(f"{version} is a pre-release: publish it to beta; stable takes final versions")
    if not bundle.is_dir():
        raise RepoError(f"{bundle} is not a directory (the one-folder build of the agent and UI)")
    published = versions(repo_dir, channel)
    if published and wanted <= published[-1]:
        raise RepoError(f"{channel} already has {published[-1]}: a new bundle needs a higher version")
    with _repository(repo_dir, keys_dir) as repo, tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "bundle"
        shutil.copytree(bundle, staged, symlinks=True)
        shutil.copyfile(Path(repo.metadata_dir) / "root.json", staged / TRUSTED_ROOT)
        meta = make_gztar_archive(staged, repo.targets_dir, f"{APP}-{channel}", version)
        repo.roles.add_or_update_target(
            local_path=meta.path, custom={"user": {"channel": channel}, "tufup": {"required": False}}
        )
        repo.publish_changes(private_key_dirs=[keys_dir.resolve()])
        return Path(meta.path)


def promote(repo_dir: Path, keys_dir: Path, version: str, source: str, target: str) -> Path:
    """The bundle that ran in `source` (e.g. beta), published unchanged to `target` (e.g. stable)."""
    archive = repo_dir / "targets" / f"{APP}-{source}-{version}.tar.gz"
    if not archive.exists():
        raise RepoError(f"{source} has no version {version} ({archive} is missing)")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.unpack_archive(archive, tmp, filter="data")
        bundle = Path(tmp)
        (bundle / TRUSTED_ROOT).unlink(missing_ok=True)
        return add(repo_dir, keys_dir, target, version, bundle)


def refresh(repo_dir: Path, keys_dir: Path) -> None:
    """Re-sign targets, snapshot and timestamp with fresh expiry dates (run daily: expired metadata stops
    every register from updating). Needs only those roles' keys, never the offline root key."""
    with _repository(repo_dir, keys_dir) as repo:
        for role in ("targets", "snapshot", "timestamp"):
            repo.refresh_expiration_date(role)
        repo.publish_changes(private_key_dirs=[keys_dir.resolve()])


def listing(repo_dir: Path) -> dict[str, list[str]]:
    return {channel: [str(v) for v in versions(repo_dir, channel)] for channel in CHANNELS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="update_repo.py",
        description="echeck's signed update repository (TUF): keys, bundles per channel, re-signing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def paths(p: argparse.ArgumentParser, keys: bool = True) -> None:
        p.add_argument("--repo", type=Path, required=True, help="the repository directory (publish it)")
        if keys:
            p.add_argument("--keys", type=Path, required=True, help="the private keys (never publish)")

    paths(sub.add_parser("init", help="create the keys and the first signed metadata"))
    a = sub.add_parser("add", help="publish a one-folder build to a channel")
    paths(a)
    a.add_argument("--channel", choices=CHANNELS, required=True)
    a.add_argument("--version", required=True, help="the bundle's version, e.g. 0.2.0")
    a.add_argument("--bundle", type=Path, required=True, help="the build directory to publish")
    p = sub.add_parser("promote", help="publish a channel's version to another channel unchanged")
    paths(p)
    p.add_argument("--version", required=True)
    p.add_argument("--from", dest="source", choices=CHANNELS, default="beta")
    p.add_argument("--to", dest="target", choices=CHANNELS, default="stable")
    paths(sub.add_parser("refresh", help="re-sign timestamp, snapshot and targets (daily, from cron)"))
    paths(sub.add_parser("list", help="the versions each channel has"), keys=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command == "init":
            print(f"repository ready; ship this root with the first install: {init(args.repo, args.keys)}")
        elif args.command == "add":
            path = add(args.repo, args.keys, args.channel, args.version, args.bundle)
            print(f"published {path.name} to {args.channel}")
        elif args.command == "promote":
            path = promote(args.repo, args.keys, args.version, args.source, args.target)
            print(f"published {path.name} to {args.target}")
        elif args.command == "refresh":
            refresh(args.repo, args.keys)
            print("metadata re-signed")
        else:
            print(json.dumps(listing(args.repo), indent=2))
    except RepoError as exc:
        print(f"update_repo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
