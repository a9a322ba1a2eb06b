"""Erasing a buyer: their raw contact, every hash of it and every link made from it, in one transaction.

The fiscal records stay (54-FZ keeps them for years), without the contact: the receipt's contact columns
are cleared and the contact is taken out of the stored payload, whose content hash is recomputed so no
digest of the old content (contact included) is left. A resend of the same receipt by its register is
then a "conflict", which is kept without the contact too. The request itself is logged with counts only.

Figures computed from the erased rows are recomputed: the days of the buyer's receipts leave the
dashboards' rollups (read raw until rolled up again) and their attributed days are marked dirty.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from cloud.attribution import service as attribution
from cloud.db.types import utcnow
from cloud.delivery.models import OptOut, PushDevice
from cloud.identity.erasure import erase_contact
from cloud.ingest.models import ReceiptConflict, ReceiptRow
from cloud.ingest.service import content_hash
from cloud.logs import event
from cloud.pages.models import PageAnswer, PageExposure, PageKept
from cloud.privacy.keys import IdentityKeys
from cloud.privacy.models import ConsentRecord, ErasureRequest
from cloud.reports import rollup
from receipts.contact import BuyerContact

log = logging.getLogger("cloud.privacy")


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom to erase, in every form a row may hold; `tenant_id` None means at every tenant."""

    forms: frozenset[str]  # the raw values: normalized, and the fiscal form ('+7…')
    hashes: tuple[str, ...]
    tenant_id: int | None

    @classmethod
    def of(cls, contact: BuyerContact, keys: IdentityKeys, tenant_id: int | None) -> "Subject":
        return cls(
            frozenset({contact.value, contact.fiscal_value}), tuple(keys.every_hash(contact.value)), tenant_id
        )


def scrub(value: Any, forms: frozenset[str]) -> Any:
    """`value` (a stored JSON document) with every string holding the contact replaced by None."""
    if isinstance(value, dict):
        return {k: None if k == "contact" else scrub(v, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, forms) for v in value]
    if isinstance(value, str) and any(form in value for form in forms):
        return None
    return value


def _tenant(query: Any, column: Any, subject: Subject) -> Any:
    return query if subject.tenant_id is None else query.where(column == subject.tenant_id)


def erase_receipts(session: Session, subject: Subject) -> int:
    rows = session.exec(
        _tenant(
            select(ReceiptRow).where(col(ReceiptRow.contact_hash).in_(subject.hashes)),
            ReceiptRow.tenant_id,
            subject,
        )
    ).all()
    for row in rows:
        row.contact_kind = row.contact_hash = row.contact_value = None
        row.payload = scrub(row.payload, subject.forms)
        row.content_hash = content_hash(row.payload)
        session.add(row)
        for conflict in session.exec(select(ReceiptConflict).where(ReceiptConflict.receipt_id == row.id)):
            conflict.payload = scrub(conflict.payload, subject.forms)
            conflict.content_hash = content_hash(conflict.payload)
            session.add(conflict)
    return len(rows)


def erase_kept_pages(session: Session, subject: Subject) -> int:
    """The buyer's receipts' pages kept rendered (cloud.pages.kept): they print the masked contact and the
    answers' state. Found through the receipts, so a page kept under an older key's hash goes too."""
    receipts = _tenant(
        select(ReceiptRow.id).where(col(ReceiptRow.contact_hash).in_(subject.hashes)),
        ReceiptRow.tenant_id,
        subject,
    )
    statement = delete(PageKept).where(col(PageKept.receipt_id).in_(receipts))
    return int(session.exec(statement).rowcount or 0)


def _receipts_of(session: Session, subject: Subject) -> dict[int, list[tuple[int, datetime]]]:
    """The buyer's receipts (id, received_at) by tenant, read before the erasers clear their contact."""
    rows = session.exec(
        _tenant(
            select(ReceiptRow.tenant_id, ReceiptRow.id, ReceiptRow.received_at).where(
                col(ReceiptRow.contact_hash).in_(subject.hashes)
            ),
            ReceiptRow.tenant_id,
            subject,
        )
    ).all()
    by_tenant: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for tenant_id, receipt_id, received_at in rows:
        assert receipt_id is not None
        by_tenant[tenant_id].append((receipt_id, received_at))
    return by_tenant


def _refigure(session: Session, receipts: dict[int, list[tuple[int, datetime]]]) -> dict[str, int]:
    """Report days and attributed days that counted the erased receipts, to be computed again."""
    report_days = attribution_days = 0
    for tenant_id, rows in receipts.items():
        report_days += rollup.forget_days(session, tenant_id, [at for _id, at in rows])
        attribution_days += attribution.reattribute(session, tenant_id, [i for i, _at in rows], "erasure")
    return {"report_days": report_days, "attribution_days": attribution_days}


def _delete_by_hash(model: Any, hash_column: Any) -> Callable[[Session, Subject], int]:
    def erase(session: Session, subject: Subject) -> int:
        statement = _tenant(
            delete(model).where(col(hash_column).in_(subject.hashes)), model.tenant_id, subject
        )
        return int(session.exec(statement).rowcount or 0)

    return erase


def erase_identity(session: Session, subject: Subject) -> int:
    """The buyer's identity nodes, links and sightings (at the tenant, or everywhere)."""
    return erase_contact(session, subject.hashes, subject.tenant_id, utcnow())


# Every capability that keeps something of a buyer erases it here.
ERASERS: dict[str, Callable[[Session, Subject], int]] = {
    "kept_pages": erase_kept_pages,  # before "receipts" clears the hashes it finds them by
    "receipts": erase_receipts,
    "push_devices": _delete_by_hash(PushDevice, PushDevice.contact_hash),
    "opt_outs": _delete_by_hash(OptOut, OptOut.contact_hash),
    # The page's answers (an e-mail typed into the profile form) before the consents they refer to.
    "page_answers": _delete_by_hash(PageAnswer, PageAnswer.contact_hash),
    "page_exposures": _delete_by_hash(PageExposure, PageExposure.contact_hash),
    "consents": _delete_by_hash(ConsentRecord, ConsentRecord.subject_hash),
    "identity_links": erase_identity,
}


def erase(
    session: Session,
    keys: IdentityKeys,
    contact: BuyerContact,
    *,
    tenant_id: int | None,
    requested_by: str,
    reason: str = "",
    now: datetime,
) -> ErasureRequest:
    """Erase `contact` at `tenant_id` (None: everywhere) and log the request; commits."""
    subject = Subject.of(contact, keys, tenant_id)
    receipts = _receipts_of(session, subject)
    counts = {name: eraser(session, subject) for name, eraser in ERASERS.items()}
    counts |= _refigure(session, receipts)
    request = ErasureRequest(
        tenant_id=tenant_id,
        requested_by=requested_by[:100],
        reason=reason[:200],
        requested_at=now,
        finished_at=datetime.now(now.tzinfo),
        counts=counts,
    )
    session.add(request)
    session.commit()
    session.refresh(request)
    event(log, logging.INFO, "privacy.erased", request_id=request.id, tenant_id=tenant_id, **counts)
    return request
