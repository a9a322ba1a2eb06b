"""`echeck-cloud`: run the cloud service and administer tenants, stores, enrollment codes, head-office users,
API keys and registers' tokens.

Errors are one line on stderr with exit code 1 (2 for a wrong command line), never a traceback: the
service functions raise `cloud.errors` classes, whose sentences are meant for the operator too.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from cloud.accounts import cli as accounts_cli
from cloud.accounts import tenants
from cloud.accounts.legal import TAXATION
from cloud.attribution import cli as attribution_cli
from cloud.db.engine import DATABASE_URL_ENV, make_engine
from cloud.db.migrate import migrate
from cloud.delivery import cli as delivery_cli
from cloud.errors import CloudError, InvalidInput
from cloud.fleet import enrollment
from cloud.fleet.status import list_stores
from cloud.identity import cli as identity_cli
from cloud.logs import configure_logging, logging_config
from cloud.pages.promo import cli as promo_cli
from cloud.privacy import cli as privacy_cli
from cloud.privacy.keys import IdentityKeyError
from cloud.reports import cli as reports_cli
from cloud.settings import (
    DEFAULT_ENROLL_TTL_HOURS,
    JOB_WORKER_ENV,
    LOG_FORMAT_ENV,
    LOG_LEVEL_ENV,
    PUBLIC_URL_ENV,
    load_settings,
)
from cloud.tracking import cli as tracking_cli
from sync.protocol import UPDATE_CHANNELS


def _out(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    print(json.dumps(doc, ensure_ascii=False, default=str) if args.json else text)


def _safe_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _session(args: argparse.Namespace) -> Session:
    # Admin commands migrate first: on a fresh database `tenant add` just works (a no-op when at head).
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    return Session(engine)


def cmd_serve(args: argparse.Namespace) -> None:
    from cloud.serving import serve

    migrate(args.database_url)
    privacy_cli.rekey_database(args.database_url)  # hashes from before keyed hashes or a key rotation
    # Workers are separate processes that build the app from the factory: hand them the URL by environment.
    os.environ[DATABASE_URL_ENV] = args.database_url
    where = f"http://{args.host}:{args.port}"
    # Background jobs: one worker inside the app (the only one on SQLite); links point here unless told
    # otherwise.
    os.environ[JOB_WORKER_ENV] = "0" if args.no_worker else "1"
    os.environ[PUBLIC_URL_ENV] = args.public_url or os.environ.get(PUBLIC_URL_ENV) or where
    print(
        f"echeck cloud on {where} (API docs at {where}/docs), database {_safe_url(args.database_url)}",
        file=sys.stderr,
    )
    serve(
        "cloud.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=logging_config(args.log_level, args.log_format),
        proxy_headers=True,
    )


def cmd_worker(args: argparse.Namespace) -> None:
    """A job worker process: delivery steps and every other capability's jobs (any number on PostgreSQL)."""
    import signal
    import threading

    from cloud.bootstrap import bootstrap
    from cloud.jobs import WorkerOptions

    public_url = args.public_url or load_settings(args.database_url).public_url
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    runtime = bootstrap(engine, public_url, lease_s=args.lease)
    options = WorkerOptions(
        name=args.name, concurrency=args.concurrency, poll_s=args.poll, lease_s=args.lease
    )
    worker = runtime.worker(options)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    worker.start()
    print(f"job worker {args.name} running (links {public_url}/r/...); Ctrl-C stops it", flush=True)
    done.wait()
    worker.stop()
    runtime.close()
    engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> None:
    migrate(args.database_url)
    privacy_cli.rekey_database(args.database_url)
    print(f"database is up to date: {_safe_url(args.database_url)}")


def cmd_tenant_add(args: argparse.Namespace) -> None:
    with _session(args) as session:
        tenant, api_key = tenants.create_tenant(session, args.name)
        doc = {"id": tenant.id, "name": tenant.name, "api_key": api_key}
    _out(args, doc, f"tenant {doc['id']} {doc['name']!r}\napi key (shown once, keep it safe): {api_key}")


