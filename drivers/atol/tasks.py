"""ATOL driver v10 JSON tasks and the web server's request/result documents, as pydantic models.

Models are for reading (extra fields allowed: real tasks carry many more); the proxy never re-serializes
a model into what it forwards. Money in ATOL JSON is rubles as numbers; it becomes kopecks here.
"""

import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from receipts import CalculationType, Item, Payment, PaymentKind, VatRate, parse_rubles

RECEIPT_TYPES: dict[str, CalculationType] = {
    "sell": CalculationType.SALE,
    "sellReturn": CalculationType.SALE_RETURN,
    "buy": CalculationType.EXPENSE,
    "buyReturn": CalculationType.EXPENSE_RETURN,
}
CALCULATION_TASK = {v: k for k, v in RECEIPT_TYPES.items()}


class Status(StrEnum):
    WAIT = "wait"
    IN_PROGRESS = "inProgress"
    READY = "ready"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    BLOCKED = "blocked"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self not in (Status.WAIT, Status.IN_PROGRESS)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Tax(_Doc):
    type: VatRate = VatRate.NONE


class Position(_Doc):
    type: str = "position"
    name: str
    price: Decimal
    quantity: Decimal
    amount: Decimal
    payment_method: str = Field("fullPayment", alias="paymentMethod")
    payment_object: str = Field("commodity", alias="paymentObject")
    tax: Tax = Field(default_factory=Tax)


class AtolPayment(_Doc):
    type: str = "cash"  # cash | electronically | prepaid | credit | other
    sum: Decimal


class ClientInfo(_Doc):
    email_or_phone: str | None = Field(None, alias="emailOrPhone")


class Operator(_Doc):
    name: str | None = None
    vatin: str | None = None


class ReceiptTask(_Doc):
    type: str
    taxation_type: str | None = Field(None, alias="taxationType")
    electronically: bool = False
    operator: Operator | None = None
    client_info: ClientInfo | None = Field(None, alias="clientInfo")
    items: list[dict[str, Any]] = Field(default_factory=list)
    payments: list[AtolPayment] = Field(default_factory=list)
    total: Decimal | None = None

    @property
    def calculation_type(self) -> CalculationType:
        return RECEIPT_TYPES[self.type]

    @property
    def contact(self) -> str | None:
        return self.client_info.email_or_phone if self.client_info else None

    def positions(self) -> list[Position]:
        return [Position.model_validate(i) for i in self.items if i.get("type", "position") == "position"]

    def receipt_items(self) -> tuple[Item, ...]:
        return tuple(
            Item(p.name, parse_rubles(p.price), p.quantity, parse_rubles(p.amount), p.tax.type)
            for p in self.positions()
        )

    def receipt_payments(self) -> tuple[Payment, ...]:
        cash = sum(parse_rubles(p.sum) for p in self.payments if p.type == "cash")
        other = sum(parse_rubles(p.sum) for p in self.payments if p.type != "cash")
        found = [Payment(PaymentKind.CASH, cash)] if cash else []
        return tuple(found + ([Payment(PaymentKind.CARD, other)] if other else []))

    def total_kopecks(self) -> int:
        return sum(i.total for i in self.receipt_items())


class FiscalParams(_Doc):
    fiscal_document_number: int = Field(alias="fiscalDocumentNumber")
    fiscal_document_sign: str = Field(alias="fiscalDocumentSign")
    fiscal_document_date_time: datetime = Field(alias="fiscalDocumentDateTime")
    fiscal_receipt_number: int = Field(alias="fiscalReceiptNumber")
    shift_number: int = Field(alias="shiftNumber")
    fn_number: str = Field(alias="fnNumber")
    registration_number: str = Field(alias="registrationNumber")
    fns_url: str | None = Field(None, alias="fnsUrl")
    total: Decimal | None = None


class TaskResult(_Doc):
    status: Status
    error_code: int = Field(0, alias="errorCode")
    error_description: str = Field("", alias="errorDescription")
    result: dict[str, Any] | None = None

    @property
    def fiscal_params(self) -> FiscalParams | None:
        params = (self.result or {}).get("fiscalParams")
        return FiscalParams.model_validate(params) if params else None


class Results(_Doc):
    results: list[TaskResult] = Field(default_factory=list)


class Submission(_Doc):
    """The body of POST /api/v2/requests."""

    uuid: str
    request: list[dict[str, Any]] | dict[str, Any]

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return self.request if isinstance(self.request, list) else [self.request]


def load_json(body: bytes) -> Any:
    """ATOL numbers are money: keep them exact."""
    return json.loads(body, parse_float=Decimal)
