"""Attribution models side by side over journeys: who gets the credit for an offline purchase.

Rule-based models give each touch of a converting journey a weight (the weights of one journey sum to 1):

* last non-direct click (the default, as GA4): all to the last touch that is not `direct`; a journey of
  direct touches only gives it to the last of them;
* first touch: all to the first touch;
* linear: 1/n to each of n touches;
* position-based 40/20/40: 40 % to the first, 40 % to the last, 20 % split evenly between the ones in the
  middle (one touch: 100 %; two: 50/50);
* time decay, half-life 7 days: weight 2^(-(purchase time - touch time) / half-life), normalised.

The data-driven model (`Model.MARKOV`, cloud/attribution/markov.py) splits the total conversions and revenue
of all converting journeys by the normalised removal effects of a first-order Markov chain estimated from
converting and non-converting journeys.

Credit goes to a key of the touch, `channel` by default (`by_campaign`, `by_source` for other cuts). Each
model's revenue is apportioned in whole kopecks (largest remainder) so that a model's credits add up to
exactly the attributed revenue. Purchases without any touch in the lookback are not attributed (ROPO counts
them as offline-only) and are reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from cloud.attribution.journeys import Journey, Touch
from cloud.attribution.markov import MarkovPath, removal_effects

__all__ = [
    "DEFAULT_HALF_LIFE",
    "DEFAULT_MODEL",
    "Attribution",
    "Credit",
    "Model",
    "apportion",
    "attribute",
    "by_campaign",
    "by_channel",
    "by_source",
    "compare_models",
    "touch_weights",
]

DEFAULT_HALF_LIFE = timedelta(days=7)


class Model(StrEnum):
    LAST_NON_DIRECT_CLICK = "last_non_direct_click"
    FIRST_TOUCH = "first_touch"
    LINEAR = "linear"
    POSITION_BASED = "position_based"
    TIME_DECAY = "time_decay"
    MARKOV = "markov"


DEFAULT_MODEL = Model.LAST_NON_DIRECT_CLICK

Key = Callable[[Touch], str]


def by_channel(touch: Touch) -> str:
    return touch.channel


def by_campaign(touch: Touch) -> str:
    """'source / medium / campaign' (missing parts as '-'), the way ad reports name a campaign."""
    return f"{touch.source or '-'} / {touch.medium or '-'} / {touch.campaign or touch.channel}"


def by_source(touch: Touch) -> str:
    return touch.source or touch.channel


@dataclass(frozen=True, slots=True)
class Credit:
    key: str
    conversions: float
    revenue: int  # kopecks


@dataclass(frozen=True, slots=True)
class Attribution:
    """One model's answer. `credits` are sorted by revenue, then conversions, then key (descending/asc.)."""

    model: Model
    credits: tuple[Credit, ...]
    conversions: int  # converting journeys with at least one touch
    revenue: int  # their revenue, kopecks (= the sum of the credits' revenue)
    unattributed_conversions: int  # converting journeys without a touch in the lookback
    unattributed_revenue: int
    removal_effects: Mapping[str, float] | None = None  # the Markov model's raw removal effects

    def credit(self, key: str) -> Credit:
        for c in self.credits:
            if c.key == key:
                return c
        return Credit(key, 0.0, 0)

    def as_dict(self) -> dict[str, tuple[float, int]]:
        return {c.key: (c.conversions, c.revenue) for c in self.credits}


