"""Build echeck's register programs: PyInstaller one-folder `echeck-agent` and `echeck-ui`, then the .deb.

    python packaging/build.py                 # both programs and the .deb, in build/
    python packaging/build.py --no-deb        # the programs only (Windows, macOS, or a quick look)
    python packaging/build.py --out /tmp/b    # somewhere else

Needs PyInstaller (the `test` extra) in the interpreter that runs this script; the .deb needs dpkg-deb
(Debian, Ubuntu). The version is the package's (pyproject.toml), stamped into both programs as package
metadata; `echeck-agent --version` prints it. The two PyInstaller runs go in parallel (each is mostly one
core). See docs/packaging.md for the layout on disk and the pitfalls this avoids.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "packaging"
LINUX = ROOT / "installer" / "linux"
PROGRAMS = ("echeck-agent", "echeck-ui")
PACKAGE = "echeck"  # the .deb's name
# The cashier UI's Qt needs these on an X11 desktop; a headless register (UI elsewhere) does without, so
# they are Recommends (apt installs them by default), not Depends.
QT_RECOMMENDS = (
    "libegl1, libgl1, libxkbcommon0, libxkbcommon-x11-0, libfontconfig1, libdbus-1-3, libglib2.0-0, "
    "libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, libxcb-render-util0, libxcb-shape0, "
    "libxcb-xkb1, libxcb-randr0, libxcb-xinerama0, fonts-dejavu-core"
)


@dataclass(frozen=True)
class Built:
    version: str
    programs: dict[str, Path]  # name → its one-folder directory
    deb: Path | None
    seconds: dict[str, float]  # what took how long, for the report and the benchmark table


def project_version() -> str:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version: str = doc["project"]["version"]
    return version


def stamp_metadata(out: Path, version: str) -> Path:
    """`echeck-<version>.dist-info/METADATA`: what importlib.metadata reads in the frozen program."""
    base = out / "metadata"
    shutil.rmtree(base, ignore_errors=True)
    info = base / f"echeck-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: echeck\nVersion: {version}\n", "utf-8")
    return base


def pyinstaller(name: str, out: Path, metadata: Path) -> float:
    """One PyInstaller run; its log goes to out/logs/<name>.log (printed when it fails)."""
    started = time.monotonic()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    env = {**os.environ, "ECHECK_BUILD_METADATA": str(metadata), "ECHECK_BUILD_ROOT": str(ROOT)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=INFO",
        f"--distpath={out / 'dist'}",
        f"--workpath={out / 'work'}",
        str(HERE / f"{name}.spec"),
    ]
    with log_path.open("wb") as log:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise SystemExit(f"build.py: PyInstaller failed for {name} (log {log_path}):\n{tail}")
    return time.monotonic() - started


def build_programs(
    out: Path, version: str, names: tuple[str, ...]
) -> tuple[dict[str, Path], dict[str, float]]:
    metadata = stamp_metadata(out, version)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        seconds = dict(zip(names, pool.map(lambda n: pyinstaller(n, out, metadata), names), strict=True))
    return {name: out / "dist" / name for name in names}, seconds


def deb_architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def build_deb(out: Path, version: str, programs: dict[str, Path]) -> Path:
    """Stage the file system tree and pack it with dpkg-deb (root-owned files, no fakeroot needed)."""
    stage = out / "deb" / "root"
    shutil.rmtree(stage.parent, ignore_errors=True)
    opt = stage / "opt" / "echeck"
    # /opt/echeck/agent/echeck-agent and /opt/echeck/ui/echeck-ui: each program in its own folder.
    for name, folder in programs.items():
        shutil.copytree(folder, opt / name.removeprefix("echeck-"), symlinks=True)
    share = opt / "share"
    share.mkdir(parents=True)
    shutil.copy2(LINUX / "agent.toml", share / "agent.toml")  # postinst copies it to /etc/echeck once
    units = stage / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    shutil.copy2(LINUX / "echeck-agent.service", units / "echeck-agent.service")
    autostart = stage / "etc" / "xdg" / "autostart"
    autostart.mkdir(parents=True)
    shutil.copy2(LINUX / "echeck-ui.desktop", autostart / "echeck-ui.desktop")
    applications = stage / "usr" / "share" / "applications"
    applications.mkdir(parents=True)
    shutil.copy2(LINUX / "echeck-ui.desktop", applications / "echeck-ui.desktop")
    bindir = stage / "usr" / "bin"
    bindir.mkdir(parents=True)
    for name in programs:
        (bindir / name).symlink_to(f"/opt/echeck/{name.removeprefix('echeck-')}/{name}")
    doc = stage / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True)
    shutil.copy2(ROOT / "docs" / "packaging.md", doc / "packaging.md")

    control = stage / "DEBIAN"
    control.mkdir()
    installed_kb = sum(p.lstat().st_size for p in stage.rglob("*") if p.is_file()) // 1024
    fields = {
        "Package": PACKAGE,
        "Version": version,
        "Architecture": deb_architecture(),
        "Maintainer": "echeck <store-it@echeck.example>",
        "Section": "misc",
        "Priority": "optional",
        "Installed-Size": str(installed_kb),
        # useradd/usermod (passwd) are Priority: required on Debian; systemd runs the agent where it runs.
        "Depends": "passwd",
        "Recommends": "systemd, " + QT_RECOMMENDS,
        "Description": "echeck register agent and cashier popup\n"
        " The agent (a systemd service) asks for the buyer's contact at checkout, queues every\n"
        " closed receipt on this machine and syncs it to the echeck cloud; the cashier's popup\n"
        " starts with the desktop session. Removing keeps the outbox and the configuration.",
    }
    (control / "control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()), "utf-8")
    # No conffiles: dpkg deletes conffiles *before* postrm's purge could refuse, so /etc/echeck/agent.toml
    # is made by postinst (and deleted by postrm); the autostart entry goes with the program it starts.
    for script in ("postinst", "prerm", "postrm"):
        target = control / script
        shutil.copy2(LINUX / script, target)
        target.chmod(0o755)

    deb = out / f"{PACKAGE}_{version}_{fields['Architecture']}.deb"
    # zstd: a tenth of xz's time on these ~200 MB for about the same size; dpkg reads it since 1.21.18
    # (Debian 12, Ubuntu 21.10), older than which the frozen programs' glibc would not run anyway.
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zzstd", "-z3", "--build", str(stage), str(deb)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return deb


def build(out: Path, deb: bool = True, names: tuple[str, ...] = PROGRAMS) -> Built:
    out.mkdir(parents=True, exist_ok=True)
    version = project_version()
    started = time.monotonic()
    programs, seconds = build_programs(out, version, names)
    seconds["programs"] = time.monotonic() - started
    package = None
    if deb:
        if platform.system() != "Linux" or shutil.which("dpkg-deb") is None:
            raise SystemExit("build.py: the .deb needs dpkg-deb (Debian or Ubuntu); use --no-deb elsewhere")
        if set(names) != set(PROGRAMS):
            raise SystemExit("build.py: the .deb holds both programs; build both (no --only) or use --no-deb")
        packed = time.monotonic()
        package = build_deb(out, version, programs)
        seconds["deb"] = time.monotonic() - packed
    seconds["total"] = time.monotonic() - started
    return Built(version, programs, package, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="build directory (default build/)")
    parser.add_argument("--no-deb", action="store_true", help="build the programs only")
    parser.add_argument("--only", choices=PROGRAMS, help="build this program only (implies --no-deb)")
    args = parser.parse_args(argv)
    names = (args.only,) if args.only else PROGRAMS
    built = build(args.out.resolve(), deb=not (args.no_deb or args.only), names=names)
    for name, folder in built.programs.items():
        print(f"{name} {built.version}: {folder}")
    if built.deb is not None:
        print(f"package: {built.deb} ({built.deb.stat().st_size / 1e6:.1f} MB)")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in built.seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
