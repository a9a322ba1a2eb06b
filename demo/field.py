"""The field simulator: a synthetic chain driven through the cloud's real APIs, its figures beside the truth.

Ground truth lives here: buyers with phones and e-mails, their devices (browser ids, cookie wipes), the
online sessions each had and from which channel, who is in the campaign's holdout, who bought offline and
for how much. Nothing is written into the cloud's database: registers enroll over HTTP, the site's
browsers post to the tracker's collector as `tracker.js` would (page views with utm tags and click ids;
`login` / `subscribe` / `order` with the SHA-256 of normalized contacts), receipts go through the
registers' ingest API, app installs through the push-device API, buyers open their e-receipts and click
as the page's script would. Then `echeck-cloud attribution run`, and every figure measured is read back
from the cloud's APIs (identity's profiles, attribution's summary and lift, delivery's summary).

Model of a buyer (all draws seeded):
- a CRM member (the campaign's audience, gives the loyalty phone at the till) or a walk-in (leaves a phone
  or e-mail sometimes); members are split into the campaign's treated group and a holdout never exposed;
- 1-3 devices; a session is on one of them; a cookie wipe gives the device a new browser id;
- sessions from known channels (Yandex Direct cpc with yclid, VK Ads, the e-mail newsletter, organic
  search); a session signs in / subscribes / orders with some probability (what links the browser);
- P(offline purchase) = base + the sum of the distinct channels' lifts (the campaign's are the paid ones),
  so the campaign's true effect on the treated group is known: the mean over treated buyers of P(with
  their sessions) − P(without the paid ones).

Run alone: `python -m demo.field --buyers 300` (starts its own cloud and fake providers); `echeck-demo
--field N` runs it at the end of the demo against the demo's cloud.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
import tempfile
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx

from demo import marketing
from demo import processes as p

SHOP = "https://shop.field.example"
MSK = ZoneInfo("Europe/Moscow")
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
REGISTRATION = "0001633468026797"  # the reference receipt's (receipts/examples.py); FNs differ per register
BASE_P = 0.25  # P(offline purchase) with no online session
WORKERS = 8
DWELL_S = 1.1  # how long a buyer looks at the e-receipt before the page's script reports the open


@dataclass(frozen=True)
class Channel:
    name: str
    cloud: str  # the channel the cloud should classify it as (cloud/attribution/journeys.py)
    lift: float  # what one or more sessions of it add to P(offline purchase)
    paid: bool  # part of the campaign the holdout is kept out of
    utm: dict[str, str] = field(default_factory=dict)
    referrer: str | None = None
    click_id: bool = False  # a yclid on the landing URL


CHANNELS = {
    c.name: c
    for c in (
        Channel(
            "yandex_cpc",
            "paid_search",
            0.22,
            True,
            {"source": "yandex", "medium": "cpc", "campaign": "field-winter"},
            "https://yandex.ru/",
            click_id=True,
        ),
        Channel(
            "vk_ads", "paid_social", 0.14, True, {"source": "vk", "medium": "cpc", "campaign": "field-vk"}
        ),
        Channel(
            "email",
            "email",
            0.08,
            False,
            {"source": "newsletter", "medium": "email", "campaign": "field-dec"},
        ),
        Channel("organic", "organic_search", 0.05, False, referrer="https://yandex.ru/search/?text=shop"),
    )
}


@dataclass(frozen=True)
class FieldOptions:
    buyers: int = 300
    seed: int = 2026
    stores: int = 2
    member_share: float = 0.7  # CRM members: the campaign's audience, always give their phone
    holdout_share: float = 0.3  # of members: never exposed to the paid campaign
    walk_in_contact: float = 0.55  # walk-ins who leave a phone or e-mail at the till
    identify_p: float = 0.95  # a session signs in, subscribes or orders (links its browser)
    wipe_p: float = 0.05  # a device's cookies wiped before a session
    app_p: float = 0.3  # phone buyers with the retailer's app (push)
    viber_p: float = 0.6  # phone buyers reachable on Viber
    open_p: float = 0.5  # e-receipts opened by the buyer
    click_p: float = 0.35  # of the opened: a block's link followed to the shop


@dataclass
class Session:
    channel: str
    device: int
    bid: str
    identify: str | None  # "login" / "subscribe" / "order" or None


@dataclass
class Buyer:
    n: int
    phone: str
    email: str
    member: bool
    holdout: bool
    devices: int
    sessions: list[Session]
    p_buy: float
    p_without_paid: float
    buys: bool
    revenue: int  # kopecks
    store: int
    contact: dict[str, str] | None  # what the till records
    app: bool
    viber: bool

    @property
    def touched(self) -> bool:
        return bool(self.sessions)

    def last_click_channel(self) -> str | None:
        return CHANNELS[self.sessions[-1].channel].cloud if self.sessions else None


# -- the tracker's normalization and hash (cloud/tracking/static/tracker.js) ------------------------------


def normalize_phone(raw: str) -> str | None:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", raw))
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits[0] == "9":
        digits = "7" + digits
    return digits if 10 <= len(digits) <= 15 else None


def normalize_email(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- ground truth ---------------------------------------------------------------------------------------


def draw_buyers(o: FieldOptions) -> list[Buyer]:
    rng = random.Random(o.seed)
    buyers = []
    for n in range(o.buyers):
        member = rng.random() < o.member_share
        holdout = member and rng.random() < o.holdout_share
        devices = rng.choice((1, 1, 2, 2, 3))
        wanted: list[str] = []
        if member and not holdout:
            wanted += ["yandex_cpc"] * (rng.random() < 0.45) + ["vk_ads"] * (rng.random() < 0.3)
        if member and rng.random() < 0.25:
            wanted.append("email")
        if rng.random() < 0.2:
            wanted.append("organic")
        visits = [c for c in wanted for _ in range(rng.choice((1, 2, 2, 3)))]
        rng.shuffle(visits)
        bids = [_bid(rng) for _ in range(devices)]
        sessions = []
        for channel in visits:
            device = rng.randrange(devices)
            if rng.random() < o.wipe_p:
                bids[device] = _bid(rng)
            kinds = ("login",) * 5 + ("order",) * 2 + ("subscribe",)
            identify = rng.choice(kinds) if rng.random() < o.identify_p else None
            sessions.append(Session(channel, device, bids[device], identify))
        lifts = {c: CHANNELS[c].lift for c in visits}
        p_buy = min(0.95, BASE_P + sum(lifts.values()))
        p_without = min(0.95, BASE_P + sum(v for c, v in lifts.items() if not CHANNELS[c].paid))
        buys = rng.random() < p_buy
        revenue = int(rng.lognormvariate(7.3, 0.45)) * 100  # roubles → kopecks, ~1 500 RUB median
        phone = f"79{rng.randrange(10**9):09d}"
        email = f"buyer{n}.{rng.randrange(10**6)}@field.example"
        if member:
            contact: dict[str, str] | None = {"kind": "phone", "value": phone}
        elif rng.random() < o.walk_in_contact:
            contact = (
                {"kind": "phone", "value": phone} if rng.random() < 0.6 else {"kind": "email", "value": email}
            )
        else:
            contact = None
        buyers.append(
            Buyer(
                n,
                phone,
                email,
                member,
                holdout,
                devices,
                sessions,
                p_buy,
                p_without,
                buys,
                max(revenue, 100_00),
                rng.randrange(o.stores),
                contact,
                rng.random() < o.app_p,
                rng.random() < o.viber_p,
            )
        )
    return buyers


def _bid(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}{rng.getrandbits(32):08x}"


@dataclass
class Truth:
    buyers: int
    purchases: int
    revenue: int
    with_contact: int
    browsed_with_contact: int
    ropo_share: float  # revenue with an online touch / all offline revenue
    ropo_share_contact: float  # the same among receipts that carry a contact (what the cloud can see)
    visible_share_contact: float  # of those, revenue whose buyer had a session on a browser that signed in
    by_channel: dict[str, int]  # last non-direct click revenue, over every session of every device
    treated: int
    treated_bought: int
    holdout: int
    holdout_bought: int
    effect: float  # the campaign's true effect on the treated group's purchase rate
    app: int
    viber: int


def truth_of(buyers: list[Buyer]) -> Truth:
    bought = [b for b in buyers if b.buys]
    contact = [b for b in bought if b.contact]
    revenue = sum(b.revenue for b in bought)
    crev = sum(b.revenue for b in contact)
    by_channel: Counter[str] = Counter()
    for b in bought:
        if (c := b.last_click_channel()) is not None:
            by_channel[c] += b.revenue
    treated = [b for b in buyers if b.member and not b.holdout]
    holdout = [b for b in buyers if b.holdout]
    return Truth(
        buyers=len(buyers),
        purchases=len(bought),
        revenue=revenue,
        with_contact=len(contact),
        browsed_with_contact=sum(1 for b in contact if b.touched),
        ropo_share=sum(b.revenue for b in bought if b.touched) / revenue if revenue else 0.0,
        ropo_share_contact=sum(b.revenue for b in contact if b.touched) / crev if crev else 0.0,
        visible_share_contact=(sum(b.revenue for b in contact if _visible(b)) / crev if crev else 0.0),
        by_channel=dict(by_channel),
        treated=len(treated),
        treated_bought=sum(b.buys for b in treated),
        holdout=len(holdout),
        holdout_bought=sum(b.buys for b in holdout),
        effect=sum(b.p_buy - b.p_without_paid for b in treated) / len(treated) if treated else 0.0,
        app=sum(1 for b in contact if b.app and b.contact and b.contact["kind"] == "phone"),
        viber=sum(1 for b in contact if b.viber and b.contact and b.contact["kind"] == "phone"),
    )


def _visible(b: Buyer) -> bool:
    """Whether the cloud can know this buyer's browsing: a session's browser joined to the contact the till
    recorded through what the site's events carry (a login or order names the phone and the e-mail, a
    subscription only the e-mail)."""
    if not b.contact or not b.sessions:
        return False
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for s in b.sessions:
        named = {"login": ("phone", "email"), "order": ("phone", "email"), "subscribe": ("email",)}
        for kind in named.get(s.identify or "", ()):
            parent[find(s.bid)] = find(kind)
    return any(find(s.bid) == find(b.contact["kind"]) for s in b.sessions)


# -- the chain through the APIs -------------------------------------------------------------------------


class Admin(Protocol):
    """What an operator does on the cloud's machine (the CLIs): stores, enrollment codes, running the
    attribution now. `CliAdmin` runs `echeck-cloud`; a test may pass its own."""

    def add_stores(self, names: list[tuple[str, str]]) -> list[int]: ...
    def enrollment_codes(self, store_ids: list[int]) -> list[str]: ...
    def add_owner(self, email: str) -> str: ...  # the new owner's password
    def attribute(self) -> dict[str, Any]: ...


@dataclass
class CliAdmin:
    database_url: str
    tenant_id: int

    def _parallel(self, commands: list[list[str]]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(4) as pool:  # each CLI call is mostly its start-up: run them side by side
            return list(pool.map(p.run_json, commands))

    def add_stores(self, names: list[tuple[str, str]]) -> list[int]:
        base = [*p.cloud_cli(self.database_url), "store", "add", "--tenant", str(self.tenant_id)]
        made = self._parallel([[*base, name, "--region", region, "--json"] for name, region in names])
        return [int(m["id"]) for m in made]

    def enrollment_codes(self, store_ids: list[int]) -> list[str]:
        base = [*p.cloud_cli(self.database_url), "enroll-code"]
        return [
            str(m["code"]) for m in self._parallel([[*base, "--store", str(s), "--json"] for s in store_ids])
        ]

    def add_owner(self, email: str) -> str:
        args = ["user", "add", "--tenant", str(self.tenant_id), "--email", email, "--role", "owner", "--json"]
        return str(p.run_json([*p.cloud_cli(self.database_url), *args])["password"])

    def attribute(self) -> dict[str, Any]:
        # identity's links of the day's events first, however loaded the machine (3 min at most)
        args = ["attribution", "run", "--tenant", str(self.tenant_id), "--wait", "180", "--json"]
        return p.run_json([*p.cloud_cli(self.database_url), *args])


@dataclass
class Chain:
    cloud_url: str
    admin: Admin
    tenant_id: int
    api_key: str
    fake_ports: dict[str, int]  # the fake providers' ports (empty: no providers, no e-receipt reaches anyone)
    stores: list[int] = field(default_factory=list)
    registers: list[tuple[int, str, str]] = field(default_factory=list)  # (store id, token, FN serial)
    site_key: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def set_up(chain: Chain, o: FieldOptions) -> None:
    """Stores with a region each (`echeck-cloud store add`), a register per store enrolled over HTTP, the
    shop's origin registered for the tracker."""
    regions = ("Москва", "Санкт-Петербург", "Казань", "Екатеринбург")
    names = [(f"Field store {n + 1}", regions[n % len(regions)]) for n in range(o.stores)]
    chain.stores = chain.admin.add_stores(names)
    for n, (store_id, code) in enumerate(
        zip(chain.stores, chain.admin.enrollment_codes(chain.stores), strict=True)
    ):
        answer = httpx.post(
            f"{chain.cloud_url}/v1/enroll", json={"code": code, "hostname": f"field-till-{n + 1}"}, timeout=30
        )
        fn = f"92514403{o.seed % 10**4:04d}{n:04d}"
        chain.registers.append((store_id, answer.raise_for_status().json()["token"], fn))
    site = httpx.post(
        f"{chain.cloud_url}/v1/tracking/site/origins", json={"origin": SHOP}, headers=chain.auth, timeout=30
    )
    chain.site_key = site.raise_for_status().json()["site_key"]
    # The e-receipt carries a banner to the shop (made in the editor as head office would), so a buyer who
    # opens it can click through: the click's `ec_click` joins the shop's browser to the receipt's profile.
    owner = f"owner-{o.seed}@field.example"
    marketing.edit_template(chain.cloud_url, (owner, chain.admin.add_owner(owner)), SHOP, promo=False)


