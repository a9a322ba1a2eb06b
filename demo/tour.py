"""The tour's checks after the trading day: head office, privacy and the till, each measured in this run.

Each check drives a CLI or an HTTP API (never our code) and returns summary rows; a check that fails raises
`TourCheckFailed` with the sentence to print, and the demo goes on with the next one.
"""

import random
import re
import statistics
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from demo import processes as p

Row = tuple[str, str]
FOREIGN_HOST = "rebind.attacker.example"  # what a web page reaches the agent under through DNS rebinding
ASKS = 10  # POS asks timed with no cashier UI connected
ASK_WAIT_S = 0.2  # each ask's `wait`: an agent that answers no_ui never waits it out


class TourCheckFailed(Exception):
    """A check of the tour found something wrong: the sentence says what."""


@dataclass
class TourRun:
    """Rows for the summary, and the checks that failed (name, sentence)."""

    rows: list[Row] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def check(self, name: str, run: Callable[[], list[Row]]) -> None:
        started = time.monotonic()
        try:
            self.rows += run()
        except (TourCheckFailed, httpx.HTTPError, RuntimeError, ValueError, KeyError, OSError) as exc:
            self.failed.append((name, str(exc) or type(exc).__name__))
            self.rows.append((name, "FAILED (see below)"))
        finally:
            self.seconds += time.monotonic() - started


def _expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise TourCheckFailed(
            f"{what}: expected {status}, got {response.status_code} {response.text[:200]!r}"
        )
    return response


# -- head office: the owner signs in as a browser does; an integration's read-only key -----------------------

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
HIDDEN_FIELD = _HIDDEN  # a form's hidden fields, for the demo's other simulated browsers
_REGISTER_ROW = re.compile(r'<tr id="register-(\d+)"')


def _form_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields (CSRF token, next) of the form posting to `action`, as a browser sends them."""
    start = html.find(f'action="{action}"')
    if start < 0:
        raise TourCheckFailed(f"no form posting to {action} on the page")
    return dict(_HIDDEN.findall(html[start : html.find("</form>", start)]))


def head_office_sign_in(cloud_url: str, owner: tuple[str, str], register_id: int) -> list[Row]:
    """Sign in with the owner's e-mail and password, read the fleet page, sign out with its CSRF token."""
    with httpx.Client(base_url=cloud_url, timeout=10) as browser:
        form = _expect(browser.get("/login"), 200, "GET /login")
        fields = {**_form_fields(form.text, "/login"), "email": owner[0], "password": owner[1]}
        started = time.monotonic()
        signed_in = _expect(browser.post("/login", data=fields), 303, "POST /login")
        landing = signed_in.headers["location"]
        page = _expect(browser.get(landing), 200, f"GET {landing}")
        took = time.monotonic() - started
        registers = sorted({int(r) for r in _REGISTER_ROW.findall(page.text)})
        if register_id not in registers:
            raise TourCheckFailed(
                f"{landing} lists registers {registers}, not this run's register {register_id}"
            )
        logout = _form_fields(page.text, "/logout")
        if not logout.get("csrf"):
            raise TourCheckFailed(f"{landing} has no CSRF token in its sign-out form")
        _expect(browser.post("/logout", data=logout), 303, "POST /logout")
        after = _expect(browser.get(landing), 303, f"GET {landing} after sign-out")
    return [
        (
            "head office sign-in (owner)",
            f"{landing} 200 in {took * 1000:.0f} ms, register(s) {', '.join(map(str, registers))}",
        ),
        ("  sign-out with the CSRF token", f"{landing} → {after.headers['location'].split('?')[0]}"),
    ]


def dashboards(cloud_url: str, user: tuple[str, str], paths: tuple[str, ...]) -> list[Row]:
    """Sign in as a head-office user, as a browser does, and open each dashboard: (URL, its answer)."""
    rows: list[Row] = []
    with httpx.Client(base_url=cloud_url, timeout=30) as browser:
        form = _expect(browser.get("/login"), 200, "GET /login")
        fields = {**_form_fields(form.text, "/login"), "email": user[0], "password": user[1]}
        _expect(browser.post("/login", data=fields), 303, "POST /login")
        for path in paths:
            started = time.monotonic()
            answer = _expect(browser.get(path), 200, f"GET {path} signed in")
            took = (time.monotonic() - started) * 1000
            rows.append((f"{path}", f"{cloud_url}{path}  ({answer.status_code}, {took:.0f} ms signed in)"))
    return rows


