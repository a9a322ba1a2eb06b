"""The sync worker: drains the outbox to the cloud in batches, in its own thread.

The till never waits on it: the agent's threads only call `wake()` (an Event.set). Everything that can
block — SQLite reads, HTTP, backoff sleeps — runs in `run()`'s thread.

Delivery is at-least-once: a row leaves `pending` only after the cloud acknowledged it by position and
key, and the cloud stores each key once. Failures are kept apart by kind:
- the cloud is unreachable or overloaded (network error, timeout, 5xx, 429): the rows stay pending,
  the worker backs off (exponential, full jitter, capped; at least Retry-After);
- the register's token is refused (401/403): the rows stay pending, the worker says so in its status
  and retries rarely, because only store IT can fix it;
- the cloud refuses one receipt (a `rejected` item): that row goes to `rejected` (the dead-letter state)
  with the reason and never blocks the rows behind it;
- the cloud refuses the whole batch (400/422) or fails on it (500): the batch is halved until the
  receipt that causes it is alone; alone, a 400/422 dead-letters it at once, a 500 only after it failed
  `poison_after` times in a row *and* the receipt behind it then went through (so a cloud that is down
  for everyone never dead-letters anything).

Batches go gzip-compressed (`Content-Encoding: gzip`); a cloud that answers 415 gets plain JSON from then
on. While a backlog lasts (every batch comes back full) the batch grows past `batch_size` up to
`backlog_batch_size` (the protocol's maximum), and `in_flight` batches go at once: a cloud runs several
workers, and one batch at a time keeps only one of them busy while the others wait for the register. The
answers are then applied one by one in this thread, exactly as for a single batch; rows only leave
`pending` on their own batch's answer. Any failure ends that until a batch goes through again.

The loop also does the outbox's upkeep: acked rows past the retention are purged, and the size quota is
checked (an alarm in the log, the status and the heartbeat; nothing is ever dropped for it).
"""

import gzip
import logging
import random
import threading
import time
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import httpx
from pydantic import ValidationError

from receipts.redact import redact
from sync.backoff import Backoff, parse_retry_after
from sync.outbox import Outbox, OutboxEntry
from sync.protocol import (
    HEARTBEAT_PATH,
    HEARTBEAT_V1_FIELDS,
    MAX_BATCH,
    BatchResult,
    Heartbeat,
    HeartbeatAck,
    ItemStatus,
    batch_path,
)

log = logging.getLogger("echeck.sync")

# Longest single sleep of the loop: bounds how late a stop is noticed if the caller forgets wake().
_MAX_NAP_S = 1.0
# Whole-batch answers that say "something in this batch is wrong": bisect to find the receipt.
_BATCH_REFUSED = (400, 422)


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
    batch_limit: int = 0  # current batch size (halved while a failing receipt is being isolated)
    gzip: bool = True  # batches are compressed (off after a cloud answered 415)
    last_purge_at: datetime | None = None
    purged: int = 0  # acked rows purged past the retention since start
    over_quota: bool = False  # the outbox is larger than its quota (an alarm; nothing is dropped)


