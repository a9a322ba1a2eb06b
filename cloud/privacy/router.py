"""Privacy endpoints for the retailer's systems: erasure requests, consent records, the ad audience."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session, col, select

from cloud.db.types import utcnow
from cloud.deps import CurrentTenant, IdentityKeysDep, SessionDep, WritingTenant, get_engine
from cloud.errors import InvalidInput, error_responses
from cloud.privacy import consent, erasure
from cloud.privacy.models import ErasureRequest
from cloud.privacy.schemas import ConsentIn, ConsentOut, ErasureIn, ErasureOut
from receipts.contact import BuyerContact, InvalidContact, parse_contact

router = APIRouter(tags=["privacy"])


def _contact(text: str) -> BuyerContact:
    try:
        return parse_contact(text)
    except InvalidContact as exc:
        raise InvalidInput(f"contact: {exc}") from exc


@router.post(
    "/v1/privacy/erasures",
    response_model=ErasureOut,
    status_code=201,
    summary="Erase a buyer (by phone or e-mail) from this retailer's data",
    description="Removes the raw contact, its hashes, push devices, opt-outs and consents; fiscal records "
    "stay without the contact. Done before the answer; the request is logged with counts only.",
    responses=error_responses(401, 403, 422),
)
def post_erasure(
    body: ErasureIn, session: SessionDep, tenant: WritingTenant, keys: IdentityKeysDep
) -> ErasureOut:
    assert tenant.id is not None
    done = erasure.erase(
        session,
        keys,
        _contact(body.contact),
        tenant_id=tenant.id,
        requested_by=f"api:tenant:{tenant.id}",
        reason=body.reason,
        now=utcnow(),
    )
    return ErasureOut.model_validate(done, from_attributes=True)


@router.get(
    "/v1/privacy/erasures",
    response_model=list[ErasureOut],
    summary="This retailer's erasure log (newest first)",
    responses=error_responses(401),
)
def list_erasures(
    session: SessionDep, tenant: CurrentTenant, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ErasureOut]:
    rows = session.exec(
        select(ErasureRequest)
        .where(ErasureRequest.tenant_id == tenant.id)
        .order_by(col(ErasureRequest.id).desc())
        .limit(limit)
    )
    return [ErasureOut.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/v1/consents",
    response_model=ConsentOut,
    status_code=201,
    summary="Record a buyer's consent or its withdrawal, with the exact text shown",
    responses=error_responses(401, 403, 409, 422),
)
def post_consent(
    body: ConsentIn, session: SessionDep, tenant: WritingTenant, keys: IdentityKeysDep
) -> ConsentOut:
    assert tenant.id is not None
    record = consent.record_consent(
        session,
        keys,
        tenant_id=tenant.id,
        contact=_contact(body.contact),
        purpose=body.purpose,
        granted=body.granted,
        text=body.text,
        text_version=body.text_version,
        source=body.source,
        source_ref=body.source_ref,
        now=utcnow(),
    )
    session.commit()
    return ConsentOut.model_validate(record, from_attributes=True)


@router.get(
    "/v1/advertising/audience",
    summary="Hashed contacts of buyers with advertising consent, one per line (for ad platforms)",
    description="`format=meta`: SHA-256 of the phone without '+' (and of e-mails); `format=google`: of the "
    "E.164 phone with '+'. Only buyers whose latest advertising record is a grant.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401)},
)
def audience(
    request: Request,
    tenant: CurrentTenant,
    format: Annotated[str, Query(pattern="^(meta|google)$")] = "meta",
) -> StreamingResponse:
    assert tenant.id is not None
    tenant_id, e164, engine = tenant.id, format == "google", get_engine(request)

    def lines() -> Iterator[str]:
        # A session of its own: the response streams after the request's dependencies have closed.
        with Session(engine) as db:
            for value in consent.advertising_audience(db, tenant_id, e164=e164):
                yield value + "\n"

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")
