"""Router configuration (`receivers`, `routes`, `owners`, `inhibit_rules`, group timings),
declared in `asrwatch.settings.Settings` and validated here so errors name the key.

```yaml
receivers:
  - {name: oncall, kind: pagerduty, url: https://events.pagerduty.com/v2/enqueue, routing_key: "..."}
  - {name: speech-core, kind: ticket, url: https://tickets.example/hook}
  - {name: am, kind: alertmanager, url: http://alertmanager:9093}
routes:                       # the root route, like Alertmanager's `route:`
  receiver: oncall
  group_by: [alertname, slo]
  routes:
    - {matchers: ['severity="page"'], receiver: oncall}
    - {matchers: ['severity=~"ticket|info"'], receiver: owner}    # `owner` = the owning team
owners: {whisper-large: {team: speech-core, receiver: speech-core}}
group_wait: 30s
group_interval: 5m
repeat_interval: 4h
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from asrwatch.settings import Settings, validation_problems
from slo.router import matchers as m

OWNER_RECEIVER = "owner"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: str | int | float) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    found = _DURATION.match(value.strip())
    if not found:
        raise ValueError(f"bad duration {value!r}: use e.g. 30s, 5m, 4h")
    return float(found.group(1)) * _UNIT[found.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Receiver(_Strict):
    name: str
    kind: Literal["webhook", "alertmanager", "pagerduty", "slack", "ticket"]
    url: str | None = None
    routing_key: str | None = None  # pagerduty; never logged
    send_resolved: bool = True
    timeout_s: float = 10.0
    max_attempts: int = Field(default=4, ge=1)
    backoff_s: float = Field(default=0.5, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs(self) -> "Receiver":
        if self.kind in ("webhook", "alertmanager", "pagerduty", "slack") and not self.url:
            raise ValueError(f"receiver {self.name}: kind {self.kind} needs a url")
        if self.kind == "pagerduty" and not self.routing_key:
            raise ValueError(f"receiver {self.name}: kind pagerduty needs a routing_key")
        return self


class Route(_Strict):
    receiver: str | None = None  # inherited from the parent when absent
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)  # equality shorthand
    match_re: dict[str, str] = Field(default_factory=dict)
    group_by: list[str] | None = None
    group_wait: str | float | None = None
    group_interval: str | float | None = None
    repeat_interval: str | float | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: list["Route"] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def all_matchers(self) -> list[m.Matcher]:
        out = m.coerce(self.matchers) + m.coerce(self.match)
        out += [m.Matcher(k, "=~", v) for k, v in self.match_re.items()]
        return out


class Owner(_Strict):
    team: str
    receiver: str | None = None


class InhibitRule(_Strict):
    source_matchers: list[str]
    target_matchers: list[str]
    equal: list[str] = Field(default_factory=list)


# A page inhibits tickets for the same SLO and group; a fleet-wide ingest outage inhibits
# every per-slice alert (their SLIs are meaningless while data does not arrive).
GROUP_LABELS = ["slo", "region", "model_version", "channel", "tenant", "language", "pool"]
DEFAULT_INHIBIT_RULES = [
    InhibitRule(source_matchers=['severity="page"'], target_matchers=['severity="ticket"'], equal=GROUP_LABELS),
    InhibitRule(source_matchers=['alertname="IngestOutage"', 'scope="fleet"'],
                target_matchers=['scope!="fleet"']),
]


class RouterConfig(_Strict):
    receivers: list[Receiver] = Field(default_factory=list)
    routes: Route = Field(default_factory=lambda: Route(receiver=None))
    owners: dict[str, Owner] = Field(default_factory=dict)
    inhibit_rules: list[InhibitRule] = Field(default_factory=lambda: list(DEFAULT_INHIBIT_RULES))
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "slo"])
    group_wait: str | float = "30s"
    group_interval: str | float = "5m"
    repeat_interval: str | float = "4h"
    # Where "the router cannot deliver" goes, besides the normal route tree.
    fallback_receiver: str | None = None

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def _durations(cls, value: str | float) -> str | float:
        seconds(value)
        return value

    @model_validator(mode="after")
    def _references(self) -> "RouterConfig":
        names = [r.name for r in self.receivers]
        if len(set(names)) != len(names):
            raise ValueError("receivers: names must be unique")
        known = set(names) | {OWNER_RECEIVER}

        def walk(route: Route, path: str) -> None:
            if route.receiver is not None and route.receiver not in known:
                raise ValueError(f"{path}.receiver: unknown receiver {route.receiver!r}")
            for t in (route.group_wait, route.group_interval, route.repeat_interval):
                if t is not None:
                    seconds(t)
            route.all_matchers()
            for i, child in enumerate(route.routes):
                walk(child, f"{path}.routes[{i}]")

        walk(self.routes, "routes")
        for key, owner in self.owners.items():
            if owner.receiver is not None and owner.receiver not in names:
                raise ValueError(f"owners.{key}.receiver: unknown receiver {owner.receiver!r}")
        if self.fallback_receiver is not None and self.fallback_receiver not in names:
            raise ValueError(f"fallback_receiver: unknown receiver {self.fallback_receiver!r}")
        for i, rule in enumerate(self.inhibit_rules):
            try:
                m.coerce(rule.source_matchers), m.coerce(rule.target_matchers)
            except ValueError as exc:
                raise ValueError(f"inhibit_rules[{i}]: {exc}") from exc
        return self

    def receiver(self, name: str) -> Receiver:
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)


# With nothing configured, alerts still land somewhere visible (`GET /api/v1/tickets`):
# pages to an on-call queue, tickets and drift to the owning model team's queue.
DEFAULT_ROUTING: dict[str, Any] = {
    "receivers": [{"name": "oncall", "kind": "ticket"}, {"name": "model-owners", "kind": "ticket"}],
    "routes": {"receiver": "oncall", "routes": [
        {"matchers": ['severity="page"'], "receiver": "oncall"},
        {"matchers": ['severity=~"ticket|info"'], "receiver": OWNER_RECEIVER},
    ]},
    "fallback_receiver": "model-owners",
}

ROUTER_KEYS = ("receivers", "routes", "owners", "inhibit_rules", "group_by", "group_wait",
               "group_interval", "repeat_interval", "fallback_receiver")


def load_router_config(settings: Settings | Mapping[str, Any]) -> RouterConfig:
    """Validate the router keys of the settings (or of a plain dict)."""
    if isinstance(settings, Mapping):
        data = {k: settings[k] for k in ROUTER_KEYS if settings.get(k) is not None}
    else:  # declared Settings fields; None: not configured
        data = {k: getattr(settings, k) for k in ROUTER_KEYS if getattr(settings, k) is not None}
    if "receivers" not in data and "routes" not in data:
        data.update(DEFAULT_ROUTING)
    dimensions = [] if isinstance(settings, Mapping) else list(settings.dimensions)
    if "inhibit_rules" not in data and dimensions:
        # A page inhibits tickets of its own group only: the configured dimensions are part of it.
        data["inhibit_rules"] = [DEFAULT_INHIBIT_RULES[0].model_copy(update={"equal": GROUP_LABELS + dimensions}),
                                 *DEFAULT_INHIBIT_RULES[1:]]
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:  # an unknown key is named with the closest valid one
        problems = validation_problems(exc, RouterConfig, root="router config")
        raise ValueError("invalid router config: " + "; ".join(problems)) from None


# Receivers whose readers are outside asrwatch and follow its links from there.
EXTERNAL_KINDS = ("alertmanager", "pagerduty", "slack", "webhook")


def relative_link_receivers(config: RouterConfig, external_url: str | None) -> list[str]:
    """Receivers that would get relative links: an external kind (or a ticket that posts out)
    while no `external_url` is set. An absolute `runbook_base_url` is not enough: drift findings
    and the router's own alert link `/runbooks/...`, and an SLO may set a relative `runbook_url`;
    only `external_url` makes all of them absolute."""
    if external_url:
        return []
    return [r.name for r in config.receivers if r.kind in EXTERNAL_KINDS or (r.kind == "ticket" and r.url)]
