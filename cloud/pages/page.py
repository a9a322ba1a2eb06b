"""Putting one buyer's page together when it is opened: the published template, the audience from the
current profile, segment rules and holdouts, each marketing block's state (signed up? which question?
which promo code?), then the HTML. Also the editor's preview of any version for a sample audience."""

import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from cloud.accounts.models import Store, Tenant
from cloud.ingest.models import ReceiptRow
from cloud.pages import audience as audience_facts
from cloud.pages import versions
from cloud.pages.blocks import (
    BlockType,
    EnrichmentSettings,
    PromoSettings,
    Question,
    RecommendationsSettings,
    Shown,
    Template,
    resolve,
)
from cloud.pages.blocks_render import BlockState, PageContext, PromoView, render_legal_block, render_page
from cloud.pages.kept import Slots
from cloud.pages.legal_part import legal_part
from cloud.pages.models import PageAnswer, PageExposure, PageTemplatePointer
from cloud.pages.promo import service as promo
from cloud.pages.receipt_view import ReceiptView
from cloud.pages.segments import Audience
from cloud.privacy.keys import IdentityKeys
from cloud.tracking.click_ids import ClickIds


def form_token(keys: IdentityKeys, receipt_id: int, block_id: str) -> str:
    """The token a page's form carries: only someone who was shown the page has it (CSRF for a page
    without a session), and it names the receipt and the block it may change."""
    return keys.hash(f"page-form:{receipt_id}:{block_id}")[:32]


def check_form_token(keys: IdentityKeys, receipt_id: int, block_id: str, token: str) -> bool:
    return hmac.compare_digest(form_token(keys, receipt_id, block_id), token)


def plain_link(_block_id: str, url: str) -> str:
    return url


def _question(settings: EnrichmentSettings, answered: set[str], receipt_number: int) -> Question | None:
    """The n-th receipt asks the first unanswered question among the first n of the configured order."""
    for q in settings.order[: max(receipt_number, 1)]:
        if q.value not in answered:
            return q
    return None


def states_for(
    shown: list[Shown],
    audience: Audience,
    *,
    answered_here: set[tuple[str, str]],
    profile: set[str],
    promos: dict[str, PromoView | None],
) -> dict[str, BlockState]:
    """Each marketing block's state. `answered_here`: (block id, field) sent from this receipt's page;
    `profile`: enrichment fields this contact answered on any page; `promos`: the code each promo block
    issued (None: no code for this receipt)."""
    states: dict[str, BlockState] = {}
    for s in shown:
        bid, kind = s.block.id, s.block.type
        mine = {f for b, f in answered_here if b == bid}
        if kind is BlockType.LOYALTY:
            if "signup" in mine or audience.loyalty_member:
                states[bid] = BlockState(done=True)
            else:
                states[bid] = BlockState(hide=not audience.has_contact)
        elif kind is BlockType.ENRICHMENT:
            assert isinstance(s.settings, EnrichmentSettings)
            question = _question(s.settings, profile, audience.receipt_number)
            if mine:
                states[bid] = BlockState(done=True)
            else:
                states[bid] = BlockState(question=question, hide=question is None or not audience.has_contact)
        elif kind is BlockType.SURVEY:
            states[bid] = BlockState(done="rating" in mine)
        elif kind is BlockType.PROMO:
            promo = promos.get(bid)
            states[bid] = BlockState(promo=promo, hide=promo is None)
        elif kind is BlockType.RECOMMENDATIONS:
            assert isinstance(s.settings, RecommendationsSettings)
            picks = tuple(r for r in s.settings.rules if r.category in audience.categories)[
                : s.settings.limit
            ]
            states[bid] = BlockState(picks=picks, hide=not picks)
    return states


def record_exposures(
    session: Session,
    receipt: ReceiptRow,
    held: list[str],
    exposed: list[str],
    now: datetime,
    *,
    commit: bool = True,
) -> None:
    """The holdout draw of this receipt for each block, once (the first open; a later open's rows are
    skipped by the unique key, so a second open at the same moment is no error); the lift reads these.
    Without `commit`, in the caller's transaction (the page's, with its fetch event)."""
    if not held and not exposed:
        return
    assert receipt.id is not None
    rows = [
        {
            "tenant_id": receipt.tenant_id,
            "receipt_id": receipt.id,
            "block_id": block_id,
            "held_out": block_id in held,
            "contact_hash": receipt.contact_hash,
            "at": now,
        }
        for block_id in [*held, *exposed]
    ]
    table = PageExposure.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(table).on_conflict_do_nothing(index_elements=["receipt_id", "block_id"]), rows)
    if commit:
        session.commit()


