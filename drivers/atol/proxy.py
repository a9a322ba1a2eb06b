"""The ATOL proxy: serves the ATOL web server's API to the POS and forwards to the real one.

A receipt task without clientInfo.emailOrPhone makes the agent ask the cashier (bounded; on timeout or
skip the body goes on byte for byte); the contact is injected, the task forwarded, its result polled and
the sale reported fiscalized. Everything else (other tasks, unknown paths, every response) passes through
unchanged. A receipt the POS could think failed (timeout, transport error, an error status) is never
retried blindly: the proxy reads the register's last fiscal document first and, when it is this sale's,
answers the POS with it, so a retry cannot print the receipt twice.
"""

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from drivers.atol.decisions import (
    ReceiptSubmission,
    closed_sale,
    find_receipt,
    fingerprint,
    is_this_sale,
    ready_results,
    with_contact,
)
from drivers.atol.tasks import FiscalParams, Results, Status
from drivers.hook import SaleHook
from receipts import InvalidContact, InvalidReceipt, parse_contact

log = logging.getLogger(__name__)
REQUESTS = "/api/v2/requests"
# not forwarded: hop-by-hop headers, and the encoding httpx has already undone on the content we pass on
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "host",
    "content-encoding",
}


@dataclass(frozen=True)
class ProxySettings:
    upstream: str = "http://127.0.0.1:16733"
    ask_timeout_s: float = 20.0
    upstream_timeout_s: float = 30.0
    poll_interval_s: float = 0.05
    poll_deadline_s: float = 300.0  # a receipt not final after this is left to the POS (and logged)


@dataclass
class Tracked:
    sale: ReceiptSubmission
    submitted_at: datetime
    done: bool = False
    corrected: bytes | None = None  # the GET answer the POS gets instead of a false error
    finished: threading.Event = field(default_factory=threading.Event)  # the proxy knows the outcome


