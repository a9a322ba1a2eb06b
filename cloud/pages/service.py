"""Finding the receipt a buyer asks for: by the delivery's link token, or by the checkout's landing token."""

from datetime import datetime, timedelta

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from cloud.accounts.models import Store, Tenant
from cloud.delivery import service as delivery
from cloud.ingest.models import ReceiptRow

# The popup's QR code is scanned at the till; a receipt older than this is not what the buyer is after.
LANDING_WINDOW = timedelta(days=2)


def receipt_by_link(session: Session, token: str, now: datetime) -> ReceiptRow | None:
    """The link in an e-mail, push, Viber or SMS. Reading it is a fetch; the page's script reports opens."""
    if not 16 <= len(token) <= 32:
        return None
    found = delivery.receipt_for_link(session, token)
    return found[0] if found else None


def landing_query(register_id: int, landing: str, now: datetime) -> SelectOfScalar[ReceiptRow]:
    """One probe of the (register_id, landing) index: a scan of the register's recent receipts per request
    let 8 clients saturate the cloud."""
    return (
        select(ReceiptRow)
        .where(
            ReceiptRow.register_id == register_id,
            ReceiptRow.landing == landing,
            ReceiptRow.received_at >= now - LANDING_WINDOW,
        )
        .order_by(ReceiptRow.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )


def landing_expired(session: Session, register_id: int, landing: str, now: datetime) -> bool:
    """The token was used, but longer ago than the landing window: the page says so (410)."""
    if not 12 <= len(landing) <= 32:
        return False
    row = session.exec(
        select(ReceiptRow.id)
        .where(ReceiptRow.register_id == register_id, ReceiptRow.landing == landing)
        .limit(1)
    ).first()
    return row is not None


def seller_of(session: Session, receipt: ReceiptRow) -> tuple[Tenant, Store]:
    """The tenant and store whose settings the page prints (seller, INN, address, time zone)."""
    tenant = session.get(Tenant, receipt.tenant_id)
    store = session.get(Store, receipt.store_id)
    assert tenant is not None  # foreign keys
    assert store is not None
    return tenant, store


def receipt_by_landing(session: Session, register_id: int, landing: str, now: datetime) -> ReceiptRow | None:
    """The popup's QR code: the agent put `extra.landing` into the receipt; None until it has synced."""
    if not 12 <= len(landing) <= 32:
        return None
    return session.exec(landing_query(register_id, landing, now)).first()
