"""A chain's month of receipts, deliveries, page events and promo codes, written straight into the cloud's
tables in bulk: what the dashboards read (tests, screenshots and the dashboard benchmark). Deterministic for
a seed. On PostgreSQL the rows go in with COPY; elsewhere with executemany.

Not a simulation of the field (that is the field simulator's job through the real APIs): just enough
variety for every figure of the dashboards to be non-trivial — capture rates that differ per store and
cashier, a cascade's channel mix with fail-overs, real opens and bot fetches, block views and clicks,
repeat buyers, site sessions with UTM tags, promo codes issued and redeemed.
"""

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.accounts.models import Register
from cloud.delivery.models import AttemptRow, DeliveryRow
from cloud.ingest.models import ReceiptRow
from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.tracking.models import TrackingEvent, TrackingEventKey

CHANNEL_MIX = (("email", 0.45), ("push", 0.17), ("viber", 0.12), ("sms", 0.21), (None, 0.05))
PRICES = {"email": 0, "push": 0, "viber": 60, "sms": 140}
BLOCKS = ("promo", "loyalty", "catalog", "survey")
CASHIERS = ("Иванова А.", "Петров С.", "Сидорова Е.", "Кузнецов Д.", "Смирнова О.")
SOURCES = (  # (utm_source, utm_medium, utm_campaign) of site sessions, None = direct
    ("yandex", "cpc", "black_friday"),
    ("vk", "paid_social", "sofas_nov"),
    ("google", "organic", None),
    ("mail", "email", "newsletter_48"),
    (None, None, None),
)


@dataclass
class Chain:
    tenant_id: int
    stores: list[int] = field(default_factory=list)
    registers: dict[int, list[int]] = field(default_factory=dict)  # store → registers
    receipts: int = 0
    events: int = 0


def _pick(rng: random.Random, mix: Sequence[tuple[Any, float]]) -> Any:
    x = rng.random()
    for value, weight in mix:
        x -= weight
        if x < 0:
            return value
    return mix[-1][0]


def make_chain(
    engine: Engine, tenant_id: int, stores: Sequence[tuple[str, str]], registers_per_store: int = 2
) -> Chain:
    """Stores (name, region) and their registers, through the accounts service (as the CLI makes them)."""
    chain = Chain(tenant_id)
    with Session(engine) as s:
        for name, region in stores:
            store = tenants.create_store(s, tenant_id, name, region)
            assert store.id is not None
            chain.stores.append(store.id)
            regs = []
            for i in range(registers_per_store):
                reg = Register(
                    tenant_id=tenant_id,
                    store_id=store.id,
                    hostname=f"s{store.id}-till{i + 1}",
                    agent_version="0.1.0",
                    enrolled_at=datetime.now(UTC) - timedelta(days=60),
                    last_heartbeat_at=datetime.now(UTC) - timedelta(seconds=20 + 400 * (i % 3 == 2)),
                    heartbeat_interval_s=60.0,
                    queue_depth=(i * 7) % 5,
                    last_sync_at=datetime.now(UTC) - timedelta(seconds=30),
                    clock_skew_s=0.4 * (i + 1),
                )
                s.add(reg)
                s.flush()
                assert reg.id is not None
                regs.append(reg.id)
            chain.registers[store.id] = regs
        s.commit()
    return chain


def _next_id(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()) + 1


