"""The buyers' answers for the tenant's CRM: loyalty sign-ups, profile answers and survey ratings as CSV.

The buyer's contact (phone or e-mail from the receipt) is in the row only where the buyer gave a consent
with the answer (sign-up, profile); a survey rating comes without it. A user scoped to stores gets only
their stores' receipts.
"""

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlmodel import Session, col, select

from cloud.ingest.models import ReceiptRow
from cloud.pages.models import PageAnswer

COLUMNS = [
    "at",
    "receipt_id",
    "store_id",
    "block_id",
    "kind",
    "field",
    "value",
    "comment",
    "contact",
    "consent_id",
]


def answer_rows(
    session: Session, tenant_id: int, since: datetime | None, store_ids: frozenset[int] | None
) -> Iterator[list[str]]:
    query = (
        select(PageAnswer, ReceiptRow.store_id, ReceiptRow.contact_value)
        .join(ReceiptRow, col(ReceiptRow.id) == col(PageAnswer.receipt_id))
        .where(PageAnswer.tenant_id == tenant_id)
        .order_by(col(PageAnswer.id))
    )
    if since is not None:
        query = query.where(PageAnswer.at >= since)
    if store_ids is not None:
        query = query.where(col(ReceiptRow.store_id).in_(store_ids))
    for answer, store_id, contact in session.exec(query.execution_options(yield_per=2000)):
        yield [
            answer.at.isoformat(),
            str(answer.receipt_id),
            str(store_id),
            answer.block_id,
            answer.kind,
            answer.field,
            answer.value,
            answer.comment,
            (contact or "") if answer.consent_id is not None else "",
            str(answer.consent_id or ""),
        ]


def answers_csv(
    session: Session, tenant_id: int, since: datetime | None = None, store_ids: frozenset[int] | None = None
) -> Iterator[str]:
    """The CSV, a chunk per 500 rows (an export can be large)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for n, row in enumerate(answer_rows(session, tenant_id, since, store_ids), start=1):
        writer.writerow(row)
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
