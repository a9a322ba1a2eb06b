"""Attribution's jobs on the one job mechanism (bound in cloud/bootstrap.py).

- `DAILY` (periodic, every 15 min): for every tenant, read identity's merge log since the last run and mark
  the days of the merged profiles' purchases dirty (a late merge re-attributes: the buyer's browsing found
  after the fact becomes the purchase's journey), then attribute every due day (yesterday and today when
  never done, and every dirty day), one transaction per day. Idempotent: a day is rewritten whole.
- `RECEIPTS_STORED` (on `ReceiptStored`): a receipt synced after its day was attributed marks that day dirty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cloud.accounts.models import Tenant
from cloud.attribution import service, sources
from cloud.attribution.sources import table_of
from cloud.attribution.tables import AttributionCursor
from cloud.db.types import utcnow
from cloud.events import ReceiptStored
from cloud.jobs import Job, JobArgs

log = logging.getLogger("cloud.attribution")

DAILY = Job("attribution.daily", every_s=900.0, max_attempts=3)
RECEIPTS_STORED = Job("attribution.receipts_stored", max_attempts=5)
CURSOR = table_of(AttributionCursor)
MERGES_CURSOR = "identity_merge_log"
REATTRIBUTE_DAYS = 90  # how far back a late merge re-attributes


class AttributionJobs:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def today(self) -> date:
        return self.clock().astimezone(sources.zone(None)).date()

    def daily(self, _args: JobArgs) -> None:
        self.run(None)

    def run(self, tenant_id: int | None) -> list[service.DayResult]:
        """Merges, then due days, for one tenant or all. Returns the days attributed."""
        today = self.today()
        with Session(self.engine) as session, session.begin():
            tenants = (
                [tenant_id]
                if tenant_id is not None
                else [int(t) for t in session.execute(sa.select(table_of(Tenant).c.id)).scalars()]
            )
            self.take_merges(session, tenants, today)
        done: list[service.DayResult] = []
        for tenant in tenants:
            done.extend(service.run_due(lambda: Session(self.engine), tenant, today))
        for result in done:
            log.info(
                "attributed day %s: %d receipts, %d identified, %d with a touch, %.2f s",
                result.day,
                result.purchases,
                result.identified,
                result.touched,
                result.seconds,
            )
        return done

    def take_merges(self, session: Session, tenants: list[int], today: date) -> int:
        """Mark dirty the days of purchases of profiles merged since the cursor (every tenant's view)."""
        after = session.execute(sa.select(CURSOR.c.value).where(CURSOR.c.name == MERGES_CURSOR)).scalar()
        profiles, last = sources.profiles_of_merges(session, int(after or 0))
        marked = 0
        if profiles:
            since = today - timedelta(days=REATTRIBUTE_DAYS)
            for tenant in tenants:
                attributed = service.attributed_days(session, tenant)
                days = {
                    d for d in sources.days_of_profiles(session, tenant, profiles, since) if d in attributed
                }
                marked += service.mark_dirty(session, tenant, days, "identity merge")
        if last != (after or 0) or after is None:
            values = {"value": last, "updated_at": datetime.now(UTC)}
            stmt = service._insert(session, CURSOR).values(name=MERGES_CURSOR, **values)
            session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))
        return marked

    def receipts_stored(self, args: JobArgs) -> None:
        event = ReceiptStored.from_args(args)
        with Session(self.engine) as session, session.begin():
            service.reattribute(session, event.tenant_id, event.receipt_ids, "late receipt")
