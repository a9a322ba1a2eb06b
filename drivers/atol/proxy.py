"""The ATOL proxy: serves the ATOL web server's API to the POS and forwards to the real one.

A receipt task without clientInfo.emailOrPhone makes the agent ask the cashier (bounded; on timeout or
skip the body goes on byte for byte); the contact is injected, the task forwarded, its result polled and
the sale reported fiscalized. Everything else (other tasks, unknown paths, every response) passes through
unchanged. A receipt the POS could think failed (timeout, transport error, an error status) is never
retried blindly: the proxy reads the register's last fiscal document first and, when it is this task's,
answers the POS with it, so a retry cannot print the receipt twice.

A recovery belongs to one task, the POS's uuid, and never to another: a later task with a new uuid is a new
sale however alike (a second bottle of the same milk, paid the same way) and goes to the register. The
register's last document is this task's only when it is newer than the newest document the proxy knew of
when the task went out (`Tracked.before`; the proxy reads the register's last document once, before the
first receipt, to know where it starts), no other task's (the proxy first settles the tasks still waiting
for their result), for this total, and not older than the task (decisions.is_this_sale).

Latency: a task that needs nobody asked is forwarded on the event loop (no worker-thread hop), the hook
hears of the sale from one ordered background thread, and the proxy learns the result from the POS's own
polls (it answers the POS first, then records the receipt). Its own polling is only a fallback for a POS
that stops asking; only the rare paths (asking the cashier, recovering from an error) use worker threads.
"""

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import httpx

from drivers.atol.decisions import (
    NOTHING_PRINTED,
    Document,
    ReceiptSubmission,
    closed_sale,
    document_of,
    find_receipt,
    is_this_sale,
    ready_results,
    with_contact,
)
from drivers.atol.own_tasks import REQUESTS, RegisterUnreadable, run_tasks
from drivers.atol.relay import Message, Relay, Reply, Upstream, UpstreamError, response, with_body
from drivers.atol.tasks import FiscalParams, Results, Status
from drivers.hook import SaleHook
from drivers.host_rule import allowed_names
from receipts import BuyerContact, InvalidContact, InvalidReceipt, parse_contact

log = logging.getLogger(__name__)
UNAVAILABLE = b'{"error": {"code": 502, "description": "ATOL web server unavailable"}}'
CONFLICT = b'{"error": {"code": 409, "description": "the task with this uuid was already executed"}}'
P = ParamSpec("P")
R = TypeVar("R")
LEARN_TIMEOUT_S = 3.0  # reading where the numbering stands may delay the first receipt this much at most
TAKEN_KEPT = 1_000  # documents given to tasks, remembered against a second claim (only the newest matter)


@dataclass(frozen=True)
class ProxySettings:
    upstream: str = "http://127.0.0.1:16733"
    ask_timeout_s: float = 20.0
    upstream_timeout_s: float = 30.0
    poll_interval_s: float = 0.05
    # the POS's own polls tell the proxy the result; it polls itself only when the POS has not for this long
    fallback_poll_after_s: float = 2.0
    poll_deadline_s: float = 300.0  # a receipt not final after this is left to the POS (and logged)


@dataclass
class Tracked:
    sale: ReceiptSubmission
    submitted_at: datetime
    before: Document | None = None  # the newest document the proxy knew of when the task went out
    done: bool = False  # the outcome is taken (by the POS's poll or the fallback poller), once
    corrected: bytes | None = None  # the GET answer the POS gets instead of a false error
    finished: threading.Event = field(default_factory=threading.Event)  # the proxy knows the outcome
    followed_at: float = field(default_factory=time.monotonic)


