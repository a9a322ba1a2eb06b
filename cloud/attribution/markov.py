"""Data-driven attribution: removal effects of a first-order absorbing Markov chain over journeys' channels.

The chain: states (start), one per channel, and two absorbing states (conversion) and (null). Each path
s -> c1 -> ... -> cn contributes its weight (conversions + non-conversions) to start->c1, c1->c2, ...,
and cn->(conversion) with its conversions, cn->(null) with its non-conversions; repeated consecutive
channels collapse into one visit (a channel does not transition to itself, as in ChannelAttribution).
Transition probabilities are the row-normalised counts.

With Q the transient-to-transient block and r the transient-to-conversion column, the fundamental matrix
N = (I - Q)^-1 gives the expected visits; x = N r is the probability of converting from each state, and
P = x[start]. Removing channel k (every transition into it goes to null) leaves exactly the converting
paths that never visit k, so

    P(without k) = P - h_k * x_k,     h_k = N[start, k] / N[k, k]  (the probability of ever reaching k)
    removal effect RE_k = 1 - P(without k) / P = h_k * x_k / P

(the probability that a converting path passes through k). This is what ChannelAttribution's
`markov_model` estimates by simulation (its `removal_effects`), computed here exactly, without a naive
matrix power (which gives negative credits) and without sampling, so it is deterministic.
The removal effects are normalised to sum to 1 before conversions and revenue are split.

Cost: one Gauss-Jordan inversion of an (n+1)^2 matrix, n the number of distinct keys (channels or
campaigns), O(n^3) in plain Python (no numpy): 0.2 s at 100 keys, ~2 s at 200, ~20 s at 400 (measured on a
loaded 2-core machine). Attribute by channel, or by campaign grouped to a few hundred keys at most.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["MarkovError", "MarkovPath", "MarkovResult", "removal_effects"]

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"


class MarkovError(ValueError):
    """Paths a Markov model cannot be estimated from (no conversion at all, negative counts)."""


@dataclass(frozen=True, slots=True)
class MarkovPath:
    """A sequence of channels (oldest first) with how many journeys ended in conversion and in none."""

    channels: Sequence[str]
    conversions: float
    nulls: float = 0.0


@dataclass(frozen=True, slots=True)
class MarkovResult:
    """`removal_effects`: raw RE per channel (each in [0, 1], they do not sum to 1); `shares`: normalised.
    `conversion_probability`: P(conversion) from start; `transitions`: (from, to) -> probability."""

    removal_effects: dict[str, float]
    shares: dict[str, float]
    conversion_probability: float
    transitions: dict[tuple[str, str], float]


def removal_effects(paths: Iterable[MarkovPath]) -> MarkovResult:
    counts: dict[str, dict[str, float]] = {}
    total_conversions = 0.0
    channels: set[str] = set()
    for path in paths:
        if path.conversions < 0 or path.nulls < 0:
            raise MarkovError("conversions and non-conversions of a path must not be negative")
        weight = path.conversions + path.nulls
        steps = _collapse(path.channels)
        if weight == 0 or not steps:
            continue
        channels.update(steps)
        previous = START
        for channel in steps:
            _add(counts, previous, channel, weight)
            previous = channel
        if path.conversions:
            _add(counts, previous, CONVERSION, path.conversions)
        if path.nulls:
            _add(counts, previous, NULL, path.nulls)
        total_conversions += path.conversions
    if total_conversions <= 0:
        raise MarkovError("no converting path: removal effects need at least one conversion")

    states = [START, *sorted(channels)]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    transitions: dict[tuple[str, str], float] = {}
    # I - Q, and r (to conversion)
    a = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    r = [0.0] * n
    for source in states:
        row = counts.get(source, {})
        total = sum(row.values())
        i = index[source]
        for target in sorted(row):
            p = row[target] / total
            transitions[(source, target)] = p
            if target == CONVERSION:
                r[i] += p
            elif target != NULL:
                a[i][index[target]] -= p
    fundamental = _invert(a)
    x = [sum(fundamental[i][j] * r[j] for j in range(n)) for i in range(n)]
    p_conv = x[0]
    effects: dict[str, float] = {}
    for channel in states[1:]:
        k = index[channel]
        reach = fundamental[0][k] / fundamental[k][k]
        effects[channel] = min(max(reach * x[k] / p_conv, 0.0), 1.0)
    total_effect = sum(effects.values())
    shares = {c: e / total_effect for c, e in effects.items()}
    return MarkovResult(effects, shares, p_conv, transitions)


def _collapse(channels: Sequence[str]) -> list[str]:
    out: list[str] = []
    for channel in channels:
        if not out or out[-1] != channel:
            out.append(channel)
    return out


def _add(counts: dict[str, dict[str, float]], source: str, target: str, weight: float) -> None:
    row = counts.setdefault(source, {})
    row[target] = row.get(target, 0.0) + weight


def _invert(matrix: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan with partial pivoting. I - Q of an absorbing chain is non-singular."""
    n = len(matrix)
    aug = [[*row, *(1.0 if i == j else 0.0 for j in range(n))] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda i: abs(aug[i][col]))
        if abs(aug[pivot][col]) < 1e-300:  # pragma: no cover - every state reaches an absorbing one
            raise MarkovError("the chain has a state from which no path ends")
        aug[col], aug[pivot] = aug[pivot], aug[col]
        inv = 1.0 / aug[col][col]
        pivot_row = aug[col] = [v * inv for v in aug[col]]
        for i in range(n):
            row = aug[i]
            factor = row[col]
            if i != col and factor:
                # Columns left of `col` are already zero in the pivot row: update from `col` on.
                row[col:] = [a - factor * b for a, b in zip(row[col:], pivot_row[col:], strict=True)]
    return [row[n:] for row in aug]
