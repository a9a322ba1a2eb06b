"""`echeck-cloud` commands of accounts: users (add, invite, list, revoke-sessions, disable), API keys
(add, list, rotate, revoke), registers (rotate, revoke) and the audit log.

Run on the server by its operator: the audit log names the actor `cli`. Secrets (passwords, keys,
invitation links, codes) are printed once and never logged.
"""

import argparse
import json
import secrets
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from cloud.accounts import api_keys, audit, register_credentials, tenants, users
from cloud.accounts.models import Register
from cloud.accounts.roles import Role, parse_role
from cloud.accounts.scope import StoreScope
from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.errors import InvalidInput, NotFound
from cloud.fleet import enrollment
from cloud.settings import DEFAULT_ENROLL_TTL_HOURS, DEFAULT_PUBLIC_URL, PUBLIC_URL_ENV, load_settings

Add = Callable[..., Any]


def _session(args: argparse.Namespace) -> Session:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    return Session(engine)


def _out(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    print(json.dumps(doc, ensure_ascii=False, default=str) if args.json else text)


def _role(value: str) -> Role:
    try:
        return parse_role(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _scope(args: argparse.Namespace) -> StoreScope:
    return StoreScope.of(args.store or [], args.region or [])


def generated_password() -> str:
    """16 URL-safe characters (~96 bits): what `user add` prints when no password is given."""
    return secrets.token_urlsafe(12)


def cmd_user_add(args: argparse.Namespace) -> None:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else generated_password()
    with _session(args) as session:
        tenants.get_tenant(session, args.tenant)
        user = users.add_user(
            session, args.tenant, args.email, password, _role(args.role), _scope(args), actor=audit.CLI
        )
        doc: dict[str, Any] = {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "tenant_id": user.tenant_id,
        }
    if not args.password_stdin:
        doc["password"] = password
    shown = "" if args.password_stdin else f"\npassword (shown once): {password}"
    _out(
        args,
        doc,
        f"user {doc['id']} {doc['email']} ({Role(doc['role']).label}) of tenant {args.tenant}{shown}",
    )


def _link_base(args: argparse.Namespace) -> str:
    """The cloud's address for a link; the built-in default is said, as no invitee can open it elsewhere."""
    base = args.public_url or load_settings().public_url
    if base == DEFAULT_PUBLIC_URL:
        print(
            f"echeck-cloud: warning: the link uses the default address {DEFAULT_PUBLIC_URL}: pass "
            f"--public-url (or set {PUBLIC_URL_ENV}) with the address head office opens the cloud at",
            file=sys.stderr,
        )
    return base


def cmd_user_invite(args: argparse.Namespace) -> None:
    base = _link_base(args)
    with _session(args) as session:
        tenants.get_tenant(session, args.tenant)
        issued = users.invite(
            session,
            args.tenant,
            args.email,
            _role(args.role),
            _scope(args),
            actor=audit.CLI,
            ttl=timedelta(days=args.ttl_days),
        )
        link = issued.link(base)
        doc = {
            "email": issued.invitation.email,
            "role": issued.invitation.role,
            "link": link,
            "expires_at": issued.invitation.expires_at.isoformat(),
        }
    _out(
        args,
        doc,
        f"invitation for {doc['email']} ({Role(doc['role']).label}), valid once until "
        f"{issued.invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n{link}",
    )


def cmd_user_list(args: argparse.Namespace) -> None:
    with _session(args) as session:
        rows: list[dict[str, Any]] = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "scope": users.scope_of(u).describe(),
                "disabled": u.disabled_at is not None,
            }
            for u in users.list_users(session, args.tenant)
        ]
    lines = [
        f"{r['id']:>5}  {r['email']}  {Role(r['role']).label}  ({r['scope']})"
        + ("  DISABLED" if r["disabled"] else "")
        for r in rows
    ]
    _out(args, {"users": rows}, "\n".join(lines) or "no users yet: `echeck-cloud user invite ...`")


def cmd_user_revoke_sessions(args: argparse.Namespace) -> None:
    with _session(args) as session:
        user = users.find_user(session, args.tenant, args.email)
        assert user.id is not None
        shown = users.masked(user.email)
        count = users.revoke_sessions(session, args.tenant, user.id, actor=audit.CLI)
    _out(args, {"sessions_revoked": count}, f"ended {count} session(s) of {shown}")


