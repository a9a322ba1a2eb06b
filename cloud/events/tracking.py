"""Events about the event store. Plain values: ids and tenant, never a contact."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EventsTracked:
    """New tracking events of one tenant were committed (a resent event_id is not new).

    Publishers (the collector, the e-receipt page) publish it only for batches holding something identity
    links: hashed identifiers, a click id (`ec_click`), or a browser id seen on an e-receipt page.
    """

    tenant_id: int
    event_ids: tuple[str, ...]

    def as_args(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "event_ids": list(self.event_ids)}

    @classmethod
    def from_args(cls, args: Any) -> "EventsTracked":
        return cls(int(args["tenant_id"]), tuple(str(i) for i in args["event_ids"]))
