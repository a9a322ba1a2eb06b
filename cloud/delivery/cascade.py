"""The delivery cascade as a pure state machine: values in, values out, no clock and no I/O.

A delivery walks an ordered list of steps (channel, deadline, success condition). The worker feeds it events
(claimed, provider accepted, provider error, report, deadline) with the current time and stores what comes
back; reports from providers go through the same functions. Rules (REFERENCE.md, "Delivery cascade"):

- a step is planned only when its channel is available for the buyer (no channel at all: UNREACHABLE);
- a step fails over on a permanent provider error, when transient errors outlast its deadline, on a
  "failed/undelivered" report, or when its deadline passes without its success condition;
- statuses only move forward; a report for an earlier step (or after the end) is recorded on that attempt's
  history and changes nothing else;
- a step is sent at most `max_tries` times, and only again after a transient error or a lost worker: every
  try is in the attempt's history, so the record shows why a channel saw a receipt twice.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from cloud.errors import InvalidSetting  # a policy that cannot be used; the sentence says what to fix

MIN_DEADLINE_S = 15
MAX_DEADLINE_S = 24 * 3600
MAX_TRIES = 4
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"
    VIBER = "viber"
    SMS = "sms"


class Success(StrEnum):
    """What a step must reach to end the cascade."""

    ACCEPTED = "accepted"  # the provider took it (plain SMTP tells nothing more)
    DELIVERED = "delivered"
    READ = "read"  # read, seen, opened


class Status(StrEnum):
    """The delivery as a whole."""

    NEW = "new"  # stored with the receipt, not planned yet
    PENDING = "pending"  # the current step waits to be sent at due_at
    SENDING = "sending"  # a worker holds it until due_at (its lease)
    WAITING = "waiting"  # the provider accepted; success condition expected before due_at
    DELIVERED = "delivered"  # a step reached its success condition
    FAILED = "failed"  # every planned step failed
    UNREACHABLE = "unreachable"  # no channel could be tried for this buyer

    @property
    def finished(self) -> bool:
        return self in (Status.DELIVERED, Status.FAILED, Status.UNREACHABLE)


class AttemptStatus(StrEnum):
    SENDING = "sending"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    EXPIRED = "expired"  # the deadline passed without the success condition

    @property
    def closed(self) -> bool:
        return self in (AttemptStatus.FAILED, AttemptStatus.EXPIRED)


_RANK = {
    AttemptStatus.SENDING: 0,
    AttemptStatus.ACCEPTED: 1,
    AttemptStatus.DELIVERED: 2,
    AttemptStatus.READ: 3,
}
_REACHES = {Success.ACCEPTED: 1, Success.DELIVERED: 2, Success.READ: 3}
# Which outcome a channel's provider bills for: SMS gateways bill every accepted message; Viber aggregators
# bill delivered ones; push and e-mail are free either way (the price table may still say otherwise).
BILLED_AT = {
    Channel.EMAIL: AttemptStatus.ACCEPTED,
    Channel.PUSH: AttemptStatus.ACCEPTED,
    Channel.VIBER: AttemptStatus.DELIVERED,
    Channel.SMS: AttemptStatus.ACCEPTED,
}


@dataclass(frozen=True, slots=True)
class Step:
    channel: Channel
    deadline_s: float
    success: Success = Success.DELIVERED

    def validated(self) -> "Step":
        """Tenant policies keep to 15 s–24 h per step (tests may build shorter steps directly)."""
        if not MIN_DEADLINE_S <= self.deadline_s <= MAX_DEADLINE_S:
            raise InvalidSetting(
                f"{self.channel}: deadline {self.deadline_s:g} s is outside "
                f"{MIN_DEADLINE_S}–{MAX_DEADLINE_S} s"
            )
        return self


DEFAULT_POLICY: tuple[Step, ...] = (
    Step(Channel.EMAIL, 900, Success.ACCEPTED),
    Step(Channel.PUSH, 60, Success.DELIVERED),
    Step(Channel.VIBER, 120, Success.DELIVERED),
    Step(Channel.SMS, 3600, Success.DELIVERED),
)


def parse_policy(text: str) -> tuple[Step, ...]:
    """'email:900:accepted,push:60:delivered,viber:120,sms:3600' → validated steps (success defaults to
    delivered). Each channel at most once."""
    steps: list[Step] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        fields = part.split(":")
        if len(fields) not in (2, 3):
            raise InvalidSetting(f"step {part!r}: write channel:deadline_s[:accepted|delivered|read]")
        try:
            channel = Channel(fields[0])
            success = Success(fields[2]) if len(fields) == 3 else Success.DELIVERED
            deadline = float(fields[1])
        except ValueError as exc:
            raise InvalidSetting(f"step {part!r}: {exc}") from exc
        if any(s.channel is channel for s in steps):
            raise InvalidSetting(f"channel {channel} appears twice")
        steps.append(Step(channel, deadline, success).validated())
    if not steps:
        raise InvalidSetting("a policy needs at least one step")
    return tuple(steps)


def format_policy(steps: tuple[Step, ...]) -> str:
    return ",".join(f"{s.channel}:{s.deadline_s:g}:{s.success}" for s in steps)


@dataclass(frozen=True, slots=True)
class Note:
    at: datetime
    what: str  # "try 1", "accepted", "report delivered", "late report delivered", "deadline passed", ...


@dataclass(frozen=True, slots=True)
class Attempt:
    step: int
    channel: Channel
    status: AttemptStatus = AttemptStatus.SENDING
    tries: int = 0
    started_at: datetime | None = None
    accepted_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    closed_at: datetime | None = None
    message_id: str | None = None
    error: str | None = None
    billed: bool = False
    history: tuple[Note, ...] = ()

    def note(self, at: datetime, what: str, **changes: object) -> "Attempt":
        return replace(self, history=(*self.history, Note(at, what)), **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Delivery:
    status: Status = Status.NEW
    steps: tuple[Step, ...] = ()
    index: int = 0
    due_at: datetime | None = None
    attempts: tuple[Attempt, ...] = ()
    finished_at: datetime | None = None
    skipped: tuple[Channel, ...] = field(default=())  # channels of the policy not available for this buyer

    @property
    def step(self) -> Step | None:
        return self.steps[self.index] if self.index < len(self.steps) else None

    @property
    def current(self) -> Attempt | None:
        for a in self.attempts:
            if a.step == self.index:
                return a
        return None

    def attempt(self, step: int) -> Attempt | None:
        for a in self.attempts:
            if a.step == step:
                return a
        return None

    def _put(self, attempt: Attempt) -> "Delivery":
        others = tuple(a for a in self.attempts if a.step != attempt.step)
        return replace(self, attempts=tuple(sorted((*others, attempt), key=lambda a: a.step)))


@dataclass(frozen=True, slots=True)
class Send:
    """What the worker must do after a claim: send `step` (try number `tries`) to the buyer."""

    step: int
    channel: Channel
    tries: int


def plan(d: Delivery, now: datetime, available: frozenset[Channel], policy: tuple[Step, ...]) -> Delivery:
    """NEW → PENDING with the policy's available steps, or UNREACHABLE when none is."""
    if d.status is not Status.NEW:
        return d
    steps = tuple(s for s in policy if s.channel in available)
    skipped = tuple(s.channel for s in policy if s.channel not in available)
    if not steps:
        return replace(d, status=Status.UNREACHABLE, steps=(), skipped=skipped, due_at=None, finished_at=now)
    return replace(d, status=Status.PENDING, steps=steps, skipped=skipped, index=0, due_at=now)


