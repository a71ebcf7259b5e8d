"""`add_histogram_text` (SQLite's `asrwatch_hist_add`) must give exactly the text the row-by-row
rollup write gave: stored codes first, in order, then new ones in the batch's order, compact."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from collector.store.histogram_text import add_histogram_text, spaced


def _parsed_and_added(stored: str, added: str) -> str:
    total = {str(k): int(v) for k, v in (orjson.loads(stored) or {}).items()}
    for key, count in orjson.loads(added).items():
        total[str(key)] = total.get(str(key), 0) + int(count)
    return orjson.dumps(total).decode()


def _histogram(rng: random.Random, keys: list[str]) -> dict[str, int]:
    return {key: rng.randrange(1, 100_000) for key in rng.sample(keys, rng.randrange(0, min(len(keys), 12)))}


@pytest.mark.parametrize("seed", range(40))
def test_text_sum_equals_parsed_sum(seed):
    rng = random.Random(seed)
    keys = [str(rng.randrange(-100, 14_000)) for _ in range(30)] + [f"{e}:{w}" for e in range(4) for w in (9, 10)]
    stored, added = orjson.dumps(_histogram(rng, keys)).decode(), orjson.dumps(_histogram(rng, keys)).decode()
    assert add_histogram_text(stored, added) == _parsed_and_added(stored, added)


@pytest.mark.parametrize("stored, added, expected", [
    ("{}", '{"5123":1}', '{"5123":1}'),
    ('{"5123":1}', '{"5123":2}', '{"5123":3}'),
    ('{"15123":4}', '{"5123":1}', '{"15123":4,"5123":1}'),        # a code that ends another is not it
    ('{"1:10":2,"0:10":1}', '{"0:10":5,"2:9":1}', '{"1:10":2,"0:10":6,"2:9":1}'),  # WER pairs
    ('{"-3":1}', "{}", '{"-3":1}'),
])
def test_known_sums(stored, added, expected):
    assert add_histogram_text(stored, added) == expected


@pytest.mark.parametrize("stored", [json.dumps({"7": 2, "9": 1}), '{"7":2.0}', '{\n"7":2}', "null"])
def test_other_writers_text_is_parsed(stored):
    """Text other writers leave: json.dumps' spaces (SQLAlchemy's JSON type), float counts, null."""
    assert add_histogram_text(stored, '{"7":1,"8":1}') == _parsed_and_added(stored, '{"7":1,"8":1}')


@pytest.mark.parametrize("seed", range(20))
def test_spaced_is_json_dumps(seed):
    """PostgreSQL's new rollup rows hold json.dumps' text, made from the fold's compact text."""
    rng = random.Random(seed)
    keys = [str(rng.randrange(-100, 14_000)) for _ in range(30)] + [f"{e}:{w}" for e in range(12) for w in (9, 10)]
    histogram = _histogram(rng, keys)
    assert spaced(orjson.dumps(histogram).decode()) == json.dumps(histogram)
