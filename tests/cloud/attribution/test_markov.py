"""Markov removal effects: exact absorbing-chain figures against the reference implementation's answers.

ChannelAttribution (PyPI, GPL-3, a test-only dependency) estimates the removal effects by simulating
paths through the chain; ours solves the chain exactly. The reference figures below were printed by
ChannelAttribution 2.2.5 `markov_model(order=1, nsim_start=2e6, max_step=500, seed=1, out_more=True)` on the
same paths; when the package is installed the tests also run it live on these and on seeded random paths.
Agreement is within the simulation's error (a fold of 200 000 simulated paths: ~0.002 per effect).
"""

import random
import time

import pytest

from cloud.attribution.markov import MarkovError, MarkovPath, removal_effects

PATHS = [
    ("paid_search > email > ereceipt", 120, 300),
    ("paid_search > ereceipt", 90, 200),
    ("email", 15, 400),
    ("ereceipt > paid_search", 60, 80),
    ("organic_search > paid_search > direct", 40, 260),
    ("direct", 30, 500),
    ("ereceipt", 110, 150),
    ("paid_social > ereceipt > ereceipt > direct", 25, 90),
    ("paid_social", 5, 300),
    ("email > direct > email", 12, 70),
]
TOTAL_CONVERSIONS = sum(c for _, c, _ in PATHS)

# ChannelAttribution 2.2.5, printed once (see the module docstring).
REFERENCE_REMOVAL_EFFECTS = {
    "paid_search": 0.4620120883466079,
    "email": 0.3043269502344235,
    "ereceipt": 0.6760718522284359,
    "organic_search": 0.12718183358752755,
    "direct": 0.2094842682031294,
    "paid_social": 0.07702084392475851,
}
REFERENCE_CONVERSIONS = {
    "paid_search": 126.20031346531339,
    "email": 83.12803384208043,
    "ereceipt": 184.67153095850387,
    "organic_search": 34.7401889921938,
    "direct": 57.221403898534625,
    "paid_social": 21.03852884337386,
}


def ours(paths: list[tuple[str, int, int]]) -> tuple[dict[str, float], dict[str, float]]:
    result = removal_effects(MarkovPath(p.split(" > "), c, n) for p, c, n in paths)
    total = sum(c for _, c, _ in paths)
    return result.removal_effects, {k: v * total for k, v in result.shares.items()}


def reference(paths: list[tuple[str, int, int]], seed: int = 1) -> tuple[dict[str, float], dict[str, float]]:
    pd = pytest.importorskip("pandas")
    ca = pytest.importorskip("ChannelAttribution")
    data = pd.DataFrame(
        {"path": [p for p, _, _ in paths], "conv": [c for _, c, _ in paths], "null": [n for *_, n in paths]}
    )
    out = ca.markov_model(
        data, "path", "conv", var_null="null", order=1, nsim_start=2e6, max_step=500, seed=seed,
        out_more=True, verbose=False, flg_pro=False,
    )  # fmt: skip
    effects = dict(
        zip(out["removal_effects"].channel_name, out["removal_effects"].removal_effect, strict=True)
    )
    conversions = dict(zip(out["result"].channel_name, out["result"].total_conversions, strict=True))
    return effects, conversions


def assert_close(
    effects: dict[str, float], conversions: dict[str, float], ref_effects: dict[str, float],
    ref_conversions: dict[str, float], total: float,
) -> None:  # fmt: skip
    assert effects.keys() == ref_effects.keys()
    for channel, expected in ref_effects.items():
        assert effects[channel] == pytest.approx(expected, abs=0.01), channel
        assert conversions[channel] == pytest.approx(ref_conversions[channel], abs=0.01 * total), channel


def test_removal_effects_match_the_reference_figures() -> None:
    effects, conversions = ours(PATHS)
    assert_close(effects, conversions, REFERENCE_REMOVAL_EFFECTS, REFERENCE_CONVERSIONS, TOTAL_CONVERSIONS)
    assert sum(conversions.values()) == pytest.approx(TOTAL_CONVERSIONS)


def test_removal_effects_match_the_package_live() -> None:
    ref_effects, ref_conversions = reference(PATHS)
    effects, conversions = ours(PATHS)
    assert_close(effects, conversions, ref_effects, ref_conversions, TOTAL_CONVERSIONS)


def test_removal_effects_match_the_package_on_seeded_random_paths() -> None:
    rng = random.Random(2025)
    channels = ["paid_search", "paid_social", "email", "ereceipt", "organic_search", "direct", "referral"]
    lift = {"ereceipt": 0.15, "email": 0.08, "paid_search": 0.05}  # known channels raise conversion
    counts: dict[str, list[int]] = {}
    for _ in range(20_000):
        path = [rng.choice(channels) for _ in range(rng.randint(1, 5))]
        p = 0.05 + sum(lift.get(c, 0.0) for c in set(path))
        converted = rng.random() < p
        counts.setdefault(" > ".join(path), [0, 0])[0 if converted else 1] += 1
    paths = [(p, c, n) for p, (c, n) in sorted(counts.items())]
    total = sum(c for _, c, _ in paths)
    ref_effects, ref_conversions = reference(paths)
    effects, conversions = ours(paths)
    assert_close(effects, conversions, ref_effects, ref_conversions, total)


def test_effects_are_probabilities_and_shares_sum_to_one() -> None:
    result = removal_effects(MarkovPath(p.split(" > "), c, n) for p, c, n in PATHS)
    assert all(0 <= e <= 1 for e in result.removal_effects.values())
    assert sum(result.shares.values()) == pytest.approx(1)
    assert 0 < result.conversion_probability < 1
    # 530 of the 2 857 journeys start with direct
    assert result.transitions[("(start)", "direct")] == pytest.approx(530 / 2857)


def test_only_converting_paths_are_enough() -> None:
    # Without non-converting paths every path converts: RE_k = share of conversions whose path visits k.
    result = removal_effects([MarkovPath(["a", "b"], 3), MarkovPath(["b"], 1)])
    assert result.removal_effects == pytest.approx({"a": 0.75, "b": 1.0})


def test_degenerate_inputs() -> None:
    with pytest.raises(MarkovError, match="no converting path"):
        removal_effects([MarkovPath(["a"], 0, 5)])
    with pytest.raises(MarkovError, match="no converting path"):
        removal_effects([])
    with pytest.raises(MarkovError, match="negative"):
        removal_effects([MarkovPath(["a"], -1, 5)])


def test_a_hundred_channels_take_well_under_seconds() -> None:
    rng = random.Random(5)
    names = [f"campaign_{i:03d}" for i in range(100)]
    paths = [
        MarkovPath([rng.choice(names) for _ in range(rng.randint(1, 6))], rng.randint(0, 3), 5)
        for _ in range(5000)
    ]
    started = time.perf_counter()
    result = removal_effects(paths)
    assert time.perf_counter() - started < 3.0  # ~0.2 s; slack for a loaded CI machine
    assert len(result.removal_effects) == 100
