"""Counting what a piece of work leaves for the garbage collector, deterministically.

A worker's event loop waits whenever the collector runs, in whichever thread: a collection holds
the GIL while it walks every object it tracks that has survived a pass (dictionaries, lists, ORM
rows and ``Row`` objects; not strings, numbers or tuples of them, which it untracks). Work that
keeps 100,000 such objects alive at once (the ballots of a large round, parsed) makes the
collector walk them again and again: 0.1-0.3 s at a time with the loop stalled, measured by
``benchmarks/results.py``. Timing that in a test would be flaky; counting is not. With the objects
that existed before frozen out of sight (``gc.freeze``) and the default thresholds, every pass
during the work records how many tracked objects have survived at least one pass (generations 1
and 2): :func:`survivors` gives the largest such count.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Survivors:
    def __init__(self) -> None:
        self.samples: list[int] = []

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def _sample(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "stop":
            self.samples.append(len(gc.get_objects(1)) + len(gc.get_objects(2)))


@contextmanager
def survivors() -> Iterator[Survivors]:
    """The tracked objects that survive collector passes during the enclosed work (module
    docstring); ``.samples`` is empty when no pass ran."""
    record = Survivors()
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 10)  # CPython's defaults: a pass every 700 net allocations
    gc.callbacks.append(record._sample)
    try:
        yield record
    finally:
        gc.callbacks.remove(record._sample)
        gc.set_threshold(*threshold)
        gc.unfreeze()
