"""The POS token: the credential POS software sends with every checkout call (`Authorization: Bearer`).

Unlike the cashier UI's secret it survives restarts: store IT types it once into the POS's settings. It
lives in the agent's data directory (0600); `echeck-agent pos-token` prints it, `--rotate` replaces it,
and a running agent picks the new one up at the next request (the old one stops working then).
"""

import os
import secrets
from pathlib import Path

from agent.discovery import is_loopback
from agent.local_secret import write_secret

WHAT = "POS token"


def read_or_create(path: Path) -> str:
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    return token or write_secret(path, WHAT)


def rotate(path: Path) -> str:
    return write_secret(path, WHAT)


def required(listen_host: str, configured: bool) -> bool:
    """Beyond loopback every POS call needs the token; on loopback when store IT asks for it."""
    return configured or not is_loopback(listen_host)


class PosTokenCheck:
    """Checks a presented token against the file, re-read when it changes (a rotation needs no restart).

    A token that is presented is always checked, even where none is required: a POS configured with a
    stale token hears so at once instead of when store IT turns the requirement on.
    """

    def __init__(self, path: Path, required: bool) -> None:
        self.path = path
        self.required = required
        self._stamp: tuple[int, int] | None = None
        self._token = ""
        read_or_create(path)

    def allows(self, presented: str | None) -> bool:
        if presented is None:
            return not self.required
        token = self.current()
        return bool(token) and secrets.compare_digest(presented.encode(), token.encode())

    def current(self) -> str:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return ""
        stamp = (info.st_mtime_ns, info.st_ino)
        if stamp != self._stamp:
            self._token = self.path.read_text(encoding="ascii").strip()
            self._stamp = stamp
        return self._token