class SyncWorker:
    def __init__(
        self,
        outbox: Outbox,
        client: httpx.Client,
        store_id: int,
        *,
        batch_size: int = 200,
        backlog_batch_size: int = MAX_BATCH,
        in_flight: int = 2,
        linger: float = 0.05,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        refused_backoff: float = 300.0,
        poll_interval: float = 2.0,
        heartbeat_interval: float = 30.0,
        timeout: float | None = None,
        agent_version: str = "",
        rng: random.Random | None = None,
        compress: bool = True,
        gzip_level: int = 3,
        poison_after: int = 3,
        retention: timedelta | None = timedelta(days=30),
        maintenance_interval: float = 3600.0,
        instance_id: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.store_id = store_id
        self.batch_size = batch_size
        self.backlog_batch_size = max(batch_size, min(backlog_batch_size, MAX_BATCH))
        self.in_flight = max(1, in_flight)
        self.linger = linger
        self.refused_backoff = refused_backoff
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.agent_version = agent_version
        self.gzip_level = gzip_level
        self.poison_after = poison_after
        self.retention = retention
        self.maintenance_interval = maintenance_interval
        self.instance_id = instance_id
        self.session_id = session_id
        # None: the client's own timeout applies (the agent configures it there).
        self._per_request: dict[str, httpx.Timeout] = (
            {} if timeout is None else {"timeout": httpx.Timeout(timeout)}
        )
        self._backoff = Backoff(backoff_base, backoff_cap, rng or random.Random())
        self._batch_limit = batch_size  # shrinks on 413, grows back after successes
        self._sent_limit = batch_size  # the batch size the current round was cut with
        self._ceiling = self.backlog_batch_size  # lowered by a 413: a backlog never grows into it again
        self._pool: ThreadPoolExecutor | None = None  # posts the extra in-flight batches; made on first use
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
        self._compress = compress
        self._legacy_heartbeat = False  # the cloud refused the optional heartbeat fields (an older cloud)
        self._suspect: tuple[int, int] | None = None  # (row id, consecutive 500s while sent alone)
        self._last_purge_at: datetime | None = None
        self._purged = 0
        self._over_quota = False

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
                batch_limit=self._batch_limit,
                gzip=self._compress,
                last_purge_at=self._last_purge_at,
                purged=self._purged,
                over_quota=self._over_quota,
            )

    # --- one batch -----------------------------------------------------------------------------------

    def run_once(self) -> SyncOutcome:
        """Send the oldest pending rows as one batch, if any, and record what the cloud said."""
        with self._send_lock:
            # Pipelining only while all is well: after any failure one batch at a time, as it bisects.
            pipelined = self.in_flight > 1 and self._failures == 0 and self._suspect is None
            limit = self._sent_limit = self._batch_limit
            entries = self.outbox.pending(limit * self.in_flight if pipelined else limit)
            if not entries:
                return SyncOutcome(OutcomeKind.IDLE)
            if self._suspect is not None and self._suspect[1] >= self.poison_after:
                return self._probe_past_suspect()
            if len(entries) > limit:
                return self._send_in_flight([entries[i : i + limit] for i in range(0, len(entries), limit)])
            return self._send(entries)

    def _send_in_flight(self, batches: list[Sequence[OutboxEntry]]) -> SyncOutcome:
        """Post the batches at once, then handle each answer as `_send` would, the answered ones first: a
        failure's backoff and batch size are the state the loop is left in, never undone by a success."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.in_flight - 1, thread_name_prefix="echeck-sync-post")
        later = [self._pool.submit(self._exchange, batch) for batch in batches[1:]]
        answers = [self._exchange(batches[0]), *(f.result() for f in later)]
        pairs = list(zip(batches, answers, strict=True))
        pairs.sort(key=lambda pair: not (isinstance(pair[1], httpx.Response) and pair[1].is_success))
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

    def _post(self, entries: Sequence[OutboxEntry]) -> httpx.Response:
        # The rows hold their wire JSON already: the batch is assembled as text, not parsed and re-dumped.
        body = ('{"receipts":[' + ",".join(e.payload_json for e in entries) + "]}").encode()
        headers = {"Content-Type": "application/json"}
        if self._compress:
            body = gzip.compress(body, self.gzip_level, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return self.client.post(batch_path(self.store_id), content=body, headers=headers, **self._per_request)

    def _exchange(self, entries: Sequence[OutboxEntry]) -> httpx.Response | httpx.HTTPError:
        """The cloud's answer or the transport's error; touches no state (it may run on a posting thread)."""
        try:
            return self._post(entries)
        except httpx.HTTPError as exc:  # connect/read/write errors, timeouts, dropped connections
            return exc

    def _send(self, entries: Sequence[OutboxEntry]) -> SyncOutcome:
        return self._answer(entries, self._exchange(entries))

    def _answer(
        self, entries: Sequence[OutboxEntry], response: httpx.Response | httpx.HTTPError
    ) -> SyncOutcome:
        if isinstance(response, httpx.HTTPError):
            return self._failed(entries, f"{type(response).__name__}: {response}", transport=True)
        code = response.status_code
        if code in (401, 403):
            return self._refused_token(entries, response)
        if code == 415 and self._compress:
            self._compress = False
            log.warning("the cloud does not take gzip batches: sending plain JSON from now on")
            return self._failed(
                entries, "HTTP 415: gzip not accepted, sending plain JSON", code=code, delay=0
            )
        if code == 413 and len(entries) > 1:
            self._batch_limit = max(1, len(entries) // 2)
            self._ceiling = self._batch_limit
            return self._failed(entries, f"HTTP 413: batch too large, now {self._batch_limit}", code=code)
        if code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return self._failed(entries, f"HTTP {code}", code=code, retry_after=retry_after)
        if code in _BATCH_REFUSED or code == 500:
            return self._isolate(entries, response)
        if not response.is_success:
            return self._failed(entries, f"HTTP {code}: {_detail(response)}", code=code)
        try:
            result = BatchResult.model_validate_json(response.content)
        except ValidationError as exc:
            return self._failed(entries, f"unreadable batch answer: {exc.error_count()} errors", code=code)
        return self._apply(entries, result, code)

    def _isolate(self, entries: Sequence[OutboxEntry], response: httpx.Response) -> SyncOutcome:
        """A whole batch was refused (400/422) or failed (500): halve it until the culprit is alone."""
        code = response.status_code
        error = f"HTTP {code}: {_detail(response)}"
        if len(entries) > 1:
            self._batch_limit = max(1, len(entries) // 2)
            # A refusal means the cloud is up and judged the content: bisect at once. A 500 may be an
            # outage: the usual backoff applies.
            delay = 0.0 if code in _BATCH_REFUSED else None
            return self._failed(entries, f"{error}; batch now {self._batch_limit}", code=code, delay=delay)
        [entry] = entries
        if code in _BATCH_REFUSED:
            return self._dead_letter(entry, f"the cloud refused this receipt ({error})", code)
        count = self._suspect[1] + 1 if self._suspect and self._suspect[0] == entry.id else 1
        self._suspect = (entry.id, count)
        return self._failed(entries, f"{error} (alone, {count} times)", code=code)

    def _probe_past_suspect(self) -> SyncOutcome:
        """The oldest row failed alone `poison_after` times: does the cloud take the row behind it?"""
        assert self._suspect is not None
        suspect_id = self._suspect[0]
        rows = self.outbox.pending(2)
        behind = [e for e in rows if e.id != suspect_id][:1]
        suspect = [e for e in rows if e.id == suspect_id]
        if not suspect:  # acked or dead-lettered meanwhile
            self._suspect = None
            return self._send(rows[:1])
        if not behind:  # nothing to compare with: keep retrying it like any failed row
            self._suspect = (suspect_id, 0)
            return self._send(suspect)
        outcome = self._send(behind)
        if outcome.kind is OutcomeKind.SYNCED:
            # The cloud works for the next receipt; one last try of the suspect, then dead-letter it.
            again = self._send(suspect)
            if again.kind is OutcomeKind.FAILED and again.status_code == 500:
                return self._dead_letter(
                    suspect[0],
                    f"the cloud failed on this receipt alone {self.poison_after + 1} times (HTTP 500) "
                    "while it accepted the receipts behind it",
                    500,
                )
            return again
        self._suspect = (suspect_id, 0)  # the cloud fails for the next one too: an outage, not poison
        return outcome

    def _dead_letter(self, entry: OutboxEntry, reason: str, code: int) -> SyncOutcome:
        reason = redact(reason)[:1000]
        self.outbox.mark_rejected(entry.id, reason)
        self._suspect = None
        with self._state_lock:
            self._online = True
            self._failures = 0
            self._next_attempt = time.monotonic()
        log.error(
            "receipt dead-lettered: it stays in the outbox for store IT",
            extra={"key": entry.key, "reason": reason},
        )
        return SyncOutcome(OutcomeKind.SYNCED, 1, 0, 1, status_code=code)

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
            # A full batch means a backlog: grow past `batch_size` towards the larger size, though never
            # into a size the cloud answered 413 to; otherwise back to the usual size.
            backlog = len(entries) >= self._sent_limit
            grow_to = self.batch_size
            if backlog:
                grow_to = max(self.batch_size, min(self.backlog_batch_size, self._ceiling))
            self._batch_limit = min(grow_to, self._batch_limit * 2)
            if self._suspect is not None and self._suspect[0] in acked:
                self._suspect = None
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
            instance_id=self.instance_id,
            session_id=self.session_id,
            heartbeat_interval_s=self.heartbeat_interval,
            outbox_bytes=stats.size_bytes,
            outbox_quota_bytes=stats.quota_bytes,
            outbox_recovered=[p.name for p in self.outbox.quarantined()][-5:],
            write_error=self.outbox.write_health().error,
            dead_letter=[f"{e.key}: {e.reason}"[:300] for e in self.outbox.rejected(limit=3)],
        )
        try:
            response = self._post_heartbeat(beat)
            if response.status_code == 422 and not self._legacy_heartbeat:
                # An older cloud that forbids the optional fields: tell it what it understands.
                self._legacy_heartbeat = True
                log.warning("the cloud refused the extended heartbeat; sending v1 fields only")
                response = self._post_heartbeat(beat)
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

    def _post_heartbeat(self, beat: Heartbeat) -> httpx.Response:
        include = HEARTBEAT_V1_FIELDS if self._legacy_heartbeat else None
        return self.client.post(
            HEARTBEAT_PATH, json=beat.model_dump(mode="json", include=include), **self._per_request
        )

    # --- upkeep --------------------------------------------------------------------------------------

    def maintain(self, now: datetime | None = None) -> int:
        """Purge acked rows past the retention and check the quota; returns how many rows were purged."""
        now = now or datetime.now(UTC)
        purged = self.outbox.purge_acked(now - self.retention) if self.retention is not None else 0
        stats = self.outbox.stats()
        with self._state_lock:
            was_over, self._over_quota = self._over_quota, stats.over_quota
            self._last_purge_at = now
            self._purged += purged
        if purged:
            log.info("acked receipts purged past retention", extra={"purged": purged})
        if stats.over_quota:
            # Every check while over, not only the first: the alarm must be seen in any day's log.
            log.error(
                "OUTBOX OVER QUOTA: receipts are kept, none is dropped; check sync and disk",
                extra={
                    "size_bytes": stats.size_bytes,
                    "quota_bytes": stats.quota_bytes,
                    "pending": stats.pending,
                },
            )
        elif was_over:
            log.warning("outbox back under its quota", extra={"size_bytes": stats.size_bytes})
        return purged

    # --- the loop ------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Sync until `stop` is set (call `wake()` after setting it to stop at once). Never raises."""
        next_heartbeat = time.monotonic()  # the first beat right away: the cloud sees the register start
        next_upkeep = time.monotonic()
        log.info("sync worker running", extra={"store": self.store_id, "batch_size": self.batch_size})
        while not stop.is_set():
            try:
                if time.monotonic() >= next_upkeep:
                    next_upkeep = time.monotonic() + self.maintenance_interval
                    self.maintain()
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
        self.close()
        log.info("sync worker stopped", extra={"store": self.store_id})


def _detail(response: httpx.Response) -> str:
    """The cloud's `detail` sentence when there is one, shortened; logs and status show it."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:300] if detail else response.reason_phrase or "no detail"
