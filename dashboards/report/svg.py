"""Bar charts as inline SVG: no scripts, fonts or images to fetch, so the report opens offline and prints.

Text widths are not measured (there is no browser here): every label gets a column sized for
its characters at `CHAR_W` per character, an upper bound for the sans-serif faces at `FONT_PX`
(the widest lowercase letters and digits are about 0.6 em), so a label is never cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT_PX = 12
CHAR_W = FONT_PX * 0.68
BAR_H = 20
GAP = 8
COLOURS = {"ok": "#3a7d44", "warn": "#d08c00", "bad": "#c0392b", "plain": "#4a6fa5", "ref": "#555555"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str              # the value as printed next to the bar
    tone: str = "plain"    # a key of COLOURS
    low: float | None = None   # an interval drawn as a whisker (e.g. WER's 95% CI)
    high: float | None = None


def _w(text: str) -> float:
    return len(text) * CHAR_W


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def hbar_chart(title: str, bars: Sequence[Bar], *, reference: float | None = None, reference_text: str = "",
               name: str) -> str:
    """Horizontal bars, one per row, labelled on the left and valued on the right. `reference`
    (e.g. 100% of the budget) is drawn as a dashed line; the scale always reaches past it."""
    label_w = max([_w(b.label) for b in bars] + [_w("x")]) + 12
    value_w = max([_w(b.text) for b in bars] + [_w("x")]) + 12
    plot_w = 360.0
    top = 28.0
    height = top + len(bars) * (BAR_H + GAP) + 24
    width = max(label_w + plot_w + value_w + 8, _w(title) * 1.15 + 12)  # bold runs wider
    hi = max([b.value for b in bars] + [b.high or 0.0 for b in bars] + [reference or 0.0, 1e-12])
    scale = plot_w / (hi * 1.05)
    x0 = label_w
    parts = [_open(name, title, width, height), _text(4, 16, title, weight="bold")]
    for i, bar in enumerate(bars):
        y = top + i * (BAR_H + GAP)
        length = max(0.0, bar.value) * scale
        parts.append(_text(x0 - 6, y + BAR_H * 0.72, bar.label, anchor="end", cls="label"))
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" width="{length:.1f}" height="{BAR_H}" '
                     f'fill="{COLOURS[bar.tone]}" data-label="{_attr(bar.label)}" data-value="{bar.value!r}">'
                     f'<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>')
        if bar.low is not None and bar.high is not None:
            lo, hi_x, mid = x0 + bar.low * scale, x0 + bar.high * scale, y + BAR_H / 2
            parts.append(f'<path class="whisker" d="M{lo:.1f} {mid:.1f}H{hi_x:.1f}M{lo:.1f} {mid - 5:.1f}V{mid + 5:.1f}'
                         f'M{hi_x:.1f} {mid - 5:.1f}V{mid + 5:.1f}" stroke="#222" fill="none"/>')
        right = max(x0 + length, x0 + (bar.high or 0.0) * scale)
        parts.append(_text(right + 6, y + BAR_H * 0.72, bar.text, cls="value"))
    if reference is not None:
        x = x0 + reference * scale
        bottom = top + len(bars) * (BAR_H + GAP)
        parts.append(f'<line class="reference" x1="{x:.1f}" y1="{top - 4:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
                     f'stroke="{COLOURS["ref"]}" stroke-dasharray="4 3"/>')
        parts.append(_text(x, bottom + 14, reference_text, anchor="middle", cls="axis"))
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, bars: Sequence[Bar], *, tick_every: int = 5, name: str,
                 axis_text: Callable[[float], str] = lambda v: f"{v:g}") -> str:
    """Vertical bars in order (e.g. one per day); every `tick_every`-th label is printed under its bar."""
    col_w, plot_h = 16.0, 160.0
    left = max(_w(axis_text(max([b.value for b in bars] + [0.0]))), _w("0")) + 14
    top, bottom_pad = 30.0, 36.0
    width = left + len(bars) * col_w + 16
    width = max(width, _w(title) * 1.15 + 12)
    height = top + plot_h + bottom_pad
    hi = max([b.value for b in bars] + [1e-12])
    parts = [_open(name, title, width, height), _text(4, 16, title, weight="bold")]
    base = top + plot_h
    parts.append(f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{width - 8:.1f}" y2="{base:.1f}" stroke="#888"/>')
    parts.append(_text(left - 4, top + 4, axis_text(hi), anchor="end", cls="axis"))
    parts.append(_text(left - 4, base, axis_text(0.0), anchor="end", cls="axis"))
    for i, bar in enumerate(bars):
        x = left + i * col_w + 2
        h = max(0.0, bar.value) / hi * plot_h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{col_w - 4:.1f}" height="{h:.1f}" '
                     f'fill="{COLOURS[bar.tone]}" data-label="{_attr(bar.label)}" data-value="{bar.value!r}">'
                     f'<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>')
        if i % tick_every == 0 or i == len(bars) - 1:
            parts.append(_text(x + (col_w - 4) / 2, base + 14, bar.label, anchor="middle", cls="axis"))
    parts.append("</svg>")
    return "".join(parts)


def _open(name: str, title: str, width: float, height: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{_attr(name)}" role="img" '
            f'aria-label="{_attr(title)}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="{FONT_PX}">')


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "title", weight: str = "normal") -> str:
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-weight="{weight}">'
            f'{escape(text)}</text>')
