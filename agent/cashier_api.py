"""The cashier UI's part of the agent's local API: the prompt channel, recent receipts, "sync now".

UIs long-poll `GET /agent/v1/prompts?since=V&wait=S` for the open prompts and answer one with
`POST /agent/v1/prompts/{id}/answer`. Every call carries the local secret (header `X-Echeck-Secret`);
without it the answer is 401, so another local program cannot answer for the cashier.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status

from agent.local_schemas import (
    PREFIX,
    SECRET_HEADER,
    AnswerBody,
    AnswerResult,
    PromptMode,
    PromptsPage,
    PromptView,
    RecentReceipt,
    RecentReceipts,
    SyncNow,
)
from agent.prompts import AnswerKind, PromptAnswer, PromptBroker, PromptRequest
from receipts import InvalidContact, parse_contact
from sync.outbox import Outbox
from sync.protocol import receipt_from_wire

log = logging.getLogger(__name__)
POLL_SLICE_S = 0.5  # a long-poll re-checks the client's connection this often, so shutdown never waits long
MAX_WAIT_S = 60.0


def landing_url(base: str | None, register_id: int | None, landing_token: str | None) -> str | None:
    """The cloud's e-receipt landing for this checkout: it waits for the receipt, then shows it."""
    if not base or register_id is None or not landing_token:
        return None
    return f"{base.rstrip('/')}/r/c/{register_id}/{landing_token}"


def build_router(
    broker: PromptBroker,
    secret: str,
    outbox: Outbox,
    wake_sync: Callable[[], bool],
    landing: Callable[[str], str | None],
) -> APIRouter:
    async def require_secret(  # async: a sync dependency would take one of the API's threads
        x_echeck_secret: Annotated[str | None, Header(alias=SECRET_HEADER, include_in_schema=False)] = None,
    ) -> None:
        if x_echeck_secret is None or not secrets.compare_digest(x_echeck_secret.encode(), secret.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"the cashier UI's calls need the {SECRET_HEADER} header with the agent's local secret",
            )

    router = APIRouter(prefix=PREFIX, tags=["cashier UI"], dependencies=[Depends(require_secret)])

    def page(version: int, requests: list[PromptRequest]) -> PromptsPage:
        views = [_view(r, broker.expires_in(r.prompt_id), landing(r.checkout_id)) for r in requests]
        return PromptsPage(version=version, prompts=views)

    @router.get(
        "/prompts",
        summary="The open prompts (long-poll)",
        description="Answers at once when the open prompts changed after version `since`, else waits up to "
        "`wait` seconds. Pass the returned `version` as the next `since`.",
    )
    async def prompts(
        request: Request,
        since: Annotated[int, Query(ge=-1)] = -1,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
    ) -> PromptsPage:
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            version, open_prompts = await asyncio.to_thread(
                broker.wait_change, since, max(0.0, min(POLL_SLICE_S, left))
            )
            if version != since or left <= POLL_SLICE_S or await request.is_disconnected():
                return page(version, open_prompts)

    @router.post(
        "/prompts/{prompt_id}/answer",
        summary="Answer a prompt",
        description="422 with the reason when a typed contact is not a phone or e-mail; `accepted: false` "
        "when the prompt is gone (answered, timed out, or the checkout closed on the POS).",
    )
    async def answer(prompt_id: str, body: AnswerBody) -> AnswerResult:
        # async: never queued behind POS calls that hold the API's few threads while they wait for
        # exactly this answer. Nothing here blocks (a parse and an Event.set under a short lock).
        contact = None
        if body.kind == "contact":
            if not body.contact:
                raise HTTPException(422, "kind=contact needs the contact the cashier typed")
            try:
                contact = parse_contact(body.contact)
            except InvalidContact as exc:
                raise HTTPException(422, str(exc)) from exc
        accepted = broker.answer(
            prompt_id, PromptAnswer(AnswerKind(body.kind.value), contact.value if contact else None)
        )
        log.info(
            "prompt answer from the UI",
            extra={
                "prompt": prompt_id,
                "answer": body.kind.value,
                "contact": contact.masked if contact else None,
                "accepted": accepted,
            },
        )
        return AnswerResult(accepted=accepted)

    @router.get("/receipts/recent", summary="The last receipts closed here (contacts masked)")
    def recent(limit: Annotated[int, Query(ge=1, le=200)] = 20) -> RecentReceipts:
        out = []
        for entry in outbox.recent(limit):
            receipt = receipt_from_wire(entry.payload)
            out.append(
                RecentReceipt(
                    receipt_key=entry.key,
                    closed_at=entry.closed_at,
                    total=receipt.total,
                    contact_masked=receipt.contact.masked if receipt.contact else None,
                    state=entry.state.value,
                )
            )
        return RecentReceipts(receipts=out)

    @router.post("/sync-now", summary="Wake the sync worker now")
    def sync_now() -> SyncNow:
        return SyncNow(woken=wake_sync())

    return router


def _view(request: PromptRequest, expires_in: float, url: str | None) -> PromptView:
    return PromptView(
        prompt_id=request.prompt_id,
        checkout_id=request.checkout_id,
        mode=PromptMode(request.mode.value),
        masked_phone=request.masked_phone,
        phone_tail=request.phone_tail,
        buyer_name=request.buyer_name,
        expires_in_s=expires_in,
        landing_url=url,
    )
