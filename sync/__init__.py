"""Register side of sync: the durable outbox, the sync worker, the wire protocol shared with the cloud."""
