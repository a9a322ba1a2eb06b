"""The sync worker: drains the outbox to the cloud in batches, in its own thread.

The till never waits on it: the agent's threads only call `wake()` (an Event.set). Everything that can
block — SQLite reads, HTTP, backoff sleeps — runs in `run()`'s thread.

Delivery is at-least-once: a row leaves `pending` only after the cloud acknowledged it by position and
key, and the cloud stores each key once. Failures are kept apart by kind:
- the cloud is unreachable or overloaded (network error, timeout, 5xx, 429): the rows stay pending,
  the worker backs off (exponential, full jitter, capped; at least Retry-After);
- the register's token is refused (401/403): the rows stay pending, the worker says so in its status
  and retries rarely, because only store IT can fix it;
- the cloud refuses one receipt (a `rejected` item): that row goes to `rejected` with the reason and
  never blocks the rows behind it.
"""

import logging
import random
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import httpx
from pydantic import ValidationError

from receipts.redact import redact
from sync.backoff import Backoff, parse_retry_after
from sync.outbox import Outbox, OutboxEntry
from sync.protocol import HEARTBEAT_PATH, BatchResult, Heartbeat, HeartbeatAck, ItemStatus, batch_path

log = logging.getLogger("echeck.sync")

# Longest single sleep of the loop: bounds how late a stop is noticed if the caller forgets wake().
_MAX_NAP_S = 1.0


