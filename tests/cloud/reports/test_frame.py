"""The dashboards' pure parts: filters from a query string, sorting and paging, formatting, SVG charts."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest

from cloud.errors import InvalidInput
from cloud.reports import charts
from cloud.reports.filters import parse
from cloud.reports.tables import Column, Kind, Table, format_value, page_of, sort_rows

NOW = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # already 1 December in Moscow


def test_default_period_is_the_last_seven_days_in_the_tenants_zone() -> None:
    f = parse({}, now=NOW)
    assert (f.since, f.until) == (date(2026, 11, 25), date(2026, 12, 1))
    start, end = f.utc_range()
    assert start == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


def test_filters_hold_in_links_and_tables_keep_their_own_sort_and_page() -> None:
    f = parse(
        {
            "since": "2026-11-01",
            "until": "2026-11-30",
            "store": "7",
            "region": "Казань",
            "segment": "card",
            "channel": "sms",
            "stores_sort": "-capture",
            "stores_page": "3",
            "evil": "x",
        },
        now=NOW,
    )
    assert f.sort_of("stores") == ("capture", True)
    assert f.page_of("stores") == 3
    assert f.page_of("cashiers") == 1
    link = f.link("/reports/sending", stores_page=4)
    assert "store=7" in link
    assert "region=%D0%9A" in link
    assert "stores_sort=-capture" in link
    assert "stores_page=4" in link
    assert "evil" not in link
    assert "stores_sort" not in f.filter_query()  # another dashboard: the filters, not this page's tables


@pytest.mark.parametrize(
    "params",
    [
        {"since": "1.11.2026"},
        {"store": "abc"},
        {"segment": "vip"},
        {"channel": "pigeon"},
        {"since": "2020-01-01", "until": "2026-01-01"},
    ],
)
def test_bad_filters_are_refused_in_russian(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        parse(params, now=NOW)


def test_reversed_period_is_swapped() -> None:
    f = parse({"since": "2026-11-30", "until": "2026-11-01"}, now=NOW)
    assert (f.since, f.until) == (date(2026, 11, 1), date(2026, 11, 30))


TABLE = Table(
    "t",
    "T",
    (Column("name", "Имя", Kind.TEXT), Column("n", "N")),
    [{"name": f"s{i:02d}", "n": i % 7 if i != 5 else None} for i in range(60)],
    default_sort="n",
)


def test_sorting_puts_empty_values_last_both_ways() -> None:
    asc = sort_rows(TABLE.rows, "n", desc=False)
    desc = sort_rows(TABLE.rows, "n", desc=True)
    assert asc[0]["n"] == 0
    assert asc[-1]["n"] is None
    assert desc[0]["n"] == 6
    assert desc[-1]["n"] is None


def test_pages_cover_every_row_once_and_unknown_sort_falls_back() -> None:
    seen = []
    for n in (1, 2, 3):
        page = page_of(TABLE, "name", False, n)
        assert (page.pages, page.total) == (3, 60)
        seen += [r["name"] for r in page.rows]
    assert seen == sorted(r["name"] for r in TABLE.rows)
    assert page_of(TABLE, "password", False, 99).sort == "n"  # unknown column → default; page clamped
    assert page_of(TABLE, "password", False, 99).page == 3


def test_russian_number_formats() -> None:
    assert format_value(1234567, Kind.INT) == "1\u00a0234\u00a0567"
    assert format_value(0.1234, Kind.SHARE) == "12,3 %"
    assert format_value(123456, Kind.KOPECKS) == "1\u00a0235\u00a0₽"  # whole rubles from 1 000 ₽
    assert format_value(99999, Kind.KOPECKS) == "999,99\u00a0₽"
    assert format_value(95, Kind.SECONDS) == "95 с"
    assert format_value(600, Kind.SECONDS) == "10,0 мин"
    assert format_value(None, Kind.INT) == "—"


def test_bar_chart_is_well_formed_svg_with_escaped_labels_and_proportional_bars() -> None:
    svg = charts.bars([("<script>", 10), ("Б", 5), ("В", 0)], "доли")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert root.get("aria-label") == "доли"
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    widths = [float(r.get("width", 0)) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert widths[2] == 0
    assert "style=" not in svg  # the CSP allows no inline style


def test_column_chart_has_a_column_per_day_and_labels_the_peak() -> None:
    svg = charts.columns([(f"{d:02d}", d % 5) for d in range(1, 31)], "по дням")
    root = ET.fromstring(svg)
    rects = list(root.iter("{http://www.w3.org/2000/svg}rect"))
    assert len(rects) == 30
    heights = [float(r.get("height", 0)) for r in rects]
    assert max(heights) == heights[3]  # day 4: the first of the highest
    assert charts.columns([("a", 0)], "x") == charts.EMPTY
    assert charts.bars([], "x") == charts.EMPTY
