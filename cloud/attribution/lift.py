"""Incrementality: what a campaign or an e-receipt block adds, measured against a holdout, with its interval.

Two questions, one answer type (`Lift`):

* `rate_lift`: did the treated group convert more often than the holdout? (buyers who came back, receipts
  that led to a click, stores whose buyers redeemed a promo code ...). Proportions p1 = a/n1 (treated) and
  p0 = c/n0 (holdout).
  - absolute lift p1 - p0, interval by Newcombe's hybrid score method (Newcombe 1998, method 10): the
    Wilson score intervals of each proportion combined by the square-and-add rule. Unlike the Wald
    interval it stays inside [-1, 1], does not collapse to a point when a group has 0 or n successes, and
    holds its coverage for small counts and rare events (conversion rates of a few per cent).
  - relative lift p1/p0 - 1, interval by Katz's log method for the risk ratio (Katz et al. 1978):
    ln(RR) +- z * sqrt(1/a - 1/n1 + 1/c - 1/n0). When a = 0 the Haldane correction (0.5 added to the
    successes and 1 to each n) keeps the interval finite; when the holdout has no successes at all the
    ratio is undefined and `relative`/its interval are None.
* `mean_lift`: did a treated buyer spend more? (revenue per buyer, basket size). Welch's unequal-variance
  t interval for m1 - m0 (Welch-Satterthwaite degrees of freedom); the relative lift m1/m0 - 1 by the
  delta method on ln(m1/m0): var = s1^2/(n1*m1^2) + s0^2/(n0*m0^2), normal quantile, back-transformed,
  which keeps the ratio's interval positive. Undefined (None) unless both means are positive.

Plain Python, no I/O and no numpy: the normal quantile is the standard library's `NormalDist`, Student's t
quantile is computed here from the regularized incomplete beta function (continued fraction) by bisection,
deterministic and accurate to ~1e-10. docs/attribution.md has the formulas with the references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

__all__ = [
    "Lift",
    "LiftInputError",
    "LiftMethod",
    "mean_lift",
    "mean_lift_from_stats",
    "rate_lift",
    "student_t_quantile",
]


class LiftInputError(ValueError):
    """Inputs a lift cannot be computed from (an empty group, more successes than trials, ...)."""


class LiftMethod(StrEnum):
    RATE = "newcombe-wilson / katz-log"
    MEAN = "welch-t / delta-log"


@dataclass(frozen=True, slots=True)
class Lift:
    """Treated vs holdout: the figures, the absolute lift with its interval, the relative lift with its own.

    `absolute` is in the metric's units (a difference of proportions, or roubles per buyer);
    `relative` is a fraction (0.25 = +25 %). `ci_low`/`ci_high` bound `absolute`; `relative_ci_low`/
    `relative_ci_high` bound `relative` and are None where the ratio is undefined (holdout rate or mean 0).
    """

    treated: float
    holdout: float
    treated_n: int
    holdout_n: int
    absolute: float
    ci_low: float
    ci_high: float
    relative: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    confidence: float
    method: LiftMethod

    @property
    def significant(self) -> bool:
        """True when the absolute lift's interval excludes zero (at the interval's confidence)."""
        return self.ci_low > 0 or self.ci_high < 0

    def covers(self, value: float) -> bool:
        """True when `value` (an absolute lift) lies inside the interval."""
        return self.ci_low <= value <= self.ci_high


# --- rates -------------------------------------------------------------------------------------------------


def rate_lift(
    treated_successes: int,
    treated_n: int,
    holdout_successes: int,
    holdout_n: int,
    confidence: float = 0.95,
) -> Lift:
    """Lift of a proportion: treated a/n1 against holdout c/n0 (see the module's docstring for the method)."""
    _check_count("treated", treated_successes, treated_n)
    _check_count("holdout", holdout_successes, holdout_n)
    z = _z(confidence)
    a, n1, c, n0 = treated_successes, treated_n, holdout_successes, holdout_n
    p1, p0 = a / n1, c / n0
    d = p1 - p0
    l1, u1 = wilson_interval(a, n1, z)
    l0, u0 = wilson_interval(c, n0, z)
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    relative: float | None = None
    rel_low: float | None = None
    rel_high: float | None = None
    if c > 0:
        relative = p1 / p0 - 1
        # Haldane's correction only when the treated group has no success (ln 0 is undefined).
        aa, nn1, cc, nn0 = (a, n1, c, n0) if a > 0 else (a + 0.5, n1 + 1, c + 0.5, n0 + 1)
        log_rr = math.log((aa / nn1) / (cc / nn0))
        se = math.sqrt(max(1 / aa - 1 / nn1 + 1 / cc - 1 / nn0, 0.0))
        rel_low = math.exp(log_rr - z * se) - 1
        rel_high = math.exp(log_rr + z * se) - 1
    return Lift(
        treated=p1,
        holdout=p0,
        treated_n=n1,
        holdout_n=n0,
        absolute=d,
        ci_low=max(low, -1.0),
        ci_high=min(high, 1.0),
        relative=relative,
        relative_ci_low=rel_low,
        relative_ci_high=rel_high,
        confidence=confidence,
        method=LiftMethod.RATE,
    )


def wilson_interval(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927), without continuity correction."""
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At p = 0 or 1 the bound is exactly 0 or 1; clamp the rounding error.
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _check_count(group: str, successes: int, n: int) -> None:
    if isinstance(n, bool) or isinstance(successes, bool):
        raise LiftInputError(f"{group}: counts must be integers, not booleans")
    if n <= 0:
        raise LiftInputError(f"{group} group is empty (n={n}): a rate needs at least one member")
    if successes < 0 or successes > n:
        raise LiftInputError(f"{group}: successes must be between 0 and n={n}, got {successes}")


# --- means -------------------------------------------------------------------------------------------------


def mean_lift(treated: Sequence[float], holdout: Sequence[float], confidence: float = 0.95) -> Lift:
    """Lift of a mean (revenue per buyer) from the two groups' values: Welch's t interval."""
    t_mean, t_var = _mean_var("treated", treated)
    h_mean, h_var = _mean_var("holdout", holdout)
    return mean_lift_from_stats(
        t_mean, math.sqrt(t_var), len(treated), h_mean, math.sqrt(h_var), len(holdout), confidence
    )


def mean_lift_from_stats(
    treated_mean: float,
    treated_sd: float,
    treated_n: int,
    holdout_mean: float,
    holdout_sd: float,
    holdout_n: int,
    confidence: float = 0.95,
) -> Lift:
    """Welch's interval from summary figures (mean, sample standard deviation with n-1, size) of each group;
    what a SQL aggregate gives without bringing every buyer's value into Python."""
    for group, n, sd, mean in (
        ("treated", treated_n, treated_sd, treated_mean),
        ("holdout", holdout_n, holdout_sd, holdout_mean),
    ):
        if n < 2:
            raise LiftInputError(f"{group} group has {n} value(s): a mean's interval needs at least 2")
        if not (math.isfinite(sd) and sd >= 0) or not math.isfinite(mean):
            raise LiftInputError(f"{group}: mean and standard deviation must be finite, sd >= 0")
    _z(confidence)  # validates the confidence
    v1 = treated_sd**2 / treated_n
    v0 = holdout_sd**2 / holdout_n
    se2 = v1 + v0
    if se2 == 0:
        raise LiftInputError("both groups have zero variance: the interval of the difference is undefined")
    se = math.sqrt(se2)
    df = se2**2 / (v1**2 / (treated_n - 1) + v0**2 / (holdout_n - 1))
    t = student_t_quantile(1 - (1 - confidence) / 2, df)
    d = treated_mean - holdout_mean
    relative: float | None = None
    rel_low: float | None = None
    rel_high: float | None = None
    if treated_mean > 0 and holdout_mean > 0:
        relative = treated_mean / holdout_mean - 1
        log_se = math.sqrt(v1 / treated_mean**2 + v0 / holdout_mean**2)
        z = _z(confidence)
        log_ratio = math.log(treated_mean / holdout_mean)
        rel_low = math.exp(log_ratio - z * log_se) - 1
        rel_high = math.exp(log_ratio + z * log_se) - 1
    return Lift(
        treated=treated_mean,
        holdout=holdout_mean,
        treated_n=treated_n,
        holdout_n=holdout_n,
        absolute=d,
        ci_low=d - t * se,
        ci_high=d + t * se,
        relative=relative,
        relative_ci_low=rel_low,
        relative_ci_high=rel_high,
        confidence=confidence,
        method=LiftMethod.MEAN,
    )


def _mean_var(group: str, values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    if n < 2:
        raise LiftInputError(f"{group} group has {n} value(s): a mean's interval needs at least 2")
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    if not math.isfinite(mean) or not math.isfinite(var):
        raise LiftInputError(f"{group}: values must be finite numbers")
    return mean, var


# --- quantiles ---------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not (isinstance(confidence, float | int) and 0 < confidence < 1):
        raise LiftInputError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def student_t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` (real, > 0) degrees of freedom, by bisection on the CDF."""
    if not 0 < p < 1:
        raise LiftInputError(f"a quantile's probability must be strictly between 0 and 1, got {p!r}")
    if not df > 0:
        raise LiftInputError(f"degrees of freedom must be positive, got {df!r}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -student_t_quantile(1 - p, df)
    if df > 1e7:
        return NormalDist().inv_cdf(p)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
        if hi > 1e300:  # pragma: no cover - p is < 1, the CDF reaches it long before
            break
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for t >= 0."""
    x = df / (df + t * t)
    return 1 - 0.5 * _reg_inc_beta(df / 2, 0.5, x)


def _reg_inc_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes 6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(ln_front) * _beta_cf(a, b, x) / a
    # The same prefactor serves the symmetric relation I_x(a, b) = 1 - I_{1-x}(b, a).
    return 1 - math.exp(ln_front) * _beta_cf(b, a, 1 - x) / b


def _beta_cf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c = 1.0
    d = 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h
