"""The read side of ingest: a store's receipts as head office's tools page through them."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from receipts.examples import REFERENCE_SALE

_RECEIPT_EXAMPLE: dict[str, Any] = {
    **REFERENCE_SALE,
    "contact": {"kind": "phone", "value": "79161234567"},
    "loyalty_card": None,
    "extra": {},
}


class StoredReceipt(BaseModel):
    id: int = Field(description="Cloud id, increasing: page with `after_id`")
    register_id: int
    received_at: datetime
    key: str = Field(description="FN serial:FD number:FPD", examples=["9251440300227597:55497:617635937"])
    receipt: dict[str, Any] = Field(description="The receipt as the wire protocol carries it")


class ReceiptPage(BaseModel):
    store_id: int
    count: int = Field(description="All receipts stored for this store")
    receipts: list[StoredReceipt]
    next_after_id: int | None = Field(description="Pass as `after_id` for the next page; null at the end")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "store_id": 12,
                    "count": 1,
                    "receipts": [
                        {
                            "id": 1,
                            "register_id": 31,
                            "received_at": "2026-11-23T10:14:58Z",
                            "key": "9251440300227597:55497:617635937",
                            "receipt": _RECEIPT_EXAMPLE,
                        }
                    ],
                    "next_after_id": None,
                }
            ]
        }
    )


RECEIPT_EXAMPLE = _RECEIPT_EXAMPLE
