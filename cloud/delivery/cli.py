"""`echeck-cloud` commands of delivery: channels (set, list, policy, prices, disable).

`cloud/cli.py` registers them with `add_commands`; errors are the cloud's (`cloud.errors`), printed as one
line.
"""

import argparse
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import DEFAULT_POLICY, Channel, format_policy
from cloud.delivery.prices import parse_prices
from cloud.errors import InvalidSetting


def _session(args: argparse.Namespace) -> Session:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    return Session(engine)


def _print(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, default=str))
        return
    print(f"tenant {doc['tenant_id']}: policy {doc['policy']}")
    print("prices (kopecks): " + ", ".join(f"{k} {v}" for k, v in doc["prices_kopecks"].items()))
    for name, ch in doc["channels"].items():
        state = "on " if ch["enabled"] else "off"
        print(f"  {name:<6} {state} " + " ".join(f"{k}={v}" for k, v in ch["settings"].items()))
    if not doc["channels"]:
        print("  no channels yet: `echeck-cloud channels set --tenant ID --channel sms --setting api_id=...`")


def _settings(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidSetting(f"--setting {key!r}: write KEY=VALUE")
        out[key] = value
    return out


def cmd_channels_set(args: argparse.Namespace) -> None:
    with _session(args) as s:
        delivery_config.set_channel(
            s, args.tenant, Channel(args.channel), _settings(args.setting or []), enabled=not args.disable
        )
        _print(args, delivery_config.describe(s, args.tenant))


def cmd_channels_list(args: argparse.Namespace) -> None:
    with _session(args) as s:
        _print(args, delivery_config.describe(s, args.tenant))


def cmd_channels_rekey(args: argparse.Namespace) -> None:
    with _session(args) as s:
        rows = delivery_config.reencrypt_all(s)
    print(f"{rows} channel(s) re-encrypted with the first key of ECHECK_SECRET_KEY")


def cmd_channels_policy(args: argparse.Namespace) -> None:
    with _session(args) as s:
        prices = parse_prices(args.price or [])
        delivery_config.set_policy(s, args.tenant, args.steps, prices)
        _print(args, delivery_config.describe(s, args.tenant))


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    channels = sub.add_parser(
        "channels", help="a retailer's delivery channels, policy and prices"
    ).add_subparsers(dest="action", required=True)

    def tenant(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
        json_flag(p)

    p = add("set", cmd_channels_set, "configure one channel (settings merge over the stored ones)", channels)
    tenant(p)
    p.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    p.add_argument(
        "--setting",
        action="append",
        metavar="KEY=VALUE",
        help="repeatable. email: host port sender username password starttls webhook_secret; push: base_url "
        "project_id access_token; viber: base_url auth_token sender_name; sms: base_url api_id sender "
        "callback_secret; any: timeout_s rate_per_s. Secrets are stored encrypted, shown redacted.",
    )
    p.add_argument("--disable", action="store_true", help="keep the settings but stop using the channel")
    tenant(
        add("list", cmd_channels_list, "show the policy, prices and channels (secrets redacted)", channels)
    )
    add(
        "rekey",
        cmd_channels_rekey,
        "after a key rotation: re-encrypt every credential with the first key of ECHECK_SECRET_KEY",
        channels,
    )
    p = add("policy", cmd_channels_policy, "set the cascade order, per-step deadlines and prices", channels)
    tenant(p)
    p.add_argument(
        "--steps",
        metavar="POLICY",
        help=f"channel:deadline_s[:accepted|delivered|read], comma-separated, deadlines 15–86400 s "
        f"(default {format_policy(DEFAULT_POLICY)})",
    )
    p.add_argument(
        "--price",
        action="append",
        metavar="NAME=RUBLES",
        help="repeatable: email, push, viber, sms, operator (the flat price saving is measured "
        "against), e.g. sms=1.70",
    )
