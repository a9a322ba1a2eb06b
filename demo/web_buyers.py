"""Simulated people on the sample shop and on their e-receipt pages, as their browsers would behave.

- Before their purchase (their visits are dated 2–30 h before it): buyers of the day browse the shop, some
  from an ad or a newsletter (utm), and some subscribe (e-mail) or place an online order (phone). Each page
  is fetched from the shop, and the events go to the shop's `/ec/collect` (the shop forwards it to the
  cloud's collector, which sets the first-party `ec_bid`) exactly as the tracker script sends them:
  `{"v": 1, "events": [...]}` as text/plain, contacts normalized and SHA-256 hashed, never raw.
  The POS simulator draws its buyers' phones and e-mails from its own random stream (no option gives it a
  list), so the shop's visitors are picked among the contacts of the day's receipts read back from the
  cloud's receipts API after the day: the same people, their visits dated before their purchase.
- On the e-receipt page (a hook of `tour.buyers_open_and_click`): a person who clicked the banner lands
  on the shop with `ec_click`, and the shop's tracker posts that page view; some sign up for loyalty (the
  page's form POSTed as a browser does); the promo codes people saw are kept for the till.
"""

import hashlib
import json
import random
import re
import threading
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from demo.tour import HIDDEN_FIELD, Row, TourCheckFailed, _expect

SHOP_UA = "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
SOURCES = (  # where the shop's visitors come from (utm_source, utm_medium, utm_campaign)
    ("yandex", "cpc", "autumn-sale"),
    ("vk", "social", "pets-club"),
    ("email", "newsletter", "weekly"),
    ("", "", ""),  # typed the address, or a bookmark
)
WEB_SHARE = 0.35  # share of the day's buyers with a contact who visited the shop before
IDENTIFY_SHARE = 0.75  # of those, who subscribed or ordered online (and so gave the shop their contact)
ANONYMOUS = 12  # visitors who never give a contact
SIGNUP_SHARE = 0.3  # people on their e-receipt page who join the loyalty programme
RETRIES = 6  # a 429 or 5xx from the collector is retried, as the script does, with its Retry-After

_PROMO_CODE = re.compile(r'<p class="promo-code"><code>([A-Z0-9-]+)</code>')
_LOYALTY_FORM = re.compile(r'data-block="loyalty".*?<form method="post" action="/r/act">(.*?)</form>', re.S)


def normalized_phone(value: str) -> str | None:
    """REFERENCE.md's phone normalization, as tracker.js does it in the browser."""
    text = unicodedata.normalize("NFKC", value).strip()
    digits = "".join(c for c in text if c.isdigit())
    if not text.startswith("+"):
        if len(digits) == 11 and digits[0] in "78":
            digits = "7" + digits[1:]
        elif len(digits) == 10:
            digits = "7" + digits
        else:
            return None
    return digits if re.fullmatch(r"7[3-9]\d{9}", digits) else None


def normalized_email(value: str) -> str | None:
    text = unicodedata.normalize("NFKC", value).strip().lower()
    return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CollectorTally:
    """What the collector answered, over every browser of the demo."""

    batches: int = 0
    sent: int = 0
    stored: int = 0
    rejected: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class ShopBrowser:
    """One visitor's browser on the shop: its pages fetched, its tracker's events posted to `/ec/collect`."""

    def __init__(self, shop_url: str, tally: CollectorTally) -> None:
        self.shop_url = shop_url
        self.tally = tally
        self.client = httpx.Client(base_url=shop_url, headers={"User-Agent": SHOP_UA}, timeout=30)
        self.bid = str(uuid.uuid4())  # the script's own id for its first event; the collector's cookie rules
        self.sid = str(uuid.uuid4())
        self.script_loaded = False
        self.referrer: str | None = None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "ShopBrowser":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self, path: str, at: datetime) -> str:
        """Fetch a page (and the script, the first time), then the script's page view."""
        _expect(self.client.get(path), 200, f"GET {path} on the shop")
        if not self.script_loaded:
            _expect(self.client.get("/ec/t.js"), 200, "the tracker script through the shop's proxy")
            self.script_loaded = True
        url = self.shop_url + path
        self.send([self.event("pageview", url, at)])
        self.referrer = url
        return url

    def event(self, kind: str, url: str, at: datetime, **extra: Any) -> dict[str, Any]:
        query = parse_qs(urlsplit(url).query)
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "type": kind,
            "bid": self.bid,
            "sid": self.sid,
            "at": at.isoformat().replace("+00:00", "Z"),
            "url": url,
            "utm": {k[4:]: v[0] for k, v in query.items() if k.startswith("utm_")},
        }
        if self.referrer:
            event["ref"] = self.referrer
        if "ec_click" in query:
            event["ec_click"] = query["ec_click"][0]
        return event | extra

    def send(self, events: list[dict[str, Any]]) -> None:
        """One batch as the script posts it: text/plain (no CORS preflight), a 429 or 5xx retried."""
        body = json.dumps({"v": 1, "events": events})
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": self.shop_url,
            "Referer": events[-1]["url"],
        }
        for attempt in range(RETRIES):
            answer = self.client.post("/ec/collect", content=body, headers=headers)
            if answer.status_code == 429 or answer.status_code >= 500:
                self.tally.add(throttled=1)
                time.sleep(min(float(answer.headers.get("Retry-After") or 1), 2.0) * (1 + attempt / 2))
                continue
            if answer.status_code == 204:
                self.tally.add(batches=1, sent=len(events), stored=len(events))
                return
            doc = _expect(answer, 200, "the collector").json()
            self.tally.add(batches=1, sent=len(events), stored=doc["stored"], rejected=len(doc["rejected"]))
            return
        raise TourCheckFailed(f"the collector refused a batch {RETRIES} times (last {answer.status_code})")


