"""Prices in kopecks. Defaults from REFERENCE.md: Viber 0.60 RUB, push and e-mail free, the fiscal operator's
flat 2 RUB per receipt (what the saving is measured against). SMS: REFERENCE gives 1.40–2.00 RUB; the DIY
chain's 81% saving with 23% SMS and 9% Viber at 0.60 implies ≈1.40 (2 × 0.19 = 0.09 × 0.60 + 0.23 × x), so
1.40 is the default; a tenant sets its own contract price with `echeck-cloud channels prices`."""

from typing import Any

from cloud.delivery.cascade import Channel
from cloud.errors import InvalidSetting

OPERATOR = "operator"
DEFAULT_PRICES: dict[str, int] = {
    Channel.EMAIL.value: 0,
    Channel.PUSH.value: 0,
    Channel.VIBER.value: 60,
    Channel.SMS.value: 140,
    OPERATOR: 200,
}


def merged(stored: dict[str, Any] | None) -> dict[str, int]:
    return {**DEFAULT_PRICES, **{k: int(v) for k, v in (stored or {}).items()}}


def parse_prices(items: list[str]) -> dict[str, int]:
    """['sms=1.70', 'viber=0.55'] (rubles) → {'sms': 170, 'viber': 55}."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in DEFAULT_PRICES:
            raise InvalidSetting(
                f"price {item!r}: write NAME=RUBLES with NAME one of {', '.join(DEFAULT_PRICES)}"
            )
        try:
            rub = float(value)
        except ValueError as exc:
            raise InvalidSetting(f"price {item!r}: {value!r} is not a number of rubles") from exc
        if not 0 <= rub <= 100:
            raise InvalidSetting(f"price {item!r}: must be between 0 and 100 rubles")
        out[name] = round(rub * 100)
    return out
