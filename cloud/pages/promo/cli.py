"""`echeck-cloud promo` commands for head office (run on the server): set, list, stop, resume, stats.

`cloud/cli.py` registers them with `add_commands`; refusals are the cloud's errors (`cloud.errors`),
printed as one line (e.g. a rule whose code space is too small says the length it needs).
"""

import argparse
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from cloud.accounts.audit import CLI
from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.db.types import utcnow
from cloud.pages.promo import rules, service, stats
from cloud.pages.promo.models import PromoRule


def _session(args: argparse.Namespace) -> Session:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    return Session(engine)


def _doc(row: PromoRule) -> dict[str, Any]:
    rule = service.rule_of(row)
    return {
        "name": row.name,
        "active": row.active,
        "headline": rule.title(),
        "percent": row.percent,
        "amount": row.amount,
        "categories": list(rule.categories),
        "valid_days": row.valid_days,
        "start_delay_h": row.start_delay_h,
        "remind_before_h": row.remind_before_h,
        "length": row.length,
        "alphabet": row.alphabet,
        "planned_codes": row.planned_codes,
    }


def _show(args: argparse.Namespace, rows: list[PromoRule]) -> None:
    docs = [_doc(r) for r in rows]
    if args.json:
        print(json.dumps(docs if len(docs) != 1 else docs[0], ensure_ascii=False))
        return
    for d in docs:
        state = "on " if d["active"] else "off"
        remind = f"напоминание за {d['remind_before_h']} ч" if d["remind_before_h"] else "без напоминания"
        cats = ", ".join(d["categories"]) or "все категории"
        print(
            f"{d['name']:<16} {state} {d['headline']}; {d['valid_days']} дн., "
            f"с отсрочкой {d['start_delay_h']} ч; {remind}; {cats}; "
            f"код {d['length']} симв. из {len(d['alphabet'])}"
        )
    if not docs:
        print("правил нет: `echeck-cloud promo set --tenant ID NAME --percent 10`")


def cmd_set(args: argparse.Namespace) -> None:
    with _session(args) as s:
        stored = next((r for r in service.list_rules(s, args.tenant) if r.name == args.name.strip()), None)
        current = service.rule_of(stored) if stored else rules.Rule(name=args.name)  # new: the defaults
        percent, amount = current.percent, current.amount
        if args.percent is not None:
            percent, amount = args.percent, None
        if args.amount is not None:
            percent, amount = None, round(args.amount * 100)
        given = {
            "headline": args.headline,
            "valid_days": args.valid_days,
            "start_delay_h": args.start_delay_h,
            "length": args.length,
            "alphabet": args.alphabet,
            "planned_codes": args.planned_codes,
        }
        values = {k: v for k, v in given.items() if v is not None}
        categories = tuple(args.category) if args.category is not None else current.categories
        remind = current.remind_before_h
        if args.remind_before_h is not None:
            remind = args.remind_before_h or None  # 0: no reminder
        rule = rules.Rule(
            name=args.name,
            percent=percent,
            amount=amount,
            headline=values.get("headline", current.headline),
            categories=categories,
            valid_days=values.get("valid_days", current.valid_days),
            start_delay_h=values.get("start_delay_h", current.start_delay_h),
            remind_before_h=remind,
            length=values.get("length", current.length),
            alphabet=values.get("alphabet", current.alphabet),
            planned_codes=values.get("planned_codes", current.planned_codes),
            active=current.active,
        )
        row = service.save_rule(s, args.tenant, rule, CLI, utcnow())
        _show(args, [row])


def cmd_list(args: argparse.Namespace) -> None:
    with _session(args) as s:
        _show(args, service.list_rules(s, args.tenant))


def _activity(active: bool) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        with _session(args) as s:
            _show(args, [service.set_active(s, args.tenant, args.name, active, CLI, utcnow())])

    return run


def cmd_stats(args: argparse.Namespace) -> None:
    with _session(args) as s:
        found = stats.per_rule(s, args.tenant, None)
    docs: list[dict[str, Any]] = [
        {
            "rule": r.rule,
            "issued": r.issued,
            "redeemed": r.redeemed,
            "rate": round(r.rate, 4),
            "reminded": r.reminded,
        }
        for r in found
    ]
    if args.json:
        print(json.dumps(docs, ensure_ascii=False))
        return
    for d in docs:
        print(
            f"{d['rule']:<16} выдано {d['issued']}, погашено {d['redeemed']} ({d['rate'] * 100:.1f} %), "
            f"напоминаний {d['reminded']}"
        )


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    promo = sub.add_parser(
        "promo",
        help="a retailer's promo code rules and their numbers",
        description="A retailer's promo code rules: the e-receipt page's promo block issues one code per "
        "buyer and receipt by the rule it names (docs/promo.md).",
        epilog="examples:\n"
        "  echeck-cloud promo set next10 --tenant 1 --percent 10 --valid-days 14\n"
        "  echeck-cloud promo set coffee500 --tenant 1 --amount 500 --category coffee --start-delay-h 24\n"
        "  echeck-cloud promo list --tenant 1\n"
        "  echeck-cloud promo stop next10 --tenant 1     # issued codes stay valid\n"
        "  echeck-cloud promo stats --tenant 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="action", required=True)

    def tenant(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
        json_flag(p)

    def name(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", help="the rule's name, as the template's promo block names it, e.g. next10")

    p = add("set", cmd_set, "create or change a rule (options not given keep their values)", promo)
    tenant(p)
    name(p)
    p.add_argument("--percent", type=int, help="discount in percent (1–100)")
    p.add_argument("--amount", type=float, help="discount in rubles, e.g. 500")
    p.add_argument("--headline", help="what the page shows; default: made from the discount")
    p.add_argument("--category", action="append", help="repeatable: categories the discount applies to")
    p.add_argument("--valid-days", type=int, help="days a code works (default 30)")
    p.add_argument("--start-delay-h", type=int, help="hours after issue before a code works (default 0)")
    p.add_argument("--remind-before-h", type=int, help="remind this many hours before expiry; 0: never")
    p.add_argument("--length", type=int, help=f"code length (default {rules.DEFAULT_LENGTH})")
    p.add_argument("--alphabet", help=f"code characters, no 0/O/1/I (default {rules.DEFAULT_ALPHABET})")
    p.add_argument(
        "--planned-codes",
        type=int,
        help="codes expected over the rule's life; the code space must be ≥ 10^6 × this (default 10^6)",
    )
    tenant(add("list", cmd_list, "list the rules", promo))
    for action, active, text in (
        ("stop", False, "stop issuing codes"),
        ("resume", True, "issue codes again"),
    ):
        p = add(action, _activity(active), text + " (issued codes stay valid)", promo)
        tenant(p)
        name(p)
    tenant(add("stats", cmd_stats, "codes issued and redeemed per rule", promo))
