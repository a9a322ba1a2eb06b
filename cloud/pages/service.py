"""Finding the receipt a buyer asks for: by the delivery's link token, or by the checkout's landing token."""

from datetime import datetime, timedelta

from sqlmodel import Session, select

from cloud.delivery import service as delivery
from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow

# The popup's QR code is scanned at the till; a receipt older than this is not what the buyer is after, and
# the window keeps the lookup to a register's recent receipts (there is no index on the landing token).
LANDING_WINDOW = timedelta(days=2)


def receipt_by_link(session: Session, token: str, now: datetime) -> ReceiptRow | None:
    """The link in an e-mail, push, Viber or SMS; opening it is the real "opened"."""
    if not 16 <= len(token) <= 32:
        return None
    found = delivery.open_page(session, token, now)
    return found[0] if found else None


def receipt_by_landing(session: Session, register_id: int, landing: str, now: datetime) -> ReceiptRow | None:
    """The popup's QR code: the agent put `extra.landing` into the receipt; None until it has synced."""
    if not 12 <= len(landing) <= 32:
        return None
    rows = session.exec(
        select(ReceiptRow)
        .where(ReceiptRow.register_id == register_id, ReceiptRow.received_at >= now - LANDING_WINDOW)
        .order_by(ReceiptRow.id.desc())  # type: ignore[union-attr]
    )
    for row in rows:
        if row.payload.get("extra", {}).get("landing") == landing:
            link = session.exec(
                select(DeliveryRow.link_token).where(DeliveryRow.receipt_id == row.id)
            ).first()
            if link:
                delivery.open_page(session, link, now)  # scanning at the till is an open too
            return row
    return None
