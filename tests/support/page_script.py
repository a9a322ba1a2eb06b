"""A buyer's phone as the e-receipt page's script sees it, over plain HTTP: fetch the page, wait the dwell,
POST the view (and block views) with the page's view token, follow a block's link. For tests that need a
person without a browser; the real script runs in Chromium in tests/cloud/test_page_events_browser.py."""

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
DWELL_S = 1.05  # the script's 1 s of visible page, and a little


@dataclass
class PageView:
    path: str
    html: str
    token: str
    events_url: str
    honeypot: str


@dataclass
class Phone:
    """One browser: its cookie jar keeps `ec_bid`; `tab_ids` plays sessionStorage (one tab)."""

    base_url: str
    user_agent: str = PHONE_UA
    client: httpx.Client = field(init=False)
    tab_ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.base_url, headers={"User-Agent": self.user_agent}, timeout=30
        )

    def close(self) -> None:
        self.client.close()

    def fetch(self, path: str) -> PageView:
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'id="ec-t" data-vt="([^"]+)" data-ev="([^"]+)"', page.text)
        honeypot = re.search(r'class="ec-hp" href="([^"]+)"', page.text)
        assert found, "the page has no tracking script"
        assert honeypot, "the page has no honeypot link"
        return PageView(
            path, page.text, found.group(1), found.group(2), honeypot.group(1).replace("&amp;", "&")
        )

    def report(
        self, view: PageView, blocks: Sequence[tuple[str, str | None]] = (), wait: bool = True
    ) -> None:
        """What the script sends once the page was visible a second: the open, then the blocks seen."""
        if wait:
            time.sleep(DWELL_S)
        events: list[dict[str, object]] = [{"id": self._id(view.path, "open"), "type": "receipt_open"}]
        for block, segment in blocks:
            event: dict[str, object] = {
                "id": self._id(view.path, f"v:{block}"),
                "type": "block_view",
                "block": block,
            }
            if segment:
                event["segment"] = segment
            events.append(event)
        sent = self.client.post(view.events_url, json={"t": view.token, "events": events})
        assert sent.status_code == 204, sent.text

    def view(self, path: str, blocks: Sequence[tuple[str, str | None]] = ()) -> PageView:
        v = self.fetch(path)
        self.report(v, blocks)
        return v

    def follow(self, link: str) -> httpx.Response:
        return self.client.get(link.replace("&amp;", "&"), follow_redirects=False)

    def new_tab(self) -> None:
        self.tab_ids.clear()

    def _id(self, path: str, key: str) -> str:
        """sessionStorage: one id per page and event for the life of the tab (a reload sends the same)."""
        return self.tab_ids.setdefault(f"{path}:{key}", str(uuid.uuid4()))
