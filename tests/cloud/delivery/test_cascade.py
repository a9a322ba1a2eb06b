"""The cascade state machine alone: values in, values out, an explicit clock."""

from datetime import UTC, datetime, timedelta

import pytest

from cloud.delivery.cascade import (
    DEFAULT_POLICY,
    AttemptStatus,
    Channel,
    Delivery,
    Status,
    Step,
    Success,
    accepted,
    claim,
    deferred,
    parse_policy,
    plan,
    reported,
    send_failed,
)
from cloud.errors import InvalidSetting

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PHONE = frozenset({Channel.VIBER, Channel.SMS})
STEPS = (Step(Channel.VIBER, 30), Step(Channel.SMS, 60))


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def started(available: frozenset[Channel] = PHONE, policy: tuple[Step, ...] = STEPS) -> Delivery:
    return plan(Delivery(), T0, available, policy)


def test_plan_skips_unavailable_channels_and_marks_the_unreachable() -> None:
    d = plan(Delivery(), T0, PHONE, DEFAULT_POLICY)
    assert [s.channel for s in d.steps] == [Channel.VIBER, Channel.SMS]
    assert d.skipped == (Channel.EMAIL, Channel.PUSH)
    assert d.status is Status.PENDING
    assert d.due_at == T0
    none = plan(Delivery(), T0, frozenset(), DEFAULT_POLICY)
    assert none.status is Status.UNREACHABLE
    assert none.due_at is None  # never retried


def test_delivered_email_ends_the_cascade_sms_never_fires() -> None:
    d = started(frozenset({Channel.EMAIL, Channel.SMS}), (Step(Channel.EMAIL, 60), Step(Channel.SMS, 60)))
    d, send = claim(d, T0, 30)
    assert send
    assert send.channel is Channel.EMAIL
    d = accepted(d, send, at(1), "m1")
    d, changed = reported(d, 0, at(2), AttemptStatus.DELIVERED)
    assert changed
    assert d.status is Status.DELIVERED
    assert d.due_at is None
    d2, nothing = claim(d, at(1000), 30)
    assert nothing is None
    assert d2 == d


def test_sms_fires_only_after_viber_failed_or_timed_out() -> None:
    d, send = claim(started(), T0, 30)
    d = accepted(d, send, at(1), "v1")  # type: ignore[arg-type]
    assert d.status is Status.WAITING
    assert d.due_at == at(30)
    d, none = claim(d, at(29), 30)
    assert none is None
    assert d.step.channel is Channel.VIBER  # type: ignore[union-attr]
    d, none = claim(d, at(30), 30)  # deadline passed without "delivered"
    assert none is None
    assert d.status is Status.PENDING
    assert d.index == 1
    assert d.attempt(0).status is AttemptStatus.EXPIRED  # type: ignore[union-attr]
    d, send = claim(d, at(30), 30)
    assert send
    assert send.channel is Channel.SMS
    # Viber's late "delivered" is recorded, changes nothing; Viber bills it though.
    d2, changed = reported(d, 0, at(31), AttemptStatus.DELIVERED)
    assert not changed
    assert d2.status is Status.SENDING
    assert d2.index == 1
    assert d2.attempt(0).status is AttemptStatus.EXPIRED
    assert d2.attempt(0).billed  # type: ignore[union-attr]
    assert "late report delivered" in d2.attempt(0).history[-1].what  # type: ignore[union-attr]


def test_failed_report_fails_over_at_once() -> None:
    d, send = claim(started(), T0, 30)
    d = accepted(d, send, at(1), "v1")  # type: ignore[arg-type]
    d, changed = reported(d, 0, at(2), AttemptStatus.FAILED, "not a Viber user")
    assert changed
    assert d.index == 1
    assert d.status is Status.PENDING
    assert d.due_at == at(2)


def test_statuses_only_move_forward() -> None:
    d = started(policy=(Step(Channel.VIBER, 30, Success.READ),))
    d, send = claim(d, T0, 30)
    d = accepted(d, send, at(1), "v1")  # type: ignore[arg-type]
    d, _ = reported(d, 0, at(2), AttemptStatus.READ)
    assert d.status is Status.DELIVERED
    d, changed = reported(d, 0, at(3), AttemptStatus.DELIVERED)
    d, changed2 = reported(d, 0, at(4), AttemptStatus.FAILED)
    assert not changed
    assert not changed2
    assert d.attempt(0).status is AttemptStatus.READ  # type: ignore[union-attr]


def test_transient_errors_retry_with_backoff_then_fail_over_within_the_deadline() -> None:
    d, send = claim(started(), T0, 30)
    d = send_failed(d, send, at(0.1), "connection refused", transient=True)  # type: ignore[arg-type]
    assert d.status is Status.PENDING
    assert d.due_at == at(1.1)
    assert d.index == 0
    now = 1.1
    tries = 1
    while d.index == 0:
        d, send = claim(d, at(now), 30)
        if send is None:
            break
        tries += 1
        d = send_failed(d, send, at(now), "connection refused", transient=True)
        now = (d.due_at - T0).total_seconds() if d.due_at else now
    assert d.index == 1
    assert d.status is Status.PENDING
    assert (d.due_at - T0).total_seconds() <= 30  # type: ignore[operator]
    assert d.attempt(0).tries == tries
    assert d.attempt(0).status is AttemptStatus.FAILED  # type: ignore[union-attr]


def test_permanent_error_fails_over_and_the_last_step_ends_failed() -> None:
    d, send = claim(started(), T0, 30)
    d = send_failed(d, send, at(1), "notSubscribed", transient=False)  # type: ignore[arg-type]
    d, send = claim(d, at(1), 30)
    d = send_failed(d, send, at(2), "bad number", transient=False)  # type: ignore[arg-type]
    assert d.status is Status.FAILED
    assert d.due_at is None
    assert d.finished_at == at(2)


def test_a_lost_worker_means_one_recorded_retry_not_a_silent_duplicate() -> None:
    d, send = claim(started(), T0, 5)
    assert d.status is Status.SENDING
    assert d.due_at == at(5)
    d, again = claim(d, at(5), 5)  # the lease ran out: the worker died mid-send
    assert again
    assert again.tries == 2
    history = [n.what for n in d.attempt(0).history]  # type: ignore[union-attr]
    assert history == ["try 1", "try 1: worker lost before an answer, outcome unknown", "try 2"]
    # The dead worker's answer, should it still arrive, does not move the cascade.
    d2 = accepted(d, send, at(6), "v-late")  # type: ignore[arg-type]
    assert d2.status is Status.SENDING


def test_rate_limit_deferral_gives_the_try_back() -> None:
    d, send = claim(started(), T0, 30)
    d = deferred(d, send, at(0.1), at(1), "provider rate limit")  # type: ignore[arg-type]
    assert d.status is Status.PENDING
    assert d.due_at == at(1)
    assert d.attempt(0).tries == 0  # type: ignore[union-attr]


def test_policy_text_is_validated() -> None:
    assert parse_policy("email:900:accepted,sms:3600")[1] == Step(Channel.SMS, 3600, Success.DELIVERED)
    for bad in ("sms:5", "sms:90000", "fax:60", "sms:60,sms:90", "", "sms"):
        with pytest.raises(InvalidSetting):
            parse_policy(bad)
