"""Incremental linking: what a stored receipt and a tracked event tell the graph, as jobs.

- A receipt: its contact (keyed hash of phone or e-mail) with its loyalty card, or the one it has, alone.
- An identify / subscribe / login / signup / order event: the site's browser id with each hashed
  identifier (user id and card namespaced by the tenant).
- An event carrying `ec_click`: the site's browser id with the contact (else the card) of the receipt the
  click id names, when that receipt is the same tenant's.
- `receipt_open` / `block_view` / `block_click` on the cloud's page: the page's browser id with the
  receipt's contact. `receipt_fetch` is no person (a preview, a scanner) and bot events link nothing.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cloud.events import EventsTracked, ReceiptStored
from cloud.identity import graph
from cloud.identity.graph import NodeKey, NodeKind, Policy, Source
from cloud.identity.store import Observation, Outcome, blocklist, graph_lock, observe
from cloud.ingest.models import ReceiptRow
from cloud.jobs import Job, JobArgs
from cloud.logs import event
from cloud.privacy.keys import IdentityKeys
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.events import EventType, IdentifierKind, TrackedEvent
from cloud.tracking.models import TrackingEvent
from cloud.tracking.store import to_event

log = logging.getLogger("cloud.identity")

RECEIPTS_STORED = Job("identity.receipts_stored", max_attempts=10)
EVENTS_TRACKED = Job("identity.events_tracked", max_attempts=10)

IDENTIFYING = frozenset(
    {EventType.IDENTIFY, EventType.SUBSCRIBE, EventType.LOGIN, EventType.SIGNUP, EventType.ORDER}
)
ON_PAGE = frozenset({EventType.RECEIPT_OPEN, EventType.BLOCK_VIEW, EventType.BLOCK_CLICK})
_KINDS = {
    IdentifierKind.PHONE: NodeKind.PHONE,
    IdentifierKind.EMAIL: NodeKind.EMAIL,
    IdentifierKind.CARD: NodeKind.CARD,
    IdentifierKind.USER_ID: NodeKind.USER_ID,
}


def card_key(keys: IdentityKeys, tenant_id: int, card: str) -> NodeKey:
    return graph.tenant_scoped(NodeKind.CARD, tenant_id, keys.hash(card.strip()))


def receipt_keys(keys: IdentityKeys, row: ReceiptRow) -> tuple[list[NodeKey], frozenset[NodeKey]]:
    """The receipt's identifiers, contact first, and those whose raw value is junk."""
    found: list[NodeKey] = []
    junk: set[NodeKey] = set()
    if row.contact_hash and row.contact_kind in (NodeKind.PHONE.value, NodeKind.EMAIL.value):
        found.append(NodeKey(NodeKind(row.contact_kind), row.contact_hash))
    if row.loyalty_card is not None:
        key = card_key(keys, row.tenant_id, row.loyalty_card)
        found.append(key)
        if graph.is_junk(row.loyalty_card):
            junk.add(key)
    return found, frozenset(junk)


def receipt_observation(keys: IdentityKeys, row: ReceiptRow) -> Observation | None:
    found, junk = receipt_keys(keys, row)
    if not found or row.id is None:
        return None
    return Observation(row.tenant_id, Source.RECEIPT, str(row.id), row.received_at, tuple(found), junk)


def event_observation(
    keys: IdentityKeys, click_ids: ClickIds, session: Session, tracked: TrackedEvent
) -> Observation | None:
    """What one event links, or None. Only a receipt of the event's own tenant is linked to."""
    if tracked.bot is not None:
        return None
    at = tracked.received_at
    tenant = tracked.tenant_id
    if tracked.type in ON_PAGE:
        if not tracked.browser_id or tracked.receipt_id is None:
            return None
        anchor = _receipt_anchor(keys, session, tracked.receipt_id, tenant)
        if anchor is None:
            return None
        browser = graph.page_browser(tracked.browser_id)
        return Observation(tenant, Source.PAGE, tracked.event_id, at, (browser, anchor))
    site = graph.site_browser(tenant, tracked.browser_id) if tracked.browser_id else None
    found: list[NodeKey] = []
    if tracked.type in IDENTIFYING:
        for identifier in tracked.identifiers:
            kind = _KINDS[identifier.kind]
            if kind in (NodeKind.CARD, NodeKind.USER_ID):
                found.append(graph.tenant_scoped(kind, tenant, identifier.hash))
            else:
                found.append(NodeKey(kind, identifier.hash))
    if tracked.ec_click and site is not None:
        ref = click_ids.read(tracked.ec_click, at)
        if ref is not None:
            anchor = _receipt_anchor(keys, session, ref.receipt_id, tenant)
            if anchor is not None:
                found.append(anchor)
    keys_seen = ([site] if site is not None else []) + found
    if len(keys_seen) < 2 and not (found and site is None):
        return None
    return Observation(tenant, Source.EVENT, tracked.event_id, at, tuple(keys_seen))


def _receipt_anchor(keys: IdentityKeys, session: Session, receipt_id: int, tenant_id: int) -> NodeKey | None:
    row = session.get(ReceiptRow, receipt_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    found, _ = receipt_keys(keys, row)
    return found[0] if found else None


@dataclass
class Linker:
    """The job handlers: one transaction per observation (short locks, idempotent retries)."""

    engine: Engine
    keys: IdentityKeys
    click_ids: ClickIds
    policy: Policy = field(default_factory=Policy)

    def link(self, observation: Observation) -> Outcome:
        with Session(self.engine) as session, graph_lock(session):
            outcome = observe(
                session, observation, self.policy, blocklist(session, self.keys, observation.tenant_id)
            )
            session.commit()
        return outcome

    def link_all(self, observations: Iterable[Observation]) -> int:
        done = 0
        for observation in observations:
            done += self.link(observation).recorded
        return done

    def receipts_stored(self, args: JobArgs) -> None:
        stored = ReceiptStored.from_args(args)
        with Session(self.engine) as session:
            rows = session.exec(
                select(ReceiptRow)
                .where(col(ReceiptRow.id).in_(stored.receipt_ids))
                .order_by(col(ReceiptRow.id))
            ).all()
            observations = [o for row in rows if (o := receipt_observation(self.keys, row)) is not None]
        done = self.link_all(observations)
        event(
            log,
            logging.INFO,
            "identity.receipts_linked",
            tenant_id=stored.tenant_id,
            receipts=len(rows),
            observations=done,
        )

    def events_tracked(self, args: JobArgs) -> None:
        tracked = EventsTracked.from_args(args)
        with Session(self.engine) as session:
            rows = session.exec(
                select(TrackingEvent)
                .where(
                    col(TrackingEvent.event_id).in_(tracked.event_ids),
                    TrackingEvent.tenant_id == tracked.tenant_id,
                )
                .order_by(col(TrackingEvent.received_at), col(TrackingEvent.event_id))
            ).all()
            observations = [
                o
                for row in rows
                if (o := event_observation(self.keys, self.click_ids, session, to_event(row))) is not None
            ]
        done = self.link_all(observations)
        event(
            log,
            logging.INFO,
            "identity.events_linked",
            tenant_id=tracked.tenant_id,
            events=len(rows),
            observations=done,
        )
