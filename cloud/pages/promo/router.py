"""Promo's HTTP surface, thin: check and redeem for the POS and the CRM, rules and stats for head office."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from cloud.accounts.callers import Caller
from cloud.accounts.roles import Permission
from cloud.db.types import utcnow
from cloud.deps import CurrentCaller, CurrentTenant, ReportReader, SessionDep, WritingKey
from cloud.errors import Forbidden, error_responses
from cloud.pages.promo import redeem, service, stats
from cloud.pages.promo.models import PromoRule
from cloud.pages.promo.rules import Rule
from cloud.pages.promo.schemas import (
    CheckIn,
    CodeOut,
    RedeemIn,
    RedeemOut,
    RuleIn,
    RuleList,
    RuleOut,
    RuleStatsOut,
    StatsOut,
)
from sync.protocol import WireDateTime

router = APIRouter(tags=["promo"])
RuleName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w.-]+$")]


def _rule_reader(caller: CurrentCaller) -> Caller:
    """Integrations' keys, and head-office people whose role edits templates (admin, owner)."""
    if caller.api_key_id is None and Permission.TEMPLATES not in caller.permissions:
        raise Forbidden("your role does not allow this (templates)")
    return caller


RuleReader = Annotated[Caller, Depends(_rule_reader)]


@router.post(
    "/v1/promo/check",
    response_model=CodeOut,
    summary="Is this promo code valid now, and what does it give?",
    description="Any API key of the tenant. A known code answers 200 with `valid` and, when it is not, "
    "`status` says why; an unknown one is 404 `promo_unknown`.",
    responses=error_responses(401, 404, 422),
)
def check_code(body: CheckIn, session: SessionDep, tenant: CurrentTenant) -> CodeOut:
    assert tenant.id is not None
    return CodeOut.of(redeem.check(session, tenant.id, body.code, utcnow()))


@router.post(
    "/v1/promo/redeem",
    response_model=RedeemOut,
    summary="Redeem a promo code for a purchase, exactly once",
    description="An API key with the `write` scope. Concurrent redemptions of one code redeem it once; the "
    "others get 409 `promo_already_redeemed`. A retry with the same `idempotency_key` gets the first "
    "redemption back (`replayed`). Other refusals: 404 `promo_unknown`, 410 `promo_expired`, "
    "409 `promo_not_started`; 404 `not_found` for a store, register or receipt not of this tenant.",
    responses=error_responses(401, 403, 404, 409, 410, 422),
)
def redeem_code(body: RedeemIn, session: SessionDep, key: WritingKey) -> RedeemOut:
    purchase = redeem.Purchase(body.store_id, body.register_id, body.receipt_id, body.purchase)
    done = redeem.redeem(
        session, key.tenant_id, body.code, purchase, body.idempotency_key, f"key:{key.name}", utcnow()
    )
    return RedeemOut.of(done)


def _rule_out(row: PromoRule) -> RuleOut:
    return RuleOut(
        name=row.name,
        percent=row.percent,
        amount=row.amount,
        headline=row.headline,
        categories=[str(c) for c in row.categories],
        valid_days=row.valid_days,
        start_delay_h=row.start_delay_h,
        remind_before_h=row.remind_before_h,
        length=row.length,
        alphabet=row.alphabet,
        planned_codes=row.planned_codes,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get(
    "/v1/promo/rules",
    response_model=RuleList,
    summary="The tenant's promo rules",
    responses=error_responses(401, 403),
)
def list_rules(session: SessionDep, caller: RuleReader) -> RuleList:
    return RuleList(rules=[_rule_out(r) for r in service.list_rules(session, caller.tenant_id)])


@router.put(
    "/v1/promo/rules/{name}",
    response_model=RuleOut,
    summary="Create or change a promo rule",
    description="An API key with the `write` scope (head office's people use `echeck-cloud promo set`). "
    "Refused (422 `invalid_setting`) when the code space is smaller than 10^6 × `planned_codes`: the "
    "answer says the length needed. Codes already issued keep their dates; `active: false` stops issuing.",
    responses=error_responses(401, 403, 422),
)
def put_rule(name: RuleName, body: RuleIn, session: SessionDep, key: WritingKey) -> RuleOut:
    rule = Rule(name=name, **body.model_dump(exclude={"categories"}), categories=tuple(body.categories))
    row = service.save_rule(session, key.tenant_id, rule, f"key:{key.name}", utcnow())
    return _rule_out(row)


@router.get(
    "/v1/promo/stats",
    response_model=StatsOut,
    summary="Per promo rule: codes issued, redeemed, redemption rate",
    description="Reports permission (analyst, owner, API keys); a user scoped to stores or regions counts "
    "the codes issued in those stores only.",
    responses=error_responses(401, 403, 422),
)
def promo_stats(
    session: SessionDep,
    caller: ReportReader,
    since: Annotated[WireDateTime | None, Query(description="codes issued from (ISO 8601)")] = None,
    until: Annotated[WireDateTime | None, Query(description="codes issued before (ISO 8601)")] = None,
) -> StatsOut:
    since, until = _aware(since), _aware(until)
    found = stats.per_rule(session, caller.tenant_id, caller.store_ids, since, until)
    return StatsOut(since=since, until=until, rules=[RuleStatsOut.of(s) for s in found])


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