def is_due(d: Delivery, now: datetime) -> bool:
    return not d.status.finished and d.due_at is not None and d.due_at <= now


def claim(
    d: Delivery, now: datetime, lease_s: float, max_tries: int = MAX_TRIES
) -> tuple[Delivery, Send | None]:
    """A worker took a due delivery. Returns what to send (if anything) and the new state.

    PENDING → SENDING (one more try, leased until now + lease_s). A SENDING one whose lease ran out means a
    worker died mid-send: the outcome is unknown, so this is a retry and the history says so. WAITING past
    its deadline → the step expires and the cascade moves on.
    """
    if not is_due(d, now):
        return d, None
    step = d.step
    assert step is not None
    attempt = d.current or Attempt(step=d.index, channel=step.channel, started_at=now)
    if d.status is Status.WAITING:
        return _fail_over(
            d, now, attempt, AttemptStatus.EXPIRED, f"deadline {step.deadline_s:g} s passed"
        ), None
    if d.status is Status.SENDING:
        attempt = attempt.note(now, f"try {attempt.tries}: worker lost before an answer, outcome unknown")
    if _past_deadline(d, attempt, now):
        return _fail_over(
            d, now, attempt, AttemptStatus.EXPIRED, f"deadline {step.deadline_s:g} s passed"
        ), None
    if attempt.tries >= max_tries:
        return _fail_over(d, now, attempt, AttemptStatus.FAILED, f"gave up after {attempt.tries} tries"), None
    tries = attempt.tries + 1
    attempt = attempt.note(now, f"try {tries}", tries=tries, status=AttemptStatus.SENDING)
    d = replace(d._put(attempt), status=Status.SENDING, due_at=now + timedelta(seconds=lease_s))
    return d, Send(d.index, step.channel, tries)


def deferred(d: Delivery, send: Send, now: datetime, until: datetime, why: str) -> Delivery:
    """The worker did not send after all (rate limit): give the try back and come back at `until`."""
    attempt = d.attempt(send.step)
    if (
        d.status is not Status.SENDING
        or d.index != send.step
        or attempt is None
        or attempt.tries != send.tries
    ):
        return d
    attempt = attempt.note(now, f"try {send.tries} deferred: {why}", tries=send.tries - 1)
    return replace(d._put(attempt), status=Status.PENDING, due_at=until)