def issue_promo(
    session: Session, tenant_id: int, receipt_id: int, rule_name: str, now: datetime
) -> PromoView | None:
    """The promo block's code for this receipt (issued on the first open, the same one afterwards)."""
    issued = promo.issue_for_receipt(
        session, tenant_id=tenant_id, receipt_id=receipt_id, rule_name=rule_name, now=now
    )
    if issued is None:
        return None
    return PromoView(issued.code, issued.headline, issued.starts_at, issued.expires_at)


def click_links(click_ids: ClickIds, receipt_id: int, now: datetime) -> Callable[[str, str], str]:
    """`click_url(block_id, url)` of a page: an outbound link becomes the cloud's redirect carrying
    `ec_click`; a path on the cloud itself stays as it is."""

    def click_url(block_id: str, url: str) -> str:
        if url.startswith(("https://", "http://")):
            return click_ids.outbound_path(receipt_id, block_id, url, now)
        return url

    return click_url


def receipt_page_html(
    session: Session,
    keys: IdentityKeys,
    receipt: ReceiptRow,
    tenant: Tenant,
    store: Store,
    *,
    page_path: str,
    now: datetime,
    click_ids: ClickIds | None = None,
    tracking: Mapping[str, str] | None = None,
    published: versions.Prepared | None = None,
    slots: Slots | None = None,
) -> str:
    """`tracking`: what the page's script needs (cloud.pages.tracking.page_fetched); None: no script.
    `published`: the tenant's published template (`versions.prepared`); looked up when not given. Only the
    facts the template can use are read; exposures are added to the caller's transaction (not committed).
    `slots`: the page is rendered with marks for its per-fetch values (`cloud.pages.kept`), which take the
    place of `click_ids` and `tracking`."""
    assert receipt.id is not None
    if published is None:
        version_id = session.exec(
            select(PageTemplatePointer.version_id).where(PageTemplatePointer.tenant_id == receipt.tenant_id)
        ).first()
        published = versions.prepared(session, version_id)
    template, needs = published.template, published.needs
    audience, (answered_here, profile) = _audience_and_answers(session, receipt, store, template, needs)
    resolution = resolve(template, audience, receipt.id, frozenset(b for b, _f in answered_here))
    record_exposures(session, receipt, resolution.held_out, resolution.exposed, now, commit=False)
    promos: dict[str, PromoView | None] = {}
    for s in resolution.shown:
        if isinstance(s.settings, PromoSettings):
            promos[s.block.id] = issue_promo(
                session, receipt.tenant_id, receipt.id, s.settings.rule_name, now
            )
    states = states_for(
        resolution.shown, audience, answered_here=answered_here, profile=profile, promos=promos
    )
    receipt_id = receipt.id
    click_url: Callable[[str, str], str]
    if slots is not None:
        click_url, tracking = slots.click_url, slots.tracking
    else:
        click_url = click_links(click_ids, receipt_id, now) if click_ids else plain_link
    ctx = PageContext(
        receipt_id=receipt_id,
        page_path=page_path,
        click_url=click_url,
        form_token=lambda block_id: form_token(keys, receipt_id, block_id),
        now=now,
        states=states,
        tracking=tracking,
        countdown=slots.remaining if slots is not None else None,
    )
    part = legal_part(receipt, tenant, store, resolution.shown, render_legal_block)
    return render_page(part.view, resolution.shown, ctx, part.blocks)


@cache
def _answers_query(here: bool, profile: bool) -> Any:
    """The answers of a receipt (`here`) and/or the enrichment answers of its contact (`profile`); built
    once (building it cost as much CPU as running it)."""
    whose = []
    if here:
        whose.append(col(PageAnswer.receipt_id) == sa.bindparam("receipt_id"))
    if profile:
        whose.append(
            sa.and_(
                col(PageAnswer.tenant_id) == sa.bindparam("tenant_id"),
                col(PageAnswer.contact_hash) == sa.bindparam("contact_hash"),
                col(PageAnswer.kind) == "enrichment",
            )
        )
    return sa.select(
        col(PageAnswer.receipt_id),
        col(PageAnswer.tenant_id),
        col(PageAnswer.contact_hash),
        col(PageAnswer.kind),
        col(PageAnswer.block_id),
        col(PageAnswer.field),
    ).where(sa.or_(*whose))


