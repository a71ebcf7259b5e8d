"""The Streamlit layer every page shares: where the API is, the short cache, the sidebar view
controls (time range, "as of", slice filters) and one-line error display."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import streamlit as st

from dashboards.api import ConsoleAPI, ConsoleError, http_fetch
from dashboards.loaders import PageData, Section, gather
from dashboards.timerange import (
    DEFAULT_RANGE,
    FILTER_DIMENSIONS,
    RANGES,
    View,
    filter_dimensions,
    make_view,
    parse_as_of,
)

API_ENV = "ASRWATCH_CONSOLE_API"
TOKEN_ENV = "ASRWATCH_CONSOLE_TOKEN"
DEFAULT_API = "http://127.0.0.1:8080"
CACHE_TTL_S = 15
ALL = "(all)"


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=1024)
def _cached_fetch(method: str, url: str, token: str | None, params: tuple, body: Any) -> tuple[int, Any]:
    # Transport failures raise and so are never cached: the next rerun asks again.
    return http_fetch(method, url, token, params, body)


def _fetch_in_script_context() -> Callable[..., tuple[int, Any]]:
    """The cached fetch, usable from the loaders' worker threads (they join this script run)."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    ctx = get_script_run_ctx()

    def fetch(*args: Any) -> tuple[int, Any]:
        if ctx is not None and get_script_run_ctx() is None:
            add_script_run_ctx(threading.current_thread(), ctx)
        return _cached_fetch(*args)

    return fetch


def api() -> ConsoleAPI:
    url = st.session_state.get("api_url") or os.environ.get(API_ENV) or DEFAULT_API
    token = st.session_state.get("api_token") or os.environ.get(TOKEN_ENV) or None
    return ConsoleAPI(url, token, fetch=_fetch_in_script_context())


def dimensions() -> tuple[str, ...]:
    """The slice filters: the fixed dimensions and the collector's configured ones (the fixed
    ones alone while the collector cannot be asked)."""
    try:
        return filter_dimensions(api().dimensions())
    except (ConsoleError, AttributeError, TypeError):
        return FILTER_DIMENSIONS


def _seed_from_query_params(dims: tuple[str, ...]) -> None:
    """Links like `?as_of=...&range=7d&model_version=...&accent=...` open a view (replays, shared links)."""
    if st.session_state.get("_seeded"):
        return
    params = st.query_params
    if params.get("range") in RANGES:
        st.session_state["range"] = params["range"]
    if "as_of" in params:
        st.session_state["as_of"] = params["as_of"]
    for dim in dims:
        if params.get(dim):
            st.session_state[f"filter_{dim}"] = params[dim]
    st.session_state["_seeded"] = True


def _values(rows: list[dict[str, Any]], dim: str) -> list[str]:
    return sorted({str(r[dim]) for r in rows if r.get(dim) is not None})


def _filter_options(client: ConsoleAPI, view: View, dims: tuple[str, ...]) -> dict[str, list[str]]:
    """Each dimension's values in the window: the fixed ones from one grouped answer, each
    configured one from its own (grouping by all of them at once would multiply the groups)."""
    configured = [d for d in dims if d not in FILTER_DIMENSIONS]
    calls: dict[str, Callable[[], Any]] = {"": lambda: client.cost(list(FILTER_DIMENSIONS), view.window(), {})}
    calls.update({d: (lambda d=d: client.cost([d], view.window(), {})) for d in configured})
    try:
        found = gather(calls)
    except ConsoleError:
        return {d: [] for d in dims}
    fixed = found[""].data if found[""].ok else []
    options = {d: _values(fixed, d) for d in FILTER_DIMENSIONS}
    options.update({d: _values(found[d].data, d) if found[d].ok else [] for d in configured})
    return options


def sidebar() -> None:
    """Time range, "as of" and slice filters; the pages read them through `view()`."""
    dims = dimensions()
    _seed_from_query_params(dims)
    bar = st.sidebar
    bar.selectbox("Time range", list(RANGES), index=list(RANGES).index(DEFAULT_RANGE), key="range")
    bar.text_input("As of (RFC 3339; blank = live)", key="as_of",
                   help="Judge replayed data as of its own time, e.g. 2026-11-21T10:00:00Z.")
    try:
        base = make_view(st.session_state["range"], parse_as_of(st.session_state.get("as_of")), {}, collector_now())
    except ValueError as exc:
        bar.error(str(exc))
        return
    options = _filter_options(api(), base, dims)
    with bar.expander("Slice filters", expanded=False):
        for dim in dims:
            key = f"filter_{dim}"
            chosen = st.session_state.get(key)
            values = [ALL] + options[dim] + ([chosen] if chosen and chosen != ALL and chosen not in options[dim] else [])
            st.selectbox(dim.replace("_", " "), values, key=key)
    bar.caption(f"API: {api().base_url} · cache {CACHE_TTL_S} s")


