"""What a hook in the register's data path tells the agent: the sale's life as four calls.

The ATOL proxy and the Shtrih-M tap see a sale start, must ask for the buyer's contact within a bounded
time (the till never waits longer), see it fiscalized with the register's data, or see it cancelled.
They call a `SaleHook`; the agent implements it on top of its checkout state machine. Implementations
must never raise into the relay: the tap and the proxy still guard every call.
"""

from dataclasses import dataclass
from typing import Protocol

from receipts import BuyerContact, FiscalData, Item, Payment


@dataclass(frozen=True, slots=True)
class ClosedSale:
    """Everything the register printed, as the hook read it from the protocol."""

    fiscal: FiscalData
    items: tuple[Item, ...]
    payments: tuple[Payment, ...]
    total: int  # kopecks, tag 1020


class SaleHook(Protocol):
    def sale_started(self, sale_id: str) -> None:
        """A receipt opened on the register (ATOL task seen, Shtrih-M 0x8D)."""

    def contact_from_pos(self, sale_id: str, contact: BuyerContact) -> None:
        """The POS itself wrote tag 1008: nothing to ask, but the receipt keeps the contact."""

    def ask_contact(self, sale_id: str, timeout: float) -> BuyerContact | None:
        """Ask the cashier; returns within `timeout` seconds. None: skipped, timed out or no UI."""

    def sale_fiscalized(self, sale_id: str, sale: ClosedSale) -> None:
        """The register closed the receipt: queue it with its fiscal data."""

    def sale_cancelled(self, sale_id: str) -> None:
        """The receipt was cancelled on the register (nothing printed)."""
