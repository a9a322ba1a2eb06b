"""Yandex Metrica offline conversions: the CSV that attaches store purchases to the visits that led to them.

Format (Metrica's "Passing offline conversions"): UTF-8, ≤ 1 GB, a header line, then one conversion a line:
`<id column>,Target,DateTime,Price,Currency`, where the id column is one of ClientId | UserId | Yclid |
PurchaseId (one kind per file: the upload names the kind), Target is the goal's identifier, DateTime the
conversion's Unix time (never in the future), Price the revenue in roubles and Currency ISO 4217 (`RUB`).
Metrica attaches a conversion only to a visit at most 21 days older than the file's processing, so only
purchases within 21 days of the visit that carried the id are written.

Deduplication: one row per purchase (the purchase's most recent eligible visit), none for a purchase already
sent (`already_sent`, the receipt ids the caller recorded on earlier uploads), and one row per
(id, purchase). A visit's ClientID / yclid are pseudonymous ids, not contacts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cloud.attribution.exports.normalize import ExportError
from cloud.attribution.journeys import Journey, Touch
from receipts.money import format_rubles

__all__ = [
    "METRICA_WINDOW",
    "MetricaConversion",
    "MetricaIdKind",
    "metrica_conversions",
    "write_metrica_csv",
]

METRICA_WINDOW = timedelta(days=21)


class MetricaIdKind(StrEnum):
    CLIENT_ID = "ClientId"
    YCLID = "Yclid"
    PURCHASE_ID = "PurchaseId"


@dataclass(frozen=True, slots=True)
class MetricaConversion:
    identifier: str
    target: str
    at: datetime
    revenue: int  # kopecks
    currency: str
    receipt_id: str

    @property
    def unix_time(self) -> int:
        return int(self.at.timestamp())


def _identifier(touch: Touch, kind: MetricaIdKind) -> str | None:
    if kind is MetricaIdKind.CLIENT_ID:
        return touch.client_id
    if kind is MetricaIdKind.YCLID:
        return touch.yclid
    return None


def metrica_conversions(
    journeys: Iterable[Journey],
    *,
    target: str,
    kind: MetricaIdKind = MetricaIdKind.CLIENT_ID,
    now: datetime,
    already_sent: Collection[str] = (),
    currency: str = "RUB",
    window: timedelta = METRICA_WINDOW,
    purchase_ids: dict[str, str] | None = None,
) -> list[MetricaConversion]:
    """The rows to upload: converting journeys whose purchase lies within `window` of a visit with an id
    of `kind` (`PurchaseId`: `purchase_ids` maps receipt ids to the site order ids Metrica knows).

    `now` (timezone-aware) excludes purchases in the future and visits older than `window` at upload time.
    """
    _aware(now, "now")
    if not target.strip():
        raise ExportError("the Metrica goal (Target) is required")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ExportError("currency must be an ISO 4217 code such as RUB")
    rows: list[MetricaConversion] = []
    seen_receipts = set(already_sent)
    seen_pairs: set[tuple[str, str]] = set()
    for journey in journeys:
        purchase = journey.purchase
        if purchase is None or purchase.receipt_id in seen_receipts:
            continue
        _aware(purchase.at, "purchase time")
        if purchase.at > now:
            continue
        identifier: str | None = None
        if kind is MetricaIdKind.PURCHASE_ID:
            identifier = (purchase_ids or {}).get(purchase.receipt_id)
        else:
            for touch in reversed(journey.touches):  # the most recent eligible visit
                _aware(touch.at, "visit time")
                value = _identifier(touch, kind)
                if value and purchase.at - touch.at <= window and now - touch.at <= window:
                    identifier = value
                    break
        if not identifier or (identifier, purchase.receipt_id) in seen_pairs:
            continue
        seen_pairs.add((identifier, purchase.receipt_id))
        seen_receipts.add(purchase.receipt_id)
        rows.append(
            MetricaConversion(
                identifier, target, purchase.at, purchase.revenue, currency, purchase.receipt_id
            )
        )
    return sorted(rows, key=lambda r: (r.at, r.receipt_id))


def write_metrica_csv(
    rows: Iterable[MetricaConversion], kind: MetricaIdKind = MetricaIdKind.CLIENT_ID
) -> str:
    """The file's text (UTF-8 when encoded), header first, '\\n' line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([kind.value, "Target", "DateTime", "Price", "Currency"])
    for row in rows:
        writer.writerow([row.identifier, row.target, row.unix_time, format_rubles(row.revenue), row.currency])
    return out.getvalue()


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ExportError(f"{what} must be timezone-aware (Metrica wants Unix time)")
