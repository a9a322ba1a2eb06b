"""The register's side of wire protocol v1 over HTTP: posting batches and heartbeats, nothing else.

It keeps only what the conversation itself needs: whether batches go gzip-compressed (off after a 415)
and whether the cloud takes the extended heartbeat (off after a 422). It never raises for the network:
a transport error comes back as a `TransportError` value, so posting threads can run it safely.
"""

import gzip
import logging
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import httpx
from httpx._client import UseClientDefault  # the type of httpx.USE_CLIENT_DEFAULT

from sync.answers import CloudAnswer
from sync.outbox import OutboxEntry
from sync.protocol import HEARTBEAT_PATH, HEARTBEAT_V1_FIELDS, Heartbeat, batch_path
from sync.settings import SyncSettings

log = logging.getLogger("echeck.sync")


class BearerToken(httpx.Auth):
    """The register's credential on every request. The token never appears in repr or logs."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerToken(***)"


@dataclass(frozen=True, slots=True)
class TransportError:
    """The cloud could not be reached or did not answer (connect/read/write error, timeout, reset)."""

    error: str


def answer_of(response: httpx.Response) -> CloudAnswer:
    return CloudAnswer(
        response.status_code, response.content, response.headers.get("Retry-After"), response.reason_phrase
    )


class CloudClient:
    def __init__(self, client: httpx.Client, settings: SyncSettings) -> None:
        self.client = client
        self._batch_path = batch_path(settings.store_id)
        self._gzip_level = settings.gzip_level
        self._compress = settings.gzip
        self._legacy_heartbeat = False  # the cloud refused the optional heartbeat fields (an older cloud)
        # None: the client's own timeout applies (the agent configures it there).
        self._timeout: httpx.Timeout | UseClientDefault = (
            httpx.USE_CLIENT_DEFAULT if settings.timeout_s is None else httpx.Timeout(settings.timeout_s)
        )

    @property
    def compressing(self) -> bool:
        return self._compress

    def stop_compressing(self) -> None:
        if self._compress:
            self._compress = False
            log.warning("the cloud does not take gzip batches: sending plain JSON from now on")

    def post_batch(self, entries: Sequence[OutboxEntry]) -> CloudAnswer | TransportError:
        """One batch; touches no worker state (it may run on a posting thread)."""
        # The rows hold their wire JSON already: the batch is assembled as text, not parsed and re-dumped.
        body = ('{"receipts":[' + ",".join(e.payload_json for e in entries) + "]}").encode()
        headers = {"Content-Type": "application/json"}
        if self._compress:
            body = gzip.compress(body, self._gzip_level, mtime=0)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self.client.post(
                self._batch_path, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            return TransportError(f"{type(exc).__name__}: {exc}")
        return answer_of(response)

    def post_heartbeat(self, beat: Heartbeat) -> CloudAnswer | TransportError:
        try:
            response = self._post_heartbeat(beat)
            if response.status_code == 422 and not self._legacy_heartbeat:
                # An older cloud that forbids the optional fields: tell it what it understands.
                self._legacy_heartbeat = True
                log.warning("the cloud refused the extended heartbeat; sending v1 fields only")
                response = self._post_heartbeat(beat)
        except httpx.HTTPError as exc:
            return TransportError(f"{type(exc).__name__}: {exc}")
        return answer_of(response)

    def _post_heartbeat(self, beat: Heartbeat) -> httpx.Response:
        include = set(HEARTBEAT_V1_FIELDS) if self._legacy_heartbeat else None
        return self.client.post(
            HEARTBEAT_PATH, json=beat.model_dump(mode="json", include=include), timeout=self._timeout
        )
