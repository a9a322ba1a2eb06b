"""The tenant's CRM webhook: every answer from a page (loyalty sign-up, profile answer, survey rating) is
POSTed as JSON to the tenant's URL by a deferred job, signed with HMAC-SHA256, retried with backoff.

Request: `POST {url}`, `Content-Type: application/json`, headers `X-Echeck-Event: page.answer`,
`X-Echeck-Delivery: <answer id>` (the same on every retry: the CRM deduplicates by it) and
`X-Echeck-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Any 2xx is delivered;
anything else (or no answer in 10 s) is retried up to `WEBHOOK.max_attempts` times (30 s, 1 min, 2 min, … at
most 5 min apart). The body has the buyer's contact only where the answer was given with a consent.
"""

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud import secret_key
from cloud.accounts import audit
from cloud.db.types import utcnow
from cloud.errors import InvalidInput
from cloud.ingest.models import ReceiptRow
from cloud.jobs import Job, JobArgs
from cloud.logs import event
from cloud.pages.models import PageAnswer, PageWebhook

log = logging.getLogger("cloud.pages")
WEBHOOK = Job("pages.webhook", max_attempts=8, retry_base_s=30.0)
TIMEOUT_S = 10.0


class WebhookFailed(RuntimeError):
    """The CRM did not take the answer: the job is retried."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """What the CRM does with the signature header (documented, and used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit():
        return False
    return hmac.compare_digest(sign(secret, int(parts["t"]), body), header)


def payload(answer: PageAnswer, receipt: ReceiptRow) -> dict[str, Any]:
    return {
        "event": "page.answer",
        "id": answer.id,
        "at": answer.at.isoformat(),
        "receipt_id": answer.receipt_id,
        "store_id": receipt.store_id,
        "block_id": answer.block_id,
        "kind": answer.kind,
        "field": answer.field,
        "value": answer.value,
        "comment": answer.comment,
        "contact": receipt.contact_value if answer.consent_id is not None else None,
        "consent_id": answer.consent_id,
    }


def _box(session: Session) -> Any:
    return secret_key.box_for(session.get_bind().engine.url)


def set_webhook(
    session: Session, tenant_id: int, url: str, *, actor: str, now: datetime | None = None
) -> str:
    """Point the webhook at `url` (https; http only to localhost) with a new secret, returned once."""
    url = url.strip()
    local = url.startswith(("http://127.0.0.1", "http://localhost"))
    if not (url.startswith("https://") or local) or len(url) > 500 or any(c in url for c in " \"'<>"):
        raise InvalidInput("адрес вебхука должен начинаться с https://")
    secret = secrets.token_urlsafe(32)
    row = session.get(PageWebhook, tenant_id) or PageWebhook(
        tenant_id=tenant_id, url=url, secret="", updated_by=actor, updated_at=now or utcnow()
    )
    row.url, row.secret, row.enabled = url, secret_key.encrypt(_box(session), secret), True
    row.updated_by, row.updated_at = actor[:254], now or utcnow()
    session.add(row)
    audit.record(session, tenant_id, actor, "page_webhook.set", url[:200])
    session.commit()
    return secret


def disable_webhook(session: Session, tenant_id: int, *, actor: str) -> None:
    row = session.get(PageWebhook, tenant_id)
    if row is not None and row.enabled:
        row.enabled = False
        session.add(row)
        audit.record(session, tenant_id, actor, "page_webhook.disabled", row.url[:200])
        session.commit()


def webhook_of(session: Session, tenant_id: int) -> PageWebhook | None:
    return session.get(PageWebhook, tenant_id)


def enqueue(session: Session, answer: PageAnswer) -> None:
    """Joins the answer's transaction: the job exists exactly when the answer does."""
    hook = session.get(PageWebhook, answer.tenant_id)
    if hook is not None and hook.enabled:
        WEBHOOK.defer(session, {"answer_id": answer.id})


class AnswerWebhooks:
    """The handler of `WEBHOOK`, bound in the bootstrap."""

    def __init__(self, engine: Engine, http: httpx.Client, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.http = http
        self.clock = clock

    def send(self, args: JobArgs) -> None:
        with Session(self.engine) as s:
            answer = s.get(PageAnswer, int(args["answer_id"]))
            if answer is None:
                return  # erased meanwhile
            hook = s.get(PageWebhook, answer.tenant_id)
            receipt = s.get(ReceiptRow, answer.receipt_id)
            if hook is None or not hook.enabled or receipt is None:
                return
            secret = secret_key.decrypt(_box(s), hook.secret)
            body = json.dumps(payload(answer, receipt), ensure_ascii=False).encode()
            url, tenant_id = hook.url, hook.tenant_id
        headers = {
            "Content-Type": "application/json",
            "X-Echeck-Event": "page.answer",
            "X-Echeck-Delivery": str(args["answer_id"]),
            "X-Echeck-Signature": sign(secret, int(self.clock()), body),
        }
        try:
            response = self.http.post(url, content=body, headers=headers, timeout=TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise WebhookFailed(f"CRM webhook unreachable: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise WebhookFailed(f"CRM webhook answered {response.status_code}")
        event(log, logging.INFO, "pages.webhook_sent", tenant_id=tenant_id, answer_id=args["answer_id"])
