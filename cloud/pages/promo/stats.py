"""Head office's numbers per rule: codes issued, redeemed and the redemption rate, in a caller's stores."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from cloud.pages.promo.models import PromoCode, PromoRule


@dataclass(frozen=True, slots=True)
class RuleStats:
    rule: str
    active: bool
    issued: int
    redeemed: int
    reminded: int  # reminders sent

    @property
    def rate(self) -> float:
        """Redeemed per issued (0 when none was issued)."""
        return self.redeemed / self.issued if self.issued else 0.0


def per_rule(
    session: Session,
    tenant_id: int,
    store_ids: frozenset[int] | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[RuleStats]:
    """Every rule of the tenant with the codes issued at the given stores (None: all) in [since, until);
    a code counts as redeemed whenever it was redeemed, wherever."""
    code: sa.Table = PromoCode.__table__  # type: ignore[attr-defined]
    rule: sa.Table = PromoRule.__table__  # type: ignore[attr-defined]
    joined = [code.c.rule_id == rule.c.id]
    if store_ids is not None:
        joined.append(code.c.store_id.in_(sorted(store_ids)) if store_ids else sa.false())
    if since is not None:
        joined.append(code.c.issued_at >= since)
    if until is not None:
        joined.append(code.c.issued_at < until)
    query = (
        sa.select(
            rule.c.name,
            rule.c.active,
            sa.func.count(code.c.id),
            sa.func.count(code.c.redeemed_at),
            sa.func.count(sa.case((code.c.reminder == "sent", 1))),
        )
        .select_from(rule.outerjoin(code, sa.and_(*joined)))
        .where(rule.c.tenant_id == tenant_id)
        .group_by(rule.c.id, rule.c.name, rule.c.active)
        .order_by(rule.c.id)
    )
    return [
        RuleStats(name, bool(active), int(issued), int(redeemed), int(reminded))
        for name, active, issued, redeemed, reminded in session.execute(query)
    ]
