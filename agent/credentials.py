"""Where the register's token lives: the OS keyring, or a 0600 file when the machine has no keyring.

A headless Linux till often has no Secret Service; then the token goes to a file only the agent's
user can read, and the agent says so at every start so store IT can decide.
"""

import contextlib
import logging
import os
from pathlib import Path
from typing import Protocol

# keyring is imported where it is used: with `credentials = "file"` the agent never loads it (and the
# backends and entry-point machinery it pulls in, ~2 MB resident).

log = logging.getLogger(__name__)
SERVICE = "echeck-agent"


class CredentialStore(Protocol):
    description: str

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


class KeyringStore:
    def __init__(self, service: str = SERVICE) -> None:
        import keyring

        self.service = service
        self.description = f"OS keyring ({type(keyring.get_keyring()).__name__}, service {service!r})"

    def get(self, name: str) -> str | None:
        import keyring

        return keyring.get_password(self.service, name)

    def set(self, name: str, value: str) -> None:
        import keyring

        keyring.set_password(self.service, name, value)

    def delete(self, name: str) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            keyring.delete_password(self.service, name)


class FileStore:
    """One file per secret, created with mode 0600 in a 0700 directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"file {directory} (mode 0600)"

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.secret"

    def get(self, name: str) -> str | None:
        path = self._path(name)
        return path.read_text(encoding="utf-8").strip() if path.exists() else None

    def set(self, name: str, value: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(name)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


def keyring_usable() -> bool:
    import keyring

    backend = keyring.get_keyring()
    try:
        return float(backend.priority) > 0 and "fail" not in type(backend).__module__
    except Exception:  # a backend that cannot even say its priority is not usable
        return False


def open_store(kind: str, data_dir: Path) -> CredentialStore:
    """kind: 'keyring', 'file', or 'auto' (keyring when the OS has one, else the file with a warning)."""
    if kind == "keyring" or (kind == "auto" and keyring_usable()):
        return KeyringStore()
    if kind == "auto":
        log.warning(
            "no OS keyring on this machine: the register token is kept in a file readable only by this user",
            extra={"path": str(data_dir / "secrets")},
        )
    return FileStore(data_dir / "secrets")
