"""The ATOL proxy's decisions as pure functions: bytes and values in, bytes and values out."""

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from drivers.atol.tasks import RECEIPT_TYPES, FiscalParams, ReceiptTask, Submission, load_json
from drivers.hook import ClosedSale
from receipts import FiscalData, InvalidReceipt, parse_rubles

MATCH_WINDOW = timedelta(minutes=10)  # a document this much older than the submission is another sale's


@dataclass(frozen=True)
class ReceiptSubmission:
    uuid: str
    index: int  # of the receipt task in the request list
    task: ReceiptTask


def find_receipt(body: bytes) -> ReceiptSubmission | None:
    """The receipt task of a POST /api/v2/requests body; None for anything else (passed through as is)."""
    try:
        submission = Submission.model_validate(load_json(body))
    except (ValueError, ValidationError):
        return None
    for index, task in enumerate(submission.tasks):
        if isinstance(task, dict) and task.get("type") in RECEIPT_TYPES:
            try:
                return ReceiptSubmission(submission.uuid, index, ReceiptTask.model_validate(task))
            except ValidationError:
                return None
    return None


def with_contact(body: bytes, index: int, contact: str) -> bytes:
    """The same submission with clientInfo.emailOrPhone set on the receipt task; everything else kept."""
    doc = load_json(body)
    tasks = doc["request"] if isinstance(doc["request"], list) else [doc["request"]]
    client = tasks[index].setdefault("clientInfo", {})
    client["emailOrPhone"] = contact
    return json.dumps(doc, ensure_ascii=False, default=_number).encode("utf-8")


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # exact for the two-decimal rubles and 3-decimal quantities ATOL carries
    raise TypeError(f"not JSON: {type(value).__name__}")


def closed_sale(task: ReceiptTask, params: FiscalParams) -> ClosedSale:
    """The receipt as the register fiscalized it; raises InvalidReceipt when it cannot be one."""
    try:
        fpd = int(params.fiscal_document_sign)
    except ValueError as exc:
        raise InvalidReceipt(f"fiscal sign {params.fiscal_document_sign!r} is not a number") from exc
    fiscal = FiscalData(
        fn_serial=params.fn_number,
        fd_number=params.fiscal_document_number,
        fpd=fpd,
        registration_number=params.registration_number.strip(),
        shift_number=params.shift_number,
        receipt_number=params.fiscal_receipt_number,
        issued_at=params.fiscal_document_date_time.replace(tzinfo=None),
        calculation_type=task.calculation_type,
    )
    items = task.receipt_items()
    return ClosedSale(fiscal, items, task.receipt_payments(), sum(i.total for i in items))


Document = tuple[str, int]  # (FN serial, fiscal document number): unique for ever on one register
NOTHING_PRINTED: Document = ("", 0)  # what the register had printed before its first document


def document_of(params: FiscalParams) -> Document:
    return params.fn_number, params.fiscal_document_number


def is_this_sale(
    task: ReceiptTask,
    last: FiscalParams,
    submitted_at: datetime,
    before: Document | None,
    taken: Collection[Document],
) -> bool:
    """After a timeout or an error: is the register's last document this task's receipt?

    `before` is the newest document the proxy knew of when this task went to the register (None: it knew
    none). A document not newer than that was printed before the task existed: it is some earlier sale's,
    however alike (the same goods, paid the same way), and claiming it would swallow this sale. `taken`
    holds the documents already given to a task. A new FN numbers from 1: `before` says nothing then.
    """
    if document_of(last) in taken or last.total is None:
        return False
    if not _printed_after(last, before):
        return False
    if parse_rubles(last.total) != task.total_kopecks():
        return False
    printed = last.fiscal_document_date_time.replace(tzinfo=None)
    return printed >= submitted_at.replace(tzinfo=None) - MATCH_WINDOW


def _printed_after(last: FiscalParams, before: Document | None) -> bool:
    """Is `last` newer than `before`? Unknown (None) or another FN's numbering says nothing against it."""
    if before is None or before[0] not in (NOTHING_PRINTED[0], last.fn_number):
        return True
    return last.fiscal_document_number > before[1]


def ready_results(params: FiscalParams, note: str) -> bytes:
    """What GET /api/v2/requests/{uuid} should have said: ready, with the document that was printed."""
    result = {"fiscalParams": params.model_dump(mode="json", by_alias=True), "warnings": {"echeck": note}}
    body = {"results": [{"status": "ready", "errorCode": 0, "errorDescription": "", "result": result}]}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
