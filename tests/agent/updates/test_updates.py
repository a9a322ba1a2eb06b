"""Acceptance of signed staged updates: a real TUF repository made by the release tool (tufup) in tmp,
served over HTTP on loopback; an installed "agent" 0.1.0 running as a real process; the agent's real
checkout service deciding when an update may be applied."""

from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from agent.service import CheckoutService
from agent.updates.apply import apply_staged, http_version_probe
from agent.updates.client import UpdateClient, UpdateRefused
from agent.updates.layout import Installation, LayoutError, check_separate
from agent.updates.policy import Verdict
from agent.updates.worker import UpdateWorker
from pos_plugin.contract import OpenRequest
from sync.outbox import Outbox
from tests.agent.updates.support import (
    ProcessService,
    install_first,
    make_bundle,
    served,
    update_repo,
)
from tests.support.live_server import free_port


class Store:
    """A register: the install root, its running agent process, its checkouts, an outbox beside."""

    def __init__(self, tmp: Path, url: str, repo: Path) -> None:
        tool = update_repo()
        self.repo, self.keys = repo, tmp / "keys"
        self.installation = install_first(
            tmp / "install", make_bundle(tmp, "0.1.0"), repo / "metadata" / "root.json", "0.1.0"
        )
        self.url = url
        self.data_dir = tmp / "data"
        self.outbox = Outbox(self.data_dir / "outbox.sqlite3")
        self.checkouts = CheckoutService(self.outbox, journal=self.outbox)
        self.service = ProcessService(free_port())
        self.service.start(self.installation.version_dir("0.1.0"))
        assert self.service.wait_version() == "0.1.0"
        self.clock = count(0.0, 10.0)  # every step is ten seconds later
        self.applied: list[object] = []
        self.worker = UpdateWorker(
            self.installation,
            lambda channel: UpdateClient(self.installation, url, channel),
            channel=lambda: "stable",
            open_checkouts=self.checkouts.open_count,
            launch=self.apply,
            check_interval_s=0.0,
            settle_s=15.0,
            clock=lambda: float(next(self.clock)),
        )
        self.tool = tool

    def apply(self, version: str) -> None:
        result = apply_staged(
            self.installation,
            version,
            self.service,
            http_version_probe(self.service.url),
            health_timeout_s=5.0,
            poll_s=0.1,
        )
        self.applied.append(result)

    def publish(self, tmp: Path, version: str, channel: str = "stable", *, broken: bool = False) -> Path:
        bundle = make_bundle(tmp, version, broken=broken)
        return Path(self.tool.add(self.repo, self.keys, channel, version, bundle))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    tool = update_repo()
    repo = tmp_path / "repo"
    tool.init(repo, tmp_path / "keys")
    with served(repo) as url:
        register = Store(tmp_path, url, repo)
        try:
            yield register
        finally:
            register.service.stop()
            register.outbox.close()


def test_a_signed_update_is_applied_when_no_checkout_is_open(store: Store, tmp_path: Path) -> None:
    store.publish(tmp_path, "0.2.0")
    outbox_before = (store.data_dir / "outbox.sqlite3").read_bytes()
    assert store.worker.step().verdict is Verdict.WAIT  # staged; the till must be idle for settle_s first
    assert store.installation.staged() == "0.2.0"
    assert store.service.wait_version() == "0.1.0"  # staging never touches the running version
    assert store.worker.step().verdict is Verdict.APPLY
    assert store.service.wait_version() == "0.2.0"
    assert store.installation.current() == "0.2.0"
    assert store.installation.state().previous == "0.1.0"
    assert store.installation.installed() == ["0.1.0", "0.2.0"]  # the previous stays for a manual step back
    assert (store.data_dir / "outbox.sqlite3").read_bytes() == outbox_before
    assert store.worker.step().verdict is Verdict.NOTHING  # up to date


