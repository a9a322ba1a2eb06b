"""Promo's wire shapes: the POS/CRM check and redeem, head office's rules and stats."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cloud.pages.promo import rules
from cloud.pages.promo.redeem import CodeState, Redemption
from cloud.pages.promo.stats import RuleStats
from sync.protocol import WireId

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckIn(_In):
    code: WireId = Field(min_length=1, max_length=64, examples=["K7QF9MZCXA"], description="as typed")


class RedeemIn(_In):
    code: WireId = Field(min_length=1, max_length=64, examples=["K7QF9MZCXA"])
    store_id: Id = Field(description="the store of the purchase that uses the code")
    register_id: Id | None = Field(None, description="the register of the purchase, when known")
    receipt_id: Id | None = Field(
        None, description="the cloud's id of the purchase's receipt, when it has synced already"
    )
    purchase: WireId | None = Field(
        None, max_length=100, description="the POS's or CRM's own reference of the purchase"
    )
    idempotency_key: WireId = Field(
        min_length=8,
        max_length=100,
        examples=["pos-12-3-000457"],
        description="the same key again (a retry after a timeout) gets the first redemption back",
    )


class Discount(BaseModel):
    percent: int | None = Field(description="−N % (or null when the discount is an amount)")
    amount: int | None = Field(description="−N kopecks (or null when the discount is a percentage)")
    headline: str = Field(examples=["−10 % на следующую покупку"])
    categories: list[str] = Field(description="purchase categories it applies to; empty: every category")


class CodeOut(BaseModel):
    code: str
    valid: bool = Field(description="it can be redeemed now")
    status: str = Field(
        description="`valid`, or why not: `promo_expired`, `promo_not_started`, `promo_already_redeemed`",
        examples=["valid"],
    )
    rule: str
    discount: Discount
    starts_at: datetime
    expires_at: datetime
    issued_receipt_id: int = Field(description="the receipt whose e-receipt page issued the code")
    redeemed_at: datetime | None

    @classmethod
    def of(cls, state: CodeState) -> "CodeOut":
        r = state.rule
        return cls(
            code=state.code,
            valid=state.valid,
            status=state.status,
            rule=r.name,
            discount=Discount(
                percent=r.percent, amount=r.amount, headline=r.title(), categories=list(r.categories)
            ),
            starts_at=state.starts_at,
            expires_at=state.expires_at,
            issued_receipt_id=state.issued_receipt_id,
            redeemed_at=state.redeemed_at,
        )


class RedeemOut(BaseModel):
    redeemed: bool = Field(description="always true: a refusal is an error answer")
    replayed: bool = Field(description="this idempotency key had redeemed it already: that redemption")
    redeemed_at: datetime
    promo: CodeOut

    @classmethod
    def of(cls, r: Redemption) -> "RedeemOut":
        return cls(redeemed=True, replayed=r.replayed, redeemed_at=r.redeemed_at, promo=CodeOut.of(r.state))


class RuleIn(_In):
    percent: int | None = Field(None, ge=1, le=100)
    amount: int | None = Field(None, ge=1, le=10**9, description="kopecks")
    headline: str = Field("", max_length=120, description="empty: made from the discount")
    categories: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=100)
    valid_days: int = Field(30, ge=1, le=rules.MAX_VALID_DAYS)
    start_delay_h: int = Field(0, ge=0, le=rules.MAX_START_DELAY_H)
    remind_before_h: int | None = Field(
        24, ge=1, le=rules.MAX_VALID_DAYS * 24, description="null: no reminder"
    )
    length: int = Field(rules.DEFAULT_LENGTH, ge=rules.MIN_LENGTH, le=rules.MAX_LENGTH)
    alphabet: str = Field(rules.DEFAULT_ALPHABET, min_length=rules.MIN_ALPHABET, max_length=36)
    planned_codes: int = Field(
        rules.DEFAULT_PLANNED,
        ge=1,
        le=10**10,
        description="codes expected over the rule's life: the code space must be ≥ 10^6 × this",
    )
    active: bool = True


class RuleOut(RuleIn):
    name: str
    created_at: datetime
    updated_at: datetime


class RuleList(BaseModel):
    rules: list[RuleOut]


class RuleStatsOut(BaseModel):
    rule: str
    active: bool
    issued: int
    redeemed: int
    redemption_rate: float = Field(description="redeemed / issued, 0..1")
    reminders_sent: int

    @classmethod
    def of(cls, s: RuleStats) -> "RuleStatsOut":
        return cls(
            rule=s.rule,
            active=s.active,
            issued=s.issued,
            redeemed=s.redeemed,
            redemption_rate=round(s.rate, 4),
            reminders_sent=s.reminded,
        )


class StatsOut(BaseModel):
    since: datetime | None
    until: datetime | None
    rules: list[RuleStatsOut]
