"""The one place that wires the agent process: outbox, checkout service, sync worker, HTTP app."""

import logging
import secrets
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from anyio import to_thread
from fastapi import FastAPI, Request

from agent import __version__
from agent.api_docs import install_api_docs
from agent.cashier_api import build_router as build_cashier_router
from agent.cashier_api import landing_url
from agent.config import AgentConfig
from agent.credentials import CredentialStore, open_store
from agent.discovery import start_advertising
from agent.enrollment import TOKEN_NAME, Enrollment, NotEnrolled, load_enrollment
from agent.hooks import RunningHook, start_hook
from agent.host_guard import HostGuard, allowed_names
from agent.instance import load_or_create_instance_id, new_session_id
from agent.local_api import build_router as build_local_router
from agent.local_schemas import PREFIX, SECRET_FILE, SECRET_HEADER
from agent.local_secret import write_secret
from agent.pos_token import PosTokenCheck, required
from agent.service import CheckoutService
from agent.status import AgentStatus, OutboxView, SyncView, UpdatesView, age_seconds, latency_view
from agent.ui_presence import UiPresence
from pos_plugin.api import build_router as build_pos_router
from pos_plugin.api import install_error_handlers
from sync.cloud_client import BearerToken
from sync.outbox import Outbox
from sync.settings import SyncSettings
from sync.worker import SyncWorker

if TYPE_CHECKING:
    from agent.updates.worker import UpdateWorker

log = logging.getLogger(__name__)
API_THREADS = 8  # threads for the local API's sync endpoints (anyio's default is 40)


