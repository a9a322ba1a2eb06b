"""What a dashboard is made of: figures, charts and tables; sorting and paging a table (server-side) and
formatting its values for people. Pure: the same values go to the page, CSV, XLSX, PDF and the read API."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from math import ceil
from typing import Any

PAGE_SIZE = 25


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    SHARE = "share"  # a fraction 0..1, shown as a percentage
    KOPECKS = "kopecks"  # money in kopecks, shown in rubles
    SECONDS = "seconds"
    NUMBER = "number"  # a float, two decimals
    SKEW = "skew"  # signed seconds, one decimal: a register's clock against the cloud's


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: Kind = Kind.INT

    @property
    def numeric(self) -> bool:
        return self.kind is not Kind.TEXT


@dataclass(frozen=True, slots=True)
class Table:
    id: str  # the widget's name: in query parameters, CSV file names, XLSX sheet names and the API
    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    default_sort: str | None = None
    default_desc: bool = True
    missing: str | None = None  # "нет данных": why this source is empty (not landed yet, ...)
    note: str | None = None

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    value: Any
    kind: Kind = Kind.INT
    note: str | None = None
    id: str = ""


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    svg: str  # inline SVG made by cloud.reports.charts (escaped there)


@dataclass(frozen=True, slots=True)
class Dashboard:
    slug: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is missing and why

    def table(self, table_id: str) -> Table | None:
        return next((t for t in self.tables if t.id == table_id), None)

    def figures_table(self) -> Table:
        """The headline figures as a table: the first sheet of the XLSX and the API's `figures`."""
        return Table(
            id="figures",
            title="Показатели",
            columns=(Column("label", "Показатель", Kind.TEXT), Column("value", "Значение", Kind.TEXT)),
            rows=[{"label": f.label, "value": format_value(f.value, f.kind)} for f in self.figures],
        )


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int
    sort: str | None
    desc: bool


def sort_rows(rows: Sequence[dict[str, Any]], key: str, desc: bool) -> list[dict[str, Any]]:
    """Rows by `key`; empty values last in either direction; text compared case-insensitively."""

    def value(row: dict[str, Any]) -> Any:
        v = row.get(key)
        return v.casefold() if isinstance(v, str) else v

    present = [r for r in rows if row_has(r, key)]
    empty = [r for r in rows if not row_has(r, key)]
    try:
        ordered = sorted(present, key=value, reverse=desc)
    except TypeError:  # mixed types: compare as text
        ordered = sorted(present, key=lambda r: str(value(r)), reverse=desc)
    return ordered + empty


def row_has(row: dict[str, Any], key: str) -> bool:
    return row.get(key) is not None and row.get(key) != ""


def page_of(table: Table, sort: str | None, desc: bool, page: int, size: int = PAGE_SIZE) -> Page:
    """One page of the table sorted by `sort` (a column key; unknown keys fall back to the default)."""
    if sort is None or table.column(sort) is None:
        sort, desc = table.default_sort, table.default_desc
    rows = sort_rows(table.rows, sort, desc) if sort else list(table.rows)
    pages = max(1, ceil(len(rows) / size))
    page = min(max(page, 1), pages)
    return Page(rows[(page - 1) * size : page * size], page, pages, len(rows), sort, desc)


def share(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


def format_value(value: Any, kind: Kind) -> str:
    """A value as head office reads it (Russian number formats: 1 234,5; 12,3 %; 1 234,56 ₽)."""
    if value is None or value == "":
        return "—"
    if kind is Kind.TEXT:
        return str(value)
    if kind is Kind.INT:
        return _group(f"{int(value):,}")
    if kind is Kind.SHARE:
        return f"{float(value) * 100:.1f}".replace(".", ",") + " %"
    if kind is Kind.KOPECKS:  # whole rubles from 1 000 ₽ on: figures stay readable (exports keep kopecks)
        if abs(int(value)) >= 100_000:
            return _group(f"{round(int(value) / 100):,}") + "\u00a0₽"
        return _group(f"{int(value) / 100:,.2f}").replace(".", ",") + "\u00a0₽"
    if kind is Kind.SECONDS:
        seconds = float(value)
        if seconds < 120:
            return f"{seconds:.0f} с"
        if seconds < 7200:
            return f"{seconds / 60:.1f} мин".replace(".", ",")
        return f"{seconds / 3600:.1f} ч".replace(".", ",")
    if kind is Kind.SKEW:
        return f"{round(float(value), 1) + 0.0:+.1f}".replace(".", ",") + "\u00a0с"  # never "-0,0"
    return _group(f"{float(value):,.2f}").replace(".", ",")


def _group(text: str) -> str:
    return text.replace(",", "\u00a0")


def export_value(value: Any, kind: Kind) -> Any:
    """A value for CSV, XLSX and the API: numbers stay numbers (rubles, not kopecks; shares as 0..1)."""
    if value is None:
        return None
    if kind is Kind.KOPECKS:
        return round(int(value) / 100, 2)
    if kind is Kind.SHARE:
        return round(float(value), 4)
    if kind in (Kind.SECONDS, Kind.NUMBER, Kind.SKEW):
        return round(float(value), 2)
    return value


def export_label(column: Column) -> str:
    """A column's heading in exports, with the unit the exported number is in."""
    if column.kind is Kind.KOPECKS:
        return f"{column.label}, ₽"
    if column.kind in (Kind.SECONDS, Kind.SKEW):
        return f"{column.label}, с"
    if column.kind is Kind.SHARE:
        return f"{column.label}, доля"
    return column.label
