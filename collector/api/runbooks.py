"""Runbooks over HTTP: `GET /runbooks` (index) and `GET /runbooks/{name}` (HTML, or `?format=md`).

Every alert carries a `runbook_url` such as `/runbooks/slo-burn-latency`; this router makes
those links resolve on the collector itself, so the console, Slack and PagerDuty can link them.

No token is needed: runbooks are operational procedures with no secrets or customer data
(they name API calls, never tokens), and a link pasted in a page or a chat must open for the
person woken up at 3am without first finding a bearer token. Everything under `/api/` keeps
its scopes.

Names are forgiving because alert producers spell them differently: case, a trailing `.md`,
and `_` versus `-` are ignored (`slo-burn-first-partial-latency` is `slo-burn-first_partial_latency.md`),
and `ALIASES` maps the other names code emits (drift feature names, alert names) to a file.
Files are read on each request, so an edited runbook is live without a restart.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from collector.store import error_responses

RUNBOOK_DIR = Path(__file__).resolve().parents[2] / "runbooks"
INDEX = "index"
SECTIONS = ("What it means", "First five minutes", "How to slice", "Mitigations", "When to escalate")

# Emitted name (normalized: lowercase, dashes) -> runbook file stem. Drift names its runbook
# after the raw feature (`drift-<feature>`); several features share one procedure.
ALIASES: dict[str, str] = {
    "drift-snr-db": "drift-snr",
    "drift-audio-seconds": "drift-audio_length",
    "drift-final-latency-ms": "drift-latency",
    "drift-first-partial-ms": "drift-latency",
    "drift-queue-ms": "drift-latency",
    "drift-partial-rewrite-rate": "drift-partial_rewrites",
    "drift-partial-rewrites": "drift-partial_rewrites",
    "drift-status": "drift-status_mix",
    "drift-channel": "drift-traffic_mix",
    "drift-language": "drift-traffic_mix",
    "drift-region": "drift-traffic_mix",
    "drift-tenant": "drift-traffic_mix",
    "drift-vocabulary": "vocabulary-drift",
    "drift-label-free-wer": "label-free-wer",
    "drift-hallucination": "slo-burn-hallucination",
    # Alert names, for producers that link `runbooks/<AlertName>.md`; the label-dependent
    # ones (which SLI, which feature) land on the index, which lists every variant.
    "sloerrorbudgetburn": INDEX,
    "driftdetected": INDEX,
    "werregression": "drift-wer",
    "vocabularydrift": "vocabulary-drift",
    "labelfreewerwarning": "label-free-wer",
    "costregression": "cost-regression",
    "cachehitratedrop": "slo-burn-cache_hit",
    "alertrouterdeliveryfailing": "router-delivery-failure",
    "ingestoutage": "ingest-outage",
    "canaryrollback": "canary-rollback",
    "rolloutrollback": "canary-rollback",
    "decodefailures": "decode-failures",
    "latencysaturation": "latency-saturation",
}

router = APIRouter(tags=["runbooks"])


def normalize(name: str) -> str:
    key = name.strip().lower()
    if key.endswith(".md"):
        key = key[:-3]
    return key.replace("_", "-")


def available(directory: Path = RUNBOOK_DIR) -> dict[str, Path]:
    """File stem -> path of every runbook."""
    return {p.stem: p for p in sorted(directory.glob("*.md")) if p.is_file()}


def resolve(name: str, directory: Path = RUNBOOK_DIR) -> str | None:
    """The file stem serving `name`, or None when no runbook covers it."""
    files = available(directory)
    by_key = {normalize(stem): stem for stem in files}
    key = normalize(name)
    if key in by_key:
        return by_key[key]
    target = ALIASES.get(key)
    return target if target in files else None


def title_of(text: str, fallback: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first[2:].strip() if first.startswith("# ") else fallback


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # Raw HTML off: a runbook renders as text, never as script.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def render_page(title: str, body_html: str, *, raw_link: str | None = None, canonical: str | None = None) -> str:
    links = ['<a href="/runbooks">all runbooks</a>']
    if raw_link:
        links.append(f'<a href="{html.escape(raw_link)}">Markdown</a>')
    head_extra = f'<link rel="canonical" href="{html.escape(canonical)}">' if canonical else ""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)} · asrwatch runbook</title>{head_extra}"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}"
        "pre{background:#f4f4f4;padding:.6rem;overflow-x:auto}code{font-size:.92em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
        "nav{font-size:.9em;margin-bottom:1rem}</style></head><body>"
        f"<nav>{' · '.join(links)}</nav>{body_html}</body></html>"
    )


def catalog(directory: Path = RUNBOOK_DIR) -> list[dict[str, str]]:
    out = []
    for stem, path in available(directory).items():
        if stem != INDEX:
            out.append({"name": stem, "title": title_of(path.read_text(encoding="utf-8"), stem),
                        "url": f"/runbooks/{stem}"})
    return out


def _wants_html(request: Request, fmt: str | None) -> bool:
    if fmt:
        return fmt == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split("text/html")[0]


@router.get("/runbooks", responses={200: {"description": "the catalog", "content": {
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}, "text/html": {}}},
    **error_responses(422)})
def runbook_index(request: Request, format: str | None = Query(None, pattern="^(json|html)$")) -> Response:  # noqa: A002
    """Every runbook's name, title and URL: JSON, or HTML for browsers (`Accept: text/html` or `?format=html`)."""
    items = catalog()
    if not _wants_html(request, format):
        return JSONResponse(items)
    rows = "".join(f'<li><a href="{html.escape(i["url"])}">{html.escape(i["title"])}</a> '
                   f'<code>{html.escape(i["name"])}</code></li>' for i in items)
    return HTMLResponse(render_page("Runbooks", f'<h1>Runbooks</h1><p><a href="/runbooks/{INDEX}">How to use them'
                                    f"</a></p><ul>{rows}</ul>"))


@router.get("/runbooks/{name}", responses={200: {"description": "the runbook", "content": {
    "text/html": {}, "text/markdown": {}}}, **error_responses(404, 422)})
def runbook(name: str, format: str = Query("html", pattern="^(html|md)$")) -> Response:  # noqa: A002
    """One runbook rendered as HTML, or its Markdown source with `?format=md`."""
    stem = resolve(name)
    if stem is None:
        raise HTTPException(404, f"runbook {name!r} not found; GET /runbooks lists them")
    text = (RUNBOOK_DIR / f"{stem}.md").read_text(encoding="utf-8")
    headers = {"Cache-Control": "max-age=60"}
    if format == "md":
        return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)
    page = render_page(title_of(text, stem), _markdown().render(text), raw_link=f"/runbooks/{stem}?format=md",
                       canonical=f"/runbooks/{stem}")
    return HTMLResponse(page, headers=headers)
