"""Zeroconf on loopback: the UI finds what the agent advertises; a loopback agent is not advertised."""

from agent.discovery import Advertisement, advertisement_for
from ui.cli import build_parser
from ui.discovery import discover_agent


def test_ui_finds_an_advertised_agent_on_loopback() -> None:
    advert = Advertisement(18765, ["127.0.0.1"], name="echeck test agent", interfaces=["127.0.0.1"])
    advert.start()
    try:
        assert discover_agent(timeout_s=10, interfaces=["127.0.0.1"]) == "http://127.0.0.1:18765"
    finally:
        advert.stop()


def test_a_loopback_agent_is_not_advertised() -> None:
    assert advertisement_for("127.0.0.1", 8765) is None
    assert advertisement_for("localhost", 8765) is None
    assert advertisement_for("192.0.2.10", 8765).info.port == 8765


def test_cli_help_names_the_ways_to_find_the_agent() -> None:
    text = build_parser().format_help()
    assert "--agent" in text
    assert "--discover" in text
    assert "--secret-file" in text
