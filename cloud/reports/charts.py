"""Charts as inline SVG, drawn on the server: horizontal bars (a value per store, channel, block) and
columns (a value per day). No JavaScript, no CDN, no inline style (the CSP forbids it): presentation
attributes only, and every label escaped. Scales to its container (viewBox, width 100 %).

Why not Vega-Altair + vl-convert (measured here, docs/reports.md): vl-convert-python 1.9 is an 84 MB
install (it embeds Deno/V8) plus 10 MB of Altair; importing both took 1.3 s, the first chart 1.8 s and
every next one 0.16 s on this 2-core machine: three charts would cost a dashboard half a second. These two
chart kinds are ~150 lines with their own tests (tests/cloud/reports/test_charts.py).
"""

from collections.abc import Callable, Sequence
from html import escape

WIDTH = 640  # columns
BAR_WIDTH = 520  # bars: narrow, so that their text stays legible when a phone scales the chart down
BAR_HEIGHT = 24
GAP = 6
LABEL_WIDTH = 175
VALUE_WIDTH = 130
COLUMN_HEIGHT = 180
COLORS = ("#1f6fb2", "#2e9e6a", "#d08a1a", "#8a4fbf", "#c2444b", "#4a8f99", "#7a7a7a")
EMPTY = '<p class="muted">нет данных за период</p>'


def _text(value: str, limit: int = 34) -> str:
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return escape(value, quote=True)


def bars(
    items: Sequence[tuple[str, float]],
    label: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    limit: int = 12,
) -> str:
    """Horizontal bars in the given order, at most `limit`; `label` names the chart for screen readers."""
    items = [(name, max(0.0, float(value))) for name, value in items[:limit]]
    if not items:
        return EMPTY
    top = max(v for _, v in items) or 1.0
    span = BAR_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    height = len(items) * (BAR_HEIGHT + GAP) + GAP
    parts = [
        f'<svg class="chart" role="img" aria-label="{_text(label, 200)}" viewBox="0 0 {BAR_WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (name, value) in enumerate(items):
        y = GAP + i * (BAR_HEIGHT + GAP)
        w = max(1.0, span * value / top) if value else 0.0
        mid = y + BAR_HEIGHT / 2 + 5
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{mid:.1f}" text-anchor="end" font-size="15" fill="#333">'
            f"{_text(name, 17)}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" rx="3" '
            f'fill="{COLORS[i % len(COLORS)] if len(items) <= len(COLORS) else COLORS[0]}"/>'
            f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{mid:.1f}" font-size="15" fill="#333">'
            f"{_text(fmt(value), 20)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def columns(
    items: Sequence[tuple[str, float]],
    label: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
) -> str:
    """A column per item (a day), left to right, with the first, middle and last labels under them and
    the highest value written over its column."""
    items = [(name, max(0.0, float(value))) for name, value in items]
    if not items or not any(v for _, v in items):
        return EMPTY
    top = max(v for _, v in items) or 1.0
    left, bottom, header = 10, 24, 22
    plot_h = COLUMN_HEIGHT - bottom - header
    step = (WIDTH - 2 * left) / len(items)
    width = max(1.0, step * 0.7)
    parts = [
        f'<svg class="chart" role="img" aria-label="{_text(label, 200)}" '
        f'viewBox="0 0 {WIDTH} {COLUMN_HEIGHT}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{header + plot_h}" x2="{WIDTH - left}" y2="{header + plot_h}" '
        f'stroke="#bbb" stroke-width="1"/>',
    ]
    peak = max(range(len(items)), key=lambda i: items[i][1])
    shown = {0, len(items) // 2, len(items) - 1}
    for i, (name, value) in enumerate(items):
        h = plot_h * value / top
        x = left + i * step + (step - width) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{header + plot_h - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
            f'fill="{COLORS[0]}"><title>{_text(name)}: {_text(fmt(value), 20)}</title></rect>'
        )
        cx = x + width / 2
        if i in shown:
            parts.append(
                f'<text x="{cx:.1f}" y="{COLUMN_HEIGHT - 6}" text-anchor="middle" font-size="16" '
                f'fill="#555">{_text(name, 12)}</text>'
            )
        if i == peak:
            parts.append(
                f'<text x="{cx:.1f}" y="{header + plot_h - h - 6:.1f}" text-anchor="middle" '
                f'font-size="16" fill="#333">{_text(fmt(value), 20)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
