"""Journeys: the online touches of one profile before an offline purchase, within a lookback.

A `Touch` is one thing the buyer did online that a campaign could have caused: a site session (with its
source/medium/campaign and click ids), a click on a block of an e-receipt page, a promo code used at the till.
A `Purchase` is the offline receipt (integer kopecks, as everywhere in echeck). A `Journey` is a profile's
touches in the lookback window before one purchase (touches after the purchase never count), or, with no
purchase, a path that did not convert (the Markov model needs those too).

The channel of a touch comes from `classify_channel`: e-receipt clicks and promo codes are their own
channels; a site session is classified from its click ids and utm_medium/utm_source the way analytics
tools group channels (paid search, paid social, e-mail, ...). Plain Python, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_LOOKBACK",
    "DIRECT",
    "Channel",
    "Journey",
    "Purchase",
    "Touch",
    "TouchKind",
    "build_journeys",
    "classify_channel",
]

DEFAULT_LOOKBACK = timedelta(days=30)


class TouchKind(StrEnum):
    SITE_SESSION = "site_session"
    ERECEIPT_CLICK = "ereceipt_click"
    PROMO_CODE = "promo_code"


class Channel(StrEnum):
    """The default channel grouping. A tenant's reports may key on campaign or source instead."""

    DIRECT = "direct"
    PAID_SEARCH = "paid_search"
    PAID_SOCIAL = "paid_social"
    DISPLAY = "display"
    ORGANIC_SEARCH = "organic_search"
    ORGANIC_SOCIAL = "organic_social"
    EMAIL = "email"
    MESSENGER = "messenger"
    SMS = "sms"
    REFERRAL = "referral"
    AFFILIATE = "affiliate"
    ERECEIPT = "ereceipt"
    PROMO_CODE = "promo_code"
    OTHER = "other"


DIRECT = Channel.DIRECT.value

_SEARCH_ENGINES = ("yandex", "google", "bing", "mail.ru", "go.mail.ru", "rambler", "duckduckgo", "yahoo")
_SOCIAL = ("vk", "vk.com", "vkontakte", "ok", "ok.ru", "odnoklassniki", "telegram", "t.me", "dzen",
           "facebook", "instagram", "youtube", "tiktok", "rutube")  # fmt: skip
_MESSENGERS = ("viber", "whatsapp", "telegram_bot", "max")
_PAID_MEDIA = ("cpc", "ppc", "paid", "paidsearch", "paid_search", "cpm", "cpv", "cpa", "retargeting")


def url_host(url: str | None) -> str | None:
    """The host of a page or referrer URL; None when there is none or it does not parse."""
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def classify_channel(
    kind: TouchKind,
    *,
    source: str | None = None,
    medium: str | None = None,
    yclid: str | None = None,
    gclid: str | None = None,
    fbclid: str | None = None,
    referrer_host: str | None = None,
) -> str:
    """The channel of a touch. Click ids win over utm tags (an ad click is paid whatever the tags say)."""
    if kind is TouchKind.ERECEIPT_CLICK:
        return Channel.ERECEIPT.value
    if kind is TouchKind.PROMO_CODE:
        return Channel.PROMO_CODE.value
    if yclid or gclid:
        return Channel.PAID_SEARCH.value
    if fbclid:
        return Channel.PAID_SOCIAL.value
    src = (source or "").strip().lower()
    med = (medium or "").strip().lower()
    social = src in _SOCIAL or any(src.endswith("." + s) for s in _SOCIAL if "." in s)
    if med in _PAID_MEDIA:
        return Channel.PAID_SOCIAL.value if social else Channel.PAID_SEARCH.value
    if med in ("display", "banner", "cpm_display", "video"):
        return Channel.DISPLAY.value
    if med in ("email", "e-mail", "e_mail", "newsletter"):
        return Channel.EMAIL.value
    if med in ("sms",):
        return Channel.SMS.value
    if med in ("messenger", "push") or src in _MESSENGERS:
        return Channel.MESSENGER.value
    if med in ("affiliate", "partner", "cpa_partner"):
        return Channel.AFFILIATE.value
    if med in ("social", "smm", "social-network", "sm") or social:
        return Channel.ORGANIC_SOCIAL.value
    if med == "organic" or (not med and src in _SEARCH_ENGINES):
        return Channel.ORGANIC_SEARCH.value
    if med == "referral":
        return Channel.REFERRAL.value
    if med or src:
        return Channel.OTHER.value
    host = (referrer_host or "").strip().lower()
    if host:
        bare = host.removeprefix("www.")
        if any(bare == e or bare.startswith(e + ".") for e in _SEARCH_ENGINES):
            return Channel.ORGANIC_SEARCH.value
        if any(bare == s or bare.startswith(s + ".") or bare == s + ".com" for s in _SOCIAL):
            return Channel.ORGANIC_SOCIAL.value
        return Channel.REFERRAL.value
    return Channel.DIRECT.value


