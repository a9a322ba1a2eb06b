"""Audience files of hashed contacts: Yandex Audiences (CRM segment) and VK Ads (user lists).

Only buyers with advertising consent are written (152-FZ / 38-FZ: ad audiences need it); a buyer without
it is skipped whatever else is known. Values are the hash each platform matches (lowercase hex: SHA-256
for Yandex, MD5 for VK) of its form (normalize.py); duplicates are dropped; output order is sorted, so the
same buyers give the same file.

* Yandex Audiences, "data from CRM": CSV, UTF-8, a header naming the fields, one client a line,
  `phone,email` (either may be empty, not both), the segment created with "hashed data" and SHA-256;
  at least 100 records. A buyer with several phones or e-mails gives one line per pair, as Audiences
  matches a line by any of its fields.
* VK Ads, user lists: one list per kind (phones, e-mails), a text file with one value a line, UTF-8,
  2 000 to 5 000 000 unique items; phones `79011234567`, values "encrypted" with MD5 as myTarget's help
  on user lists says (target.my.com/help/advertisers/sourceuserlists).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import zip_longest

from cloud.attribution.exports.normalize import Destination, ExportError, normaliser

__all__ = [
    "VK_MAX_ITEMS",
    "VK_MIN_ITEMS",
    "YANDEX_AUDIENCES_MIN_RECORDS",
    "AudienceFile",
    "Buyer",
    "vk_ads_lists",
    "yandex_audience_csv",
]

YANDEX_AUDIENCES_MIN_RECORDS = 100
VK_MIN_ITEMS = 2_000
VK_MAX_ITEMS = 5_000_000


@dataclass(frozen=True, slots=True)
class Buyer:
    """A buyer as exports see them: stored (normalized) contacts and whether they agreed to ads."""

    profile_id: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ad_consent: bool = False

    def __repr__(self) -> str:  # never leak contacts into logs
        return f"Buyer({self.profile_id}, {len(self.phones)} phone(s), {len(self.emails)} e-mail(s))"


@dataclass(frozen=True, slots=True)
class AudienceFile:
    """A file's text, how many records it holds, and whether the platform will take that many."""

    name: str
    text: str
    records: int
    minimum: int

    @property
    def big_enough(self) -> bool:
        return self.records >= self.minimum


def yandex_audience_csv(buyers: Iterable[Buyer]) -> AudienceFile:
    norm = normaliser(Destination.YANDEX_AUDIENCES)
    lines: set[tuple[str, str]] = set()
    for buyer in buyers:
        if not buyer.ad_consent:
            continue
        phones = sorted({norm.hashed_phone(p) for p in buyer.phones})
        emails = sorted({norm.hashed_email(e) for e in buyer.emails})
        for phone, email in zip_longest(phones, emails, fillvalue=""):
            lines.add((phone, email))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "email"])
    writer.writerows(sorted(lines))
    return AudienceFile("yandex_audiences.csv", out.getvalue(), len(lines), YANDEX_AUDIENCES_MIN_RECORDS)


def vk_ads_lists(buyers: Iterable[Buyer]) -> tuple[AudienceFile, AudienceFile]:
    """(phones, e-mails): two VK Ads user lists."""
    norm = normaliser(Destination.VK_ADS)
    phones: set[str] = set()
    emails: set[str] = set()
    for buyer in buyers:
        if not buyer.ad_consent:
            continue
        phones.update(norm.hashed_phone(p) for p in buyer.phones)
        emails.update(norm.hashed_email(e) for e in buyer.emails)
    files = []
    for name, values in (("vk_ads_phones.txt", phones), ("vk_ads_emails.txt", emails)):
        if len(values) > VK_MAX_ITEMS:
            raise ExportError(f"a VK Ads list holds at most {VK_MAX_ITEMS} items; split the audience")
        text = "".join(f"{v}\n" for v in sorted(values))
        files.append(AudienceFile(name, text, len(values), VK_MIN_ITEMS))
    return files[0], files[1]
