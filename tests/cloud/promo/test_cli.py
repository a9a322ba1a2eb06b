"""`echeck-cloud promo` as head office runs it on the server: real subprocesses on a real database."""

import json
from pathlib import Path

from tests.cloud.test_cli import run, run_json


def test_promo_rules_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cloud.db"
    tenant = str(run_json(url, "tenant", "add", "Shop")["id"])
    small = run(url, "promo", "set", "--tenant", tenant, "next10", "--percent", "10", "--length", "6")
    assert small.returncode == 1
    assert "нужна длина не меньше 8" in small.stderr
    assert "Traceback" not in small.stderr
    rule = run_json(
        url, "promo", "set", "--tenant", tenant, "next10", "--percent", "10", "--category", "Кофе",
        "--valid-days", "14", "--remind-before-h", "48",
    )  # fmt: skip
    assert (rule["headline"], rule["categories"], rule["valid_days"]) == (
        "−10 % на следующую покупку",
        ["Кофе"],
        14,
    )
    changed = run_json(url, "promo", "set", "--tenant", tenant, "next10", "--amount", "500")
    assert (changed["percent"], changed["amount"], changed["valid_days"]) == (None, 50000, 14)  # others kept
    assert run_json(url, "promo", "stop", "--tenant", tenant, "next10")["active"] is False
    listed = run(url, "promo", "list", "--tenant", tenant)
    assert "next10" in listed.stdout
    assert "off" in listed.stdout
    stats = json.loads(run(url, "promo", "stats", "--tenant", tenant, "--json").stdout)
    assert stats == [{"rule": "next10", "issued": 0, "redeemed": 0, "rate": 0.0, "reminded": 0}]
