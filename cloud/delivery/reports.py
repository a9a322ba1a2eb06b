"""Head office's view: one receipt's delivery timeline, and per store and period what was sent, delivered
and opened, by which channels, at what cost, and the saving against the fiscal operator's flat price."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cloud.accounts.models import Store
from cloud.delivery import config as delivery_config
from cloud.delivery.models import AttemptRow, DeliveryRow, ReportRow
from cloud.delivery.prices import OPERATOR
from cloud.errors import NotFound
from cloud.ingest.models import ReceiptRow


def timeline(session: Session, tenant_id: int, receipt_id: int) -> dict[str, Any]:
    receipt = session.get(ReceiptRow, receipt_id)
    if receipt is None or receipt.tenant_id != tenant_id:
        raise NotFound(f"receipt {receipt_id} not found")
    row = session.exec(select(DeliveryRow).where(DeliveryRow.receipt_id == receipt_id)).first()
    if row is None:
        return {"receipt_id": receipt_id, "delivery": None, "reason": "the receipt has no buyer contact"}
    attempts = session.exec(
        select(AttemptRow).where(AttemptRow.delivery_id == row.id).order_by(col(AttemptRow.step))
    ).all()
    ids = [a.id for a in attempts]
    reports = (
        session.exec(
            select(ReportRow).where(col(ReportRow.attempt_id).in_(ids)).order_by(col(ReportRow.id))
        ).all()
        if ids
        else []
    )
    return {
        "receipt_id": receipt_id,
        "delivery": {
            "id": row.id,
            "status": row.status,
            "channel": row.channel,
            "planned_steps": row.steps,
            "skipped_channels": [c for c in row.skipped.split(",") if c],
            "created_at": row.created_at,
            "first_accepted_at": row.first_accepted_at,
            "finished_at": row.finished_at,
            "opened_at": row.opened_at,
            "next_action_at": row.due_at,
            "cost_kopecks": sum(a.price for a in attempts),
        },
        "attempts": [
            {
                "step": a.step,
                "channel": a.channel,
                "status": a.status,
                "tries": a.tries,
                "provider_message_id": a.message_id,
                "price_kopecks": a.price,
                "error": a.error,
                "started_at": a.started_at,
                "accepted_at": a.accepted_at,
                "delivered_at": a.delivered_at,
                "read_at": a.read_at,
                "closed_at": a.closed_at,
                "history": [{"at": at, "what": what} for at, what in a.history],
            }
            for a in attempts
        ],
        "reports": [
            {"received_at": r.received_at, "channel": r.channel, "status": r.status, "effect": r.effect}
            for r in reports
        ],
    }


def summary(
    session: Session, tenant_id: int, since: datetime, until: datetime, store_id: int | None = None
) -> dict[str, Any]:
    """Deliveries created in [since, until), per store and in total."""
    prices = delivery_config.load(session, tenant_id).prices
    d = DeliveryRow.__table__  # type: ignore[attr-defined]
    a = AttemptRow.__table__  # type: ignore[attr-defined]
    where = [d.c.tenant_id == tenant_id, d.c.created_at >= since, d.c.created_at < until]
    if store_id is not None:
        where.append(d.c.store_id == store_id)
    cost = (
        sa.select(sa.func.coalesce(sa.func.sum(a.c.price), 0))
        .where(a.c.delivery_id == d.c.id)
        .scalar_subquery()
    )
    read = (
        sa.select(sa.func.count())
        .where(a.c.delivery_id == d.c.id, a.c.read_at.is_not(None))
        .scalar_subquery()
    )
    per = (
        sa.select(
            d.c.store_id,
            d.c.status,
            d.c.channel,
            sa.case((d.c.first_accepted_at.is_not(None), 1), else_=0).label("sent"),
            sa.case((sa.or_(d.c.opened_at.is_not(None), read > 0), 1), else_=0).label("opened"),
            cost.label("cost"),
        )
        .where(*where)
        .subquery()
    )
    rows = session.execute(
        sa.select(
            per.c.store_id,
            per.c.status,
            per.c.channel,
            per.c.sent,
            per.c.opened,
            sa.func.count(),
            sa.func.sum(per.c.cost),
        ).group_by(per.c.store_id, per.c.status, per.c.channel, per.c.sent, per.c.opened)
    ).all()
    mine = sa.select(col(Store.id), col(Store.name)).where(col(Store.tenant_id) == tenant_id)
    found = session.execute(mine)
    names: dict[int | None, str] = {sid: name for sid, name in found}
    stores: dict[int, dict[str, Any]] = {}
    for sid, status, channel, sent, opened, n, spent in rows:
        s = stores.setdefault(sid, _empty(sid, names.get(sid, "")))
        s["receipts"] += n
        s["sent"] += n if sent else 0
        s["opened"] += n if opened else 0
        s["by_status"][status] = s["by_status"].get(status, 0) + n
        if status == "delivered":
            s["delivered"] += n
            s["channel_mix"][channel] = s["channel_mix"].get(channel, 0) + n
        s["cost_kopecks"] += int(spent or 0)
    total = _empty(None, "all stores")
    for s in stores.values():
        for k in ("receipts", "sent", "delivered", "opened", "cost_kopecks"):
            total[k] += s[k]
        for k in ("by_status", "channel_mix"):
            for name, n in s[k].items():
                total[k][name] = total[k].get(name, 0) + n
    for s in [*stores.values(), total]:
        _finish(s, prices[OPERATOR])
    return {"since": since, "until": until, "stores": list(stores.values()), "total": total}


def _empty(store_id: int | None, name: str) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "store": name,
        "receipts": 0,
        "sent": 0,
        "delivered": 0,
        "opened": 0,
        "by_status": {},
        "channel_mix": {},
        "cost_kopecks": 0,
    }


def _finish(s: dict[str, Any], operator_price: int) -> None:
    delivered = s["delivered"] or 1
    s["channel_share"] = {k: round(v / delivered, 4) for k, v in sorted(s["channel_mix"].items())}
    s["operator_cost_kopecks"] = s["receipts"] * operator_price
    s["saving_kopecks"] = s["operator_cost_kopecks"] - s["cost_kopecks"]
    s["saving_share"] = round(s["saving_kopecks"] / s["operator_cost_kopecks"], 4) if s["receipts"] else None
    s["cost_per_receipt_kopecks"] = round(s["cost_kopecks"] / s["receipts"], 2) if s["receipts"] else None