def test_an_update_waits_while_a_checkout_is_open_and_applies_after_it_closes(
    store: Store, tmp_path: Path
) -> None:
    store.publish(tmp_path, "0.2.0")
    store.checkouts.open(OpenRequest(checkout_id="till-1-0001"))
    for _ in range(5):
        decision = store.worker.step()
        assert decision.verdict is Verdict.WAIT
        assert "1 checkout(s) open" in decision.reason
    assert store.service.wait_version() == "0.1.0"
    assert store.applied == []
    store.checkouts.cancel("till-1-0001")
    assert store.worker.step().verdict is Verdict.WAIT  # idle now, settling
    assert store.worker.step().verdict is Verdict.APPLY
    assert store.service.wait_version() == "0.2.0"


def test_a_tampered_target_is_refused_and_the_install_is_untouched(store: Store, tmp_path: Path) -> None:
    archive = store.publish(tmp_path, "0.2.0")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte changed after signing
    archive.write_bytes(bytes(data))
    client = UpdateClient(store.installation, store.url, "stable")
    with pytest.raises(UpdateRefused, match="LengthOrHashMismatch"):
        client.check_and_stage()
    assert store.installation.installed() == ["0.1.0"]
    assert store.installation.current() == "0.1.0"
    assert store.installation.staged() is None
    store.worker.step()
    assert store.worker.view().last_error is not None
    assert "refused" in (store.worker.view().last_error or "")
    assert store.service.wait_version() == "0.1.0"


def test_a_version_that_does_not_start_is_rolled_back_and_not_retried(store: Store, tmp_path: Path) -> None:
    store.publish(tmp_path, "0.2.0", broken=True)
    store.worker.step()
    assert store.worker.step().verdict is Verdict.APPLY
    [result] = store.applied
    assert not result.ok  # type: ignore[attr-defined]
    assert "rolled back to 0.1.0" in result.message  # type: ignore[attr-defined]
    assert store.installation.current() == "0.1.0"
    assert store.service.wait_version() == "0.1.0"
    assert store.service.starts == ["0.1.0", "0.2.0", "0.1.0"]
    assert store.installation.state().failed == ["0.2.0"]
    for _ in range(3):  # the failed version is never applied again
        assert store.worker.step().verdict is Verdict.NOTHING
    store.publish(tmp_path, "0.2.1")  # the fixed release goes through
    store.worker.step()
    store.worker.step()
    assert store.service.wait_version() == "0.2.1"


def test_channels_take_only_their_own_targets(store: Store, tmp_path: Path) -> None:
    store.publish(tmp_path, "0.3.0b1", channel="beta")
    assert UpdateClient(store.installation, store.url, "stable").check_and_stage() is None
    staged = UpdateClient(store.installation, store.url, "beta").check_and_stage()
    assert staged is not None
    assert staged.version == "0.3.0b1"
    with pytest.raises(store.tool.RepoError, match="pre-release"):
        store.publish(tmp_path, "0.3.0b2", channel="stable")
    store.publish(tmp_path, "0.3.0", channel="beta")
    store.tool.promote(store.repo, store.keys, "0.3.0", "beta", "stable")
    assert store.tool.listing(store.repo) == {"stable": ["0.3.0"], "beta": ["0.3.0b1", "0.3.0"]}
    staged = UpdateClient(store.installation, store.url, "stable").check_and_stage()
    assert staged is not None
    assert staged.version == "0.3.0"


def test_refreshed_metadata_is_still_trusted(store: Store, tmp_path: Path) -> None:
    store.publish(tmp_path, "0.2.0")
    store.tool.refresh(store.repo, store.keys)
    assert UpdateClient(store.installation, store.url, "stable").check_and_stage() is not None


def test_the_data_directory_must_stay_outside_the_install_root(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="outbox"):
        check_separate(tmp_path / "echeck", tmp_path / "echeck" / "data")
    check_separate(tmp_path / "echeck", tmp_path / "data")
    installation = Installation(tmp_path / "install")
    with pytest.raises(LayoutError, match="version"):
        installation.version_dir("../data")
