"""Replaying a cached result through the strategy's normal result path.

A worker reports a task by putting TaskResults (and, for loops, one callback
per item) on the strategy's final queue; the results thread and
_process_pending_results then do register, notify, facts, stats and
callbacks. A hit puts the stored result on that same queue, so everything
after it happens exactly as on the cold run, and no worker, connection or
container is involved.
"""

from ansible import constants as C
from ansible.plugins.strategy import _get_item_vars, post_process_whens
from ansible.template import Templar
from ansible.utils.unsafe_proxy import wrap_var

from ansible.executor.task_result import TaskResult


def stored_form(result):
    """What is kept of a result: everything the strategy and callbacks read,
    minus the module's echo of its own arguments."""
    kept = {k: v for k, v in result.items() if k != 'invocation'}
    if isinstance(kept.get('results'), list):
        kept['results'] = [stored_form(item) if isinstance(item, dict) else item for item in kept['results']]
    return kept


def reconsider_whens(result, task, task_vars, loader):
    """Evaluates changed_when and failed_when again, as the worker would,
    with today's variables: they may use variables that are not in the
    fingerprint. `result` is changed in place."""
    if not (task.changed_when or task.failed_when):
        return
    templar = Templar(loader=loader, variables=task_vars)
    looped = task.loop is not None or task.loop_with
    for one in (result.get('results', []) if looped else [result]):
        if not isinstance(one, dict) or one.get('skipped'):
            continue
        variables = dict(task_vars, **_get_item_vars(one, task))
        if task.register:
            variables[task.register] = wrap_var(one)
        post_process_whens(one, task, templar, variables)
    if looped:
        items = [i for i in result.get('results', []) if isinstance(i, dict)]
        result['changed'] = any(i.get('changed') for i in items)
        if any(i.get('failed') for i in items):
            result.update(failed=True, msg='One or more items failed')
        elif result.pop('failed', None):
            result['msg'] = 'All items completed'


def queue_replay(strategy, host, task, task_vars, play_context, stored, task_fields):
    """Queues `stored` as if a worker had just returned it for (host, task)."""
    stored = dict(stored)
    reconsider_whens(stored, task, task_vars, strategy._loader)
    result = wrap_var(stored)
    strategy._queued_task_cache[(host.name, task._uuid)] = {
        'host': host, 'task': task, 'task_vars': task_vars, 'play_context': play_context,
    }
    strategy._tqm.send_callback('v2_runner_on_start', host, task)
    retries = attempts_allowed(task, task_vars, strategy._loader)
    if task.loop is not None or task.loop_with:
        for item in result.get('results', []):
            _send_retry_callbacks(strategy, host, task, item, retries, task_fields)
            _send_item_callbacks(strategy, host, task, item, task_fields)
    else:
        _send_retry_callbacks(strategy, host, task, result, retries, task_fields)
    strategy._final_q.send_task_result(host.name, task._uuid, result, task_fields=task_fields)
    strategy._pending_results += 1


def attempts_allowed(task, task_vars, loader):
    """How many attempts TaskExecutor gives a task: `retries` + 1 with
    `until`, else 1."""
    if not task.until:
        return 1
    retries = Templar(loader=loader, variables=task_vars).template(task.retries)
    if retries is None:
        return 3
    return 1 if int(retries) <= 0 else int(retries) + 1


def retried_attempts(result, attempts_allowed):
    """How many `FAILED - RETRYING` lines the run that produced `result`
    printed: one per attempt that did not meet `until`, except the last when
    the attempts ran out (TaskExecutor then reports one attempt fewer)."""
    if attempts_allowed <= 1 or not isinstance(result, dict):
        return 0
    attempts = result.get('attempts') or 0
    ran_out = result.get('failed') and attempts == attempts_allowed - 1
    return attempts if ran_out else max(attempts - 1, 0)


def _send_retry_callbacks(strategy, host, task, result, retries, task_fields):
    # The stored result is the last attempt's; only the count of the earlier
    # ones survives, so they are announced with that count alone.
    for attempt in range(1, retried_attempts(result, retries) + 1):
        retry = {'attempts': attempt, 'retries': retries, '_ansible_retry': True}
        strategy._final_q.send_callback('v2_runner_retry', TaskResult(host.name, task._uuid, retry, task_fields=task_fields))


def _send_item_callbacks(strategy, host, task, item, task_fields):
    # The same choice of callbacks TaskExecutor._run_loop makes per item.
    item_result = TaskResult(host.name, task._uuid, item, task_fields=task_fields)
    if item_result.is_failed() or item_result.is_unreachable():
        strategy._final_q.send_callback('v2_runner_item_on_failed', item_result)
    elif item_result.is_skipped():
        strategy._final_q.send_callback('v2_runner_item_on_skipped', item_result)
    else:
        if task_fields.get('diff'):
            strategy._final_q.send_callback('v2_on_file_diff', item_result)
        if task.action not in C._ACTION_INVENTORY_TASKS:
            strategy._final_q.send_callback('v2_runner_item_on_ok', item_result)