@dataclass
class Contact:
    kind: str  # phone | email
    value: str  # as the receipt holds it
    receipts: list[int]
    first_at: datetime


@dataclass
class WebBuyers:
    """The shop's side of the demo: who browsed, what the collector took, what people did on their pages."""

    shop_url: str
    seed: int
    tally: CollectorTally = field(default_factory=CollectorTally)
    identified_receipts: list[int] = field(
        default_factory=list
    )  # receipts of buyers who gave the shop a contact
    visitors: int = 0
    buyers: int = 0
    identified: int = 0
    landings: int = 0
    signups: int = 0
    promo_codes: dict[str, str] = field(default_factory=dict)  # page path -> the code a person saw there
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- before the purchase ----------------------------------------------------------------------------

    def _buyer(self, contact: Contact | None, n: int) -> bool:
        rng = random.Random(f"{self.seed}:web:{n}")
        source, medium, campaign = rng.choice(SOURCES)
        when = (contact.first_at if contact else datetime.now(UTC)) - timedelta(hours=rng.uniform(2, 30))
        landing = "/" + (
            f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}" if source else ""
        )
        with ShopBrowser(self.shop_url, self.tally) as browser:
            browser.open(landing, when)
            if rng.random() < 0.5:
                browser.open("/catalog", when + timedelta(seconds=rng.uniform(5, 60)))
            if contact is None or rng.random() >= IDENTIFY_SHARE:
                return False
            at = when + timedelta(minutes=rng.uniform(1, 5))
            if contact.kind == "email":
                url = browser.open("/subscribe", at)
                digest = normalized_email(contact.value)
                browser.send([browser.event("subscribe", url, at, ids={"email": sha256_hex(digest or "")})])
            else:
                url = browser.open("/order", at)
                digest = normalized_phone("+" + contact.value.lstrip("+"))
                props = {"order_id": f"A-{1000 + n}", "total": rng.randrange(500, 5000)}
                event = browser.event("order", url, at, ids={"phone": sha256_hex(digest or "")}, props=props)
                browser.send([event])
            if digest is None:
                raise TourCheckFailed(f"a receipt's {contact.kind} does not normalize as the tracker's does")
            return True

    def browse_before_purchase(self, receipts: list[dict[str, Any]]) -> list[Row]:
        """The day's buyers with a contact, some of whom visited the shop before (see the module's doc)."""
        contacts: dict[tuple[str, str], Contact] = {}
        for stored in receipts:
            contact = stored["receipt"].get("contact") or {}
            if contact.get("kind") in ("phone", "email"):
                at = datetime.fromisoformat(stored["received_at"].replace("Z", "+00:00"))
                at = at if at.tzinfo else at.replace(tzinfo=UTC)
                key = (contact["kind"], contact["value"])
                found = contacts.setdefault(key, Contact(key[0], key[1], [], at))
                found.receipts.append(int(stored["id"]))
                found.first_at = min(found.first_at, at)
        rng = random.Random(f"{self.seed}:web")
        chosen = [c for c in contacts.values() if rng.random() < WEB_SHARE]
        people: list[Contact | None] = [*chosen, *([None] * ANONYMOUS)]
        rng.shuffle(people)
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            gave = list(pool.map(self._buyer, people, range(len(people))))
        took = time.monotonic() - started
        self.visitors, self.buyers = len(people), len(chosen)
        self.identified = sum(gave)
        self.identified_receipts = [
            r for c, ok in zip(people, gave, strict=True) if ok and c for r in c.receipts
        ]
        t = self.tally
        return [
            (
                "shop visitors before the purchase",
                f"{self.visitors}: {self.buyers} buyers of the day, {ANONYMOUS} anonymous, in {took:.1f} s",
            ),
            ("  subscribed or ordered online (hashed contact)", str(self.identified)),
            (
                "  collector: events stored / sent (batches)",
                f"{t.stored} / {t.sent} ({t.batches}), rejected {t.rejected}, 429 retried {t.throttled}",
            ),
        ]

    # -- on the e-receipt page (tour.buyers_open_and_click's hook) ---------------------------------------

    def on_page(self, phone: httpx.Client, path: str, page: str, landing: str | None) -> None:
        """After a person looked at their page: the banner's landing on the shop, a loyalty sign-up,
        the promo code seen."""
        rng = random.Random(f"{self.seed}:page:{path}")
        if landing is not None:
            parts = urlsplit(landing)
            if f"{parts.scheme}://{parts.netloc}" != self.shop_url:
                raise TourCheckFailed(f"the banner's link landed on {parts.netloc}, not the shop")
            with ShopBrowser(self.shop_url, self.tally) as browser:
                browser.referrer = None
                browser.open(f"{parts.path}?{parts.query}", datetime.now(UTC))
            with self.lock:
                self.landings += 1
        code = _PROMO_CODE.search(page)
        if code:
            with self.lock:
                self.promo_codes[path] = code.group(1)
        form = _LOYALTY_FORM.search(page)
        if form and rng.random() < SIGNUP_SHARE:
            fields = dict(HIDDEN_FIELD.findall(form.group(1)))
            _expect(phone.post("/r/act", data=fields), 303, "the loyalty sign-up form")
            with self.lock:
                self.signups += 1
