"""The sync worker: drains the outbox to the cloud in batches, in its own thread.

The till never waits on it: the agent's threads only call `wake()` (an Event.set). Everything that can
block — SQLite reads, HTTP, backoff sleeps — runs in `run()`'s thread.

Delivery is at-least-once: a row leaves `pending` only after the cloud acknowledged it by position and
key, and the cloud stores each key once. Failures are kept apart by kind (`sync.answers.Kind`):
- the cloud is unreachable or overloaded (network error, timeout, 5xx, 429): the rows stay pending,
  the worker backs off (exponential, full jitter, capped; at least Retry-After);
- the register's token is refused (401/403): the rows stay pending, the worker says so in its status
  and re-checks rarely, because only store IT can fix it; a 403 `register_revoked` (head office revoked
  the register) is shown as such, and nothing but that rare re-check goes to the cloud;
- the cloud refuses one receipt (a `rejected` item): that row goes to `rejected` (the dead-letter state)
  with the reason and never blocks the rows behind it;
- the cloud refuses the whole batch (400/422/413) or fails on it (500): the batch is halved until the
  receipt that causes it is alone (`sync.batching`); alone, a 400/422/413 dead-letters it at once, a 500
  only after it failed `poison_after` times in a row *and* the receipt behind it then went through (so a
  cloud that is down for everyone never dead-letters anything).

Batches go gzip-compressed; a cloud that answers 415 gets plain JSON from then on. While a backlog lasts
`in_flight` batches go at once (a cloud runs several workers); the answers are then applied one by one in
this thread, exactly as for a single batch; rows only leave `pending` on their own batch's answer.

The loop also sends the heartbeat (`sync.heartbeat`) and does the outbox's upkeep (`sync.upkeep`).
"""

import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from receipts.redact import redact
from sync.answers import CloudAnswer, Kind, Row, Verdict, classify, sort_items
from sync.backoff import Backoff
from sync.batching import Batching, cut
from sync.cloud_client import CloudClient, TransportError
from sync.heartbeat import build_heartbeat, read_ack
from sync.outbox import Outbox, OutboxEntry
from sync.outcome import OutcomeKind, SyncOutcome, SyncStatus
from sync.protocol import HeartbeatAck
from sync.settings import SyncSettings
from sync.upkeep import upkeep

log = logging.getLogger("echeck.sync")

# Longest single sleep of the loop: bounds how late a stop is noticed if the caller forgets wake().
_MAX_NAP_S = 1.0

Answer = CloudAnswer | TransportError


