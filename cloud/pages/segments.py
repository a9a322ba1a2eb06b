"""Who is looking at the page, and which variant of a block they get. Plain values, no I/O.

- `Audience`: what is known about the buyer and the purchase when the page is opened (region, loyalty
  membership, an installed app, the total, purchased categories, the store, how many receipts this contact
  has had here). `cloud.pages.audience.audience_for` builds it from the database.
- `Condition`: one segment rule's test; every field that is set must match (AND); an empty condition
  matches everyone.
- `first_match`: a block's rules are ordered, the first that matches wins, else the block's defaults.
- `held_out`: the deterministic holdout draw of a (receipt, block) pair.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# The regions the reference segments name; any store region string works in a rule.
MOSCOW = "Москва"
SAINT_PETERSBURG = "Санкт-Петербург"


@dataclass(frozen=True, slots=True)
class Audience:
    region: str | None = None
    loyalty_member: bool = False
    app_installed: bool = False
    total: int = 0  # kopecks
    categories: frozenset[str] = field(default_factory=frozenset)
    store_id: int | None = None
    receipt_number: int = 1  # this is the contact's n-th receipt at the tenant (1 without a contact)
    has_contact: bool = False


class Condition(BaseModel):
    """A segment: region in `regions`, loyalty member or not, app installed or not, total over
    `total_over` kopecks, any of `categories` bought, store in `stores`. Unset fields match anyone."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    regions: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    loyalty: bool | None = None
    app: bool | None = None
    total_over: Annotated[int, Field(ge=0)] | None = None
    categories: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    stores: list[int] = Field(default_factory=list)

    def matches(self, a: Audience) -> bool:
        if self.regions and (a.region or "").casefold() not in {r.casefold() for r in self.regions}:
            return False
        if self.loyalty is not None and a.loyalty_member is not self.loyalty:
            return False
        if self.app is not None and a.app_installed is not self.app:
            return False
        if self.total_over is not None and a.total <= self.total_over:
            return False
        if self.categories and not a.categories.intersection(self.categories):
            return False
        return not (self.stores and a.store_id not in self.stores)

    def describe(self) -> str:
        """In Russian, for the editor and the preview's segment list."""
        parts = []
        if self.regions:
            parts.append("регион: " + ", ".join(self.regions))
        if self.loyalty is not None:
            parts.append("участник программы" if self.loyalty else "не участник программы")
        if self.app is not None:
            parts.append("есть приложение" if self.app else "нет приложения")
        if self.total_over is not None:
            parts.append(f"чек больше {self.total_over // 100} ₽")
        if self.categories:
            parts.append("купил: " + ", ".join(self.categories))
        if self.stores:
            parts.append("магазины: " + ", ".join(str(s) for s in self.stores))
        return "; ".join(parts) or "все"

    def sample(self) -> Audience:
        """An audience this condition matches: the editor previews each segment with it."""
        return Audience(
            region=self.regions[0] if self.regions else MOSCOW,
            loyalty_member=bool(self.loyalty),
            app_installed=bool(self.app),
            total=(self.total_over + 100_00) if self.total_over is not None else 232_00,
            categories=frozenset(self.categories[:1]),
            store_id=self.stores[0] if self.stores else None,
            receipt_number=1,
            has_contact=True,
        )


class HasCondition(Protocol):
    @property
    def when(self) -> Condition: ...


R = TypeVar("R", bound=HasCondition)


def first_match(rules: list[R], audience: Audience) -> R | None:
    """The first rule whose condition matches, in the order the marketer put them; None: the defaults."""
    for rule in rules:
        if rule.when.matches(audience):
            return rule
    return None


def held_out(receipt_id: int, block_id: str, share: float) -> bool:
    """Whether this receipt's page goes without this block: the same answer on every open, independent
    between blocks (the block id is in the hash), uniform over receipts."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{receipt_id}:{block_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
