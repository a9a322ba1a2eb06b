"""What the .deb's maintainer scripts and a root shell rely on: `echeck-agent outbox`, root acting as the
data directory's owner, and the UI secret shared with the cashier's group."""

import grp
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent.local_secret import write_secret
from receipts import Receipt
from sync.outbox import Outbox
from tests.support.receipts import make_receipt

AGENT = str(Path(sys.executable).with_name("echeck-agent"))


def config_for(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(f'[agent]\ndata_dir = "{data_dir}"\ncredentials = "file"\n', encoding="utf-8")
    return path


def receipt(n: int) -> Receipt:
    return make_receipt(n)


def test_outbox_counts_what_is_not_in_the_cloud(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = config_for(tmp_path, data)
    empty = subprocess.run(
        [AGENT, "--config", str(config), "outbox", "--unsynced"], capture_output=True, text=True
    )
    assert (empty.returncode, empty.stdout.strip()) == (0, "0"), "no outbox yet: nothing to lose"
    data.mkdir()
    with Outbox(data / "outbox.sqlite3") as box:
        box.enqueue_many([receipt(1), receipt(2), receipt(3)])
        first = box.pending(10)[0]
        box.mark_acked([first.id])
        box.mark_rejected(box.pending(10)[0].id, "refused by the cloud")
    count = subprocess.run(
        [AGENT, "--config", str(config), "outbox", "--unsynced"], capture_output=True, text=True
    )
    assert count.stdout.strip() == "2", "one waiting and one dead-lettered are not in the cloud"
    said = subprocess.run([AGENT, "--config", str(config), "outbox"], capture_output=True, text=True)
    assert "2 receipt(s) not in the cloud (1 waiting, 1 dead-lettered), 1 synced" in said.stdout


def test_an_unreadable_outbox_is_an_error_not_zero(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "outbox.sqlite3").write_bytes(b"not a database" * 100)
    done = subprocess.run(
        [AGENT, "--config", str(config_for(tmp_path, data)), "outbox", "--unsynced"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "cannot read the outbox" in done.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root, to act as another user")
def test_root_acts_as_the_owner_of_the_data_directory() -> None:
    with tempfile.TemporaryDirectory(prefix="echeck-owner-") as tmp:  # pytest's tmp_path is root's only
        _root_acts_as_owner(Path(tmp))


def _root_acts_as_owner(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    tmp_path.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    config = config_for(tmp_path, data)
    config.chmod(0o644)
    # As the frozen agent runs (sys.frozen), with what the command imports already loaded: this test's
    # Python may live where `nobody` cannot read (/root/.pyenv); the packaged one is in /opt/echeck.
    code = (
        "import sys; sys.frozen = True\n"
        "import encodings.ascii, agent.cli, agent.pos_token, agent.logs, pythonjsonlogger.json\n"
        f"sys.exit(agent.cli.main(['--config', {str(config)!r}, 'pos-token']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = data / "pos-token"
    assert token.stat().st_uid == nobody.pw_uid, "a file the service (the owner) can read, not root's"


@pytest.mark.skipif(os.name != "posix", reason="POSIX groups")
def test_the_ui_secret_can_be_shared_with_a_group(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getegid()).gr_name  # a group this process is in (chgrp needs that)
    path = tmp_path / "ui-secret"
    secret = write_secret(path, group=group)
    assert path.read_text().strip() == secret
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.stat().st_gid == os.getegid()
    write_secret(path)
    assert path.stat().st_mode & 0o777 == 0o600, "without a group: the agent's user only"
    with pytest.raises(ValueError, match="no such group"):
        write_secret(path, group="no-such-group-echeck")
