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


def write_secret(path: Path, what: str = "local UI secret") -> str:
    """A new random secret in `path`, created 0600 (replacing an old one); returns it."""
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
    os.replace(tmp, path)
    log.info("%s written", what, extra={"path": str(path)})
    return secret
