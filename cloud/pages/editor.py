"""The e-receipt template editor in head office (`/admin/page`, the templates permission: owner, admin).

Plain server-rendered forms, no script: list and order blocks, add and remove them, edit a block's settings,
holdout and segment rules, the purchase categories; preview any version at 320 and 640 px for each segment
(iframes of `/admin/page/preview/...` with a sample receipt); publish a version, roll back; the versions with
who saved and when. Every change saves a new immutable version (the newest is the draft); buyers see the
published one.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from cloud.accounts import tenants
from cloud.accounts.models import Store, Tenant
from cloud.accounts.roles import Permission
from cloud.accounts.sessions import SignedIn
from cloud.db.types import utcnow
from cloud.deps import SessionDep, page_user
from cloud.errors import CloudError, InvalidInput
from cloud.pages import versions, webhook
from cloud.pages.blocks import (
    LABELS,
    LEGAL,
    SETTINGS,
    Block,
    BlockType,
    Template,
    errors_of,
    new_block_id,
)
from cloud.pages.blocks_render import sample_variables, text_errors
from cloud.pages.editor_forms import (
    categories_from_form,
    categories_text,
    fields_of,
    form_values,
    rule_values,
    rules_from_form,
    settings_from_form,
)
from cloud.pages.holdout import block_lifts
from cloud.pages.page import preview_html
from cloud.pages.receipt_view import receipt_view
from cloud.pages.segments import Audience
from cloud.web.forms import check_csrf, read_form
from cloud.web.office import render_office
from receipts import Receipt
from receipts.contact import BuyerContact, ContactKind
from receipts.receipt import FiscalData, Item, Payment

router = APIRouter(include_in_schema=False)
Editor = Annotated[SignedIn, Depends(page_user(Permission.TEMPLATES))]
BASE = "/admin/page"
PREVIEW_WIDTHS = (320, 640)
# The preview is framed by the editor on the same origin; the buyer's page itself is never framed.
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        "form-action 'none'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}
FORM_BYTES = 64 * 1024  # a block with twenty rules and long texts


def segments_of(template: Template) -> list[tuple[str, Audience]]:
    """The preview's segments: everyone else (matches no rule), then one sample audience per distinct rule
    condition of the template, in the order they first appear."""
    found: list[tuple[str, Audience]] = [
        ("все остальные (без правил)", Audience(region="Другой регион", has_contact=True))
    ]
    seen: set[str] = set()
    for block in template.blocks:
        for rule in block.rules:
            key = rule.when.model_dump_json()
            if key not in seen:
                seen.add(key)
                found.append((rule.when.describe(), rule.when.sample()))
    return found


def _sample_names(template: Template, audience: Audience) -> list[str]:
    names = []
    for category in sorted(audience.categories):
        words = template.categories.get(category) or [category]
        names.append(f"{words[0].capitalize()} (пример)")
    return names


def sample_receipt(template: Template, audience: Audience, now: datetime) -> Receipt:
    """A receipt of `audience.total` with an item of each category the segment bought."""
    names = _sample_names(template, audience) or ["Кофе зерновой 250 г"]
    total = max(audience.total, len(names) * 100)
    each = total // len(names)
    items = [Item(n, each, Decimal(1), each) for n in names[:-1]]
    last = total - each * (len(names) - 1)
    items.append(Item(names[-1], last, Decimal(1), last))
    return Receipt(
        fiscal=FiscalData(
            "9999078900001234", 1234, 123456789, "0000000001012345", 12, 34, now.replace(tzinfo=None)
        ),
        items=tuple(items),
        payments=(Payment("card", total),),  # type: ignore[arg-type]
        total=total,
        contact=BuyerContact(ContactKind.PHONE, "79160000000"),
        extra={"cashier": "Иванова А."},
    )


def _tenant_and_store(session: Session, tenant_id: int, audience: Audience) -> tuple[Tenant, Store]:
    tenant = tenants.get_tenant(session, tenant_id)
    stores = tenants.stores_of(session, tenant_id)
    store = next((s for s in stores if s.id == audience.store_id), None) or (
        stores[0] if stores else Store(tenant_id=tenant_id, name="Магазин")
    )
    return tenant, store


def _template_of(session: Session, tenant_id: int, version_id: int) -> Template:
    if version_id == 0:
        return versions.published(session, tenant_id).template
    return versions.parse(versions.version(session, tenant_id, version_id).body)


def _editor_page(
    request: Request,
    signed_in: SignedIn,
    session: Session,
    *,
    segment: int = 0,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    tenant_id = signed_in.user.tenant_id
    draft, draft_row = versions.draft(session, tenant_id)
    pointer = versions.pointer(session, tenant_id)
    segments = segments_of(draft)
    live = versions.published(session, tenant_id).template
    lifts = block_lifts(session, tenant_id, [b.id for b in live.blocks if b.holdout])
    return render_office(
        request,
        signed_in,
        "pages/editor.html",
        status_code=status_code,
        template=draft,
        draft=draft_row,
        pointer=pointer,
        history=versions.versions(session, tenant_id, limit=30),
        labels=LABELS,
        legal=LEGAL,
        addable=[(t.value, LABELS[t]) for t in BlockType if t not in LEGAL],
        categories=categories_text(draft.categories),
        segments=[label for label, _a in segments],
        segment=min(max(segment, 0), len(segments) - 1),
        preview_version=draft_row.id if draft_row else 0,
        widths=PREVIEW_WIDTHS,
        lifts=lifts,
        hook=webhook.webhook_of(session, tenant_id),
        notice=notice,
        error=error,
    )


@router.get(BASE, response_class=HTMLResponse)
def editor(request: Request, signed_in: Editor, session: SessionDep, segment: int = 0) -> HTMLResponse:
    return _editor_page(request, signed_in, session, segment=segment)


def _save(session: Session, signed_in: SignedIn, body: dict[str, Any], note: str) -> None:
    template = versions.parse(body)
    problems = text_errors(template, sample_variables())
    if problems:
        raise InvalidInput("текст с ошибкой в шаблоне: " + "; ".join(problems[:3]))
    versions.save(session, signed_in.user.tenant_id, template, actor=signed_in.user.email, note=note)


async def _change(request: Request, signed_in: SignedIn, session: Session, change: Any) -> Response:
    """Apply `change(form, body) -> note` to the draft and save it as a new version; back to the editor."""
    form = await read_form(request, FORM_BYTES)
    check_csrf(form, signed_in.session.csrf_token)
    draft, _row = versions.draft(session, signed_in.user.tenant_id)
    body = draft.model_dump(mode="json")
    try:
        note = change(form, body)
        _save(session, signed_in, body, note)
    except CloudError as exc:
        session.rollback()
        return _editor_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return RedirectResponse(
        form.get("next", BASE) if form.get("next", "").startswith(BASE) else BASE, status_code=303
    )


@router.post(f"{BASE}/move")
async def move(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    def change(form: dict[str, str], body: dict[str, Any]) -> str:
        ids = [b["id"] for b in body["blocks"]]
        block_id = form.get("block", "")
        if block_id not in ids:
            raise InvalidInput("такого блока нет")
        i = ids.index(block_id)
        j = i - 1 if form.get("dir") == "up" else i + 1
        if 0 <= j < len(ids):
            body["blocks"][i], body["blocks"][j] = body["blocks"][j], body["blocks"][i]
        return f"блок {block_id} {'выше' if form.get('dir') == 'up' else 'ниже'}"

    return await _change(request, signed_in, session, change)


@router.post(f"{BASE}/add")
async def add_block(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    def change(form: dict[str, str], body: dict[str, Any]) -> str:
        try:
            kind = BlockType(form.get("type", ""))
        except ValueError:
            raise InvalidInput("неизвестный тип блока") from None
        block_id = new_block_id(Template.model_validate(body), kind)
        blocks = body["blocks"]
        at = next((i for i, b in enumerate(blocks) if b["type"] == "footer"), len(blocks))  # above the footer
        blocks.insert(at, Block(id=block_id, type=kind).model_dump(mode="json"))
        return f"добавлен блок {block_id}"

    return await _change(request, signed_in, session, change)


@router.post(f"{BASE}/delete")
async def delete_block(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    def change(form: dict[str, str], body: dict[str, Any]) -> str:
        block_id = form.get("block", "")
        body["blocks"] = [b for b in body["blocks"] if b["id"] != block_id]
        return f"удалён блок {block_id}"

    return await _change(request, signed_in, session, change)


@router.post(f"{BASE}/categories")
async def save_categories(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    def change(form: dict[str, str], body: dict[str, Any]) -> str:
        body["categories"] = categories_from_form(form.get("categories", ""))
        return "категории покупок"

    return await _change(request, signed_in, session, change)


def _block_page(
    request: Request,
    signed_in: SignedIn,
    session: Session,
    block: Block,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    specs = fields_of(SETTINGS[block.type])
    defaults = SETTINGS[block.type]().model_dump(mode="json")
    current = values or {
        "settings": form_values({**defaults, **block.settings}),
        "holdout": round(block.holdout * 100),
        "rules": [rule_values(r) for r in block.rules],
    }
    return render_office(
        request,
        signed_in,
        "pages/editor_block.html",
        status_code=status_code,
        block=block,
        label=LABELS[block.type],
        legal=block.type in LEGAL,
        specs=specs,
        values=current,
        error=error,
        back=BASE,
    )


@router.get(BASE + "/blocks/{block_id}", response_class=HTMLResponse)
def block_page(request: Request, block_id: str, signed_in: Editor, session: SessionDep) -> HTMLResponse:
    draft, _row = versions.draft(session, signed_in.user.tenant_id)
    block = draft.block(block_id)
    if block is None:
        return _editor_page(request, signed_in, session, error="такого блока нет", status_code=404)
    return _block_page(request, signed_in, session, block)


@router.post(BASE + "/blocks/{block_id}", response_class=HTMLResponse)
async def save_block(request: Request, block_id: str, signed_in: Editor, session: SessionDep) -> Response:
    form = await read_form(request, FORM_BYTES)
    check_csrf(form, signed_in.session.csrf_token)
    draft, _row = versions.draft(session, signed_in.user.tenant_id)
    block = draft.block(block_id)
    if block is None:
        return _editor_page(request, signed_in, session, error="такого блока нет", status_code=404)
    model = SETTINGS[block.type]
    count = int(form.get("rules", "0")) if form.get("rules", "0").isdigit() else 0
    rules = rules_from_form(model, form, min(count, 20))
    if form.get("add_rule"):
        rules.append({"when": {}, "hidden": False, "settings": {}})
    holdout_text = form.get("holdout", "0").strip() or "0"
    try:
        holdout = float(holdout_text.replace(",", ".")) / 100
        updated = Block.model_validate(
            {
                "id": block.id,
                "type": block.type,
                "settings": settings_from_form(model, form),
                "rules": rules,
                "holdout": holdout,
            }
        )
        body = draft.model_dump(mode="json")
        body["blocks"] = [
            updated.model_dump(mode="json") if b["id"] == block_id else b for b in body["blocks"]
        ]
        _save(session, signed_in, body, f"блок {block_id}: настройки")
    except ValueError as exc:  # pydantic's ValidationError, a number that is not one
        error = errors_of(exc) if isinstance(exc, ValidationError) else "доля holdout — число процентов"
        return _block_page(request, signed_in, session, block, error=error, status_code=422)
    except CloudError as exc:
        session.rollback()
        return _block_page(request, signed_in, session, block, error=exc.detail, status_code=exc.status_code)
    target = f"{BASE}/blocks/{block_id}" if form.get("add_rule") else BASE
    return RedirectResponse(target, status_code=303)


@router.post(f"{BASE}/publish")
async def publish(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    try:
        version_id = int(form.get("version", ""))
        versions.publish(session, signed_in.user.tenant_id, version_id, actor=signed_in.user.email)
    except ValueError:
        return _editor_page(request, signed_in, session, error="не выбрана версия", status_code=422)
    except CloudError as exc:
        return _editor_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return _editor_page(request, signed_in, session, notice="Опубликовано: покупатели видят эту версию.")


@router.post(f"{BASE}/rollback")
async def rollback(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    check_csrf(await read_form(request), signed_in.session.csrf_token)
    try:
        versions.rollback(session, signed_in.user.tenant_id, actor=signed_in.user.email)
    except CloudError as exc:
        return _editor_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return _editor_page(
        request, signed_in, session, notice="Откат выполнен: покупатели видят предыдущую версию."
    )


@router.get(BASE + "/preview/{version_id}", response_class=HTMLResponse)
def preview(version_id: int, signed_in: Editor, session: SessionDep, segment: int = 0) -> HTMLResponse:
    """Version `version_id` (0: the published one) for the preview's `segment`, on a sample receipt."""
    tenant_id = signed_in.user.tenant_id
    template = _template_of(session, tenant_id, version_id)
    segments = segments_of(template)
    _label, audience = segments[min(max(segment, 0), len(segments) - 1)]
    now = utcnow()
    tenant, store = _tenant_and_store(session, tenant_id, audience)
    view = receipt_view(sample_receipt(template, audience, now), tenant, store)
    return HTMLResponse(preview_html(template, view, audience, now), headers=PREVIEW_HEADERS)


@router.post(f"{BASE}/webhook", response_class=HTMLResponse)
async def set_webhook(request: Request, signed_in: Editor, session: SessionDep) -> Response:
    """Point the CRM webhook at a URL (a new signing secret, shown once), or turn it off."""
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    me = signed_in.user
    if form.get("off"):
        webhook.disable_webhook(session, me.tenant_id, actor=me.email)
        return _editor_page(request, signed_in, session, notice="Вебхук выключен.")
    try:
        secret = webhook.set_webhook(session, me.tenant_id, form.get("url", ""), actor=me.email)
    except CloudError as exc:
        return _editor_page(request, signed_in, session, error=exc.detail, status_code=exc.status_code)
    return render_office(
        request,
        signed_in,
        "office/issued.html",
        title="Вебхук для CRM",
        explanation="Каждый ответ покупателя уйдёт POST-запросом на этот адрес. Проверяйте подпись "
        "X-Echeck-Signature этим секретом (HMAC-SHA256 от «t.тело»; docs/pages.md).",
        secret=secret,
        note="Секрет показан один раз.",
        back=BASE,
    )
