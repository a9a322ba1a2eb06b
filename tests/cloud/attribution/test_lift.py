"""Incrementality intervals: published values, a simulated holdout whose interval covers the known effect,
coverage over many seeded replicates, and clear errors for inputs a lift cannot come from."""

import math
import random

import pytest

from cloud.attribution.lift import (
    LiftInputError,
    LiftMethod,
    mean_lift,
    mean_lift_from_stats,
    rate_lift,
    student_t_quantile,
)


def test_rate_lift_matches_newcombes_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10 (hybrid score
    # without continuity correction): 0.0524 to 0.3339.
    lift = rate_lift(56, 70, 48, 80)
    assert lift.absolute == pytest.approx(0.2)
    assert lift.ci_low == pytest.approx(0.0524, abs=5e-5)
    assert lift.ci_high == pytest.approx(0.3339, abs=5e-5)
    assert lift.method is LiftMethod.RATE
    assert lift.significant


def test_relative_lift_is_katz_log_interval_of_the_risk_ratio() -> None:
    lift = rate_lift(56, 70, 48, 80)
    rr = (56 / 70) / (48 / 80)
    se = math.sqrt(1 / 56 - 1 / 70 + 1 / 48 - 1 / 80)
    assert lift.relative == pytest.approx(rr - 1)
    assert lift.relative_ci_low == pytest.approx(rr * math.exp(-1.959963985 * se) - 1, rel=1e-8)
    assert lift.relative_ci_high == pytest.approx(rr * math.exp(1.959963985 * se) - 1, rel=1e-8)


def test_simulated_half_holdout_interval_covers_the_true_effect() -> None:
    # 20 000 buyers, half held out of the e-receipt block; the block raises the chance of an offline visit
    # from 5 % to 6 % (true absolute effect +1 point, relative +20 %).
    rng = random.Random(20240615)
    base, effect = 0.05, 0.01
    treated = [0, 0]
    holdout = [0, 0]
    for _ in range(20_000):
        group = treated if rng.random() < 0.5 else holdout
        p = base + effect if group is treated else base
        group[0] += rng.random() < p
        group[1] += 1
    lift = rate_lift(treated[0], treated[1], holdout[0], holdout[1])
    assert lift.covers(effect)
    assert lift.relative_ci_low is not None
    assert lift.relative_ci_high is not None
    assert lift.relative_ci_low <= effect / base <= lift.relative_ci_high
    # and it is the same figure every run (seeded)
    assert lift == rate_lift(treated[0], treated[1], holdout[0], holdout[1])


def test_rate_interval_coverage_is_near_nominal_over_many_seeded_holdouts() -> None:
    rng = random.Random(7)
    base, effect, n, runs = 0.04, 0.02, 1500, 400
    covered = relative_covered = 0
    for _ in range(runs):
        a = sum(rng.random() < base + effect for _ in range(n))
        c = sum(rng.random() < base for _ in range(n))
        lift = rate_lift(a, n, c, n)
        covered += lift.covers(effect)
        if lift.relative_ci_low is not None and lift.relative_ci_high is not None:
            relative_covered += lift.relative_ci_low <= effect / base <= lift.relative_ci_high
    assert 0.92 <= covered / runs <= 0.98
    assert 0.92 <= relative_covered / runs <= 0.98


def test_rate_lift_without_successes_keeps_a_finite_interval() -> None:
    none_anywhere = rate_lift(0, 10, 0, 20)
    assert none_anywhere.absolute == 0
    assert -1 <= none_anywhere.ci_low < 0 < none_anywhere.ci_high <= 1
    assert none_anywhere.relative is None
    assert none_anywhere.relative_ci_low is None
    none_treated = rate_lift(0, 10, 3, 20)
    assert none_treated.relative == -1
    assert none_treated.relative_ci_low is not None
    assert none_treated.relative_ci_high is not None
    assert -1 < none_treated.relative_ci_low < 0 < none_treated.relative_ci_high
    everyone = rate_lift(10, 10, 20, 20)
    assert everyone.absolute == 0
    assert everyone.ci_low < 0 < everyone.ci_high


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0, 1, 10), "treated group is empty"),
        ((1, 10, 0, 0), "holdout group is empty"),
        ((11, 10, 1, 10), "between 0 and n=10"),
        ((-1, 10, 1, 10), "between 0 and n=10"),
        ((1, 10, 1, -5), "holdout group is empty"),
    ],
)
def test_rate_lift_refuses_impossible_counts(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(LiftInputError, match=message):
        rate_lift(*args)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_confidence_must_be_a_probability(confidence: float) -> None:
    with pytest.raises(LiftInputError, match="confidence"):
        rate_lift(5, 10, 5, 10, confidence=confidence)
    with pytest.raises(LiftInputError, match="confidence"):
        mean_lift([1.0, 2.0], [1.0, 3.0], confidence=confidence)


def test_mean_lift_is_welchs_interval() -> None:
    # Values checked against scipy.stats.ttest_ind(equal_var=False).confidence_interval(0.95) once:
    # treated [10, 12, 14, 30, 0], holdout [5, 8, 0, 0, 9, 11] -> (-5.49639..., 20.89639...).
    treated = [10.0, 12.0, 14.0, 30.0, 0.0]
    holdout = [5.0, 8.0, 0.0, 0.0, 9.0, 11.0]
    lift = mean_lift(treated, holdout)
    assert lift.method is LiftMethod.MEAN
    assert lift.absolute == pytest.approx(13.2 - 5.5)
    assert lift.ci_low == pytest.approx(-5.496390, abs=1e-5)
    assert lift.ci_high == pytest.approx(20.896390, abs=1e-5)
    assert not lift.significant
    assert lift.relative == pytest.approx(13.2 / 5.5 - 1)


def test_mean_lift_from_stats_equals_the_values_form() -> None:
    treated = [10.0, 12.0, 14.0, 30.0, 0.0]
    holdout = [5.0, 8.0, 0.0, 0.0, 9.0, 11.0]
    m1, m0 = sum(treated) / 5, sum(holdout) / 6
    s1 = math.sqrt(sum((v - m1) ** 2 for v in treated) / 4)
    s0 = math.sqrt(sum((v - m0) ** 2 for v in holdout) / 5)
    assert mean_lift_from_stats(m1, s1, 5, m0, s0, 6) == pytest.approx(mean_lift(treated, holdout))


def test_simulated_revenue_per_buyer_interval_covers_the_true_effect() -> None:
    # Revenue per buyer: 30 % of buyers come back and spend Exp(mean 2000); the campaign adds 300 roubles
    # to each returning buyer's mean -> true lift 0.3 * 300 = 90 roubles per buyer.
    rng = random.Random(31337)
    treated: list[float] = []
    holdout: list[float] = []
    for _ in range(40_000):
        is_treated = rng.random() < 0.5
        spend = rng.expovariate(1 / (2300 if is_treated else 2000)) if rng.random() < 0.3 else 0.0
        (treated if is_treated else holdout).append(spend)
    lift = mean_lift(treated, holdout)
    assert lift.covers(90.0)
    assert lift.relative_ci_low is not None
    assert lift.relative_ci_high is not None
    assert lift.relative_ci_low <= 0.15 <= lift.relative_ci_high


def test_mean_lift_degenerate_inputs() -> None:
    with pytest.raises(LiftInputError, match="treated group has 1 value"):
        mean_lift([1.0], [1.0, 2.0])
    with pytest.raises(LiftInputError, match="holdout group has 0 value"):
        mean_lift([1.0, 2.0], [])
    with pytest.raises(LiftInputError, match="zero variance"):
        mean_lift([5.0, 5.0], [3.0, 3.0, 3.0])
    with pytest.raises(LiftInputError, match="finite"):
        mean_lift([1.0, math.inf], [1.0, 2.0])
    with pytest.raises(LiftInputError, match="finite"):
        mean_lift_from_stats(1.0, -1.0, 5, 1.0, 1.0, 5)
    zero_holdout = mean_lift([1.0, 3.0], [0.0, 0.0, 0.0])
    assert zero_holdout.relative is None
    assert zero_holdout.relative_ci_high is None


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [  # printed tables (and scipy.stats.t.ppf)
        (0.975, 1, 12.706204736),
        (0.975, 2, 4.302652730),
        (0.975, 10, 2.228138852),
        (0.975, 30, 2.042272456),
        (0.95, 5, 2.015048373),
        (0.995, 20, 2.845339710),
        (0.975, 7.5, 2.333039627),  # fractional df, as Welch gives
        (0.025, 10, -2.228138852),
        (0.5, 3, 0.0),
        (0.975, 1e9, 1.959963985),
    ],
)
def test_student_t_quantile(p: float, df: float, expected: float) -> None:
    assert student_t_quantile(p, df) == pytest.approx(expected, abs=2e-6)
