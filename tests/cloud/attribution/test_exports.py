"""Ad-platform exports against each platform's documented format and published hashing vectors.

Vectors (the platforms' own documentation, see REFERENCE.md):
* Meta (Conversions API, customer information parameters): ' John_Smith@Gmail.com ' ->
  62a14e44...; US phone (650)555-1212 -> 16505551212 -> e323ec62...
* Yandex (Metrica firstPartyParamsHashed, the forms Audiences also uses): name@yandex.ru -> 41b86f44...,
  70123456789 -> 8f0dd3d3...; MD5 of the CRM forms: mail@yandex.ru -> 3c56ff8f..., 79995551111 -> f09f2c3d...
* Snap / Meta normalization example: +44 844 412 4653 -> 448444124653 -> dc008fda...;
  Person@Example.com -> person@example.com -> 542d2401...
* Google (Data Manager / Ads API formatting): (800)555-0100 -> +18005550100; dots removed before @gmail.com.
"""

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloud.attribution.exports.audiences import Buyer, vk_ads_lists, yandex_audience_csv
from cloud.attribution.exports.conversions import (
    StoreSale,
    google_enhanced_conversions,
    meta_physical_store_events,
)
from cloud.attribution.exports.metrica import MetricaIdKind, metrica_conversions, write_metrica_csv
from cloud.attribution.exports.normalize import (
    Destination,
    ExportError,
    from_raw_email,
    from_raw_phone,
    md5_hex,
    normaliser,
    sha256_hex,
)
from cloud.attribution.journeys import Journey, Purchase, Touch, TouchKind

META = normaliser(Destination.META)
GOOGLE = normaliser(Destination.GOOGLE_ADS)
YANDEX = normaliser(Destination.YANDEX_AUDIENCES)
VK = normaliser(Destination.VK_ADS)
MSK = timezone(timedelta(hours=3))


def test_meta_published_vectors() -> None:
    email = from_raw_email(" John_Smith@Gmail.com ")
    assert META.email(email) == "john_smith@gmail.com"
    assert META.hashed_email(email) == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    phone = from_raw_phone("(650)555-1212", "US")
    assert META.phone(phone) == "16505551212"
    assert META.hashed_phone(phone) == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    uk = from_raw_phone("+44 844 412 4653")
    assert META.hashed_phone(uk) == "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383"
    assert META.hashed_email(from_raw_email("Person@Example.com")) == (
        "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"
    )


def test_yandex_published_vectors() -> None:
    assert YANDEX.hashed_email("name@yandex.ru") == (
        "41b86f44151924a940be6fa30d93f2471683ca74ac361d3b827a9b72c80a7623"
    )
    assert YANDEX.hashed_phone("70123456789") == (
        "8f0dd3d30a1ea4b739c6217c02604aee1556025da990212759efd877206a1948"
    )
    # The CRM forms whose MD5 Metrica publishes: the form is right if the MD5 matches.
    assert (
        hashlib.md5(YANDEX.email("mail@yandex.ru").encode()).hexdigest() == "3c56ff8fef0f6c65b36b2d25720fe276"
    )
    phone = from_raw_phone("7 (999) 555-11-11")
    assert YANDEX.phone(phone) == "79995551111"
    assert hashlib.md5(YANDEX.phone(phone).encode()).hexdigest() == "f09f2c3d48f31e2a802944ade2e5aec5"
    assert VK.phone(phone) == "79995551111"


def test_google_forms() -> None:
    us = from_raw_phone("(800)555-0100", "US")
    assert GOOGLE.phone(us) == "+18005550100"
    assert GOOGLE.hashed_phone(us) == sha256_hex("+18005550100")
    assert GOOGLE.phone(from_raw_phone("8 (916) 123-45-67")) == "+79161234567"
    assert META.phone(from_raw_phone("8 (916) 123-45-67")) == "79161234567"
    assert GOOGLE.email(from_raw_email(" Jane.Doe@Gmail.com ")) == "janedoe@gmail.com"
    assert GOOGLE.email("jane.doe@googlemail.com") == "janedoe@googlemail.com"
    assert GOOGLE.email("jane.doe@yandex.ru") == "jane.doe@yandex.ru"  # only Gmail loses its dots
    assert META.email("jane.doe@gmail.com") == "jane.doe@gmail.com"  # Meta keeps them


@pytest.mark.parametrize("bad", ["", "+7 916", "abc", "79161234567x"])
def test_a_phone_must_be_the_stored_form(bad: str) -> None:
    with pytest.raises(ExportError):
        META.phone(bad)


def test_an_email_must_have_a_local_part_and_a_domain() -> None:
    with pytest.raises(ExportError):
        GOOGLE.email("no-at-sign")


