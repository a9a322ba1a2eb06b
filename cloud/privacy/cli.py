"""`echeck-cloud privacy ...`: erase a buyer, list erasures, purge old raw contacts, re-key, rotate the key.

`cloud/cli.py` registers these with `add_commands`; errors are `PrivacyCliError`, printed as one line.
"""

import argparse
import json
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.db.types import utcnow
from cloud.errors import InvalidInput
from cloud.privacy import erasure
from cloud.privacy.keys import (
    IDENTITY_KEY_ENV,
    IdentityKeyError,
    key_file,
    load_identity_keys,
    save_identity_keys,
)
from cloud.privacy.models import ErasureRequest
from cloud.privacy.retention import DEFAULT_RETENTION_DAYS, RETENTION_DAYS_ENV, purge_raw_contacts, rekey
from receipts.contact import InvalidContact, parse_contact


class PrivacyCliError(Exception):
    pass


def _session(args: argparse.Namespace) -> Session:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    return Session(engine)


def _print(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(json.dumps(doc, ensure_ascii=False, default=str) if args.json else text)


def rekey_database(database_url: str) -> int:
    """Bring every kept contact's hash to the current identity key (after an upgrade or a rotation)."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return rekey(session, load_identity_keys(database_url))
    finally:
        engine.dispose()


def cmd_erase(args: argparse.Namespace) -> None:
    try:
        contact = parse_contact(args.contact)
    except InvalidContact as exc:
        raise PrivacyCliError(f"contact: {exc}") from exc
    with _session(args) as session:
        keys = load_identity_keys(args.database_url)
        done = erasure.erase(
            session,
            keys,
            contact,
            tenant_id=args.tenant,
            requested_by=f"cli:{os.environ.get('USER', '?')}",
            reason=args.reason,
            now=utcnow(),
        )
        doc = {"id": done.id, "tenant_id": done.tenant_id, "counts": done.counts}
        counts = ", ".join(f"{k} {v}" for k, v in done.counts.items())
    where = f"tenant {args.tenant}" if args.tenant else "every tenant"
    _print(args, doc, f"erasure {doc['id']} ({where}, {contact.masked}): {counts}")


def cmd_erasures(args: argparse.Namespace) -> None:
    if args.limit < 1:  # SQLite reads LIMIT -5 as "no limit"
        raise InvalidInput("--limit must be positive")
    with _session(args) as session:
        query = select(ErasureRequest).order_by(col(ErasureRequest.id).desc()).limit(args.limit)
        if args.tenant:
            query = query.where(ErasureRequest.tenant_id == args.tenant)
        rows = [r.model_dump() for r in session.exec(query)]
    lines = [
        f"{r['id']:>6} {r['finished_at']:%Y-%m-%d %H:%M} tenant {r['tenant_id'] or '*'} {r['requested_by']} "
        f"{r['counts']}"
        for r in rows
    ]
    _print(args, rows, "\n".join(lines) or "no erasure requests yet")


def cmd_purge(args: argparse.Namespace) -> None:
    total = 0
    with _session(args) as session:
        while purged := purge_raw_contacts(session, utcnow(), timedelta(days=args.days)):
            total += purged
    _print(
        args,
        {"purged": total, "days": args.days},
        f"raw contacts cleared on {total} receipts older than {args.days:g} days (keyed hashes kept)",
    )


def cmd_rekey(args: argparse.Namespace) -> None:
    migrate(args.database_url)
    changed = rekey_database(args.database_url)
    _print(args, {"rekeyed": changed}, f"{changed} receipts re-keyed to the current identity key")


def cmd_rotate_key(args: argparse.Namespace) -> None:
    if os.environ.get(IDENTITY_KEY_ENV):
        raise PrivacyCliError(
            f"the key comes from {IDENTITY_KEY_ENV}: put a new 'vN:<base64 of 32 random bytes>' first "
            "on every host, restart, then run `echeck-cloud privacy rekey`"
        )
    path = key_file(args.database_url)
    rotated = load_identity_keys(args.database_url).rotated()
    save_identity_keys(path, rotated)
    migrate(args.database_url)
    changed = rekey_database(args.database_url)
    _print(
        args,
        {"current": rotated.current, "file": str(path), "rekeyed": changed},
        f"identity key {rotated.current} is current ({path}); {changed} receipts re-keyed; restart the "
        "cloud's processes so they hash with it",
    )


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    privacy = sub.add_parser(
        "privacy", help="buyers' personal data: erase, erasures, purge, rekey, rotate-key"
    ).add_subparsers(dest="action", required=True)
    p = add("erase", cmd_erase, "erase a buyer's contact, hashes and links; fiscal records stay", privacy)
    p.add_argument("contact", help="the buyer's phone or e-mail, as typed")
    p.add_argument("--tenant", type=int, metavar="ID", help="only this retailer (default: every retailer)")
    p.add_argument("--reason", default="", help="why (kept in the erasure log), e.g. the request's number")
    json_flag(p)
    p = add("erasures", cmd_erasures, "the erasure log, newest first (counts only, no contacts)", privacy)
    p.add_argument("--tenant", type=int, metavar="ID")
    p.add_argument("--limit", type=int, default=50)
    json_flag(p)
    days = float(os.environ.get(RETENTION_DAYS_ENV, DEFAULT_RETENTION_DAYS))
    p = add("purge", cmd_purge, "clear raw contacts of finished deliveries older than the retention", privacy)
    p.add_argument(
        "--days", type=float, default=days, help=f"retention (env {RETENTION_DAYS_ENV}; default %(default)s)"
    )
    json_flag(p)
    json_flag(add("rekey", cmd_rekey, "re-hash kept contacts with the current identity key", privacy))
    json_flag(add("rotate-key", cmd_rotate_key, "make a new identity key current and re-key", privacy))


__all__ = ["IdentityKeyError", "PrivacyCliError", "add_commands", "rekey_database"]
