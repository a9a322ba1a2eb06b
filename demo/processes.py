"""Start echeck's processes, wait until they answer, stop them cleanly (SIGTERM, then SIGKILL)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tool(name: str) -> str:
    """A console script of this installation (the venv's bin), so the demo never picks a stranger's."""
    path = BIN / name
    return str(path) if path.exists() else name


def run_cli(args: Sequence[str], env: dict[str, str] | None = None) -> Any:
    """Run a CLI command that prints one JSON document last; a failure raises with its stderr."""
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} {' '.join(args[1:3])} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_json(args: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a CLI command that prints one JSON object."""
    doc: dict[str, Any] = run_cli(args, env)
    return doc


@dataclass
class Service:
    name: str
    args: list[str]
    url: str
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, wait_path: str = "/healthz", timeout: float = 60.0) -> "Service":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + wait_path, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}"
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a watchdog or a power cut would."""
        if self.running:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class CloudSetup:
    url: str
    database_url: str
    tenant_id: int
    api_key: str
    store_id: int


def cloud_cli(database_url: str) -> list[str]:
    return [tool("echeck-cloud"), "--database-url", database_url]


def prepare_cloud(
    database_url: str, tenant: str = "Demo Retail", store: str = "Store 1"
) -> tuple[int, str, int]:
    """Migrate, create a tenant and a store; returns (tenant id, tenant api key, store id)."""
    base = cloud_cli(database_url)
    subprocess.run([*base, "migrate"], check=True, capture_output=True, timeout=120)
    made = run_json([*base, "tenant", "add", tenant, "--json"])
    shop = run_json([*base, "store", "add", "--tenant", str(made["id"]), store, "--json"])
    return made["id"], made["api_key"], shop["id"]


def create_owner(database_url: str, tenant_id: int, email: str = "owner@demo.example") -> tuple[str, str]:
    """The tenant's head-office owner with a generated password; returns (e-mail, password)."""
    made = run_json(
        [
            *cloud_cli(database_url),
            "user",
            "add",
            "--tenant",
            str(tenant_id),
            "--email",
            email,
            "--role",
            "owner",
            "--json",
        ]
    )
    return made["email"], made["password"]


def enrollment_code(database_url: str, store_id: int) -> str:
    return str(
        run_json([*cloud_cli(database_url), "enroll-code", "--store", str(store_id), "--json"])["code"]
    )


