"""What a block with a holdout adds: receipts that were shown the block against receipts held out of it, on
two outcomes within `WINDOW` of the receipt:

- sign-up: the buyer joined the loyalty programme (a loyalty consent granted, from any page, till or API);
- repeat purchase: the same contact bought again at the tenant.

The groups are fixed when each page is first opened (`page_exposure`); the statistics are
`cloud.attribution.lift.rate_lift` (difference of proportions with its interval, and the relative lift).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from cloud.attribution.lift import Lift, rate_lift
from cloud.ingest.models import ReceiptRow
from cloud.pages.models import PageExposure
from cloud.privacy.consent import Purpose
from cloud.privacy.models import ConsentRecord

WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Outcome:
    held_out: bool
    signed_up: bool
    came_back: bool


@dataclass(frozen=True, slots=True)
class BlockLift:
    block_id: str
    shown: int
    held_out: int
    signups: Lift | None  # None until both groups have receipts
    repeats: Lift | None


def lift_of(block_id: str, outcomes: list[Outcome], confidence: float = 0.95) -> BlockLift:
    shown = [o for o in outcomes if not o.held_out]
    held = [o for o in outcomes if o.held_out]
    if not shown or not held:
        return BlockLift(block_id, len(shown), len(held), None, None)

    def rate(attr: str) -> Lift:
        return rate_lift(
            sum(getattr(o, attr) for o in shown),
            len(shown),
            sum(getattr(o, attr) for o in held),
            len(held),
            confidence,
        )

    return BlockLift(block_id, len(shown), len(held), rate("signed_up"), rate("came_back"))


def outcomes(session: Session, tenant_id: int, block_id: str) -> list[Outcome]:
    """Each exposed or held-out receipt of the block with a contact, and what its buyer did afterwards."""
    rows = session.exec(
        select(
            PageExposure.receipt_id, PageExposure.held_out, PageExposure.contact_hash, ReceiptRow.received_at
        )
        .join(ReceiptRow, col(ReceiptRow.id) == col(PageExposure.receipt_id))
        .where(PageExposure.tenant_id == tenant_id, PageExposure.block_id == block_id)
        .where(col(PageExposure.contact_hash).is_not(None))
    ).all()
    hashes = sorted({h for _r, _held, h, _at in rows if h})
    later: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    joined: dict[str, list[datetime]] = defaultdict(list)
    for chunk in (hashes[i : i + 500] for i in range(0, len(hashes), 500)):
        for rid, h, at in session.exec(
            select(ReceiptRow.id, ReceiptRow.contact_hash, ReceiptRow.received_at).where(
                ReceiptRow.tenant_id == tenant_id, col(ReceiptRow.contact_hash).in_(chunk)
            )
        ):
            if rid is not None and h:
                later[h].append((rid, at))
        for h, at in session.exec(
            select(ConsentRecord.subject_hash, ConsentRecord.recorded_at).where(
                ConsentRecord.tenant_id == tenant_id,
                ConsentRecord.purpose == Purpose.LOYALTY,
                col(ConsentRecord.granted).is_(True),
                col(ConsentRecord.subject_hash).in_(chunk),
            )
        ):
            joined[h].append(at)
    result = []
    for receipt_id, held, h, at in rows:
        assert h is not None
        came_back = any(rid > receipt_id and at <= when <= at + WINDOW for rid, when in later[h])
        signed_up = any(at <= when <= at + WINDOW for when in joined[h])
        result.append(Outcome(held, signed_up, came_back))
    return result


def block_lifts(
    session: Session, tenant_id: int, block_ids: list[str], confidence: float = 0.95
) -> list[BlockLift]:
    return [lift_of(b, outcomes(session, tenant_id, b), confidence) for b in block_ids]
