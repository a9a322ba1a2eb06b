"""Delivery's background jobs (handlers in `cloud.delivery.steps`, bound in `cloud.bootstrap`).

- `RECEIPTS_STORED` subscribes to ingest's "receipt stored": one delivery per new receipt with a contact.
- `STEP` moves one delivery along its cascade. It is scheduled for the delivery's `due_at` every time the
  delivery changes (`store.save`), so sends, retries, leases and deadlines are all the same job; its lock
  is the delivery, so two workers never work one delivery at once.
"""

from cloud.jobs import Job

RECEIPTS_STORED = Job("delivery.receipts_stored", max_attempts=10)
STEP = Job("delivery.step", lock_by="delivery_id", max_attempts=10)
