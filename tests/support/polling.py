"""Waiting inside a test's event loop: poll a condition, with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(check: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    """Return once `check()` holds; fail naming `what` if it does not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.02)