def accepted(d: Delivery, send: Send, now: datetime, message_id: str) -> Delivery:
    """The provider took the message and gave it an id."""
    attempt = d.attempt(send.step)
    assert attempt is not None
    if d.status is not Status.SENDING or d.index != send.step or attempt.tries != send.tries:
        # Our lease ran out and the delivery moved on meanwhile: keep the id so its reports find it.
        late = attempt.note(now, f"try {send.tries} accepted late as {message_id}; the cascade had moved on")
        return d._put(
            replace(
                late,
                message_id=late.message_id or message_id,
                billed=late.billed or _bills(late.channel, AttemptStatus.ACCEPTED),
            )
        )
    step = d.steps[send.step]
    attempt = attempt.note(
        now,
        f"accepted as {message_id}",
        status=AttemptStatus.ACCEPTED,
        accepted_at=now,
        message_id=message_id,
        billed=attempt.billed or _bills(attempt.channel, AttemptStatus.ACCEPTED),
        error=None,
    )
    d = d._put(attempt)
    if _REACHES[step.success] <= _RANK[AttemptStatus.ACCEPTED]:
        return _succeed(d, now)
    started = attempt.started_at or now
    return replace(d, status=Status.WAITING, due_at=started + timedelta(seconds=step.deadline_s))


def send_failed(
    d: Delivery, send: Send, now: datetime, error: str, transient: bool, retry_after_s: float | None = None
) -> Delivery:
    """The provider refused (permanent: fail over now) or could not be reached (transient: retry with
    exponential backoff while the step's deadline allows, then fail over)."""
    attempt = d.attempt(send.step)
    assert attempt is not None
    if d.status is not Status.SENDING or d.index != send.step or attempt.tries != send.tries:
        return d._put(attempt.note(now, f"try {send.tries} failed late: {error}"))
    if not transient:
        return _fail_over(d, now, attempt, AttemptStatus.FAILED, error)
    wait = (
        retry_after_s
        if retry_after_s is not None
        else min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (send.tries - 1))
    )
    retry_at = now + timedelta(seconds=wait)
    attempt = attempt.note(now, f"try {send.tries} failed: {error}; retry in {wait:g} s", error=error)
    if _past_deadline(d, attempt, retry_at):
        return _fail_over(d, now, attempt, AttemptStatus.FAILED, f"{error}; no time left before the deadline")
    return replace(d._put(attempt), status=Status.PENDING, due_at=retry_at)


def reported(
    d: Delivery, step: int, now: datetime, status: AttemptStatus, detail: str = ""
) -> tuple[Delivery, bool]:
    """A provider's report about the attempt of `step`. Returns the new state and whether it changed the
    cascade. Reports for earlier steps, after the end, or going backwards are recorded and change nothing."""
    attempt = d.attempt(step)
    if attempt is None:
        return d, False
    what = f"report {status}" + (f" ({detail})" if detail else "")
    current = step == d.index and d.status in (Status.WAITING, Status.SENDING, Status.PENDING)
    if attempt.status.closed or (not current and d.status is not Status.DELIVERED):
        # After fail-over: history only (but a provider that delivered late still bills for it).
        billed = attempt.billed or (status is not AttemptStatus.FAILED and _bills(attempt.channel, status))
        return d._put(replace(attempt.note(now, "late " + what), billed=billed)), False
    if status is AttemptStatus.FAILED:
        if attempt.status in (AttemptStatus.DELIVERED, AttemptStatus.READ) or not current:
            return d._put(attempt.note(now, "ignored " + what)), False
        return _fail_over(d, now, attempt, AttemptStatus.FAILED, detail or "provider reported failure"), True
    if _RANK.get(status, 0) <= _RANK[attempt.status]:
        return d._put(attempt.note(now, "ignored " + what)), False
    stamp = {AttemptStatus.DELIVERED: "delivered_at", AttemptStatus.READ: "read_at"}.get(status)
    changes: dict[str, object] = {
        "status": status,
        "billed": attempt.billed or _bills(attempt.channel, status),
    }
    if stamp:
        changes[stamp] = now
    if status is AttemptStatus.READ and attempt.delivered_at is None:
        changes["delivered_at"] = now  # read implies delivered
    if attempt.accepted_at is None:
        changes["accepted_at"] = now
    attempt = attempt.note(now, what, **changes)
    d = d._put(attempt)
    if current and _REACHES[d.steps[step].success] <= _RANK[status]:
        return _succeed(d, now), True
    return d, current


def _bills(channel: Channel, status: AttemptStatus) -> bool:
    return _RANK.get(status, -1) >= _RANK[BILLED_AT[channel]]


def _past_deadline(d: Delivery, attempt: Attempt, at: datetime) -> bool:
    started = attempt.started_at or at
    return at >= started + timedelta(seconds=d.steps[attempt.step].deadline_s)


def _succeed(d: Delivery, now: datetime) -> Delivery:
    return replace(d, status=Status.DELIVERED, due_at=None, finished_at=now)


def _fail_over(d: Delivery, now: datetime, attempt: Attempt, status: AttemptStatus, why: str) -> Delivery:
    attempt = attempt.note(now, f"{status}: {why}; moving on", status=status, closed_at=now, error=why)
    d = d._put(attempt)
    if d.index + 1 >= len(d.steps):
        return replace(d, status=Status.FAILED, index=d.index + 1, due_at=None, finished_at=now)
    return replace(d, status=Status.PENDING, index=d.index + 1, due_at=now)
