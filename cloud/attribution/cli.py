"""`echeck-cloud attribution run`: attribute the due days now (what the periodic job does every 15 min),
after the job worker has taken what is waiting (identity's links of the receipts and events just stored).
The demo's field simulator runs it; an operator runs it after a backfill."""

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cloud.attribution import service
from cloud.attribution.jobs import AttributionJobs
from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.db.types import utcnow
from cloud.jobs.models import DOING, QUEUED, JobRow

JOB = JobRow.__table__  # type: ignore[attr-defined]


def waiting_jobs(engine: Engine, horizon: timedelta = timedelta(seconds=60)) -> int:
    """Jobs running or due within `horizon` (a retry after a busy database waits a few seconds); periodic
    ones (their key is their name: one always waits) left out."""
    query = sa.select(sa.func.count()).where(
        JOB.c.status.in_((QUEUED, DOING)),
        JOB.c.due_at <= utcnow() + horizon,
        sa.or_(JOB.c.key.is_(None), JOB.c.key != JOB.c.name),
    )
    with Session(engine) as session:
        return int(session.execute(query).scalar() or 0)


def settled_run(
    engine: Engine, tenant_id: int | None, wait_s: float
) -> tuple[list[service.DayResult], float, int]:
    """Attribute the due days once the job worker has nothing due (waiting at most `wait_s`), then again
    while identity's links that landed meanwhile made days dirty (a merge re-attributes its day): what an
    operator running it by hand after a bulk load expects. Returns (the days, by their last run; seconds
    waited; jobs still waiting)."""
    jobs = AttributionJobs(engine)
    started = time.monotonic()
    by_day: dict[date, service.DayResult] = {}
    left = 0
    while True:
        while (left := waiting_jobs(engine)) and time.monotonic() - started < wait_s:
            time.sleep(0.2)
        done = jobs.run(tenant_id)
        by_day.update((d.day, d) for d in done)
        if not done or wait_s <= 0 or time.monotonic() - started >= wait_s:
            break
        time.sleep(0.5)  # the worker's next claim: links that the run just missed become its jobs
    return [by_day[d] for d in sorted(by_day)], time.monotonic() - started if wait_s > 0 else 0.0, left


def cmd_run(args: argparse.Namespace) -> None:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    try:
        done, waited, left = settled_run(engine, args.tenant, args.wait)
    finally:
        engine.dispose()
    doc: dict[str, Any] = {
        "days": [
            {
                "day": d.day.isoformat(),
                "receipts": d.purchases,
                "identified": d.identified,
                "touched": d.touched,
                "seconds": round(d.seconds, 3),
            }
            for d in done
        ],
        "waited_s": round(waited, 2),
        "jobs_still_waiting": left,
    }
    if args.json:
        print(json.dumps(doc))
    else:
        for d in doc["days"]:
            print(
                f"{d['day']}: {d['receipts']} receipts, {d['identified']} identified, "
                f"{d['touched']} with an online touch ({d['seconds']:.2f} s)"
            )
        if left:
            print(f"{left} job(s) still waiting after {waited:.0f} s", file=sys.stderr)


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    attribution = sub.add_parser("attribution", help="ROPO attribution: run the due days now").add_subparsers(
        dest="action", required=True
    )
    p = add("run", cmd_run, "attribute the due days now (yesterday, today, dirty days)", attribution)
    p.add_argument("--tenant", type=int, metavar="ID", help="one retailer (default: every one)")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="first wait up to S seconds until the job worker has no job due (identity's links)",
    )
    json_flag(p)
