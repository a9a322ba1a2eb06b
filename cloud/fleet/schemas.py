"""Fleet API answers that only head office reads (the agent-facing ones live in sync.protocol)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RegisterOut(_Out):
    id: int
    store_id: int
    hostname: str
    agent_version: str
    enrolled_at: datetime
    last_heartbeat_at: datetime | None = Field(description="When the register last reported; stale = trouble")
    queue_depth: int = Field(description="Receipts waiting in the register's outbox")
    rejected_count: int = Field(description="Receipts the cloud refused; they stay in the outbox for IT")
    oldest_unsynced_age_s: float | None
    last_sync_at: datetime | None
    last_error: str | None
    clock_skew_s: float | None = Field(description="Register clock minus cloud clock, seconds")


class StoreOut(_Out):
    id: int
    tenant_id: int
    name: str
    registers: list[RegisterOut] = Field(default_factory=list)


class StoreList(BaseModel):
    stores: list[StoreOut]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stores": [
                        {
                            "id": 12,
                            "tenant_id": 1,
                            "name": "Tverskaya 7",
                            "registers": [
                                {
                                    "id": 31,
                                    "store_id": 12,
                                    "hostname": "store12-till3",
                                    "agent_version": "0.1.0",
                                    "enrolled_at": "2026-11-20T08:00:00Z",
                                    "last_heartbeat_at": "2026-11-23T10:15:00Z",
                                    "queue_depth": 0,
                                    "rejected_count": 0,
                                    "oldest_unsynced_age_s": None,
                                    "last_sync_at": "2026-11-23T10:14:58Z",
                                    "last_error": None,
                                    "clock_skew_s": 1.7,
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    )
