"""The checkout service: keeps live checkouts, runs the state machine, writes closed receipts to the outbox.

It implements `pos_plugin.contract.CheckoutPort`, so the localhost API (and later the ATOL proxy and the
Shtrih-M tap) drive the same code.
"""

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from agent.checkout import OPEN_STATES, Checkout, LoyaltyCard, from_record, to_record
from agent.prompts import AnswerKind, PromptAnswer, PromptBroker, PromptRequest
from pos_plugin.contract import (
    AskMode,
    CardRequest,
    CashierAnswer,
    CheckoutConflict,
    CheckoutNotFound,
    CheckoutView,
    CloseRequest,
    CloseResult,
    ContactPrompt,
    ContactRequest,
    OpenRequest,
    ReceiptNotQueued,
    TooManyCheckouts,
)
from receipts import BuyerContact, InvalidContact, Receipt, parse_contact
from sync.outbox import SavedCheckout

log = logging.getLogger(__name__)
KEEP_ENDED = 10_000  # ended checkouts remembered so that a repeated close or cancel is answered correctly
MAX_OPEN = 100  # open checkouts at once; past it new opens are refused, a live one is never forgotten
IDLE_S = 3600.0  # an open checkout without a call for this long is abandoned and may be forgotten


class ReceiptQueue(Protocol):
    def enqueue(self, receipt: Receipt, closed_at: datetime | None = None) -> bool: ...


class CheckoutJournal(Protocol):
    """Where checkouts are kept durably (the outbox's database): open ones survive a restart, and a
    close stores the receipt and the closed checkout in one transaction."""

    def enqueue(
        self, receipt: Receipt, closed_at: datetime | None = None, checkout: SavedCheckout | None = None
    ) -> bool: ...

    def save_checkout(self, checkout: SavedCheckout) -> None: ...

    def checkout(self, checkout_id: str) -> SavedCheckout | None: ...

    def open_checkouts(self) -> list[SavedCheckout]: ...


