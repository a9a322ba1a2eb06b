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
    revoked_at: datetime | None = None
    last_heartbeat_at: datetime | None = Field(description="When the register last reported; stale = trouble")
    queue_depth: int = Field(description="Receipts waiting in the register's outbox")
    rejected_count: int = Field(description="Receipts the cloud refused; they stay in the outbox for IT")
    oldest_unsynced_age_s: float | None
    last_sync_at: datetime | None
    last_error: str | None
    clock_skew_s: float | None = Field(description="Register clock minus cloud clock, seconds")
    update_channel: str | None = Field(
        default=None, description="The update channel the register follows (its heartbeat says)"
    )


class StoreOut(_Out):
    id: int
    tenant_id: int
    name: str
    region: str | None = None
    update_channel: str = Field(
        default="stable", description="The channel head office assigned: stable | beta"
    )
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


class RegisterHealth(BaseModel):
    """One register as head office sees it now (`GET /v1/fleet/status`)."""

    id: int
    store_id: int
    hostname: str
    agent_version: str
    state: str = Field(description="online | offline | stale | never_seen | revoked")
    revoked_at: datetime | None = Field(
        default=None, description="When head office revoked the register's token (its calls get 403)"
    )
    last_heartbeat_at: datetime | None
    since_heartbeat_s: float | None
    heartbeat_interval_s: float | None
    queue_depth: int
    oldest_unsynced_age_s: float | None = Field(description="As of now: reported age + time since the report")
    last_sync_at: datetime | None
    last_error: str | None
    clock_skew_s: float | None = Field(description="Register clock minus cloud clock, seconds")
    clock_off: bool = Field(description="The skew is past the fleet's limit")
    clone_suspected: bool = Field(description="Two agents were seen using this register's token")
    clone_detail: str | None
    instance_id: str | None
    outbox_bytes: int | None
    outbox_quota_bytes: int | None
    outbox_over_quota: bool
    outbox_recovered: list[str] = Field(description="Corrupt outbox files moved aside on the register")
    write_error: str | None = Field(description="The register cannot queue receipts (e.g. disk full)")
    dead_letter_count: int
    dead_letter: list[str] = Field(description="Latest dead-lettered receipts, 'key: reason'")
    problems: list[str] = Field(description="What needs attention, in sentences")
    update_channel: str | None = Field(
        default=None, description="The update channel the register follows (its heartbeat says)"
    )


class StoreHealth(BaseModel):
    id: int
    name: str
    region: str | None = None
    update_channel: str = Field(
        default="stable", description="The channel head office assigned: stable | beta"
    )
    state: str | None = Field(description="The worst state of its registers; null without registers")
    registers: list[RegisterHealth]


class FleetPolicyOut(BaseModel):
    grace_s: float
    stale_after_s: float
    clock_skew_limit_s: float


class FleetTotals(BaseModel):
    registers: int = 0
    online: int = 0
    offline: int = 0
    stale: int = 0
    never_seen: int = 0
    revoked: int = 0
    with_problems: int = 0
    queued: int = Field(default=0, description="Receipts waiting in all registers' outboxes")


class FleetStatus(BaseModel):
    generated_at: datetime
    policy: FleetPolicyOut
    totals: FleetTotals
    stores: list[StoreHealth]
