"""The outbox holds buyers' raw phones and e-mails: owner-only permissions on its directory and files.

Applied at every open, so files created by an older agent (0644 in a 0755 directory) are fixed too. SQLite
creates -wal and -shm with the mode of the database file, so a 0600 database keeps them 0600 as well.
"""

import logging
import os
import pathlib
import stat

log = logging.getLogger("echeck.outbox")

DIR_MODE = 0o700
FILE_MODE = 0o600
# A directory its installer made 0710 stays so: its group may open a file by name but list nothing, and
# every file here is 0600 except the one shared on purpose (the .deb's ui-secret, group echeck-ui, 0640).
TRAVERSE_ONLY = 0o710


def create_private(path: pathlib.Path) -> None:
    """Create the outbox's directory and (empty) file owner-only, or make existing ones so."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    try:
        kept = stat.S_IMODE(path.parent.stat().st_mode) == TRAVERSE_ONLY
    except FileNotFoundError:
        kept = False
    restrict(path.parent, TRAVERSE_ONLY if kept else DIR_MODE)


def restrict_files(path: pathlib.Path, extra: list[pathlib.Path] | None = None) -> None:
    """The database, its -wal/-shm/-journal and any `extra` files (moved-aside copies) to 0600."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        restrict(pathlib.Path(f"{path}{suffix}"), FILE_MODE)
    for other in extra or []:
        for suffix in ("", "-wal", "-shm", "-journal"):
            restrict(pathlib.Path(f"{other}{suffix}"), FILE_MODE)


def restrict(path: pathlib.Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        return
    except PermissionError as exc:  # not ours (a shared directory): say so, the till goes on
        log.warning("cannot make the outbox owner-only", extra={"path": str(path), "error": str(exc)})
