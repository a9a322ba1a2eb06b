"""Head office before the trading day: a promo rule (`echeck-cloud promo set`), the shop's tracker site
(`echeck-cloud tracking site add`), the sample shop on loopback behind its `/ec/` proxy, and the e-receipt
template made in the real editor (`/admin/page`, signed in as the owner, its forms posted as a browser does):
a banner linking to the shop, a promo block showing the rule's code, the default loyalty sign-up. Then,
after the day, what it brought: sign-ups, promo codes issued and redeemed by a POS, and identity.

Everything goes through CLIs and HTTP (the demo imports none of echeck's code).
"""

import csv
import io
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table

from demo import processes as p
from demo.tour import PageVisitor, Row, TourCheckFailed, TourRun, _expect, _form_fields, _receipts
from demo.web_buyers import WebBuyers

PROMO_RULE = "next10"
BANNER_ID = "banner"
PROMO_ID = "promo"
EDITOR = "/admin/page"
UTM = "utm_source=echeck&utm_medium=ereceipt&utm_campaign=demo-banner"
BACKGROUND_WAIT_S = 180.0  # the set-up and the shop's visitors run beside other steps: waited for this long
IDENTITY_WAIT_S = 20.0  # identity links in the cloud's job worker: wait this long at most for it


@dataclass
class Marketing:
    """What head office set up before the day, for the buyers and the figures after it."""

    shop_url: str
    site_key: str
    template_version: int
    blocks: list[str]
    rows: list[Row] = field(default_factory=list)


def shop_service(shop_port: int, cloud_url: str, site_key: str, log_path: Path) -> p.Service:
    """`python -m fakes.shop`: the pet shop with the tracker, forwarding `/ec/` to the cloud's collector."""
    args = [
        sys.executable,
        "-m",
        "fakes.shop",
        "--port",
        str(shop_port),
        "--proxy-target",
        f"{cloud_url}/t/{site_key}/",
    ]
    return p.Service("sample shop", args, f"http://127.0.0.1:{shop_port}", log_path)


def promo_rule(database_url: str, tenant_id: int) -> dict[str, Any]:
    return p.run_json(
        [
            *p.cloud_cli(database_url),
            "promo",
            "set",
            "--tenant",
            str(tenant_id),
            PROMO_RULE,
            "--percent",
            "10",
            "--valid-days",
            "14",
            "--json",
        ]
    )


def tracker_site(database_url: str, tenant_id: int, origin: str) -> dict[str, Any]:
    return p.run_json(
        [
            *p.cloud_cli(database_url),
            "tracking",
            "site",
            "add",
            "--tenant",
            str(tenant_id),
            "--origin",
            origin,
            "--json",
        ]
    )


_PREVIEW = re.compile(r"/admin/page/preview/(\d+)")
_BLOCK_ROW = re.compile(r'action="/admin/page/blocks/([a-z0-9-]+)"|href="/admin/page/blocks/([a-z0-9-]+)"')


def _post_form(
    browser: httpx.Client, page_path: str, action: str, fields: dict[str, str], status: int
) -> None:
    page = _expect(browser.get(page_path), 200, f"GET {page_path}")
    sent = browser.post(action, data={**_form_fields(page.text, action), **fields})
    _expect(sent, status, f"POST {action}")