@dataclass(frozen=True, slots=True)
class Touch:
    """One online touch. `channel` is normally `classify_channel(...)` of the same fields."""

    at: datetime
    kind: TouchKind
    channel: str
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    yclid: str | None = None
    gclid: str | None = None
    client_id: str | None = None  # the Yandex Metrica ClientID seen with this session, if any
    ec_click: str | None = None  # the e-receipt click id (receipt + block), for e-receipt clicks
    block_id: str | None = None
    promo_code: str | None = None

    @property
    def is_direct(self) -> bool:
        return self.channel == DIRECT


@dataclass(frozen=True, slots=True)
class Purchase:
    """An offline receipt as attribution sees it. `revenue` is integer kopecks."""

    receipt_id: str
    at: datetime
    revenue: int
    store_id: str | None = None
    region: str | None = None
    profile_id: str | None = None  # None: the buyer is not identified

    def __post_init__(self) -> None:
        if isinstance(self.revenue, bool) or not isinstance(self.revenue, int):
            raise TypeError("revenue is integer kopecks")


@dataclass(frozen=True, slots=True)
class Journey:
    """A profile's touches (oldest first) before `purchase`, within the lookback; purchase None: no sale."""

    profile_id: str
    touches: tuple[Touch, ...]
    purchase: Purchase | None = None
    channels: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        touches = tuple(sorted(self.touches, key=lambda t: t.at))
        if self.purchase is not None and any(t.at > self.purchase.at for t in touches):
            raise ValueError("a journey's touches must precede its purchase")
        object.__setattr__(self, "touches", touches)
        object.__setattr__(self, "channels", tuple(t.channel for t in touches))

    @property
    def converted(self) -> bool:
        return self.purchase is not None

    @property
    def revenue(self) -> int:
        return self.purchase.revenue if self.purchase is not None else 0


def build_journeys(
    touches: Mapping[str, Sequence[Touch]],
    purchases: Iterable[Purchase],
    lookback: timedelta = DEFAULT_LOOKBACK,
    *,
    with_non_converting: bool = True,
) -> list[Journey]:
    """One journey per purchase of an identified buyer: that profile's touches in (at - lookback, at].

    A touch may belong to several purchases' journeys (each purchase is credited on its own, as analytics
    tools do per conversion). With `with_non_converting`, each profile's touches that belong to no purchase
    form one non-converting journey (the Markov model's paths to "null"). Purchases of unidentified buyers
    have no profile and no journey (the ROPO figures count them as offline-only).
    Output order: by profile id, then purchase time, the non-converting journey last; deterministic.
    """
    if lookback <= timedelta(0):
        raise ValueError("the lookback must be positive")
    by_profile: dict[str, list[Purchase]] = {}
    for purchase in purchases:
        if purchase.profile_id is not None:
            by_profile.setdefault(purchase.profile_id, []).append(purchase)
    out: list[Journey] = []
    for profile_id in sorted(set(by_profile) | set(touches)):
        own = sorted(touches.get(profile_id, ()), key=lambda t: t.at)
        used = [False] * len(own)
        for purchase in sorted(by_profile.get(profile_id, ()), key=lambda p: (p.at, p.receipt_id)):
            start = purchase.at - lookback
            window = []
            for i, touch in enumerate(own):
                if start < touch.at <= purchase.at:
                    window.append(touch)
                    used[i] = True
            out.append(Journey(profile_id, tuple(window), purchase))
        if with_non_converting:
            rest = tuple(t for t, u in zip(own, used, strict=True) if not u)
            if rest:
                out.append(Journey(profile_id, rest, None))
    return out
