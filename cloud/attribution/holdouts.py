"""Holdouts: a share of buyers, receipts or stores kept out of a campaign or an e-receipt block.

A unit's group is a hash of (the holdout's salt, the unit's key): deterministic, so the same buyer is held out
wherever the draw is made, and recorded in `attribution_assignment` when first drawn, so the lift is
measured over exactly the units that were assigned (also if the share is changed later: a recorded unit
keeps its group).

Units and what the lift compares (through `cloud.attribution.lift`):
- buyer (key: the contact's keyed hash): the share of assigned buyers who bought offline in the holdout's
  window (rate lift) and revenue per assigned buyer (mean lift);
- receipt (key: the receipt id): the share of assigned receipts whose buyer bought again in the window
  after the receipt (an e-receipt block meant to bring buyers back);
- store (key: the store id): revenue per store in the window (mean lift; few units, wide intervals).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.attribution import sources
from cloud.attribution.lift import Lift, LiftInputError, mean_lift, rate_lift
from cloud.attribution.sources import table_of
from cloud.attribution.tables import AttributionHoldout, AttributionHoldoutAssignment
from cloud.db.types import utcnow

HOLDOUT = table_of(AttributionHoldout)
ASSIGNMENT = table_of(AttributionHoldoutAssignment)
RECEIPT = sources.RECEIPT
SALE = sources.SALE


class Unit(StrEnum):
    BUYER = "buyer"
    RECEIPT = "receipt"
    STORE = "store"


class TargetKind(StrEnum):
    CAMPAIGN = "campaign"
    BLOCK = "block"


class HoldoutError(ValueError):
    pass


def held_out(salt: str, unit_key: str, share: float) -> bool:
    """The draw: the first 8 bytes of SHA-256(salt:unit) as a fraction of 2^64, below `share`."""
    digest = hashlib.sha256(f"{salt}:{unit_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


@dataclass(frozen=True, slots=True)
class Holdout:
    id: int
    tenant_id: int
    name: str
    unit: Unit
    target_kind: TargetKind
    target: str
    share: float
    salt: str
    starts_at: datetime
    ends_at: datetime


def create(
    session: Session,
    tenant_id: int,
    *,
    name: str,
    unit: Unit,
    target_kind: TargetKind,
    target: str,
    share: float,
    starts_at: datetime,
    ends_at: datetime,
    by: str = "",
    salt: str | None = None,
) -> Holdout:
    if not 0.0 < share < 1.0:
        raise HoldoutError("the held-out share must be between 0 and 1")
    if ends_at <= starts_at:
        raise HoldoutError("the holdout must end after it starts")
    if get(session, tenant_id, name) is not None:
        raise HoldoutError(f"a holdout named {name!r} exists")
    session.execute(
        sa.insert(HOLDOUT).values(
            tenant_id=tenant_id,
            name=name,
            unit=unit.value,
            target_kind=target_kind.value,
            target=target,
            share=share,
            salt=salt or secrets.token_hex(8),
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=utcnow(),
            created_by=by[:120],
        )
    )
    found = get(session, tenant_id, name)
    assert found is not None
    return found


def get(session: Session, tenant_id: int, name: str) -> Holdout | None:
    row = session.execute(
        sa.select(HOLDOUT).where(HOLDOUT.c.tenant_id == tenant_id, HOLDOUT.c.name == name)
    ).first()
    if row is None:
        return None
    return Holdout(
        int(row.id),
        int(row.tenant_id),
        row.name,
        Unit(row.unit),
        TargetKind(row.target_kind),
        row.target,
        float(row.share),
        row.salt,
        row.starts_at,
        row.ends_at,
    )


def list_all(session: Session, tenant_id: int) -> list[Holdout]:
    names = session.execute(
        sa.select(HOLDOUT.c.name).where(HOLDOUT.c.tenant_id == tenant_id).order_by(HOLDOUT.c.id)
    ).scalars()
    return [h for n in names if (h := get(session, tenant_id, n)) is not None]


def assign(session: Session, holdout: Holdout, unit_keys: Iterable[str]) -> dict[str, bool]:
    """Each unit's group (True: held out), drawn and recorded the first time; recorded groups are kept."""
    keys = sorted({k for k in unit_keys if k})
    groups: dict[str, bool] = {}
    for part in sources.chunks(keys):
        for key, out in session.execute(
            sa.select(ASSIGNMENT.c.unit_key, ASSIGNMENT.c.held_out).where(
                ASSIGNMENT.c.holdout_id == holdout.id, ASSIGNMENT.c.unit_key.in_(part)
            )
        ):
            groups[key] = bool(out)
    now = utcnow()
    new = [
        {
            "holdout_id": holdout.id,
            "unit_key": k,
            "held_out": held_out(holdout.salt, k, holdout.share),
            "assigned_at": now,
        }
        for k in keys
        if k not in groups
    ]
    for part in sources.chunks(new, 5000):
        session.execute(sa.insert(ASSIGNMENT), list(part))
    groups.update({str(r["unit_key"]): bool(r["held_out"]) for r in new})
    return groups


def known_buyers(session: Session, tenant_id: int, before: datetime | None = None) -> list[str]:
    """The contact hashes of the tenant's buyers with a phone (the audience a buyer holdout draws from)."""
    query = (
        sa.select(RECEIPT.c.contact_hash)
        .distinct()
        .where(
            RECEIPT.c.tenant_id == tenant_id,
            RECEIPT.c.contact_hash.is_not(None),
            RECEIPT.c.contact_kind == "phone",
        )
    )
    if before is not None:
        query = query.where(RECEIPT.c.received_at < before)
    return sorted(str(h) for h in session.execute(query).scalars())


