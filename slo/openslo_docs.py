"""Read OpenSLO files: multi-document and list-form YAML, directories, named objects, durations.

Every object keeps where it came from (file and document number), so an import error can name
the file, the document, the field and the reason. Objects are looked up by kind and
`metadata.name` across everything read together (a file, a directory, or the paths given), which
is how `indicatorRef` and `metricSourceRef` resolve.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from slo.spec import SLOSpecError, format_duration

# kind -> apiVersions we read it in. v1alpha is the shape Sloth's OpenSLO examples use
# (slok/sloth examples/openslo-*.yml; OpenSLO/oslo pkg/manifest/v1alpha/objects.go: SLO, Service).
KINDS = {
    "SLO": ("openslo/v1", "openslo/v1alpha"),
    "SLI": ("openslo/v1",),
    "DataSource": ("openslo/v1",),
    "Service": ("openslo/v1", "openslo/v1alpha"),
    "AlertPolicy": ("openslo/v1",),
    "AlertCondition": ("openslo/v1",),
    "AlertNotificationTarget": ("openslo/v1",),
}
YAML_SUFFIXES = (".yaml", ".yml")


class OpenSLOError(SLOSpecError):
    """An OpenSLO object that cannot be imported; the message names file, document, field, reason."""


@dataclass(frozen=True)
class Doc:
    """One OpenSLO object and where it was read."""

    file: str
    position: str  # "document 2", or "document 1 item 3" in list form
    body: dict[str, Any] = field(hash=False, compare=False)

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))

    @property
    def name(self) -> str | None:
        meta = self.body.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return str(name) if name not in (None, "") else None

    @property
    def where(self) -> str:
        return f"{self.file}: {self.position}"

    def check_keys(self, mapping: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
        """A key the spec does not define is an error (a typo would otherwise be ignored)."""
        for key in mapping:
            if key not in keys:
                raise self.error(f"{where}.{key}", f"unknown field (OpenSLO has {', '.join(keys)})")

    def error(self, field_path: str, reason: str) -> OpenSLOError:
        label = f" ({self.kind} {self.name!r})" if self.name else f" ({self.kind})"
        return OpenSLOError(f"{self.where}{label}: {field_path}: {reason}")


def read_documents(text: str, file: str) -> list[Doc]:
    """Objects of one file: `---`-separated documents, each a mapping or a list of mappings (the
    list form oslo reads, e.g. OpenSLO/oslo test/inputs/validate/v1.yaml)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise OpenSLOError(f"{file}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    docs: list[Doc] = []
    for n, document in enumerate(documents, start=1):
        if document is None:  # a stray `---` at the start or end
            continue
        items = document if isinstance(document, list) else [document]
        for i, item in enumerate(items, start=1):
            position = f"document {n}" + (f" item {i}" if isinstance(document, list) else "")
            if not isinstance(item, dict):
                raise OpenSLOError(f"{file}: {position}: must be a mapping with apiVersion and kind, "
                                   f"got {type(item).__name__}")
            doc = Doc(file, position, item)
            _check_header(doc)
            docs.append(doc)
    return docs


def _check_header(doc: Doc) -> None:
    version, kind = doc.body.get("apiVersion"), doc.body.get("kind")
    if kind not in KINDS:
        raise OpenSLOError(f"{doc.where}: kind: unknown OpenSLO kind {kind!r} (use one of {', '.join(KINDS)})")
    if version not in KINDS[kind]:
        raise doc.error("apiVersion", f"{kind} is read in {' or '.join(KINDS[kind])}, got {version!r}")


def files_under(paths: list[str | Path]) -> list[Path]:
    """The files to read: each path itself, or a directory's *.yaml/*.yml files (recursively, in
    name order, as `oslo validate -f DIR` does)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
        elif path.is_file():
            out.append(path)
        else:
            raise OpenSLOError(f"{path}: no such file or directory")
    return list(dict.fromkeys(out))


class Catalog:
    """The objects read together, by kind and name, so references resolve across files."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs
        self._by_name: dict[tuple[str, str], Doc] = {}
        for doc in docs:
            if doc.name is None:
                continue
            seen = self._by_name.setdefault((doc.kind, doc.name), doc)
            if seen is not doc:
                raise doc.error("metadata.name", f"another {doc.kind} has this name ({seen.where})")

    def find(self, kind: str, name: Any) -> Doc | None:
        return self._by_name.get((kind, str(name)))

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d.kind == kind]


# OpenSLO's duration-shorthand: a positive integer and ONE case-sensitive unit
# (OpenSLO/OpenSLO README.md, "duration-shorthand"): m h d w are exact; M Q Y are calendar
# lengths that a rolling window has to fix: 30, 90 and 365 days, said in a note on import.
_SHORTHAND = re.compile(r"([0-9]+)([mhdwMQY])")
_EXACT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_CALENDAR_DAYS = {"M": 30, "Q": 90, "Y": 365}


def parse_shorthand(value: Any) -> tuple[timedelta, str | None]:
    """`28d` -> 28 days; `1M` -> 30 days with a note (never one minute: `m` is minutes, `M` months)."""
    match = _SHORTHAND.fullmatch(value) if isinstance(value, str) else None
    if not match or int(match[1]) <= 0:
        raise ValueError(f"{value!r} is not a duration-shorthand: a positive integer and one of the "
                         "case-sensitive units m h d w M Q Y, e.g. 28d, 4w, 1M")
    count, unit = int(match[1]), match[2]
    if unit in _EXACT:
        return count * _EXACT[unit], None
    days = count * _CALENDAR_DAYS[unit]
    return timedelta(days=days), f"a rolling {value} is read as {days}d (a fixed length; calendar months vary)"


Length = Callable[["Doc", dict[str, Any], str], tuple[timedelta, str | None]]


def rolling_window(doc: Doc, windows: Any, where: str, keys: tuple[str, ...], length: Length,
                   notes: list[str]) -> str:
    """The SLO's one rolling window (`spec.timeWindow` in v1, `spec.timeWindows` in v1alpha) as
    an asrwatch duration, default 30d. `length(doc, window, where)` reads the version's own
    length field(s) into (length, note). A calendar window (`calendar`, or `isRolling: false`, which
    means calendar-aligned in both versions) is refused: asrwatch budgets over a rolling window."""
    if windows is None:
        return "30d"
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], dict):
        raise doc.error(where, "a list of exactly one window")
    window, where = windows[0], f"{where}[0]"
    doc.check_keys(window, where, keys)
    if "calendar" in window or window.get("isRolling") is False:
        raise doc.error(where, "calendar-aligned windows are not supported: asrwatch budgets over a "
                               "rolling window (isRolling: true, no calendar)")
    if window.get("isRolling", True) is not True:
        raise doc.error(f"{where}.isRolling", f"must be true or false, got {window['isRolling']!r}")
    span, note = length(doc, window, where)
    if note:
        notes.append(note)
    return format_duration(span)
