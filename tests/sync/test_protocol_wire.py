"""The fast "storable?" pass of the wire checks answers exactly as the full pass that names the fields."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from receipts.examples import REFERENCE_SALE
from sync import protocol
from sync.protocol import MAX_WIRE_STRING


def _full(data: Any) -> list[Any]:
    """The pass that names the fields (what `wire_problems` runs when the fast pass says no)."""
    return protocol._every_problem(data)


_LENGTHS = st.sampled_from([63, 64, 65, 1024, 1025, MAX_WIRE_STRING, MAX_WIRE_STRING + 1])
_INT64_EDGES = st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1])
# Strings near every bound, with the characters no database stores.
_texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["a\x00b", "\ud800", "x\udfff", "ж\x00", "ж\udc00", "ok", "молоко", ""]),
    st.builds(lambda n: "x" * n, _LENGTHS),
)
_ints = st.one_of(st.integers(-5, 5), _INT64_EDGES, st.booleans())
_leaves = st.one_of(st.none(), _ints, st.floats(allow_nan=False), _texts)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_texts, inner, max_size=4)),
    max_leaves=40,
)


@given(_values)
@settings(max_examples=3000, deadline=None)
def test_fast_pass_agrees_on_any_json_value(data: Any) -> None:
    assert protocol._storable(data) == (not _full(data)), data


@given(
    loyalty=st.one_of(st.none(), _texts),
    extra=st.dictionaries(_texts, st.one_of(_texts, _ints), max_size=40),
    deep=st.integers(0, 10),
    name=_texts,
)
@settings(max_examples=2000, deadline=None)
def test_fast_pass_agrees_on_receipts(loyalty: Any, extra: Any, deep: int, name: str) -> None:
    receipt: dict[str, Any] = {**REFERENCE_SALE, "loyalty_card": loyalty, "extra": extra}
    nested: Any = name
    for _ in range(deep):
        nested = [nested]
    receipt["items"] = [{**REFERENCE_SALE["items"][0], "name": nested}]
    assert protocol._storable(receipt) == (not _full(receipt)), receipt


def test_a_bad_receipt_still_gets_every_problem_named() -> None:
    receipt = {**REFERENCE_SALE, "loyalty_card": "x" * 65, "extra": {"a\x00": "b", "c": "y" * 1025}}
    assert [p["loc"] for p in protocol.wire_problems(receipt)] == [p["loc"] for p in _full(receipt)]
    assert len(protocol.wire_problems(receipt)) == 3


def test_a_clean_receipt_is_storable() -> None:
    assert protocol._storable(dict(REFERENCE_SALE))
    assert protocol.wire_problems(dict(REFERENCE_SALE)) == []
