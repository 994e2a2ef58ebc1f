"""The worker commands freeze their start-up heap: full collections stop walking it."""

from __future__ import annotations

import gc
import weakref

from servicekit.web.commands import freeze_startup_heap


class _Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it


def test_start_up_garbage_is_collected_and_the_rest_is_frozen():
    # what earlier tests left for the collector is not this test's to count (how much of it is
    # still uncollected depends on what ran before: an oldest-generation pass is rare)
    gc.collect()
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = [_Node() for _ in range(100)]
    tracked = len(gc.get_objects())
    try:
        freeze_startup_heap()
        assert gone() is None, "start-up garbage was frozen instead of collected"
        assert gc.get_freeze_count() >= tracked - 1000  # what lives now is out of the generations
        frozen = {id(o) for o in kept}
        assert not frozen & {id(o) for o in gc.get_objects()}, "the kept objects are still walked"
        fresh = _Node()
        assert any(o is fresh for o in gc.get_objects())  # later objects are collected as usual
    finally:
        gc.unfreeze()
