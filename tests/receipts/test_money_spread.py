"""A receipt-wide discount spread over the items: exact to the kopeck, by weight, stable."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receipts.money import spread


def test_by_weight_with_the_kopecks_left_to_the_largest_remainders() -> None:
    assert spread([17980, 42900], 57836) == [17081, 40755]
    assert spread([100, 100, 100], 200) == [67, 67, 66]  # a tie goes to the earlier item


def test_a_surcharge_and_the_edges() -> None:
    assert spread([1000, 3000], 4400) == [1100, 3300]
    assert spread([0, 500], 400) == [0, 400]  # a free item stays free
    assert spread([500, 700], 1200) == [500, 700]
    assert spread([500, 700], 0) == [0, 0]
    with pytest.raises(ValueError, match="negative"):
        spread([500], -1)


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=30), st.integers(0, 10**8))
def test_always_adds_up_and_never_goes_negative(totals: list[int], target: int) -> None:
    result = spread(totals, target)
    if sum(totals) == 0:
        assert result == totals
        return
    assert sum(result) == target
    assert all(r >= 0 for r in result)
    assert all(abs(r * sum(totals) - t * target) < sum(totals) for r, t in zip(result, totals, strict=True))
