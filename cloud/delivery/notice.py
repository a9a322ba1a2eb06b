"""One short message to a receipt's buyer besides the e-receipt itself (a promo code's reminder), sent the
way the e-receipt is: the cascade's choice of channels (the tenant's policy order, the channels that fit
the buyer's contact, minus their opt-outs: `cascade.plan` over `service.available_channels`), the same
adapters, and the e-receipt steps' rate limits and circuit breakers (`DeliverySteps`).

A notice is "accepted" when a provider takes it; it is not tracked to "delivered" (there is no deadline to
fail over on). A permanent refusal moves to the next channel at once; when only transient failures are
left, `ProviderError(transient=True)` is raised so the calling job retries later with backoff.
"""

import html
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from cloud.delivery import config as delivery_config
from cloud.delivery import service
from cloud.delivery.cascade import Channel, Delivery, plan
from cloud.delivery.channels import Message, ProviderError, build_adapter
from cloud.delivery.message import link
from cloud.delivery.models import DeliveryRow
from cloud.delivery.steps import DeliverySteps
from cloud.ingest.models import ReceiptRow
from cloud.logs import event

log = logging.getLogger("cloud.delivery.notice")


@dataclass(frozen=True, slots=True)
class Notice:
    subject: str  # e-mail subject and push title
    text: str  # SMS, Viber, push: short (one SMS is 70 Cyrillic characters; the link is added)
    reference: str  # ours, e.g. "promo42": traces a provider's log line back


@dataclass(frozen=True, slots=True)
class Sent:
    channel: Channel
    message_id: str


def receipt_link(session: Session, public_url: str, receipt_id: int) -> str:
    """The receipt's e-receipt link, when it has a delivery (the page shows the promo code)."""
    token = session.exec(select(DeliveryRow.link_token).where(DeliveryRow.receipt_id == receipt_id)).first()
    return link(public_url, token) if token else ""


def _message(channel: Channel, to: str, notice: Notice, shop: str, url: str) -> Message:
    text = (
        f"{notice.text} {url}".strip() if channel is Channel.SMS else f"{shop}: {notice.text} {url}".strip()
    )
    page = html.escape(url, quote=True)
    body = f"<html><body><p>{html.escape(shop)}</p><p>{html.escape(notice.text)}</p>"
    if url:
        body += f'<p><a href="{page}">{page}</a></p>'
    body += "</body></html>"
    return Message(to=to, subject=notice.subject, text=text, html=body, link=url, reference=notice.reference)


def send_notice(steps: DeliverySteps, receipt_id: int, notice: Notice, now: datetime) -> Sent | None:
    """Send `notice` to the buyer of the receipt by the first channel of the tenant's cascade that takes
    it. None when no channel fits the buyer (no contact, opted out, nothing configured) or every channel
    refused for good; raises ProviderError(transient=True) when a retry later may succeed."""
    with Session(steps.engine) as s:
        receipt = s.get(ReceiptRow, receipt_id)
        if receipt is None or not receipt.contact_value:
            return None
        cfg = delivery_config.load(s, receipt.tenant_id)
        planned = plan(Delivery(), now, service.available_channels(s, cfg, receipt), cfg.policy)
        push_to = service.push_token(s, receipt.tenant_id, receipt.contact_hash or "")
        url = receipt_link(s, steps.options.public_url, receipt_id)
        contact = receipt.contact_value
    transient: ProviderError | None = None
    for step in planned.steps:
        to = push_to if step.channel is Channel.PUSH else contact
        settings = cfg.channels.get(step.channel)
        if not to or settings is None:
            continue
        key = (cfg.tenant_id, step.channel.value)
        if steps.breaker.open_for(key) > 0:
            transient = ProviderError(f"{step.channel}: circuit open", transient=True)
            continue
        wait = steps.limiter.reserve(key, float(settings.get("rate_per_s", 50.0)), 1.0)
        if wait is None:
            transient = ProviderError(f"{step.channel}: rate limit", transient=True)
            continue
        if wait > 0:
            time.sleep(wait)
        message = _message(step.channel, to, notice, cfg.tenant_name, url)
        try:
            adapter = build_adapter(step.channel, settings, cfg.prices.get(step.channel, 0), steps.http)
            message_id = adapter.send(message)
        except ProviderError as exc:
            steps.breaker.record(key, ok=not exc.transient)
            event(
                log,
                logging.WARNING,
                "notice.send_failed",
                reference=notice.reference,
                channel=step.channel,
                transient=exc.transient,
                error=str(exc),
            )
            if exc.transient:
                transient = exc
            continue
        steps.breaker.record(key, ok=True)
        event(log, logging.INFO, "notice.sent", reference=notice.reference, channel=step.channel)
        return Sent(step.channel, message_id)
    if transient is not None:
        raise transient
    return None
