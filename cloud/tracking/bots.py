"""Who is no person: bot detection for the collector and the e-receipt page.

REFERENCE.md, "Opens, clicks and bots".

`classify(user_agent, headers)` answers with the reason a request came from no person, or None for a person:

- ``"no user agent"``: nothing a browser would send;
- ``"headless"``: HeadlessChrome, PhantomJS, Puppeteer, Playwright, Selenium (Umami #532, Jitsu #971: a
  headless browser runs scripts, so only its user agent or client hints give it away);
- ``"link preview: <app>"``: a messenger or social network fetching the page for its preview (Telegram,
  WhatsApp, Viber, Slack, Facebook/iMessage, Twitter/X, VK, Discord, Skype, LinkedIn);
- ``"mail proxy"``: a mail privacy proxy fetching every image (Apple Mail Privacy Protection, whose user
  agent is the bare ``Mozilla/5.0``; Gmail's GoogleImageProxy; Yahoo's YahooMailProxy);
- ``"scanner"``: a link scanner following every link (Microsoft SafeLinks / Defender, Mimecast, Proofpoint,
  Barracuda, Cisco IronPort, …);
- ``"crawler: <name>"``: anything on crawlerdetect's maintained list (the JayBizzle CrawlerDetect patterns,
  ported to Python and released on PyPI as the list grows).

Pure and fast: the crawlerdetect patterns are compiled once into one regex, results are cached per user agent.
The more specific rules run first, so a Telegram preview says "link preview: telegram", not "crawler".
Datacenter bursts and honeypot clicks are decided elsewhere (they need time and counts, not one request).
"""

import re
from collections.abc import Mapping
from functools import lru_cache

from crawlerdetect.providers import crawlers, exclusions

HEADLESS = "headless"
MAIL_PROXY = "mail proxy"
SCANNER = "scanner"
NO_USER_AGENT = "no user agent"

_HEADLESS = re.compile(r"HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|webdriver|SlimerJS", re.I)

# Messenger and social previews: (pattern, app). Only the preview fetchers' own tokens: a person reading a
# receipt inside Telegram's or Viber's in-app browser must stay a person.
_PREVIEWS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), app)
    for pattern, app in (
        (r"TelegramBot", "telegram"),
        (r"WhatsApp/", "whatsapp"),
        (r"Viber(?:Bot|LinkPreview)|Viber Link Preview|viber\.com/.*bot", "viber"),
        (r"Slackbot|Slack-ImgProxy|Slack/", "slack"),
        (r"facebookexternalhit|Facebot|facebookexternalua|meta-externalagent", "facebook"),
        (r"Twitterbot", "twitter"),
        (r"vkShare|VKShare|vk\.com/dev/Share", "vk"),
        (r"Discordbot", "discord"),
        (r"SkypeUriPreview", "skype"),
        (r"LinkedInBot", "linkedin"),
        (r"Iframely", "iframely"),
        (r"Embedly", "embedly"),
        (r"redditbot", "reddit"),
        (r"Pinterestbot", "pinterest"),
        (r"OdklBot|odnoklassniki", "ok"),
        (r"YandexMessenger|Yandex\.Messenger", "yandex messenger"),
    )
)

_MAIL_PROXIES = re.compile(
    r"GoogleImageProxy|YahooMailProxy|YandexImageResizer|Mail\.RU_Bot/Img|"
    r"Outlook-iOS-Android/.*Proxy|ImageProxy",
    re.I,
)

_SCANNERS = re.compile(
    r"SafeLinks|Microsoft Office Existence Discovery|MSOffice|Mimecast|Proofpoint|ppops|Barracuda|"
    r"IronPort|Cisco ESA|FireEye|Trellix|Forcepoint|Symantec|Sophos|Trend ?Micro|Zscaler|Fortinet|FortiGuard|"
    r"Kaspersky|Bitdefender|Check ?Point|urlscan|VirusTotal|Netcraft|BingPreview|Google-Safety|"
    r"Google-InspectionTool|Chrome-Lighthouse|MS Search|Outlook Link Scanner",
    re.I,
)

# Apple Mail Privacy Protection fetches with exactly this user agent (and nothing after it).
_BARE_MOZILLA = {"mozilla/5.0", "mozilla/4.0"}

_CRAWLERS = re.compile(f"({'|'.join(crawlers.data)})", re.I)
_EXCLUSIONS = re.compile(f"({'|'.join(exclusions.data)})", re.I)

# Header-borne user agents crawlerdetect also reads (proxies and transcoders put the original there).
_UA_HEADERS = ("x-original-user-agent", "x-device-user-agent", "x-operamini-phone-ua", "device-stock-ua")
_MAX_UA = 1024


def classify(user_agent: str | None, headers: Mapping[str, str] | None = None) -> str | None:
    """Why this request came from no person, or None for a person. `headers` may use any case of names."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    hints = lowered.get("sec-ch-ua", "")
    if hints and _HEADLESS.search(hints):
        return HEADLESS
    if lowered.get("x-scanner"):
        return SCANNER
    agent = (user_agent or "").strip()
    if not agent:
        agent = " ".join(lowered[h] for h in _UA_HEADERS if lowered.get(h)).strip()
        if not agent:
            return NO_USER_AGENT
    reason = _classify_agent(agent[:_MAX_UA])
    if reason is None:
        for name in _UA_HEADERS:
            extra = lowered.get(name)
            if extra and (reason := _classify_agent(extra[:_MAX_UA])) is not None:
                break
    return reason


def is_bot(user_agent: str | None, headers: Mapping[str, str] | None = None) -> bool:
    return classify(user_agent, headers) is not None


@lru_cache(maxsize=4096)
def _classify_agent(agent: str) -> str | None:
    if agent.lower() in _BARE_MOZILLA:
        return MAIL_PROXY
    if _HEADLESS.search(agent):
        return HEADLESS
    for pattern, app in _PREVIEWS:
        if pattern.search(agent):
            return f"link preview: {app}"
    if _MAIL_PROXIES.search(agent):
        return MAIL_PROXY
    if _SCANNERS.search(agent):
        return SCANNER
    stripped = _EXCLUSIONS.sub("", agent)
    if not stripped.strip():
        return None
    found = _CRAWLERS.search(stripped)
    if found is None:
        return None
    name = found.group(0).strip()[:40] or "unknown"
    return f"crawler: {name}"
