"""StrataMixin: the layer cache, mixed over a stock strategy.

It overrides only where tasks enter and results leave, and calls super() for
everything else, the way mitogen's strategy mixin rides on Ansible's own.
"""

import re

from . import target
from .build import Build, Hit, Miss
from .compat import api
from .replay import queue_replay
from .stopwatch import stopwatch

MISSING_PYTHON_HINT = (
    'strata: the image has no Python at {interpreter} (a task removed it, or strata_python: image asked for the '
    "image's own). Set strata_python: mounted (or leave it unset) for this host, and strata runs Ansible's modules "
    'with a Python it mounts while building and never ships; or set ansible_python_interpreter to a Python the image has.'
)


class StrataMixin:

    def __init__(self, tqm):
        super().__init__(tqm)
        self._strata = Build.for_tqm(tqm)

    def run(self, iterator, play_context):
        self._strata.play_started(iterator, self._inventory, self._variable_manager, self._loader)
        return super().run(iterator, play_context)

    def _queue_task(self, host, task, task_vars, play_context):
        plan = self._strata.plan(host, task, task_vars, play_context, self._loader)
        if isinstance(plan, Hit):
            with stopwatch.timing('replay'):
                replayed = queue_replay(self, host, task, task_vars, play_context, plan.result, plan.described.task_fields)
            # Ansible's own handling of the result (callbacks, output), as for any task's.
            replayed.deliver(self)
            return None
        if isinstance(plan, Miss):
            # The worker super() forks finds where the task runs in `target`.
            with target.queued(plan.where):
                return super()._queue_task(host, plan.task, plan.task_vars, play_context)
        return super()._queue_task(host, task, task_vars, play_context)

    # Where a worker's result first reaches the strategy; each generation of
    # ansible-core names that place differently, and calls only its own.
    def normalize_task_result(self, task_result):  # 2.14 to 2.18
        return self._arrived(super().normalize_task_result(task_result))

    def _convert_wire_task_result_to_raw(self, wire_task_result):  # 2.19 and 2.20
        return self._arrived(super()._convert_wire_task_result_to_raw(wire_task_result))

    def _convert_wire_task_result_to_host_task_result(self, wire_task_result):  # 2.21 and later
        return self._arrived(super()._convert_wire_task_result_to_host_task_result(wire_task_result))

    def _arrived(self, task_result):
        host, task = api.host_and_task(task_result)
        if self._strata.is_miss(host, task):
            hint = _missing_python_hint(api.result_data(task_result))
            if hint:
                api.replace_message(task_result, hint)
        return task_result

    def _process_pending_results(self, iterator, one_pass=False, max_passes=None):
        # Ansible counts a failure under `failures` only when nothing (ignore_errors,
        # a rescue) handles it; a failure caught by an always-only block is not handled.
        failures_before = dict(self._tqm._stats.failures)
        results = super()._process_pending_results(iterator, one_pass=one_pass, max_passes=max_passes)
        failures = self._tqm._stats.failures
        for task_result in results:
            host = api.host_and_task(task_result)[0].name
            self._strata.task_finished(task_result, failures.get(host, 0) > failures_before.get(host, 0))
        return results


# What /bin/sh says when the interpreter Ansible runs modules with is not there.
_MISSING_INTERPRETER = re.compile(r'(/\S*python[\d.]*): (?:\d+: )?(?:not found|No such file or directory)')


def _missing_python_hint(result):
    """strata's hint for a failed result that says the image has no Python."""
    if not isinstance(result, dict) or not result.get('failed'):
        return None
    said = ' '.join(str(result.get(k, '')) for k in ('msg', 'module_stderr', 'module_stdout'))
    missing = _MISSING_INTERPRETER.search(said)
    return MISSING_PYTHON_HINT.format(interpreter=missing.group(1)) if missing else None
