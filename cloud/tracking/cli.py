"""`echeck-cloud tracking site add|remove|show`: a retailer's site for the tracker (key and origins)."""

import argparse
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from cloud.accounts import tenants
from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.tracking import sites


def _session(args: argparse.Namespace) -> Session:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    return Session(engine)


def _print(args: argparse.Namespace, site: sites.Site) -> None:
    doc = {
        "tenant_id": site.tenant_id,
        "site_key": site.site_key,
        "origins": list(site.origins),
        "script_path": f"/t/{site.site_key}/t.js",
        "collect_path": f"/t/{site.site_key}/collect",
    }
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return
    print(f"site {site.site_key} of tenant {site.tenant_id}: origins {', '.join(site.origins) or '(none)'}")
    print("add to every page of the site (docs/tracking.md):")
    print("  <script>window.ec=window.ec||function(){(ec.q=ec.q||[]).push(arguments)};</script>")
    print(f'  <script async src="https://CLOUD{doc["script_path"]}"></script>')


def cmd_site_add(args: argparse.Namespace) -> None:
    with _session(args) as session:
        tenants.get_tenant(session, args.tenant)
        site = None
        for origin in args.origin:
            site = sites.add_origin(session, args.tenant, origin)
        assert site is not None
    _print(args, site)


def cmd_site_remove(args: argparse.Namespace) -> None:
    with _session(args) as session:
        site = sites.remove_origin(session, args.tenant, args.origin)
    _print(args, site)


def cmd_site_show(args: argparse.Namespace) -> None:
    with _session(args) as session:
        site = sites.tenant_site(session, args.tenant)
    _print(args, site)


SITE_EPILOG = """\
examples:
  echeck-cloud tracking site add --tenant 1 --origin https://shop.example --origin https://www.shop.example
  echeck-cloud tracking site show --tenant 1      # the key and the <script> snippet for every page
  echeck-cloud tracking site remove --tenant 1 --origin https://old.shop.example"""


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    tracking = sub.add_parser(
        "tracking",
        help="the retailer-site tracker: sites and their origins",
        description="The retailer-site tracker (docs/tracking.md): a tenant's site has a key (in the "
        "script's address) and the origins allowed to send events.",
        epilog=SITE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    site = tracking.add_subparsers(dest="what", required=True).add_parser(
        "site",
        help="a tenant's tracked site: add, remove, show",
        description="a tenant's tracked site: its key and the origins allowed to send events",
        epilog=SITE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = site.add_subparsers(dest="action", required=True)
    p = add(
        "add", cmd_site_add, "allow origins to send events (makes the site and its key on first use)", actions
    )
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    p.add_argument("--origin", action="append", required=True, help="https://shop.example (repeatable)")
    json_flag(p)
    p = add("remove", cmd_site_remove, "stop accepting events from an origin", actions)
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    p.add_argument("--origin", required=True, help="the origin to remove, e.g. https://shop.example")
    json_flag(p)
    p = add("show", cmd_site_show, "the site key, origins and the snippet to install", actions)
    p.add_argument("--tenant", type=int, required=True, metavar="ID", help="the retailer's id")
    json_flag(p)
