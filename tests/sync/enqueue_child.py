"""Child process for the durability test: enqueue receipts from `start` on, print each key once
`enqueue` has returned, and keep going until killed."""

import sys
from pathlib import Path

from sync.outbox import Outbox
from tests.support.receipts import make_receipt


def main() -> None:
    path, start = Path(sys.argv[1]), int(sys.argv[2])
    outbox = Outbox(path)
    print("ready", flush=True)
    n = start
    while True:
        receipt = make_receipt(n)
        outbox.enqueue(receipt)
        # Printed only after the commit returned: every key the parent reads must be in the file.
        print(receipt.key, flush=True)
        n += 1


if __name__ == "__main__":
    main()