# --- Yandex Metrica offline conversions ---------------------------------------------------------------------

NOW = datetime(2025, 4, 1, 12, 0, tzinfo=MSK)


def visit(at: datetime, client_id: str | None = None, yclid: str | None = None) -> Touch:
    return Touch(
        at, TouchKind.SITE_SESSION, "paid_search", "yandex", "cpc", "spring", yclid=yclid, client_id=client_id
    )


def sale(receipt: str, at: datetime, revenue: int) -> Purchase:
    return Purchase(receipt, at, revenue, "s1", "msk", "p")


def test_metrica_csv_format_window_and_dedup() -> None:
    buy = NOW - timedelta(days=2)
    journeys = [
        # visit 5 days before the purchase: written, with the most recent visit's ClientID
        Journey(
            "p1",
            (visit(buy - timedelta(days=9), "111"), visit(buy - timedelta(days=5), "222")),
            sale("r1", buy, 123_450),
        ),
        # the same purchase again (two journeys of one receipt): one row
        Journey("p1", (visit(buy - timedelta(days=5), "222"),), sale("r1", buy, 123_450)),
        # the visit is 22 days before the purchase: outside Metrica's 21 days
        Journey("p2", (visit(buy - timedelta(days=22), "333"),), sale("r2", buy, 5_000)),
        # no ClientID on the visit
        Journey("p3", (visit(buy - timedelta(days=1)),), sale("r3", buy, 7_000)),
        # already sent on an earlier upload
        Journey("p4", (visit(buy - timedelta(days=1), "444"),), sale("r4", buy, 9_900)),
        # a purchase in the future (clock skew): never
        Journey("p5", (visit(NOW, "555"),), sale("r5", NOW + timedelta(hours=1), 1_000)),
    ]
    rows = metrica_conversions(journeys, target="offline_purchase", now=NOW, already_sent={"r4"})
    assert [(r.identifier, r.receipt_id) for r in rows] == [("222", "r1")]
    text = write_metrica_csv(rows)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["ClientId", "Target", "DateTime", "Price", "Currency"]
    assert parsed[1] == ["222", "offline_purchase", str(int(buy.timestamp())), "1234.50", "RUB"]
    assert len(parsed) == 2
    assert text.encode("utf-8").decode("utf-8") == text


def test_metrica_by_yclid_and_purchase_id() -> None:
    buy = NOW - timedelta(days=1)
    journeys = [
        Journey("p", (visit(buy - timedelta(days=3), "1", yclid="7452894387423"),), sale("r9", buy, 100))
    ]
    rows = metrica_conversions(journeys, target="t", kind=MetricaIdKind.YCLID, now=NOW)
    assert write_metrica_csv(rows, MetricaIdKind.YCLID).splitlines() == [
        "Yclid,Target,DateTime,Price,Currency",
        f"7452894387423,t,{int(buy.timestamp())},1.00,RUB",
    ]
    by_order = metrica_conversions(
        journeys, target="t", kind=MetricaIdKind.PURCHASE_ID, now=NOW, purchase_ids={"r9": "order-17"}
    )
    assert [r.identifier for r in by_order] == ["order-17"]


def test_metrica_refuses_naive_times_and_bad_settings() -> None:
    with pytest.raises(ExportError, match="timezone-aware"):
        metrica_conversions([], target="t", now=datetime(2025, 4, 1))
    with pytest.raises(ExportError, match="Target"):
        metrica_conversions([], target=" ", now=NOW)
    with pytest.raises(ExportError, match="ISO 4217"):
        metrica_conversions([], target="t", now=NOW, currency="rub")


# --- audiences ----------------------------------------------------------------------------------------------

CONSENTED = Buyer("p1", phones=("79161234567",), emails=("anna@example.ru", "a.k@gmail.com"), ad_consent=True)
REFUSED = Buyer("p2", phones=("79997776655",), emails=("boris@example.ru",), ad_consent=False)
PHONE_ONLY = Buyer("p3", phones=("79161234567", "79035550000"), ad_consent=True)


