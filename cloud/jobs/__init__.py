"""The cloud's one background-job mechanism (docs/jobs.md).

Declare a `Job`, bind its handler in the bootstrap (`JobRegistry.register`), enqueue it with `defer` /
`schedule` inside the transaction that makes the work necessary; `Worker` runs them.
"""

from cloud.jobs.job import Job, JobArgs
from cloud.jobs.registry import Handler, JobRegistry
from cloud.jobs.worker import Worker, WorkerOptions

__all__ = ["Handler", "Job", "JobArgs", "JobRegistry", "Worker", "WorkerOptions"]
