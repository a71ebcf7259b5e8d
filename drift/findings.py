"""A drift finding with the evidence a model owner needs, and its alert form for the router."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from collector.measures import finite_or_null
from slo import Alert, fingerprint

Severity = Literal["info", "ticket", "page"]
SEVERITY_RANK = {"info": 0, "ticket": 1, "page": 2}
ALERTNAMES = {
    "distribution": "DriftDetected",
    "wer": "WERRegression",
    "vocabulary": "VocabularyDrift",
    "label_free": "LabelFreeWERWarning",
}


@dataclass
class Finding:
    kind: str  # distribution | wer | vocabulary | label_free
    feature: str
    slice: dict[str, str]
    test: str
    statistic: float
    p_value: float | None
    p_adjusted: float | None
    severity: Severity
    effect: float | None  # the size of the shift the severity was judged on
    effect_floor: float | None
    reference_value: Any
    current_value: Any
    n_reference: int
    n_current: int
    summary: str
    psi: float | None = None
    example_session_ids: list[str] = field(default_factory=list)
    histogram: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    explained_by: str | None = None  # a coarser slice whose finding already covers this one

    @property
    def slice_key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.slice.items()) or "all"

    @property
    def alertname(self) -> str:
        return ALERTNAMES[self.kind]

    @property
    def runbook_url(self) -> str:
        if self.kind == "vocabulary":
            return "/runbooks/vocabulary-drift"
        return f"/runbooks/drift-{self.feature.replace('_', '-')}"

    def labels(self, team: str | None = None) -> dict[str, str]:
        """Alert labels: identity across evaluations (no values that change every scan)."""
        labels = {"alertname": self.alertname, "severity": self.severity, "feature": self.feature}
        labels.update(self.slice)
        if team:
            labels["team"] = team
        return labels

    def fingerprint(self, team: str | None = None) -> str:
        labels = self.labels(team)
        labels.pop("severity")  # an info finding that grows into a ticket is the same problem
        return fingerprint(labels)

    def to_dict(self) -> dict[str, Any]:
        return finite_or_null(
            {
                "fingerprint": self.fingerprint(),
                "kind": self.kind,
                "feature": self.feature,
                "slice": self.slice_key,
                "slice_labels": dict(self.slice),
                "test": self.test,
                "statistic": self.statistic,
                "p_value": self.p_value,
                "p_adjusted": self.p_adjusted,
                "severity": self.severity,
                "effect": self.effect,
                "effect_floor": self.effect_floor,
                "psi": self.psi,
                "reference_value": self.reference_value,
                "current_value": self.current_value,
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "summary": self.summary,
                "example_session_ids": list(self.example_session_ids),
                "histogram": self.histogram,
                "details": self.details,
                "explained_by": self.explained_by,
                "runbook_url": self.runbook_url,
            }
        )

    def to_alert(self, at: datetime, team: str | None = None) -> Alert:
        if at.tzinfo is None:
            raise ValueError("at: must be timezone-aware")
        evidence = self.to_dict()
        evidence.pop("histogram", None)  # charts stay in the API; alerts carry the numbers
        return Alert(
            name=self.alertname,
            severity=self.severity,
            labels=self.labels(team),
            summary=self.summary,
            runbook_url=self.runbook_url,
            starts_at=at,
            annotations={"description": self.summary, "slice": self.slice_key, "test": self.test},
            evidence=evidence,
        )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then the largest effect."""
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -(f.effect or 0.0), f.slice_key, f.feature))
