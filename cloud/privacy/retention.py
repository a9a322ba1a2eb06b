"""How long raw contacts stay, and re-keying hashes when the identity key changes.

Delivery needs the raw phone or e-mail for minutes, reminders (a promo code about to expire) for weeks;
past `contact_retention_days` only the keyed hash remains, and only while the delivery is finished. Both
functions work in bounded batches so a run never holds a long transaction; callers loop until 0.
"""

from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select, update

from cloud.delivery.cascade import Status
from cloud.delivery.models import DeliveryRow, OptOut, PushDevice
from cloud.ingest.models import ReceiptRow
from cloud.privacy.erasure import scrub
from cloud.privacy.keys import IdentityKeys
from cloud.privacy.models import ConsentRecord

RETENTION_DAYS_ENV = "ECHECK_CONTACT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 45  # promo codes run up to 30 days; their reminder goes out before expiry
_ACTIVE = [s.value for s in Status if not s.finished]


def purge_raw_contacts(session: Session, now: datetime, retention: timedelta, batch: int = 1000) -> int:
    """Clear the raw contact of up to `batch` receipts older than `retention` whose delivery is over."""
    active = select(DeliveryRow.receipt_id).where(col(DeliveryRow.status).in_(_ACTIVE))
    rows = session.exec(
        select(ReceiptRow)
        .where(col(ReceiptRow.contact_value).is_not(None), ReceiptRow.received_at < now - retention)
        .where(col(ReceiptRow.id).not_in(active))
        .limit(batch)
    ).all()
    for row in rows:
        assert row.contact_value is not None
        forms = frozenset({row.contact_value, "+" + row.contact_value})
        row.contact_value = None
        row.payload = scrub(row.payload, forms)  # the keyed hash stays: identity and opt-outs still match
        session.add(row)
    session.commit()
    return len(rows)


def rekey(session: Session, keys: IdentityKeys, batch: int = 1000) -> int:
    """Re-hash every receipt whose raw contact is kept and whose hash is not the current key's (rows from
    before keyed hashes, or an older key after a rotation), and move push devices, opt-outs and consents
    recorded under the old hash along with them. One pass, a commit every `batch` receipts."""
    changed, last_id = 0, 0
    while True:
        rows = session.exec(
            select(ReceiptRow)
            .where(col(ReceiptRow.contact_value).is_not(None), col(ReceiptRow.id) > last_id)
            .order_by(col(ReceiptRow.id))
            .limit(batch)
        ).all()
        if not rows:
            return changed
        moved: dict[str, str] = {}
        for row in rows:
            assert row.contact_value is not None
            new = keys.hash(row.contact_value)
            if row.contact_hash != new:
                if row.contact_hash:
                    moved[row.contact_hash] = new
                row.contact_hash = new
                session.add(row)
                changed += 1
        last_id = rows[-1].id or last_id
        for old, new in moved.items():
            _move_hash(session, old, new)
        session.commit()


def _move_hash(session: Session, old: str, new: str) -> None:
    # An opt-out already recorded under the new hash wins over its old twin (one row per channel).
    twins = select(OptOut.channel).where(col(OptOut.contact_hash) == new)
    session.exec(delete(OptOut).where(col(OptOut.contact_hash) == old, col(OptOut.channel).in_(twins)))
    for model in (PushDevice, OptOut):
        session.exec(update(model).where(col(model.contact_hash) == old).values(contact_hash=new))
    session.exec(update(ConsentRecord).where(col(ConsentRecord.subject_hash) == old).values(subject_hash=new))
