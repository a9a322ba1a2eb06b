"""The agent's side of the hooks: what a register's race looks like in the log."""

import logging

import pytest

from agent.hooks import CheckoutHook
from agent.service import CheckoutService
from pos_plugin.contract import OpenRequest
from tests.agent.test_prompts import ListQueue


def test_an_ask_after_the_sale_ended_is_one_warning_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = CheckoutService(ListQueue())
    hook = CheckoutHook(service)
    service.open(OpenRequest(checkout_id="s1"))
    hook.sale_cancelled("s1")  # the register ended the sale before the tap's ask ran
    with caplog.at_level(logging.DEBUG):
        assert hook.ask_contact("s1", timeout=5) is None
    ended = [r for r in caplog.records if r.name == "agent.hooks"]
    assert [(r.levelno, r.getMessage()) for r in ended] == [
        (logging.WARNING, "ask skipped: the sale already ended")
    ]
    assert ended[0].exc_info is None
    assert (ended[0].checkout, ended[0].state) == ("s1", "cancelled")  # type: ignore[attr-defined]
