"""Captions for views that read stored sessions when the collector stores only a sample of them
(`store: {sessions: sample}`, #23 item 2): every session counts in the rollups, so tiles and
charts from rollups are whole, but a session list or a drift scan reads the stored share only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboards.transforms import fmt_int


def _share(rate: float, always: list[str]) -> str:
    plus = f" (plus {', '.join(always)})" if always else ""
    return f"Stored sessions are a {rate * 100:g}% sample{plus}"


def sessions_caption(storage: Mapping[str, Any] | None, counted: int | None) -> str | None:
    """Pure: the session list's caption under sampling (`GET /api/v1/storage`), None otherwise.
    `counted`: the window's sessions as the rollups count them."""
    if not storage or storage.get("sessions") != "sample" or float(storage.get("sample_rate", 1.0)) >= 1.0:
        return None
    return (f"{_share(float(storage['sample_rate']), list(storage.get('always') or []))}: this list shows "
            f"stored sessions only, of {fmt_int(counted)} sessions counted in this window.")


def drift_caption(sample: Mapping[str, Any] | None) -> str | None:
    """Pure: the drift view's caption from the report's `sample`, None when the scan read every session."""
    if not sample:
        return None
    ref, cur = sample["reference"], sample["current"]
    rate = float(sample["sample_rate"])
    share = _share(rate, list(sample.get("always") or []))
    # A report stored before the scan kept to the share drawn by id read every stored row.
    read = "scanned" if "scanned" in ref else "stored"
    what = f"the {rate * 100:g}% drawn by session id, " if read == "scanned" else ""
    left_out = ref["stored"] + cur["stored"] - ref[read] - cur[read]
    skipped = (f"; the {fmt_int(left_out)} other stored sessions, kept for their class, are left out so they "
               f"do not skew the mix") if left_out else ""
    return (f"{share}: this scan reads {what}{fmt_int(ref[read] + cur[read])} of "
            f"{fmt_int(ref['counted'] + cur['counted'])} sessions (reference {fmt_int(ref[read])} of "
            f"{fmt_int(ref['counted'])}, current {fmt_int(cur[read])} of {fmt_int(cur['counted'])}){skipped}.")


def sli_source_caption(slos: Mapping[str, Any] | None) -> str | None:
    """Pure: the SLO views' caption when the SLIs come from Prometheus (`sli_source: prometheus`,
    #23 item 1), None when the collector counts them from its rollups."""
    if not slos or not any(s.get("sli_source") == "prometheus" for s in slos.get("slos") or []):
        return None
    return ("SLIs are read from Prometheus (sli_source: prometheus): burn rates and alerts are its recording "
            "and alerting rules on scrape time; the SLO window's budget moves in 5-minute steps, and "
            "maintenance windows do not apply.")
