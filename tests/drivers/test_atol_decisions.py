"""The ATOL proxy's recovery rule as a pure function: which register document may answer which task."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from drivers.atol.decisions import NOTHING_PRINTED, is_this_sale
from drivers.atol.tasks import FiscalParams, ReceiptTask

FN, OTHER_FN = "9999078902001234", "9999078902009999"
SUBMITTED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TASK = ReceiptTask.model_validate(
    {
        "type": "sell",
        "items": [{"type": "position", "name": "Молоко", "price": 89.9, "quantity": 1, "amount": 89.9}],
        "payments": [{"type": "cash", "sum": 89.9}],
    }
)


def document(fd: int, fn: str = FN, total: str = "89.90", at: datetime = SUBMITTED) -> FiscalParams:
    return FiscalParams.model_validate(
        {
            "fiscalDocumentNumber": fd,
            "fiscalDocumentSign": "1234567890",
            "fiscalDocumentDateTime": at + timedelta(seconds=1),
            "fiscalReceiptNumber": 1,
            "shiftNumber": 1,
            "fnNumber": fn,
            "registrationNumber": "0000000002012345",
            "total": Decimal(total),
        }
    )


def test_a_document_newer_than_the_task_with_its_total_is_its_receipt() -> None:
    assert is_this_sale(TASK, document(8), SUBMITTED, (FN, 7), taken=[])
    assert is_this_sale(TASK, document(1), SUBMITTED, NOTHING_PRINTED, taken=[])


def test_a_document_the_register_had_before_the_task_is_never_its_receipt() -> None:
    """However alike: the same goods, the same total, a minute old."""
    assert not is_this_sale(TASK, document(7), SUBMITTED, (FN, 7), taken=[])
    assert not is_this_sale(TASK, document(3), SUBMITTED, (FN, 7), taken=[])


def test_a_document_given_to_another_task_is_not_given_again() -> None:
    assert not is_this_sale(TASK, document(8), SUBMITTED, (FN, 7), taken=[(FN, 8)])
    assert is_this_sale(TASK, document(8), SUBMITTED, (FN, 7), taken=[(OTHER_FN, 8)])


def test_another_total_or_an_old_document_is_another_sale() -> None:
    assert not is_this_sale(TASK, document(8, total="89.91"), SUBMITTED, (FN, 7), taken=[])
    old = SUBMITTED - timedelta(hours=1)
    assert not is_this_sale(TASK, document(8, at=old), SUBMITTED, None, taken=[])


def test_a_new_fn_numbers_from_one_and_the_old_fns_number_says_nothing() -> None:
    assert is_this_sale(TASK, document(1, fn=OTHER_FN), SUBMITTED, (FN, 7), taken=[])
