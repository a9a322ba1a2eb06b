"""Pages kept rendered ahead of their first fetch: when a register's receipts are stored, the job worker
renders and keeps the page of each one that will get a message link (cloud.pages.kept), so the first
fetch (often a messenger's link preview, a second after the message) reads the kept page like any later
one, instead of rendering it in the request.

Nothing is decided ahead that a fetch should decide: a template that issues promo codes or draws holdout
exposures is rendered at the first fetch, as before, since those are drawn when the buyer opens the
page; and a page rendered ahead is served only while its stamp is current, so a sign-up, a publish or a
new seller's detail in between still renders it again. A page that cannot be kept (`kept.keepable`) is
skipped here and rendered at its fetch.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.events import ReceiptStored
from cloud.jobs import Job, JobArgs
from cloud.pages import kept, service, tracking, versions
from cloud.pages.page import receipt_page_html
from cloud.privacy.keys import IdentityKeys

KEEP_AHEAD = Job("pages.keep_ahead")
# Pages written per statement: a register's batch holds up to 1 000 receipts, ~12 kB of HTML each.
CHUNK = 200


def keep_ahead(session: Session, keys: IdentityKeys, receipt_ids: Sequence[int], now: datetime) -> int:
    """Render and keep the pages of `receipt_ids` that have none current and whose template writes
    nothing at a fetch; not committed. Returns how many were kept."""
    rows: list[dict[str, Any]] = []
    for found in service.pages_of(session, receipt_ids):
        if found.keeping is None or found.keeping.page is not None:
            continue
        published = versions.prepared(session, found.version_id, found.version_created_at)
        if published.needs.writes:  # a promo code, a holdout draw: the buyer's first fetch makes them
            continue
        slots = kept.Slots(now, tracking.EVENTS_PATH)
        html = receipt_page_html(
            session,
            keys,
            found.receipt,
            found.tenant,
            found.store,
            page_path=slots.page_path,
            now=now,
            published=published,
            slots=slots,
        )
        if kept.keepable(html, slots):
            page = kept.Kept(html, slots.as_json())
            rows.append(kept.row_of(found.receipt, found.keeping.stamp, page, slots.valid_until, now))
    for at in range(0, len(rows), CHUNK):
        kept.upsert(session, rows[at : at + CHUNK])
    return len(rows)


class KeepAhead:
    """KEEP_AHEAD's handler: the stored receipts' pages, kept in one transaction."""

    def __init__(self, engine: Engine, keys: IdentityKeys, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.keys = keys
        self.clock = clock

    def __call__(self, args: JobArgs) -> None:
        stored = ReceiptStored.from_args(args)
        with Session(self.engine, expire_on_commit=False) as session:
            keep_ahead(session, self.keys, stored.receipt_ids, self.clock())
            session.commit()
