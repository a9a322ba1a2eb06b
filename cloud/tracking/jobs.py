"""The event store's periodic upkeep: monthly partitions made ahead, and the end of the dedup window."""

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.jobs import Job, JobArgs
from cloud.tracking.partitions import ENSURE as PARTITIONS
from cloud.tracking.partitions import PartitionJob
from cloud.tracking.store import forget_keys_before

# A browser retries a batch for minutes, a closed laptop's queue for days: two weeks of claimed ids is
# far beyond any retry; older ids may be stored again (no client keeps events that long).
DEDUP_WINDOW = timedelta(days=14)
FORGET_KEYS = Job("tracking.forget_keys", every_s=3600)

__all__ = ["DEDUP_WINDOW", "FORGET_KEYS", "PARTITIONS", "ForgetKeysJob", "PartitionJob"]


class ForgetKeysJob:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def __call__(self, args: JobArgs) -> None:
        with Session(self.engine) as session:
            forget_keys_before(session, self.clock() - DEDUP_WINDOW)
            session.commit()