def edit_template(
    cloud_url: str, owner: tuple[str, str], shop_url: str, *, promo: bool = True
) -> tuple[int, list[str]]:
    """The owner signs in, adds a banner (and a promo block of `PROMO_RULE`, which must exist), fills them
    in, moves the banner up under the receipt, and publishes the draft; returns the published version's id
    and the page's block ids."""
    with httpx.Client(base_url=cloud_url, timeout=30) as browser:
        form = _expect(browser.get("/login"), 200, "GET /login")
        login = {**_form_fields(form.text, "/login"), "email": owner[0], "password": owner[1]}
        _expect(browser.post("/login", data=login), 303, "POST /login")
        for kind in (BANNER_ID, PROMO_ID) if promo else (BANNER_ID,):
            _post_form(browser, EDITOR, f"{EDITOR}/add", {"type": kind}, 303)
        banner = {
            "s.headline": "Всё для питомцев — в нашем интернет-магазине",
            "s.text": "Корма и игрушки с доставкой завтра. Спасибо, что вы с {{ seller }}!",
            "s.link": f"{shop_url}/catalog?{UTM}",
            "s.button": "В магазин",
            "holdout": "0",
            "rules": "0",
        }
        block_page = f"{EDITOR}/blocks/{BANNER_ID}"
        _post_form(browser, block_page, block_page, banner, 303)
        if promo:
            code = {
                "s.rule_name": PROMO_RULE,
                "s.headline": "",
                "s.text": "Покажите код на кассе при следующей покупке.",
                "holdout": "0",
                "rules": "0",
            }
            block_page = f"{EDITOR}/blocks/{PROMO_ID}"
            _post_form(browser, block_page, block_page, code, 303)
        for _ in range(3):  # above loyalty, profile and survey: right under the receipt's QR
            moved = {"block": BANNER_ID, "dir": "up"}
            _post_form(browser, EDITOR, f"{EDITOR}/move", moved, 303)  # the form's CSRF is the session's
        page = _expect(browser.get(EDITOR), 200, f"GET {EDITOR}")
        found = _PREVIEW.search(page.text)
        if found is None:
            raise TourCheckFailed("the editor shows no draft to publish")
        version = int(found.group(1))
        fields = {**_form_fields(page.text, f"{EDITOR}/publish"), "version": str(version)}
        published = _expect(browser.post(f"{EDITOR}/publish", data=fields), 200, f"POST {EDITOR}/publish")
        if "Опубликовано" not in published.text:
            raise TourCheckFailed("the editor did not say the version was published")
        blocks = list(dict.fromkeys(a or b for a, b in _BLOCK_ROW.findall(published.text)))
    return version, blocks


def set_up(
    database_url: str,
    tenant_id: int,
    cloud_url: str,
    owner: tuple[str, str],
    logs: Path,
    services: list[p.Service],
) -> Marketing:
    """Before the trading day: the promo rule, the tracker's site, the shop, the template."""
    started = time.monotonic()
    shop_port = p.free_port()
    shop_url = f"http://127.0.0.1:{shop_port}"
    with ThreadPoolExecutor(2) as pool:  # two CLIs, each a second or more of start-up: side by side
        making_rule = pool.submit(promo_rule, database_url, tenant_id)
        site = tracker_site(database_url, tenant_id, shop_url)
        rule = making_rule.result()
    services.append(
        shop_service(shop_port, cloud_url, site["site_key"], logs / "shop.log").start(wait_path="/")
    )
    version, blocks = edit_template(cloud_url, owner, shop_url)
    made = Marketing(shop_url, site["site_key"], version, blocks)
    made.rows = [
        (
            f"promo rule {rule['name']} (echeck-cloud promo set)",
            f"−{rule['percent']} %, {rule['valid_days']} days",
        ),
        ("tracker site (echeck-cloud tracking site add)", f"{site['site_key'][:8]}…, origin {shop_url}"),
        ("e-receipt template (the editor)", f"version #{version} published: {', '.join(blocks)}"),
        ("  set up in", f"{time.monotonic() - started:.1f} s"),
    ]
    return made


# -- after the day: sign-ups, promo codes at the till, identity ---------------------------------------------


def signups(cloud_url: str, api_key: str) -> int:
    """Loyalty sign-ups as the CRM export lists them (`GET /v1/pages/answers.csv`)."""
    answer = httpx.get(
        f"{cloud_url}/v1/pages/answers.csv", headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )
    rows = csv.DictReader(io.StringIO(_expect(answer, 200, "GET /v1/pages/answers.csv").text))
    return sum(1 for row in rows if row["kind"] == "loyalty" and row["field"] == "signup")


