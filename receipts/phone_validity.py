"""Whether a +7 national number (Russia, Kazakhstan) is valid, decided by phonenumbers' own metadata.

`phonenumbers.is_valid_number` answers the same, but at ~10 µs a number (it finds the region, then walks
eleven number types, re-looking up each compiled pattern by its text). The cloud validates every receipt's
phone and most are seen once, so the lru_cache in `receipts.contact` misses; this check takes ~1-2 µs: the
types a length allows are one compiled alternation.

It is the library's rule, not a copy of its patterns: the patterns are read from the installed metadata at
import, so an update of phonenumbers changes both answers alike. The rule, as `is_valid_number` applies it
to country code 7 (see `_region_code_for_number_from_list` and `_number_type_helper` in phonenumbers):
- the region is the first of `COUNTRY_CODE_TO_REGION_CODE[7]` whose leading digits match the start of the
  national number (a region without leading digits is chosen if the number has a known type there);
- the number is valid there when it matches the region's general pattern and at least one number type's
  pattern (mobile is not tried when the metadata says it equals fixed line), each only for its lengths.
tests/receipts/test_phone_validity.py checks the equivalence over every four-digit prefix and many numbers.
"""

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

COUNTRY_CODE = 7
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


@dataclass(frozen=True, slots=True)
class _Desc:
    pattern: str
    lengths: frozenset[int]  # empty: any length the general description allows


def _alternation(descs: list[_Desc]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{d.pattern})" for d in descs)) if descs else None


@dataclass(frozen=True, slots=True)
class _Region:
    leading: re.Pattern[str] | None
    general: re.Pattern[str]
    general_lengths: frozenset[int]
    types_by_length: dict[int, re.Pattern[str] | None]  # every type that allows the length, in one pattern
    types_any_length: re.Pattern[str] | None  # the types without lengths, for a length no type names

    def valid(self, national: str) -> bool:
        n = len(national)
        if (self.general_lengths and n not in self.general_lengths) or not self.general.fullmatch(national):
            return False
        types = self.types_by_length.get(n, self.types_any_length)
        return types is not None and types.fullmatch(national) is not None


def _desc(desc: PhoneNumberDesc | None) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:  # phonenumbers: a missing pattern matches nothing
        return None
    return _Desc(desc.national_number_pattern, frozenset(desc.possible_length or ()))


def _region(code: str) -> _Region:
    metadata = PhoneMetadata.metadata_for_region(code)
    if metadata is None:
        raise RuntimeError(f"phonenumbers has no metadata for {code}")
    names = _TYPES if metadata.same_mobile_and_fixed_line_pattern else (*_TYPES, "mobile")
    types = [d for d in (_desc(getattr(metadata, name)) for name in names) if d is not None]
    general = _desc(metadata.general_desc)
    if general is None:
        raise RuntimeError(f"phonenumbers has no general pattern for {code}")
    lengths = set(general.lengths).union(*(d.lengths for d in types))
    by_length = {n: _alternation([d for d in types if not d.lengths or n in d.lengths]) for n in lengths}
    return _Region(
        leading=re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None,
        general=re.compile(general.pattern),
        general_lengths=general.lengths,
        types_by_length=by_length,
        types_any_length=_alternation([d for d in types if not d.lengths]),
    )


_REGIONS = tuple(_region(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[COUNTRY_CODE])


def is_valid_plus7(national: str) -> bool:
    """`phonenumbers.is_valid_number` of +7 `national` (ASCII digits without a leading zero)."""
    for region in _REGIONS:
        if region.leading is not None:
            if region.leading.match(national):
                return region.valid(national)
        elif region.valid(national):
            return True
    return False
