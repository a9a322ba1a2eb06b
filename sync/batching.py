"""The batching policy: how many pending rows go in the next request, and how that changes with the
cloud's answers. Values in, values out: no outbox, no HTTP, no clock.

- While all is well the batch is `batch_size`; while a backlog lasts (every batch comes back full) it
  doubles up to `backlog_limit`, and `in_flight` batches go at once.
- A 413 halves the batch and becomes a ceiling a backlog never grows into again.
- A whole batch refused (400/422) or failed (500) is halved until the receipt that causes it is alone.
- A receipt that fails alone with 500 is a suspect; after `poison_after` failures the worker probes the
  receipt behind it to tell "this receipt breaks the cloud" from "the cloud is down".
- After any failure one batch at a time, until one goes through.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from sync.settings import SyncSettings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Suspect:
    """The oldest pending row, failing with 500 while sent alone, and how often in a row it did."""

    row_id: int
    failures: int


@dataclass(frozen=True, slots=True)
class Round:
    """What to read from the outbox for the next request(s) and how to cut it."""

    rows: int  # how many pending rows to read
    limit: int  # the size of each batch cut from them


@dataclass(frozen=True, slots=True)
class Batching:
    batch_size: int
    backlog_limit: int
    in_flight: int
    poison_after: int
    limit: int  # the current batch size
    sent_limit: int  # the size the current round was cut with (a full batch means a backlog)
    ceiling: int  # lowered by a 413
    suspect: Suspect | None = None

    @classmethod
    def start(cls, settings: SyncSettings) -> "Batching":
        size = max(1, settings.batch_size)
        backlog = max(size, settings.backlog_limit)
        return cls(
            batch_size=size,
            backlog_limit=backlog,
            in_flight=max(1, settings.in_flight),
            poison_after=settings.poison_after,
            limit=size,
            sent_limit=size,
            ceiling=backlog,
        )

    # --- the next round -------------------------------------------------------------------------------

    def plan(self, failures: int) -> tuple["Batching", Round]:
        """Pipelining only while all is well: after any failure one batch at a time, as it bisects."""
        pipelined = self.in_flight > 1 and failures == 0 and self.suspect is None
        rows = self.limit * self.in_flight if pipelined else self.limit
        return replace(self, sent_limit=self.limit), Round(rows, self.limit)

    @property
    def probe_due(self) -> bool:
        """The oldest row failed alone `poison_after` times: time to try the row behind it."""
        return self.suspect is not None and self.suspect.failures >= self.poison_after

    # --- what the cloud said --------------------------------------------------------------------------

    def synced(self, sent: int, acked_ids: Sequence[int] = ()) -> "Batching":
        """A batch of `sent` rows was answered. A full batch means a backlog: grow past `batch_size`
        towards the backlog size, never into a size the cloud answered 413 to; else back to usual."""
        grow_to = self.batch_size
        if sent >= self.sent_limit:
            grow_to = max(self.batch_size, min(self.backlog_limit, self.ceiling))
        suspect = self.suspect
        if suspect is not None and suspect.row_id in acked_ids:
            suspect = None
        return replace(self, limit=min(grow_to, self.limit * 2), suspect=suspect)

    def too_large(self, sent: int) -> "Batching":
        """413 for `sent` rows: halve, and never let a backlog grow back into that size."""
        half = max(1, sent // 2)
        return replace(self, limit=half, ceiling=half)

    def bisect(self, sent: int) -> "Batching":
        """A whole batch of `sent` rows was refused or failed: halve it to find the receipt."""
        return replace(self, limit=max(1, sent // 2))

    def failed_alone(self, row_id: int) -> "Batching":
        """The row failed with 500 while sent alone: one more strike against it."""
        previous = self.suspect.failures if self.suspect and self.suspect.row_id == row_id else 0
        return replace(self, suspect=Suspect(row_id, previous + 1))

    def acquitted(self) -> "Batching":
        """The cloud fails for the row behind the suspect too: an outage, not poison. Start counting anew."""
        if self.suspect is None:
            return self
        return replace(self, suspect=Suspect(self.suspect.row_id, 0))

    def settled(self) -> "Batching":
        """The suspect left the queue (acked or dead-lettered)."""
        return replace(self, suspect=None)


def cut(rows: Sequence[T], limit: int) -> list[Sequence[T]]:
    """The rows in batches of `limit`, oldest first."""
    return [rows[i : i + limit] for i in range(0, len(rows), max(1, limit))]
