"""What one process has decided about one database: a value per engine, for the engine's life.

The cardinality budget, the dimension slots, the store policy, the partitions made, the ingest
turn: each is set or first made for an engine and read on every batch after. Keyed weakly, so an
engine disposed and dropped (tests make hundreds) takes its values with it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

T = TypeVar("T")


class PerEngine(Generic[T]):
    """`get` returns the engine's value, made by `make` the first time; `set` replaces it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._values: weakref.WeakKeyDictionary[Engine, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, engine: Engine) -> T:
        with self._lock:
            try:
                return self._values[engine]
            except KeyError:
                value = self._values[engine] = self._make()
                return value

    def set(self, engine: Engine, value: T) -> T:
        with self._lock:
            self._values[engine] = value
        return value