Answers = tuple[set[tuple[str, str]], set[str]]


@cache
def _facts_and_answers_query(flags: audience_facts.Flags, here: bool, profile: bool) -> Any:
    """The audience's facts and the answers in one statement: each answer row carries the facts (a
    contact's answers are a handful of rows), and a receipt without answers is one row of facts whose
    answer columns are NULL. Uncorrelated scalar subqueries run once on PostgreSQL and SQLite alike."""
    answers = _answers_query(here, profile).subquery()
    one = sa.select(sa.literal(1).label("one")).subquery()
    return sa.select(*audience_facts.facts_query(flags).selected_columns, *answers.c).select_from(
        one.outerjoin(answers, sa.true())
    )


def _audience_and_answers(
    session: Session, receipt: ReceiptRow, store: Store, template: Template, needs: versions.Needs
) -> tuple[Audience, Answers]:
    """`audience_facts.audience_of` and `_answers`, in one round trip when the page needs both."""
    flags = audience_facts.fact_flags(receipt, loyalty=needs.loyalty, app=needs.app, number=needs.number)
    with_profile = needs.profile and receipt.contact_hash is not None
    if not any(flags) or not (needs.answers or with_profile):
        return audience_facts.audience_of(
            session,
            receipt,
            store,
            template.categories,
            loyalty=needs.loyalty,
            app=needs.app,
            number=needs.number,
        ), _answers(session, receipt, needs)
    rows = session.execute(
        _facts_and_answers_query(flags, needs.answers, with_profile), audience_facts.facts_params(receipt)
    ).all()
    facts = sum(flags)
    who = audience_facts.audience_from(receipt, store, template.categories, flags, rows[0][:facts])
    answers = [row[facts:] for row in rows if row[facts + 4] is not None]  # block_id: NULL when none
    return who, _answers_of(receipt, needs, answers)


def _answers(session: Session, receipt: ReceiptRow, needs: versions.Needs) -> Answers:
    """(block id, field) answered from this receipt's page, and the profile fields (enrichment) this
    contact answered on any page of the tenant: one query for both, none when the template has no form."""
    with_profile = needs.profile and receipt.contact_hash is not None
    if not needs.answers and not with_profile:
        return set(), set()
    rows = session.execute(
        _answers_query(needs.answers, with_profile),
        {"receipt_id": receipt.id, "tenant_id": receipt.tenant_id, "contact_hash": receipt.contact_hash},
    )
    return _answers_of(receipt, needs, rows)


def _answers_of(receipt: ReceiptRow, needs: versions.Needs, rows: Iterable[Sequence[Any]]) -> Answers:
    here: set[tuple[str, str]] = set()
    profile: set[str] = set()
    with_profile = needs.profile and receipt.contact_hash is not None
    for receipt_id, tenant_id, contact_hash, kind, block_id, field in rows:
        if needs.answers and receipt_id == receipt.id:
            here.add((block_id, field))
        if (
            with_profile
            and kind == "enrichment"
            and tenant_id == receipt.tenant_id
            and contact_hash == receipt.contact_hash
        ):
            profile.add(field)
    return here, profile


def preview_html(template: Template, view: ReceiptView, audience: Audience, now: datetime) -> str:
    """A version as `audience` would see it, on a sample receipt: nothing is written, forms are disabled,
    the promo block shows a sample code."""
    resolution = resolve(template, audience, None)
    sample = PromoView(
        "ECHK-7Q4M-2XWD", "Скидка 10% на следующую покупку", None, now + timedelta(days=13, hours=5)
    )
    promos: dict[str, PromoView | None] = {
        s.block.id: sample for s in resolution.shown if s.block.type is BlockType.PROMO
    }
    states = states_for(resolution.shown, audience, answered_here=set(), profile=set(), promos=promos)
    ctx = PageContext(
        receipt_id=None,
        page_path="",
        click_url=plain_link,
        form_token=lambda _b: "",
        now=now,
        states=states,
    )
    return render_page(view, resolution.shown, ctx)


def answers_of(session: Session, tenant_id: int, since: datetime | None = None) -> list[PageAnswer]:
    query = select(PageAnswer).where(PageAnswer.tenant_id == tenant_id)
    if since is not None:
        query = query.where(PageAnswer.at >= since)
    return list(session.exec(query.order_by(col(PageAnswer.id))))


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