def read_only_key(database_url: str, tenant_id: int, cloud_url: str, store_id: int) -> list[Row]:
    """`echeck-cloud key add --scopes read`: a read answers, a write (an opt-out) is refused 403."""
    made = p.run_json(
        [
            *p.cloud_cli(database_url),
            "key",
            "add",
            "--tenant",
            str(tenant_id),
            "--name",
            "demo read-only",
            "--scopes",
            "read",
            "--json",
        ]
    )
    auth = {"Authorization": f"Bearer {made['api_key']}"}
    read = httpx.get(
        f"{cloud_url}/v1/stores/{store_id}/receipts", params={"limit": 1}, headers=auth, timeout=10
    )
    _expect(read, 200, "a read with the read-only key")
    write = httpx.post(
        f"{cloud_url}/v1/delivery/opt-outs", json={"contact": "+79990000000"}, headers=auth, timeout=10
    )
    _expect(write, 403, "an opt-out (a write) with the read-only key")
    return [(f"read-only API key {made['prefix']}…", f"read 200, opt-out {write.status_code}")]


# -- privacy: erase one buyer of this run by phone -------------------------------------------------------


def _receipts(cloud_url: str, api_key: str, store_id: int) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = httpx.get(
            f"{cloud_url}/v1/stores/{store_id}/receipts",
            params={"after_id": after, "limit": 1000},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )
        doc = page.raise_for_status().json()
        yield from doc["receipts"]
        if doc["next_after_id"] is None:
            return
        after = doc["next_after_id"]


def _phones(cloud_url: str, api_key: str, store_id: int) -> tuple[int, Counter[str]]:
    """All the store's receipts and how many carry each phone."""
    rows, phones = 0, Counter[str]()
    for stored in _receipts(cloud_url, api_key, store_id):
        rows += 1
        contact = stored["receipt"].get("contact") or {}
        if contact.get("kind") == "phone":
            phones["+" + contact["value"].lstrip("+")] += 1
    return rows, phones


def _masked(phone: str) -> str:
    return f"+7 *** ***-{phone[-4:-2]}-{phone[-2:]}"


