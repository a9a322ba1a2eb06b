"""The audit log of admin actions: who did what to what, and when. Entries join the caller's transaction."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cloud.accounts.models import AuditEntry
from cloud.db.types import utcnow

CLI = "cli"  # the actor for commands run on the server with echeck-cloud

# What the audit page shows for each action (the CLI and the table keep the codes).
LABELS = {
    "user.added": "добавлен пользователь",
    "user.invited": "приглашение",
    "user.joined": "принял приглашение",
    "user.sessions_revoked": "сеансы завершены",
    "user.disabled": "пользователь отключён",
    "user.password_reset": "ссылка для смены пароля",
    "user.password_set": "пароль изменён",
    "api_key.created": "создан API-ключ",
    "api_key.rotated": "API-ключ перевыпущен",
    "api_key.revoked": "API-ключ отозван",
    "register.revoked": "токен кассы отозван",
    "register.rotation_code": "код перевыпуска кассы",
    "register.reenrolled": "касса подключена заново",
    "enrollment_code.issued": "код подключения кассы",
    "store.region": "регион магазина",
    "page_template.saved": "шаблон чека сохранён",
    "page_template.published": "шаблон чека опубликован",
    "page_template.rolled_back": "шаблон чека откачен",
    "page_webhook.set": "вебхук ответов покупателей",
    "page_webhook.disabled": "вебхук ответов выключен",
    "promo_rule.created": "создано правило промокодов",
    "promo_rule.changed": "изменено правило промокодов",
    "promo_rule.stopped": "выдача промокодов остановлена",
    "promo_rule.resumed": "выдача промокодов возобновлена",
}


def record(
    session: Session, tenant_id: int, actor: str, action: str, target: str = "", **detail: Any
) -> None:
    """Add an entry; the caller's commit writes it together with the change it describes."""
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            at=utcnow(),
            actor=actor[:254],
            action=action,
            target=target[:254],
            detail=detail or None,
        )
    )


def entries(
    session: Session, tenant_id: int, limit: int = 200, since: datetime | None = None
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit)))
