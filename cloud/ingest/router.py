"""Ingest endpoints: registers post receipt batches; head office reads a store's receipts."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from cloud.deps import CurrentRegister, IdentityKeysDep, ReportReader, SessionDep
from cloud.errors import error_responses
from cloud.events import MessageBus, get_bus
from cloud.ingest import service
from cloud.ingest.schemas import RECEIPT_EXAMPLE, ReceiptPage, StoredReceipt
from cloud.settings import READ_PAGE_MAX
from sync.protocol import PREFIX, BatchResult, ReceiptBatch

router = APIRouter(tags=["ingest"])


@router.post(
    PREFIX + "/stores/{store_id}/receipts/batch",
    response_model=BatchResult,
    summary="Store a batch of closed receipts (idempotent by FN + FD + FPD)",
    description=(
        "Each receipt is validated on its own. Valid ones are committed before the answer and listed in "
        "`accepted` as `stored` (new), `duplicate` (seen before, same content) or `conflict` (same key, "
        "different content: the first stays, the resend is kept for audit). Invalid ones are listed in "
        "`rejected` with their index in the batch and the reason; resending them will not help."
    ),
    responses=error_responses(401, 403, 413, 422),
)
def post_batch(
    store_id: int,
    session: SessionDep,
    register: CurrentRegister,
    keys: IdentityKeysDep,
    batch: Annotated[
        ReceiptBatch,
        Body(openapi_examples={"one receipt": {"value": {"receipts": [RECEIPT_EXAMPLE]}}}),
    ],
    bus: Annotated[MessageBus, Depends(get_bus)],
) -> BatchResult:
    return service.ingest_batch(session, register, store_id, batch, keys, bus)


@router.get(
    PREFIX + "/stores/{store_id}/receipts",
    response_model=ReceiptPage,
    summary="A store's receipts, oldest first, paged by id",
    responses=error_responses(401, 403, 404, 422),
)
def get_receipts(
    store_id: int,
    session: SessionDep,
    caller: ReportReader,
    after_id: Annotated[int, Query(ge=0, description="Return receipts with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=READ_PAGE_MAX)] = 100,
) -> ReceiptPage:
    caller.require_store(store_id)  # a user scoped to other stores: 404, as for another tenant's store
    page = service.list_receipts(session, caller.tenant_id, store_id, after_id, limit)
    receipts = [
        StoredReceipt(
            id=row.id or 0,
            register_id=row.register_id,
            received_at=row.received_at,
            key=f"{row.fn_serial}:{row.fd_number}:{row.fpd}",
            receipt=row.payload,
        )
        for row in page.rows
    ]
    return ReceiptPage(
        store_id=store_id,
        count=page.count,
        receipts=receipts,
        next_after_id=receipts[-1].id if len(receipts) == limit else None,
    )
