"""A receipt's page kept rendered for its message link (`/r/{token}`), so that a fetch after the first
reads one row and puts in what is new on every fetch, instead of building the page again.

A page is rendered from the receipt, its seller's settings, the published template and the buyer's state
at that moment (loyalty, an installed app, the answers sent from this page and the profile's). Everything
that can change between two fetches is in the `stamp`, read by the same statement that finds the
receipt; a kept page is served only when its stamp is the current one and no promo's start or end has
passed since (`valid_until`). What differs on every fetch is rendered as a mark (`SLOT`) and put in by
`splice`: the outbound links' click ids, the script's view token, the honeypot link, a countdown's text,
and the page's own path (the forms return to it), so a page kept ahead of its first fetch
(cloud.pages.kept_ahead) needs no link.
Every fetch, kept or not, is recorded exactly as before, and a page built afresh goes through the same
marks and `splice`, so the two can never differ.

The stamp also carries a fingerprint of the page's code and templates: a deploy that changes what a page
looks like renders every page again at its next fetch. Kept pages are a cache: erasure deletes the
buyer's (they print the masked contact), and `prune` drops those not kept again for `KEEP_FOR`.
"""

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from cloud.accounts.models import Store, Tenant
from cloud.delivery.models import PushDevice
from cloud.ingest.models import ReceiptRow
from cloud.jobs import Job, JobArgs
from cloud.pages.models import PageAnswer, PageKept, PageTemplate, PageTemplatePointer
from cloud.privacy.consent import Purpose
from cloud.privacy.models import ConsentRecord

# Private-use characters: no receipt, template text or URL the page prints contains them (`keepable`).
SLOT = "\ue000{}\ue001"
_MARK = re.compile("\ue000([a-z])(\\d*)\ue001")
# A page opened again after a month is rare; rendering it again then costs one fetch ~2 ms.
KEEP_FOR = timedelta(days=30)
PRUNE = Job("pages.prune_kept", every_s=3600)


