"""ansible-core 2.21 and later: one `UnifiedTaskResult` (utr) per task, built
in the worker, with `register` (and register projections), facts and loop
results all computed there inside a `TaskContext`.

So a hit is not injected into the result queue as in older releases: it is
replayed by Ansible's own TaskExecutor, run in this process on a copy of the
task, whose action returns the stored result instead of running anything.
Loops, `when` per item, loop labels, changed_when/failed_when, until and
retries, register and notify then happen exactly as on a real run, and the
executor's result goes to the strategy as a worker's would. Nothing connects
anywhere: the copy runs over the `local` connection, which an action that
never executes a module never opens.
"""

import dataclasses

from ansible._internal._task import TaskContext, UnifiedTaskResult
from ansible.executor.task_executor import TaskExecutor
from ansible.plugins import loader as plugin_loader

from .tagged import Tagged, _deserialized


def _export_only_keys():
    """Result keys a worker adds on export but never reads back from an action:
    a stored result must not carry them into the replayed action's result."""
    keys = set()
    for field in dataclasses.fields(UnifiedTaskResult):
        settings = field.metadata.get('ansible')
        if settings is not None and settings.source is None and settings.destination is not None:
            keys.add(settings.key or field.name)
    return keys


_EXPORT_ONLY = _export_only_keys()


class Unified(Tagged):
    generation = 'unified'
    INVENTORY_ACTIONS = ()
    replays_in_executor = True

    def loop_items(self, task, host, task_vars, play_context, loader):
        copy = task.copy(exclude_tasks=True)
        with TaskContext.create(task=copy, task_vars=dict(task_vars), host_name=host.name):
            executor = TaskExecutor(host, play_context, loader, plugin_loader.get_plugin_loader_namespace(), None, None)
            return executor._get_loop_items() or []

    # -- results -------------------------------------------------------------

    def result_data(self, task_result):
        return task_result.utr.as_result_dict(for_round_trip=True)

    def result_status(self, task_result):
        utr = task_result.utr
        return {'unreachable': bool(utr.unreachable), 'skipped': bool(utr.skipped), 'failed': bool(utr.failed)}

    def replace_message(self, task_result, message):
        task_result.utr.msg = message

    def run_replay(self, strategy, final_q, host, task, task_vars, play_context, stored):
        """Runs the task through TaskExecutor with the stored result as its
        action's, and sends what it returns as the worker would."""
        replayed = task.copy(exclude_tasks=True)
        # A replay waits for nothing and starts no background job.
        replayed.delay = 0
        replayed.async_val = 0
        replayed.loop_control.pause = 0
        variables = dict(task_vars, ansible_connection='local')
        with TaskContext.create(task=replayed, task_vars=variables, host_name=host.name):
            executor = _ReplayExecutor(_deserialized(stored), host, play_context, strategy._loader,
                                       plugin_loader.get_plugin_loader_namespace(), final_q,
                                       strategy._variable_manager)
            utr = executor.run()
            utr.finalize_registered_values()
            final_q.send_task_result(host, replayed, utr)


class _ReplayExecutor(TaskExecutor):
    """TaskExecutor whose action hands back a stored result, per loop item.
    An until/retries task makes as many attempts as the real run made: the
    until check is held false for the attempts before the last one, whose
    stored result then meets `until`, or not, as it did."""

    def __init__(self, stored, *args):
        super().__init__(*args)
        self._stored = stored

    def _stored_for_this_run(self):
        task_ctx = TaskContext.current()
        if task_ctx.is_loop:
            return self._stored.get('results', [])[task_ctx._item_index]
        return self._stored

    def _get_action_handler_with_module_context(self, templar):
        return _StoredAction(_as_action_result(self._stored_for_this_run())), None

    def _execute(self):
        stored = self._stored_for_this_run()
        earlier_attempts = max(int(stored.get('attempts') or 1) - 1, 0) if isinstance(stored, dict) else 0
        _hold_until_false(TaskContext.current().task, earlier_attempts)
        return super()._execute()


def _hold_until_false(task, times):
    """Makes the task's first `times` until checks come out false."""
    real = type(task)._resolve_conditional.__get__(task)
    held = {'left': times}

    def is_until(conditional):
        if task.until:
            return conditional is task.until
        # Without `until`, retries check a list made on the spot: [not failed].
        return not any(conditional is other for other in (task.changed_when, task.failed_when, task.loop_control.break_when))

    def resolve(conditional, variables):
        if held['left'] > 0 and is_until(conditional):
            held['left'] -= 1
            return False
        return real(conditional, variables)

    task._resolve_conditional = resolve


class _StoredAction:
    """Stands where the action plugin would: returns the stored result."""

    _supports_async = True
    _supports_check_mode = True

    def __init__(self, result):
        self._result = result

    def run(self, tmp=None, task_vars=None):
        return dict(self._result)

    def cleanup(self, force=False):
        pass


def _as_action_result(result):
    """The stored (exported) result as the action returned it: without the
    keys the worker adds on export, loop item variables included."""
    if not isinstance(result, dict):
        return result
    dropped = set(_EXPORT_ONLY) | {'results'}
    for name_key in ('ansible_loop_var', 'ansible_index_var'):
        if result.get(name_key):
            dropped.add(result[name_key])
    if 'ansible_loop_var' not in result and 'item' in result:
        dropped.add('item')
    return {k: v for k, v in result.items() if k not in dropped}

