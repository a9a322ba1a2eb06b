"""The agent's side of `drivers.hook.SaleHook`: register events become checkout calls, and the hook runs.

`CheckoutHook` adapts `CheckoutService` (the same state machine the localhost API drives) to what the
ATOL proxy and the Shtrih-M tap report. `start_hook` builds the configured one; the localhost checkout
API stays on whatever is chosen.
"""

import logging
import threading
from collections import OrderedDict
from typing import Protocol

from agent.checkout import OutOfOrder
from agent.config import AgentConfig
from agent.prompts import AnswerKind
from agent.service import CheckoutService
from drivers.hook import ClosedSale
from pos_plugin.contract import (
    CheckoutConflict,
    CloseRequest,
    ContactRequest,
    OpenRequest,
    TooManyCheckouts,
)
from receipts import BuyerContact, InvalidContact, parse_contact

log = logging.getLogger(__name__)
REMEMBERED = 1_000  # contacts the POS wrote itself, by sale, until the sale ends


class CheckoutHook:
    """Never raises to the driver for the till's sake: conflicts (a repeated event) are logged and dropped."""

    def __init__(self, service: CheckoutService) -> None:
        self.service = service
        self._pos_contacts: OrderedDict[str, BuyerContact] = OrderedDict()
        self._lock = threading.Lock()

    def sale_started(self, sale_id: str) -> None:
        try:
            self.service.open(OpenRequest(checkout_id=sale_id))
        except TooManyCheckouts as exc:  # the sale goes on; it only gets no e-receipt
            log.error("sale not tracked: %s", exc, extra={"checkout": sale_id})
        except CheckoutConflict:
            log.info("sale already known", extra={"checkout": sale_id})

    def contact_from_pos(self, sale_id: str, contact: BuyerContact) -> None:
        self._ensure_open(sale_id)
        with self._lock:
            self._pos_contacts[sale_id] = contact
            while len(self._pos_contacts) > REMEMBERED:
                self._pos_contacts.popitem(last=False)
        self.service.set_contact(sale_id, ContactRequest(contact=contact.value))

    def ask_contact(self, sale_id: str, timeout: float) -> BuyerContact | None:
        self._ensure_open(sale_id)
        try:
            answer = self.service.ask_and_wait(sale_id, timeout)
        except OutOfOrder as exc:
            # The register was faster than the ask (the sale closed or was cancelled before the ask ran):
            # a normal race, nobody is to be asked any more. One line, no traceback.
            log.warning(
                "ask skipped: the sale already ended",
                extra={"checkout": sale_id, "state": exc.state.value, "action": exc.action},
            )
            return None
        if answer.kind is AnswerKind.CONTACT and answer.contact:
            try:
                return parse_contact(answer.contact)
            except InvalidContact:
                return None
        if answer.kind is AnswerKind.KNOWN:
            with self._lock:
                return self._pos_contacts.get(sale_id)
        return None

    def sale_fiscalized(self, sale_id: str, sale: ClosedSale) -> None:
        self._ensure_open(sale_id)
        request = CloseRequest(
            fiscal=sale.fiscal, items=list(sale.items), payments=list(sale.payments), total=sale.total
        )
        try:
            self.service.close(sale_id, request)
        finally:
            with self._lock:
                self._pos_contacts.pop(sale_id, None)

    def sale_cancelled(self, sale_id: str) -> None:
        try:
            self.service.cancel(sale_id)
        except CheckoutConflict as exc:
            log.info("cancel ignored: %s", exc, extra={"checkout": sale_id})
        with self._lock:
            self._pos_contacts.pop(sale_id, None)

    def _ensure_open(self, sale_id: str) -> None:
        """The hook may have started after the sale did (agent restart): open it late."""
        try:
            self.service.get(sale_id)
        except LookupError:
            self.sale_started(sale_id)


class RunningHook(Protocol):
    def stop(self) -> None: ...


def start_hook(config: AgentConfig, service: CheckoutService) -> RunningHook | None:
    """The configured hook, started; None for `localhost` (the checkout API is the hook)."""
    hook = CheckoutHook(service)
    if config.hook == "atol-proxy":
        from drivers.atol.proxy import AtolProxyServer, ProxySettings

        settings = config.atol
        return AtolProxyServer(
            hook,
            ProxySettings(
                upstream=settings.upstream,
                ask_timeout_s=config.ask_timeout_s,
                upstream_timeout_s=settings.timeout_s,
            ),
            host=settings.listen_host,
            port=settings.listen_port,
            allowed_hosts=config.allowed_hosts,
        ).start()
    if config.hook == "shtrih-tap":
        from drivers.shtrih.tap import SerialTap, TapSettings

        shtrih = config.shtrih
        if not shtrih.pos_port or not shtrih.device_port:
            raise ValueError("hook shtrih-tap needs [shtrih] pos_port and device_port (see docs/drivers.md)")
        tap_settings = TapSettings(ask_timeout_s=config.ask_timeout_s, close_wait_s=shtrih.close_wait_s)
        return SerialTap(shtrih.pos_port, shtrih.device_port, hook, tap_settings, shtrih.baudrate).start()
    return None
