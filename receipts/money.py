"""Money is integer kopecks everywhere; these turn it into rubles text and back, exactly."""

from decimal import Decimal, InvalidOperation


def parse_rubles(text: str | int | Decimal) -> int:
    """'52.00' / '52' / Decimal('52.5') -> kopecks. Rejects fractions of a kopeck and floats."""
    if isinstance(text, float):
        raise TypeError("money must not be a float; pass a string, Decimal or integer kopecks")
    try:
        value = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of rubles: {text!r}") from exc
    kopecks = value * 100
    if kopecks != kopecks.to_integral_value():
        raise ValueError(f"amount has fractions of a kopeck: {text!r}")
    return int(kopecks)


def format_rubles(kopecks: int) -> str:
    """4550 -> '45.50' (the FNS QR string and the receipt print use this form)."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), 100)
    return f"{sign}{whole}.{part:02d}"


def spread(totals: list[int], target: int) -> list[int]:
    """Item totals scaled to sum to `target` (a receipt-wide discount or surcharge), in whole kopecks:
    each item gets its share of the difference by its weight, the kopecks rounding leaves go to the
    items with the largest remainders (ties to the earlier item), so the result is exact and stable.

    >>> spread([8990, 8990, 42900], 57836)
    [8541, 8540, 40755]
    """
    whole = sum(totals)
    if whole <= 0 or target == whole:
        return list(totals)
    if target < 0:
        raise ValueError(f"a receipt total cannot be negative: {target}")
    shares = [divmod(t * target, whole) for t in totals]
    result = [q for q, _ in shares]
    left = target - sum(result)
    for i in sorted(range(len(totals)), key=lambda i: -shares[i][1])[:left]:
        result[i] += 1
    return result