def erase_buyer(database_url: str, tenant_id: int, cloud_url: str, api_key: str, store_id: int) -> list[Row]:
    """The buyer with the most receipts of this run, erased through the API; the fiscal rows stay."""
    rows_before, phones = _phones(cloud_url, api_key, store_id)
    if not phones:
        raise TourCheckFailed("no receipt of this run carries a phone to erase")
    phone, receipts_with_it = phones.most_common(1)[0]
    started = time.monotonic()
    answer = httpx.post(
        f"{cloud_url}/v1/privacy/erasures",
        json={"contact": phone, "reason": "echeck demo"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=60,
    )
    took = time.monotonic() - started
    done = _expect(answer, 201, "POST /v1/privacy/erasures").json()
    rows_after, phones_after = _phones(cloud_url, api_key, store_id)
    if rows_after != rows_before or phones_after[phone]:
        raise TourCheckFailed(
            f"after the erasure {rows_after} rows (were {rows_before}), "
            f"the phone still in {phones_after[phone]}"
        )
    logged = p.run_cli(
        [*p.cloud_cli(database_url), "privacy", "erasures", "--tenant", str(tenant_id), "--json"]
    )
    if done["id"] not in [entry["id"] for entry in logged]:
        raise TourCheckFailed(f"`echeck-cloud privacy erasures` does not list erasure {done['id']}")
    always = ("receipts", "push_devices", "opt_outs")  # then only what the erasure found (the row fits)
    found = [(kind, n) for kind, n in done["counts"].items() if kind not in always and n]
    counts = ", ".join(f"{kind} {done['counts'][kind]}" for kind in always) + "".join(
        f", {kind} {n}" for kind, n in found
    )
    return [
        (f"erased {_masked(phone)} (API)", f"{took * 1000:.0f} ms: {counts}"),
        (
            "  fiscal rows kept / with the phone",
            f"{rows_after} / 0 (was {receipts_with_it}), logged #{done['id']}",
        ),
    ]


# -- the till: doctor, the local API's guards, the POS ask with no cashier UI --------------------------------

_VERDICT = re.compile(r"^\s+(ok|warning|error)\s{2,}(.*)$")


def doctor(config: Path) -> list[Row]:
    """`echeck-agent doctor` against the demo's agent: its verdict lines counted, its exit code.

    Its findings are the demo bench's truth (no cashier UI; the ATOL emulator sends nothing to an OFD), so
    errors are shown, not failed; the check fails when doctor gives no verdict or its exit code belies it.
    """
    args = [p.tool("echeck-agent"), "--config", str(config), "doctor"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=90, check=False)
    verdicts = [m for line in done.stdout.splitlines() if (m := _VERDICT.match(line))]
    count = Counter(m[1] for m in verdicts)
    if not verdicts or done.returncode != (1 if count["error"] else 0):
        raise TourCheckFailed(
            f"echeck-agent doctor exited {done.returncode} after {count['error']} error line(s) "
            f"of {len(verdicts)}: {done.stderr.strip()[-300:]}"
        )
    rows = [
        (
            "doctor ok / warning / error",
            f"{count['ok']} / {count['warning']} / {count['error']}, exit {done.returncode}",
        )
    ]
    return rows + [(f"  doctor {m[1]}", m[2].split(":")[0][:60]) for m in verdicts if m[1] != "ok"]


def local_api_guards(agent_url: str) -> list[Row]:
    """A foreign Host (DNS rebinding) is refused; a wrong POS token is refused even on loopback."""
    foreign = httpx.get(f"{agent_url}/pos/v1/checkouts/x", headers={"Host": FOREIGN_HOST}, timeout=10)
    _expect(foreign, 403, f"the checkout API under Host {FOREIGN_HOST}")
    wrong = httpx.post(
        f"{agent_url}/pos/v1/checkouts",
        json={},
        headers={"Authorization": "Bearer not-the-token"},
        timeout=10,
    )
    _expect(wrong, 401, "a checkout opened with a wrong POS token")
    return [
        ("local API, foreign Host", f"{foreign.status_code} ({FOREIGN_HOST})"),
        ("local API, wrong POS token", str(wrong.status_code)),
    ]


def _answer_kinds(agent_url: str) -> set[str]:
    """The answers to `ask-contact?wait=S` that this agent's OpenAPI document declares."""
    doc = httpx.get(f"{agent_url}/openapi.json", timeout=10).raise_for_status().json()
    schemas = doc.get("components", {}).get("schemas", {})
    return {v for s in schemas.values() if "timed_out" in s.get("enum", []) for v in s["enum"]}


def ask_without_ui(agent_url: str) -> list[Row]:
    """POS ask → answer with no cashier UI connected, timed over a few checkouts (each cancelled after)."""
    headers = p.pos_headers(agent_url)
    seconds: list[float] = []
    answers: Counter[str] = Counter()
    with httpx.Client(base_url=f"{agent_url}/pos/v1", headers=headers, timeout=10) as pos:
        for n in range(ASKS):
            opened = _expect(
                pos.post("/checkouts", json={"cashier": "demo"}), 201, "opening a checkout"
            ).json()
            cid = opened["checkout_id"]
            started = time.monotonic()
            asked = pos.post(f"/checkouts/{cid}/ask-contact", params={"wait": ASK_WAIT_S})
            seconds.append(time.monotonic() - started)
            answers[_expect(asked, 200, f"ask {n + 1}").json()["answer"]] += 1
            _expect(pos.post(f"/checkouts/{cid}/cancel"), 200, "cancelling the asked checkout")
    ordered = sorted(seconds)
    p95 = statistics.quantiles(ordered, n=20)[-1]
    what = ", ".join(f"{kind} {n}" for kind, n in answers.most_common())
    row = (
        "POS ask, no UI: p50 / p95",
        f"{statistics.median(ordered) * 1000:.0f} / {p95 * 1000:.0f} ms ({what})",
    )
    if answers.keys() != {"no_ui"}:
        if "no_ui" in _answer_kinds(agent_url):
            raise TourCheckFailed(f"with no cashier UI the agent answered {what}, not no_ui at once")
        # An agent built before the no_ui answer waits every ask out: say so, it is what this build does.
        return [row, ("  no no_ui answer in this agent", f"each ask waits its {ASK_WAIT_S:g} s out")]
    return [row]


# -- buyers: open their e-receipts and click, as the page's script would ------------------------------------

_LINK = re.compile(r"/r/([A-Za-z0-9_-]{16,32})")
_TRACKING = re.compile(r'id="ec-t" data-vt="([^"]+)" data-ev="([^"]+)"')
_BLOCK = re.compile(r'data-block="([^"]+)"(?: data-segment="([^"]+)")?')
_BLOCK_LINK = re.compile(r'href="(/c/[^"]+)"')
_HONEYPOT_A = re.compile(r'<a class="ec-hp"[^>]*>.*?</a>', re.S)  # no person sees it, so none follows it
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
PREVIEW_UA = "TelegramBot (like TwitterBot)"
SCANNER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
RECEIPT_LINK = "an e-receipt"
RECEIPT_PDF = "its PDF"
DWELL_S = 1.1  # the page's script reports a view after a second of visible page


def _receipt_links(fake_ports: dict[str, int]) -> list[str]:
    """The e-receipt links the buyers got, read from the fake providers' inboxes."""
    tokens: dict[str, None] = {}
    for name in ("smtp-control", "fcm", "viber", "smsru"):
        r = httpx.get(f"http://127.0.0.1:{fake_ports[name]}/_fake/messages", timeout=10)
        for token in _LINK.findall(r.text):
            tokens[token] = None
    return [f"/r/{t}" for t in tokens]


# What a person does after looking at their page (demo/web_buyers.py): (their phone, the page's path, its
# HTML, where a block's link took them or None).
PageVisitor = Callable[[httpx.Client, str, str, str | None], None]


def _person(cloud_url: str, path: str, reloads: int, click: bool, visitor: PageVisitor | None = None) -> None:
    """One buyer's phone: fetch the page, stay a second, POST the view and the blocks in sight (the script's
    uuids kept per tab, so a reload re-sends the same ones), maybe follow a block's link."""
    ids: dict[str, str] = {}
    with httpx.Client(base_url=cloud_url, headers={"User-Agent": PHONE_UA}, timeout=30) as phone:
        for _ in range(1 + reloads):
            page = _expect(phone.get(path), 200, f"GET {path}")
            found = _TRACKING.search(page.text)
            if found is None:
                raise TourCheckFailed("the e-receipt page has no view script")
            time.sleep(DWELL_S)
            events: list[dict[str, Any]] = [
                {"id": ids.setdefault("open", str(uuid.uuid4())), "type": "receipt_open"}
            ]
            for block, segment in _BLOCK.findall(page.text):
                view = {"id": ids.setdefault(block, str(uuid.uuid4())), "type": "block_view", "block": block}
                events.append(view | ({"segment": segment} if segment else {}))
            sent = phone.post(found.group(2), json={"t": found.group(1), "events": events})
            _expect(sent, 204, "the page's view report")
        links = _BLOCK_LINK.findall(_HONEYPOT_A.sub("", page.text))
        landing = None
        if click and links:
            went = phone.get(links[0].replace("&amp;", "&"))
            _expect(went, 303, "a block's link")
            landing = went.headers["location"]
            if "ec_click=" not in landing:
                raise TourCheckFailed("a block's link landed without ec_click")
        if visitor is not None:
            visitor(phone, path, page.text, landing)


def _preview(cloud_url: str, path: str) -> None:
    _expect(httpx.get(cloud_url + path, headers={"User-Agent": PREVIEW_UA}, timeout=30), 200, "a preview")


def _pdf_download(cloud_url: str, path: str) -> None:
    """A buyer taps «Скачать PDF»: a PDF comes back, and (the opens check after it) it counts as no open."""
    with httpx.Client(base_url=cloud_url, headers={"User-Agent": PHONE_UA}, timeout=60) as phone:
        pdf = _expect(phone.get(f"{path}/receipt.pdf"), 200, "the e-receipt's PDF")
    if pdf.headers.get("content-type") != "application/pdf" or not pdf.content.startswith(b"%PDF-"):
        raise TourCheckFailed(f"the e-receipt's PDF came back as {pdf.headers.get('content-type')}")


def _kept_timing(cloud_url: str, paths: list[str]) -> str:
    """Receipts nobody fetched yet, each fetched twice: the first renders the page and keeps it, the second
    is answered from the kept page (cloud.pages.kept). The median milliseconds of each."""
    if not paths:
        return "- (every link was opened)"
    times: tuple[list[float], list[float]] = ([], [])
    with httpx.Client(base_url=cloud_url, headers={"User-Agent": PHONE_UA}, timeout=30) as phone:
        for path in paths:
            for turn in times:
                started = time.perf_counter()
                _expect(phone.get(path), 200, f"GET {path}")
                turn.append((time.perf_counter() - started) * 1000)
    first, again = statistics.median(times[0]), statistics.median(times[1])
    return f"{first:.1f} / {again:.1f} ms (median, {len(paths)})"


def _scanner(cloud_url: str, path: str) -> None:
    """A mail scanner: fetches the page and follows every link on it, the invisible one too."""
    with httpx.Client(base_url=cloud_url, headers={"User-Agent": SCANNER_UA}, timeout=30) as scanner:
        page = _expect(scanner.get(path), 200, "a scanner's fetch")
        for link in _BLOCK_LINK.findall(page.text):  # the honeypot's among them
            scanner.get(link.replace("&amp;", "&"))


def buyers_open_and_click(
    cloud_url: str, api_key: str, fake_ports: dict[str, int], seed: int, visitor: PageVisitor | None = None
) -> list[Row]:
    """Simulated buyers: link previews fetch some receipts, scanners follow every link of others, people
    open about half (some reload), a third of those click a block. Then head office's figures."""
    links = _receipt_links(fake_ports)[:60]
    if not links:
        raise TourCheckFailed("no e-receipt link reached the fake providers")
    rng = random.Random(seed)
    people = [(path, rng.choice((0, 0, 1, 2)), rng.random() < 0.35) for path in links if rng.random() < 0.5]
    bots = [path for path in links if rng.random() < 0.4]
    scanned = [path for path in links if rng.random() < 0.1]
    with ThreadPoolExecutor(8) as pool:
        jobs = [
            pool.submit(_person, cloud_url, path, reloads, click, visitor) for path, reloads, click in people
        ]
        jobs += [pool.submit(_preview, cloud_url, path) for path in bots]
        jobs += [pool.submit(_scanner, cloud_url, path) for path in scanned]
        jobs.append(pool.submit(_pdf_download, cloud_url, links[0]))
        for job in jobs:
            job.result()
    touched = {path for path, _r, _c in people} | set(bots) | set(scanned) | {links[0]}
    timing = _kept_timing(cloud_url, [p for p in _receipt_links(fake_ports) if p not in touched][:10])
    auth = {"Authorization": f"Bearer {api_key}"}
    s = _expect(
        httpx.get(f"{cloud_url}/v1/pages/summary", headers=auth, timeout=30), 200, "pages summary"
    ).json()
    if s["opens"] != len(people):
        raise TourCheckFailed(f"{len(people)} buyers opened their receipt, the cloud counted {s['opens']}")

    def pct(rate: float | None) -> str:
        return "-" if rate is None else f"{rate:.0%}"

    blocks = ", ".join(f"{b['block_id']} {pct(b['ctr'])}" for b in s["blocks"]) or "no blocks on the page yet"
    return [
        ("e-receipt pages fetched (by bots)", f"{s['fetches']['total']} ({s['fetches']['by_bots']})"),
        ("opened by a person / links sent", f"{s['opens']} / {s['sent']}  (open rate {pct(s['open_rate'])})"),
        ("  not counted: bot views, scanner clicks", f"{s['bot_opens']}, {s['bot_clicks']}"),
        ("clicks (receipt × block) / CTR", f"{s['clicks']} / {pct(s['ctr'])}"),
        (
            "page: 1st fetch / again (kept)",
            timing,
        ),
        ("  CTR per block", blocks),
        (RECEIPT_LINK, f"{cloud_url}{links[0]}"),
        (RECEIPT_PDF, f"{cloud_url}{links[0]}/receipt.pdf"),
    ]
