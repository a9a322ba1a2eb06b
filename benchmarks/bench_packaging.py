"""The packaged (PyInstaller) agent beside the source agent: size on disk, `--version` time, start until its
local API answers /healthz, idle RSS; and the build's own time.

The frozen programs come from `python packaging/build.py` (build/dist/, and build/echeck_*.deb when it was
built); a full run builds them (--no-deb) when they are missing, `--quick` only measures an existing build.
ECHECK_BENCH_BUILD=DIR reads another build directory.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import Figure
from demo.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
START_TARGET_S = 2.0
RSS_TARGET_MB = 80.0


def _folder_mb(path: Path) -> float:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _version_s(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*command, "--version"], capture_output=True, check=True, timeout=60)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _start_and_idle(command: list[str], settle_s: float) -> tuple[float, float]:
    """Seconds from exec until /healthz answers 200, and VmRSS after `settle_s` more seconds of idle."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = Path(tmp) / "agent.toml"
        config.write_text(
            f'[agent]\ndata_dir = "{tmp}/data"\nlisten_port = {port}\ncredentials = "file"\n', "utf-8"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECHECK_")}
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited with {proc.returncode}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > 60:
                    raise RuntimeError(f"{command[0]} did not answer within 60 s")
                time.sleep(0.01)
            start_s = time.perf_counter() - started
            time.sleep(settle_s)
            return start_s, _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _build(out: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"), "--no-deb", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return time.monotonic() - started


def run(quick: bool) -> list[Figure]:
    out = Path(os.environ.get("ECHECK_BENCH_BUILD", ROOT / "build"))
    frozen_agent = out / "dist" / "echeck-agent" / "echeck-agent"
    frozen_ui = out / "dist" / "echeck-ui"
    figures: list[Figure] = []
    if not frozen_agent.exists():
        if quick:
            return [Figure("packaging", "no frozen build (python packaging/build.py): not measured", 0, "")]
        figures.append(Figure("packaging", "PyInstaller build, agent and UI in parallel", _build(out), "s"))
    figures.append(Figure("packaging", "frozen agent folder", _folder_mb(frozen_agent.parent), "MB"))
    if frozen_ui.exists():
        figures.append(Figure("packaging", "frozen UI folder", _folder_mb(frozen_ui), "MB"))
    for deb in sorted(out.glob("echeck_*.deb"))[-1:]:
        figures.append(Figure("packaging", f".deb ({deb.name})", deb.stat().st_size / 1e6, "MB"))

    source = [sys.executable, "-m", "agent.cli"]
    runs = 3 if quick else 10
    settle = 1.0 if quick else 5.0
    for label, command in (("frozen", [str(frozen_agent)]), ("source", source)):
        figures.append(
            Figure("packaging", f"{label} agent --version", _version_s(command, runs) * 1000, "ms")
        )
        starts, rss = [], []
        for _ in range(1 if quick else 3):
            start_s, idle = _start_and_idle(command, settle)
            starts.append(start_s)
            rss.append(idle)
        start = statistics.median(starts)
        figures.append(
            Figure(
                "packaging",
                f"{label} agent start → /healthz",
                start,
                "s",
                f"≤ {START_TARGET_S:.0f} s",
                start <= START_TARGET_S,
            )
        )
        idle_mb = statistics.median(rss)
        figures.append(
            Figure(
                "packaging",
                f"{label} agent RSS at idle (not enrolled)",
                idle_mb,
                "MB",
                f"≤ {RSS_TARGET_MB:.0f} MB",
                idle_mb <= RSS_TARGET_MB,
            )
        )
    return figures
