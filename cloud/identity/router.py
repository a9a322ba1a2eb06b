"""Identity's JSON API for head office (tenant-scoped): a receipt's profile, a profile, why two
identifiers are one profile, an admin's split of a wrong link, the tenant's blocked values (list, add,
remove) and the release of a quarantined identifier."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cloud.accounts.callers import Caller
from cloud.accounts.roles import Permission
from cloud.db.types import utcnow
from cloud.deps import CurrentCaller, IdentityKeysDep, SessionDep, needs
from cloud.errors import Forbidden, NotFound, error_responses
from cloud.identity import service, views
from cloud.ingest.models import ReceiptRow

router = APIRouter(tags=["identity"])


def profile_reader(caller: CurrentCaller) -> Caller:
    """Analysts (reports) and admins (settings) read profiles."""
    if Permission.REPORTS not in caller.permissions and Permission.SETTINGS not in caller.permissions:
        raise Forbidden("your role does not allow this (reports or settings)")
    return caller


ProfileReader = Annotated[Caller, Depends(profile_reader)]
IdentityAdmin = Annotated[Caller, Depends(needs(Permission.SETTINGS))]


class SplitIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class BlockIn(BaseModel):
    kind: Literal["phone", "email", "card"]
    value: str = Field(min_length=1, max_length=200, description="the raw value: normalized and hashed")
    note: str = Field(default="", max_length=100, description="what it is; default: the masked value")


@router.get(
    "/v1/identity/receipts/{receipt_id}/profile",
    summary="The profile a receipt's buyer belongs to",
    responses=error_responses(401, 403, 404),
)
def receipt_profile(receipt_id: int, session: SessionDep, caller: ProfileReader) -> dict[str, Any]:
    row = session.get(ReceiptRow, receipt_id)
    if row is None or row.tenant_id != caller.tenant_id or not caller.sees_store(row.store_id):
        raise NotFound(f"receipt {receipt_id} not found for this tenant")
    found = views.profiles_for_receipts(session, caller.tenant_id, [receipt_id])
    if receipt_id not in found:
        raise NotFound(f"receipt {receipt_id} has no linked buyer")
    return {"receipt_id": receipt_id, "profile_id": found[receipt_id]}


@router.get(
    "/v1/identity/profiles/{profile_id}",
    summary="A buyer's profile as this retailer sees it",
    description="Identifiers (masked), the retailer's own receipts (in the caller's stores), events, "
    "consents and the segments the e-receipt page uses. Only identifiers this retailer observed itself.",
    responses=error_responses(401, 403, 404),
)
def get_profile(profile_id: int, session: SessionDep, caller: ProfileReader) -> dict[str, Any]:
    return service.profile_document(session, caller.tenant_id, profile_id, caller.store_ids)


@router.get(
    "/v1/identity/why",
    summary="Why two identifiers are one profile: the chain of links with their provenance",
    responses=error_responses(401, 403, 404),
)
def get_why(
    session: SessionDep, caller: IdentityAdmin, a: Annotated[int, Query()], b: Annotated[int, Query()]
) -> dict[str, Any]:
    return service.why_document(session, caller.tenant_id, a, b)


@router.post(
    "/v1/identity/links/{edge_id}/split",
    summary="Undo a wrong link: revoke it and recompute its profile",
    responses=error_responses(401, 403, 404, 422),
)
def post_split(edge_id: int, body: SplitIn, session: SessionDep, caller: IdentityAdmin) -> dict[str, Any]:
    return service.split(session, caller.tenant_id, edge_id, f"admin:{caller.who}", body.reason, utcnow())


@router.get(
    "/v1/identity/blocked",
    summary="The tenant's own values that never link (its shop phone, e-mail, test cards), hashed",
    responses=error_responses(401, 403),
)
def get_blocked(session: SessionDep, caller: IdentityAdmin) -> dict[str, Any]:
    return service.blocked_document(session, caller.tenant_id)


@router.post(
    "/v1/identity/blocked",
    summary="Block a value: it links nothing for this retailer and resolves to no profile",
    description="Later observations with it are refused; the links this retailer's observations made with it "
    "before are revoked (`unlinked`: how many). Other retailers' links are theirs.",
    responses=error_responses(401, 403, 422),
)
def post_blocked(
    body: BlockIn, session: SessionDep, keys: IdentityKeysDep, caller: IdentityAdmin
) -> dict[str, Any]:
    return service.block(session, keys, caller.tenant_id, body.kind, body.value, body.note, utcnow())


@router.delete(
    "/v1/identity/blocked/{kind}/{value_hash}",
    summary="Unblock a value (by the hash the list shows)",
    responses=error_responses(401, 403, 404),
)
def delete_blocked(kind: str, value_hash: str, session: SessionDep, caller: IdentityAdmin) -> dict[str, Any]:
    return service.unblock(session, caller.tenant_id, kind, value_hash)


@router.post(
    "/v1/identity/identifiers/{node_id}/release",
    summary="Lift the quarantine of one of the tenant's identifiers for this tenant: its links merge again",
    description="A quarantine is global (a hub is a hub for every retailer); a release is this retailer's: "
    "the links its own observations made with the identifier count again, for every other retailer it stays "
    "a hub. Only an identifier this tenant observed; logged with the admin.",
    responses=error_responses(401, 403, 404, 422),
)
def post_release(node_id: int, session: SessionDep, caller: IdentityAdmin) -> dict[str, Any]:
    return service.release(session, caller.tenant_id, node_id, f"admin:{caller.who}", utcnow())
