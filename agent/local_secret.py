"""The local secret that lets the cashier's UI (and nothing else on the machine) answer prompts.

The agent writes a fresh random secret at every start into a file only its user can read; the UI reads
that file and sends the secret with every call. Another local program running as a different user cannot
read it, so it cannot confirm or type a buyer's contact.
"""

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def write_secret(path: Path, what: str = "local UI secret", group: str = "") -> str:
    """A new random secret in `path`, created 0600 (replacing an old one); returns it.

    `group`: also readable by this group (0640), for a cashier UI running as another user than the agent
    (the packaged agent is the `echeck` system user; the cashier's account is in group `echeck-ui`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hex, not URL-safe base64: store IT types the POS token into POS settings and passes it to command
    # lines, where a leading '-' would read as an option.
    secret = secrets.token_hex(32)
    tmp = path.with_name(path.name + ".tmp")
    # O_EXCL on a fresh temp file, then an atomic rename: the secret is never readable with wider rights.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")
    if group:
        share_with_group(tmp, group)
    os.replace(tmp, path)
    log.info("%s written", what, extra={"path": str(path)})
    return secret


def share_with_group(path: Path, group: str) -> None:
    """chgrp + 0640; the agent's user must be a member of `group` (POSIX only)."""
    import grp

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"ui_group {group!r}: no such group on this machine") from None
    os.chown(path, -1, gid)
    os.chmod(path, 0o640)
