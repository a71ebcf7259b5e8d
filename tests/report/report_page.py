"""Read the report's HTML back with the standard library's parser: the figures it prints (their
`data-figure`/`data-value` cells) and its charts, for the tests to compare with the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Figure:
    name: str
    value: str  # Python's repr of the API's number
    text: str   # what a reader sees
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> float | None:
        return None if self.value == "None" else float(self.value)


class ReportPage(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: list[Figure] = []
        self.bars: dict[str, list[tuple[str, str]]] = {}  # chart -> [(label, value)]
        self.ids: set[str] = set()
        self.attrs_of: dict[str, dict[str, str]] = {}
        self.external: list[str] = []  # src/href that would fetch something
        self._open: list[Figure] = []
        self._chart: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "p" and "data-at" in a:
            self.attrs_of["sub"] = a
        for key in ("src", "href"):
            if key in a:
                self.external.append(a[key])
        if tag == "link" or tag == "script":
            self.external.append(tag)
        if tag == "svg" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.bars[self._chart] = []
        if tag == "rect" and a.get("class") == "bar" and self._chart:
            self.bars[self._chart].append((a["data-label"], a["data-value"]))
        if "data-figure" in a:
            keys = {k[5:]: v for k, v in a.items() if k.startswith("data-") and k not in ("data-figure", "data-value")}
            self._open.append(Figure(a["data-figure"], a["data-value"], "", keys))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        if tag in ("td", "div") and self._open:
            self.figures.append(self._open.pop())

    def handle_data(self, data):
        if self._open:
            self._open[-1].text += data

    def figure(self, name: str, **keys: str) -> Figure:
        found = [f for f in self.figures if f.name == name and all(f.keys.get(k) == v for k, v in keys.items())]
        assert len(found) == 1, (name, keys, found)
        return found[0]
