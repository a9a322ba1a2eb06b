"""Batch ingest of receipts from registers, idempotent per tenant on the natural key (FN serial, FD number,
FPD): what another tenant's registers send never makes this tenant's receipt a duplicate or a conflict.

A batch of N receipts costs a fixed handful of statements: one multi-row INSERT .. ON CONFLICT DO NOTHING
RETURNING (what it returns is what is new), one SELECT of the keys that were already there, one INSERT of
conflicting resends, one COMMIT. Everything reported as accepted is committed before the answer leaves.

On PostgreSQL the INSERT is one short statement over `jsonb_to_recordset()` of the whole batch: a multi-row
VALUES list of 1 000 rows × 16 parameters is a 100 kB statement that psycopg re-parses on every batch
(too long for its query cache) and PostgreSQL plans anew; this form is the same text every time, and each
payload is the canonical JSON already built for the content hash (no second serialization).

The canonical JSON is orjson's with sorted keys: byte for byte what `json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False)` made before it (tests/cloud/test_ingest_canonical.py), so
content hashes of receipts stored earlier still match their resends.
"""

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, func, select

from cloud.accounts.models import Register, Store
from cloud.db.types import utcnow
from cloud.errors import Forbidden, NotFound
from cloud.events import MessageBus, ReceiptStored
from cloud.ingest.models import ReceiptConflict, ReceiptRow
from cloud.logs import event
from cloud.privacy.keys import IdentityKeys
from receipts import Receipt, ReceiptKey
from sync.protocol import (
    Accepted,
    BatchResult,
    ItemStatus,
    ReceiptBatch,
    Rejected,
    describe,
    receipt_from_wire,
    receipt_to_wire,
)

log = logging.getLogger("cloud.ingest")

KEY_COLUMNS = ("fn_serial", "fd_number", "fpd")
UNIQUE_COLUMNS = ("tenant_id", *KEY_COLUMNS)  # the receipt table's unique key


@dataclass(frozen=True, slots=True)
class _Valid:
    index: int
    receipt: Receipt
    wire: dict[str, Any]  # normalized: what we store and hash, whatever spelling the sender used
    canonical: bytes  # the wire as canonical JSON (UTF-8): hashed, and stored as is on PostgreSQL
    content_hash: str
    key: tuple[str, int, int]  # (FN serial, FD number, FPD)


def _canonical(wire: dict[str, Any]) -> bytes:
    return orjson.dumps(wire, option=orjson.OPT_SORT_KEYS)


def canonical_json(wire: dict[str, Any]) -> str:
    """Sorted keys, no spaces, non-ASCII as is: what the content hash is taken of."""
    return _canonical(wire).decode()


def content_hash(wire: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(wire)).hexdigest()


def _parse(batch: ReceiptBatch) -> tuple[list[_Valid], list[Rejected]]:
    valid: list[_Valid] = []
    rejected: list[Rejected] = []
    for index, data in enumerate(batch.receipts):
        try:
            receipt = receipt_from_wire(data)
        except ValidationError as exc:
            rejected.append(Rejected(index=index, reason=describe(exc)))
            continue
        wire = receipt_to_wire(receipt)
        canonical = _canonical(wire)
        f = receipt.fiscal
        key = (f.fn_serial, f.fd_number, f.fpd)
        valid.append(_Valid(index, receipt, wire, canonical, hashlib.sha256(canonical).hexdigest(), key))
    return valid, rejected


