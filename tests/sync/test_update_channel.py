"""Update channels end to end: head office puts a store on beta with `echeck-cloud store channel`, the
register's heartbeat answer says so, the worker follows it, and the fleet shows version and channel."""

import json
from collections.abc import Iterator

import httpx
import pytest

from cloud.cli import main as cloud_cli
from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.protocol import HEARTBEAT_PATH
from sync.settings import SyncSettings
from sync.worker import SyncWorker
from tests.sync.conftest import Cloud


@pytest.fixture
def client(cloud: Cloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.url, auth=BearerToken(cloud.token), timeout=10) as c:
        yield c


def tenant_of(cloud: Cloud) -> int:
    head_office = {"Authorization": f"Bearer {cloud.api_key}"}
    return int(httpx.get(cloud.url + "/v1/stores", headers=head_office).json()["stores"][0]["tenant_id"])


def test_head_office_puts_a_store_on_beta_and_its_register_follows(
    cloud: Cloud, client: httpx.Client, outbox: Outbox, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = SyncSettings(cloud.store_id, agent_version="0.2.0", update_channel="stable")
    worker = SyncWorker(outbox, client, settings)
    ack = worker.heartbeat()
    assert ack is not None
    assert ack.update_channel == "stable"
    tenant = str(tenant_of(cloud))
    args = ["--database-url", cloud.database_url, "store", "channel", "--tenant", tenant]
    assert cloud_cli([*args, "--store", str(cloud.store_id), "--channel", "beta", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"channel": "beta", "stores": [cloud.store_id]}
    assert worker.status.update_channel == "stable"
    ack = worker.heartbeat()
    assert ack is not None
    assert ack.update_channel == "beta"
    assert worker.status.update_channel == "beta"
    worker.heartbeat()  # now reporting beta
    head_office = {"Authorization": f"Bearer {cloud.api_key}"}
    fleet = httpx.get(cloud.url + "/v1/fleet/status", headers=head_office).json()
    [store] = [s for s in fleet["stores"] if s["id"] == cloud.store_id]
    assert store["update_channel"] == "beta"
    [register] = store["registers"]
    assert (register["agent_version"], register["update_channel"]) == ("0.2.0", "beta")
    stores = httpx.get(cloud.url + "/v1/stores", headers=head_office).json()["stores"]
    assert [s["update_channel"] for s in stores if s["id"] == cloud.store_id] == ["beta"]


def test_an_agent_without_channels_gets_the_answer_it_knows(cloud: Cloud, client: httpx.Client) -> None:
    """Agents before channels forbid unknown fields in the answer: the cloud sends none to them."""
    beat = {"agent_version": "0.1.0", "queue_depth": 0, "register_time": "2026-11-23T10:15:01Z"}
    answer = client.post(HEARTBEAT_PATH, json=beat)
    assert answer.status_code == 200
    assert set(answer.json()) == {"cloud_time", "clock_skew_s"}


def test_a_store_of_another_tenant_or_an_unknown_channel_is_refused(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--database-url", cloud.database_url, "store", "channel", "--tenant", str(tenant_of(cloud) + 99)]
    assert cloud_cli([*base, "--store", str(cloud.store_id), "--channel", "beta"]) != 0
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cloud_cli([*base, "--store", str(cloud.store_id), "--channel", "nightly"])