def cmd_tenant_list(args: argparse.Namespace) -> None:
    with _session(args) as session:
        rows = [
            {"id": t.id, "name": t.name, "created_at": t.created_at} for t in tenants.list_tenants(session)
        ]
    lines = [f"{r['id']:>6}  {r['name']}  (created {r['created_at']:%Y-%m-%d})" for r in rows]
    _out(args, {"tenants": rows}, "\n".join(lines) or "no tenants yet: `echeck-cloud tenant add NAME`")


def cmd_tenant_set(args: argparse.Namespace) -> None:
    with _session(args) as session:
        t = tenants.set_tenant_details(
            session, args.tenant, legal_name=args.legal_name, inn=args.inn, taxation=args.taxation
        )
        doc = {"id": t.id, "legal_name": t.legal_name, "inn": t.inn, "taxation": t.taxation}
    _out(
        args,
        doc,
        f"tenant {doc['id']}: {doc['legal_name'] or '?'}, INN {doc['inn'] or '?'}, "
        f"taxation {doc['taxation'] or '?'}",
    )


def cmd_store_set(args: argparse.Namespace) -> None:
    with _session(args) as session:
        st = tenants.set_store_details(
            session, args.store, address=args.address, settlement_place=args.place, time_zone=args.time_zone
        )
        doc = {
            "id": st.id,
            "address": st.address,
            "settlement_place": st.settlement_place,
            "time_zone": st.time_zone,
        }
    _out(
        args,
        doc,
        f"store {doc['id']}: {doc['address'] or '?'} ({doc['settlement_place'] or '?'}), "
        f"time zone {doc['time_zone'] or '?'}",
    )


def cmd_store_add(args: argparse.Namespace) -> None:
    with _session(args) as session:
        store = tenants.create_store(session, args.tenant, args.name, args.region)
        doc = {"id": store.id, "tenant_id": store.tenant_id, "name": store.name, "region": store.region}
    region = f" in region {doc['region']!r}" if doc["region"] else ""
    _out(args, doc, f"store {doc['id']} {doc['name']!r} of tenant {doc['tenant_id']}{region}")


def cmd_store_region(args: argparse.Namespace) -> None:
    with _session(args) as session:
        store = tenants.set_region(session, args.store, args.region or None)
        doc = {"id": store.id, "region": store.region}
    _out(args, doc, f"store {doc['id']}: region {doc['region'] or '(none)'}")


def cmd_store_channel(args: argparse.Namespace) -> None:
    with _session(args) as session:
        stores = tenants.set_update_channel(
            session, args.tenant, args.channel, store_ids=args.store, region=args.region
        )
        doc = {"channel": args.channel, "stores": [s.id for s in stores]}
    names = ", ".join(str(s) for s in doc["stores"])
    _out(
        args,
        doc,
        f"update channel {args.channel} for store(s) {names}: their registers switch at their next heartbeat",
    )


def cmd_store_list(args: argparse.Namespace) -> None:
    with _session(args) as session:
        rows: list[dict[str, Any]] = []
        for store, registers in list_stores(session, args.tenant):
            regs = [
                {
                    "id": r.id,
                    "hostname": r.hostname,
                    "last_heartbeat_at": r.last_heartbeat_at,
                    "queue_depth": r.queue_depth,
                    "rejected_count": r.rejected_count,
                    "revoked": r.revoked_at is not None,
                    "agent_version": r.agent_version,
                    "update_channel": r.update_channel,
                }
                for r in registers
            ]
            rows.append(
                {
                    "id": store.id,
                    "name": store.name,
                    "region": store.region,
                    "update_channel": store.update_channel,
                    "registers": regs,
                }
            )
    lines = []
    for s in rows:
        region = f" [{s['region']}]" if s["region"] else ""
        lines.append(
            f"{s['id']:>6}  {s['name']}{region}  ({len(s['registers'])} registers, "
            f"channel {s['update_channel']})"
        )
        for r in s["registers"]:
            seen = f"{r['last_heartbeat_at']:%Y-%m-%d %H:%M:%S}Z" if r["last_heartbeat_at"] else "never"
            lines.append(
                f"        register {r['id']} {r['hostname'] or '?'}: last seen {seen}, "
                f"queue {r['queue_depth']}, rejected {r['rejected_count']}, "
                f"version {r['agent_version'] or '?'} on {r['update_channel'] or 'no channel'}"
                + (", REVOKED" if r["revoked"] else "")
            )
    _out(
        args, {"stores": rows}, "\n".join(lines) or f"tenant {args.tenant} has no stores (or does not exist)"
    )


