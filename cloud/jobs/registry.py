"""Which handler runs which job: filled at bootstrap (the app factory, `echeck-cloud worker`)."""

from collections.abc import Callable
from dataclasses import dataclass

from cloud.jobs.job import Job, JobArgs

Handler = Callable[[JobArgs], None]


@dataclass(frozen=True, slots=True)
class Bound:
    job: Job
    handler: Handler


class JobRegistry:
    def __init__(self) -> None:
        self._bound: dict[str, Bound] = {}

    def register(self, job: Job, handler: Handler) -> None:
        if job.name in self._bound:
            raise ValueError(f"job {job.name} is registered twice")
        self._bound[job.name] = Bound(job, handler)

    def get(self, name: str) -> Bound | None:
        return self._bound.get(name)

    def names(self) -> list[str]:
        return sorted(self._bound)

    def periodic(self) -> list[Job]:
        return [b.job for b in self._bound.values() if b.job.every_s]
