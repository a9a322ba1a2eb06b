"""Events about receipts. Plain values: ids and tenant, never a contact."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ReceiptStored:
    """New receipts of one register's batch were committed (duplicates and conflicts are not new)."""

    tenant_id: int
    store_id: int
    register_id: int
    receipt_ids: tuple[int, ...]

    def as_args(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "store_id": self.store_id,
            "register_id": self.register_id,
            "receipt_ids": list(self.receipt_ids),
        }

    @classmethod
    def from_args(cls, args: Any) -> "ReceiptStored":
        return cls(
            int(args["tenant_id"]),
            int(args["store_id"]),
            int(args["register_id"]),
            tuple(int(i) for i in args["receipt_ids"]),
        )