def cmd_enroll_code(args: argparse.Namespace) -> None:
    if args.ttl_hours <= 0:
        raise InvalidInput("--ttl-hours must be positive")
    with _session(args) as session:
        issued = enrollment.issue_enrollment_code(session, args.store, timedelta(hours=args.ttl_hours))
    doc = {"code": issued.code, "store_id": issued.store_id, "expires_at": issued.expires_at.isoformat()}
    _out(
        args,
        doc,
        f"enrollment code for store {issued.store_id}: {issued.code}\n"
        f"valid once, until {issued.expires_at:%Y-%m-%d %H:%M} UTC; type it into the register's agent",
    )


def build_parser() -> argparse.ArgumentParser:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        prog="echeck-cloud",
        description="The echeck cloud: receives receipts from the registers of every store. Run it with "
        "`serve`; create retailers (tenants), stores and enrollment codes with the other commands.",
    )
    parser.add_argument(
        "--database-url",
        default=settings.database_url,
        metavar="URL",
        help=f"database to use, e.g. postgresql://user:pass@host/echeck (env {DATABASE_URL_ENV}; "
        f"default: a SQLite file, now {_safe_url(settings.database_url)})",
    )
    levels = ["debug", "info", "warning", "error"]
    parser.add_argument(
        "--log-level",
        default=settings.log_level,
        choices=levels,
        help=f"how much the server logs (env {LOG_LEVEL_ENV}; default info)",
    )
    parser.add_argument(
        "--log-format",
        default=settings.log_format,
        choices=["kv", "json"],
        help=f"log lines as key=value or JSON (env {LOG_FORMAT_ENV})",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], None], help_: str, parent: Any = sub) -> Any:
        p = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")

    serve = add("serve", cmd_serve, "update the database schema, then serve the API")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all; default %(default)s)"
    )
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default %(default)s)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default %(default)s)")
    serve.add_argument(
        "--no-worker",
        "--no-delivery-worker",
        dest="no_worker",
        action="store_true",
        help="no job worker in the app (PostgreSQL, with `worker` processes)",
    )
    serve.add_argument("--public-url", help=f"base of e-receipt links (env {PUBLIC_URL_ENV}; default: here)")
    add("migrate", cmd_migrate, "update the database schema to this version and exit")

    tenant = sub.add_parser("tenant", help="retailers: add, list").add_subparsers(
        dest="action", required=True
    )
    p = add("add", cmd_tenant_add, "add a retailer; prints its id and api key (shown only once)", tenant)
    p.add_argument("name", help="the retailer's name, e.g. 'Hardware Chain LLC'")
    json_flag(p)
    json_flag(add("list", cmd_tenant_list, "list retailers", tenant))
    p = add("set", cmd_tenant_set, "set what the e-receipt page prints about the seller", tenant)
    p.add_argument(
        "--tenant", type=int, required=True, metavar="ID", help="the retailer's id (`tenant list`)"
    )
    p.add_argument("--legal-name", help="the seller's legal name, e.g. 'ООО \"Ромашка\"'")
    p.add_argument("--inn", help="the seller's INN: 10 or 12 digits (check digits are verified)")
    p.add_argument("--taxation", choices=sorted(TAXATION), help="taxation system (tag 1055)")
    json_flag(p)

    store = sub.add_parser(
        "store", help="stores of a retailer: add, list, region, set, channel"
    ).add_subparsers(dest="action", required=True)
    p = add("add", cmd_store_add, "add a store to a retailer", store)
    p.add_argument(
        "--tenant", type=int, required=True, metavar="ID", help="the retailer's id (`tenant list`)"
    )
    p.add_argument("name", help="the store's name, e.g. 'Tverskaya 7'")
    p.add_argument("--region", help="the store's region, e.g. 'Москва' (users can be scoped to regions)")
    json_flag(p)
    p = add("region", cmd_store_region, "set or clear a store's region", store)
    p.add_argument("--store", type=int, required=True, metavar="ID", help="the store's id (`store list`)")
    p.add_argument("--region", default="", help="the region; empty clears it")
    json_flag(p)
    p = add(
        "channel",
        cmd_store_channel,
        "put stores on an update channel (beta: the few stores that get a release first)",
        store,
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = (
        "Put stores on an update channel of the packaged agent: stable (every store, the default) or beta "
        "(the pilot stores that get a release first). Their registers follow it from their next heartbeat "
        "(docs/updates.md)."
    )
    p.epilog = (
        "examples:\n"
        "  echeck-cloud store channel --tenant 1 --store 12 --store 14 --channel beta   # two pilot stores\n"
        "  echeck-cloud store channel --tenant 1 --region 'Казань' --channel beta       # a whole region\n"
        "  echeck-cloud store channel --tenant 1 --store 12 --channel stable            # back to stable"
    )
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    p.add_argument("--channel", required=True, choices=UPDATE_CHANNELS, help="stable or beta")
    p.add_argument("--store", type=int, action="append", metavar="ID", help="a store's id; repeatable")
    p.add_argument("--region", help="every store of this region instead")
    json_flag(p)
    p = add("set", cmd_store_set, "set what the e-receipt page prints about the store", store)
    p.add_argument("--store", type=int, required=True, metavar="ID", help="the store's id (`store list`)")
    p.add_argument("--address", help="the store's address as the receipt prints it")
    p.add_argument("--place", help="place of settlement (e.g. the store's name and address, or a site)")
    p.add_argument("--time-zone", help="IANA time zone the page shows times in, e.g. 'Asia/Yekaterinburg'")
    json_flag(p)
    p = add("list", cmd_store_list, "list a retailer's stores and their registers' last contact", store)
    p.add_argument(
        "--tenant", type=int, required=True, metavar="ID", help="the retailer's id (`tenant list`)"
    )
    json_flag(p)

    p = add("enroll-code", cmd_enroll_code, "issue a one-time code that enrolls one register into a store")
    p.add_argument("--store", type=int, required=True, metavar="ID", help="the store's id (`store list`)")
    p.add_argument(
        "--ttl-hours",
        type=float,
        default=DEFAULT_ENROLL_TTL_HOURS,
        help="how long the code stays valid (default %(default)s hours)",
    )
    json_flag(p)
    delivery_cli.add_commands(sub, add, json_flag)
    privacy_cli.add_commands(sub, add, json_flag)
    promo_cli.add_commands(sub, add, json_flag)
    tracking_cli.add_commands(sub, add, json_flag)
    identity_cli.add_commands(sub, add, json_flag)
    attribution_cli.add_commands(sub, add, json_flag)
    reports_cli.add_commands(sub, add, json_flag)

    p = sub.add_parser(
        "worker",
        aliases=["delivery-worker"],
        help="run a job worker: delivery and all background work (any number, on PostgreSQL)",
        description="run a job worker: delivery and all background work (any number, on PostgreSQL; "
        "`serve` runs one inside the app unless --no-worker)",
    )
    p.set_defaults(handler=cmd_worker)
    p.add_argument("--public-url", help=f"base of e-receipt links (env {PUBLIC_URL_ENV})")
    p.add_argument("--concurrency", type=int, default=16, help="jobs running at once (default 16)")
    p.add_argument(
        "--lease",
        type=float,
        default=60.0,
        help="seconds a claimed job stays ours before another worker retries it (default 60)",
    )
    p.add_argument("--poll", type=float, default=0.2, help="seconds between looks when idle (default 0.2)")
    p.add_argument("--name", default="jobs", help="shown in logs")
    accounts_cli.add_commands(sub, add, json_flag)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        verbose = args.command in ("serve", "worker", "delivery-worker")
        configure_logging(args.log_level if verbose else "warning", args.log_format)
        args.handler(args)
    except CloudError as exc:  # something the operator must fix: one line
        print(f"echeck-cloud: {exc.detail}", file=sys.stderr)
        return 1
    except (privacy_cli.PrivacyCliError, IdentityKeyError) as exc:
        print(f"echeck-cloud: {exc}", file=sys.stderr)
        return 1
    except sa.exc.ArgumentError as exc:
        print(f"echeck-cloud: bad --database-url: {exc}", file=sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"echeck-cloud: database error at {_safe_url(args.database_url)}: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the operator gets one line; developers rerun with --log-level debug
        print(f"echeck-cloud: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