class AtolProxy:
    def __init__(
        self, hook: SaleHook, settings: ProxySettings, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.hook = hook
        self.settings = settings
        timeout = httpx.Timeout(settings.upstream_timeout_s, connect=5.0)
        # the rare paths (recovery, last document, fallback polls) run in threads with httpx; the POS's own
        # requests go through the relay (drivers/atol/relay.py) on the event loop
        self._client = httpx.Client(base_url=settings.upstream, timeout=timeout, transport=transport)
        upstream = httpx.URL(settings.upstream)
        self.upstream_address = (upstream.host, upstream.port or 80)
        self._tracked: dict[str, Tracked] = {}
        self._taken: OrderedDict[Document, None] = OrderedDict()  # documents given to a task, newest last
        self._newest: Document | None = None  # the newest document the proxy knows the register printed
        self._lock = threading.Lock()
        # hook calls that need no answer, in order, off the POS's path (one thread: started before closed)
        self._events = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atol-hook")
        self._watched: list[Tracked] = []
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()

    # -- HTTP ---------------------------------------------------------------------------------------------
    async def handle(self, request: Message, upstream: Upstream) -> Reply:
        if request.method == b"POST" and request.path == REQUESTS:
            sale = find_receipt(request.body)
            if sale is not None:
                return await self._submit_receipt(request, upstream, sale)
        if request.method == b"GET" and request.path.startswith(REQUESTS + "/"):
            with self._lock:
                tracked = self._tracked.get(request.path.rsplit("/", 1)[-1])
            if tracked is not None:
                return await self._result_for_pos(request, upstream, tracked)
        return await self._forward(request, upstream)

    async def _result_for_pos(self, request: Message, upstream: Upstream, tracked: Tracked) -> Reply:
        """A receipt's result: an error is not passed on before the proxy has looked at the register."""
        if tracked.corrected is not None:
            return Reply(response(200, tracked.corrected))
        try:
            answer = await upstream.exchange(request.raw, request.method)
        except UpstreamError as exc:
            return self._unavailable(request, exc)
        reply = Reply(answer.raw, close=not answer.keep_alive)
        try:
            result = Results.model_validate_json(answer.body).results[tracked.sale.index]
        except (ValueError, IndexError):
            return reply
        params = result.fiscal_params
        if result.status is Status.READY and params is not None:
            if self._take(tracked):  # the POS has its answer first; the hook records the receipt after
                reply.then = lambda: self._fiscalized(tracked, params)
        elif result.status.final:  # an error: look at the register before the POS may retry
            await asyncio.to_thread(
                self._finish_once, tracked, result.fiscal_params, result.status, result.error_description
            )
            if tracked.corrected is not None:
                return Reply(response(200, tracked.corrected))
        return reply

    async def _forward(self, request: Message, upstream: Upstream) -> Reply:
        """Anything the proxy does not look into: the POS's bytes there, the web server's bytes back."""
        try:
            answer = await upstream.exchange(request.raw, request.method)
        except UpstreamError as exc:
            return self._unavailable(request, exc)
        return Reply(answer.raw, close=not answer.keep_alive)

    @staticmethod
    def _unavailable(request: Message, exc: UpstreamError) -> Reply:
        log.error("ATOL web server did not answer %s %s: %s", request.method.decode(), request.path, exc)
        return Reply(response(502, UNAVAILABLE))

    async def _submit_receipt(self, request: Message, upstream: Upstream, sale: ReceiptSubmission) -> Reply:
        with self._lock:
            earlier = self._tracked.get(sale.uuid)
        if earlier is not None and earlier.corrected is not None:  # this very task was printed: not again
            log.warning("POS posted a printed receipt task again: not sent", extra={"request": sale.uuid})
            return Reply(response(409, CONFLICT))
        if self._newest is None:  # once: where the register's numbering stands before our first receipt
            await asyncio.to_thread(self._learn_newest)
        raw = request.raw
        if sale.task.contact:  # nobody to ask: the hook hears of it in the background
            self._events.submit(self._started_with_pos_contact, sale)
        else:  # the cashier's time, bounded by ask_timeout_s: in a worker thread, the loop goes on
            contact = await asyncio.to_thread(self._start_and_ask, sale)
            if contact is not None:
                raw = with_body(request, with_contact(request.body, sale.index, contact.fiscal_value))
                log.info(
                    "buyer contact added to the task", extra={"request": sale.uuid, "contact": contact.masked}
                )
        submitted_at, before = datetime.now(UTC), self._newest
        try:
            answer = await upstream.exchange(raw, request.method)
        except UpstreamError as exc:
            log.error("ATOL web server did not answer the receipt task: %s; checking the register", exc)
            return await asyncio.to_thread(self._recover_submit, sale, submitted_at, before)
        if answer.status >= 500:
            log.error("ATOL web server answered %s to a receipt task; checking the register", answer.status)
            recovered = await asyncio.to_thread(self._recover_submit, sale, submitted_at, before)
            if recovered.raw.startswith(b"HTTP/1.1 201"):
                return recovered
        with self._lock:
            known = sale.uuid in self._tracked
        if answer.status == 409 and not known:  # our first try (on a connection it closed) got through
            log.info(
                "ATOL web server already has the receipt task: following it", extra={"request": sale.uuid}
            )
            self._follow(self._remember(sale, submitted_at, before))
            return Reply(response(201))
        if answer.status == 201:
            self._follow(self._remember(sale, submitted_at, before))
        return Reply(answer.raw, close=not answer.keep_alive)

    def _started_with_pos_contact(self, sale: ReceiptSubmission) -> None:
        self._safe(self.hook.sale_started, sale.uuid)
        self._pos_contact(sale)

    def _start_and_ask(self, sale: ReceiptSubmission) -> BuyerContact | None:
        self._safe(self.hook.sale_started, sale.uuid)
        contact: BuyerContact | None = self._safe(
            self.hook.ask_contact, sale.uuid, self.settings.ask_timeout_s
        )
        return contact

    # -- results -----------------------------------------------------------------------------------------
    def _follow(self, tracked: Tracked) -> None:
        """Hand the sale to the fallback watcher (one thread for all: nothing is started per receipt)."""
        with self._lock:
            self._watched.append(tracked)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="atol-watch", daemon=True)
                self._watcher.start()

    def _take(self, tracked: Tracked) -> bool:
        """Whoever sees the final result first (the POS's poll or the fallback poller) handles it, once."""
        with self._lock:
            if tracked.done:
                return False
            tracked.done = True
            return True

    def _finish_once(self, tracked: Tracked, params: FiscalParams | None, status: Status, error: str) -> None:
        if self._take(tracked):
            self._finish(tracked, params, status, error)
        else:
            tracked.finished.wait(15.0)  # the other one is reading the register: its answer is ours

    def _watch(self) -> None:
        """The fallback: a sale whose POS has not polled it to the end in time is polled by the proxy."""
        while not self._closed.is_set():
            now = time.monotonic()
            with self._lock:
                self._watched = [t for t in self._watched if not t.done]
                watched = list(self._watched)
            due = [t for t in watched if t.followed_at + self.settings.fallback_poll_after_s <= now]
            for tracked in due:
                if now - tracked.followed_at > self.settings.poll_deadline_s:
                    tracked.done = True
                    log.error(
                        "receipt task not final after %.0f s",
                        self.settings.poll_deadline_s,
                        extra={"request": tracked.sale.uuid},
                    )
                else:
                    self._poll_once(tracked)
            if due:
                wait = self.settings.poll_interval_s
            elif watched:
                wait = min(t.followed_at for t in watched) + self.settings.fallback_poll_after_s - now
            else:
                wait = self.settings.fallback_poll_after_s  # a new sale is due no sooner than this
            self._closed.wait(max(wait, 0.001))

    def _poll_once(self, tracked: Tracked) -> None:
        request_uuid = tracked.sale.uuid
        try:
            answer = self._client.get(f"{REQUESTS}/{request_uuid}")
            results = Results.model_validate_json(answer.content) if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("polling the receipt task failed: %s", exc, extra={"request": request_uuid})
            return
        if results is not None and len(results.results) > tracked.sale.index:
            result = results.results[tracked.sale.index]
            if result.status.final:
                self._finish_once(tracked, result.fiscal_params, result.status, result.error_description)

    def _finish(self, tracked: Tracked, params: FiscalParams | None, status: Status, error: str) -> None:
        if status is Status.READY and params is not None:
            self._fiscalized(tracked, params)
            return
        log.warning(
            "receipt task ended %s (%s): reading the register's last document",
            status.value,
            error,
            extra={"request": tracked.sale.uuid},
        )
        if self._claim_last_document(tracked, "printed although the register reported an error"):
            return
        tracked.finished.set()
        self._events.submit(self._safe, self.hook.sale_cancelled, tracked.sale.uuid)

    def _fiscalized(self, tracked: Tracked, params: FiscalParams) -> None:
        """The document is this sale's from now on; the hook hears of it on the ordered thread."""
        tracked.done = True
        document = document_of(params)
        with self._lock:
            self._taken[document] = None
            while len(self._taken) > TAKEN_KEPT:
                self._taken.popitem(last=False)
            self._saw(document)
        tracked.finished.set()
        self._events.submit(self._record, tracked, params)

    def _record(self, tracked: Tracked, params: FiscalParams) -> None:
        try:
            sale = closed_sale(tracked.sale.task, params)
        except (InvalidReceipt, ValueError) as exc:
            log.error(
                "receipt printed but not a valid receipt for the outbox: %s",
                exc,
                extra={"request": tracked.sale.uuid},
            )
            return
        self._safe(self.hook.sale_fiscalized, tracked.sale.uuid, sale)

    def _recover_submit(
        self, sale: ReceiptSubmission, submitted_at: datetime, before: Document | None
    ) -> Reply:
        """The submission may or may not have reached the register: look before anyone retries."""
        try:
            known = self._client.get(f"{REQUESTS}/{sale.uuid}")
        except httpx.HTTPError:
            known = None
        if known is not None and known.status_code == 200:  # it was queued after all: follow it
            self._follow(self._remember(sale, submitted_at, before))
            return Reply(response(201))
        tracked = self._remember(sale, submitted_at, before)
        if self._claim_last_document(tracked, "printed although the web server did not answer"):
            return Reply(response(201))
        with self._lock:
            self._tracked.pop(sale.uuid, None)
        return Reply(response(502, UNAVAILABLE))

    def _claim_last_document(self, tracked: Tracked, note: str) -> bool:
        """When the register's last document is this task's receipt, it is the task's answer from now on."""
        try:
            last = self._last_document(min(10.0, self.settings.upstream_timeout_s))
        except RegisterUnreadable as exc:
            log.error("could not read the register's last fiscal document: %s", exc)
            return False
        if last is None:
            return False
        with self._lock:
            others = [t for t in self._watched if not t.done and t is not tracked]
        for other in others:  # the receipt may be another task's that nobody has polled yet: settle them
            self._poll_once(other)
        with self._lock:
            claimed = is_this_sale(
                tracked.sale.task, last, tracked.submitted_at, tracked.before, self._taken.keys()
            )
            self._saw(document_of(last))
        if not claimed:
            return False
        log.warning(
            "the register printed the receipt although it reported an error: answering with its document",
            extra={"request": tracked.sale.uuid, "fd": last.fiscal_document_number},
        )
        tracked.corrected = ready_results(last, note)
        self._fiscalized(tracked, last)
        return True

    def _learn_newest(self) -> None:
        """Where the register's numbering stands; until known, recovery falls back to total and time."""
        try:
            last = self._last_document(min(LEARN_TIMEOUT_S, self.settings.upstream_timeout_s))
        except RegisterUnreadable as exc:
            log.warning("could not read the register's last fiscal document before the receipt: %s", exc)
            return
        with self._lock:
            self._saw(document_of(last) if last is not None else NOTHING_PRINTED)

    def _saw(self, document: Document) -> None:
        """The register has printed `document` (under self._lock). A new FN numbers from 1 again."""
        newest = self._newest
        if newest is None or newest == NOTHING_PRINTED or newest[0] != document[0]:
            if newest is None or document != NOTHING_PRINTED:
                self._newest = document
        elif document[1] > newest[1]:
            self._newest = document

    def _last_document(self, timeout_s: float) -> FiscalParams | None:
        """The register's last receipt (None: it has none), through a getLastFiscalParams task of our own."""
        task = {"type": "getLastFiscalParams", "forReceipt": True}
        (result,) = run_tasks(self._client, [task], timeout_s, self.settings.poll_interval_s)
        if result.status is not Status.READY:
            raise RegisterUnreadable(result.error_description or result.status.value)
        try:
            return result.fiscal_params
        except ValueError as exc:
            raise RegisterUnreadable(str(exc)) from exc

    def _remember(self, sale: ReceiptSubmission, submitted_at: datetime, before: Document | None) -> Tracked:
        tracked = Tracked(sale, submitted_at, before)
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
    def _safe(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
        """A hook failure never blocks the sale."""
        try:
            return call(*args, **kwargs)
        except Exception:
            log.exception("hook %s failed; the sale goes on", getattr(call, "__name__", call))
            return None

    def close(self) -> None:
        self._closed.set()
        if self._watcher is not None:
            self._watcher.join(timeout=15)
        self._events.shutdown(wait=True)  # the receipts already printed reach the hook
        self._client.close()


class AtolProxyServer:
    """The proxy on host:port, its event loop in a background thread (inside the agent's process).

    Port 0 takes a free port; `url` then says which. Requests addressed by a name that is not this till's
    get 403 (`drivers.host_rule`: DNS rebinding); `allowed_hosts` adds store IT's names."""

    def __init__(
        self,
        hook: SaleHook,
        settings: ProxySettings,
        host: str = "127.0.0.1",
        port: int = 16732,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.proxy = AtolProxy(hook, settings)
        self._relay = Relay(
            self.proxy.handle,
            self.proxy.upstream_address,
            settings.upstream_timeout_s,
            allowed_hosts=allowed_names(host, allowed_hosts),
        )
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._listening = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"atol-proxy:{port}", daemon=True)
        self.url = f"http://{host}:{port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(): the port is taken, say
            self._failure = exc
            self._listening.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def started(port: int) -> None:
            self._port, self.url = port, f"http://{self._host}:{port}"
            self._listening.set()

        await self._relay.serve(self._host, self._port, started, self._stop)

    def start(self, timeout: float = 10.0) -> "AtolProxyServer":
        self._thread.start()
        if not self._listening.wait(timeout) or self._failure is not None:
            raise RuntimeError(f"ATOL proxy could not listen on {self.url}: {self._failure or 'timed out'}")
        log.info("ATOL proxy listening", extra={"listen": self.url, "upstream": self.proxy.settings.upstream})
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self.proxy.close()