class CheckoutService:
    def __init__(
        self,
        queue: ReceiptQueue,
        on_queued: Callable[[], None] = lambda: None,
        prompts: PromptBroker | None = None,
        max_open: int = MAX_OPEN,
        idle_s: float = IDLE_S,
        clock: Callable[[], float] = time.monotonic,
        journal: CheckoutJournal | None = None,
    ) -> None:
        self._queue = queue
        self._on_queued = on_queued
        self.prompts = prompts or PromptBroker()
        self._max_open = max_open
        self._idle_s = idle_s
        self._clock = clock
        # Open checkouts, least recently called first, with when they were last called; ended ones apart:
        # however many checkouts come and go, only abandoned open ones are ever forgotten.
        self._open: OrderedDict[str, tuple[Checkout, float]] = OrderedDict()
        self._ended: OrderedDict[str, Checkout] = OrderedDict()
        self._lock = threading.RLock()
        self._journal = journal
        if journal is not None:  # the checkouts the POS had open when the agent stopped (or was killed)
            for saved in journal.open_checkouts():
                self._store(_restored(saved), persist=False)

    # -- CheckoutPort -------------------------------------------------------------------------------
    def open(self, request: OpenRequest) -> CheckoutView:
        checkout_id = request.checkout_id or uuid.uuid4().hex[:16]
        with self._lock:
            if self._lookup(checkout_id) is not None:
                raise CheckoutConflict(f"checkout {checkout_id} is already open or ended; use a new id")
            self._make_room()
            checkout = Checkout(checkout_id, datetime.now(UTC))
            self._store(checkout)
        log.info("checkout opened", extra={"checkout": checkout_id})
        return _view(checkout)

    def get(self, checkout_id: str) -> CheckoutView:
        with self._lock:
            return _view(self._find(checkout_id))

    def attach_card(self, checkout_id: str, request: CardRequest) -> CheckoutView:
        contact = _known_contact(request)
        with self._lock:
            checkout = self._find(checkout_id).attach_card(
                LoyaltyCard(request.card_number, request.holder_name, contact)
            )
            self._store(checkout)
        return _view(checkout)

    def ask_contact(self, checkout_id: str) -> ContactPrompt:
        with self._lock:
            checkout, prompt = self._find(checkout_id).ask()
            self._store(checkout)
        return ContactPrompt(
            checkout_id=checkout_id,
            mode=prompt.mode,
            masked_phone=prompt.contact.masked if prompt.contact else None,
            phone_tail=prompt.phone_tail,
            buyer_name=prompt.buyer_name,
        )

    def ask_and_wait(self, checkout_id: str, timeout: float) -> PromptAnswer:
        """Ask the cashier's UI and wait at most `timeout` seconds; the answer is applied to the checkout.

        Used by hooks that must decide before the receipt prints (ATOL proxy, Shtrih-M tap, a POS that
        wants the agent to ask). On timeout or withdrawal the checkout goes on without a contact.
        """
        prompt = self.ask_contact(checkout_id)
        if prompt.mode is AskMode.NONE:
            return PromptAnswer(AnswerKind.KNOWN)
        request = PromptRequest(
            checkout_id, prompt.mode, prompt.masked_phone, prompt.phone_tail, prompt.buyer_name, timeout
        )
        self.prompts.publish(request)
        answer = self.prompts.wait_answer(request.prompt_id)  # never under self._lock: the till goes on
        try:
            if answer.kind is AnswerKind.CONFIRMED:
                self.set_contact(checkout_id, ContactRequest(confirm=True))
            elif answer.kind is AnswerKind.CONTACT:
                self.set_contact(checkout_id, ContactRequest(contact=answer.contact))
            elif answer.kind is AnswerKind.SKIPPED:
                self.set_contact(checkout_id, ContactRequest(skipped=True))
        except CheckoutConflict:  # the POS closed or cancelled meanwhile: the answer comes too late
            return PromptAnswer(AnswerKind.WITHDRAWN)
        except InvalidContact as exc:  # UIs validate first; a bad one still never blocks the sale
            log.warning("prompt answer ignored: %s", exc, extra={"checkout": checkout_id})
            return PromptAnswer(AnswerKind.SKIPPED)
        log.info("prompt answered", extra={"checkout": checkout_id, "answer": answer.kind.value})
        return answer

    def ask_cashier(self, checkout_id: str, wait_s: float) -> ContactPrompt:
        """`ask-contact?wait=S` for a POS that lets the agent ask: the prompt plus what came of it."""
        prompt = self.ask_contact(checkout_id)
        answer = self.ask_and_wait(checkout_id, wait_s)
        contact = self.get(checkout_id).contact_masked
        outcome = CashierAnswer(answer.kind.value)
        return prompt.model_copy(update={"answer": outcome, "contact_masked": contact})

    def set_contact(self, checkout_id: str, request: ContactRequest) -> CheckoutView:
        typed = parse_contact(request.contact) if request.contact and not request.skipped else None
        with self._lock:
            current = self._find(checkout_id)
            checkout = current.confirm_card_contact() if request.confirm else current.give_contact(typed)
            self._store(checkout)
        contact = checkout.contact
        log.info(
            "contact %s",
            "given" if contact else "skipped",
            extra={"checkout": checkout_id, "contact": contact.masked if contact else None},
        )
        return _view(checkout)

    def close(self, checkout_id: str, request: CloseRequest) -> CloseResult:
        with self._lock:
            current = self._find(checkout_id)
            receipt = Receipt(
                fiscal=request.fiscal,
                items=tuple(request.items),
                payments=tuple(request.payments),
                total=request.total,
                contact=current.contact,
                loyalty_card=current.card.number if current.card else None,
                extra={"checkout_id": checkout_id, "landing": current.landing_token},
            )
            closed, is_new = current.close(receipt)
            queued = False
            if is_new:
                try:
                    if self._journal is not None:  # the receipt and the closed checkout: both or neither
                        queued = self._journal.enqueue(receipt, checkout=_saved(closed))
                    else:
                        queued = self._queue.enqueue(receipt)
                except Exception as exc:  # the till goes on; the POS hears why the receipt was not queued
                    log.exception(
                        "receipt not queued", extra={"checkout": checkout_id, "receipt": str(receipt.key)}
                    )
                    raise ReceiptNotQueued(
                        f"receipt {receipt.key} was printed but not queued for the e-receipt: {exc}"
                    ) from exc
            self._store(closed, persist=False)
        self.prompts.withdraw(checkout_id)
        if queued:
            self._on_queued()
        log.info(
            "checkout closed",
            extra={
                "checkout": checkout_id,
                "receipt": str(receipt.key),
                "queued": queued,
                "total": receipt.total,
            },
        )
        return CloseResult(
            checkout_id=checkout_id,
            receipt_key=str(receipt.key),
            fns_qr=receipt.qr,
            queued=queued,
            contact_masked=receipt.contact.masked if receipt.contact else None,
        )

    def cancel(self, checkout_id: str) -> CheckoutView:
        with self._lock:
            checkout = self._find(checkout_id).cancel()
            self._store(checkout)
        self.prompts.withdraw(checkout_id)
        log.info("checkout cancelled", extra={"checkout": checkout_id})
        return _view(checkout)

    def landing_token(self, checkout_id: str) -> str | None:
        with self._lock:
            checkout = self._lookup(checkout_id)
        return checkout.landing_token if checkout else None

    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    # -- internals ----------------------------------------------------------------------------------
    def _find(self, checkout_id: str) -> Checkout:
        checkout = self._lookup(checkout_id)
        if checkout is None:
            raise CheckoutNotFound(f"no checkout {checkout_id}; open it first")
        return checkout

    def _lookup(self, checkout_id: str) -> Checkout | None:
        """In memory, else in the journal: a checkout ended before a restart still answers a retry."""
        live = self._open.get(checkout_id)
        if live is not None:
            return live[0]
        checkout = self._ended.get(checkout_id)
        if checkout is None and self._journal is not None:
            saved = self._journal.checkout(checkout_id)
            if saved is not None:
                checkout = _restored(saved)
                self._store(checkout, persist=False)
        return checkout

    def _store(self, checkout: Checkout, persist: bool = True) -> None:
        if persist and self._journal is not None:
            try:
                self._journal.save_checkout(_saved(checkout))
            except Exception:  # the till goes on: only a restart in this state would forget it
                log.exception("checkout state not saved", extra={"checkout": checkout.checkout_id})
        cid = checkout.checkout_id
        if checkout.state in OPEN_STATES:
            self._open[cid] = (checkout, self._clock())
            self._open.move_to_end(cid)
            return
        self._open.pop(cid, None)
        self._ended[cid] = checkout
        self._ended.move_to_end(cid)
        while len(self._ended) > KEEP_ENDED:
            self._ended.popitem(last=False)

    def _make_room(self) -> None:
        """Forget abandoned open checkouts when at the limit; refuse the new one if none is abandoned.
        A forgotten one stays in the journal: a late call for it still finds it there."""
        if len(self._open) < self._max_open:
            return
        stale_before = self._clock() - self._idle_s
        while self._open:
            oldest_id, (_checkout, touched) = next(iter(self._open.items()))
            if touched > stale_before:
                break
            del self._open[oldest_id]
            self.prompts.withdraw(oldest_id)
            log.warning("abandoned checkout forgotten", extra={"checkout": oldest_id})
        if len(self._open) >= self._max_open:
            raise TooManyCheckouts(
                f"{len(self._open)} checkouts are open on this agent (limit {self._max_open}): a new one is "
                f"refused until some are closed or cancelled, or left without a call for {self._idle_s:g} s"
            )


def _saved(checkout: Checkout) -> SavedCheckout:
    record = json.dumps(to_record(checkout), ensure_ascii=False, separators=(",", ":"))
    return SavedCheckout(checkout.checkout_id, record, checkout.state in OPEN_STATES)


def _restored(saved: SavedCheckout) -> Checkout:
    return from_record(json.loads(saved.record))


def _known_contact(request: CardRequest) -> BuyerContact | None:
    """The loyalty system's contact for the card; a garbage one is ignored, never a blocked sale."""
    for text in (request.phone, request.email):
        if text:
            try:
                return parse_contact(text)
            except InvalidContact as exc:
                log.warning(
                    "card holder's contact ignored: %s", exc, extra={"card_suffix": request.card_number[-4:]}
                )
    return None


def _view(checkout: Checkout) -> CheckoutView:
    return CheckoutView(
        checkout_id=checkout.checkout_id,
        state=checkout.state,
        opened_at=checkout.opened_at,
        card_number=checkout.card.number if checkout.card else None,
        contact_masked=checkout.contact.masked if checkout.contact else None,
    )
