"""Acceptance of the .deb (issue 16), as root on this Debian machine: install, version, enroll against a
local cloud, the agent started exactly as its systemd unit would start it, doctor, a receipt synced,
removal keeps the outbox and the configuration, a purge refuses while a receipt is not in the cloud, and a
forced purge cleans up (package, data, configuration, the echeck user).
"""

import configparser
import grp
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.packaging.conftest import DebBuild
from tests.support.cloud_process import cloud_process, seeded_database
from tests.support.live_server import free_port

PACKAGE = "echeck"
AGENT = Path("/opt/echeck/agent/echeck-agent")
UI = Path("/opt/echeck/ui/echeck-ui")
UNIT = Path("/lib/systemd/system/echeck-agent.service")
DATA = Path("/var/lib/echeck")
ETC = Path("/etc/echeck")
POS_SIM = str(Path(sys.executable).with_name("echeck-pos-sim"))


def run(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def installed() -> bool:
    status = run("dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE).stdout.strip()
    return status not in ("", "not-installed")


def force_purge() -> None:
    """Whatever state the test left: the package purged, the data and the user gone."""
    if installed():
        run("dpkg", "--purge", PACKAGE, env={**os.environ, "ECHECK_PURGE_FORCE": "1"})
    shutil.rmtree(DATA, ignore_errors=True)
    shutil.rmtree(ETC, ignore_errors=True)
    for user in ("echeck",):
        if _exists(pwd.getpwnam, user):
            run("userdel", user)
    for group in ("echeck", "echeck-ui"):
        if _exists(grp.getgrnam, group):
            run("groupdel", group)


def _exists(lookup: object, name: str) -> bool:
    try:
        lookup(name)  # type: ignore[operator]
    except KeyError:
        return False
    return True


def unit_service(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return dict(parser["Service"])


@pytest.fixture
def clean_machine() -> Iterator[None]:
    if installed() or _exists(pwd.getpwnam, "echeck"):
        pytest.fail(
            f"{PACKAGE} (or the echeck user) is already on this machine; this test installs and purges it, "
            f"so remove it first: ECHECK_PURGE_FORCE=1 dpkg --purge {PACKAGE}"
        )
    try:
        yield
    finally:
        force_purge()


def start_as_unit(port: int, log: Path) -> subprocess.Popen[bytes]:
    """The unit's ExecStart, as its User/Group/SupplementaryGroups, in its WorkingDirectory and UMask;
    only the port differs (environment, which the agent reads over its config file), so that parallel
    tests never meet on 8765."""
    service = unit_service(UNIT)
    argv = shlex.split(service["ExecStart"])
    user = pwd.getpwnam(service["User"])
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            user=user.pw_uid,
            group=grp.getgrnam(service["Group"]).gr_gid,
            # systemd: the user's own groups (initgroups), plus SupplementaryGroups.
            extra_groups=sorted(
                {grp.getgrgid(g).gr_name for g in os.getgrouplist(user.pw_name, user.pw_gid)}
                | set(service.get("SupplementaryGroups", "").split())
            ),
            cwd=service["WorkingDirectory"],
            umask=int(service.get("UMask", "0022"), 8),
            env={"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "ECHECK_AGENT_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, f"the agent exited ({proc.returncode}):\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the agent did not answer within {timeout} s:\n{log.read_text()}")


def outbox_counts(env: dict[str, str]) -> str:
    done = run(AGENT, "outbox", env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_synced(env: dict[str, str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run(AGENT, "outbox", "--unsynced", env=env).stdout.strip() == "0":
            return
        time.sleep(0.2)
    raise AssertionError(f"the receipt did not sync: {outbox_counts(env)}")


def one_receipt(agent_url: str, log: Path, seed: int) -> None:
    """The POS simulator (as a till would call the checkout API): one checkout, closed."""
    done = run(POS_SIM, "--agent", agent_url, "--receipts", "1", "--rate", "0", "--seed", str(seed))
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr


# The first test of a session builds the .deb (PyInstaller, ~90 s of CPU; minutes on a loaded machine).
@pytest.mark.timeout(1500)
def test_deb_installs_syncs_and_keeps_the_outbox(
    deb_build: DebBuild, clean_machine: None, tmp_path: Path
) -> None:
    timings: dict[str, float] = {"build": deb_build.seconds}
    started = time.monotonic()
    done = run("dpkg", "-i", deb_build.deb)
    assert done.returncode == 0, done.stdout + done.stderr
    timings["dpkg -i"] = time.monotonic() - started

    # What the package laid down.
    assert run(AGENT, "--version").stdout.strip() == f"echeck-agent {deb_build.version}"
    assert run(UI, "--version").stdout.strip() == f"echeck-ui {deb_build.version}"
    assert Path("/usr/bin/echeck-agent").resolve() == AGENT
    assert Path("/usr/bin/echeck-ui").resolve() == UI
    assert Path("/etc/xdg/autostart/echeck-ui.desktop").is_file()
    echeck = pwd.getpwnam("echeck")
    assert "echeck" in grp.getgrnam("dialout").gr_mem, "the agent's user reads serial ports"
    assert DATA.stat().st_uid == echeck.pw_uid
    assert (ETC / "agent.toml").is_file()
    service = unit_service(UNIT)
    assert service["Restart"] == "always"
    assert service["User"] == "echeck"
    if shutil.which("systemd-analyze"):
        verify = run("systemd-analyze", "verify", UNIT)
        assert verify.returncode == 0, verify.stderr
        assert not verify.stderr.strip(), verify.stderr

    port = free_port()
    agent_url = f"http://127.0.0.1:{port}"
    # As store IT types it (root; the agent acts as the owner of /var/lib/echeck), on the test's port.
    env = {**os.environ, "ECHECK_AGENT_PORT": str(port)}
    seeded = seeded_database(tmp_path)
    with ExitStack() as stack:
        cloud_url, _pid = stack.enter_context(cloud_process(seeded.url, tmp_path / "cloud.log"))
        enrolled = run(AGENT, "enroll", "--cloud-url", cloud_url, "--code", seeded.enrollment_code, env=env)
        assert enrolled.returncode == 0, enrolled.stderr
        assert (DATA / "enrollment.json").stat().st_uid == echeck.pw_uid, "the service must read it"

        agent_log = tmp_path / "agent.log"
        agent = start_as_unit(port, agent_log)

        def stop_agent() -> None:
            if agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                try:
                    agent.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()

        stack.callback(stop_agent)
        timings["agent start"] = wait_healthy(agent_url, agent, agent_log)
        secret = DATA / "ui-secret"
        assert grp.getgrgid(secret.stat().st_gid).gr_name == "echeck-ui", "the cashier's UI reads it"
        assert secret.stat().st_mode & 0o777 == 0o640
        assert DATA.stat().st_mode & 0o777 == 0o710, "the cashier's group opens ui-secret by name only"
        assert (DATA / "outbox.sqlite3").stat().st_mode & 0o777 == 0o600

        doctor = run(AGENT, "doctor", env=env)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "not enrolled" not in doctor.stdout

        one_receipt(agent_url, tmp_path / "pos-1.log", seed=16)
        wait_synced(env)
        stored = httpx.get(
            f"{cloud_url}/v1/stores/{seeded.store_id}/receipts",
            headers={"Authorization": f"Bearer {seeded.api_key}"},
            timeout=10,
        ).json()["receipts"]
        assert len(stored) == 1, stored

        # The cloud goes away; the next receipt stays in the outbox.
        stack.close()  # the agent and the cloud stop
        agent = start_as_unit(port, agent_log)
        stack.callback(stop_agent)
        wait_healthy(agent_url, agent, agent_log)
        one_receipt(agent_url, tmp_path / "pos-2.log", seed=17)  # another register's FN: a new key
        assert run(AGENT, "outbox", "--unsynced", env=env).stdout.strip() == "1"

    started = time.monotonic()
    removed = run("dpkg", "-r", PACKAGE)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    timings["dpkg -r"] = time.monotonic() - started
    assert not AGENT.exists()
    assert (DATA / "outbox.sqlite3").is_file(), "removal keeps the outbox"
    assert (DATA / "enrollment.json").is_file()
    assert (ETC / "agent.toml").is_file(), "removal keeps the configuration"
    assert "not in the cloud yet" in removed.stderr

    refused = run("dpkg", "--purge", PACKAGE)
    assert refused.returncode != 0, "a purge with a receipt not in the cloud must refuse"
    assert "NOT purging: 1 receipt(s)" in refused.stderr, refused.stderr
    assert (DATA / "outbox.sqlite3").is_file()
    assert (ETC / "agent.toml").is_file()

    forced = run("dpkg", "--purge", PACKAGE, env={**os.environ, "ECHECK_PURGE_FORCE": "1"})
    assert forced.returncode == 0, forced.stderr
    assert not installed()
    assert not DATA.exists()
    assert not ETC.exists()
    assert not _exists(pwd.getpwnam, "echeck")
    print(
        f"\n.deb {deb_build.deb.stat().st_size / 1e6:.1f} MB; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    )
