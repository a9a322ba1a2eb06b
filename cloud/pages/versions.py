"""Template versions: save (a new immutable row), publish (move the tenant's pointer), roll back (move it
to the version published before), read the published one. Every change goes to the audit log in the same
transaction. A tenant that never saved a template has the default one (`blocks.default_template`)."""

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from cloud.accounts import audit
from cloud.db.types import utcnow
from cloud.errors import Conflict, InvalidInput, NotFound
from cloud.pages.blocks import BlockType, Template, default_template, errors_of
from cloud.pages.models import PageTemplate, PageTemplatePointer


@dataclass(frozen=True, slots=True)
class Published:
    template: Template
    version_id: int | None  # None: the default template (nothing saved yet)


def parse(body: object) -> Template:
    try:
        return Template.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(f"шаблон не прошёл проверку: {errors_of(exc)}") from None


def published(session: Session, tenant_id: int) -> Published:
    """What the tenant's buyers see now."""
    row = session.exec(
        select(PageTemplate)
        .join(PageTemplatePointer, col(PageTemplatePointer.version_id) == col(PageTemplate.id))
        .where(PageTemplatePointer.tenant_id == tenant_id)
    ).first()
    if row is None:
        return Published(default_template(), None)
    return Published(Template.model_validate(row.body), row.id)


@dataclass(frozen=True, slots=True)
class Needs:
    """What a template's page reads from the database beyond the receipt: a page whose template cannot use
    a fact does not query it."""

    loyalty: bool  # a loyalty block, or a rule on membership
    app: bool  # a rule on an installed app
    number: bool  # the contact's receipt count (the profile block's question)
    answers: bool  # answers sent from this receipt's page (only form blocks have them)
    profile: bool  # the contact's profile answers from any page (the profile block)
    writes: bool  # the page may write more than its fetch: exposures (a holdout) or a promo code


def needs_of(template: Template) -> Needs:
    kinds = {b.type for b in template.blocks}
    conditions = [r.when for b in template.blocks for r in b.rules]
    return Needs(
        loyalty=BlockType.LOYALTY in kinds or any(c.loyalty is not None for c in conditions),
        app=any(c.app is not None for c in conditions),
        number=BlockType.ENRICHMENT in kinds,
        answers=bool(kinds & {BlockType.LOYALTY, BlockType.ENRICHMENT, BlockType.SURVEY}),
        profile=BlockType.ENRICHMENT in kinds,
        writes=BlockType.PROMO in kinds or any(b.holdout for b in template.blocks),
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A published version as the page uses it: parsed, with what its page needs. Shared between requests:
    never change it."""

    template: Template
    version_id: int | None
    needs: Needs


# Versions are immutable rows, so a parsed one is cached by its id and creation time and is never stale:
# the page's receipt query reads the tenant's pointer (cloud.pages.service.Found), and a publish or rollback
# shows on the very next fetch, in every worker. The cache only spares re-parsing and re-validating the
# JSON. (The creation time is in the key so that another database with the same ids, as tests make one
# after another in a process, never gets this one's version; a copy of this database has the same rows.)
_PREPARED: dict[tuple[int, datetime] | None, Prepared] = {}
_PREPARED_MAX = 512


def prepared(session: Session, version_id: int | None, created_at: datetime | None = None) -> Prepared:
    """The published version `version_id` (None: the default template), parsed once per process when its
    `created_at` is given (else read and parsed on this call)."""
    key = None if version_id is None else (version_id, created_at) if created_at is not None else None
    cacheable = version_id is None or key is not None
    hit = _PREPARED.get(key) if cacheable else None
    if hit is not None:
        return hit
    template = default_template()
    if version_id is not None:
        row = session.get(PageTemplate, version_id)
        if row is None:  # the pointer's foreign key makes this impossible; the default is the safe page
            return Prepared(template, None, needs_of(template))
        template = Template.model_validate(row.body)
    made = Prepared(template, version_id, needs_of(template))
    if cacheable:
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        _PREPARED[key] = made
    return made


def versions(session: Session, tenant_id: int, limit: int = 100) -> list[PageTemplate]:
    return list(
        session.exec(
            select(PageTemplate)
            .where(PageTemplate.tenant_id == tenant_id)
            .order_by(col(PageTemplate.number).desc())
            .limit(limit)
        )
    )


def version(session: Session, tenant_id: int, version_id: int) -> PageTemplate:
    row = session.get(PageTemplate, version_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("такой версии шаблона нет")
    return row


def pointer(session: Session, tenant_id: int) -> PageTemplatePointer | None:
    return session.get(PageTemplatePointer, tenant_id)


def draft(session: Session, tenant_id: int) -> tuple[Template, PageTemplate | None]:
    """What the editor works on: the newest saved version (published or not), else the published (default)
    template."""
    rows = versions(session, tenant_id, limit=1)
    if rows:
        return Template.model_validate(rows[0].body), rows[0]
    return published(session, tenant_id).template, None


def save(
    session: Session,
    tenant_id: int,
    template: Template,
    *,
    actor: str,
    note: str = "",
    now: datetime | None = None,
) -> PageTemplate:
    """A new version (never an update of an old one); committed with its audit entry."""
    number = (
        session.exec(select(func.max(PageTemplate.number)).where(PageTemplate.tenant_id == tenant_id)).one()
        or 0
    ) + 1
    row = PageTemplate(
        tenant_id=tenant_id,
        number=number,
        body=template.model_dump(mode="json"),
        note=note[:200],
        created_by=actor[:254],
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(session, tenant_id, actor, "page_template.saved", f"версия {number}", note=note[:200])
    session.commit()
    session.refresh(row)
    return row


def publish(session: Session, tenant_id: int, version_id: int, *, actor: str) -> PageTemplatePointer:
    row = version(session, tenant_id, version_id)
    current = pointer(session, tenant_id)
    if current is not None and current.version_id == row.id:
        return current
    assert row.id is not None
    if current is None:
        current = PageTemplatePointer(
            tenant_id=tenant_id, version_id=row.id, updated_by=actor, updated_at=utcnow()
        )
    else:
        current.previous_id, current.version_id = current.version_id, row.id
        current.updated_by, current.updated_at = actor[:254], utcnow()
    session.add(current)
    audit.record(session, tenant_id, actor, "page_template.published", f"версия {row.number}")
    session.commit()
    session.refresh(current)
    return current


def rollback(session: Session, tenant_id: int, *, actor: str) -> PageTemplatePointer:
    """Back to the version published before the current one (twice in a row goes forward again)."""
    current = pointer(session, tenant_id)
    if current is None or current.previous_id is None:
        raise Conflict("откатывать некуда: до текущей версии ничего не публиковалось")
    target = version(session, tenant_id, current.previous_id)
    current.previous_id, current.version_id = current.version_id, current.previous_id
    current.updated_by, current.updated_at = actor[:254], utcnow()
    session.add(current)
    audit.record(session, tenant_id, actor, "page_template.rolled_back", f"версия {target.number}")
    session.commit()
    session.refresh(current)
    return current
