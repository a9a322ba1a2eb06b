"""Finding the receipt a buyer asks for: by the delivery's link token, or by the checkout's landing token.

The page's own lookups (`page_by_link`, `page_by_landing`) fetch the receipt, its tenant and store and the
tenant's published template version in one query: the page is the cloud's hottest read."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from cloud.accounts.models import Store, Tenant
from cloud.db.types import utcnow
from cloud.delivery import service as delivery
from cloud.delivery.models import DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.pages import kept, versions
from cloud.pages.models import PageTemplate, PageTemplatePointer

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


@dataclass(frozen=True, slots=True)
class Found:
    """A receipt for its page: with its seller and the version of the template its tenant publishes now
    (None: the default template), named by its id and creation time (`versions.prepared`'s cache key)."""

    receipt: ReceiptRow
    tenant: Tenant
    store: Store
    version_id: int | None
    version_created_at: datetime | None
    keeping: kept.Keeping | None = None  # by the message link: the page kept rendered (cloud.pages.kept)


@cache
def _page_query() -> Any:
    return _joined(
        sa.select(
            ReceiptRow, Tenant, Store, col(PageTemplatePointer.version_id), col(PageTemplate.created_at)
        )
    )


def _joined(query: Any) -> Any:
    """`query` over the receipt with its tenant, store and the tenant's published template version."""
    return (
        query.join(Tenant, col(Tenant.id) == col(ReceiptRow.tenant_id))
        .join(Store, col(Store.id) == col(ReceiptRow.store_id))
        .outerjoin(PageTemplatePointer, col(PageTemplatePointer.tenant_id) == col(ReceiptRow.tenant_id))
        .outerjoin(PageTemplate, col(PageTemplate.id) == col(PageTemplatePointer.version_id))
    )


def without_transaction(session: Session) -> None:
    """On PostgreSQL the page's statements run outside an explicit transaction (autocommit): a page of a
    template that writes nothing but its fetch is reads and one insert, and BEGIN and COMMIT were two of its
    round trips. No effect on a session already in a transaction, nor on SQLite."""
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _found(session: Session, row: Any, keeping: kept.Keeping | None = None) -> Found | None:
    """The row as `Found`. When the published template may write more than the fetch (exposures, a promo
    code: `versions.Needs.writes`), the session leaves autocommit so those writes are one transaction (the
    next statement begins it; the session must not expire its objects on commit, as
    `cloud.deps.PageServices.session`'s)."""
    if row is None:
        return None
    found = Found(row[0], row[1], row[2], row[3], row[4], keeping)
    autocommit = session.connection().get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if autocommit and versions.prepared(session, found.version_id, found.version_created_at).needs.writes:
        session.commit()  # no I/O: nothing is open on the connection, which goes back to the pool
    return found


def link_shaped(token: str) -> bool:
    """Whether `token` could be a message link's: anything else is 404 without a query."""
    return 16 <= len(token) <= 32


def page_by_link(session: Session, token: str) -> Found | None:
    """`receipt_by_link` with the seller, the published version and the page kept for the link, in one
    query."""
    if not link_shaped(token):
        return None
    without_transaction(session)
    row = session.exec(_by_link(), params={"token": token}).first()
    if row is None:
        return None
    return _found(session, row, kept.keeping(row[5:], utcnow()))


@cache
def _by_link() -> Any:
    """With the page kept for the link (`kept.with_kept`): one statement whether it is served or not."""
    return kept.with_kept(_link_of(_page_query()))


def kept_by_link() -> Any:
    """The receipt's and tenant's ids and what `kept.keeping` reads, for the message link `:token`: no ORM
    entity, so a kept page is served from plain values (cloud.pages.kept_reader). Where nothing is kept,
    the stamp is not read (NULL): the page is rendered on the usual path, whose lookup reads it."""
    ids = sa.select(col(ReceiptRow.id), col(ReceiptRow.tenant_id)).select_from(ReceiptRow)
    return kept.with_kept(_link_of(_joined(ids)), only_if_kept=True)


def _link_of(query: Any) -> Any:
    return query.join(DeliveryRow, col(DeliveryRow.receipt_id) == col(ReceiptRow.id)).where(
        col(DeliveryRow.link_token) == sa.bindparam("token")
    )


def pages_of(session: Session, receipt_ids: Sequence[int]) -> list[Found]:
    """The receipts among `receipt_ids` that have a contact (each gets a message link), as `page_by_link`
    finds them: with the seller, the published version and what is kept for each."""
    query = kept.with_kept(
        _page_query().where(col(ReceiptRow.id).in_(receipt_ids), col(ReceiptRow.contact_kind).is_not(None))
    )
    now = utcnow()
    return [Found(r[0], r[1], r[2], r[3], r[4], kept.keeping(r[5:], now)) for r in session.exec(query)]


def page_by_landing(session: Session, register_id: int, landing: str, now: datetime) -> Found | None:
    """`receipt_by_landing` with the seller and the published version, in one query."""
    if not 12 <= len(landing) <= 32:
        return None
    without_transaction(session)
    query = (
        _page_query()
        .where(
            ReceiptRow.register_id == register_id,
            ReceiptRow.landing == landing,
            ReceiptRow.received_at >= now - LANDING_WINDOW,
        )
        .order_by(col(ReceiptRow.id).desc())
        .limit(1)
    )
    return _found(session, session.exec(query).first())
