"""Alertmanager-style label matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.

A label that is absent counts as the empty string, as in Alertmanager, so `team!="x"`
matches an alert without a team and `team=""` matches only such alerts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # = != =~ !~
    value: str

    def __post_init__(self) -> None:
        if self.op not in ("=", "!=", "=~", "!~"):
            raise ValueError(f"matcher {self.name}: unknown operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self.name}: bad regex {self.value!r}: {exc}") from exc

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        # Anchored like Alertmanager's regex matchers.
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'

    def to_dict(self) -> dict[str, object]:
        # Alertmanager v2 API shape, used by the silences API too.
        return {"name": self.name, "value": self.value, "isRegex": self.op in ("=~", "!~"),
                "isEqual": self.op in ("=", "=~")}


def parse(text: str) -> Matcher:
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f"matcher {text!r}: expected name=\"value\", name!=\"value\", name=~\"re\" or name!~\"re\"")
    return Matcher(found.group(1), found.group(2), found.group(3))


def from_dict(data: Mapping[str, object]) -> Matcher:
    """The Alertmanager v2 API form `{"name", "value", "isRegex", "isEqual"}`."""
    if "name" not in data or "value" not in data:
        raise ValueError("matcher: needs 'name' and 'value'")
    regex, equal = bool(data.get("isRegex", False)), bool(data.get("isEqual", True))
    op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(regex, equal)]
    return Matcher(str(data["name"]), op, str(data["value"]))


def coerce(items: Iterable[str | Mapping[str, object]] | Mapping[str, str] | None) -> list[Matcher]:
    """Matchers from strings, API dicts, or an equality map (`match: {severity: page}`)."""
    if items is None:
        return []
    if isinstance(items, Mapping):
        return [Matcher(str(k), "=", str(v)) for k, v in items.items()]
    return [parse(i) if isinstance(i, str) else from_dict(i) for i in items]


def all_match(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
