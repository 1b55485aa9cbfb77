"""Keep a serving process's start-up heap out of the garbage collector's full passes.

After start-up an API process tracks ~250,000 objects (routes, pydantic and SQLAlchemy
machinery, imported modules). Every full (generation 2) collection walked all of them: ~185 ms
on the project's 2-core VM, and no request is answered meanwhile, so each one landed in the
p99 (docs/benchmarks.md, section 6c). They live as long as the process, so freezing them once
start-up is done (``gc.freeze``) loses nothing; objects created while serving are collected
as before.

Frozen objects no longer count towards CPython's "a full pass once the survivors grew by a
quarter" rule, so full passes would come almost every tenth generation-1 pass; considering
one only every hundredth keeps them as rare as before the freeze, now ~25 ms each.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from syncline.context import AppContext

#: Generation-1 passes between considerations of a full pass (CPython's default: 10).
FULL_PASS_EVERY = 100


@contextlib.contextmanager
def frozen_startup_heap(ctx: AppContext) -> Iterator[None]:
    """A lifespan hook (enter it last): collect start-up garbage, freeze the rest."""
    del ctx  # the hook signature; the heap is the process's
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(before[0], before[1], FULL_PASS_EVERY)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