def _visitor(b: Buyer) -> dict[str, str]:
    """What a browser of this buyer sends: its own address (behind the shop's proxy) and a real UA."""
    return {
        "Origin": SHOP,
        "User-Agent": PHONE_UA if b.n % 2 else DESKTOP_UA,
        "X-Forwarded-For": f"10.{b.n // 65536 % 256}.{b.n // 256 % 256}.{b.n % 256}",
        "Content-Type": "text/plain",
    }


def _event(kind: str, bid: str, sid: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "bid": bid,
        "sid": sid,
        "at": datetime.now(MSK).isoformat(),
        "url": url,
        **extra,
    }


def browse(chain: Chain, http: httpx.Client, b: Buyer, rng: random.Random) -> int:
    """The buyer's sessions in order, each one POST of the tracker's batch. Returns events sent."""
    sent = 0
    for s in b.sessions:
        c = CHANNELS[s.channel]
        sid = uuid.uuid4().hex[:16]
        landing = {f"utm_{k}": v for k, v in c.utm.items()}
        yclid = str(rng.randrange(10**15, 10**16)) if c.click_id else None
        if yclid:
            landing["yclid"] = yclid
        url = f"{SHOP}/catalog" + (f"?{urlencode(landing)}" if landing else "")
        first: dict[str, Any] = {"utm": dict(c.utm)}
        if c.referrer:
            first["ref"] = c.referrer
        if yclid:
            first["yclid"] = yclid
        events = [_event("pageview", s.bid, sid, url, **first)]
        events += [
            _event("pageview", s.bid, sid, f"{SHOP}/item/{rng.randrange(1000)}", ref=url)
            for _ in range(rng.randrange(3))
        ]
        if s.identify == "login":
            # the shop's account knows the buyer's phone and e-mail (the script hashes both)
            ids = {
                "phone": sha256_hex(b.phone),
                "email": sha256_hex(normalize_email(b.email)),
                "user_id": f"u{b.n}",
            }
            events.append(_event("login", s.bid, sid, f"{SHOP}/login", ids=ids))
        elif s.identify == "subscribe":
            email = sha256_hex(normalize_email(b.email))
            events.append(_event("subscribe", s.bid, sid, f"{SHOP}/", ids={"email": email}))
        elif s.identify == "order":
            phone = normalize_phone("8" + b.phone[1:])  # typed as 8 9xx ..., normalized as the script does
            assert phone is not None
            ids = {"phone": sha256_hex(phone), "email": sha256_hex(normalize_email(b.email))}
            props = {"order_id": f"W-{b.n}-{sid[:4]}", "total": rng.randrange(500, 5000)}
            events.append(_event("order", s.bid, sid, f"{SHOP}/checkout", ids=ids, props=props))
        r = http.post(
            f"{chain.cloud_url}/t/{chain.site_key}/collect",
            json={"v": 1, "events": events},
            headers=_visitor(b),
        )
        if r.status_code != 204:
            raise RuntimeError(f"the collector answered {r.status_code}: {r.text[:300]}")
        sent += len(events)
    return sent


