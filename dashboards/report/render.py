"""The report as one self-contained HTML page: inline CSS and SVG, no scripts, fonts or images.

Every printed figure also carries the API's own number in `data-value` (Python's repr, which
round-trips a float), so a test or a reader's script can compare the page with the API exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from dashboards.report.data import BudgetLine, Incident, ReportData, iso
from dashboards.report.svg import Bar, column_chart, hbar_chart

CSS = """
body { font-family: sans-serif; color: #222; margin: 24px auto; max-width: 980px; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group td:first-child { padding-left: 24px; color: #555; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.tile .k { font-size: 12px; color: #555; } .tile .v { font-size: 20px; font-weight: bold; white-space: nowrap; }
.met { color: #3a7d44; font-weight: bold; } .missed { color: #c0392b; font-weight: bold; } .na { color: #777; }
.empty { background: #fff6d6; border: 1px solid #e6c200; padding: 10px 14px; border-radius: 6px; }
.note { color: #555; font-size: 13px; }
.scroll { overflow-x: auto; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
section { break-inside: avoid-page; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
"""


# -- formatting -------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if _missing(value) else f"{value * 100:.{digits}f}%"


def usd(value: float | None, digits: int = 2) -> str:
    return "n/a" if _missing(value) else f"${value:,.{digits}f}"


def count(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{int(round(value)):,}"


def duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days}d " if days else "") + (f"{hours}h " if hours or days else "") + f"{mins}m"


def when(at: datetime | None) -> str:
    return "ongoing" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def _a(value: Any) -> str:
    return escape(str(value), quote=True)


def _cell(text: str, figure: str | None = None, value: Any = None, *, num: bool = False, cls: str = "",
          **keys: str) -> str:
    classes = " ".join(c for c in ("num" if num else "", cls) if c)
    attrs = f' class="{classes}"' if classes else ""
    if figure is not None:
        attrs += f' data-figure="{_a(figure)}" data-value="{_a(repr(value))}"'
        attrs += "".join(f' data-{k}="{_a(v)}"' for k, v in keys.items())
    return f"<td{attrs}>{escape(text)}</td>"


def _tile(label: str, text: str, figure: str, value: Any) -> str:
    return (f'<div class="tile"><div class="k">{escape(label)}</div>'
            f'<div class="v" data-figure="{_a(figure)}" data-value="{_a(repr(value))}">{escape(text)}</div></div>')


# -- sections ---------------------------------------------------------------------------------------


def _compliance(line: BudgetLine) -> tuple[str, str]:
    met = line.met
    return ("no events", "na") if met is None else ("met", "met") if met else ("missed", "missed")


def _tone(spent: float) -> str:
    return "bad" if spent >= 1.0 else "warn" if spent >= 0.5 else "ok"


def _budget_row(line: BudgetLine, is_group: bool) -> str:
    text, cls = _compliance(line)
    keys = {"slo": line.slo, "group": line.group}
    return (f'<tr class="{"group" if is_group else "slo"}">'
            + _cell(line.group if is_group else line.slo)
            + _cell(pct(line.objective, 3 if line.objective > 0.99 else 2), num=True)
            + _cell(line.window)
            + _cell(count(line.events), "events", line.events, num=True, **keys)
            + _cell(pct(line.sli, 3), "sli", line.sli, num=True, **keys)
            + _cell(text, cls=cls)
            + _cell(pct(line.budget_spent, 1), "budget-spent", line.budget_spent, num=True, **keys)
            + "</tr>")


def slo_section(data: ReportData) -> str:
    head = (f"<section id=\"slos\"><h2>SLO compliance and error budget</h2>"
            f"<p class=\"note\">As judged at {escape(iso(data.at))} over each SLO's own window "
            "(<code>/api/v1/slos</code>); a grouped SLO's line pools its groups, which follow worst first.</p>")
    if not data.slos:
        return head + "<p>No SLOs are configured on this collector.</p></section>"
    bars = [Bar(s.name, s.overall.budget_spent, pct(s.overall.budget_spent, 1), _tone(s.overall.budget_spent))
            for s in data.slos]
    chart = hbar_chart("Error budget spent per SLO", bars, reference=1.0, reference_text="100% of budget",
                       name="budget-spent")
    rows = []
    for slo in data.slos:
        rows.append(_budget_row(slo.overall, False))
        rows += [_budget_row(g, True) for g in slo.groups]
    table = ("<div class=\"scroll\"><table><thead><tr>"
             "<th>SLO / group</th><th class=\"num\">objective</th><th>window</th>"
             "<th class=\"num\">events</th><th class=\"num\">SLI</th><th>compliance</th>"
             "<th class=\"num\">budget spent</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    return head + chart + table + "</section>"


def incident_section(data: ReportData) -> str:
    incidents: Sequence[Incident] = data.incidents
    pages = sum(1 for i in incidents if i.severity == "page")
    out = [f'<section id="incidents"><h2>Incidents</h2><p class="note">{len(incidents)} in {escape(data.month.label)}: '
           f'{pages} page(s), {len(incidents) - pages} ticket(s). SLO alert episodes from '
           "<code>/api/v1/alerts?state=all</code>; WER, drift and cost tickets from <code>/api/v1/tickets</code>.</p>"]
    if not incidents:
        out.append(f"<p>No incidents in {escape(data.month.label)}.</p></section>")
        return "".join(out)
    out.append("<div class=\"scroll\"><table><thead><tr><th>start</th><th>end</th><th class=\"num\">duration</th>"
               "<th>severity</th>"
               "<th>alert</th><th>SLO</th><th>group</th></tr></thead><tbody>")
    for i in incidents:
        out.append("<tr class=\"incident\">" + _cell(when(i.start)) + _cell(when(i.end))
                   + _cell(duration(i.duration_s), "incident-duration", i.duration_s, num=True, name=i.name)
                   + _cell(i.severity) + _cell(i.name) + _cell(i.slo or "-") + _cell(i.group or "all") + "</tr>")
    out.append("</tbody></table></div></section>")
    return "".join(out)


def cost_section(data: ReportData) -> str:
    cost = data.cost or {}
    out = ['<section id="cost"><h2>Cost</h2><div class="tiles">',
           _tile("total cost", usd(cost.get("cost_usd")), "cost-usd", cost.get("cost_usd")),
           _tile("sessions", count(cost.get("sessions")), "sessions", cost.get("sessions")),
           _tile("cost per successful turn", usd(cost.get("cost_per_successful_turn"), 4), "cost-per-successful-turn",
                 cost.get("cost_per_successful_turn")),
           _tile("audio minutes", count(cost.get("audio_minutes")), "audio-minutes", cost.get("audio_minutes")),
           _tile("cost per audio minute", usd(cost.get("cost_per_audio_minute"), 4), "cost-per-audio-minute",
                 cost.get("cost_per_audio_minute")),
           "</div>"]
    if data.cost_days:
        bars = [Bar(str(d.start.day), d.cost_usd, usd(d.cost_usd), "plain") for d in data.cost_days]
        out.append(column_chart(f"GPU cost per day, {data.month.label} (USD)", bars, name="cost-by-day",
                                axis_text=lambda v: usd(v)))
        out.append("<p class=\"note\">One <code>/api/v1/cost</code> answer per UTC day.</p>")
    else:
        out.append("<p>The API gave no daily cost for this month.</p>")
    out.append("</section>")
    return "".join(out)


def wer_section(data: ReportData) -> str:
    out = ['<section id="wer"><h2>WER by model version</h2>',
           "<p class=\"note\">Corpus WER (S+D+I)/N over the month's labeled utterances, with its 95% interval "
           "(<code>/api/v1/wer?group_by=model_version</code>).</p>"]
    if not data.wer:
        out.append(f"<p>No labeled utterances in {escape(data.month.label)}.</p></section>")
        return "".join(out)
    bars = [Bar(str(r.get("model_version")), float(r.get("wer") or 0.0), pct(r.get("wer")), "plain",
                r.get("ci_low"), r.get("ci_high")) for r in data.wer]
    out.append(hbar_chart("WER by model version", bars, name="wer-by-version"))
    out.append("<div class=\"scroll\"><table><thead><tr><th>model version</th><th class=\"num\">WER</th>"
               "<th class=\"num\">95% interval</th>"
               "<th class=\"num\">utterances</th><th class=\"num\">reference words</th></tr></thead><tbody>")
    for r in data.wer:
        version = str(r.get("model_version"))
        interval = f"{pct(r.get('ci_low'))} – {pct(r.get('ci_high'))}"
        out.append("<tr>" + _cell(version) + _cell(pct(r.get("wer")), "wer", r.get("wer"), num=True, version=version)
                   + _cell(interval, num=True)
                   + _cell(count(r.get("utterances")), "utterances", r.get("utterances"), num=True, version=version)
                   + _cell(count(r.get("ref_words")), num=True) + "</tr>")
    out.append("</tbody></table></div></section>")
    return "".join(out)


def render_html(data: ReportData) -> str:
    month_name = data.month.start.strftime("%B %Y")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>asrwatch report {escape(data.month.label)}</title>",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<style>{CSS}</style></head><body>",
        f"<h1>ASR service report: {escape(month_name)}</h1>",
        f'<p class="sub" data-month="{_a(data.month.label)}" data-at="{_a(iso(data.at))}">'
        f"{escape(iso(data.month.start))} to "
        f"{escape(iso(data.month.end))} (event time, UTC); judged at {escape(iso(data.at))}; "
        f"generated {escape(data.generated_at.strftime('%Y-%m-%d %H:%M UTC'))} from {escape(data.api_url)}.</p>",
    ]
    if not data.has_data:
        parts.append(f'<p class="empty" id="no-data">No data for {escape(month_name)}: the collector recorded no '
                     "sessions and no labeled utterances in this month, so the sections below have no figures "
                     "for it.</p>")
    parts += [slo_section(data), incident_section(data), cost_section(data), wer_section(data)]
    if data.notes:
        parts.append('<section id="notes"><h2>Not available</h2><ul>'
                     + "".join(f"<li>{escape(n)}</li>" for n in data.notes) + "</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
