"""`echeck-cloud reports rollup`: roll up the dashboards' due days now (what the periodic job
`reports.rollup` does every 15 min): after a backfill, an import, or to see a fresh database's first month
served from the rollups at once."""

import argparse
import json
from collections.abc import Callable
from typing import Any

from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.reports.rollup import refresh_all


def cmd_rollup(args: argparse.Namespace) -> None:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    try:
        done = refresh_all(engine, args.tenant)
    finally:
        engine.dispose()
    tenants: list[dict[str, Any]] = [
        {
            "tenant_id": r.tenant_id,
            "days": len(r.days),
            "first": r.days[0].isoformat() if r.days else None,
            "last": r.days[-1].isoformat() if r.days else None,
            "receipts": r.receipts,
            "seconds": round(r.seconds, 3),
        }
        for r in done
    ]
    doc = {
        "tenants": tenants,
        "days": sum(len(r.days) for r in done),
        "receipts": sum(r.receipts for r in done),
        "seconds": round(sum(r.seconds for r in done), 3),
    }
    if args.json:
        print(json.dumps(doc))
        return
    for t in tenants:
        where = f" ({t['first']} … {t['last']})" if t["days"] else ""
        print(
            f"tenant {t['tenant_id']}: {t['days']} day(s) rolled up{where}, {t['receipts']} receipts, "
            f"{t['seconds']} s"
        )


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    reports = sub.add_parser("reports", help="head office's dashboards: daily rollups").add_subparsers(
        dest="action", required=True
    )
    p = add(
        "rollup",
        cmd_rollup,
        "roll up the dashboards' due days now (past days not yet rolled up, the last two)",
        reports,
    )
    p.add_argument("--tenant", type=int, metavar="ID", help="one retailer (default: every one)")
    json_flag(p)