def cmd_user_reset_password(args: argparse.Namespace) -> None:
    base = _link_base(args)
    with _session(args) as session:
        user = users.find_user(session, args.tenant, args.email)
        assert user.id is not None
        issued = users.reset_link(session, args.tenant, user.id, actor=audit.CLI)
        link = issued.link(base)
        until = issued.invitation.expires_at
    _out(
        args,
        {"link": link, "expires_at": until.isoformat()},
        f"password link for {users.masked(args.email)}, valid once until {until:%Y-%m-%d %H:%M} UTC "
        f"(the current password works until a new one is set):\n{link}",
    )


def cmd_user_disable(args: argparse.Namespace) -> None:
    with _session(args) as session:
        user = users.find_user(session, args.tenant, args.email)
        assert user.id is not None
        shown = users.masked(user.email)
        users.disable_user(session, args.tenant, user.id, actor=audit.CLI)
    _out(args, {"disabled": True}, f"{shown} disabled; their sessions ended")


def _key_doc(key: Any, secret: str | None = None) -> dict[str, Any]:
    doc = {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes}
    if secret:
        doc["api_key"] = secret
    return doc


def cmd_key_add(args: argparse.Namespace) -> None:
    with _session(args) as session:
        tenants.get_tenant(session, args.tenant)
        key, secret = api_keys.add(session, args.tenant, args.name, args.scopes, actor=audit.CLI)
        doc = _key_doc(key, secret)
    _out(args, doc, f"api key {doc['id']} {doc['name']!r} ({doc['scopes']})\nkey (shown once): {secret}")


def cmd_key_list(args: argparse.Namespace) -> None:
    with _session(args) as session:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "scopes": ",".join(k.scopes),
                "active": k.active,
                "last_used_at": k.last_used_at,
                "expires_at": k.expires_at,
                "revoked_at": k.revoked_at,
            }
            for k in api_keys.list_keys(session, args.tenant)
        ]
    lines = [
        f"{r['id']:>5}  {r['prefix']}…  {r['scopes']:<10}  "
        f"{'active ' if r['active'] else 'revoked'}  {r['name']}"
        for r in rows
    ]
    _out(args, {"keys": rows}, "\n".join(lines) or "no keys")


def cmd_key_rotate(args: argparse.Namespace) -> None:
    with _session(args) as session:
        key, secret = api_keys.rotate(
            session, args.tenant, args.key, actor=audit.CLI, grace=timedelta(hours=args.grace_hours)
        )
        doc = _key_doc(key, secret)
    old = (
        f"the old key works for {args.grace_hours:g} more hour(s)"
        if args.grace_hours
        else "the old key is revoked"
    )
    _out(args, doc, f"api key {doc['id']} replaces key {args.key}; {old}\nkey (shown once): {secret}")


def cmd_key_revoke(args: argparse.Namespace) -> None:
    with _session(args) as session:
        key = api_keys.revoke(session, args.tenant, args.key, actor=audit.CLI)
        doc = _key_doc(key)
    _out(args, {**doc, "revoked": True}, f"api key {doc['id']} {doc['name']!r} revoked")


def _register(session: Session, register_id: int) -> Register:
    register = session.get(Register, register_id)
    if register is None:
        raise NotFound(f"register {register_id} does not exist (see `echeck-cloud store list --tenant ID`)")
    return register


def cmd_register_revoke(args: argparse.Namespace) -> None:
    with _session(args) as session:
        register = _register(session, args.register)
        register_credentials.revoke_register(session, register.tenant_id, args.register, actor=audit.CLI)
    _out(
        args,
        {"register_id": args.register, "revoked": True},
        f"register {args.register} revoked: its calls get 403 register_revoked; the agent keeps its queue. "
        f"To bring it back: `echeck-cloud register rotate --register {args.register}`",
    )


def cmd_register_rotate(args: argparse.Namespace) -> None:
    with _session(args) as session:
        register = _register(session, args.register)
        issued = enrollment.issue_rotation_code(
            session, register.tenant_id, args.register, timedelta(hours=args.ttl_hours), actor=audit.CLI
        )
    doc = {"code": issued.code, "register_id": args.register, "expires_at": issued.expires_at.isoformat()}
    _out(
        args,
        doc,
        f"re-enrollment code for register {args.register}: {issued.code}\n"
        f"valid once, until {issued.expires_at:%Y-%m-%d %H:%M} UTC; enroll the register with it: "
        "it keeps its id and its old token stops working",
    )


