"""Histogram maths done by the database: a rollup's JSON `{bucket: count}` map expanded into
rows (SQLite `json_each`, PostgreSQL `json_each_text`) so that the SLO series adds counts up in
SQL and gets one row per minute and group (and bucket), not one per slice."""

from __future__ import annotations

from sqlalchemy import Integer, cast, func, true
from sqlalchemy.schema import Column
from sqlalchemy.sql import ColumnElement, Select, TableValuedAlias


def entries(dialect: str, column: Column | ColumnElement, name: str | None = None) -> TableValuedAlias:
    """The map's entries as a table with `key` (text) and `value` columns. `column` may be an
    expression (which of two maps a row uses): `name` then names it."""
    each = func.json_each_text if dialect == "postgresql" else func.json_each
    return each(column).table_valued("key", "value").alias(f"{name or column.name}_entries")


def joined(query: Select, table, expanded: TableValuedAlias) -> Select:
    # Both engines let a table function in FROM read the columns of the row beside it.
    return query.select_from(table).join(expanded, true())


def bucket(expanded: TableValuedAlias) -> ColumnElement:
    return cast(expanded.c.key, Integer)


def count(expanded: TableValuedAlias) -> ColumnElement:
    return cast(expanded.c.value, Integer)
