"""`echeck-cloud identity rebuild | block list|add|remove | release`: repair the graph, the tenant's own
values that never link, and lifting a quarantine (docs/identity.md)."""

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlmodel import Session

from cloud.accounts import tenants
from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.db.types import utcnow
from cloud.identity import service
from cloud.identity.rebuild import rebuild
from cloud.privacy.keys import load_identity_keys


def cmd_rebuild(args: argparse.Namespace) -> None:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    try:
        done = rebuild(engine, utcnow(), by="cli")
    finally:
        engine.dispose()
    doc = {**asdict(done), "seconds": round(done.seconds, 3)}
    if args.json:
        print(json.dumps(doc))
    else:
        print(
            f"rebuilt {done.profiles} profiles of {done.nodes} identifiers from {done.edges} links "
            f"in {done.seconds:.1f} s; {done.changed} identifiers changed profile"
        )


def _with_session(args: argparse.Namespace, work: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    try:
        with Session(engine) as session:
            tenants.get_tenant(session, args.tenant)
            return work(session)
    finally:
        engine.dispose()


def _print_blocked(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return
    rows = doc["blocked"]
    if not rows:
        print(f"tenant {args.tenant}: nothing blocked")
    for row in rows:
        since = row["added_at"][:16].replace("T", " ")
        print(f"{row['kind']:<6} {row['hash']}  {row['note']}  (since {since})")


def cmd_block_list(args: argparse.Namespace) -> None:
    _print_blocked(args, _with_session(args, lambda s: service.blocked_document(s, args.tenant)))


def cmd_block_add(args: argparse.Namespace) -> None:
    keys = load_identity_keys(args.database_url)
    doc = _with_session(
        args, lambda s: service.block(s, keys, args.tenant, args.kind, args.value, args.note, utcnow())
    )
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        print(f"blocked {doc['kind']} {doc['note']} (hash {doc['hash']}): it links nothing from now on")


def cmd_block_remove(args: argparse.Namespace) -> None:
    doc = _with_session(args, lambda s: service.unblock(s, args.tenant, args.kind, args.hash))
    if args.json:
        print(json.dumps(doc))
    else:
        print(f"unblocked {doc['kind']} {doc['hash']}")


def cmd_release(args: argparse.Namespace) -> None:
    doc = _with_session(
        args, lambda s: service.release(s, args.tenant, args.identifier, f"cli:{args.by}", utcnow())
    )
    if args.json:
        print(json.dumps(doc))
    else:
        print(
            f"identifier {doc['node_id']} released for tenant {args.tenant}: its links there merge again "
            f"(profile {doc['profile_id']})"
        )


BLOCK_EPILOG = """\
examples:
  echeck-cloud identity block add --tenant 1 --kind phone --value '8 (495) 123-45-67' --note 'касса 1'
  echeck-cloud identity block add --tenant 1 --kind email --value shop@example.ru
  echeck-cloud identity block list --tenant 1
  echeck-cloud identity block remove --tenant 1 --kind phone --hash <hash from the list>

A blocked value is stored only as its keyed hash; only observations after the block are refused (a link it
made before stays: split it on the /identity page or with POST /v1/identity/links/{id}/split)."""


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    parser = sub.add_parser(
        "identity",
        help="the identity graph: rebuild, blocked values, quarantine release",
        description="the identity graph (docs/identity.md): rebuild the profiles, a retailer's blocked "
        "values (its own shop phone or e-mail that must never link buyers), lift a quarantine",
    )
    identity = parser.add_subparsers(dest="action", required=True)
    json_flag(add("rebuild", cmd_rebuild, "recompute every profile from the links (repair)", identity))

    block = identity.add_parser(
        "block",
        help="a retailer's own values that never link buyers: list, add, remove",
        description="a retailer's own values (the shop's phone typed on receipts, its e-mail, a test card) "
        "that never link two buyers",
        epilog=BLOCK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = block.add_subparsers(dest="block_action", required=True)
    p = add("list", cmd_block_list, "the retailer's blocked values (kind, hash, note)", actions)
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    json_flag(p)
    p = add("add", cmd_block_add, "block a value: normalized, hashed, never stored raw", actions)
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    p.add_argument("--kind", required=True, choices=service.BLOCKABLE)
    p.add_argument("--value", required=True, help="the phone, e-mail or card number as written")
    p.add_argument("--note", default="", help="what it is (default: the masked value)")
    json_flag(p)
    p = add("remove", cmd_block_remove, "unblock a value by the hash `block list` shows", actions)
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    p.add_argument("--kind", required=True, choices=service.BLOCKABLE)
    p.add_argument("--hash", required=True, help="the value's hash, from `block list`")
    json_flag(p)

    p = add(
        "release",
        cmd_release,
        "lift the quarantine of an identifier the retailer observed, for that retailer only",
        identity,
    )
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    p.add_argument(
        "--identifier", type=int, required=True, metavar="ID", help="the identifier's id (/identity page)"
    )
    p.add_argument("--by", default="operator", help="who releases it, for the merge log")
    json_flag(p)