class BearerToken(httpx.Auth):
    """The register's credential on every request. The token never appears in repr or logs."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerToken(***)"


class OutcomeKind(StrEnum):
    IDLE = "idle"  # nothing pending: nothing sent
    SYNCED = "synced"  # the cloud answered the batch (acked and/or rejected items)
    FAILED = "failed"  # unreachable, timeout, 5xx, 429, unreadable answer: rows kept, back off
    REFUSED = "refused"  # 401/403: the register token was refused; rows kept, back off long


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    kind: OutcomeKind
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # what the cloud asked for, seconds
    delay: float = 0.0  # how long the loop waits before the next attempt


@dataclass(frozen=True, slots=True)
class SyncStatus:
    online: bool  # the last exchange with the cloud (batch or heartbeat) succeeded
    last_sync_at: datetime | None  # last batch the cloud answered
    last_error: str | None
    consecutive_failures: int
    next_attempt_at: datetime | None  # set while backing off
    token_refused: bool
    last_heartbeat_at: datetime | None
    clock_skew_s: float | None  # register clock minus cloud clock, from the last heartbeat ack


class SyncWorker:
    def __init__(
        self,
        outbox: Outbox,
        client: httpx.Client,
        store_id: int,
        *,
        batch_size: int = 200,
        linger: float = 0.05,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        refused_backoff: float = 300.0,
        poll_interval: float = 2.0,
        heartbeat_interval: float = 30.0,
        timeout: float | None = None,
        agent_version: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.store_id = store_id
        self.batch_size = batch_size
        self.linger = linger
        self.refused_backoff = refused_backoff
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.agent_version = agent_version
        # None: the client's own timeout applies (the agent configures it there).
        self._per_request: dict[str, httpx.Timeout] = (
            {} if timeout is None else {"timeout": httpx.Timeout(timeout)}
        )
        self._backoff = Backoff(backoff_base, backoff_cap, rng or random.Random())
        self._batch_limit = batch_size  # shrinks on 413, grows back after successes
        self._wake = threading.Event()
        self._send_lock = threading.Lock()  # run_once from a test and from run() never overlap
        self._state_lock = threading.Lock()  # status is read from the agent's threads
        self._online = False
        self._last_sync_at: datetime | None = None
        self._last_error: str | None = None
        self._failures = 0
        self._refused = False
        self._transport_failure = False  # the last failure was "cannot reach": a heartbeat may end it
        self._next_attempt = 0.0  # time.monotonic() of the next allowed batch
        self._last_heartbeat_at: datetime | None = None
        self._clock_skew_s: float | None = None

    # --- the caller's side: cheap, never blocks ------------------------------------------------------

    def wake(self) -> None:
        """A receipt was just queued: sync now if the cloud is reachable (after `linger`)."""
        self._wake.set()

    @property
    def status(self) -> SyncStatus:
        with self._state_lock:
            wait = self._next_attempt - time.monotonic()
            return SyncStatus(
                online=self._online,
                last_sync_at=self._last_sync_at,
                last_error=self._last_error,
                consecutive_failures=self._failures,
                next_attempt_at=datetime.now(UTC) + timedelta(seconds=wait) if self._failures else None,
                token_refused=self._refused,
                last_heartbeat_at=self._last_heartbeat_at,
                clock_skew_s=self._clock_skew_s,
            )

    # --- one batch -----------------------------------------------------------------------------------

    def run_once(self) -> SyncOutcome:
        """Send the oldest pending rows as one batch, if any, and record what the cloud said."""
        with self._send_lock:
            entries = self.outbox.pending(self._batch_limit)
            if not entries:
                return SyncOutcome(OutcomeKind.IDLE)
            try:
                response = self.client.post(
                    batch_path(self.store_id),
                    json={"receipts": [e.payload for e in entries]},
                    **self._per_request,
                )
            except httpx.HTTPError as exc:  # connect/read/write errors, timeouts, dropped connections
                return self._failed(entries, f"{type(exc).__name__}: {exc}", transport=True)
            code = response.status_code
            if code in (401, 403):
                return self._refused_token(entries, response)
            if code == 413 and self._batch_limit > 1:
                self._batch_limit = max(1, self._batch_limit // 2)
                return self._failed(entries, f"HTTP 413: batch too large, now {self._batch_limit}", code=code)
            if code in (429, 503):
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                return self._failed(entries, f"HTTP {code}", code=code, retry_after=retry_after)
            if not response.is_success:
                return self._failed(entries, f"HTTP {code}: {_detail(response)}", code=code)
            try:
                result = BatchResult.model_validate_json(response.content)
            except ValidationError as exc:
                return self._failed(
                    entries, f"unreadable batch answer: {exc.error_count()} errors", code=code
                )
            return self._apply(entries, result, code)

    def _apply(self, entries: Sequence[OutboxEntry], result: BatchResult, code: int) -> SyncOutcome:
        acked: list[int] = []
        answered: set[int] = set()
        for item in result.accepted:
            if not 0 <= item.index < len(entries):
                continue
            entry = entries[item.index]
            if item.key != entry.key:
                # Never ack a row on an answer about some other receipt: it stays pending and is resent.
                log.error("cloud acked a different key", extra={"key": entry.key, "cloud_key": item.key})
                continue
            if item.status is ItemStatus.CONFLICT:
                log.warning("cloud flagged a resend with different content", extra={"key": entry.key})
            acked.append(entry.id)
            answered.add(item.index)
        self.outbox.mark_acked(acked)
        rejected = 0
        for item in result.rejected:
            if not 0 <= item.index < len(entries) or item.index in answered:
                continue
            entry = entries[item.index]
            self.outbox.mark_rejected(entry.id, item.reason)
            answered.add(item.index)
            rejected += 1
            log.warning("cloud rejected a receipt", extra={"key": entry.key, "reason": redact(item.reason)})
        unanswered = [e.id for i, e in enumerate(entries) if i not in answered]
        if unanswered:
            self.outbox.record_failure(unanswered, "missing from the cloud's answer")
        with self._state_lock:
            self._online = True
            self._last_sync_at = datetime.now(UTC)
            self._last_error = None
            self._failures = 0
            self._refused = False
            self._transport_failure = False
            self._next_attempt = time.monotonic()
            self._batch_limit = min(self.batch_size, self._batch_limit * 2)
        log.info(
            "batch synced",
            extra={"sent": len(entries), "acked": len(acked), "rejected": rejected, "store": self.store_id},
        )
        return SyncOutcome(OutcomeKind.SYNCED, len(entries), len(acked), rejected, status_code=code)

    def _failed(
        self,
        entries: Sequence[OutboxEntry],
        error: str,
        *,
        code: int | None = None,
        retry_after: float | None = None,
        transport: bool = False,
    ) -> SyncOutcome:
        error = redact(error)
        self.outbox.record_failure([e.id for e in entries], error)
        with self._state_lock:
            self._failures += 1
            delay = self._backoff.delay(self._failures, retry_after)
            self._online = False
            self._last_error = error
            self._transport_failure = transport
            self._next_attempt = time.monotonic() + delay
            failures = self._failures
        log.warning(
            "sync failed, backing off",
            extra={"error": error, "failures": failures, "delay_s": round(delay, 3), "pending": len(entries)},
        )
        return SyncOutcome(
            OutcomeKind.FAILED,
            len(entries),
            status_code=code,
            error=error,
            retry_after=retry_after,
            delay=delay,
        )

    def _refused_token(self, entries: Sequence[OutboxEntry], response: httpx.Response) -> SyncOutcome:
        error = redact(
            f"register token refused (HTTP {response.status_code}): {_detail(response)}; enroll again"
        )
        self.outbox.record_failure([e.id for e in entries], error)
        self._note_refused(error)
        return SyncOutcome(
            OutcomeKind.REFUSED,
            len(entries),
            status_code=response.status_code,
            error=error,
            delay=self.refused_backoff,
        )

    def _note_refused(self, error: str) -> None:
        with self._state_lock:
            self._failures += 1
            self._online = False
            self._refused = True
            self._last_error = error
            self._transport_failure = False
            self._next_attempt = time.monotonic() + self.refused_backoff
        log.error("register token refused by the cloud; receipts stay queued", extra={"error": error})

    # --- heartbeat -----------------------------------------------------------------------------------

    def heartbeat(self) -> HeartbeatAck | None:
        """Tell the cloud how this register is doing; None when the cloud could not be told."""
        stats = self.outbox.stats()
        now = datetime.now(UTC)
        status = self.status
        beat = Heartbeat(
            agent_version=self.agent_version,
            queue_depth=stats.pending,
            rejected_count=stats.rejected,
            oldest_unsynced_age_s=(now - stats.oldest_pending_closed_at).total_seconds()
            if stats.oldest_pending_closed_at
            else None,
            last_sync_at=status.last_sync_at,
            last_error=status.last_error,
            register_time=now,
        )
        try:
            response = self.client.post(
                HEARTBEAT_PATH, json=beat.model_dump(mode="json"), **self._per_request
            )
            if response.status_code in (401, 403):
                self._note_refused(f"register token refused (HTTP {response.status_code}) on heartbeat")
                return None
            response.raise_for_status()
            ack = HeartbeatAck.model_validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as exc:
            with self._state_lock:
                self._online = False
            log.info("heartbeat failed", extra={"error": redact(f"{type(exc).__name__}: {exc}")})
            return None
        with self._state_lock:
            self._online = True
            self._last_heartbeat_at = now
            self._clock_skew_s = ack.clock_skew_s
            if self._transport_failure:
                # The cloud answers again: the rows waiting out a network backoff can go now.
                self._next_attempt = time.monotonic()
        return ack

    # --- the loop ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Sync until `stop` is set (call `wake()` after setting it to stop at once). Never raises."""
        next_heartbeat = time.monotonic()  # the first beat right away: the cloud sees the register start
        log.info("sync worker running", extra={"store": self.store_id, "batch_size": self.batch_size})
        while not stop.is_set():
            try:
                if time.monotonic() >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = time.monotonic() + self.heartbeat_interval
                if time.monotonic() >= self._next_attempt:
                    outcome = self.run_once()
                    if outcome.kind is OutcomeKind.SYNCED:
                        continue  # drain: more may be waiting
                    if outcome.kind is OutcomeKind.IDLE:
                        self._next_attempt = time.monotonic() + self.poll_interval
            except Exception:  # a bug or a broken outbox must not kill sync for good: log, pause, go on
                log.exception("sync loop error")
                with self._state_lock:
                    self._failures += 1
                    self._next_attempt = time.monotonic() + self._backoff.delay(self._failures)
            nap = min(next_heartbeat, self._next_attempt) - time.monotonic()
            if self._wake.wait(max(0.0, min(nap, _MAX_NAP_S))):
                self._wake.clear()  # before the next read of the outbox: no wake-up is lost
                if stop.is_set():
                    break
                if self._failures == 0:
                    # Linger: a burst of closes goes as one batch instead of one request each.
                    stop.wait(self.linger)
                    self._next_attempt = time.monotonic()
                # While backing off a wake changes nothing: the cloud is known to be unwell.
        log.info("sync worker stopped", extra={"store": self.store_id})


def _detail(response: httpx.Response) -> str:
    """The cloud's `detail` sentence when there is one, shortened; logs and status show it."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:300] if detail else response.reason_phrase or "no detail"