def test_yandex_audiences_csv_only_consented_hashed_and_deduplicated() -> None:
    file = yandex_audience_csv([CONSENTED, REFUSED, PHONE_ONLY, CONSENTED])
    rows = list(csv.reader(io.StringIO(file.text)))
    assert rows[0] == ["phone", "email"]
    body = rows[1:]
    expected = {
        (sha256_hex("79161234567"), ""),
        (sha256_hex("79035550000"), ""),
    }
    emails = sorted([sha256_hex("anna@example.ru"), sha256_hex("a.k@gmail.com")])
    expected |= {(sha256_hex("79161234567"), emails[0]), ("", emails[1])}
    assert set(map(tuple, body)) == expected
    assert len(body) == len(expected) == file.records
    assert sha256_hex("79997776655") not in file.text
    assert sha256_hex("boris@example.ru") not in file.text
    assert all(len(v) in (0, 64) and v == v.lower() for row in body for v in row)
    assert not file.big_enough  # Audiences wants 100 records at least
    assert file.text == yandex_audience_csv([PHONE_ONLY, CONSENTED, REFUSED]).text  # deterministic


def test_vk_ads_lists() -> None:
    phones, emails = vk_ads_lists([CONSENTED, REFUSED, PHONE_ONLY])
    # VK Ads (myTarget) user lists match MD5 of `79011234567` and of the lower-cased e-mail
    assert phones.text.splitlines() == sorted([md5_hex("79161234567"), md5_hex("79035550000")])
    assert emails.text.splitlines() == sorted([md5_hex("anna@example.ru"), md5_hex("a.k@gmail.com")])
    assert md5_hex("abc") == "900150983cd24fb0d6963f7d28e17f72"  # RFC 1321's test suite
    assert md5_hex("79161234567") == "b7345b4e50394f906438e994e8eb15f8"
    assert (phones.records, phones.minimum, phones.big_enough) == (2, 2_000, False)


def test_a_buyers_repr_shows_no_contact() -> None:
    assert "7916" not in repr(CONSENTED)
    assert "anna" not in repr(CONSENTED)


# --- Google and Meta ----------------------------------------------------------------------------------------


def test_google_enhanced_conversions_payload() -> None:
    at = datetime(2025, 3, 30, 19, 32, 45, tzinfo=MSK)
    sales = [
        StoreSale("r1", at, 123_450, CONSENTED),
        StoreSale("r1", at, 123_450, CONSENTED),  # duplicate receipt
        StoreSale("r2", at, 5_000, REFUSED),  # no consent
    ]
    body = google_enhanced_conversions(sales, "customers/123/conversionActions/456")
    assert body["partialFailure"] is True
    [conversion] = body["conversions"]
    assert conversion["orderId"] == "r1"
    assert conversion["conversionDateTime"] == "2025-03-30 19:32:45+03:00"
    assert conversion["conversionValue"] == 1234.5
    assert conversion["currencyCode"] == "RUB"
    assert conversion["consent"] == {"adUserData": "GRANTED"}
    identifiers = conversion["userIdentifiers"]
    assert {"hashedPhoneNumber": sha256_hex("+79161234567")} in identifiers
    assert {"hashedEmail": sha256_hex("ak@gmail.com")} in identifiers  # Gmail dots removed
    assert {"hashedEmail": sha256_hex("anna@example.ru")} in identifiers
    many = Buyer(
        "p", phones=tuple(f"7916123456{i}" for i in range(4)), emails=("a@b.ru", "c@d.ru"), ad_consent=True
    )
    capped = google_enhanced_conversions([StoreSale("r3", at, 1, many)], "customers/1/conversionActions/2")
    assert len(capped["conversions"][0]["userIdentifiers"]) == 5
    with pytest.raises(ExportError, match="resource name"):
        google_enhanced_conversions([], "456")


def test_meta_physical_store_events() -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    recent = now - timedelta(days=3)
    sales = [
        StoreSale("r1", recent, 99_990, CONSENTED),
        StoreSale("r1", recent, 99_990, CONSENTED),  # same event_id + event_name: once
        StoreSale("r2", now - timedelta(days=63), 1_000, CONSENTED),  # older than 62 days
        StoreSale("r3", recent, 1_000, REFUSED),  # no consent
        StoreSale("r4", recent, 2_000, PHONE_ONLY),
    ]
    body = meta_physical_store_events(sales, now=now)
    assert [e["event_id"] for e in body["data"]] == ["r1", "r4"]
    first = body["data"][0]
    assert first["action_source"] == "physical_store"
    assert first["event_name"] == "Purchase"
    assert first["event_time"] == int(recent.timestamp())
    assert first["custom_data"] == {"currency": "RUB", "value": 999.9}
    assert first["user_data"]["ph"] == [sha256_hex("79161234567")]  # digits only, no '+'
    assert sha256_hex("a.k@gmail.com") in first["user_data"]["em"]  # Meta keeps Gmail dots
    assert "em" not in body["data"][1]["user_data"]


def test_store_sale_needs_an_aware_time() -> None:
    with pytest.raises(ExportError, match="timezone-aware"):
        StoreSale("r", datetime(2025, 1, 1), 1, CONSENTED)