def _write(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = conn.connection.driver_connection  # psycopg 3
        assert raw is not None
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            names = ", ".join(f'"{c}"' for c in columns)
            with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([_pg(row[c]) for c in columns])
        return
    conn.execute(sa.insert(table), rows)


def _pg(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def seed_month(
    engine: Engine,
    chain: Chain,
    *,
    end: datetime,
    days: int = 30,
    receipts_per_register_day: int = 20,
    seed: int = 1,
    chunk: int = 20_000,
) -> Chain:
    """Receipts for `days` days up to `end` (UTC) at every register of the chain, with their deliveries,
    attempts, page events and promo codes. Capture rate differs per store (50–90 %) and cashier."""
    rng = random.Random(seed)
    r_t: sa.Table = ReceiptRow.__table__  # type: ignore[attr-defined]
    d_t: sa.Table = DeliveryRow.__table__  # type: ignore[attr-defined]
    a_t: sa.Table = AttemptRow.__table__  # type: ignore[attr-defined]
    e_t: sa.Table = TrackingEvent.__table__  # type: ignore[attr-defined]
    k_t: sa.Table = TrackingEventKey.__table__  # type: ignore[attr-defined]
    p_t: sa.Table = PromoCode.__table__  # type: ignore[attr-defined]
    buyers = max(50, len(chain.stores) * receipts_per_register_day * days // 3)
    capture = {s: 0.5 + 0.4 * rng.random() for s in chain.stores}
    start = end - timedelta(days=days)
    with engine.begin() as conn:
        rule_id = _rule(conn, chain.tenant_id)
        rid = _next_id(conn, r_t)
        did = _next_id(conn, d_t)
        aid = _next_id(conn, a_t)
        pid = _next_id(conn, p_t)
        batch: dict[str, list[dict[str, Any]]] = {"r": [], "d": [], "a": [], "e": [], "k": [], "p": []}

        def flush() -> None:
            for key, table in (("r", r_t), ("d", d_t), ("a", a_t), ("k", k_t), ("e", e_t), ("p", p_t)):
                _write(conn, table, batch[key])
                batch[key] = []

        fd = 0
        for store_id in chain.stores:
            for register_id in chain.registers[store_id]:
                fn = f"99990000{register_id:08d}"
                for n in range(days * receipts_per_register_day):
                    fd += 1
                    at = start + timedelta(seconds=rng.random() * days * 86400)
                    cashier = CASHIERS[(register_id + n // 10) % len(CASHIERS)]
                    rate = capture[store_id] * (0.8 if cashier == CASHIERS[1] else 1.0)
                    buyer = rng.randrange(buyers)
                    contact = (
                        hashlib.sha256(f"{chain.tenant_id}:{buyer}".encode()).hexdigest()
                        if rng.random() < rate
                        else None
                    )
                    total = rng.randrange(20_00, 15_000_00)
                    batch["r"].append(
                        {
                            "id": rid,
                            "tenant_id": chain.tenant_id,
                            "store_id": store_id,
                            "register_id": register_id,
                            "fn_serial": fn,
                            "fd_number": fd,
                            "fpd": 100_000_000 + fd,
                            "issued_at": (at + timedelta(hours=3)).replace(tzinfo=None),
                            "total": total,
                            "calculation_type": 1,
                            "contact_kind": "phone" if contact else None,
                            "contact_hash": contact,
                            "contact_value": None,
                            "loyalty_card": f"77{buyer:08d}" if contact and buyer % 3 == 0 else None,
                            "landing": None,
                            "payload": {"extra": {"cashier": cashier}},
                            "content_hash": hashlib.sha256(str(rid).encode()).hexdigest(),
                            "received_at": at,
                        }
                    )
                    chain.receipts += 1
                    if contact:
                        did, aid = _delivery(rng, batch, chain.tenant_id, store_id, rid, did, aid, at)
                        delivered = batch["d"][-1]["status"] == "delivered"
                        if delivered:
                            chain.events += _events(rng, batch, chain.tenant_id, rid, at, buyer)
                        if rng.random() < 0.3:
                            redeemed = rng.random() < 0.2
                            batch["p"].append(
                                {
                                    "id": pid,
                                    "tenant_id": chain.tenant_id,
                                    "rule_id": rule_id,
                                    "receipt_id": rid,
                                    "store_id": store_id,
                                    "code": f"S{pid:09d}",
                                    "issued_at": at,
                                    "starts_at": at,
                                    "expires_at": at + timedelta(days=30),
                                    "redeemed_at": at + timedelta(days=3) if redeemed else None,
                                }
                            )
                            pid += 1
                    rid += 1
                    if len(batch["r"]) >= chunk:
                        flush()
        flush()
        if conn.dialect.name == "postgresql":
            for table in (r_t, d_t, a_t, p_t):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f'(SELECT max(id) FROM "{table.name}"))'
                    )
                )
    return chain


def _rule(conn: sa.Connection, tenant_id: int) -> int:
    t: sa.Table = PromoRule.__table__  # type: ignore[attr-defined]
    found = conn.execute(
        sa.select(t.c.id).where(t.c.tenant_id == tenant_id, t.c.name == "second_visit")
    ).first()
    if found:
        return int(found[0])
    now = datetime.now(UTC)
    return int(
        conn.execute(
            sa.insert(t)
            .values(
                tenant_id=tenant_id,
                name="second_visit",
                percent=10,
                headline="−10 % на следующую покупку",
                categories=[],
                valid_days=30,
                length=10,
                alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
                planned_codes=1_000_000,
                created_at=now,
                updated_at=now,
            )
            .returning(t.c.id)
        ).scalar_one()
    )


def _delivery(
    rng: random.Random,
    batch: dict[str, list[dict[str, Any]]],
    tenant_id: int,
    store_id: int,
    receipt_id: int,
    did: int,
    aid: int,
    at: datetime,
) -> tuple[int, int]:
    channel = _pick(rng, CHANNEL_MIX)
    delay = rng.lognormvariate(3.2, 0.9)  # seconds; median ≈ 25 s
    failed_first = channel in ("viber", "sms") and rng.random() < 0.3
    status = "delivered" if channel else "failed"
    batch["d"].append(
        {
            "id": did,
            "receipt_id": receipt_id,
            "tenant_id": tenant_id,
            "store_id": store_id,
            "link_token": hashlib.md5(f"{receipt_id}".encode()).hexdigest(),
            "status": status,
            "steps": "email,push,viber,sms",
            "skipped": "",
            "step_index": 0,
            "due_at": None,
            "version": 1,
            "channel": channel,
            "created_at": at,
            "first_accepted_at": at + timedelta(seconds=1),
            "finished_at": at + timedelta(seconds=delay + (120 if failed_first else 0)),
            "opened_at": at + timedelta(minutes=5) if channel and rng.random() < 0.45 else None,
        }
    )
    tried = ([("push", "expired")] if failed_first else []) + (
        [(channel, "delivered")] if channel else [("sms", "failed")]
    )
    for step, (name, state) in enumerate(tried):
        batch["a"].append(
            {
                "id": aid,
                "delivery_id": did,
                "tenant_id": tenant_id,
                "step": step,
                "channel": name,
                "status": state,
                "tries": 1,
                "message_id": f"m{aid}",
                "error": None,
                "price": PRICES[name] if state != "failed" or name == "sms" else 0,
                "started_at": at,
                "accepted_at": at + timedelta(seconds=1),
                "delivered_at": at + timedelta(seconds=delay) if state == "delivered" else None,
                "read_at": None,
                "closed_at": at + timedelta(seconds=delay),
                "history": [],
            }
        )
        aid += 1
    return did + 1, aid


def _event(
    batch: dict[str, list[dict[str, Any]]], tenant_id: int, kind: str, at: datetime, **fields: Any
) -> None:
    event_id = hashlib.md5(
        f"{tenant_id}:{kind}:{at.isoformat()}:{sorted(fields.items())}".encode()
    ).hexdigest()
    event_id = f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:32]}"
    batch["k"].append({"event_id": event_id, "received_at": at})
    row = {
        "event_id": event_id,
        "received_at": at,
        "tenant_id": tenant_id,
        "type": kind,
        "client_at": at,
        "browser_id": None,
        "session_id": None,
        "url": None,
        "referrer": None,
        "utm_source": None,
        "utm_medium": None,
        "utm_campaign": None,
        "utm_term": None,
        "utm_content": None,
        "yclid": None,
        "gclid": None,
        "ec_click": None,
        "ym_client_id": None,
        "receipt_id": None,
        "block_id": None,
        "identifiers": None,
        "properties": None,
        "bot": None,
    }
    row.update(fields)
    batch["e"].append(row)


def _events(
    rng: random.Random,
    batch: dict[str, list[dict[str, Any]]],
    tenant_id: int,
    receipt_id: int,
    at: datetime,
    buyer: int,
) -> int:
    """A bot's fetch now and then; a person's open, block views and maybe a click; the buyer's browser's
    site sessions before the purchase (a touch for ROPO)."""
    n = 0
    browser = f"b{tenant_id}-{buyer}"
    if rng.random() < 0.1:
        _event(
            batch,
            tenant_id,
            "receipt_fetch",
            at + timedelta(seconds=40),
            receipt_id=receipt_id,
            bot="AppleMailProxy",
        )
        n += 1
    if rng.random() >= 0.35:
        return n
    seen = at + timedelta(minutes=rng.randrange(2, 600))
    _event(batch, tenant_id, "receipt_open", seen, receipt_id=receipt_id, browser_id=browser)
    n += 1
    for i, block in enumerate(BLOCKS):
        view = seen + timedelta(seconds=5 + i)
        _event(
            batch, tenant_id, "block_view", view, receipt_id=receipt_id, browser_id=browser, block_id=block
        )
        n += 1
        if rng.random() < (0.12, 0.06, 0.09, 0.03)[i]:
            _event(
                batch,
                tenant_id,
                "block_click",
                view + timedelta(seconds=10),
                receipt_id=receipt_id,
                browser_id=browser,
                block_id=block,
            )
            n += 1
    if rng.random() < 0.6:
        source, medium, campaign = SOURCES[rng.randrange(len(SOURCES))]
        visit = at - timedelta(days=rng.randrange(1, 20), minutes=rng.randrange(600))
        _event(
            batch,
            tenant_id,
            "pageview",
            visit,
            browser_id=browser,
            session_id=f"s{receipt_id}",
            utm_source=source,
            utm_medium=medium,
            utm_campaign=campaign,
            url="https://shop.example/sofas",
        )
        n += 1
    return n


def stores_named(
    n: int, regions: Iterable[str] = ("Москва", "Казань", "Санкт-Петербург")
) -> list[tuple[str, str]]:
    names = list(regions)
    return [(f"Магазин {i + 1:03d}", names[i % len(names)]) for i in range(n)]
