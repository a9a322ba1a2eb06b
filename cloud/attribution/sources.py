"""Where attribution's inputs come from: receipts, identity's profiles, tracking's events, promo redemptions.

The one module that reads other capabilities' tables, in bulk (a day of a chain is ~30 000 receipts and
their buyers' events of a month), so that the job never loops a query per buyer:

- `purchases_of_day`: the tenant's sale receipts issued on a local day, each with the profile of its
  contact (identity's node of the receipt's hashed phone or e-mail, resolved through the component mapping
  at query time: a late merge changes the answer without rewriting anything);
- `touches_of_profiles`: the profiles' browsers the tenant observed itself (the ecosystem rule: its site's
  browsers `t<tenant>:<id>`, and the cloud's e-receipt page browsers it saw), their site sessions (first
  page view of each session: utm, click ids, referrer) and e-receipt block clicks in a time window; promo
  codes redeemed with a receipt are a touch of that purchase;
- `profiles_of_merges`: the profiles touched by identity's merge log since a point, for re-attribution.

Sessions: the page views of one `session_id` (or, without one, of one browser with < 30 min between views)
are one session; its first page view says where it came from. A session that landed with `ec_click` came
from an e-receipt link: it is that block's click (counted once, with the click on the page itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.accounts.models import Store
from cloud.attribution.journeys import Purchase, Touch, TouchKind, classify_channel, url_host
from cloud.identity.models import IdentityMember, IdentityMergeLog, IdentityNode, IdentitySeen
from cloud.ingest.models import ReceiptRow
from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.tracking.models import TrackingEvent


def table_of(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


DEFAULT_TZ = "Europe/Moscow"
SALE = 1  # tag 1054 "приход": refunds and corrections are not purchases
SESSION_GAP = timedelta(minutes=30)
CHUNK = 900  # ids per IN list on SQLite (its default limit is 999 variables)
PG_CHUNK = 50_000  # on PostgreSQL: one index scan per list instead of many small ones

RECEIPT = table_of(ReceiptRow)
STORE = table_of(Store)
NODE = table_of(IdentityNode)
MEMBER = table_of(IdentityMember)
SEEN = table_of(IdentitySeen)
MERGES = table_of(IdentityMergeLog)
EVENT = table_of(TrackingEvent)
CODE = table_of(PromoCode)
RULE = table_of(PromoRule)


@dataclass(frozen=True, slots=True)
class DayPurchase:
    purchase: Purchase  # profile_id as str, or None
    store_id: int
    receipt_id: int


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    if not items:
        return
    for i in range(0, len(items), size):
        yield items[i : i + size]


def purchases_of_day(session: Session, tenant_id: int, day: date) -> list[DayPurchase]:
    """Sale receipts issued on `day` (the register's local date), with their buyer's profile."""
    start = datetime.combine(day, time())
    node = NODE.alias("n")
    query = (
        sa.select(
            RECEIPT.c.id,
            RECEIPT.c.store_id,
            RECEIPT.c.issued_at,
            RECEIPT.c.total,
            STORE.c.region,
            STORE.c.time_zone,
            MEMBER.c.profile_id,
        )
        .join(STORE, STORE.c.id == RECEIPT.c.store_id)
        .outerjoin(
            node,
            sa.and_(
                node.c.kind == RECEIPT.c.contact_kind,
                node.c.value == RECEIPT.c.contact_hash,
                node.c.quarantined_at.is_(None),
            ),
        )
        .outerjoin(MEMBER, MEMBER.c.node_id == node.c.id)
        .where(
            RECEIPT.c.tenant_id == tenant_id,
            RECEIPT.c.issued_at >= start,
            RECEIPT.c.issued_at < start + timedelta(days=1),
            RECEIPT.c.calculation_type == SALE,
        )
        .order_by(RECEIPT.c.id)
    )
    zones: dict[str | None, ZoneInfo] = {}
    out = []
    for rid, store_id, issued, total, region, tz, profile in session.execute(query):
        tzinfo = zones.setdefault(tz, zone(tz))
        at = issued.replace(tzinfo=tzinfo).astimezone(UTC)
        purchase = Purchase(
            receipt_id=str(rid),
            at=at,
            revenue=int(total),
            store_id=str(store_id),
            region=region,
            profile_id=str(profile) if profile is not None else None,
        )
        out.append(DayPurchase(purchase, int(store_id), int(rid)))
    return out


def touches_of_profiles(
    session: Session, tenant_id: int, profile_ids: Iterable[int], since: datetime, until: datetime
) -> dict[str, list[Touch]]:
    """Each profile's touches in [since, until], oldest first (profile ids as str, as journeys want)."""
    site_prefix = f"t{tenant_id}:"
    site: dict[str, str] = {}  # site browser id -> profile
    page: dict[str, str] = {}  # e-receipt page browser id -> profile
    listed = sorted(set(profile_ids))
    size = PG_CHUNK if session.get_bind().dialect.name == "postgresql" else CHUNK
    for part in chunks(listed, size):
        rows = session.execute(
            sa.select(MEMBER.c.profile_id, NODE.c.value)
            .join(NODE, NODE.c.id == MEMBER.c.node_id)
            .join(SEEN, sa.and_(SEEN.c.node_id == NODE.c.id, SEEN.c.tenant_id == tenant_id))
            .where(
                MEMBER.c.profile_id.in_(part),
                NODE.c.kind == "browser",
                NODE.c.quarantined_at.is_(None),
            )
        )
        for profile, value in rows:
            if value.startswith(site_prefix):
                site[value[len(site_prefix) :]] = str(profile)
            elif value.startswith("ec:"):
                page[value[3:]] = str(profile)
    touches: dict[str, list[Touch]] = {}
    clicks_seen: set[str] = set()
    for browser_ids, types, owner in ((page, ("block_click",), page), (site, ("pageview",), site)):
        ids = sorted(browser_ids)
        for part in chunks(ids, size):
            query = (
                sa.select(
                    EVENT.c.browser_id,
                    EVENT.c.session_id,
                    EVENT.c.received_at,
                    EVENT.c.url,
                    EVENT.c.referrer,
                    EVENT.c.utm_source,
                    EVENT.c.utm_medium,
                    EVENT.c.utm_campaign,
                    EVENT.c.yclid,
                    EVENT.c.gclid,
                    EVENT.c.ec_click,
                    EVENT.c.ym_client_id,
                    EVENT.c.block_id,
                )
                .where(
                    EVENT.c.tenant_id == tenant_id,
                    EVENT.c.browser_id.in_(part),
                    EVENT.c.type.in_(types),
                    EVENT.c.received_at >= since,
                    EVENT.c.received_at <= until,
                    EVENT.c.bot.is_(None),
                )
                .order_by(EVENT.c.browser_id, EVENT.c.received_at)
            )
            if types == ("block_click",):
                for row in session.execute(query):
                    if row.ec_click:
                        clicks_seen.add(row.ec_click)
                    touches.setdefault(owner[row.browser_id], []).append(_click_touch(row))
            else:
                for first in _session_starts(session.execute(query)):
                    if first.ec_click and first.ec_click in clicks_seen:
                        continue  # the page already counted this click
                    touches.setdefault(owner[first.browser_id], []).append(_session_touch(first))
    for own in touches.values():
        own.sort(key=lambda t: t.at)
    return touches


def promo_touches(session: Session, tenant_id: int, receipt_ids: Sequence[int]) -> dict[int, Touch]:
    """Promo codes redeemed with these receipts: a touch of that purchase (at the redemption)."""
    out: dict[int, Touch] = {}
    for part in chunks(sorted(receipt_ids)):
        rows = session.execute(
            sa.select(CODE.c.redeemed_receipt_id, CODE.c.redeemed_at, RULE.c.name)
            .join(RULE, RULE.c.id == CODE.c.rule_id)
            .where(CODE.c.tenant_id == tenant_id, CODE.c.redeemed_receipt_id.in_(part))
        )
        for rid, at, rule in rows:
            out[int(rid)] = Touch(at=at, kind=TouchKind.PROMO_CODE, channel="promo_code", campaign=rule)
    return out


def profiles_of_merges(session: Session, after_id: int) -> tuple[set[int], int]:
    """Profiles that changed in identity's merge log after entry `after_id` (survivors, merged-away ones,
    split parts), and the last entry's id."""
    rows = session.execute(
        sa.select(MERGES.c.id, MERGES.c.profile_id, MERGES.c.other_id)
        .where(MERGES.c.id > after_id)
        .order_by(MERGES.c.id)
    ).all()
    profiles: set[int] = set()
    last = after_id
    for entry_id, a, b in rows:
        last = int(entry_id)
        profiles.update(int(p) for p in (a, b) if p is not None)
    return profiles, last


def days_of_profiles(session: Session, tenant_id: int, profile_ids: Iterable[int], since: date) -> set[date]:
    """The local days since `since` on which these profiles bought (their receipts' contacts' profiles)."""
    days: set[date] = set()
    listed = sorted(set(profile_ids))
    start = datetime.combine(since, time())
    for part in chunks(listed):
        rows = session.execute(
            sa.select(RECEIPT.c.issued_at)
            .join(
                NODE,
                sa.and_(NODE.c.kind == RECEIPT.c.contact_kind, NODE.c.value == RECEIPT.c.contact_hash),
            )
            .join(MEMBER, MEMBER.c.node_id == NODE.c.id)
            .where(
                RECEIPT.c.tenant_id == tenant_id,
                RECEIPT.c.issued_at >= start,
                MEMBER.c.profile_id.in_(part),
            )
        )
        for (issued,) in rows:
            days.add(issued.date())
    return days


def receipt_days(session: Session, tenant_id: int, receipt_ids: Sequence[int]) -> set[date]:
    days: set[date] = set()
    for part in chunks(sorted(receipt_ids)):
        for (issued,) in session.execute(
            sa.select(RECEIPT.c.issued_at).where(RECEIPT.c.tenant_id == tenant_id, RECEIPT.c.id.in_(part))
        ):
            days.add(issued.date())
    return days


# --- sessions -----------------------------------------------------------------------------------------


def _session_starts(rows: Iterable[Any]) -> Iterator[Any]:
    """The first page view of each session (rows ordered by browser, then time)."""
    last_browser: str | None = None
    last_session: str | None = None
    last_at: datetime | None = None
    for row in rows:
        new = (
            row.browser_id != last_browser
            or (row.session_id or None) != last_session
            or (row.session_id is None and last_at is not None and row.received_at - last_at > SESSION_GAP)
        )
        if new:
            yield row
        last_browser, last_session, last_at = row.browser_id, row.session_id or None, row.received_at


def _campaign(source: str | None, medium: str | None, campaign: str | None, channel: str) -> str:
    return f"{source or '-'} / {medium or '-'} / {campaign or channel}"


def _session_touch(row: Any) -> Touch:
    if row.ec_click:
        return Touch(
            at=row.received_at,
            kind=TouchKind.ERECEIPT_CLICK,
            channel="ereceipt",
            campaign=row.block_id or "ereceipt",
            ec_click=row.ec_click,
        )
    referrer = url_host(row.referrer)
    if referrer is not None and referrer == url_host(row.url):
        referrer = None  # internal navigation is not where the visit came from
    channel = classify_channel(
        TouchKind.SITE_SESSION,
        source=row.utm_source,
        medium=row.utm_medium,
        yclid=row.yclid,
        gclid=row.gclid,
        referrer_host=referrer,
    )
    return Touch(
        at=row.received_at,
        kind=TouchKind.SITE_SESSION,
        channel=channel,
        source=row.utm_source or referrer,
        medium=row.utm_medium,
        campaign=row.utm_campaign,
        yclid=row.yclid,
        gclid=row.gclid,
        client_id=row.ym_client_id,
    )


def _click_touch(row: Any) -> Touch:
    return Touch(
        at=row.received_at,
        kind=TouchKind.ERECEIPT_CLICK,
        channel="ereceipt",
        source="ereceipt",
        medium="block",
        campaign=row.block_id or "ereceipt",
        ec_click=row.ec_click,
        block_id=row.block_id,
    )


def utc_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    return start, start + timedelta(days=1)
