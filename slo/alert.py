"""The alert record shared by the SLO engine, drift, the router and the console."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

Severity = Literal["page", "ticket", "info"]


def fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of an alert: a hash of its sorted labels (as Alertmanager does)."""
    canonical = "\x1f".join(f"{k}\x1e{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """A firing (or resolved) alert.

    `labels` always hold `alertname`, `severity` and, for SLO alerts, `slo` plus the group's
    labels (e.g. `region`, `model_version`); the router matches routes on them.
    """

    name: str
    severity: Severity
    labels: dict[str, str]
    summary: str
    runbook_url: str
    starts_at: datetime
    ends_at: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def resolved(self) -> bool:
        return self.ends_at is not None

    def resolve(self, at: datetime) -> "Alert":
        return replace(self, ends_at=at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "severity": self.severity,
            "labels": dict(self.labels),
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "summary": self.summary,
            "runbook_url": self.runbook_url,
            "annotations": dict(self.annotations),
            "evidence": self.evidence,
        }


def ticket(name: str, group: dict[str, str], summary: str, runbook_url: str, at: datetime,
           evidence: dict[str, Any]) -> Alert:
    """A ticket of a watch (cost, cache) about one group: labelled by its name, `severity=ticket`
    and the group's dimensions, the way the router groups and routes them."""
    return Alert(name=name, severity="ticket", labels={"alertname": name, "severity": "ticket", **group},
                 summary=summary, runbook_url=runbook_url, starts_at=at, evidence=evidence)


def where(group: dict[str, str]) -> str:
    """A group as a summary names it: `region=eu, channel=web`, or `fleet`."""
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "fleet"

