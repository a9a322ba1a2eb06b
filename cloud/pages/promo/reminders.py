"""The reminder before a code expires: a marketing message, so only to a buyer with advertising consent
(38-FZ; DESIGN.md "Personal data"), never for a redeemed or expired code or an erased contact. Sent
through the delivery channels (`cloud.delivery.notice`), on the one job worker.

The outcome is written on the code (`reminder`: sent, redeemed, expired, no_consent, erased, no_channel),
so a job that runs again (at-least-once) does nothing twice once it has been recorded.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from cloud.accounts.models import Store
from cloud.delivery.notice import Notice, send_notice
from cloud.delivery.steps import DeliverySteps
from cloud.ingest.models import ReceiptRow
from cloud.jobs import JobArgs
from cloud.logs import event
from cloud.pages.promo.models import PromoCode, PromoRule
from cloud.pages.promo.service import rule_of
from cloud.privacy.consent import Purpose, current_consents
from cloud.privacy.keys import IdentityKeys
from receipts import BuyerContact
from receipts.contact import ContactKind

log = logging.getLogger("cloud.pages.promo")
SENT, REDEEMED, EXPIRED, NO_CONSENT, ERASED, NO_CHANNEL = (
    "sent",
    "redeemed",
    "expired",
    "no_consent",
    "erased",
    "no_channel",
)
DEFAULT_ZONE = "Europe/Moscow"


def skip_reason(
    *, redeemed: bool, expires_at: datetime, now: datetime, has_contact: bool, advertising: bool
) -> str | None:
    """Why not to remind (None: remind). The order matters only for what the record says."""
    if redeemed:
        return REDEEMED
    if expires_at <= now:
        return EXPIRED
    if not has_contact:
        return ERASED
    if not advertising:
        return NO_CONSENT
    return None


def reminder_text(code: str, headline: str, expires_at: datetime, zone: str) -> str:
    """ "Промокод ABCD2345EF (−10 % на следующую покупку) действует до 05.12 18:00" in the store's zone."""
    local = expires_at.astimezone(ZoneInfo(zone))
    return f"Промокод {code} ({headline}) действует до {local:%d.%m %H:%M}"


class PromoReminders:
    """The handler of `cloud.pages.promo.jobs.REMINDER`, bound in the bootstrap beside delivery's."""

    def __init__(self, steps: DeliverySteps, keys: Callable[[], IdentityKeys]) -> None:
        self.steps = steps
        self.engine = steps.engine
        self._keys = keys
        self._loaded: IdentityKeys | None = None

    def keys(self) -> IdentityKeys:
        if self._loaded is None:
            self._loaded = self._keys()
        return self._loaded

    def remind(self, args: JobArgs) -> None:
        code_id = int(args["code_id"])
        now = self.steps.clock()
        with Session(self.engine) as s:
            row = s.get(PromoCode, code_id)
            if row is None or row.reminder is not None:
                return
            rule = s.get(PromoRule, row.rule_id)
            receipt = s.get(ReceiptRow, row.receipt_id)
            store = s.get(Store, row.store_id)
            assert rule is not None
            assert receipt is not None
            assert store is not None
            advertising = False
            if receipt.contact_kind and receipt.contact_value:
                contact = BuyerContact(ContactKind(receipt.contact_kind), receipt.contact_value)
                latest = current_consents(s, self.keys(), row.tenant_id, contact).get(Purpose.ADVERTISING)
                advertising = latest is not None and latest.granted
            why = skip_reason(
                redeemed=row.redeemed_at is not None,
                expires_at=row.expires_at,
                now=now,
                has_contact=bool(receipt.contact_value),
                advertising=advertising,
            )
            text = reminder_text(
                row.code, rule_of(rule).title(), row.expires_at, store.time_zone or DEFAULT_ZONE
            )
            receipt_id = row.receipt_id
        if why is None:
            notice = Notice(subject="Ваш промокод скоро сгорит", text=text, reference=f"promo{code_id}")
            sent = send_notice(self.steps, receipt_id, notice, now)  # a transient failure: the job retries
            why = SENT if sent is not None else NO_CHANNEL
        self._record(code_id, why, now)
        event(log, logging.INFO, "promo.reminder", code_id=code_id, outcome=why)

    def _record(self, code_id: int, outcome: str, now: datetime) -> None:
        table: sa.Table = PromoCode.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as s:
            s.execute(
                sa.update(table)
                .where(table.c.id == code_id, table.c.reminder.is_(None))
                .values(reminder=outcome, reminder_at=now)
            )
            s.commit()
