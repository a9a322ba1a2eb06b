"""Our own JSON tasks on the ATOL web server: POST /api/v2/requests, then poll until every task is final.

The documented way to ask the register anything (getLastFiscalParams for the proxy's recovery; getFnInfo,
getFnStatus, getShiftStatus and ofdExchangeStatus for `doctor`). Our tasks' uuids start with `echeck-` so
a web server's log tells them from the POS's.
"""

import time
import uuid
from typing import Any

import httpx

from drivers.atol.tasks import Results, TaskResult

REQUESTS = "/api/v2/requests"


class RegisterUnreadable(Exception):
    """The web server did not run our tasks (refused, unreachable, or no final answer in time)."""


def run_tasks(
    client: httpx.Client, tasks: list[dict[str, Any]], timeout_s: float, poll_s: float = 0.05
) -> list[TaskResult]:
    """Every task's final result, in order (a task may have ended in error: its `status` says so)."""
    request_id = f"echeck-{uuid.uuid4()}"
    deadline = time.monotonic() + timeout_s
    try:
        posted = client.post(REQUESTS, json={"uuid": request_id, "request": tasks}, timeout=timeout_s)
        if posted.status_code != 201:
            raise RegisterUnreadable(f"the web server answered {posted.status_code} to the tasks")
        while time.monotonic() < deadline:
            answer = client.get(f"{REQUESTS}/{request_id}", timeout=timeout_s)
            if answer.status_code == 200:
                results = Results.model_validate_json(answer.content).results
                if len(results) == len(tasks) and all(r.status.final for r in results):
                    return results
            time.sleep(poll_s)
    except (httpx.HTTPError, ValueError) as exc:
        raise RegisterUnreadable(str(exc) or type(exc).__name__) from exc
    raise RegisterUnreadable("no answer in time")
