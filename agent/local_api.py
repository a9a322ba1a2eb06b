"""The agent's own local API: its status. Full to the cashier UI and the POS, a health line to anyone else.

The status names the cloud, the store, the queue and the last errors; a local program without the UI's
secret or the POS token learns only that the agent answers.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from agent.local_schemas import PREFIX, SECRET_HEADER
from agent.status import AgentStatus


class AgentHealth(BaseModel):
    status: str = Field(examples=["ok"])
    detail: str = f"the full status needs the {SECRET_HEADER} header or the POS token"


def build_router(get_status: Callable[[], AgentStatus], may_see: Callable[[Request], bool]) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["agent"])

    def status_or_health(request: Request) -> AgentStatus | AgentHealth:
        return get_status() if may_see(request) else AgentHealth(status="ok")

    @router.get(
        "/status",
        summary="Queue, sync and latency of this register",
        description=f"With the cashier UI's `{SECRET_HEADER}` or the POS token (`Authorization: Bearer`): "
        "the whole status; without: only that the agent answers.",
    )
    def status(
        current: Annotated[AgentStatus | AgentHealth, Depends(status_or_health)],
    ) -> AgentStatus | AgentHealth:
        return current

    return router