def _wire_receipt(
    fn: str, fd: int, total: int, contact: dict[str, str] | None, at: datetime
) -> dict[str, Any]:
    return {
        "fiscal": {
            "fn_serial": fn,
            "fd_number": fd,
            "fpd": 700_000_000 + fd,
            "registration_number": REGISTRATION,
            "shift_number": 1,
            "receipt_number": fd % 1000,
            "issued_at": at.replace(tzinfo=None, microsecond=0).isoformat(),
            "calculation_type": 1,
        },
        "items": [{"name": "Товар", "price": total, "quantity": "1", "total": total, "vat": "vat20"}],
        "payments": [{"kind": "card", "amount": total}],
        "total": total,
        "contact": contact,
        "loyalty_card": None,
        "extra": {},
    }


def sell(chain: Chain, buyers: list[Buyer]) -> dict[int, str]:
    """The offline purchases, in batches per register through the ingest API; returns receipt key → buyer."""
    keys: dict[str, int] = {}
    per_register: dict[int, list[dict[str, Any]]] = defaultdict(list)
    now = datetime.now(MSK)
    for b in (b for b in buyers if b.buys):
        store_id, _token, fn = chain.registers[b.store]
        fd = len(per_register[b.store]) + 1
        doc = _wire_receipt(fn, fd, b.revenue, b.contact, now)
        per_register[b.store].append(doc)
        keys[f"{fn}:{fd}:{700_000_000 + fd}"] = b.n
    for index, docs in per_register.items():
        store_id, token, _fn = chain.registers[index]
        for start in range(0, len(docs), 500):
            r = (
                httpx.post(
                    f"{chain.cloud_url}/v1/stores/{store_id}/receipts/batch",
                    json={"receipts": docs[start : start + 500]},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                .raise_for_status()
                .json()
            )
            if r["rejected"]:
                raise RuntimeError(f"receipts rejected: {r['rejected'][:3]}")
    found: dict[int, str] = {}
    for store_id in chain.stores:
        after = 0
        while True:
            page = (
                httpx.get(
                    f"{chain.cloud_url}/v1/stores/{store_id}/receipts",
                    params={"after_id": after, "limit": 1000},
                    headers=chain.auth,
                    timeout=30,
                )
                .raise_for_status()
                .json()
            )
            for row in page["receipts"]:
                if row["key"] in keys:
                    found[row["id"]] = str(keys[row["key"]])
            if page["next_after_id"] is None:
                break
            after = page["next_after_id"]
    return found


def reach(chain: Chain, buyers: list[Buyer]) -> None:
    """App installs register their push token; Viber reaches only the phones that have it (the fake's
    per-recipient table: everyone else is refused as 'not a Viber user')."""
    phones = [b for b in buyers if b.contact and b.contact["kind"] == "phone"]

    def install(b: Buyer) -> None:
        httpx.post(
            f"{chain.cloud_url}/v1/delivery/app/devices",
            json={"contact": b.phone, "token": _push_token(b)},
            headers=chain.auth,
            timeout=30,
        ).raise_for_status()

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(install, [b for b in phones if b.app]))
    if "viber" not in chain.fake_ports:
        return
    viber = {v: "accept" for b in phones if b.viber for v in (b.phone, "+" + b.phone)}
    httpx.post(
        f"http://127.0.0.1:{chain.fake_ports['viber']}/_fake/behaviour",
        json={"default": "reject", "recipients": viber},
        timeout=10,
    ).raise_for_status()