def collector_now() -> datetime:
    """"Live" is the collector's clock (the watermark in event-time mode, as the evaluator and the
    demo judge it); the wall clock only while the collector cannot be asked."""
    try:
        return api().now()
    except (ConsoleError, KeyError, TypeError, ValueError):
        return datetime.now(timezone.utc)


def view() -> View:
    """The current view; a bad "as of" stops the page with one line."""
    dims = dimensions()
    filters = {d: st.session_state.get(f"filter_{d}") for d in dims}
    filters = {d: v for d, v in filters.items() if v and v != ALL}
    try:
        return make_view(st.session_state.get("range", DEFAULT_RANGE),
                         parse_as_of(st.session_state.get("as_of")), filters, collector_now(), dims)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() ends the run


def caption(current: View) -> None:
    mode = "live" if current.live else "replay"
    where = ", ".join(f"{k}={v}" for k, v in current.filters.items()) or "all slices"
    st.caption(f"As of {current.at} ({mode}) · last {_span(current)} · {where}")


def _span(current: View) -> str:
    for name, span in RANGES.items():
        if span == current.span:
            return name
    return str(current.span)


def load(title: str | None, loader: Callable[..., PageData], **kwargs: Any) -> PageData:
    """Title the page (unless it did) and run its data load; a page-wide problem is one line and
    the page stops there."""
    if title:
        st.title(title)
    current = view()
    try:
        data = loader(api(), current, **kwargs)
    except ConsoleError as exc:
        show_error(exc)
        st.stop()
        raise  # unreachable
    caption(current)
    return data


def show_error(exc: ConsoleError) -> None:
    if exc.kind == "empty":
        st.warning(exc.message)
    else:
        st.error(exc.message)


def available(sec: Section | None, title: str) -> bool:
    """True when the section has data; otherwise say why in one line."""
    if sec is None:
        return False
    if sec.error is not None:
        st.info(f"{title}: {sec.error.message}")
        return False
    return True


def debug_link(session_id: str) -> str:
    return f"/debug?session={session_id}"


def burndown(series: Mapping[str, Any], chosen: str, marks: Any, at: datetime | str) -> None:
    """The error budget left over the SLO window, step by step, with zero marked: the same chart
    on the on-call and executive pages. Its description (Vega's ARIA label, which the browser test
    reads) states the first and last figures."""
    from dashboards import series_frames, timecharts
    from dashboards import transforms as tf

    budget = series_frames.budget_series_frame(series)
    first, last = (budget["error_budget_remaining"].iloc[[0, -1]] if not budget.empty else (None, None))
    st.altair_chart(timecharts.budget_chart(
        budget, marks, f"Error budget left for {chosen}: {tf.fmt_pct(first, 1)} at the start of the range, "
        f"{tf.fmt_pct(last, 1)} at the end of the range."), width="stretch", key="budget_series")
    st.caption(f"Budget left over the {series.get('window', '')} window at {at}: {tf.fmt_pct(last, 1)}; "
               "below the red line at zero it is spent.")


# Streamlit draws a metric tile's label and value on one line cut with an ellipsis ("decod…",
# "whisper-large-v3@2…"); a person debugging a session needs them whole, so the tiles wrap
# instead, with the rule Streamlit itself applies to tiles when printing.
_WRAPPING_METRICS_CSS = """<style>
[data-testid="stMetric"] [data-testid="stMarkdownContainer"],
[data-testid="stMetric"] [data-testid="stMarkdownContainer"] p {
  overflow: visible; text-overflow: clip; white-space: normal; overflow-wrap: anywhere; min-width: 0;
}
</style>"""


def wrap_metric_tiles() -> None:
    """Make every metric tile on the page wrap its label and value rather than cut them short.
    Style-only HTML: Streamlit applies it without adding an element to the page."""
    st.html(_WRAPPING_METRICS_CSS)
