"""Receipts for tests and benchmarks, all built from the one reference receipt (`receipts/examples.py`):
the same FN, registration and item; `n` (or `fd`) makes each one's fiscal key unique.

- `wire_receipt(fd, ...)`: as the wire carries it (a register's batch);
- `make_receipt(n, ...)`: the domain value (what the agent closes and queues);
- `close_body(receipt)`: the close request a POS sends the agent for it.
"""

import copy
from datetime import datetime, timedelta
from typing import Any

from receipts import Receipt
from receipts.examples import REFERENCE_SALE
from sync.protocol import receipt_from_wire

FN_SERIAL = str(REFERENCE_SALE["fiscal"]["fn_serial"])  # type: ignore[index]
REGISTRATION = str(REFERENCE_SALE["fiscal"]["registration_number"])  # type: ignore[index]
PHONE = "79161234567"


def _sale(total: int) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(REFERENCE_SALE)
    doc["items"][0].update(price=total, total=total)
    doc["payments"][0]["amount"] = total
    doc["total"] = total
    doc.update(contact=None, loyalty_card=None, extra={})
    return doc


def wire_receipt(
    fd: int, fpd: int | None = None, total: int = 5200, contact: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """A valid receipt as the wire carries it; `fd` makes it unique. `extra` replaces top-level fields."""
    doc = _sale(total)
    doc["fiscal"].update(
        fd_number=fd, fpd=fpd or 600_000_000 + fd, receipt_number=fd % 1000, issued_at="2026-11-23T14:27:00"
    )
    doc["contact"] = contact
    doc.update(extra)
    return doc


def make_receipt(
    n: int,
    *,
    fn_serial: str = FN_SERIAL,
    with_contact: bool = True,
    fpd: int | None = None,
    phone: str = PHONE,
) -> Receipt:
    """The `n`-th receipt of one register's FN (FD n + 1), with the buyer's phone unless told not to."""
    doc = _sale(5200 + n % 1000)
    issued = datetime(2020, 9, 27, 14, 27) + timedelta(seconds=n)
    doc["fiscal"].update(
        fn_serial=fn_serial,
        fd_number=n + 1,
        fpd=fpd if fpd is not None else 617_635_937 + n,
        receipt_number=n % 1000 + 1,
        issued_at=issued.isoformat(),
    )
    if with_contact:
        doc["contact"] = {"kind": "phone", "value": phone}
    return receipt_from_wire(doc)


def close_body(receipt: Receipt) -> dict[str, Any]:
    """`POST /pos/v1/checkouts/{id}/close` for `receipt`, as a POS sends it."""
    f = receipt.fiscal
    return {
        "fiscal": {
            "fn_serial": f.fn_serial,
            "fd_number": f.fd_number,
            "fpd": f.fpd,
            "registration_number": f.registration_number,
            "shift_number": f.shift_number,
            "receipt_number": f.receipt_number,
            "issued_at": f.issued_at.isoformat(),
        },
        "items": [
            {
                "name": i.name,
                "price": i.price,
                "quantity": str(i.quantity),
                "total": i.total,
                "vat": str(i.vat),
            }
            for i in receipt.items
        ],
        "payments": [{"kind": str(p.kind), "amount": p.amount} for p in receipt.payments],
        "total": receipt.total,
    }