_LINK = re.compile(r"/r/([A-Za-z0-9_-]{16,32})")
_TRACKING = re.compile(r'id="ec-t" data-vt="([^"]+)" data-ev="([^"]+)"')
_BLOCK = re.compile(r'data-block="([^"]+)"(?: data-segment="([^"]+)")?')
_BLOCK_LINK = re.compile(r'href="(/c/[^"]+)"')
_HONEYPOT = re.compile(r'<a class="ec-hp"[^>]*>.*?</a>', re.S)


def wait_deliveries(chain: Chain, expected: int, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        total = p.delivery_summary(chain.cloud_url, chain.api_key)
        done = sum(n for s, n in total["by_status"].items() if s in ("delivered", "failed", "unreachable"))
        if (done >= expected and total["receipts"] >= expected) or time.monotonic() > deadline:
            return total
        time.sleep(0.3)


def _messages(chain: Chain, buyers: list[Buyer]) -> dict[str, Buyer]:
    """Each e-receipt link the providers carried to one of these buyers, by its token (the fake's record
    names the recipient: phone, e-mail or the app's push token)."""
    whose: dict[str, Buyer] = {}
    for b in buyers:
        whose.update({b.phone: b, "+" + b.phone: b, b.email: b, _push_token(b): b})
    out: dict[str, Buyer] = {}
    for name in ("smtp-control", "fcm", "viber", "smsru") if chain.fake_ports else ():
        doc = httpx.get(
            f"http://127.0.0.1:{chain.fake_ports[name]}/_fake/messages", params={"limit": 100_000}, timeout=10
        ).json()
        for message in doc["messages"]:
            buyer = whose.get(str(message.get("to", "")))
            if buyer is not None:
                for token in _LINK.findall(str(message)):
                    out[token] = buyer
    return out


def _push_token(b: Buyer) -> str:
    return f"fcm-field-{b.n}-{sha256_hex(b.phone)[:12]}"


def open_and_click(chain: Chain, buyers: list[Buyer], o: FieldOptions) -> tuple[int, int]:
    """Buyers open their e-receipt (the page's script POSTs the open and the blocks in sight) and some follow
    a block's link; the redirect lands on the shop with `ec_click`, which the tracker sends with the page
    view from the buyer's phone browser (the device of their first session, else a new one). Returns
    (opened, clicked)."""
    links = _messages(chain, buyers)
    rng = random.Random(o.seed + 1)
    chosen = [
        (t, b, rng.random() < o.click_p, _bid(rng))
        for t, b in sorted(links.items())
        if rng.random() < o.open_p
    ]

    def one(token: str, b: Buyer, click: bool, new_bid: str) -> tuple[int, int]:
        with httpx.Client(base_url=chain.cloud_url, headers={"User-Agent": PHONE_UA}, timeout=30) as phone:
            page = phone.get(f"/r/{token}")
            found = _TRACKING.search(page.text) if page.status_code == 200 else None
            if found is None:
                return 0, 0
            time.sleep(DWELL_S)  # the page's script reports a view after a second of visible page
            events: list[dict[str, Any]] = [{"id": str(uuid.uuid4()), "type": "receipt_open"}]
            for block, segment in _BLOCK.findall(page.text):
                view = {"id": str(uuid.uuid4()), "type": "block_view", "block": block}
                events.append(view | ({"segment": segment} if segment else {}))
            phone.post(found.group(2), json={"t": found.group(1), "events": events}).raise_for_status()
            targets = _BLOCK_LINK.findall(_HONEYPOT.sub("", page.text))
            if not (click and targets):
                return 1, 0
            went = phone.get(targets[0].replace("&amp;", "&"))
            location = went.headers.get("location", "")
            ec_click = parse_qs(urlsplit(location).query).get("ec_click", [None])[0]
            if went.status_code != 303 or not ec_click:
                return 1, 0
            bid = b.sessions[0].bid if b.sessions else new_bid
            landing = _event("pageview", bid, uuid.uuid4().hex[:16], location, ec_click=ec_click)
            r = httpx.post(
                f"{chain.cloud_url}/t/{chain.site_key}/collect",
                json={"v": 1, "events": [landing]},
                headers=_visitor(b),
                timeout=30,
            )
            return 1, int(r.status_code == 204)

    with ThreadPoolExecutor(2 * WORKERS) as pool:
        results = list(pool.map(lambda c: one(*c), chosen))
    return sum(r[0] for r in results), sum(r[1] for r in results)


# -- what the cloud measured ----------------------------------------------------------------------------


@dataclass
class Measured:
    identified: int  # contact-leaving buyers whose receipt has a profile
    with_history: int  # of the truly browsing ones, those whose profile holds site events
    summary: dict[str, Any]
    lift: dict[str, Any]
    treated_bought: int
    holdout_bought: int
    delivery: dict[str, Any]
    pages: dict[str, Any]  # the e-receipt pages' summary: a person's opens and clicks, as the cloud counted
    opened: int  # what the simulator's buyers did
    clicked: int
    events: int
    seconds: float


def measure_identity(chain: Chain, receipts: dict[int, str], buyers: list[Buyer]) -> tuple[int, int]:
    by_n = {b.n: b for b in buyers}

    def one(receipt_id: int, n: str) -> tuple[int, int]:
        b = by_n[int(n)]
        if not b.contact:
            return 0, 0
        r = httpx.get(
            f"{chain.cloud_url}/v1/identity/receipts/{receipt_id}/profile", headers=chain.auth, timeout=30
        )
        if r.status_code != 200:
            return 0, 0
        if not b.touched:
            return 1, 0
        profile = (
            httpx.get(
                f"{chain.cloud_url}/v1/identity/profiles/{r.json()['profile_id']}",
                headers=chain.auth,
                timeout=30,
            )
            .raise_for_status()
            .json()
        )
        site = any(e["type"] == "pageview" for e in profile["events"])
        return 1, int(site)

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda kv: one(*kv), receipts.items()))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def measure_lift(
    chain: Chain, receipts: dict[int, str], buyers: list[Buyer]
) -> tuple[dict[str, Any], int, int]:
    """Who bought, from the cloud's receipts (members give their phone), by the simulator's groups."""
    bought = {int(n) for n in receipts.values()}
    treated = [b for b in buyers if b.member and not b.holdout]
    holdout = [b for b in buyers if b.holdout]
    a = sum(1 for b in treated if b.n in bought)
    c = sum(1 for b in holdout if b.n in bought)
    doc = (
        httpx.get(
            f"{chain.cloud_url}/v1/attribution/lift",
            params={
                "treated_buyers": a,
                "treated_n": len(treated),
                "holdout_buyers": c,
                "holdout_n": len(holdout),
            },
            headers=chain.auth,
            timeout=30,
        )
        .raise_for_status()
        .json()
    )
    return doc, a, c


