"""Charts as inline SVG, drawn on the server: no JavaScript library, no CDN — the console works on
an office PC without internet. Each chart is drawn from a figures.Table, so what the chart shows
is exactly the table under it (and the Excel export)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from admin.figures import Chart, Table

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#ad494a",
)
FONT = 'font-family="Microsoft YaHei, PingFang SC, Noto Sans CJK SC, sans-serif"'
MAX_BARS = 20


def svg(table: Table) -> str:
    """The table's chart, or '' when it has none or nothing to show."""
    chart = table.chart
    if chart is None:
        return ""
    rows = table.rows[:-1] if chart.skip_last_row else table.rows
    if not rows or not any(_number(row[c]) for row in rows for c in chart.value_cols):
        return ""
    if chart.kind == "stacked":
        return _stacked(table, chart, rows)
    if chart.kind == "hbars":
        return _hbars(table, chart, rows)
    return _bars(table, chart, rows)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _nice_max(value: float) -> float:
    """The top of the axis: four equal steps of 1, 2 or 5 × 10^k (counts get whole-number ticks)."""
    if value <= 0:
        return 4.0
    quarter = value / 4
    magnitude = 10 ** math.floor(math.log10(quarter))
    for factor in (1, 2, 5, 10):
        step = max(factor * magnitude, 1.0)
        if step >= quarter:
            return step * 4
    return value


def caption(table: Table) -> str:
    """What the chart shows, in words, under it."""
    chart = table.chart
    if chart is None:
        return ""
    if chart.kind == "stacked":
        return f"图：每根柱为一{table.headers[chart.label_col]}，颜色区分{table.title.split('按')[-1].rstrip('）')}"
    return f"图：{table.headers[chart.value_cols[0]]}（按{table.headers[chart.label_col]}）"


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]


def _grid(parts: list[str], *, left: int, top: int, width: int, height: int, top_value: float) -> None:
    for i in range(5):
        y = top + height - height * i / 4
        value = top_value * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#e3e6e8"/>')
        label = f"{value:g}" if value == int(value) else f"{value:.1f}"
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" {FONT}>{label}</text>')


def _bar_width(count: int, left: int) -> tuple[int, int, int]:
    """(bar width, gap, chart width): bars fill about 640 px, never thinner than 14 px."""
    slot = max(20, min(90, (640 - left - 20) // max(count, 1)))
    bar_w = max(14, round(slot * 0.7))
    return bar_w, slot - bar_w, max(480, left + 20 + count * slot)


def _stacked(table: Table, chart: Chart, rows: list[list[Any]]) -> str:
    series = [table.headers[c] for c in chart.value_cols]
    left, top, plot_h = 48, 16, 220
    bar_w, gap, width = _bar_width(len(rows), left)
    per_row = max(1, (width - left) // 130)
    legend_rows = -(-len(series) // per_row)
    height = top + plot_h + 40 + legend_rows * 18
    totals = [sum(_number(row[c]) for c in chart.value_cols) for row in rows]
    top_value = _nice_max(max(totals))
    parts = _open(width, height, table.title)
    _grid(parts, left=left, top=top, width=width - left - 10, height=plot_h, top_value=top_value)
    for i, row in enumerate(rows):
        x = left + 10 + i * (bar_w + gap)
        y: float = top + plot_h
        for s, c in enumerate(chart.value_cols):
            value = _number(row[c])
            if not value:
                continue
            h = plot_h * value / top_value
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(str(row[chart.label_col]))} {escape(series[s])}：{value:g}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{y - 3:.1f}" text-anchor="middle" font-size="11" {FONT}>{totals[i]:g}</text>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10" {FONT}>'
            f"{escape(str(row[chart.label_col]))}</text>"
        )
    for s, name in enumerate(series):
        lx = left + (s % per_row) * 130
        ly = top + plot_h + 30 + (s // per_row) * 18
        parts.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly + 9}" font-size="11" {FONT}>{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars(table: Table, chart: Chart, rows: list[list[Any]]) -> str:
    column = chart.value_cols[0]
    rows = rows[:MAX_BARS]
    left, top, plot_h = 48, 16, 200
    bar_w, gap, width = _bar_width(len(rows), left)
    height = top + plot_h + 30
    top_value = _nice_max(max(_number(row[column]) for row in rows))
    parts = _open(width, height, table.title)
    _grid(parts, left=left, top=top, width=width - left - 10, height=plot_h, top_value=top_value)
    for i, row in enumerate(rows):
        value = _number(row[column])
        x = left + 10 + i * (bar_w + gap)
        h = plot_h * value / top_value
        y = top + plot_h - h
        label = escape(str(row[chart.label_col]))
        parts.append(
            f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{PALETTE[0]}">'
            f"<title>{label}：{value:g}</title></rect>"
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{y - 3:.1f}" text-anchor="middle" font-size="11" {FONT}>{value:g}</text>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10" {FONT}>'
            f"{label}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _hbars(table: Table, chart: Chart, rows: list[list[Any]]) -> str:
    column = chart.value_cols[0]
    rows = rows[:MAX_BARS]
    label_w, top, bar_h, gap, plot_w = 190, 8, 18, 8, 380
    width = label_w + plot_w + 60
    height = top + len(rows) * (bar_h + gap) + 8
    top_value = _nice_max(max(_number(row[column]) for row in rows))
    parts = _open(width, height, table.title)
    for i, row in enumerate(rows):
        value = _number(row[column])
        y = top + i * (bar_h + gap)
        w = plot_w * value / top_value
        label = escape(str(row[chart.label_col]))
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12" {FONT}>{label}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{label}：{value:g}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="12" {FONT}>{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