def redeem_codes(
    cloud_url: str, api_key: str, store_id: int, register_id: int, codes: list[str], share: float = 0.4
) -> list[Row]:
    """A POS redeems some of the codes buyers saw (`POST /v1/promo/redeem`); a retry is replayed, a second
    purchase with the same code is refused; then head office's figures (`GET /v1/promo/stats`)."""
    auth = {"Authorization": f"Bearer {api_key}"}
    used = codes[: max(1, round(len(codes) * share))] if codes else []
    with httpx.Client(base_url=cloud_url, headers=auth, timeout=30) as pos:

        def redeem(n: int, code: str, key: str) -> httpx.Response:
            body = {
                "code": code,
                "store_id": store_id,
                "register_id": register_id,
                "purchase": f"POS-{register_id}/{900000 + n}",
                "idempotency_key": key,
            }
            return pos.post("/v1/promo/redeem", json=body)

        for n, code in enumerate(used):
            _expect(redeem(n, code, f"demo-redeem-{n:06d}"), 200, f"redeeming code {n + 1}")
        extra = []
        if used:
            replay = _expect(redeem(0, used[0], "demo-redeem-000000"), 200, "a retried redemption").json()
            again = redeem(1, used[0], "demo-redeem-again")
            _expect(again, 409, "a second purchase with a redeemed code")
            extra = [
                (
                    "  retry / second use of a code",
                    f"replayed {str(replay.get('replayed')).lower()} / "
                    f"{again.status_code} {again.json()['code']}",
                )
            ]
        stats = _expect(pos.get("/v1/promo/stats"), 200, "GET /v1/promo/stats").json()
    rule = next((r for r in stats["rules"] if r["rule"] == PROMO_RULE), None)
    if rule is None:
        raise TourCheckFailed(f"/v1/promo/stats has no rule {PROMO_RULE}")
    if rule["redeemed"] != len(used):
        raise TourCheckFailed(f"{len(used)} codes redeemed at the till, the stats say {rule['redeemed']}")
    return [
        (
            f"promo {PROMO_RULE}: issued / redeemed",
            f"{rule['issued']} / {rule['redeemed']} ({rule['redemption_rate']:.0%}), "
            f"{len(codes)} seen by a person",
        ),
        *extra,
    ]


def _profile_of(client: httpx.Client, receipt_id: int) -> int | None:
    answer = client.get(f"/v1/identity/receipts/{receipt_id}/profile")
    if answer.status_code == 404:
        return None
    return int(_expect(answer, 200, "GET /v1/identity/receipts/{id}/profile").json()["profile_id"])


def _web_history(client: httpx.Client, profile_id: int, shop_url: str) -> bool:
    doc = _expect(client.get(f"/v1/identity/profiles/{profile_id}"), 200, "GET /v1/identity/profiles/{id}")
    return any((e.get("url") or "").startswith(shop_url) for e in doc.json()["events"])


def identity_figures(
    cloud_url: str, api_key: str, receipt_ids: list[int], expected: list[int], shop_url: str
) -> list[Row]:
    """Per receipt of the day, its buyer's profile (`GET /v1/identity/receipts/{id}/profile`) and whether
    that profile holds a visit of the shop (`GET /v1/identity/profiles/{id}`). Identity links in the cloud's
    job worker: first wait (bounded) until the receipts of buyers who identified themselves on the shop
    show their visits."""
    auth = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=cloud_url, headers=auth, timeout=30) as client, ThreadPoolExecutor(6) as pool:

        def linked(receipt_id: int) -> bool:
            profile = _profile_of(client, receipt_id)
            return profile is not None and _web_history(client, profile, shop_url)

        started = time.monotonic()
        sample = expected[:20]
        waiting = sample
        while waiting and time.monotonic() - started < IDENTITY_WAIT_S:
            waiting = [r for r, ok in zip(waiting, pool.map(linked, waiting), strict=True) if not ok]
            if waiting:
                time.sleep(0.5)
        waited = time.monotonic() - started
        if waiting:
            raise TourCheckFailed(
                f"{len(waiting)} of {len(sample)} receipts of shop visitors who gave their contact have no "
                f"web history in their profile after {IDENTITY_WAIT_S:.0f} s"
            )
        scan = time.monotonic()
        profiles = dict(
            zip(receipt_ids, pool.map(lambda r: _profile_of(client, r), receipt_ids), strict=True)
        )
        distinct = sorted({pid for pid in profiles.values() if pid is not None})
        web = dict(
            zip(distinct, pool.map(lambda pid: _web_history(client, pid, shop_url), distinct), strict=True)
        )
        scanned = time.monotonic() - scan
    known = {r: pid for r, pid in profiles.items() if pid is not None}
    with_web = [r for r, pid in known.items() if web[pid]]
    total = len(receipt_ids) or 1
    rows = [
        (
            "buyer profiles among the day's receipts",
            f"{len(distinct)} ({len(known)} receipts with a buyer), read in {scanned:.1f} s",
        ),
        (
            "receipts whose buyer has web history",
            f"{len(with_web)} of {len(receipt_ids)} ({len(with_web) / total:.0%}), "
            f"linked in ≤ {waited:.1f} s",
        ),
    ]
    if with_web:
        rows.append((IDENTITY_LINK, f"{cloud_url}/identity?receipt={with_web[0]}"))
    return rows


IDENTITY_LINK = "a buyer's profile"


