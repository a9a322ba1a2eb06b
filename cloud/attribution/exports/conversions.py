"""Store sales matched by hashed contacts: Google Ads enhanced conversions and Meta Conversions API events.

Both take the same `StoreSale` (a receipt with its buyer) and write only sales of buyers with advertising
consent, each identifier in the destination's form and SHA-256 (normalize.py).

* Google Ads: `UploadClickConversionsRequest` JSON (REST field names) for an "enhanced conversions for
  leads" action: orderId (the receipt), conversionDateTime `yyyy-mm-dd HH:mm:ss+HH:MM`, conversionValue,
  currencyCode, at most 5 userIdentifiers (hashedEmail / hashedPhoneNumber of the E.164 phone with '+'),
  consent.adUserData GRANTED, partialFailure true.
* Meta Conversions API: `{"data": [...]}` of `Purchase` events with action_source `physical_store`,
  event_id = the receipt (Meta deduplicates on event_id + event_name within 48 h), event_time Unix time,
  user_data em / ph (phone digits only), custom_data value and currency; events older than 62 days are
  refused by Meta and left out here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cloud.attribution.exports.audiences import Buyer
from cloud.attribution.exports.normalize import Destination, ExportError, normaliser
from receipts.money import format_rubles

__all__ = [
    "GOOGLE_MAX_IDENTIFIERS",
    "META_MAX_AGE",
    "StoreSale",
    "google_enhanced_conversions",
    "meta_physical_store_events",
]

GOOGLE_MAX_IDENTIFIERS = 5
META_MAX_AGE = timedelta(days=62)


@dataclass(frozen=True, slots=True)
class StoreSale:
    receipt_id: str
    at: datetime  # timezone-aware
    revenue: int  # kopecks
    buyer: Buyer
    currency: str = "RUB"

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ExportError("a sale's time must be timezone-aware")


def _rubles(kopecks: int) -> float:
    return float(Decimal(format_rubles(kopecks)))


def google_enhanced_conversions(sales: Iterable[StoreSale], conversion_action: str) -> dict[str, Any]:
    """The body of POST customers/{id}:uploadClickConversions (ConversionUploadService)."""
    if not conversion_action.startswith("customers/"):
        raise ExportError("conversion_action is a resource name: customers/{id}/conversionActions/{id}")
    norm = normaliser(Destination.GOOGLE_ADS)
    conversions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sale in sorted(sales, key=lambda s: (s.at, s.receipt_id)):
        if not sale.buyer.ad_consent or sale.receipt_id in seen:
            continue
        identifiers: list[dict[str, str]] = []
        for email in sorted({norm.hashed_email(e) for e in sale.buyer.emails}):
            identifiers.append({"hashedEmail": email})
        for phone in sorted({norm.hashed_phone(p) for p in sale.buyer.phones}):
            identifiers.append({"hashedPhoneNumber": phone})
        if not identifiers:
            continue
        seen.add(sale.receipt_id)
        conversions.append(
            {
                "conversionAction": conversion_action,
                "conversionDateTime": sale.at.isoformat(sep=" ", timespec="seconds"),
                "conversionValue": _rubles(sale.revenue),
                "currencyCode": sale.currency,
                "orderId": sale.receipt_id,
                "userIdentifiers": identifiers[:GOOGLE_MAX_IDENTIFIERS],
                "consent": {"adUserData": "GRANTED"},
            }
        )
    return {"conversions": conversions, "partialFailure": True}


def meta_physical_store_events(sales: Iterable[StoreSale], *, now: datetime) -> dict[str, Any]:
    """The body for POST /{dataset_id}/events: Purchase events from the stores."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ExportError("now must be timezone-aware")
    norm = normaliser(Destination.META)
    events: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sale in sorted(sales, key=lambda s: (s.at, s.receipt_id)):
        key = (sale.receipt_id, "Purchase")
        if not sale.buyer.ad_consent or key in seen or sale.at > now or now - sale.at > META_MAX_AGE:
            continue
        user_data: dict[str, list[str]] = {}
        emails = sorted({norm.hashed_email(e) for e in sale.buyer.emails})
        phones = sorted({norm.hashed_phone(p) for p in sale.buyer.phones})
        if emails:
            user_data["em"] = emails
        if phones:
            user_data["ph"] = phones
        if not user_data:
            continue
        seen.add(key)
        events.append(
            {
                "event_name": "Purchase",
                "event_time": int(sale.at.timestamp()),
                "event_id": sale.receipt_id,
                "action_source": "physical_store",
                "user_data": user_data,
                "custom_data": {"currency": sale.currency, "value": _rubles(sale.revenue)},
            }
        )
    return {"data": events}
