"""Links as a reader outside asrwatch can follow them: one rule for the whole code base.

Alerts carry runbook links such as `/runbooks/slo-burn-latency` (drift and the router itself
always emit relative ones); a pager, a chat or an Alertmanager cannot open those, so every
external payload joins them to `external_url` (like Prometheus' `--web.external-url`).
`Settings.absolute_link` / `Settings.runbook_base` and the router's payload builders all call
these pure functions, so they cannot disagree. No link stays no link (never the site root).
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def is_absolute(link: str | None) -> bool:
    """`link` starts with a URL scheme (`https://`, `HTTP://`...): a reader anywhere can open it."""
    return bool(_SCHEME.match(link or ""))


def absolute_link(link: str, external_url: str | None) -> str:
    """`link` joined to `external_url` when it is relative and a base is known, else unchanged."""
    if not link or not external_url or is_absolute(link):
        return link
    return external_url.rstrip("/") + "/" + link.lstrip("/")
