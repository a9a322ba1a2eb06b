"""Child process that holds an outbox's write lock: another program (a backup tool, the sqlite3 shell,
a second agent) that opened the file and keeps a transaction open. Prints "locked" once it holds the
lock, keeps it for `seconds`, then lets go and exits."""

import sqlite3
import sys
import time


def main() -> None:
    path, seconds = sys.argv[1], float(sys.argv[2])
    conn = sqlite3.connect(path, isolation_level=None)
    # EXCLUSIVE locking mode: the lock is held on the file itself, so even readers of a WAL database wait
    # (what `sqlite3 outbox.sqlite3` with `.dump` under a long transaction, or a backup tool, does).
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE outbox SET attempts = attempts WHERE id = (SELECT min(id) FROM outbox)")
    print("locked", flush=True)
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


if __name__ == "__main__":
    main()
