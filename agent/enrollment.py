"""Enrollment: store IT types the code the head office gave them; the agent trades it for its own token."""

import json
import logging
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from agent import __version__
from agent.credentials import CredentialStore
from sync.protocol import ENROLL_PATH, EnrollRequest, EnrollResponse

log = logging.getLogger(__name__)
TOKEN_NAME = "register-token"


class EnrollmentError(RuntimeError):
    """Enrollment failed; the message says what store IT should do."""


class NotEnrolled(RuntimeError):
    pass


@dataclass(frozen=True)
class Enrollment:
    cloud_url: str
    tenant_id: int
    store_id: int
    register_id: int


def enroll(
    cloud_url: str, code: str, store: CredentialStore, path: Path, timeout: float = 15.0
) -> Enrollment:
    request = EnrollRequest(
        code=code.strip().upper(), hostname=socket.gethostname(), agent_version=__version__
    )
    try:
        response = httpx.post(cloud_url.rstrip("/") + ENROLL_PATH, json=request.model_dump(), timeout=timeout)
    except httpx.HTTPError as exc:
        raise EnrollmentError(
            f"cannot reach the cloud at {cloud_url}: {exc}. Check the address and network."
        ) from exc
    if response.status_code >= 400:
        raise EnrollmentError(
            f"the cloud refused the enrollment code ({response.status_code}): {_detail(response)}"
        )
    answer = EnrollResponse.model_validate(response.json())
    store.set(TOKEN_NAME, answer.token)
    enrollment = Enrollment(cloud_url.rstrip("/"), answer.tenant_id, answer.store_id, answer.register_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(enrollment), indent=2), encoding="utf-8")
    log.info("register enrolled", extra={**asdict(enrollment), "credentials": store.description})
    return enrollment


def load_enrollment(path: Path) -> Enrollment:
    if not path.exists():
        raise NotEnrolled(f"this register is not enrolled yet ({path} is missing): run `echeck-agent enroll`")
    return Enrollment(**json.loads(path.read_text(encoding="utf-8")))


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or response.text[:200] or response.reason_phrase)
