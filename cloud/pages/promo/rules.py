"""A promo rule as plain values, and the checks a rule must pass before it is stored. No I/O.

The code space rule: a code is guessed by trying codes, so the space of possible codes must dwarf the codes
that exist. A rule is refused unless `len(alphabet) ** length >= SPACE_FACTOR * planned_codes`: with 10^6
possible codes per issued one, a guesser needs on average half a million tries to hit any live code, which
the redeem API's rate of one key makes impractical; it also keeps collisions on generation rare (the
chance a new code collides is ≤ 10^-6, and a collision is retried).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloud.errors import InvalidSetting

# Upper-case Latin letters and digits without the look-alikes 0/O and 1/I: 32 characters, 5 bits each.
DEFAULT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
AMBIGUOUS = frozenset("0O1I")
ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") - AMBIGUOUS
SPACE_FACTOR = 10**6
MIN_ALPHABET = 8
MIN_LENGTH, MAX_LENGTH = 6, 20
DEFAULT_LENGTH = 10  # 32**10 ≈ 1.1e15: room for 10^9 codes at the factor above
DEFAULT_PLANNED = 1_000_000
MAX_VALID_DAYS = 366
MAX_START_DELAY_H = 24 * 90
NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class Rule:
    """What a tenant's head office sets for one kind of promo code."""

    name: str  # the template's promo block names its rule by this
    percent: int | None = None  # −N % ...
    amount: int | None = None  # ... or −N kopecks
    headline: str = ""  # what the page shows; made from the discount when empty
    categories: tuple[str, ...] = ()  # the purchase categories the discount applies to; () = all
    valid_days: int = 30
    start_delay_h: int = 0  # the code works from issue + this many hours
    remind_before_h: int | None = 24  # a reminder this many hours before expiry; None = no reminder
    length: int = DEFAULT_LENGTH
    alphabet: str = DEFAULT_ALPHABET
    planned_codes: int = DEFAULT_PLANNED
    active: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def space(self) -> int:
        return int(len(self.alphabet) ** self.length)

    def title(self) -> str:
        """The headline the page shows: the rule's own, else the discount's."""
        return self.headline or discount_text(self.percent, self.amount)

    def window(self, issued_at: datetime) -> tuple[datetime, datetime]:
        """When a code issued at `issued_at` starts and expires."""
        starts = issued_at + timedelta(hours=self.start_delay_h)
        return starts, starts + timedelta(days=self.valid_days)

    def remind_at(self, starts_at: datetime, expires_at: datetime) -> datetime | None:
        """When to remind the buyer, or None (no reminder, or it would come before the code starts)."""
        if self.remind_before_h is None:
            return None
        at = expires_at - timedelta(hours=self.remind_before_h)
        return at if at > starts_at else None


def rubles(kopecks: int) -> str:
    whole, part = divmod(kopecks, 100)
    return f"{whole:,}".replace(",", " ") + (f",{part:02d}" if part else "")


def discount_text(percent: int | None, amount: int | None) -> str:
    """ "−10 % на следующую покупку", "−500 ₽ на следующую покупку" (a true minus sign, narrow spaces)."""
    if percent is not None:
        return f"−{percent} % на следующую покупку"
    if amount is not None:
        return f"−{rubles(amount)} ₽ на следующую покупку"
    return "Скидка на следующую покупку"


def minimum_length(alphabet_size: int, planned_codes: int) -> int:
    """The shortest code length whose space is ≥ SPACE_FACTOR × planned codes."""
    need = SPACE_FACTOR * max(planned_codes, 1)
    length = 1
    while alphabet_size**length < need:
        length += 1
    return length


def validate_alphabet(alphabet: str) -> str:
    alphabet = alphabet.strip().upper()
    bad = sorted(set(alphabet) - ALLOWED)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidSetting(
            f"алфавит кода: недопустимые символы {shown}; можно латинские буквы и цифры без 0, O, 1, I"
        )
    if len(set(alphabet)) != len(alphabet):
        raise InvalidSetting("алфавит кода: символы повторяются")
    if len(alphabet) < MIN_ALPHABET:
        raise InvalidSetting(f"алфавит кода: нужно не меньше {MIN_ALPHABET} символов")
    return alphabet


def validate(rule: Rule) -> Rule:
    """The rule as it will be stored, or InvalidSetting saying what to fix (in Russian: head office)."""
    name = rule.name.strip()
    if not name or len(name) > NAME_MAX or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidSetting(
            f"название правила: 1–{NAME_MAX} символов, буквы, цифры, '-', '_' или '.' (его пишут в шаблоне)"
        )
    if (rule.percent is None) == (rule.amount is None):
        raise InvalidSetting("скидка: укажите либо процент (percent), либо сумму в копейках (amount)")
    if rule.percent is not None and not 1 <= rule.percent <= 100:
        raise InvalidSetting("скидка в процентах: от 1 до 100")
    if rule.amount is not None and not 1 <= rule.amount <= 10**9:
        raise InvalidSetting("скидка суммой: от 1 копейки до 10 000 000 ₽")
    if len(rule.headline) > 120:
        raise InvalidSetting("заголовок: не длиннее 120 символов")
    categories = tuple(dict.fromkeys(c.strip() for c in rule.categories if c.strip()))
    if any(len(c) > 100 for c in categories) or len(categories) > 100:
        raise InvalidSetting("категории: не больше 100, каждая не длиннее 100 символов")
    if not 1 <= rule.valid_days <= MAX_VALID_DAYS:
        raise InvalidSetting(f"срок действия: от 1 до {MAX_VALID_DAYS} дней")
    if not 0 <= rule.start_delay_h <= MAX_START_DELAY_H:
        raise InvalidSetting(f"отсрочка начала: от 0 до {MAX_START_DELAY_H} часов")
    if rule.remind_before_h is not None and not 1 <= rule.remind_before_h < rule.valid_days * 24:
        raise InvalidSetting("напоминание: от 1 часа до конца срока действия, не раньше начала")
    if not MIN_LENGTH <= rule.length <= MAX_LENGTH:
        raise InvalidSetting(f"длина кода: от {MIN_LENGTH} до {MAX_LENGTH} символов")
    alphabet = validate_alphabet(rule.alphabet)
    if not 1 <= rule.planned_codes <= 10**10:
        raise InvalidSetting("ожидаемое число кодов: от 1 до 10^10")
    if len(alphabet) ** rule.length < SPACE_FACTOR * rule.planned_codes:
        need = minimum_length(len(alphabet), rule.planned_codes)
        raise InvalidSetting(
            f"слишком мало возможных кодов: {len(alphabet)}^{rule.length} < 10^6 × {rule.planned_codes} "
            f"ожидаемых кодов, и код можно подобрать; нужна длина не меньше {need} "
            f"или алфавит больше"
        )
    return Rule(
        name=name,
        percent=rule.percent,
        amount=rule.amount,
        headline=rule.headline.strip(),
        categories=categories,
        valid_days=rule.valid_days,
        start_delay_h=rule.start_delay_h,
        remind_before_h=rule.remind_before_h,
        length=rule.length,
        alphabet=alphabet,
        planned_codes=rule.planned_codes,
        active=rule.active,
        extra=dict(rule.extra),
    )


def seconds_between(later: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `later`, rounded up, never negative (a countdown that shows 0 is over)."""
    delta = (later - now).total_seconds()
    if delta <= 0:
        return 0
    whole = int(delta)
    return whole if whole == delta else whole + 1
