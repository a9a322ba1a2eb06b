"""Enrollment: store IT types the code the head office gave them; the agent trades it for its own token."""

import json
import logging
import socket
from dataclasses import asdict, dataclass, fields
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
    cloud_url: str  # where the agent syncs: the URL store IT enrolled with
    tenant_id: int
    store_id: int
    register_id: int
    public_url: str | None = None  # where buyers open e-receipts (the popup's QR), as the cloud said


def enroll(
    cloud_url: str, code: str, store: CredentialStore, path: Path, timeout: float = 15.0
) -> Enrollment:
    """Trade the code for a token. A register enrolled before sends its old token (live or revoked): the
    cloud then enrolls the same register again (same id and history) instead of making a new one. Only
    the token and enrollment.json change; the outbox is never touched."""
    previous = store.get(TOKEN_NAME)
    headers = {"Authorization": f"Bearer {previous}"} if previous else {}
    request = EnrollRequest(
        code=code.strip().upper(), hostname=socket.gethostname(), agent_version=__version__
    )
    _check_cloud_url(cloud_url)
    try:
        response = httpx.post(
            cloud_url.rstrip("/") + ENROLL_PATH, json=request.model_dump(), headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise EnrollmentError(
            f"cannot reach the cloud at {cloud_url} ({exc}): check the address and the network"
        ) from exc
    where = cloud_url.rstrip("/") + ENROLL_PATH
    if response.status_code in (404, 405):
        raise EnrollmentError(
            f"no echeck cloud answers at {where} ({response.status_code}): check the cloud URL, the address "
            "head office gave you without any path (e.g. https://echeck.example.ru)"
        )
    if response.status_code in (400, 410, 422):
        raise EnrollmentError(
            f"the cloud refused the enrollment code ({response.status_code}): {_detail(response)}"
        )
    if response.status_code == 429:
        raise EnrollmentError(
            f"the cloud locked enrollment out after too many wrong codes ({_detail(response)}): wait, then "
            "type the code exactly as head office issued it"
        )
    if response.status_code >= 400:
        raise EnrollmentError(f"the cloud at {where} answered {response.status_code}: {_detail(response)}")
    try:
        answer = EnrollResponse.model_validate(response.json())
    except ValueError as exc:
        raise EnrollmentError(
            f"{where} is not an echeck cloud (its answer is not an enrollment): check the cloud URL"
        ) from exc
    store.set(TOKEN_NAME, answer.token)
    enrollment = Enrollment(
        cloud_url.rstrip("/"), answer.tenant_id, answer.store_id, answer.register_id, answer.public_url
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(enrollment), indent=2), encoding="utf-8")
    log.info("register enrolled", extra={**asdict(enrollment), "credentials": store.description})
    return enrollment


def _check_cloud_url(cloud_url: str) -> None:
    """A typing mistake is said as one, not as a network fault (httpx's "missing protocol" text)."""
    try:
        url = httpx.URL(cloud_url)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise EnrollmentError(
            f"the cloud URL {cloud_url!r} is not a web address: type it as head office gave it, "
            "with https:// (e.g. https://echeck.example.ru)"
        )


def load_enrollment(path: Path) -> Enrollment:
    if not path.exists():
        raise NotEnrolled(f"this register is not enrolled yet ({path} is missing): run `echeck-agent enroll`")
    saved = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Enrollment)}
    return Enrollment(**{k: v for k, v in saved.items() if k in known})


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or response.text[:200] or response.reason_phrase)
