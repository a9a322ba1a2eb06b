"""`echeck-agent discover` with a real zeroconf advertisement on the loopback interface."""

import json
from pathlib import Path

import pytest

from agent.discovery import Advertisement
from tests.agent.store_it import make_register


def test_discover_lists_an_advertised_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    advert = Advertisement(
        18766,
        ["127.0.0.1"],
        name="echeck agent on till-7",
        interfaces=["127.0.0.1"],
        register="store 12 register 31",
    )
    advert.start()
    try:
        assert register.run("discover", "--timeout", "3", "--interface", "127.0.0.1") == 0
        out = capsys.readouterr().out
        assert register.run("discover", "--timeout", "3", "--interface", "127.0.0.1", "--json") == 0
        found = json.loads(capsys.readouterr().out)
    finally:
        advert.stop()
    lines = out.splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "PORT", "REGISTER", "VERSION", "NAME"]
    [row] = [line for line in lines[1:] if "till-7" in line]
    assert "127.0.0.1" in row
    assert "18766" in row
    assert "store 12 register 31" in row
    [agent] = [a for a in found if a["name"] == "echeck agent on till-7"]
    assert (agent["address"], agent["port"], agent["register"]) == (
        "127.0.0.1",
        18766,
        "store 12 register 31",
    )


def test_discover_says_none_found_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register = make_register(tmp_path)
    assert register.run("discover", "--timeout", "1", "--interface", "127.0.0.1") == 0
    out = capsys.readouterr().out
    if out.startswith("HOST"):
        pytest.skip("another test's agent advertises on loopback right now")
    assert "none found in 1 s" in out