def _dialect_insert(session: Session, table: sa.Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {name!r} (use SQLite or PostgreSQL)")


def _row(item: _Valid, register: Register, now: Any, keys: IdentityKeys) -> dict[str, Any]:
    r = item.receipt
    contact = r.contact
    return {
        "tenant_id": register.tenant_id,
        "store_id": register.store_id,
        "register_id": register.id,
        "fn_serial": r.fiscal.fn_serial,
        "fd_number": r.fiscal.fd_number,
        "fpd": r.fiscal.fpd,
        "issued_at": r.fiscal.issued_at.replace(tzinfo=None),
        "total": r.total,
        "calculation_type": int(r.fiscal.calculation_type),
        "contact_kind": contact.kind.value if contact else None,
        "contact_hash": keys.hash(contact.value) if contact else None,
        "contact_value": contact.value if contact else None,
        "loyalty_card": r.loyalty_card,
        "landing": _landing(r),
        "payload": item.wire,
        "content_hash": item.content_hash,
        "received_at": now,
    }


def _landing(receipt: Receipt) -> str | None:
    """The popup's QR token (`extra.landing`), kept in its own indexed column for the landing page."""
    value = receipt.extra.get("landing")
    return value if isinstance(value, str) and 1 <= len(value) <= 32 else None


# Columns that differ per receipt, with their PostgreSQL types; the rest are one value per batch.
_PG_COLUMNS = (
    ("fn_serial", "text"),
    ("fd_number", "bigint"),
    ("fpd", "bigint"),
    ("issued_at", "timestamp"),
    ("total", "bigint"),
    ("calculation_type", "integer"),
    ("contact_kind", "text"),
    ("contact_hash", "text"),
    ("contact_value", "text"),
    ("loyalty_card", "text"),
    ("landing", "text"),
    ("content_hash", "text"),
    ("payload", "jsonb"),
)
_PG_NAMES = ", ".join(name for name, _ in _PG_COLUMNS)
_PG_INSERT = sa.text(
    f"INSERT INTO receipt (tenant_id, store_id, register_id, {_PG_NAMES}, received_at) "
    f"SELECT :tenant_id, :store_id, :register_id, {_PG_NAMES}, :received_at "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r("
    + ", ".join(f"{name} {kind}" for name, kind in _PG_COLUMNS)
    + f") ON CONFLICT ({', '.join(UNIQUE_COLUMNS)}) DO NOTHING RETURNING id, fn_serial, fd_number, fpd"
)


def _insert_postgresql(
    session: Session, items: list[_Valid], register: Register, now: Any, keys: IdentityKeys
) -> list[tuple[int, str, int, int]]:
    """One INSERT .. SELECT over the batch sent as one JSON array: the statement text never changes, and
    PostgreSQL parses the rows itself. (A text[] per column would cost psycopg an escaping pass over every
    payload's quotes.)"""
    rows: list[dict[str, Any]] = []
    for item in items:
        row = _row(item, register, now, keys)
        small = {name: row[name] for name, _ in _PG_COLUMNS[:-1]}
        small["issued_at"] = small["issued_at"].isoformat()
        # The payload goes in as the canonical JSON already made for the hash.
        small["payload"] = orjson.Fragment(item.canonical)
        rows.append(small)
    params = {"tenant_id": register.tenant_id, "store_id": register.store_id, "register_id": register.id}
    result = session.execute(_PG_INSERT, {**params, "rows": orjson.dumps(rows).decode(), "received_at": now})
    return [(rid, fn, fd, fpd) for rid, fn, fd, fpd in result]


def ingest_batch(
    session: Session,
    register: Register,
    store_id: int,
    batch: ReceiptBatch,
    keys: IdentityKeys,
    bus: MessageBus,
) -> BatchResult:
    """Store what is valid, report what is not, and publish "receipt stored" for the new ones on `bus`.
    Contacts are stored under `keys`' keyed hash. Raises Forbidden when `store_id` is not the register's."""
    if register.store_id != store_id:
        raise Forbidden(
            f"register {register.id} is enrolled in store {register.store_id} and cannot write receipts "
            f"for store {store_id}"
        )
    started = time.perf_counter()
    register_id, tenant_id = register.id, register.tenant_id
    valid, rejected = _parse(batch)
    now = utcnow()

    first: dict[tuple[str, int, int], _Valid] = {}
    for item in valid:
        first.setdefault(item.key, item)

    inserted: set[tuple[str, int, int]] = set()
    ids: dict[tuple[str, int, int], int] = {}
    hashes: dict[tuple[str, int, int], str] = {}
    table: sa.Table = ReceiptRow.__table__  # type: ignore[attr-defined]
    if first:
        if session.get_bind().dialect.name == "postgresql":
            result: Any = _insert_postgresql(session, list(first.values()), register, now, keys)
        else:
            stmt = (
                _dialect_insert(session, table)
                .on_conflict_do_nothing(index_elements=list(UNIQUE_COLUMNS))
                .returning(table.c.id, table.c.fn_serial, table.c.fd_number, table.c.fpd)
            )
            # executemany + RETURNING: SQLAlchemy's "insertmanyvalues" sends few multi-row INSERTs, not N.
            result = session.execute(stmt, [_row(item, register, now, keys) for item in first.values()])
        for rid, fn, fd, fpd in result:
            inserted.add((fn, fd, fpd))
            ids[(fn, fd, fpd)] = rid
            hashes[(fn, fd, fpd)] = first[(fn, fd, fpd)].content_hash

    known = [k for k in first if k not in inserted]
    if known:
        cols = [table.c[c] for c in KEY_COLUMNS]
        rows = session.execute(
            sa.select(table.c.id, *cols, table.c.content_hash).where(
                table.c.tenant_id == tenant_id, sa.tuple_(*cols).in_(known)
            )
        )
        for rid, fn, fd, fpd, chash in rows:
            ids[(fn, fd, fpd)] = rid
            hashes[(fn, fd, fpd)] = chash

    accepted: list[Accepted] = []
    conflicts: list[dict[str, Any]] = []
    counts = dict.fromkeys(ItemStatus, 0)
    for item in valid:
        key = item.key
        if key not in ids:  # cannot happen unless a row vanished mid-request: let the agent retry
            raise RuntimeError(f"receipt {ReceiptKey(*key)} neither inserted nor found")
        if key in inserted and first[key] is item:
            status = ItemStatus.STORED
        elif hashes[key] == item.content_hash:
            status = ItemStatus.DUPLICATE
        else:
            status = ItemStatus.CONFLICT
            conflicts.append(
                {
                    "receipt_id": ids[key],
                    "register_id": register_id,
                    "payload": item.wire,
                    "content_hash": item.content_hash,
                    "received_at": now,
                }
            )
            event(
                log,
                logging.WARNING,
                "receipt.conflict",
                key=str(item.receipt.key),
                receipt_id=ids[key],
                register_id=register_id,
                store_id=store_id,
                contact=item.receipt.contact.masked if item.receipt.contact else "",
            )
        counts[status] += 1
        accepted.append(Accepted(index=item.index, key=str(item.receipt.key), status=status))

    if conflicts:
        ctable: sa.Table = ReceiptConflict.__table__  # type: ignore[attr-defined]
        # The same conflicting resend arriving again is recorded once.
        session.execute(
            _dialect_insert(session, ctable).on_conflict_do_nothing(
                index_elements=["receipt_id", "content_hash"]
            ),
            conflicts,
        )
    # "Receipt stored" is recorded in this same transaction (one job per subscriber): no new receipt is
    # ever missed by delivery, identity or attribution, and none of their work delays the till's answer.
    if inserted:
        new_ids = tuple(sorted(ids[k] for k in inserted))
        bus.publish(session, ReceiptStored(tenant_id, store_id, register_id or 0, new_ids))
    session.commit()

    for r in rejected:
        event(
            log,
            logging.WARNING,
            "receipt.rejected",
            register_id=register_id,
            store_id=store_id,
            index=r.index,
            reason=r.reason[:300],
        )
    event(
        log,
        logging.INFO,
        "batch.ingested",
        tenant_id=tenant_id,
        store_id=store_id,
        register_id=register_id,
        size=len(batch.receipts),
        stored=counts[ItemStatus.STORED],
        duplicate=counts[ItemStatus.DUPLICATE],
        conflict=counts[ItemStatus.CONFLICT],
        rejected=len(rejected),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    accepted.sort(key=lambda a: a.index)
    return BatchResult(accepted=accepted, rejected=rejected)


@dataclass(frozen=True, slots=True)
class ReceiptPageData:
    store_id: int
    count: int
    rows: list[ReceiptRow]


def list_receipts(
    session: Session, tenant_id: int, store_id: int, after_id: int = 0, limit: int = 100
) -> ReceiptPageData:
    """A store's receipts in id order after `after_id`. Another tenant's store is reported as not found."""
    store = session.get(Store, store_id)
    if store is None or store.tenant_id != tenant_id:
        raise NotFound(f"store {store_id} not found")
    count = session.exec(
        select(func.count()).select_from(ReceiptRow).where(ReceiptRow.store_id == store_id)
    ).one()
    rows = session.exec(
        select(ReceiptRow)
        .where(ReceiptRow.store_id == store_id, ReceiptRow.id > after_id)  # type: ignore[operator]
        .order_by(ReceiptRow.id)  # type: ignore[arg-type]
        .limit(limit)
    ).all()
    return ReceiptPageData(store_id=store_id, count=int(count), rows=list(rows))
