"""The prompt channel: a hook asks and waits a bounded time; a UI thread answers, or nobody does."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from agent.prompts import UI_GRACE_S, AnswerKind, PromptAnswer, PromptBroker, PromptRequest
from agent.service import CheckoutService
from pos_plugin.contract import AskMode, CardRequest, CheckoutState, OpenRequest
from receipts import Receipt


class ListQueue:
    def __init__(self) -> None:
        self.receipts: list[Receipt] = []

    def enqueue(self, receipt: Receipt, closed_at: datetime | None = None) -> bool:
        self.receipts.append(receipt)
        return True


def answer_first_prompt(broker: PromptBroker, answer: PromptAnswer) -> threading.Thread:
    """A stand-in cashier UI in a thread: long-polls like the real UI and answers what it sees."""

    def ui() -> None:
        version = 0
        while True:
            version, prompts = broker.wait_change(version, timeout=5)
            if prompts:
                broker.answer(prompts[0].prompt_id, answer)
                return

    thread = threading.Thread(target=ui, daemon=True)
    thread.start()
    while not broker.ui_connected():  # listening before the hook asks, as a running UI is
        time.sleep(0.005)
    return thread


@contextmanager
def listening_ui(broker: PromptBroker) -> Iterator[None]:
    """A UI that long-polls and never answers (the cashier looks away)."""
    stop = threading.Event()

    def ui() -> None:
        version = -1
        while not stop.is_set():
            version, _prompts = broker.wait_change(version, timeout=0.05)

    thread = threading.Thread(target=ui, daemon=True)
    thread.start()
    while not broker.ui_connected():
        time.sleep(0.005)
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def service() -> CheckoutService:
    svc = CheckoutService(ListQueue())
    svc.open(OpenRequest(checkout_id="c1"))
    return svc


def test_cashier_confirms_the_card_holder_phone() -> None:
    svc = service()
    svc.attach_card("c1", CardRequest(card_number="277", phone="+7 916 123 45 67"))
    ui = answer_first_prompt(svc.prompts, PromptAnswer(AnswerKind.CONFIRMED))
    assert svc.ask_and_wait("c1", timeout=5).kind is AnswerKind.CONFIRMED
    ui.join()
    view = svc.get("c1")
    assert (view.state, view.contact_masked) == (CheckoutState.CONTACT_GIVEN, "+7 *** ***-45-67")


def test_typed_contact_and_skip() -> None:
    svc = service()
    answer_first_prompt(svc.prompts, PromptAnswer(AnswerKind.CONTACT, "ivan@mail.ru"))
    svc.ask_and_wait("c1", timeout=5)
    assert svc.get("c1").contact_masked == "i***@mail.ru"
    assert svc.ask_and_wait("c1", timeout=5).kind is AnswerKind.KNOWN  # nothing asked twice

    other = service()
    answer_first_prompt(other.prompts, PromptAnswer(AnswerKind.SKIPPED))
    other.ask_and_wait("c1", timeout=5)
    assert other.get("c1").state is CheckoutState.CONTACT_SKIPPED


def test_no_ui_listening_is_answered_at_once_and_no_contact() -> None:
    svc = service()
    assert svc.ask_and_wait("c1", timeout=3600).kind is AnswerKind.NO_UI  # else this test takes an hour
    assert svc.get("c1").state is CheckoutState.CONTACT_ASKED
    assert svc.prompts.snapshot()[1] == []


def test_a_ui_counts_as_listening_between_its_long_polls_for_a_grace_period() -> None:
    now = [100.0]
    broker = PromptBroker(clock=lambda: now[0])
    assert not broker.ui_connected()
    broker.wait_change(-1, timeout=0)  # a UI polled (and got its page)
    now[0] += UI_GRACE_S - 0.1
    assert broker.ui_connected()
    request = PromptRequest("c1", AskMode.ENTER, timeout_s=0)  # the fake clock stands: no real wait
    broker.publish(request)
    assert broker.wait_answer(request.prompt_id).kind is AnswerKind.TIMED_OUT  # asked: nobody answered
    now[0] += 0.2
    assert not broker.ui_connected()
    request = PromptRequest("c1", AskMode.ENTER, timeout_s=3600)
    broker.publish(request)
    assert broker.wait_answer(request.prompt_id).kind is AnswerKind.NO_UI


def test_a_hook_asking_while_a_ui_listens_waits_for_the_answer_or_the_timeout() -> None:
    svc = service()
    with listening_ui(svc.prompts):
        assert svc.ask_and_wait("c1", timeout=0.2).kind is AnswerKind.TIMED_OUT
    assert svc.get("c1").state is CheckoutState.CONTACT_ASKED


def test_pos_moving_on_withdraws_the_prompt() -> None:
    svc = service()
    result: list[PromptAnswer] = []
    with listening_ui(svc.prompts):
        asker = threading.Thread(target=lambda: result.append(svc.ask_and_wait("c1", timeout=30)))
        asker.start()
        prompts: list[PromptRequest] = []
        while not prompts:
            _version, prompts = svc.prompts.wait_change(0, timeout=5)
        assert [p.mode for p in prompts] == [AskMode.ENTER]
        svc.cancel("c1")
        asker.join(timeout=5)
    assert result[0].kind is AnswerKind.WITHDRAWN
    assert svc.prompts.answer(prompts[0].prompt_id, PromptAnswer(AnswerKind.SKIPPED)) is False


def test_broker_answers_late_or_unknown_prompts_with_false() -> None:
    now = [0.0]
    broker = PromptBroker(clock=lambda: now[0])
    request = PromptRequest("c1", AskMode.ENTER, timeout_s=1)
    broker.publish(request)
    assert broker.snapshot()[1] == [request]
    now[0] = 2.0
    assert broker.snapshot()[1] == []
    assert broker.answer(request.prompt_id, PromptAnswer(AnswerKind.SKIPPED)) is False
    assert broker.answer("nope", PromptAnswer(AnswerKind.SKIPPED)) is False
    assert broker.wait_answer(request.prompt_id).kind is AnswerKind.TIMED_OUT
