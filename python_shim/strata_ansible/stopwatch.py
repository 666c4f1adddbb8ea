"""Where strata's own time goes in a build: `make bench` reads it, and anyone
can (STRATA_PROFILE=1 prints it after the recap).

Parts nest: time spent in an inner part is counted there and not again in
the part around it, so the parts add up to strata's own time.
"""

import time
from collections import defaultdict
from contextlib import contextmanager

# The parts, in the order they are reported: connecting to (or starting) the
# engine; templating a task into its inputs; reading an action's code (once
# per action and build); waiting on the engine's replies (fingerprint,
# lookup, commit); queueing a cached result; the bookkeeping after each task.
PARTS = ('connect', 'describe', 'code', 'engine', 'replay', 'after')


class Stopwatch:
    def __init__(self):
        self.seconds = defaultdict(float)
        self._inner = [0.0]

    @contextmanager
    def timing(self, part):
        started = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[part] += elapsed - self._inner.pop()
            self._inner[-1] += elapsed

    def account(self, cached, built):
        """One line: strata's own time, per task, and each part."""
        total = sum(self.seconds.values())
        per_task = ' (%.2f ms per task)' % (total * 1000 / (cached + built)) if cached + built else ''
        parts = ', '.join('%s %.3fs' % (name, self.seconds[name]) for name in PARTS if self.seconds.get(name))
        return 'strata: own time %.3fs for %d cached and %d built tasks%s: %s' % (total, cached, built, per_task, parts)


stopwatch = Stopwatch()
