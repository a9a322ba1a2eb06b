"""What a receipt must say about its seller: the INN (with its check digits), the taxation system (tag 1055)
and the store's time zone. Plain checks, no I/O: the CLI and the accounts' service call them."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cloud.errors import InvalidInput

# Tag 1055, as the receipt prints it.
TAXATION = {
    "osn": "ОСН",
    "usn_income": "УСН доход",
    "usn_income_outcome": "УСН доход - расход",
    "esn": "ЕСХН",
    "patent": "ПСН",
}

_WEIGHTS_10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_WEIGHTS_12_A = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_WEIGHTS_12_B = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _check(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def valid_inn(inn: str) -> bool:
    """10 digits (an organisation) or 12 (an entrepreneur), with the FNS check digits."""
    if not inn.isascii() or not inn.isdigit():
        return False
    if len(inn) == 10:
        return _check(inn, _WEIGHTS_10) == int(inn[9])
    if len(inn) == 12:
        return _check(inn, _WEIGHTS_12_A) == int(inn[10]) and _check(inn, _WEIGHTS_12_B) == int(inn[11])
    return False


def checked_inn(inn: str) -> str:
    inn = inn.strip()
    if not valid_inn(inn):
        raise InvalidInput(f"INN {inn!r} is not valid: 10 or 12 digits with correct check digits")
    return inn


def checked_taxation(code: str) -> str:
    code = code.strip()
    if code not in TAXATION:
        raise InvalidInput(f"unknown taxation system {code!r}; one of: {', '.join(TAXATION)}")
    return code


def checked_time_zone(name: str) -> str:
    """An IANA name such as 'Europe/Moscow' or 'Asia/Yekaterinburg'."""
    name = name.strip()
    if name not in available_timezones():
        raise InvalidInput(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Moscow'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}") from exc
    return name
