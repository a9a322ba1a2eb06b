"""The `Audience` of a page when it is opened, from what the cloud knows now: the receipt, its store's
region, loyalty (a card on the receipt, or a loyalty consent granted and not withdrawn), an installed app
(a push token registered for the contact), and the contact's receipt count. One function, so the identity
graph can extend it in one place."""

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col, select

from cloud.accounts.models import Store
from cloud.delivery.models import PushDevice
from cloud.ingest.models import ReceiptRow
from cloud.pages.segments import Audience
from cloud.privacy.consent import Purpose
from cloud.privacy.models import ConsentRecord


def categories_of(item_names: Sequence[str], categories: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """Purchased categories: a category whose keyword is part of an item's name (case-insensitive)."""
    names = [n.casefold() for n in item_names]
    return frozenset(
        category
        for category, words in categories.items()
        if any(w.strip() and w.strip().casefold() in n for w in words for n in names)
    )


def is_loyalty_member(session: Session, tenant_id: int, contact_hash: str) -> bool:
    latest = session.exec(
        select(ConsentRecord.granted)
        .where(
            ConsentRecord.tenant_id == tenant_id,
            ConsentRecord.subject_hash == contact_hash,
            ConsentRecord.purpose == Purpose.LOYALTY,
        )
        .order_by(col(ConsentRecord.id).desc())
        .limit(1)
    ).first()
    return bool(latest)


@cache
def _facts(loyalty: bool, app: bool, number: bool) -> Any:
    """One statement reading the wanted facts of a contact (built once: building it cost as much CPU as
    running it)."""
    tenant_id: Any = sa.bindparam("tenant_id")
    h: Any = sa.bindparam("contact_hash")
    receipt_id: Any = sa.bindparam("receipt_id")
    wanted: list[Any] = []
    if loyalty:
        wanted.append(
            select(ConsentRecord.granted)
            .where(
                col(ConsentRecord.tenant_id) == tenant_id,
                col(ConsentRecord.subject_hash) == h,
                ConsentRecord.purpose == Purpose.LOYALTY,
            )
            .order_by(col(ConsentRecord.id).desc())
            .limit(1)
            .scalar_subquery()
        )
    if app:
        wanted.append(
            sa.exists().where(col(PushDevice.tenant_id) == tenant_id, col(PushDevice.contact_hash) == h)
        )
    if number:
        wanted.append(
            select(func.count())
            .select_from(ReceiptRow)
            .where(
                col(ReceiptRow.contact_hash) == h,
                col(ReceiptRow.tenant_id) == tenant_id,
                col(ReceiptRow.id) <= receipt_id,
            )
            .scalar_subquery()
        )
    return sa.select(*wanted)


Flags = tuple[bool, bool, bool]  # which facts a page reads: loyalty, app, receipt number


def fact_flags(receipt: ReceiptRow, *, loyalty: bool, app: bool, number: bool) -> Flags:
    """The facts worth reading for this receipt: none without a contact, membership not when the receipt
    carries a loyalty card."""
    if receipt.contact_hash is None:
        return False, False, False
    return loyalty and not receipt.loyalty_card, app, number


def facts_query(flags: Flags) -> Any:
    """The statement reading the `flags` facts (one row, a column each, in the order of `Flags`); its
    parameters are `facts_params`."""
    return _facts(*flags)


def facts_params(receipt: ReceiptRow) -> dict[str, Any]:
    return {"tenant_id": receipt.tenant_id, "contact_hash": receipt.contact_hash, "receipt_id": receipt.id}


def audience_from(
    receipt: ReceiptRow,
    store: Store,
    categories: Mapping[str, Sequence[str]],
    flags: Flags,
    values: Sequence[Any],
) -> Audience:
    """The audience from the facts read (`values`, the `flags` columns of `facts_query`); a fact not read
    keeps its default."""
    names = [str(i.get("name", "")) for i in receipt.payload.get("items", []) if isinstance(i, dict)]
    member = bool(receipt.loyalty_card)
    installed = False
    count = 1
    read = iter(values)
    if flags[0]:
        member = bool(next(read))
    if flags[1]:
        installed = bool(next(read))
    if flags[2]:
        count = int(next(read))
    return Audience(
        region=store.region,
        loyalty_member=member,
        app_installed=installed,
        total=receipt.total,
        categories=categories_of(names, categories),
        store_id=receipt.store_id,
        receipt_number=max(count, 1),
        has_contact=receipt.contact_hash is not None,
    )


def audience_of(
    session: Session,
    receipt: ReceiptRow,
    store: Store,
    categories: Mapping[str, Sequence[str]],
    *,
    loyalty: bool = True,
    app: bool = True,
    number: bool = True,
) -> Audience:
    """`audience_for` for the page: the store already loaded, and only the facts its template can use
    (`loyalty`, `app`, `number`), read in one statement; a fact not read keeps its default."""
    flags = fact_flags(receipt, loyalty=loyalty, app=app, number=number)
    values: Sequence[Any] = ()
    if any(flags):
        values = session.execute(facts_query(flags), facts_params(receipt)).one()
    return audience_from(receipt, store, categories, flags, values)


def audience_for(
    session: Session, receipt: ReceiptRow, categories: Mapping[str, Sequence[str]] | None = None
) -> Audience:
    store = session.get(Store, receipt.store_id)
    names = [str(i.get("name", "")) for i in receipt.payload.get("items", []) if isinstance(i, dict)]
    loyalty = bool(receipt.loyalty_card)
    app = False
    number = 1
    h = receipt.contact_hash
    if h:
        loyalty = loyalty or is_loyalty_member(session, receipt.tenant_id, h)
        app = (
            session.exec(
                select(PushDevice.id).where(
                    PushDevice.tenant_id == receipt.tenant_id, PushDevice.contact_hash == h
                )
            ).first()
            is not None
        )
        number = session.exec(
            select(func.count())
            .select_from(ReceiptRow)
            .where(
                ReceiptRow.contact_hash == h,
                ReceiptRow.tenant_id == receipt.tenant_id,
                col(ReceiptRow.id) <= receipt.id,
            )
        ).one()
    return Audience(
        region=store.region if store else None,
        loyalty_member=loyalty,
        app_installed=app,
        total=receipt.total,
        categories=categories_of(names, categories or {}),
        store_id=receipt.store_id,
        receipt_number=max(int(number), 1),
        has_contact=h is not None,
    )
