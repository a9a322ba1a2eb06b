"""The agent's own local API (status now; the UI's prompt channel joins it later). 127.0.0.1 only."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends

from agent.status import AgentStatus

PREFIX = "/agent/v1"


def build_router(get_status: Callable[[], AgentStatus]) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["agent"])

    @router.get("/status", summary="Queue, sync and latency of this register")
    def status(current: Annotated[AgentStatus, Depends(get_status)]) -> AgentStatus:
        return current

    return router
