"""Checking that CPU-heavy work runs off the event loop.

A worker's event loop serves every request of that worker: work of a second or more on it
(counting, rendering a PDF, parsing a large export) stalls them all, health checks included. The
tests wrap such a function with :func:`recording` and assert that no call ran on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def on_event_loop() -> bool:
    """True when called on a running event loop (not from a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def recording(real: Callable[P, R], calls: list[bool]) -> Callable[P, R]:
    """``real``, appending to ``calls`` for every call whether it ran on the event loop."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        calls.append(on_event_loop())
        return real(*args, **kwargs)

    return wrapper
