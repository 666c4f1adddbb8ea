"""A final queue that a replay's results cross in this thread.

A worker's results reach the strategy through the final queue: a pipe, a
pickle, and the strategy's results thread, which hands them over while the
strategy's wait loop polls, sleeping between polls. A cached task went the
same way and paid a poll interval for nothing. This queue keeps what is put
on it in memory, with every generation's own FinalQueue methods building the
messages, and then runs Ansible's own results-thread function over them, so
each result and callback is handled exactly as the results thread would, but
before the strategy first looks for it.
"""

import collections

from ansible.executor.task_queue_manager import FinalQueue
from ansible.plugins.strategy import StrategySentinel, results_thread_main


class _InMemory(FinalQueue.__bases__[0]):
    """The multiprocessing queue FinalQueue builds on, as a list in this
    process (FinalQueue's own put and get, where it has them, call these)."""

    def __init__(self):  # pylint: disable=super-init-not-called - no pipe, no feeder thread
        self._items = collections.deque()

    def put(self, obj, *args, **kwargs):
        self._items.append(obj)

    def get(self, *args, **kwargs):
        return self._items.popleft()


class LocalQueue(FinalQueue, _InMemory):
    def __init__(self):  # pylint: disable=super-init-not-called
        _InMemory.__init__(self)

    def deliver(self, strategy):
        """Hands everything put here to `strategy`, as its results thread would."""
        self.put(StrategySentinel())
        results_thread_main(_Receiving(strategy, self))


class _Receiving:
    """The strategy as results_thread_main sees it, reading this queue."""

    def __init__(self, strategy, final_q):
        self._strategy = strategy
        self._final_q = final_q

    def __getattr__(self, name):
        return getattr(self._strategy, name)
