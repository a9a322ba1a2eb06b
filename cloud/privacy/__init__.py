"""Buyers' personal data (152-FZ, 38-FZ): keyed hashes, consents, retention of raw contacts, erasure."""