def cloud_service(database_url: str, port: int, log_path: Path) -> Service:
    args = [*cloud_cli(database_url), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return Service("cloud", args, f"http://127.0.0.1:{port}", log_path)


# Each agent's POS token by its URL, read as store IT reads it (`echeck-agent pos-token`): the POS simulator
# sends it with every checkout call, and the agent's full status needs it.
_POS_TOKENS: dict[str, str] = {}


def write_agent_config(path: Path, port: int, data_dir: Path, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[agent]\n"
        f"listen_port = {port}\n"
        f'data_dir = "{data_dir}"\n'
        'credentials = "file"\n' + extra,  # never touch the demo user's own keyring
        encoding="utf-8",
    )
    _POS_TOKENS[f"http://127.0.0.1:{port}"] = pos_token(path)
    return path


def pos_token(config: Path) -> str:
    args = [tool("echeck-agent"), "--config", str(config), "pos-token"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"echeck-agent pos-token failed: {done.stderr.strip()[-800:]}")
    return done.stdout.strip()


def pos_headers(agent_url: str) -> dict[str, str]:
    token = _POS_TOKENS.get(agent_url)
    return {"Authorization": f"Bearer {token}"} if token else {}


ATOL_READY = "/api/v2/operations/queryDeviceInfo"


@dataclass
class AtolBench:
    """The ATOL web server emulator and the port the agent's ATOL proxy takes in front of it."""

    emulator: Service
    proxy_url: str
    agent_toml: str


def atol_bench(logs: Path) -> AtolBench:
    emulator_port, proxy_port = free_port(), free_port()
    emulator = Service(
        "ATOL emulator",
        [tool("echeck-atol-emulator"), "--port", str(emulator_port)],
        f"http://127.0.0.1:{emulator_port}",
        logs / "atol-emulator.log",
    )
    agent_toml = (
        'hook = "atol-proxy"\n'
        "ask_timeout_s = 0.15\n"  # no cashier's popup in the demo: the POS's own contacts are the 1008s
        f'[atol]\nlisten_port = {proxy_port}\nupstream = "{emulator.url}"\n'
    )
    return AtolBench(emulator, f"http://127.0.0.1:{proxy_port}", agent_toml)


def wait_for_listener(url: str, timeout: float = 60.0) -> None:
    """Until something accepts TCP connections at `url`'s host and port: the agent answers its /healthz
    before its ATOL proxy (a thread of its own) listens, and the POS must not print into nothing."""
    parsed = httpx.URL(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((parsed.host, parsed.port or 80), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {url} after {timeout:.0f} s") from None
            time.sleep(0.1)


def atol_journal(emulator_url: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(f"{emulator_url}/emulator/journal", timeout=10).raise_for_status().json()
    return doc


def enroll_agent(config: Path, cloud_url: str, code: str) -> None:
    done = subprocess.run(
        [tool("echeck-agent"), "--config", str(config), "enroll", "--cloud-url", cloud_url, "--code", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"enrollment failed: {done.stderr.strip()[-800:]}")


def agent_service(config: Path, port: int, log_path: Path) -> Service:
    return Service(
        "agent", [tool("echeck-agent"), "--config", str(config), "run"], f"http://127.0.0.1:{port}", log_path
    )


def pos_simulator(agent_url: str, receipts: int, rate: float, seed: int, report: Path) -> list[str]:
    return [
        tool("echeck-pos-sim"),
        "--agent",
        agent_url,
        *([f"--token={_POS_TOKENS[agent_url]}"] if agent_url in _POS_TOKENS else []),
        "--receipts",
        str(receipts),
        "--rate",
        str(rate),
        "--seed",
        str(seed),
        "--report",
        str(report),
        "--progress",
    ]


def cloud_count(cloud_url: str, api_key: str, store_id: int) -> int:
    response = httpx.get(
        f"{cloud_url}/v1/stores/{store_id}/receipts",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    response.raise_for_status()
    return int(response.json()["count"])


def agent_status(agent_url: str) -> dict[str, Any]:
    answer = httpx.get(f"{agent_url}/agent/v1/status", headers=pos_headers(agent_url), timeout=5)
    doc: dict[str, Any] = answer.raise_for_status().json()
    return doc


# -- delivery: the fake providers and the tenant's channels pointing at them -------------------------------


@dataclass
class Providers:
    service: Service
    ports: dict[str, int]


def fakes_service(log_path: Path) -> Providers:
    """`echeck-fakes`: SMTP, FCM, a Viber gateway and SMS.ru on loopback ports chosen here."""
    names = ("smtp", "smtp-control", "fcm", "viber", "smsru")
    ports = {name: free_port() for name in names}
    args = [tool("echeck-fakes"), *(a for n in names for a in (f"--{n}-port", str(ports[n])))]
    return Providers(Service("fakes", args, f"http://127.0.0.1:{ports['fcm']}", log_path), ports)


def configure_delivery(
    database_url: str, tenant_id: int, api_key: str, cloud_url: str, ports: dict[str, Any]
) -> None:
    """Point the tenant's channels at the fakes (`echeck-cloud channels set`) and the fakes' delivery
    reports at the cloud (their `/_fake/behaviour` control API, like a provider's account settings)."""
    local = "http://127.0.0.1"
    channels = {
        "email": [
            "host=127.0.0.1",
            f"port={ports['smtp']}",
            "sender=Demo Retail <receipts@demo.example>",
            "webhook_secret=demo-mail-secret",
        ],
        "push": [f"base_url={local}:{ports['fcm']}", "project_id=demo-app", "access_token=demo-token"],
        "viber": [f"base_url={local}:{ports['viber']}", "auth_token=demo-viber-token"],
        "sms": [
            f"base_url={local}:{ports['smsru']}",
            "api_id=demo-sms-api-id",
            "callback_secret=demo-sms-secret",
        ],
    }
    base = [*cloud_cli(database_url), "channels", "set", "--tenant", str(tenant_id)]
    commands = [
        [*base, "--channel", channel, *(a for s in settings for a in ("--setting", s)), "--json"]
        for channel, settings in channels.items()
    ]
    with ThreadPoolExecutor(4) as pool:  # each call is mostly Python's start-up: side by side
        list(pool.map(run_json, commands))
    callbacks = f"{cloud_url}/v1/delivery/callbacks/{tenant_id}"
    behaviour = {
        "smtp-control": {"callback_url": f"{callbacks}/email", "secret": "demo-mail-secret"},
        "fcm": {"callback_url": f"{cloud_url}/v1/delivery/app/events", "secret": api_key},
        "viber": {"callback_url": f"{callbacks}/viber"},
        "smsru": {"callback_url": f"{callbacks}/sms/demo-sms-secret"},
    }
    for name, doc in behaviour.items():
        httpx.post(f"{local}:{ports[name]}/_fake/behaviour", json=doc, timeout=10).raise_for_status()


def delivery_summary(cloud_url: str, api_key: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {api_key}"}
    r = httpx.get(f"{cloud_url}/v1/delivery/summary", headers=auth, timeout=10)
    total: dict[str, Any] = r.raise_for_status().json()["total"]
    return total
