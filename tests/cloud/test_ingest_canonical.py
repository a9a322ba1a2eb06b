"""The canonical receipt JSON (hashed at ingest) is byte for byte what `json.dumps` made before orjson:
a receipt stored earlier and resent now must still be a duplicate, not a conflict."""

import hashlib
import json
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.service import canonical_json, content_hash
from receipts.examples import REFERENCE_SALE
from sync.protocol import receipt_from_wire, receipt_to_wire


def _before(wire: Any) -> str:
    return json.dumps(wire, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# What a receipt's wire form can hold: no floats (money is kopecks, quantities are decimal strings),
# integers within 64 bits, strings without lone surrogates (the wire checks refuse them first).
_texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), _texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_texts, inner, max_size=5)),
    max_leaves=30,
)


@given(st.dictionaries(_texts, _values, max_size=8))
@settings(max_examples=600, deadline=None)  # 3000 hit the 300 s timeout on a loaded 2-core machine
def test_same_bytes_as_json_dumps_for_any_wire_value(wire: dict[str, Any]) -> None:
    assert canonical_json(wire) == _before(wire)


def test_same_bytes_for_every_character_as_a_value_and_as_a_key() -> None:
    # Escapes (control characters, quote, backslash) and key order (code points, not UTF-16 units).
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        wire = {c: c + "x" + c for c in chunk}
        wire["\U0001f600"], wire["\uffff"], wire["\ue000"] = "a", "b", "c"
        assert canonical_json(wire) == _before(wire)


def test_content_hash_of_a_real_receipt_is_unchanged() -> None:
    wire = receipt_to_wire(receipt_from_wire({**REFERENCE_SALE, "extra": {"note": 'тест "кавычки"\n'}}))
    assert canonical_json(wire) == _before(wire)
    assert content_hash(wire) == hashlib.sha256(_before(wire).encode()).hexdigest()
