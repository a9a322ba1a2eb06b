"""The head-office identity page (admin): find a buyer's profile by receipt, see why its identifiers are
one profile (the chain of links with their provenance), split a wrong link, lift a quarantine, and the
tenant's blocked values. Server-rendered."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.accounts.roles import Permission
from cloud.accounts.sessions import SignedIn
from cloud.db.types import utcnow
from cloud.deps import SessionDep, page_user
from cloud.errors import NotFound
from cloud.identity import service, views
from cloud.ingest.models import ReceiptRow
from cloud.web.forms import check_csrf, read_form
from cloud.web.office import render_office

router = APIRouter(include_in_schema=False)
IdentityAdminUser = Annotated[SignedIn, Depends(page_user(Permission.SETTINGS))]

SOURCE_LABELS = {"receipt": "чек", "event": "событие сайта", "page": "страница чека"}
KIND_LABELS = {"phone": "телефон", "email": "e-mail", "card": "карта"}


@router.get("/identity", response_class=HTMLResponse)
def identity_page(
    request: Request,
    signed_in: IdentityAdminUser,
    session: SessionDep,
    receipt: Annotated[int | None, Query()] = None,
    profile: Annotated[int | None, Query()] = None,
) -> HTMLResponse:
    tenant_id = signed_in.user.tenant_id
    doc = None
    chains: list[dict[str, object]] = []
    error = None
    if receipt is not None:
        row = session.get(ReceiptRow, receipt)
        found = (
            views.profiles_for_receipts(session, tenant_id, [receipt])
            if row and row.tenant_id == tenant_id
            else {}
        )
        profile = found.get(receipt)
        if profile is None:
            error = f"У чека {receipt} нет связанного покупателя."
    if profile is not None:
        try:
            doc = service.profile_document(session, tenant_id, profile, None)
        except NotFound:
            error = f"Профиль {profile} не найден."
    if doc is not None:
        ids = [i for i in doc["identifiers"] if not i["quarantined"]]
        for other in ids[1:]:
            try:
                chains.append(
                    {
                        "to": other["label"],
                        **service.why_document(session, tenant_id, ids[0]["id"], other["id"]),
                    }
                )
            except NotFound:
                continue
        chains = [{"first": ids[0]["label"], **c} for c in chains] if ids else []
    links = {
        step["edge_id"]: step
        for c in chains
        for step in c["steps"]  # type: ignore[attr-defined]
        if step["kind"] != "ecosystem" and step["edge_id"] is not None
    }
    return render_office(
        request,
        signed_in,
        "office/identity.html",
        doc=doc,
        chains=chains,
        links=list(links.values()),
        blocked=service.blocked_document(session, tenant_id)["blocked"],
        quarantined=service.quarantined_document(session, tenant_id),
        kinds=KIND_LABELS,
        error=error,
        receipt=receipt,
        sources=SOURCE_LABELS,
    )


@router.post("/identity/links/{edge_id}/split")
async def split_link(
    request: Request, edge_id: int, signed_in: IdentityAdminUser, session: SessionDep
) -> Response:
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    reason = (form.get("reason") or "ошибочная связь").strip()[:200]
    done = service.split(
        session, signed_in.user.tenant_id, edge_id, f"admin:{signed_in.user.email}", reason, utcnow()
    )
    return RedirectResponse(f"/identity?profile={done['profiles'][0]}", status_code=303)


@router.post("/identity/identifiers/{node_id}/release")
async def release_identifier(
    request: Request, node_id: int, signed_in: IdentityAdminUser, session: SessionDep
) -> Response:
    form = await read_form(request)
    check_csrf(form, signed_in.session.csrf_token)
    done = service.release(
        session, signed_in.user.tenant_id, node_id, f"admin:{signed_in.user.email}", utcnow()
    )
    target = f"/identity?profile={done['profile_id']}" if done["profile_id"] is not None else "/identity"
    return RedirectResponse(target, status_code=303)