class AtolProxy:
    def __init__(self, hook: SaleHook, settings: ProxySettings, transport: httpx.BaseTransport | None = None,
                 async_transport: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self.hook = hook
        self.settings = settings
        timeout = httpx.Timeout(settings.upstream_timeout_s, connect=5.0)
        self._client = httpx.Client(base_url=settings.upstream, timeout=timeout, transport=transport)
        self._aclient = httpx.AsyncClient(
            base_url=settings.upstream, timeout=timeout, transport=async_transport
        )
        self._tracked: dict[str, Tracked] = {}
        self._printed: dict[str, bytes] = {}  # sale fingerprint -> results of the receipt already printed
        self._taken_fd: set[int] = set()
        self._lock = threading.Lock()

    # -- HTTP --------------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        if request.method == "POST" and path == REQUESTS:
            sale = find_receipt(body)
            if sale is not None:
                return await anyio.to_thread.run_sync(self._submit_receipt, request, body, sale)
        if request.method == "GET" and path.startswith(REQUESTS + "/"):
            with self._lock:
                tracked = self._tracked.get(path.rsplit("/", 1)[-1])
            if tracked is not None:
                return await self._result_for_pos(request, body, tracked)
        return await self._forward(request, body)

    async def _result_for_pos(self, request: Request, body: bytes, tracked: Tracked) -> Response:
        """A receipt's result: an error is not passed on before the proxy has looked at the register."""
        if tracked.corrected is not None:
            return Response(tracked.corrected, 200, media_type="application/json")
        answer = await self._forward(request, body)
        try:
            result = Results.model_validate_json(answer.body).results[tracked.sale.index]
        except (ValueError, IndexError):
            return answer
        if result.status.final and result.status is not Status.READY:
            await anyio.to_thread.run_sync(tracked.finished.wait, 15.0)
            if tracked.corrected is not None:
                return Response(tracked.corrected, 200, media_type="application/json")
        return answer

    async def _forward(self, request: Request, body: bytes) -> Response:
        upstream = await self._aclient.request(
            request.method, request.url.path, params=request.query_params, content=body,
            headers=_clean(request.headers),
        )  # fmt: skip
        return Response(upstream.content, upstream.status_code, headers=_clean(upstream.headers))

    def _submit_receipt(self, request: Request, body: bytes, sale: ReceiptSubmission) -> Response:
        with self._lock:
            already = self._printed.get(fingerprint(sale.task))
        if already is not None:  # the POS retries a sale the register already printed
            log.warning("POS resubmitted a receipt that was already printed: not sent again",
                        extra={"request": sale.uuid})  # fmt: skip
            self._remember(sale, corrected=already)
            return Response(status_code=201)
        self._safe(self.hook.sale_started, sale.uuid)
        if sale.task.contact:
            self._pos_contact(sale)
        else:
            contact = self._safe(self.hook.ask_contact, sale.uuid, self.settings.ask_timeout_s)
            if contact is not None:
                body = with_contact(body, sale.index, contact.fiscal_value)
                log.info(
                    "buyer contact added to the task", extra={"request": sale.uuid, "contact": contact.masked}
                )
        submitted_at = datetime.now(UTC)
        headers = _clean(request.headers)
        try:
            upstream = self._client.post(REQUESTS, content=body, headers=headers)
        except httpx.TransportError as exc:
            log.error("ATOL web server did not answer the receipt task: %s; checking the register", exc)
            return self._recover_submit(sale, submitted_at)
        if upstream.status_code >= 500:
            log.error(
                "ATOL web server answered %s to a receipt task; checking the register", upstream.status_code
            )
            recovered = self._recover_submit(sale, submitted_at)
            if recovered.status_code == 201:
                return recovered
        if upstream.status_code == 201:
            self._remember(sale, submitted_at=submitted_at)
            threading.Thread(target=self._poll, args=(sale.uuid,), name="atol-poll", daemon=True).start()
        return Response(upstream.content, upstream.status_code, headers=_clean(upstream.headers))

    # -- results -----------------------------------------------------------------------------------------
    def _poll(self, request_uuid: str) -> None:
        deadline = time.monotonic() + self.settings.poll_deadline_s
        while time.monotonic() < deadline:
            with self._lock:
                tracked = self._tracked.get(request_uuid)
            if tracked is None or tracked.done:
                return
            try:
                answer = self._client.get(f"{REQUESTS}/{request_uuid}")
                results = Results.model_validate_json(answer.content) if answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("polling the receipt task failed: %s", exc, extra={"request": request_uuid})
                results = None
            if results is not None and len(results.results) > tracked.sale.index:
                result = results.results[tracked.sale.index]
                if result.status.final:
                    self._finish(tracked, result.fiscal_params, result.status, result.error_description)
                    return
            time.sleep(self.settings.poll_interval_s)
        log.error("receipt task not final after %.0f s", self.settings.poll_deadline_s,
                  extra={"request": request_uuid})  # fmt: skip

    def _finish(self, tracked: Tracked, params: FiscalParams | None, status: Status, error: str) -> None:
        if status is Status.READY and params is not None:
            self._fiscalized(tracked, params)
            return
        log.warning("receipt task ended %s (%s): reading the register's last document", status.value, error,
                    extra={"request": tracked.sale.uuid})  # fmt: skip
        last = self._last_document()
        if last is not None and self._claim(tracked, last):
            tracked.corrected = ready_results(last, "printed although the register reported an error")
            with self._lock:
                self._printed[fingerprint(tracked.sale.task)] = tracked.corrected
            self._fiscalized(tracked, last)
            return
        tracked.done = True
        tracked.finished.set()
        self._safe(self.hook.sale_cancelled, tracked.sale.uuid)

    def _fiscalized(self, tracked: Tracked, params: FiscalParams) -> None:
        tracked.done = True
        tracked.finished.set()
        with self._lock:
            self._taken_fd.add(params.fiscal_document_number)
        try:
            sale = closed_sale(tracked.sale.task, params)
        except (InvalidReceipt, ValueError) as exc:
            log.error("receipt printed but not a valid receipt for the outbox: %s", exc,
                      extra={"request": tracked.sale.uuid})  # fmt: skip
            return
        self._safe(self.hook.sale_fiscalized, tracked.sale.uuid, sale)

    def _recover_submit(self, sale: ReceiptSubmission, submitted_at: datetime) -> Response:
        """The submission may or may not have reached the register: look before anyone retries."""
        try:
            known = self._client.get(f"{REQUESTS}/{sale.uuid}")
        except httpx.HTTPError:
            known = None
        if known is not None and known.status_code == 200:  # it was queued after all: follow it
            self._remember(sale, submitted_at=submitted_at)
            threading.Thread(target=self._poll, args=(sale.uuid,), name="atol-poll", daemon=True).start()
            return Response(status_code=201)
        tracked = self._remember(sale, submitted_at=submitted_at)
        last = self._last_document()
        if last is not None and self._claim(tracked, last):
            tracked.corrected = ready_results(last, "printed although the web server did not answer")
            with self._lock:
                self._printed[fingerprint(sale.task)] = tracked.corrected
            self._fiscalized(tracked, last)
            return Response(status_code=201)
        with self._lock:
            self._tracked.pop(sale.uuid, None)
        return Response(b'{"error": {"code": 502, "description": "ATOL web server unavailable"}}', 502,
                        media_type="application/json")  # fmt: skip

    def _last_document(self) -> FiscalParams | None:
        """The register's last fiscal document, through a getLastFiscalParams task of our own."""
        probe = f"echeck-{uuid.uuid4()}"
        try:
            posted = self._client.post(
                REQUESTS, json={"uuid": probe, "request": [{"type": "getLastFiscalParams"}]}
            )
            if posted.status_code != 201:
                return None
            deadline = time.monotonic() + min(10.0, self.settings.upstream_timeout_s)
            while time.monotonic() < deadline:
                answer = self._client.get(f"{REQUESTS}/{probe}")
                if answer.status_code == 200:
                    [result] = Results.model_validate_json(answer.content).results[:1] or [None]
                    if result is not None and result.status.final:
                        params = (result.result or {}).get("fiscalParams")
                        return FiscalParams.model_validate(params) if params else None
                time.sleep(self.settings.poll_interval_s)
        except (httpx.HTTPError, ValueError) as exc:
            log.error("could not read the register's last fiscal document: %s", exc)
        return None

    def _claim(self, tracked: Tracked, last: FiscalParams) -> bool:
        with self._lock:
            return is_this_sale(tracked.sale.task, last, tracked.submitted_at, self._taken_fd)

    def _remember(self, sale: ReceiptSubmission, submitted_at: datetime | None = None,
                  corrected: bytes | None = None) -> Tracked:  # fmt: skip
        tracked = Tracked(
            sale, submitted_at or datetime.now(UTC), done=corrected is not None, corrected=corrected
        )
        with self._lock:
            self._tracked[sale.uuid] = tracked
            while len(self._tracked) > 10_000:
                self._tracked.pop(next(iter(self._tracked)))
        return tracked

    def _pos_contact(self, sale: ReceiptSubmission) -> None:
        try:
            contact = parse_contact(sale.task.contact or "")
        except InvalidContact:
            return
        self._safe(self.hook.contact_from_pos, sale.uuid, contact)

    @staticmethod
    def _safe(call, *args):  # type: ignore[no-untyped-def]
        """A hook failure never blocks the sale."""
        try:
            return call(*args)
        except Exception:
            log.exception("hook %s failed; the sale goes on", getattr(call, "__name__", call))
            return None

    def close(self) -> None:
        self._client.close()


def _clean(headers: "httpx.Headers | Request.headers") -> dict[str, str]:  # type: ignore[name-defined]
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


def create_app(proxy: AtolProxy) -> Starlette:
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    return Starlette(routes=[Route("/{path:path}", proxy.handle, methods=methods)])


class AtolProxyServer:
    """The proxy on host:port in a background thread (inside the agent's process)."""

    def __init__(
        self, hook: SaleHook, settings: ProxySettings, host: str = "127.0.0.1", port: int = 16732
    ) -> None:
        self.proxy = AtolProxy(hook, settings)
        config = uvicorn.Config(
            create_app(self.proxy), host=host, port=port, log_config=None, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"atol-proxy:{port}", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 10.0) -> "AtolProxyServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"ATOL proxy could not listen on {self.url} (port taken?)")
            time.sleep(0.01)
        log.info("ATOL proxy listening", extra={"listen": self.url, "upstream": self.proxy.settings.upstream})
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.proxy.close()
