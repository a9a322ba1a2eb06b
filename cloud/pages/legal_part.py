"""The legal part of a receipt's page, worked out once per receipt and kept in the process: the receipt
parsed from its stored payload, its `ReceiptView` (seller, items with VAT, the FNS QR string) and the HTML
of its legal blocks (receipt, totals, QR with its picture).

A stored receipt never changes, so what it renders to depends only on the receipt, the seller's settings
it prints (tenant and store: legal name, INN, taxation, address, place, time zone) and the legal blocks'
own settings (the receipt block's note). All of those are in the key: a changed INN or a new note shows on
the next fetch, as before (nothing to invalidate, no TTL). Reloads, a messenger's preview followed by the
buyer, a second device: each fetch after the first skips the payload's validation, the view, the QR code
and three block templates (~1 ms of CPU of a page's ~4, docs/performance.md, "E-receipt page").
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from cloud.accounts.models import Store, Tenant
from cloud.ingest.models import ReceiptRow
from cloud.pages.blocks import LEGAL, Settings, Shown
from cloud.pages.receipt_view import ReceiptView, receipt_view
from sync.protocol import receipt_from_wire


@dataclass(frozen=True, slots=True)
class LegalPart:
    view: ReceiptView
    blocks: Mapping[str, Markup]  # legal block id → the inside of its <section>, as the page includes it


# Per process, least recently used out first. An entry is ~6 KB.
MAX_ENTRIES = 1024
_parts: "OrderedDict[tuple[Any, ...], LegalPart]" = OrderedDict()
_lock = threading.Lock()

Render = Callable[[ReceiptView, Shown], Markup]


def _key(
    receipt: ReceiptRow, tenant: Tenant, store: Store, legal: Sequence[tuple[str, Settings]]
) -> tuple[Any, ...]:
    received: datetime | None = receipt.received_at  # with the id: another database's receipt 1 is not this
    return (
        receipt.id,
        received,
        tenant.legal_name,
        tenant.name,
        tenant.inn,
        tenant.taxation,
        store.address,
        store.settlement_place,
        store.name,
        store.time_zone,
        tuple(legal),  # settings are frozen pydantic models: hashable, equal by value
    )


def legal_part(
    receipt: ReceiptRow, tenant: Tenant, store: Store, shown: Sequence[Shown], render: Render
) -> LegalPart:
    """The receipt's view and its legal blocks' HTML (`render(view, shown)` draws one), from the cache when
    this receipt was rendered with the same seller settings and legal block settings before."""
    legal = [(s.block.id, s.settings) for s in shown if s.block.type in LEGAL]
    key = _key(receipt, tenant, store, legal)
    with _lock:
        hit = _parts.get(key)
        if hit is not None:
            _parts.move_to_end(key)
            return hit
    view = receipt_view(receipt_from_wire(receipt.payload), tenant, store)
    part = LegalPart(view, {s.block.id: render(view, s) for s in shown if s.block.type in LEGAL})
    with _lock:
        _parts[key] = part
        while len(_parts) > MAX_ENTRIES:
            _parts.popitem(last=False)
    return part


def clear() -> None:
    with _lock:
        _parts.clear()
