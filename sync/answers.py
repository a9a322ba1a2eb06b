"""What the cloud said about one batch, sorted: values in (status, headers, body), values out.

`classify` turns an HTTP answer into one kind of verdict; `sort_items` splits a readable batch answer into
the rows to ack, the rows to dead-letter and the rows to send again. The worker applies the verdict to
the outbox; nothing here touches it.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ValidationError

from sync.backoff import parse_retry_after
from sync.protocol import BatchResult, ItemStatus

# Whole-batch answers that say "something in this batch is wrong": bisect to find the receipt.
BATCH_REFUSED = (400, 422)
THROTTLED = (429, 503)
# The cloud's error code for a register whose token head office revoked (403).
REGISTER_REVOKED = "register_revoked"


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    """An HTTP answer as plain values (the cloud client makes it from the response)."""

    status_code: int
    body: bytes = b""
    retry_after: str | None = None  # the Retry-After header as sent
    reason_phrase: str = ""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class Kind(StrEnum):
    ANSWERED = "answered"  # a readable batch result: see `Verdict.result`
    UNREADABLE = "unreadable"  # 2xx whose body is no batch result: send again later
    TOKEN_REFUSED = "token_refused"  # 401/403: only store IT can fix it
    GZIP_REFUSED = "gzip_refused"  # 415 to a compressed batch: send plain JSON from now on
    TOO_LARGE = "too_large"  # 413
    THROTTLED = "throttled"  # 429/503: wait at least Retry-After
    BATCH_REFUSED = "batch_refused"  # 400/422: the content is wrong somewhere in the batch
    SERVER_FAILED = "server_failed"  # 500: an outage, or a receipt that breaks the cloud
    FAILED = "failed"  # any other answer: back off and send again


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    status_code: int
    detail: str = ""  # the cloud's sentence (or the reason phrase), shortened
    code: str | None = None  # the cloud's error code, when it sent one
    retry_after: float | None = None
    result: BatchResult | None = None
    errors: int = 0  # validation errors of an unreadable answer

    @property
    def revoked(self) -> bool:
        return self.kind is Kind.TOKEN_REFUSED and self.code == REGISTER_REVOKED


def classify(answer: CloudAnswer, compressed: bool) -> Verdict:
    code = answer.status_code
    detail, error_code = problem(answer)
    if code in (401, 403):
        return Verdict(Kind.TOKEN_REFUSED, code, detail, error_code)
    if code == 415 and compressed:
        return Verdict(Kind.GZIP_REFUSED, code, detail, error_code)
    if code == 413:
        return Verdict(Kind.TOO_LARGE, code, detail, error_code)
    if code in THROTTLED:
        return Verdict(Kind.THROTTLED, code, detail, error_code, parse_retry_after(answer.retry_after))
    if code in BATCH_REFUSED:
        return Verdict(Kind.BATCH_REFUSED, code, detail, error_code)
    if code == 500:
        return Verdict(Kind.SERVER_FAILED, code, detail, error_code)
    if not answer.is_success:
        return Verdict(Kind.FAILED, code, detail, error_code)
    try:
        result = BatchResult.model_validate_json(answer.body)
    except ValidationError as exc:
        return Verdict(Kind.UNREADABLE, code, errors=exc.error_count())
    return Verdict(Kind.ANSWERED, code, result=result)


def problem(answer: CloudAnswer) -> tuple[str, str | None]:
    """The cloud's `detail` sentence (shortened; logs and status show it) and its error `code`."""
    fallback = answer.reason_phrase or "no detail"
    if answer.is_success or not answer.body:
        return fallback, None
    try:
        body = json.loads(answer.body)
    except ValueError:
        return fallback, None
    if not isinstance(body, dict):
        return fallback, None
    detail, code = body.get("detail"), body.get("code")
    return (str(detail)[:300] if detail else fallback), (str(code)[:64] if code else None)


@dataclass(frozen=True, slots=True)
class Row:
    """What sorting needs of a sent row."""

    id: int
    key: str


@dataclass(frozen=True, slots=True)
class Sorted:
    acked: list[int] = field(default_factory=list)  # row ids the cloud holds now
    conflicts: list[str] = field(default_factory=list)  # keys acked as "same key, other content"
    rejected: list[tuple[Row, str]] = field(default_factory=list)  # refused for good, with the reason
    unanswered: list[int] = field(default_factory=list)  # row ids to send again
    wrong_keys: list[tuple[str, str]] = field(default_factory=list)  # (sent key, key the cloud named)


def sort_items(rows: Sequence[Row], result: BatchResult) -> Sorted:
    """Ack a row only on an answer naming its position and its key; every row is answered once."""
    out = Sorted()
    answered: set[int] = set()
    for item in result.accepted:
        if not 0 <= item.index < len(rows) or item.index in answered:
            continue
        row = rows[item.index]
        if item.key != row.key:
            # Never ack a row on an answer about some other receipt: it stays pending and is resent.
            out.wrong_keys.append((row.key, item.key))
            continue
        if item.status is ItemStatus.CONFLICT:
            out.conflicts.append(row.key)
        out.acked.append(row.id)
        answered.add(item.index)
    for rejected in result.rejected:
        if not 0 <= rejected.index < len(rows) or rejected.index in answered:
            continue
        out.rejected.append((rows[rejected.index], rejected.reason))
        answered.add(rejected.index)
    out.unanswered.extend(row.id for i, row in enumerate(rows) if i not in answered)
    return out
