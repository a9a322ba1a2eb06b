"""The OpenAPI documents are the contracts: schemathesis (`--checks all`) against the cloud and the agent's
checkout API over loopback finds no 5xx and no answer that disagrees with its document.

Bounded (`--max-examples`, all phases) so both runs take well under two minutes on two cores. Business rules
the schema cannot express (an enrollment code that does not exist, a contact that is no phone or e-mail) are
refused 400/404/409/410/422 with a reason; `positive_data_acceptance` is told that those answers are how
the API refuses schema-valid data, and every one of them must still match its documented schema.
Generated strings are UTF-8 (`codec`): a lone surrogate is not text (RFC 8259 section 8.1) and the cloud
refuses it anyway (tests/cloud/test_wire_limits.py).
"""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.bootstrap import Agent, create_app
from agent.config import load_config
from sync.protocol import ENROLL_PATH
from tests.support.cloud_process import cloud_process, seeded_database
from tests.support.live_server import live_server

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
MAX_EXAMPLES = 25
ACCEPTED_REFUSALS = [200, 201, 400, 401, 403, 404, 409, 410, 422, 429]


def _config(path: Path, auth: dict[str, str], parameters: dict[str, object] | None = None) -> Path:
    lines = ["[generation]", 'codec = "utf-8"', ""]
    if parameters:
        lines += ["[parameters]", *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in parameters.items()), ""]
    for scheme, token in auth.items():
        lines += [f"[auth.openapi.{scheme}]", f"bearer = {json.dumps(token)}", ""]
    lines += ["[checks.positive_data_acceptance]", f"expected-statuses = {ACCEPTED_REFUSALS}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _fuzz(schema_url: str, config: Path, *extra: str) -> None:
    """Run the CLI in the config's directory (its cache goes there, not into the repo)."""
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(config),
            "run",
            schema_url,
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            # One worker: two threads compiling generated code at once crash CPython 3.11's AST builder
            # inside schemathesis ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--seed",
            "20261130",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "30",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]


@pytest.fixture
def cloud_with_credentials(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    db = seeded_database(tmp_path)
    with cloud_process(db.url, tmp_path / "serve.log") as (base, _pid):
        token = httpx.post(f"{base}{ENROLL_PATH}", json={"code": db.enrollment_code}, timeout=30).json()[
            "token"
        ]
        yield base, {"RegisterToken": token, "TenantApiKey": db.api_key}


def test_the_cloud_answers_as_its_openapi_document_says(
    cloud_with_credentials: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, auth = cloud_with_credentials
    _fuzz(f"{base}/openapi.json", _config(tmp_path / "schemathesis.toml", auth))


def test_the_agents_checkout_api_answers_as_its_openapi_document_says(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    config_file = tmp_path / "agent.toml"
    config_file.write_text(f'[agent]\ndata_dir = "{agent_dir}"\ncredentials = "file"\n', encoding="utf-8")
    agent = Agent(load_config(config_file, env={}))
    with live_server(create_app(agent)) as base:
        # No cashier UI runs here: `ask-contact?wait=S` would wait S seconds for nobody. A short wait still
        # goes through the whole path (asked, timed out, answered).
        config = _config(tmp_path / "schemathesis.toml", {}, {"query.wait": 0.05})
        _fuzz(f"{base}/openapi.json", config, "--include-path-regex", "^/pos/")