class Agent:
    """A register's agent. `start()` runs sync in a background thread; the till's calls never wait on it."""

    def __init__(self, config: AgentConfig, credentials: CredentialStore | None = None) -> None:
        self.config = config
        self.credentials = credentials or open_store(config.credentials, config.data_dir)
        self.outbox = Outbox(config.outbox_path, quota_bytes=int(config.sync.outbox_quota_mb * 1_048_576))
        self.instance_id = load_or_create_instance_id(config.data_dir)
        self.session_id = new_session_id()
        self.enrollment = self._load_enrollment()
        self.worker = self._build_worker()
        self.checkouts = CheckoutService(
            self.outbox,
            on_queued=self.worker.wake if self.worker else lambda: None,
            max_open=config.max_open_checkouts,
            idle_s=config.checkout_idle_s,
            journal=self.outbox,
        )
        self.ui_presence = UiPresence(PREFIX + "/prompts")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hook: RunningHook | None = None  # the ATOL proxy or Shtrih-M tap, when configured
        self.updates = self._build_updates()
        self._update_thread: threading.Thread | None = None

    def _build_updates(self) -> "UpdateWorker | None":
        """The update thread of a packaged agent (`[updates]` with a repository); None otherwise."""
        settings = self.config.updates
        if not settings.enabled:
            return None
        # Imported only here: tufup and TUF stay out of an agent without updates (the memory target).
        from agent.updates.client import UpdateClient
        from agent.updates.layout import Installation, LayoutError, check_separate
        from agent.updates.worker import UpdateWorker
        from agent.winservice import launch_apply

        # A packaged agent runs as <root>/versions/<v>/echeck-agent/echeck-agent(.exe).
        root = (
            Path(settings.install_root)
            if settings.install_root
            else Path(sys.executable).resolve().parents[3]
        )
        try:
            check_separate(root, self.config.data_dir)
        except LayoutError as exc:
            log.error("updates off: %s", exc)
            return None
        installation = Installation(root)
        return UpdateWorker(
            installation,
            lambda channel: UpdateClient(installation, settings.repository_url, channel),
            channel=self.update_channel,
            open_checkouts=self.checkouts.open_count,
            launch=lambda version: launch_apply(root, version),
            check_interval_s=settings.check_interval_s,
            settle_s=settings.settle_s,
        )

    def update_channel(self) -> str:
        """The store's channel as the cloud last said (heartbeat answer), else the configured one."""
        worker = self.worker.status if self.worker else None
        return (worker.update_channel if worker else None) or self.config.updates.channel

    def _load_enrollment(self) -> Enrollment | None:
        try:
            return load_enrollment(self.config.enrollment_path)
        except NotEnrolled as exc:
            log.warning("%s; receipts are kept in the outbox until then", exc)
            return None

    def _build_worker(self) -> SyncWorker | None:
        if self.enrollment is None:
            return None
        token = self.credentials.get(TOKEN_NAME)
        if not token:
            log.error(
                "enrolled but the register token is missing from %s: enroll again",
                self.credentials.description,
            )
            return None
        settings = self.config.sync
        client = httpx.Client(
            base_url=self.cloud_url or "",
            auth=BearerToken(token),
            timeout=settings.timeout_s,
            headers={"User-Agent": f"echeck-agent/{__version__}"},
        )
        return SyncWorker(self.outbox, client, self._sync_settings(self.enrollment.store_id))

    def _sync_settings(self, store_id: int) -> SyncSettings:
        """The worker's settings from the agent's `[sync]` section and who this agent is."""
        sync = self.config.sync
        return SyncSettings(
            store_id=store_id,
            batch_size=sync.batch_size,
            linger_s=sync.linger_s,
            heartbeat_interval_s=sync.heartbeat_s,
            gzip=sync.gzip,
            backoff_base_s=sync.backoff_base_s,
            backoff_cap_s=sync.backoff_cap_s,
            retention=timedelta(days=sync.retention_days),
            maintenance_interval_s=sync.maintenance_s,
            agent_version=__version__,
            instance_id=self.instance_id,
            session_id=self.session_id,
            update_channel=self.config.updates.channel if self.config.updates.enabled else None,
        )

    @property
    def cloud_url(self) -> str | None:
        return self.config.cloud_url or (self.enrollment.cloud_url if self.enrollment else None)

    def start(self) -> None:
        if self.updates is not None and self._update_thread is None:
            self._update_thread = threading.Thread(
                target=self.updates.run, args=(self._stop,), name="updates", daemon=True
            )
            self._update_thread.start()
        if self.worker is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), name="sync", daemon=True)
        self._thread.start()
        log.info(
            "sync started",
            extra={"cloud": self.cloud_url, "store": self.enrollment and self.enrollment.store_id},
        )

    def start_hook(self) -> None:
        """The configured hook into the register (config `hook`); the checkout API is always on besides."""
        if self.hook is None:
            self.hook = start_hook(self.config, self.checkouts)
            if self.hook is not None:
                log.info("register hook started", extra={"hook": self.config.hook})

    def stop(self) -> None:
        if self.hook is not None:
            self.hook.stop()
            self.hook = None
        self._stop.set()
        if self.worker is not None:
            self.worker.wake()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self._update_thread is not None:
            self._update_thread.join(timeout=15)  # a download in progress is abandoned (re-done later)
            self._update_thread = None
        self.outbox.close()

    def wake_sync(self) -> bool:
        """'Sync now' from the cashier's tray; False when there is no worker (not enrolled)."""
        if self.worker is None:
            return False
        self.worker.wake()
        return True

    def landing_url(self, checkout_id: str) -> str | None:
        """The popup's QR: the cloud's public address (learnt at enrollment), not the one syncing uses."""
        if self.enrollment is None:
            return None
        base = self.enrollment.public_url or self.cloud_url
        return landing_url(base, self.enrollment.register_id, self.checkouts.landing_token(checkout_id))

    def status(self) -> AgentStatus:
        stats = self.outbox.stats()
        worker = self.worker.status if self.worker else None
        health = self.outbox.write_health()
        return AgentStatus(
            version=__version__,
            running=self._thread is not None,
            enrolled=self.enrollment is not None,
            cloud_url=self.cloud_url,
            store_id=self.enrollment.store_id if self.enrollment else None,
            register_id=self.enrollment.register_id if self.enrollment else None,
            instance_id=self.instance_id,
            ui_connected=self.ui_presence.connected(),
            open_checkouts=self.checkouts.open_count(),
            outbox=OutboxView(
                pending=stats.pending,
                acked=stats.acked,
                rejected=stats.rejected,
                total=stats.total,
                oldest_pending_age_s=age_seconds(stats.oldest_pending_closed_at),
                last_acked_at=stats.last_acked_at,
                size_bytes=stats.size_bytes,
                quota_bytes=stats.quota_bytes,
                over_quota=stats.over_quota,
                quarantined=[p.name for p in self.outbox.quarantined()],
                write_error=health.error,
                write_failures=health.failures,
                dead_letter=[f"{e.key}: {e.reason}" for e in self.outbox.rejected(limit=5)],
                retention_days=self.config.sync.retention_days,
            ),
            sync=SyncView(
                online=worker.online,
                last_sync_at=worker.last_sync_at,
                last_error=worker.last_error,
                consecutive_failures=worker.consecutive_failures,
                token_refused=worker.token_refused,
                next_attempt_at=worker.next_attempt_at,
                last_heartbeat_at=worker.last_heartbeat_at,
                clock_skew_s=worker.clock_skew_s,
                batch_limit=worker.batch_limit,
                gzip=worker.gzip,
                last_purge_at=worker.last_purge_at,
                register_revoked=worker.register_revoked,
            )
            if worker
            else None,
            latency=latency_view(self.outbox.ack_latencies(limit=10_000)),
            updates=self._updates_view(),
        )

    def _updates_view(self) -> UpdatesView | None:
        if self.updates is None:
            return None
        view = self.updates.view()
        return UpdatesView(
            channel=view.channel,
            running=view.running,
            staged=view.staged,
            decision=view.decision,
            last_result=view.last_result,
            last_error=view.last_error,
        )


