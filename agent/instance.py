"""The agent's identity on this machine: an instance id made at the first start, and a session id per run.

The instance id is kept in the data directory with a fingerprint of the machine (host name, MAC, systemd
machine-id). A data directory copied onto another machine (a cloned disk image) no longer matches the
fingerprint, so that machine makes its own instance id. Clones that even share host name and MAC are
still told apart by the cloud: their per-run session ids interleave under one register token.
"""

import hashlib
import json
import logging
import socket
import uuid
from pathlib import Path

log = logging.getLogger(__name__)
FILE = "instance.json"
_MACHINE_ID = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


def machine_fingerprint() -> str:
    machine_id = next((p.read_text().strip() for p in _MACHINE_ID if p.is_file()), "")
    raw = f"{socket.gethostname()}|{uuid.getnode():012x}|{machine_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def load_or_create_instance_id(data_dir: Path) -> str:
    path = data_dir / FILE
    fingerprint = machine_fingerprint()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("machine") == fingerprint and saved.get("instance_id"):
            return str(saved["instance_id"])
        log.warning(
            "this data directory comes from another machine (a cloned image?): new instance id",
            extra={"old_instance_id": saved.get("instance_id")},
        )
    except FileNotFoundError:
        pass
    except (ValueError, OSError) as exc:
        log.warning("unreadable %s, making a new instance id: %s", path, exc)
    instance_id = uuid.uuid4().hex
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"instance_id": instance_id, "machine": fingerprint}), encoding="utf-8")
    tmp.replace(path)
    return instance_id


def new_session_id() -> str:
    return uuid.uuid4().hex
