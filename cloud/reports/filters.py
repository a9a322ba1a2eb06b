"""The dashboards' filters (period, store, region, segment, channel) and each table's sort and page, read
from a page's query string. Pure: no database. A link to another page or table page keeps every value
(`Filters.link`), so the filters hold as head office moves around."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from cloud.errors import InvalidInput

DEFAULT_TIME_ZONE = "Europe/Moscow"
DEFAULT_DAYS = 7
MAX_DAYS = 400

SEGMENTS = {
    "card": "с картой лояльности",
    "contact": "с контактом, без карты",
    "anonymous": "без контакта",
}
CHANNELS = {"email": "e-mail", "push": "push", "viber": "Viber", "sms": "SMS"}
FILTER_NAMES = ("since", "until", "store", "region", "segment", "channel")
# A table's own parameters: `<table>_sort` (a column key, "-" first for descending) and `<table>_page`.
TABLE_SUFFIXES = ("_sort", "_page")


@dataclass(frozen=True, slots=True)
class Filters:
    since: date
    until: date  # inclusive: the period's last day
    store: int | None = None
    region: str | None = None
    segment: str | None = None
    channel: str | None = None
    time_zone: str = DEFAULT_TIME_ZONE
    # Every table's sort and page, and extra page parameters (the ROPO model): kept in links.
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def utc_range(self) -> tuple[datetime, datetime]:
        """[start of `since`, start of the day after `until`) in the tenant's zone, as UTC."""
        zone = ZoneInfo(self.time_zone)
        start = datetime.combine(self.since, time(), zone).astimezone(UTC)
        end = datetime.combine(self.until + timedelta(days=1), time(), zone).astimezone(UTC)
        return start, end

    def values(self) -> dict[str, str]:
        """The filters as query parameters (empty ones left out)."""
        out = {"since": self.since.isoformat(), "until": self.until.isoformat()}
        if self.store is not None:
            out["store"] = str(self.store)
        for name in ("region", "segment", "channel"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out

    def get(self, name: str, default: str = "") -> str:
        return dict(self.extra).get(name, default)

    def query(self, **changes: str | int | None) -> str:
        """This page's query string with `changes` applied (None removes a parameter)."""
        params = {**self.values(), **dict(self.extra)}
        for name, value in changes.items():
            if value is None or value == "":
                params.pop(name, None)
            else:
                params[name] = str(value)
        return urlencode(params)

    def link(self, path: str, **changes: str | int | None) -> str:
        query = self.query(**changes)
        return f"{path}?{query}" if query else path

    def filter_query(self) -> str:
        """The filters alone (no table's sort or page): for links to another dashboard or an export."""
        return urlencode(self.values())

    def sort_of(self, table: str) -> tuple[str | None, bool]:
        value = self.get(f"{table}_sort")
        if not value:
            return None, False
        return value.lstrip("-"), value.startswith("-")

    def page_of(self, table: str) -> int:
        value = self.get(f"{table}_page", "1")
        return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else 1

    def without_extra(self) -> "Filters":
        return replace(self, extra=())


def today(time_zone: str = DEFAULT_TIME_ZONE, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(time_zone)).date()


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name}: дата в виде ГГГГ-ММ-ДД, а не {value[:20]!r}") from None


def parse(
    params: Mapping[str, str], time_zone: str = DEFAULT_TIME_ZONE, now: datetime | None = None
) -> Filters:
    """Filters from a query string; an empty value means "not filtered"; defaults: the last 7 days."""
    last = today(time_zone, now)
    until = _date(params["until"], "until") if params.get("until") else last
    since = (
        _date(params["since"], "since") if params.get("since") else until - timedelta(days=DEFAULT_DAYS - 1)
    )
    if since > until:
        since, until = until, since
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidInput(f"период не длиннее {MAX_DAYS} дней")
    store_value = params.get("store", "").strip()
    if store_value and not (store_value.isdigit() and len(store_value) < 19):
        raise InvalidInput("store: номер магазина")
    segment = params.get("segment", "").strip() or None
    if segment is not None and segment not in SEGMENTS:
        raise InvalidInput(f"segment: одно из {', '.join(SEGMENTS)}")
    channel = params.get("channel", "").strip() or None
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"channel: одно из {', '.join(CHANNELS)}")
    region = params.get("region", "").strip()[:100] or None
    extra = tuple(
        sorted(
            (name, value[:64])
            for name, value in params.items()
            if value and (name.endswith(TABLE_SUFFIXES) or name == "model") and len(name) <= 40
        )
    )
    return Filters(
        since=since,
        until=until,
        store=int(store_value) if store_value else None,
        region=region,
        segment=segment,
        channel=channel,
        time_zone=time_zone,
        extra=extra,
    )