def phones_of(session: Session, tenant_id: int, hashes: Sequence[str]) -> dict[str, str]:
    """contact hash -> the normalized phone still kept on a receipt (for an ad platform's audience file)."""
    out: dict[str, str] = {}
    for part in sources.chunks(sorted(hashes)):
        for h, value in session.execute(
            sa.select(RECEIPT.c.contact_hash, RECEIPT.c.contact_value).where(
                RECEIPT.c.tenant_id == tenant_id,
                RECEIPT.c.contact_hash.in_(part),
                RECEIPT.c.contact_value.is_not(None),
            )
        ):
            out.setdefault(str(h), str(value))
    return out


@dataclass(frozen=True, slots=True)
class HoldoutLift:
    holdout: Holdout
    treated: int
    held_out: int
    rate: Lift | None  # buyers (receipts) who bought (again) in the window
    revenue: Lift | None  # revenue per unit, kopecks
    incremental_conversions: float | None  # rate lift x treated units
    incremental_revenue: float | None  # kopecks: mean lift x treated units


def measure(session: Session, holdout: Holdout, confidence: float = 0.95) -> HoldoutLift:
    groups = dict(
        session.execute(
            sa.select(ASSIGNMENT.c.unit_key, ASSIGNMENT.c.held_out).where(
                ASSIGNMENT.c.holdout_id == holdout.id
            )
        ).all()
    )
    tz = sources.zone(None)
    start = holdout.starts_at.astimezone(tz).replace(tzinfo=None)
    end = holdout.ends_at.astimezone(tz).replace(tzinfo=None)
    outcome: dict[str, int] = {}  # unit -> revenue in the window
    bought: set[str] = set()
    keys = sorted(groups)
    if holdout.unit is Unit.BUYER:
        for part in sources.chunks(keys):
            for h, total in session.execute(
                sa.select(RECEIPT.c.contact_hash, sa.func.sum(RECEIPT.c.total))
                .where(
                    RECEIPT.c.tenant_id == holdout.tenant_id,
                    RECEIPT.c.contact_hash.in_(part),
                    RECEIPT.c.calculation_type == SALE,
                    RECEIPT.c.issued_at >= start,
                    RECEIPT.c.issued_at < end,
                )
                .group_by(RECEIPT.c.contact_hash)
            ):
                outcome[str(h)] = int(total)
                bought.add(str(h))
    elif holdout.unit is Unit.STORE:
        for store, total in session.execute(
            sa.select(RECEIPT.c.store_id, sa.func.sum(RECEIPT.c.total))
            .where(
                RECEIPT.c.tenant_id == holdout.tenant_id,
                RECEIPT.c.calculation_type == SALE,
                RECEIPT.c.issued_at >= start,
                RECEIPT.c.issued_at < end,
            )
            .group_by(RECEIPT.c.store_id)
        ):
            if str(store) in groups:
                outcome[str(store)] = int(total)
                bought.add(str(store))
    else:
        _receipt_outcomes(session, holdout, keys, end, outcome, bought)
    treated = [k for k, out in groups.items() if not out]
    control = [k for k, out in groups.items() if out]
    rate = revenue = None
    inc_conv = inc_rev = None
    try:
        rate = rate_lift(
            sum(1 for k in treated if k in bought),
            len(treated),
            sum(1 for k in control if k in bought),
            len(control),
            confidence,
        )
        inc_conv = rate.absolute * len(treated)
    except LiftInputError:
        pass
    try:
        revenue = mean_lift(
            [float(outcome.get(k, 0)) for k in treated],
            [float(outcome.get(k, 0)) for k in control],
            confidence,
        )
        inc_rev = revenue.absolute * len(treated)
    except LiftInputError:
        pass
    return HoldoutLift(holdout, len(treated), len(control), rate, revenue, inc_conv, inc_rev)


def _receipt_outcomes(
    session: Session,
    holdout: Holdout,
    keys: list[str],
    end: datetime,
    outcome: dict[str, int],
    bought: set[str],
) -> None:
    """A receipt's outcome: its buyer's sale receipts after it, before the window's end (at most 30 days)."""
    ids = [int(k) for k in keys if k.isdigit()]
    firsts: dict[int, tuple[str, datetime]] = {}
    for part in sources.chunks(ids):
        for rid, h, issued in session.execute(
            sa.select(RECEIPT.c.id, RECEIPT.c.contact_hash, RECEIPT.c.issued_at).where(
                RECEIPT.c.tenant_id == holdout.tenant_id,
                RECEIPT.c.id.in_(part),
                RECEIPT.c.contact_hash.is_not(None),
            )
        ):
            firsts[int(rid)] = (str(h), issued)
    for rid, (h, issued) in firsts.items():
        later = session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(RECEIPT.c.total), 0)).where(
                RECEIPT.c.tenant_id == holdout.tenant_id,
                RECEIPT.c.contact_hash == h,
                RECEIPT.c.calculation_type == SALE,
                RECEIPT.c.issued_at > issued,
                RECEIPT.c.issued_at < min(end, issued + timedelta(days=30)),
            )
        ).one()
        if later[0]:
            bought.add(str(rid))
            outcome[str(rid)] = int(later[1])
