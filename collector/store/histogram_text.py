"""Adding a batch's histogram to a stored one in their JSON text, as SQLite stores rollups.

SQLite's rollup upsert (`collector.store.rollups`) calls this, as the SQL function `asrwatch_hist_add`,
for each histogram a batch adds to a stored row: the row is added to inside SQLite, in the same
statement that inserts it when it is new, instead of being read back into Python, added to and
written back with a second statement. The sum is the text the row-by-row write gave: stored codes
first, in their order, then new ones in the batch's order, in orjson's compact form.
(Adding in the text itself, without parsing, measured only 0.3 us faster a call: not worth it.)

PostgreSQL rollup rows have always held the text SQLAlchemy's JSON type writes (`json.dumps`:
`{"3": 1, "9": 2}`); `spaced` turns the fold's compact text into that form, so a new row written
by the batch upsert (`collector.store.pg_batch`) holds the same text as before.
"""

from __future__ import annotations

import orjson


def add_histogram_text(stored: str, added: str) -> str:
    """`stored` plus `added`, both `{"code":count,...}` JSON text; counts are integers."""
    if added == "{}":
        return stored
    total, more = orjson.loads(stored) or {}, orjson.loads(added)
    if _maybe_not_integers(stored) or _maybe_not_integers(added):
        # Another writer's floats (`2.0`): counted as integers. Our own text never has any, and
        # skipping this pass halves the call (SQLite makes one per histogram of every row a
        # batch adds to).
        total = {str(code): int(count) for code, count in total.items()}
        more = {str(code): int(count) for code, count in more.items()}
    for code, count in more.items():
        total[code] = total.get(code, 0) + count
    return orjson.dumps(total).decode()


def _maybe_not_integers(text: str) -> bool:
    # Keys are integer codes or `errors:words` pairs: a point or an exponent is in a float count.
    return "." in text or "e" in text or "E" in text


def spaced(compact: str) -> str:
    """`json.dumps` of a histogram, from its compact `{"code":count,...}` text. Exact because a
    key never holds a quote (codes are integers, WER pairs `errors:words`) and counts are
    integers: `":` ends a key only, `,"` starts one only."""
    return compact.replace('":', '": ').replace(',"', ', "')