def cmd_audit(args: argparse.Namespace) -> None:
    if args.limit < 1:  # SQLite reads LIMIT -5 as "no limit"
        raise InvalidInput("--limit must be positive")
    with _session(args) as session:
        rows: list[dict[str, Any]] = [
            {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail or {}}
            for e in audit.entries(session, args.tenant, limit=args.limit)
        ]
    lines = [
        f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['actor']:<24} {r['action']:<24} {r['target']}"
        + ("  " + " ".join(f"{k}={v}" for k, v in r["detail"].items()) if r["detail"] else "")
        for r in rows
    ]
    _out(args, {"entries": rows}, "\n".join(lines) or "the audit log is empty")


def add_commands(sub: Any, add: Add, json_flag: Callable[[Any], None]) -> None:
    def tenant(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--tenant", type=int, required=True, metavar="ID", help="the retailer's id (`tenant list`)"
        )
        json_flag(p)

    def scope(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--region", action="append", metavar="NAME", help="limit to a region's stores (repeat)"
        )
        p.add_argument("--store", action="append", type=int, metavar="ID", help="limit to a store (repeat)")

    roles = ", ".join(r.value for r in Role)
    user = sub.add_parser("user", help="head-office users: add, invite, list, revoke-sessions, disable")
    user_sub = user.add_subparsers(dest="action", required=True)
    p = add(
        "add", cmd_user_add, "add a user with a password now (e.g. the first owner); prints it once", user_sub
    )
    tenant(p)
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, help=roles)
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (else generated)"
    )
    scope(p)
    p = add(
        "invite", cmd_user_invite, "invite a user: prints a one-time link where they set a password", user_sub
    )
    tenant(p)
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, help=roles)
    p.add_argument(
        "--ttl-days", type=float, default=7, help="how long the link works (default %(default)s days)"
    )
    p.add_argument("--public-url", help=f"the cloud's address in the link (env {PUBLIC_URL_ENV})")
    scope(p)
    tenant(add("list", cmd_user_list, "list a retailer's users", user_sub))
    p = add(
        "reset-password", cmd_user_reset_password, "print a one-time link to set a new password", user_sub
    )
    tenant(p)
    p.add_argument("--email", required=True)
    p.add_argument("--public-url", help=f"the cloud's address in the link (env {PUBLIC_URL_ENV})")
    for name, handler, help_ in (
        ("revoke-sessions", cmd_user_revoke_sessions, "sign a user out of every browser"),
        ("disable", cmd_user_disable, "disable a user (and end their sessions)"),
    ):
        p = add(name, handler, help_, user_sub)
        tenant(p)
        p.add_argument("--email", required=True)

    key = sub.add_parser("key", help="API keys of integrations: add, list, rotate, revoke")
    key_sub = key.add_subparsers(dest="action", required=True)
    p = add("add", cmd_key_add, "add an API key for one integration; prints it once", key_sub)
    tenant(p)
    p.add_argument("--name", required=True, help="what the key is for, e.g. 'mobile app backend'")
    p.add_argument("--scopes", default="read", help="'read' (default) or 'read,write'")
    tenant(add("list", cmd_key_list, "list API keys (never the keys themselves)", key_sub))
    p = add("rotate", cmd_key_rotate, "replace a key with a new one of the same name and scopes", key_sub)
    tenant(p)
    p.add_argument("--key", type=int, required=True, metavar="ID", help="the key's id (`key list`)")
    p.add_argument(
        "--grace-hours", type=float, default=0, help="keep the old key working this long (default 0)"
    )
    p = add("revoke", cmd_key_revoke, "revoke a key at once", key_sub)
    tenant(p)
    p.add_argument("--key", type=int, required=True, metavar="ID", help="the key's id (`key list`)")

    register = sub.add_parser("register", help="registers' tokens: rotate, revoke")
    register_sub = register.add_subparsers(dest="action", required=True)
    p = add(
        "revoke",
        cmd_register_revoke,
        "revoke a register's token (stolen, cloned, decommissioned)",
        register_sub,
    )
    p.add_argument("--register", type=int, required=True, metavar="ID")
    json_flag(p)
    p = add(
        "rotate",
        cmd_register_rotate,
        "issue a code that re-enrolls a register with a new token",
        register_sub,
    )
    p.add_argument("--register", type=int, required=True, metavar="ID")
    p.add_argument("--ttl-hours", type=float, default=DEFAULT_ENROLL_TTL_HOURS, help="default %(default)s")
    json_flag(p)

    p = add("audit", cmd_audit, "list the audit log of admin actions, newest first")
    tenant(p)
    p.add_argument("--limit", type=int, default=100, help="how many entries (default %(default)s)")
