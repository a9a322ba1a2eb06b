"""The message bus: event type → the jobs that handle it."""

from collections import defaultdict
from typing import Any, Protocol

from fastapi import Request
from sqlalchemy.orm import Session

from cloud.jobs import Job


class Event(Protocol):
    def as_args(self) -> dict[str, Any]: ...


class MessageBus:
    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Job]] = defaultdict(list)

    def subscribe(self, event_type: type[Event], job: Job) -> None:
        """`job` runs (as a background job, with the event's fields as its arguments) after each
        published `event_type`."""
        self._subscribers[event_type].append(job)

    def subscribers(self, event_type: type[Event]) -> tuple[Job, ...]:
        return tuple(self._subscribers.get(event_type, ()))

    def publish(self, session: Session, event: Event) -> None:
        """Record `event` for its subscribers in the caller's transaction (not committed here)."""
        for job in self._subscribers.get(type(event), ()):
            job.defer(session, event.as_args())


def get_bus(request: Request) -> MessageBus:
    """FastAPI dependency: the app's bus (built by the app factory)."""
    bus: MessageBus = request.app.state.bus
    return bus
