"""How much memory a piece of code leaves allocated: for the tests that bound what is kept."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def left_allocated(make: Callable[[], T]) -> tuple[T, int]:
    """What `make` returns, and the bytes it left allocated (tracemalloc: Python's allocators only)."""
    tracemalloc.start()
    try:
        made = make()
        return made, tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
