"""A dashboard's tables as CSV and XLSX (a sheet per widget); its PDF is the print page (`cloud.web.pdf`).

The same `Table` values as the page: rubles (not kopecks) and shares (0..1) as numbers, so a spreadsheet
or BI tool can compute with them.
"""

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from cloud.reports.filters import Filters
from cloud.reports.tables import Column, Dashboard, Kind, Table, export_label, export_value

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"  # Excel opens a UTF-8 CSV with Cyrillic only when it starts with a BOM


def csv_text(columns: Sequence[Column], rows: Iterable[dict[str, Any]], bom: bool = False) -> str:
    out = io.StringIO()
    if bom:
        out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([export_label(c) for c in columns])
    for row in rows:
        writer.writerow(["" if (v := export_value(row.get(c.key), c.kind)) is None else v for c in columns])
    return out.getvalue()


def export_rows(table: Table, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the read API answers them: the columns' keys, exported values."""
    return [{c.key: export_value(row.get(c.key), c.kind) for c in table.columns} for row in rows]


def file_name(dashboard: Dashboard, filters: Filters, suffix: str) -> str:
    return f"echeck-{dashboard.slug}-{filters.since.isoformat()}-{filters.until.isoformat()}{suffix}"


def _sheet_name(title: str, taken: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", title)[:31].strip() or "Лист"
    base, n = name, 2
    while name.lower() in taken:
        name = f"{base[:28]} {n}"
        n += 1
    taken.add(name.lower())
    return name


def xlsx_bytes(dashboard: Dashboard, filters: Filters, scope: str) -> bytes:
    """A workbook: the headline figures and the filters first, then a sheet per table (all its rows)."""
    import xlsxwriter  # imported here: only exports need it

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    formats = {
        Kind.INT: book.add_format({"num_format": "# ##0"}),
        Kind.SHARE: book.add_format({"num_format": "0.0%"}),
        Kind.KOPECKS: book.add_format({"num_format": "# ##0.00"}),
        Kind.SECONDS: book.add_format({"num_format": "0.0"}),
        Kind.NUMBER: book.add_format({"num_format": "0.00"}),
        Kind.SKEW: book.add_format({"num_format": "+0.0;-0.0;0.0"}),
    }
    taken: set[str] = set()
    first = book.add_worksheet(_sheet_name("Показатели", taken))
    first.write(0, 0, dashboard.title, bold)
    first.write(1, 0, f"Период: {filters.since:%d.%m.%Y} — {filters.until:%d.%m.%Y}; видимость: {scope}")
    for i, (name, value) in enumerate(sorted(filters.values().items())):
        first.write(2 + i, 0, name)
        first.write(2 + i, 1, value)
    row = 4 + len(filters.values())
    first.write(row, 0, "Показатель", bold)
    first.write(row, 1, "Значение", bold)
    for figure in dashboard.figures:
        row += 1
        first.write(row, 0, figure.label)
        value = export_value(figure.value, figure.kind)
        if value is None:
            first.write(row, 1, "—")
        elif figure.kind is Kind.TEXT:
            first.write(row, 1, str(value))
        else:
            first.write_number(row, 1, float(value), formats.get(figure.kind))
        if figure.note:
            first.write(row, 2, figure.note)
    for note in dashboard.notes:
        row += 2
        first.write(row, 0, note)
    first.set_column(0, 0, 34)
    first.set_column(1, 1, 16)
    for table in dashboard.tables:
        sheet = book.add_worksheet(_sheet_name(table.title, taken))
        for c, column in enumerate(table.columns):
            sheet.write(0, c, export_label(column), bold)
            sheet.set_column(c, c, max(10, min(40, len(export_label(column)) + 2)))
        for r, values in enumerate(table.rows, start=1):
            for c, column in enumerate(table.columns):
                value = export_value(values.get(column.key), column.kind)
                if value is None:
                    continue
                if column.kind is Kind.TEXT:
                    sheet.write_string(r, c, str(value))
                else:
                    sheet.write_number(r, c, float(value), formats[column.kind])
        below = len(table.rows) + 2
        if table.missing:
            sheet.write(below, 0, f"нет данных: {table.missing}")
            below += 1
        if table.note:  # as under the table on the page and in the PDF (e.g. how the Markov column was made)
            sheet.write(below, 0, table.note)
        sheet.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()
