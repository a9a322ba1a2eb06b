"""Recording consents and reading them back: grants and withdrawals are rows, the latest one wins."""

import hashlib
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select

from cloud.errors import Conflict
from cloud.privacy.keys import IdentityKeys
from cloud.privacy.models import ConsentRecord, ConsentText
from receipts.contact import BuyerContact, ContactKind, hash_identifier


class Purpose(StrEnum):
    E_RECEIPT = "e_receipt"  # the buyer asked for the e-receipt (54-FZ): delivery may use the contact
    ADVERTISING = "advertising"  # 38-FZ: marketing messages and ad audiences
    LOYALTY = "loyalty"  # joined the loyalty programme
    PROFILE = "profile"  # answered the e-receipt page's profile questions (e-mail, birthday, pet)


class Source(StrEnum):
    TILL = "till"
    PAGE = "page"
    FORM = "form"
    API = "api"


def _text_row(
    session: Session, tenant_id: int, purpose: Purpose, version: str, text: str, now: datetime
) -> ConsentText:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    row = session.exec(
        select(ConsentText).where(
            ConsentText.tenant_id == tenant_id, ConsentText.purpose == purpose, ConsentText.version == version
        )
    ).first()
    if row is None:
        row = ConsentText(
            tenant_id=tenant_id,
            purpose=purpose,
            version=version,
            text=text,
            text_sha256=digest,
            created_at=now,
        )
        session.add(row)
        session.flush()
    elif row.text_sha256 != digest:
        raise Conflict(f"consent text {purpose} version {version!r} already exists with other wording")
    return row


def record_consent(
    session: Session,
    keys: IdentityKeys,
    *,
    tenant_id: int,
    contact: BuyerContact,
    purpose: Purpose,
    granted: bool,
    text: str,
    text_version: str,
    source: Source,
    source_ref: str = "",
    now: datetime,
) -> ConsentRecord:
    """Append one grant or withdrawal. The caller commits."""
    text_row = _text_row(session, tenant_id, purpose, text_version, text, now)
    assert text_row.id is not None  # flushed
    advertising = purpose is Purpose.ADVERTISING and granted
    e164 = contact.fiscal_value if contact.kind is ContactKind.PHONE else contact.value
    record = ConsentRecord(
        tenant_id=tenant_id,
        subject_hash=keys.hash(contact.value),
        subject_kind=contact.kind.value,
        purpose=purpose,
        granted=granted,
        text_id=text_row.id,
        source=source,
        source_ref=source_ref,
        recorded_at=now,
        ad_sha256=hash_identifier(contact.value) if advertising else None,
        ad_sha256_e164=hash_identifier(e164) if advertising else None,
    )
    session.add(record)
    session.flush()
    return record


def current_consents(
    session: Session, keys: IdentityKeys, tenant_id: int, contact: BuyerContact
) -> dict[str, ConsentRecord]:
    """The latest record per purpose for this buyer at this tenant."""
    rows = session.exec(
        select(ConsentRecord)
        .where(
            ConsentRecord.tenant_id == tenant_id,
            col(ConsentRecord.subject_hash).in_(keys.every_hash(contact.value)),
        )
        .order_by(col(ConsentRecord.id))
    )
    return {row.purpose: row for row in rows}


def advertising_audience(session: Session, tenant_id: int, *, e164: bool = False) -> Iterator[str]:
    """Plain SHA-256 hashes of the buyers whose latest advertising record is a grant (Meta's form by
    default, Google's E.164 form with `e164`). Streams: an audience can be millions of rows."""
    latest = (
        select(func.max(ConsentRecord.id))
        .where(ConsentRecord.tenant_id == tenant_id, ConsentRecord.purpose == Purpose.ADVERTISING)
        .group_by(col(ConsentRecord.subject_hash))
    )
    column = ConsentRecord.ad_sha256_e164 if e164 else ConsentRecord.ad_sha256
    rows = session.exec(
        select(column)
        .where(
            col(ConsentRecord.id).in_(latest), col(ConsentRecord.granted).is_(True), col(column).is_not(None)
        )
        .execution_options(yield_per=5000)
    )
    for value in rows:
        if value:
            yield value
