"""Domain events of the cloud and the bus that hands them to the capabilities that care.

Modelled on cosmicpython's `bootstrap.py` + `handlers.py`, with one difference: a handler never runs inside
the publisher's request. Publishing enqueues one job per subscriber in the publisher's own transaction
(`MessageBus.publish`), so an event is recorded exactly when the fact is committed, and each subscriber
does its work later, on the job worker, retried on failure, without slowing down or failing the publisher.
Subscriptions are made in `cloud.bootstrap`, for the app and for `echeck-cloud worker` alike.
"""

from cloud.events.bus import MessageBus, get_bus
from cloud.events.receipts import ReceiptStored
from cloud.events.tracking import EventsTracked

__all__ = ["EventsTracked", "MessageBus", "ReceiptStored", "get_bus"]
