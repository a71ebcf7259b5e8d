"""Links as a receiver outside asrwatch can follow them.

Alerts carry runbook links such as `/runbooks/slo-burn-latency` (drift and the router itself
always emit relative ones); a pager, a chat or an Alertmanager cannot open those, so every
external payload joins them to `external_url` (like Prometheus' `--web.external-url`). Same
rule as `asrwatch.settings.Settings.absolute_link`, as a pure function of the base so payload
builders need no settings object.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def is_absolute(link: str) -> bool:
    return bool(_SCHEME.match(link or ""))


def absolute_link(link: str, external_url: str | None) -> str:
    """`link` joined to `external_url` when it is relative and a base is known, else unchanged."""
    if not link or not external_url or is_absolute(link):
        return link
    return external_url.rstrip("/") + "/" + link.lstrip("/")