def create_app(agent: Agent) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # FastAPI runs the sync endpoints in anyio's thread pool, 40 threads by default; each thread a
        # burst wakes keeps its stack and malloc arena for the rest of the process. One POS drives an
        # agent, so a few threads serve it; the cashier's answer to a prompt is async and needs none, so
        # POS calls waiting on the cashier (ask-contact?wait=S) can never starve it.
        to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        agent.start()
        agent.start_hook()
        enrolled = agent.enrollment
        advert = start_advertising(
            agent.config.listen_host,
            agent.config.listen_port,
            f"store {enrolled.store_id} register {enrolled.register_id}" if enrolled else None,
        )
        try:
            yield
        finally:
            if advert is not None:
                advert.stop()
            agent.stop()

    app = FastAPI(
        title="echeck agent",
        version=__version__,
        description="The register's local API: the checkout API for POS software and the agent's status. "
        "Listens on 127.0.0.1 unless configured otherwise; answers only requests addressed to it by a known "
        "name (Host), and the checkout API takes the POS token (`echeck-agent pos-token`).",
        lifespan=lifespan,
        docs_url=None,  # install_api_docs: Swagger UI from this machine's files, never a CDN
        redoc_url=None,
    )
    install_api_docs(app)
    config = agent.config
    pos_token = PosTokenCheck(config.pos_token_path, required(config.listen_host, config.require_pos_token))
    if pos_token.required:
        log.info("the checkout API requires the POS token (`echeck-agent pos-token` prints it)")
    app.include_router(build_pos_router(lambda: agent.checkouts, pos_token.allows))
    if not pos_token.required:
        _document_optional_token(app)
    ui_secret = write_secret(
        config.data_dir / SECRET_FILE, group=config.ui_group
    )  # new each start; the cashier UI reads it

    def may_see_status(request: Request) -> bool:
        sent = request.headers.get(SECRET_HEADER)
        if sent is not None and secrets.compare_digest(sent.encode(), ui_secret.encode()):
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token) and pos_token.allows(token)

    app.include_router(build_local_router(agent.status, may_see_status))
    cashier = build_cashier_router(
        agent.checkouts.prompts, ui_secret, agent.outbox, agent.wake_sync, agent.landing_url
    )
    app.include_router(cashier)
    install_error_handlers(app)

    @app.get("/healthz", tags=["agent"], summary="The agent answers, with its version (the updater's probe)")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(agent.ui_presence.middleware)
    app.add_middleware(HostGuard, names=allowed_names(config.listen_host, config.allowed_hosts))  # outermost
    return app


def _document_optional_token(app: FastAPI) -> None:
    """On loopback without `require_pos_token` a POS may call without the token (one that is sent is
    still checked): the published contract says so, as an empty security requirement beside the token."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            for path in doc.get("paths", {}).values():
                for operation in path.values():
                    if isinstance(operation, dict) and operation.get("security"):
                        operation["security"] = [{}, *operation["security"]]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
