"""What store IT sees from `echeck-agent` on a terminal and in scripts, run as real processes."""

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from tests.agent.store_it import Register, enrollment_code, make_register
from tests.support.live_server import free_port
from tests.sync.conftest import Cloud

AGENT = str(Path(sys.executable).with_name("echeck-agent"))


def keyring_config(tmp_path: Path) -> Path:
    """credentials = auto on a machine without a keyring: every command that opens it warns."""
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\ndata_dir = "{tmp_path / "data"}"\ncredentials = "auto"\n', encoding="utf-8")
    return path


def enroll_argv(config: Path) -> list[str]:
    return [
        AGENT,
        "--config",
        str(config),
        "enroll",
        "--cloud-url",
        f"http://127.0.0.1:{free_port()}",
        "--code",
        "K7QF-9MZC",
    ]


def run_on_terminal(argv: list[str]) -> str:
    """stderr on a pseudo-terminal, as when store IT types the command."""
    master, slave = pty.openpty()
    try:
        done = subprocess.run(argv, stderr=slave, stdout=subprocess.DEVNULL, timeout=60, check=False)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert done.returncode == 1
    return b"".join(chunks).decode()


def test_log_lines_are_sentences_on_a_terminal_and_json_in_a_pipe(tmp_path: Path) -> None:
    config = keyring_config(tmp_path)
    terminal = run_on_terminal(enroll_argv(config))
    assert "echeck-agent: warning: no OS keyring on this machine" in terminal
    assert '{"time"' not in terminal
    piped = subprocess.run(enroll_argv(config), capture_output=True, text=True, timeout=60, check=False)
    warning = json.loads(piped.stderr.splitlines()[0])
    assert warning["level"] == "WARNING"
    assert warning["message"].startswith("no OS keyring")
    forced = subprocess.run(
        [AGENT, "--log-format", "text", *enroll_argv(config)[1:]], capture_output=True, text=True, timeout=60
    )
    assert forced.stderr.startswith("echeck-agent: warning: no OS keyring")


def test_a_missing_config_file_is_an_error_not_defaults(tmp_path: Path) -> None:
    done = subprocess.run(
        [AGENT, "--config", str(tmp_path / "agnet.toml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "agnet.toml: no such configuration file" in done.stderr
    env = {**os.environ, "ECHECK_AGENT_CONFIG": str(tmp_path / "gone.toml")}
    by_env = subprocess.run([AGENT, "config"], capture_output=True, text=True, timeout=60, env=env)
    assert by_env.returncode == 2
    assert "gone.toml: no such configuration file" in by_env.stderr


@pytest.fixture
def register(tmp_path: Path) -> Register:
    return make_register(tmp_path)


def test_config_shows_the_cloud_url(
    register: Register, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    assert register.run("config") == 0
    assert "# cloud_url: none (not enrolled" in capsys.readouterr().out
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", enrollment_code(cloud)) == 0
    capsys.readouterr()
    assert register.run("config") == 0
    assert f'# cloud_url = "{cloud.url}"  (from enrollment' in capsys.readouterr().out


def test_a_wrong_url_path_at_enroll_is_reported_as_such(
    register: Register, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    code = enrollment_code(cloud)
    assert register.run("enroll", "--cloud-url", cloud.url + "/echeck", "--code", code) == 1
    err = capsys.readouterr().err
    assert f"no echeck cloud answers at {cloud.url}/echeck/v1/enroll (404): check the cloud URL" in err
    assert "refused the enrollment code" not in err
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", "ZZZZ-ZZZZ") == 1
    assert "the cloud refused the enrollment code (400)" in capsys.readouterr().err
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", code) == 0  # the code was not used up


@pytest.mark.parametrize("url", ["ftp://echeck.example.ru", "echeck.example.ru", "https://"])
def test_a_cloud_url_that_is_no_web_address_is_reported_as_such(
    register: Register, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was "cannot reach the cloud at ftp://...: Request URL is missing an 'http://' ... protocol..":
    # a network hint for a typing mistake.
    assert register.run("enroll", "--cloud-url", url, "--code", "K7QF-9MZC") == 1
    err = capsys.readouterr().err
    assert f"the cloud URL {url!r} is not a web address: type it as head office gave it" in err
    assert "cannot reach" not in err


def test_pos_token_is_printed_and_kept_private(
    register: Register, capsys: pytest.CaptureFixture[str]
) -> None:
    assert register.run("pos-token") == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 32
    assert register.run("pos-token") == 0
    assert capsys.readouterr().out.strip() == token
    assert (register.data_dir / "pos-token").stat().st_mode & 0o777 == 0o600


def test_requeue_of_a_key_that_is_not_dead_lettered_says_so(
    register: Register, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed "0 dead-lettered receipt(s) queued again" and exited 0 for a mistyped key.
    assert register.run("requeue", "--key", "9999078900001234:17:12345") == 1
    err = capsys.readouterr().err
    assert "9999078900001234:17:12345 is not a dead-lettered receipt of this register" in err
    assert register.run("requeue") == 0


def test_a_setting_of_the_wrong_type_is_said_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "'abc' is not a int".
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nlisten_port = "abc"\n', encoding="utf-8")
    assert main(["--config", str(config), "config"]) == 2
    assert "setting 'listen_port': 'abc' is not a whole number" in capsys.readouterr().err


def test_an_enrollment_lockout_is_said_as_one(
    register: Register, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "the cloud at .../v1/enroll answered 429: ..." with no hint of what happened.
    for n in range(6):
        register.run("enroll", "--cloud-url", cloud.url, "--code", f"QQQQ-QQQ{n}")
    capsys.readouterr()
    assert register.run("enroll", "--cloud-url", cloud.url, "--code", "QQQQ-QQQQ") == 1
    assert "the cloud locked enrollment out after too many wrong codes" in capsys.readouterr().err