class Campaign:
    """The marketing side of the tour, as checks of its own run (a failed one fails the tour, exit 3):
    head office's set-up before the day, the shop's visitors, what the pages brought, identity."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.run = TourRun()
        self.setup: Marketing | None = None
        self.web: WebBuyers | None = None
        self._thread: threading.Thread | None = None

    def start_set_up(
        self,
        database_url: str,
        tenant_id: int,
        cloud_url: str,
        owner: tuple[str, str],
        logs: Path,
        services: list[p.Service],
    ) -> None:
        """Head office's set-up in a thread of its own, while the register is enrolled and the agent starts
        (both mostly wait for CLIs): `wait_set_up` joins it."""

        def made() -> list[Row]:
            self.setup = set_up(database_url, tenant_id, cloud_url, owner, logs, services)
            self.web = WebBuyers(self.setup.shop_url, self.seed)
            return self.setup.rows

        self._in_background("head office's template, promo rule, tracker", made)

    def wait_set_up(self) -> None:
        self._join("head office's template, promo rule, tracker")

    def start_browsing(self, cloud_url: str, api_key: str, store_id: int) -> None:
        """The day's buyers who visited the shop before their purchase (dated so), in a thread while the
        e-receipts go out and the tour's first checks run; `before_pages` joins it."""
        if self.web is not None:
            web = self.web
            self._in_background(
                "shop visitors before the purchase",
                lambda: web.browse_before_purchase(list(_receipts(cloud_url, api_key, store_id))),
            )

    def before_pages(self) -> None:
        self._join("shop visitors before the purchase")

    def _in_background(self, name: str, step: Callable[[], list[Row]]) -> None:
        def run() -> None:
            try:
                self.run.check(name, step)
            except Exception as exc:  # a thread's surprise must reach the summary, not stderr
                self.run.failed.append((name, f"{type(exc).__name__}: {exc}"))
                self.run.rows.append((name, "FAILED (see below)"))

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def _join(self, name: str) -> None:
        if self._thread is None:
            return
        self._thread.join(BACKGROUND_WAIT_S)
        if self._thread.is_alive():
            self.run.failed.append((name, f"not done after {BACKGROUND_WAIT_S:.0f} s"))
            self.run.rows.append((name, "FAILED (see below)"))
            self.setup = self.web = None  # what follows it is skipped
        self._thread = None

    @property
    def visitor(self) -> PageVisitor | None:
        return self.web.on_page if self.web is not None else None

    def after_pages(self, cloud_url: str, api_key: str, store_id: int, register_id: int) -> None:
        web = self.web
        if web is None or self.setup is None:
            return
        shop_url = self.setup.shop_url

        def pages() -> list[Row]:
            signed = signups(cloud_url, api_key)
            if signed != web.signups:
                raise TourCheckFailed(
                    f"{web.signups} buyers signed up on their pages, the CRM export has {signed}"
                )
            return [
                ("banner clicks landed on the shop (ec_click)", str(web.landings)),
                ("loyalty sign-ups on the page (CRM export)", f"{signed} (forms posted {web.signups})"),
            ]

        self.run.check("what the pages brought", pages)
        codes = list(web.promo_codes.values())
        self.run.check(
            "promo codes at the till", lambda: redeem_codes(cloud_url, api_key, store_id, register_id, codes)
        )

        def identity() -> list[Row]:
            receipt_ids = [int(r["id"]) for r in _receipts(cloud_url, api_key, store_id)]
            rows = identity_figures(cloud_url, api_key, receipt_ids, web.identified_receipts, shop_url)
            t = web.tally
            return [*rows, ("collector: events stored / sent (all visits)", f"{t.stored} / {t.sent}")]

        self.run.check("identity", identity)

    def table(self, cloud_url: str) -> tuple[Table, list[str]]:
        """The summary table, and the links printed whole under it."""
        table = Table(
            title="marketing: the template, the shop's visitors, promo codes, identity",
            show_header=False,
            title_justify="left",
        )
        table.add_column(style="bold")
        table.add_column(justify="right")
        links = [f"  template editor     {cloud_url}{EDITOR}"]
        if self.setup is not None:
            links.append(f"  sample shop         {self.setup.shop_url}/")
        for label, value in self.run.rows:
            if label == IDENTITY_LINK:
                links.append(f"  a buyer's profile   {value}")
            else:
                table.add_row(label, value, style="red" if value.startswith("FAILED") else None)
        table.add_row("time of these steps (some beside others)", f"{self.run.seconds:.1f} s")
        return table, links