def touch_weights(
    model: Model, journey: Journey, *, half_life: timedelta = DEFAULT_HALF_LIFE
) -> tuple[float, ...]:
    """The rule-based model's weight of each touch of a converting journey (oldest first; they sum to 1)."""
    touches = journey.touches
    n = len(touches)
    if n == 0:
        return ()
    if model is Model.LAST_NON_DIRECT_CLICK:
        chosen = next((i for i in range(n - 1, -1, -1) if not touches[i].is_direct), n - 1)
        return tuple(1.0 if i == chosen else 0.0 for i in range(n))
    if model is Model.FIRST_TOUCH:
        return tuple(1.0 if i == 0 else 0.0 for i in range(n))
    if model is Model.LINEAR:
        return tuple(1.0 / n for _ in range(n))
    if model is Model.POSITION_BASED:
        if n == 1:
            return (1.0,)
        if n == 2:
            return (0.5, 0.5)
        middle = 0.2 / (n - 2)
        return tuple(0.4 if i in (0, n - 1) else middle for i in range(n))
    if model is Model.TIME_DECAY:
        if journey.purchase is None:
            raise ValueError("time decay needs the purchase time")
        if half_life <= timedelta(0):
            raise ValueError("the half-life must be positive")
        at = journey.purchase.at
        raw = [math.pow(2.0, -((at - t.at) / half_life)) for t in touches]
        total = math.fsum(raw)
        return tuple(w / total for w in raw)
    raise ValueError(f"{model} is not a rule-based model; use attribute()")


def attribute(
    journeys: Iterable[Journey],
    model: Model = DEFAULT_MODEL,
    *,
    key: Key = by_channel,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> Attribution:
    """Conversions and revenue of the converting journeys credited to `key(touch)` by `model`."""
    converting: list[Journey] = []
    non_converting: list[Journey] = []
    unattributed = unattributed_revenue = 0
    for journey in journeys:
        if journey.purchase is None:
            non_converting.append(journey)
        elif not journey.touches:
            unattributed += 1
            unattributed_revenue += journey.purchase.revenue
        else:
            converting.append(journey)
    total_revenue = sum(j.revenue for j in converting)
    conversions: dict[str, float] = {}
    revenue_share: dict[str, float] = {}
    effects: dict[str, float] | None = None
    if model is Model.MARKOV:
        if converting:
            result = removal_effects(_markov_paths(converting, non_converting, key))
            effects = result.removal_effects
            for k, share in result.shares.items():
                conversions[k] = share * len(converting)
                revenue_share[k] = share * total_revenue
    else:
        for journey in converting:
            weights = touch_weights(model, journey, half_life=half_life)
            for touch, weight in zip(journey.touches, weights, strict=True):
                if weight:
                    k = key(touch)
                    conversions[k] = conversions.get(k, 0.0) + weight
                    revenue_share[k] = revenue_share.get(k, 0.0) + weight * journey.revenue
    revenue = apportion(total_revenue, revenue_share)
    credits = sorted(
        (Credit(k, conversions[k], revenue.get(k, 0)) for k in conversions),
        key=lambda c: (-c.revenue, -c.conversions, c.key),
    )
    return Attribution(
        model=model,
        credits=tuple(credits),
        conversions=len(converting),
        revenue=total_revenue,
        unattributed_conversions=unattributed,
        unattributed_revenue=unattributed_revenue,
        removal_effects=effects,
    )


def compare_models(
    journeys: Sequence[Journey],
    models: Sequence[Model] = tuple(Model),
    *,
    key: Key = by_channel,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> dict[Model, Attribution]:
    """Every model over the same journeys, for the side-by-side table."""
    return {m: attribute(journeys, m, key=key, half_life=half_life) for m in models}


def apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split `total` kopecks in proportion to `shares` into whole kopecks that add up to `total`
    (largest remainder; ties by key, so the answer is deterministic)."""
    weight = math.fsum(shares.values())
    if total == 0 or weight <= 0:
        return dict.fromkeys(shares, 0)
    exact = {k: total * v / weight for k, v in shares.items()}
    floors = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(floors.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - floors[k]), k))
    for k in order[:left]:
        floors[k] += 1
    return floors


def _markov_paths(converting: list[Journey], non_converting: list[Journey], key: Key) -> list[MarkovPath]:
    grouped: dict[tuple[str, ...], list[float]] = {}
    for journey in converting:
        grouped.setdefault(tuple(key(t) for t in journey.touches), [0.0, 0.0])[0] += 1
    for journey in non_converting:
        if journey.touches:
            grouped.setdefault(tuple(key(t) for t in journey.touches), [0.0, 0.0])[1] += 1
    return [MarkovPath(path, c, n) for path, (c, n) in sorted(grouped.items())]
