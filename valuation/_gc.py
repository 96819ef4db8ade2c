"""Pausing Python's cyclic garbage collector while a batch builds its objects.

Valuing a batch allocates millions of small objects (validated products, their inputs, the
result documents) that all stay alive until the batch is done. The cyclic collector is
triggered by allocations, not by garbage: it would traverse those live objects again and
again, about a tenth of a batch's time, and find nothing to free. Reference counting still
frees everything that is not in a cycle, so pausing the collector for the length of a batch
costs no memory beyond the few cycles a batch leaves (a few dozen objects for thousands of
products), and the collector resumes as before once the batch ends.

The pause nests and is shared by threads: the first batch to enter pauses the collector if it
was running, the last to leave resumes it, so a worker valuing several chunks in threads
never resumes it under a batch still running.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block (reference counting goes on).

    Nested and concurrent blocks share one pause: the collector resumes when the last block
    ends, and only if it was running when the first began.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


__all__ = ["collector_paused"]