class Slots:
    """A page being rendered to be kept: every per-fetch value becomes a mark, and what it stands for is
    recorded (`as_json`). `tracking` and `click_url` stand in for the page's own; `remaining` for the
    countdown's text."""

    def __init__(self, now: datetime, events_url: str) -> None:
        self.now = now
        self.page_path = SLOT.format("p")  # wherever the page names itself, as often as it does
        self.clicks: list[tuple[str, str]] = []
        self.untils: list[datetime] = []
        self.tracking = {
            "view_token": SLOT.format("v"),
            "events_url": events_url,
            "honeypot_url": SLOT.format("h"),
        }

    def click_url(self, block_id: str, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            return url  # a path on the cloud itself stays as it is (cloud.pages.page.click_links)
        self.clicks.append((block_id, url))
        return SLOT.format(f"c{len(self.clicks) - 1}")

    def remaining(self, until: datetime) -> str:
        self.untils.append(until)
        return SLOT.format(f"r{len(self.untils) - 1}")

    @property
    def valid_until(self) -> datetime | None:
        """The first promo start or end still ahead: the page shows another line after it."""
        ahead = [u for u in self.untils if u > self.now]
        return min(ahead) if ahead else None

    def as_json(self) -> dict[str, Any]:
        return {"c": [list(c) for c in self.clicks], "r": [u.isoformat() for u in self.untils]}


@dataclass(frozen=True, slots=True)
class Fill:
    """One fetch's values for the marks."""

    view_token: str
    honeypot_url: str
    click_url: Callable[[str, str], str]
    countdown: Callable[[datetime], str]  # a countdown's text at this fetch (blocks_render.remaining)
    page_path: str  # the path this fetch asked for


def splice(html: str, slots: Mapping[str, Any], fill: Fill) -> str:
    """The page for one fetch: each mark replaced by its value, escaped as the template escaped the mark
    (marks only stand where autoescaped text or attribute values go)."""
    clicks, untils = slots.get("c", []), slots.get("r", [])

    def value(mark: re.Match[str]) -> str:
        kind, n = mark.group(1), mark.group(2)
        if kind == "c":
            block_id, url = clicks[int(n)]
            return str(escape(fill.click_url(block_id, url)))
        if kind == "r":
            return str(escape(fill.countdown(datetime.fromisoformat(untils[int(n)]))))
        if kind == "p":
            return str(escape(fill.page_path))
        return str(escape(fill.view_token if kind == "v" else fill.honeypot_url))

    return _MARK.sub(value, html)


def keepable(html: str, slots: Slots) -> bool:
    """Whether the page holds each mark it was given exactly once (the page's path any number of times)
    and no other private-use character of ours: a tenant text containing one would be taken for a mark,
    so such a page is never kept (nor served: the caller renders it directly)."""
    issued = [
        "v",
        "h",
        *(f"c{i}" for i in range(len(slots.clicks))),
        *(f"r{i}" for i in range(len(slots.untils))),
    ]
    found = ["".join(m) for m in _MARK.findall(html)]
    once = [m for m in found if m != "p"]
    return sorted(once) == sorted(issued) and html.count("\ue000") == html.count("\ue001") == len(found)


@dataclass(frozen=True, slots=True)
class Kept:
    html: str
    slots: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Keeping:
    """What the page lookup read of a receipt's kept page: the stamp of what the page would be rendered
    from now, and the kept page when it is still that page (None: render it, and keep it)."""

    stamp: str
    page: Kept | None


@cache
def code_fingerprint() -> str:
    """Everything that renders a page: this package (the page, its blocks, templates, the QR code), the
    cloud's web layer (the template environment, static assets), the receipt model and its wire form
    (VAT, totals). Another deploy, another stamp: every page is rendered again at its next fetch."""
    cloud = Path(__file__).resolve().parents[1]
    bases = (
        cloud / "pages",
        cloud / "web",
        cloud / "tracking" / "static",
        cloud.parent / "receipts",
        cloud.parent / "sync",
    )
    files = sorted(
        p for base in bases for p in base.rglob("*") if p.suffix in {".py", ".html", ".css", ".js"}
    )
    digest = hashlib.blake2b(digest_size=8)
    for path in files:
        digest.update(str(path.relative_to(cloud.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _latest(model: Any, *where: Any) -> Any:
    return sa.select(sa.func.max(model.id)).where(*where).scalar_subquery()


def _rows(model: Any, *where: Any) -> Any:
    """`count:latest id` of the rows `where`: an insert or a delete among them changes it (one index
    probe, where a count and a max were two)."""
    count = sa.cast(sa.func.count(), sa.Text)
    latest = sa.func.coalesce(sa.cast(sa.func.max(model.id), sa.Text), sa.literal_column("''", sa.Text))
    return sa.select(count + sa.literal_column("':'", sa.Text) + latest).where(*where).scalar_subquery()


def with_kept(query: Any, *, only_if_kept: bool = False) -> Any:
    """The page lookup `query` (over receipt, tenant, store, the tenant's template pointer and version)
    with what `keeping` reads: the material of the stamp (see the module's doc) and the kept page. The
    buyer's state is read as the latest row id and row count of each table the page reads it from, so any
    insert or delete there changes the stamp (each an index probe). `only_if_kept`: the material is NULL
    where no page is kept, and its probes are not run (a lookup that only serves kept pages)."""
    r, t, s = ReceiptRow, Tenant, Store
    here = col(PageAnswer.receipt_id) == col(r.id)
    profile = sa.and_(
        col(PageAnswer.tenant_id) == col(r.tenant_id),
        col(PageAnswer.contact_hash) == col(r.contact_hash),
        col(PageAnswer.kind) == "enrichment",
    )
    loyalty = (
        col(ConsentRecord.tenant_id) == col(r.tenant_id),
        col(ConsentRecord.subject_hash) == col(r.contact_hash),
        col(ConsentRecord.purpose) == Purpose.LOYALTY,
    )
    app = (col(PushDevice.tenant_id) == col(r.tenant_id), col(PushDevice.contact_hash) == col(r.contact_hash))
    stamped = [
        col(r.contact_hash),
        col(r.contact_value).is_(None),
        col(r.loyalty_card),
        col(PageTemplatePointer.version_id),
        col(PageTemplate.created_at),
        col(t.name),
        col(t.legal_name),
        col(t.inn),
        col(t.taxation),
        col(s.name),
        col(s.address),
        col(s.settlement_place),
        col(s.time_zone),
        col(s.region),
        _rows(PageAnswer, here),
        _rows(PageAnswer, profile),
        _latest(ConsentRecord, *loyalty),  # append only: the latest record says member or not
        _rows(PushDevice, *app),
    ]
    # One text column, not 21: each column of a result costs the driver and SQLAlchemy a description
    # object per execution, more than the database spends reading them.
    pipe, empty = sa.literal_column("'|'", sa.Text), sa.literal_column("''", sa.Text)
    material: Any = sa.func.coalesce(sa.cast(stamped[0], sa.Text), empty)
    for value in stamped[1:]:
        material = material + pipe + sa.func.coalesce(sa.cast(value, sa.Text), empty)
    if only_if_kept:  # PostgreSQL runs a CASE branch's subqueries only when the branch is taken
        material = sa.case((col(PageKept.stamp).is_not(None), material), else_=sa.null())
    return query.add_columns(
        material, col(PageKept.stamp), col(PageKept.valid_until), col(PageKept.html), col(PageKept.slots)
    ).outerjoin(PageKept, col(PageKept.receipt_id) == col(r.id))


def keeping(columns: Sequence[Any], now: datetime) -> Keeping:
    """`Keeping` from the columns `with_kept` added, in their order."""
    material, kept_stamp, valid_until, html, slots = columns
    stamp = stamp_of(material)
    fresh = kept_stamp == stamp and (valid_until is None or valid_until > now)
    return Keeping(stamp, Kept(html, slots) if fresh else None)


def stamp_of(material: str) -> str:
    digest = hashlib.blake2b(material.encode(), digest_size=16)
    digest.update(code_fingerprint().encode())
    return digest.hexdigest()


def row_of(
    receipt: ReceiptRow, stamp: str, page: Kept, valid_until: datetime | None, now: datetime
) -> dict[str, Any]:
    """The row keeping `page` (rendered with marks, `keepable`) under the stamp read before it was
    rendered: a change in between leaves a stamp that no longer matches, so one more render, never a stale
    page. `valid_until`: its slots' (`Slots.valid_until`)."""
    return {
        "receipt_id": receipt.id,
        "tenant_id": receipt.tenant_id,
        "contact_hash": receipt.contact_hash,
        "stamp": stamp,
        "html": page.html,
        "slots": page.slots,
        "valid_until": valid_until,
        "kept_at": now,
    }


def upsert(connection: Session | Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Keep these pages (`row_of`), replacing what was kept for their receipts. Not committed."""
    # A Core connection's executemany: through a Session, a list of rows takes the ORM's bulk path (~5 ms).
    conn = connection.connection() if isinstance(connection, Session) else connection
    conn.execute(_upsert(conn.dialect.name), list(rows))


@cache
def _upsert(dialect: str) -> Any:
    """Built once per dialect, so SQLAlchemy compiles it once (a statement built per call with its values
    cost ~1 ms of CPU a page)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PageKept.__table__)  # type: ignore[attr-defined]
    columns = ("tenant_id", "contact_hash", "stamp", "html", "slots", "valid_until", "kept_at")
    return insert.on_conflict_do_update(
        index_elements=["receipt_id"], set_={c: insert.excluded[c] for c in columns}
    )


def prune(session: Session, now: datetime, batch: int = 5000) -> int:
    """Drop up to `batch` pages rendered more than `KEEP_FOR` ago (their next fetch renders them again);
    commits."""
    old = sa.select(col(PageKept.receipt_id)).where(col(PageKept.kept_at) < now - KEEP_FOR).limit(batch)
    ids = list(session.execute(old).scalars())
    if ids:
        session.execute(sa.delete(PageKept).where(col(PageKept.receipt_id).in_(ids)))
    session.commit()
    return len(ids)


class PruneJob:
    """`PRUNE`, hourly: old kept pages out, a batch at a time, until none is left."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def __call__(self, args: JobArgs) -> None:
        with Session(self.engine) as session:
            while prune(session, self.clock()):
                pass