class SyncWorker:
    def __init__(
        self,
        outbox: Outbox,
        client: httpx.Client,
        settings: SyncSettings,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.cloud = CloudClient(client, settings)
        self._backoff = Backoff(settings.backoff_base_s, settings.backoff_cap_s, rng or random.Random())
        self._batching = Batching.start(settings)
        self._pool: ThreadPoolExecutor | None = None  # posts the extra in-flight batches; made on first use
        self._wake = threading.Event()
        self._send_lock = threading.Lock()  # run_once from a test and from run() never overlap
        self._state_lock = threading.Lock()  # status is read from the agent's threads
        self._online = False
        self._last_sync_at: datetime | None = None
        self._last_error: str | None = None
        self._failures = 0
        self._refused = False
        self._revoked = False
        self._transport_failure = False  # the last failure was "cannot reach": a heartbeat may end it
        self._next_attempt = 0.0  # time.monotonic() of the next allowed batch
        self._last_heartbeat_at: datetime | None = None
        self._clock_skew_s: float | None = None
        self._last_purge_at: datetime | None = None
        self._purged = 0
        self._over_quota = False
        self._update_channel = settings.update_channel

    # --- the caller's side: cheap, never blocks ------------------------------------------------------

    def wake(self) -> None:
        """A receipt was just queued: sync now if the cloud is reachable (after `linger_s`)."""
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
                batch_limit=self._batching.limit,
                gzip=self.cloud.compressing,
                last_purge_at=self._last_purge_at,
                purged=self._purged,
                over_quota=self._over_quota,
                register_revoked=self._revoked,
                update_channel=self._update_channel,
            )

    # --- one round -----------------------------------------------------------------------------------

    def run_once(self) -> SyncOutcome:
        """Send the oldest pending rows as one batch (or `in_flight` batches), and apply the answers."""
        with self._send_lock:
            self._batching, plan = self._batching.plan(self._failures)
            entries = self.outbox.pending(plan.rows)
            if not entries:
                return SyncOutcome(OutcomeKind.IDLE)
            if self._batching.probe_due:
                return self._probe_past_suspect()
            if len(entries) > plan.limit:
                return self._send_in_flight(cut(entries, plan.limit))
            return self._send(entries)

    def _send_in_flight(self, batches: list[Sequence[OutboxEntry]]) -> SyncOutcome:
        """Post the batches at once, then handle each answer as `_send` would, the answered ones first: a
        failure's backoff and batch size are the state the loop is left in, never undone by a success."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._batching.in_flight - 1, thread_name_prefix="echeck-sync-post"
            )
        later = [self._pool.submit(self.cloud.post_batch, batch) for batch in batches[1:]]
        answers = [self.cloud.post_batch(batches[0]), *(f.result() for f in later)]
        pairs = list(zip(batches, answers, strict=True))
        pairs.sort(key=lambda pair: not (isinstance(pair[1], CloudAnswer) and pair[1].is_success))
        outcomes = [self._answer(batch, answer) for batch, answer in pairs]
        failed = [o for o in outcomes if o.kind is not OutcomeKind.SYNCED]
        if failed:
            return failed[-1]
        return SyncOutcome(
            OutcomeKind.SYNCED,
            sum(o.sent for o in outcomes),
            sum(o.acked for o in outcomes),
            sum(o.rejected for o in outcomes),
            status_code=outcomes[-1].status_code,
        )

    def close(self) -> None:
        """Let go of the posting threads (the loop does this when it stops)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _send(self, entries: Sequence[OutboxEntry]) -> SyncOutcome:
        return self._answer(entries, self.cloud.post_batch(entries))

    def _answer(self, entries: Sequence[OutboxEntry], answer: Answer) -> SyncOutcome:
        if isinstance(answer, TransportError):
            return self._failed(entries, answer.error, transport=True)
        verdict = classify(answer, compressed=self.cloud.compressing)
        code, error = verdict.status_code, f"HTTP {verdict.status_code}: {verdict.detail}"
        match verdict.kind:
            case Kind.ANSWERED:
                return self._apply(entries, verdict)
            case Kind.TOKEN_REFUSED:
                return self._refused_token(entries, verdict)
            case Kind.GZIP_REFUSED:
                self.cloud.stop_compressing()
                return self._failed(
                    entries, "HTTP 415: gzip not accepted, sending plain JSON", code=code, delay=0
                )
            case Kind.TOO_LARGE if len(entries) > 1:
                self._batching = self._batching.too_large(len(entries))
                return self._failed(
                    entries, f"HTTP 413: batch too large, now {self._batching.limit}", code=code
                )
            case Kind.TOO_LARGE:
                # Too large even alone: no batch will ever carry it; what is behind it must not wait.
                return self._dead_letter(
                    entries[0], f"the cloud refused this receipt as too large ({error})", code
                )
            case Kind.THROTTLED:
                return self._failed(entries, f"HTTP {code}", code=code, retry_after=verdict.retry_after)
            case Kind.BATCH_REFUSED | Kind.SERVER_FAILED:
                return self._isolate(entries, verdict)
            case Kind.UNREADABLE:
                return self._failed(entries, f"unreadable batch answer: {verdict.errors} errors", code=code)
            case _:
                return self._failed(entries, error, code=code)

    def _isolate(self, entries: Sequence[OutboxEntry], verdict: Verdict) -> SyncOutcome:
        """A whole batch was refused (400/422) or failed (500): halve it until the culprit is alone."""
        code = verdict.status_code
        error = f"HTTP {code}: {verdict.detail}"
        refused = verdict.kind is Kind.BATCH_REFUSED
        if len(entries) > 1:
            self._batching = self._batching.bisect(len(entries))
            # A refusal means the cloud is up and judged the content: bisect at once. A 500 may be an
            # outage: the usual backoff applies.
            return self._failed(
                entries,
                f"{error}; batch now {self._batching.limit}",
                code=code,
                delay=0.0 if refused else None,
            )
        [entry] = entries
        if refused:
            return self._dead_letter(entry, f"the cloud refused this receipt ({error})", code)
        self._batching = self._batching.failed_alone(entry.id)
        count = self._batching.suspect.failures if self._batching.suspect else 1
        return self._failed(entries, f"{error} (alone, {count} times)", code=code)

    def _probe_past_suspect(self) -> SyncOutcome:
        """The oldest row failed alone `poison_after` times: does the cloud take the row behind it?"""
        suspect_row = self._batching.suspect
        assert suspect_row is not None
        rows = self.outbox.pending(2)
        behind = [e for e in rows if e.id != suspect_row.row_id][:1]
        suspect = [e for e in rows if e.id == suspect_row.row_id]
        if not suspect:  # acked or dead-lettered meanwhile
            self._batching = self._batching.settled()
            return self._send(rows[:1])
        if not behind:  # nothing to compare with: keep retrying it like any failed row
            self._batching = self._batching.acquitted()
            return self._send(suspect)
        outcome = self._send(behind)
        if outcome.kind is OutcomeKind.SYNCED:
            # The cloud works for the next receipt; one last try of the suspect, then dead-letter it.
            again = self._send(suspect)
            if again.kind is OutcomeKind.FAILED and again.status_code == 500:
                return self._dead_letter(
                    suspect[0],
                    f"the cloud failed on this receipt alone {self.settings.poison_after + 1} times "
                    "(HTTP 500) while it accepted the receipts behind it",
                    500,
                )
            return again
        self._batching = self._batching.acquitted()  # the next one fails too: an outage, not poison
        return outcome

    def _dead_letter(self, entry: OutboxEntry, reason: str, code: int) -> SyncOutcome:
        reason = redact(reason)[:1000]
        self.outbox.mark_rejected(entry.id, reason)
        self._batching = self._batching.settled()
        with self._state_lock:
            self._online = True
            self._failures = 0
            self._next_attempt = time.monotonic()
        log.error(
            "receipt dead-lettered: it stays in the outbox for store IT",
            extra={"key": entry.key, "reason": reason},
        )
        return SyncOutcome(OutcomeKind.SYNCED, 1, 0, 1, status_code=code)

    def _apply(self, entries: Sequence[OutboxEntry], verdict: Verdict) -> SyncOutcome:
        assert verdict.result is not None
        answer = sort_items([Row(e.id, e.key) for e in entries], verdict.result)
        for key, cloud_key in answer.wrong_keys:
            log.error("cloud acked a different key", extra={"key": key, "cloud_key": cloud_key})
        for key in answer.conflicts:
            log.warning("cloud flagged a resend with different content", extra={"key": key})
        self.outbox.mark_acked(answer.acked)
        for row, reason in answer.rejected:
            self.outbox.mark_rejected(row.id, reason)
            log.warning("cloud rejected a receipt", extra={"key": row.key, "reason": redact(reason)})
        if answer.unanswered:
            self.outbox.record_failure(answer.unanswered, "missing from the cloud's answer")
        self._batching = self._batching.synced(len(entries), answer.acked)
        with self._state_lock:
            self._online = True
            self._last_sync_at = datetime.now(UTC)
            self._last_error = None
            self._failures = 0
            self._refused = self._revoked = False
            self._transport_failure = False
            self._next_attempt = time.monotonic()
        acked, rejected = len(answer.acked), len(answer.rejected)
        log.info(
            "batch synced",
            extra={
                "sent": len(entries),
                "acked": acked,
                "rejected": rejected,
                "store": self.settings.store_id,
            },
        )
        return SyncOutcome(OutcomeKind.SYNCED, len(entries), acked, rejected, status_code=verdict.status_code)

    def _failed(
        self,
        entries: Sequence[OutboxEntry],
        error: str,
        *,
        code: int | None = None,
        retry_after: float | None = None,
        transport: bool = False,
        delay: float | None = None,
    ) -> SyncOutcome:
        error = redact(error)
        self.outbox.record_failure([e.id for e in entries], error)
        with self._state_lock:
            self._failures += 1
            if delay is None:
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

    def _refused_token(self, entries: Sequence[OutboxEntry], verdict: Verdict) -> SyncOutcome:
        error = _refusal(verdict)
        self.outbox.record_failure([e.id for e in entries], error)
        self._note_refused(error, revoked=verdict.revoked)
        return SyncOutcome(
            OutcomeKind.REFUSED,
            len(entries),
            status_code=verdict.status_code,
            error=error,
            delay=self.settings.refused_backoff_s,
        )

    def _note_refused(self, error: str, *, revoked: bool) -> None:
        with self._state_lock:
            self._failures += 1
            self._online = False
            self._refused = True
            self._revoked = revoked
            self._last_error = error
            self._transport_failure = False
            self._next_attempt = time.monotonic() + self.settings.refused_backoff_s
        if revoked:
            kept = self.outbox.stats().pending
            log.error(
                "revoked by the cloud: %d receipts kept; head office revoked this register, enroll it again",
                kept,
                extra={"kept": kept},
            )
        else:
            log.error("register token refused by the cloud; receipts stay queued", extra={"error": error})

    # --- heartbeat -----------------------------------------------------------------------------------

    def heartbeat(self) -> HeartbeatAck | None:
        """Tell the cloud how this register is doing; None when the cloud could not be told."""
        now = datetime.now(UTC)
        with self._state_lock:
            last_sync_at, last_error = self._last_sync_at, self._last_error
        beat = build_heartbeat(
            self.settings,
            self.outbox.stats(),
            now=now,
            last_sync_at=last_sync_at,
            last_error=last_error,
            recovered=[p.name for p in self.outbox.quarantined()],
            write_error=self.outbox.write_health().error,
            dead_letter=[f"{e.key}: {e.reason}" for e in self.outbox.rejected(limit=3)],
            update_channel=self._update_channel,
        )
        answer = self.cloud.post_heartbeat(beat)
        if isinstance(answer, CloudAnswer) and answer.status_code in (401, 403):
            verdict = classify(answer, compressed=False)
            self._note_refused(f"{_refusal(verdict)} (heartbeat)", revoked=verdict.revoked)
            return None
        ack = read_ack(answer) if isinstance(answer, CloudAnswer) else None
        if ack is None:
            with self._state_lock:
                self._online = False
            error = answer.error if isinstance(answer, TransportError) else f"HTTP {answer.status_code}"
            log.info("heartbeat failed", extra={"error": redact(error)})
            return None
        with self._state_lock:
            self._online = True
            self._revoked = False  # the token works: whatever was revoked is not any more
            self._last_heartbeat_at = now
            self._clock_skew_s = ack.clock_skew_s
            if self._update_channel is not None and ack.update_channel is not None:
                if ack.update_channel != self._update_channel:
                    log.warning(
                        "update channel set by head office",
                        extra={"channel": ack.update_channel, "was": self._update_channel},
                    )
                self._update_channel = ack.update_channel
            if self._transport_failure:
                # The cloud answers again: the rows waiting out a network backoff can go now.
                self._next_attempt = time.monotonic()
        return ack

    # --- upkeep --------------------------------------------------------------------------------------

    def maintain(self, now: datetime | None = None) -> int:
        """Purge acked rows past the retention and check the quota; returns how many rows were purged."""
        now = now or datetime.now(UTC)
        done = upkeep(self.outbox, self.settings.retention, now, was_over=self._over_quota)
        with self._state_lock:
            self._over_quota = done.over_quota
            self._last_purge_at = now
            self._purged += done.purged
        return done.purged

    # --- the loop ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Sync until `stop` is set (call `wake()` after setting it to stop at once). Never raises."""
        settings = self.settings
        next_heartbeat = time.monotonic()  # the first beat right away: the cloud sees the register start
        next_upkeep = time.monotonic()
        log.info("sync worker running", extra={"store": settings.store_id, "batch_size": settings.batch_size})
        while not stop.is_set():
            try:
                if self._refused:
                    # Only store IT can fix a refused token: no heartbeat either before the re-check.
                    next_heartbeat = max(next_heartbeat, self._next_attempt)
                if time.monotonic() >= next_upkeep:
                    next_upkeep = time.monotonic() + settings.maintenance_interval_s
                    self.maintain()
                if time.monotonic() >= next_heartbeat:
                    self.heartbeat()
                    next_heartbeat = time.monotonic() + settings.heartbeat_interval_s
                if time.monotonic() >= self._next_attempt:
                    outcome = self.run_once()
                    if outcome.kind is OutcomeKind.SYNCED:
                        continue  # drain: more may be waiting
                    if outcome.kind is OutcomeKind.IDLE:
                        self._next_attempt = time.monotonic() + settings.poll_interval_s
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
                    stop.wait(settings.linger_s)
                    self._next_attempt = time.monotonic()
                # While backing off a wake changes nothing: the cloud is known to be unwell.
        self.close()
        log.info("sync worker stopped", extra={"store": settings.store_id})


def _refusal(verdict: Verdict) -> str:
    if verdict.revoked:
        return redact(f"register revoked by head office (HTTP {verdict.status_code}): re-enroll the register")
    return redact(f"register token refused (HTTP {verdict.status_code}): {verdict.detail}; enroll again")