def simulate(
    chain: Chain, o: FieldOptions, report: Callable[[str], None] = lambda _: None
) -> tuple[Truth, Measured]:
    started = time.monotonic()

    def say(what: str) -> None:  # with the wall time so far
        report(f"{time.monotonic() - started:5.1f} s  {what}")

    buyers = draw_buyers(o)
    truth = truth_of(buyers)
    say(f"field: {o.buyers} buyers, {o.stores} stores: setting up the chain")
    set_up(chain, o)
    reach(chain, buyers)
    say("field: buyers browse the shop (the tracker's collector)")
    rngs = [random.Random(o.seed * 1000 + b.n) for b in buyers]
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(WORKERS) as pool:
        events = sum(pool.map(lambda b: browse(chain, http, b, rngs[b.n]), buyers))
    # The buyers go to the store after browsing: the registers stamp a receipt to the second (FFD has no
    # fractions) and attribution orders touches by the collector's clock, so a visit received in the same
    # second as its buyer's receipt would read as after it.
    time.sleep(1.1)
    say("field: offline purchases (the registers' ingest API)")
    receipts = sell(chain, buyers)
    say("field: e-receipts delivered, opened and clicked")
    if chain.fake_ports:  # no providers: nothing to wait for, nobody gets a link
        wait_deliveries(chain, truth.with_contact)
    opened, clicked = open_and_click(chain, buyers, o)
    say(f"field: {opened} opened, {clicked} clicked; attribution (echeck-cloud attribution run)")
    chain.admin.attribute()
    say("field: reading back: identity's profiles, attribution's summary and lift")
    identified, with_history = measure_identity(chain, receipts, buyers)
    today = datetime.now(MSK).date()
    summary = (
        httpx.get(
            f"{chain.cloud_url}/v1/attribution/summary",
            params={"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()},
            headers=chain.auth,
            timeout=60,
        )
        .raise_for_status()
        .json()
    )
    lift, a, c = measure_lift(chain, receipts, buyers)
    delivery = p.delivery_summary(chain.cloud_url, chain.api_key)
    pages = httpx.get(f"{chain.cloud_url}/v1/pages/summary", headers=chain.auth, timeout=60)
    measured = Measured(
        identified,
        with_history,
        summary,
        lift,
        a,
        c,
        delivery,
        pages.raise_for_status().json(),
        opened,
        clicked,
        events,
        time.monotonic() - started,
    )
    return truth, measured


# -- the table ------------------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f} %"


def rub(kopecks: int | float) -> str:
    return f"{kopecks / 100:,.0f} RUB".replace(",", " ")


@dataclass
class Verdict:
    identified_share: float
    ropo_gap_points: float
    lift_covers: bool

    @property
    def ok(self) -> bool:
        return self.identified_share >= 0.9 and abs(self.ropo_gap_points) <= 5 and self.lift_covers


def verdict(t: Truth, m: Measured) -> Verdict:
    share = m.identified / t.with_contact if t.with_contact else 1.0
    gap = (m.summary["ropo_revenue_share_identified"] - t.ropo_share_contact) * 100
    covers = m.lift["ci_low"] <= t.effect <= m.lift["ci_high"]
    return Verdict(share, gap, covers)


def rows(t: Truth, m: Measured) -> list[tuple[str, str, str]]:
    """(figure, measured by the cloud, ground truth)."""
    s, v = m.summary, verdict(t, m)
    out = [
        (
            "offline receipts / revenue",
            f"{s['receipts']} / {rub(s['revenue'])}",
            f"{t.purchases} / {rub(t.revenue)}",
        ),
        (
            "buyers who left a contact: identified (≥ 90 %)",
            f"{m.identified} ({pct(v.identified_share)})",
            f"{t.with_contact}",
        ),
        (
            "  of those who browsed: web history in the profile",
            f"{m.with_history} ({pct(_share(m.with_history, t.browsed_with_contact))})",
            f"{t.browsed_with_contact}",
        ),
        (
            "identified share of receipts",
            pct(s["identified_share"]),
            pct(t.with_contact / t.purchases if t.purchases else None),
        ),
        (
            "ROPO revenue share, receipts with a contact (± 5 pt)",
            pct(s["ropo_revenue_share_identified"]),
            f"{pct(t.ropo_share_contact)} (gap {v.ropo_gap_points:+.1f} pt)",
        ),
        (
            "  truth: browsing the site's events can join to the contact",
            "",
            pct(t.visible_share_contact),
        ),
        ("ROPO revenue share, all receipts (a lower bound)", pct(s["ropo_revenue_share"]), pct(t.ropo_share)),
    ]
    measured_channels = {c["channel"]: c["revenue"] for c in s["channels"]}
    for channel in sorted(set(measured_channels) | set(t.by_channel)):
        out.append(
            (
                f"  last-click revenue: {channel}",
                rub(measured_channels.get(channel, 0)),
                rub(t.by_channel.get(channel, 0)),
            )
        )
    lift = m.lift
    out += [
        (
            "holdout: bought / buyers, treated vs holdout",
            f"{m.treated_bought}/{t.treated} vs {m.holdout_bought}/{t.holdout}",
            f"{t.treated_bought}/{t.treated} vs {t.holdout_bought}/{t.holdout}",
        ),
        (
            "campaign lift on purchase rate (95 % CI covers truth)",
            f"{lift['absolute'] * 100:+.1f} pt [{lift['ci_low'] * 100:+.1f}, {lift['ci_high'] * 100:+.1f}]",
            f"{t.effect * 100:+.1f} pt ({'covered' if v.lift_covers else 'NOT covered'})",
        ),
    ]
    d = m.delivery
    mix = ", ".join(f"{k} {n} ({d['channel_share'][k]:.0%})" for k, n in sorted(d["channel_mix"].items()))
    out += [
        ("e-receipt channel mix", mix or "-", f"app {t.app}, Viber {t.viber} of phone buyers"),
        (
            "delivery cost / the operator's flat price",
            f"{d['cost_kopecks'] / 100:.2f} / {d['operator_cost_kopecks'] / 100:.2f} RUB",
            "",
        ),
        (
            "e-receipts opened / clicked through to the shop",
            f"{m.pages['opens']} / {m.pages['clicks']}",
            f"{m.opened} / {m.clicked}",
        ),
        ("site events sent / wall time", f"{m.events} / {m.seconds:.1f} s", ""),
    ]
    return out


def plain_table(t: Truth, m: Measured) -> str:
    lines = [f"{'figure':<56} {'measured':>34}   truth", "-" * 120]
    lines += [f"{a:<56} {b:>34}   {c}" for a, b, c in rows(t, m)]
    v = verdict(t, m)
    lines.append(f"targets {'met' if v.ok else 'NOT met'}")
    return "\n".join(lines)


# -- standalone: its own cloud and fake providers -------------------------------------------------------


def standalone(o: FieldOptions, workdir: Path, say: Callable[[str], None] = print) -> tuple[Truth, Measured]:
    services: list[p.Service] = []
    try:
        chain = start_chain(workdir, services)
        return simulate(chain, o, say)
    finally:
        for service in reversed(services):
            service.stop()


def start_chain(workdir: Path, services: list[p.Service], tenant: str = "Field Chain") -> Chain:
    database_url = f"sqlite:///{workdir / 'field.db'}"
    tenant_id, api_key, _store = p.prepare_cloud(database_url, tenant=tenant, store="Field warehouse")
    cloud = p.cloud_service(database_url, p.free_port(), workdir / "logs" / "cloud.log")
    services.append(cloud.start())
    providers = p.fakes_service(workdir / "logs" / "fakes.log")
    services.append(providers.service.start())
    p.configure_delivery(database_url, tenant_id, api_key, cloud.url, providers.ports)
    return Chain(cloud.url, CliAdmin(database_url, tenant_id), tenant_id, api_key, providers.ports)


def add_tenant(
    cloud_url: str, database_url: str, fake_ports: dict[str, int], name: str = "Field Chain"
) -> Chain:
    """A tenant of its own in a running cloud (the demo's), its channels pointing at the fakes."""
    made = p.run_json([*p.cloud_cli(database_url), "tenant", "add", name, "--json"])
    p.configure_delivery(database_url, made["id"], made["api_key"], cloud_url, fake_ports)
    return Chain(cloud_url, CliAdmin(database_url, made["id"]), made["id"], made["api_key"], fake_ports)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.field", description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(list(argv) if argv is not None else None)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="echeck-field-"))
    truth, measured = standalone(FieldOptions(buyers=args.buyers, seed=args.seed), workdir)
    print(plain_table(truth, measured))
    return 0 if verdict(truth, measured).ok else 1


if __name__ == "__main__":
    sys.exit(main())
