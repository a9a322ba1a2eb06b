"""The tests' one receipt factory (`benchmarks.support.receipts`, built from `receipts/examples.py`)."""

from benchmarks.support.receipts import FN_SERIAL, PHONE, REGISTRATION, close_body, make_receipt, wire_receipt

__all__ = ["FN_SERIAL", "PHONE", "REGISTRATION", "close_body", "make_receipt", "wire_receipt"]
