"""What a buyer sends from the page (POST only): a loyalty sign-up in one click, a profile answer (e-mail,
birthday, pet), a survey rating with a comment. Sign-ups and profile answers are stored with a consent
record (the exact text shown, its version, the page it came from). Sending the same form twice changes
nothing the second time."""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cloud.errors import Conflict, InvalidInput, NotFound
from cloud.ingest.models import ReceiptRow
from cloud.pages import service, versions, webhook
from cloud.pages.blocks import BlockType, EnrichmentSettings, LoyaltySettings, Question
from cloud.pages.blocks_render import tenant_text, variables_of
from cloud.pages.models import PageAnswer
from cloud.pages.receipt_view import receipt_view
from cloud.privacy.consent import Purpose, Source, record_consent
from cloud.privacy.keys import IdentityKeys
from cloud.tracking.events import EventType, Identifier, IdentifierKind, TrackedEvent
from cloud.tracking.store import record_events
from receipts.contact import InvalidContact, normalize_email
from sync.protocol import receipt_from_wire


def _track(
    session: Session,
    keys: IdentityKeys,
    answer: PageAnswer,
    receipt: ReceiptRow,
    browser_id: str | None,
    now: datetime,
) -> None:
    """A sign-up is a `signup` event, an e-mail typed in is an `identify` event (with the keyed hashes of the
    receipt's contact and the new e-mail): the identity graph links them, and the browser, from these."""
    if answer.field not in ("signup", Question.EMAIL):
        return
    identifiers = []
    if receipt.contact_hash and receipt.contact_kind in (IdentifierKind.PHONE, IdentifierKind.EMAIL):
        identifiers.append(Identifier(IdentifierKind(receipt.contact_kind), receipt.contact_hash))
    if answer.field == Question.EMAIL:
        identifiers.append(Identifier(IdentifierKind.EMAIL, keys.hash(answer.value)))
    record_events(
        session,
        [
            TrackedEvent(
                event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"echeck:page_answer:{answer.id}")),
                tenant_id=answer.tenant_id,
                type=EventType.SIGNUP if answer.field == "signup" else EventType.IDENTIFY,
                received_at=now,
                browser_id=browser_id,
                receipt_id=answer.receipt_id,
                block_id=answer.block_id,
                identifiers=tuple(identifiers),
                properties={"kind": answer.kind, "field": answer.field},
            )
        ],
    )


PETS = {"cat": "кошка", "dog": "собака", "other": "другой", "none": "нет"}


@dataclass(frozen=True, slots=True)
class Sent:
    receipt_id: int
    block_id: str
    action: str  # signup | email | birthday | pet | rating
    value: str = ""
    comment: str = ""
    browser_id: str | None = None  # the page's `ec_bid` cookie, when the browser has one


def _value(action: str, value: str, now: datetime) -> str:
    value = value.strip()
    if action == Question.EMAIL:
        try:
            return normalize_email(value)
        except InvalidContact:
            raise InvalidInput("проверьте e-mail: он записан с ошибкой") from None
    if action == Question.BIRTHDAY:
        try:
            born = date.fromisoformat(value)
        except ValueError:
            raise InvalidInput("укажите дату рождения") from None
        if not 1900 <= born.year <= now.year:
            raise InvalidInput("укажите настоящую дату рождения")
        return born.isoformat()
    if action == Question.PET:
        if value not in PETS:
            raise InvalidInput("выберите вариант из списка")
        return value
    if action == "rating":
        if value not in {"1", "2", "3", "4", "5"}:
            raise InvalidInput("поставьте оценку от 1 до 5")
        return value
    return ""


def act(session: Session, keys: IdentityKeys, sent: Sent, now: datetime) -> PageAnswer | None:
    """Store what the buyer sent (the caller checked the form token). None when it was already stored."""
    receipt = session.get(ReceiptRow, sent.receipt_id)
    if receipt is None:
        raise NotFound("чек не найден")
    template = versions.published(session, receipt.tenant_id).template
    block = template.block(sent.block_id)
    if block is None:
        raise Conflict("страница изменилась: обновите её и отправьте форму снова")
    expected = {
        BlockType.LOYALTY: {"signup"},
        BlockType.ENRICHMENT: {q.value for q in Question},
        BlockType.SURVEY: {"rating"},
    }.get(block.type, set())
    if sent.action not in expected:
        raise InvalidInput("эта форма здесь ничего не меняет")
    value = _value(sent.action, sent.value, now)
    parsed = receipt_from_wire(receipt.payload)
    consent_id = None
    if block.type in (BlockType.LOYALTY, BlockType.ENRICHMENT):
        if parsed.contact is None:
            raise Conflict("в чеке нет телефона или e-mail покупателя: вступить можно на кассе")
        settings = block.parsed()
        assert isinstance(settings, LoyaltySettings | EnrichmentSettings)
        tenant, store = service.seller_of(session, receipt)
        shown = tenant_text(settings.consent_text, variables_of(receipt_view(parsed, tenant, store)))
        text = shown.unescape()  # the words the buyer read (the page escaped them; nothing else)
        # The version the marketer set, plus the wording's digest: new wording under an old number is a new
        # text, never a conflict with the one shown before.
        version = f"{settings.consent_version}.{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        consent = record_consent(
            session,
            keys,
            tenant_id=receipt.tenant_id,
            contact=parsed.contact,
            purpose=Purpose.LOYALTY if block.type is BlockType.LOYALTY else Purpose.PROFILE,
            granted=True,
            text=text,
            text_version=version,
            source=Source.PAGE,
            source_ref=f"receipt:{receipt.id}/{block.id}",
            now=now,
        )
        consent_id = consent.id
    answer = PageAnswer(
        tenant_id=receipt.tenant_id,
        receipt_id=sent.receipt_id,
        block_id=block.id,
        kind=block.type.value,
        field=sent.action,
        value=value,
        comment=sent.comment.strip()[:1000],
        contact_hash=receipt.contact_hash,
        consent_id=consent_id,
        at=now,
    )
    session.add(answer)
    try:
        session.flush()
    except IntegrityError:  # sent twice (a double tap): the first one counts
        session.rollback()
        return None
    webhook.enqueue(session, answer)  # the CRM gets it, in the same transaction
    _track(session, keys, answer, receipt, sent.browser_id, now)
    session.commit()
    session.refresh(answer)
    return answer
