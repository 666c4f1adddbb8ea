"""Replaying a cached result through the strategy's normal result path.

A worker reports a task by putting TaskResults (and, for loops, one callback
per item) on the strategy's final queue; the results thread and
_process_pending_results then do register, notify, facts, stats and
callbacks. A hit puts the stored result on a queue of the same kind, which
hands it over at once through the results thread's own code
(compat/local_queue.py), so everything after it happens exactly as on the
cold run, and no worker, connection or container is involved.
"""

from ansible.errors import AnsibleError

from .compat import api
from .compat.local_queue import LocalQueue


def stored_form(result):
    """What is kept of a result: all of it, as the worker returned it (the
    module's `invocation` too: a loop's registered items carry it)."""
    return api.to_stored(dict(result))


def looped(task):
    """Whether the task runs a loop, so its result holds one result per item."""
    return task.loop is not None or bool(task.loop_with)


def _executions(result, task):
    """The results of each time the module ran: per loop item, or the one."""
    runs = result.get('results', []) if looped(task) else [result]
    return [one for one in runs if isinstance(one, dict) and not one.get('skipped')]


def renotify(result, task, task_vars, loader):
    """The handlers to notify, as the live task names them: the worker writes
    them into each run's result (templated per item), and the strategy reads
    them from there. `result` is changed in place."""
    for one in _executions(result, task):
        if task.notify is None:
            one.pop('_ansible_notify', None)
            continue
        notify = api.template(loader, dict(task_vars, **api.item_vars(one, task)), task.notify)
        one['_ansible_notify'] = [notify] if isinstance(notify, str) else list(notify)


def reconsider_whens(result, task, task_vars, loader):
    """Evaluates changed_when and failed_when again, as the worker would,
    with today's variables: they may use variables that are not in the
    fingerprint. `result` is changed in place."""
    if not (task.changed_when or task.failed_when):
        return
    for one in _executions(result, task):
        variables = dict(task_vars, **api.item_vars(one, task))
        if task.register:
            variables[task.register] = api.register_value(one)
        api.reconsider_whens(one, task, variables, loader)
    if looped(task):
        items = [i for i in result.get('results', []) if isinstance(i, dict)]
        result['changed'] = any(i.get('changed') for i in items)
        if any(i.get('failed') for i in items):
            result.update(failed=True, msg='One or more items failed')
        elif result.pop('failed', None):
            result['msg'] = 'All items completed'


def queue_replay(strategy, host, task, task_vars, play_context, stored, task_fields):
    """Queues `stored` as if a worker had just returned it for (host, task),
    on a LocalQueue the caller delivers to the strategy."""
    strategy._queued_task_cache[(host.name, task._uuid)] = {
        'host': host, 'task': task, 'task_vars': task_vars, 'play_context': play_context,
    }
    # The host waits for this result before its next task, as _queue_task
    # makes it (from 2.21 on; the free strategy did it itself before).
    strategy._blocked_hosts[host.name] = True
    strategy._tqm.send_callback('v2_runner_on_start', host, task)
    queue = LocalQueue()
    if api.replays_in_executor:
        api.run_replay(strategy, queue, host, task, task_vars, play_context, stored)
    else:
        _inject(strategy, queue, host, task, task_vars, stored, task_fields)
    strategy._pending_results += 1
    return queue


def _inject(strategy, queue, host, task, task_vars, stored, task_fields):
    """What a worker would have sent: the result, and the callbacks of the
    retries and loop items before it."""
    result = api.from_stored(dict(stored))
    reconsider_whens(result, task, task_vars, strategy._loader)
    renotify(result, task, task_vars, strategy._loader)
    if looped(task):
        for item in result.get('results', []):
            item_vars = dict(task_vars, **api.item_vars(item, task)) if isinstance(item, dict) else task_vars
            _relabel(item, task, item_vars, strategy._loader)
            _send_retry_callbacks(strategy, queue, host, task, item, item_vars, task_fields)
            _send_item_callbacks(queue, host, task, item, task_fields)
    else:
        _send_retry_callbacks(strategy, queue, host, task, result, task_vars, task_fields)
    api.queue_result(queue, host, task, result, task_fields)


def _relabel(item, task, item_vars, loader):
    """The item's label as the live task's loop_control.label makes it (without
    one, the label is the item, which is an input)."""
    if isinstance(item, dict) and task.loop_control.label:
        item['_ansible_item_label'] = api.template(loader, item_vars, task.loop_control.label)


def until_met(result, task, variables, loader):
    """Whether `result` meets the task's `until`, checked as TaskExecutor
    checks it: with the result under the task's `register` name."""
    variables = dict(variables)
    if task.register:
        variables[task.register] = api.register_value(result)
    try:
        return api.until_met(result, task, variables, loader)
    except AnsibleError:
        return False


def retried_attempts(result, attempts_allowed, met):
    """How many `FAILED - RETRYING` lines the run that produced `result`
    printed: one per attempt before the one that met `until`, or, when no
    attempt met it, one per attempt (TaskExecutor then reports one fewer
    attempt than it made)."""
    if attempts_allowed <= 1 or not isinstance(result, dict):
        return 0
    attempts = result.get('attempts') or 0
    return max(attempts - 1, 0) if met else attempts


def _send_retry_callbacks(strategy, queue, host, task, result, variables, task_fields):
    # The stored result is the last attempt's; only the count of the earlier
    # ones survives, so they are announced with that count alone.
    allowed = api.attempts_allowed(task, variables, strategy._loader)
    if allowed <= 1 or not isinstance(result, dict):
        return
    met = until_met(result, task, variables, strategy._loader)
    for attempt in range(1, retried_attempts(result, allowed, met) + 1):
        retry = {'attempts': attempt, 'retries': allowed, '_ansible_retry': True}
        api.queue_callback(queue, 'v2_runner_retry', host, task, retry, task_fields)


def _send_item_callbacks(queue, host, task, item, task_fields):
    # The same choice of callbacks TaskExecutor._run_loop makes per item.
    if api.is_failed(item) or item.get('unreachable'):
        api.queue_callback(queue, 'v2_runner_item_on_failed', host, task, item, task_fields)
    elif api.is_skipped(item):
        api.queue_callback(queue, 'v2_runner_item_on_skipped', host, task, item, task_fields)
    else:
        if task_fields.get('diff'):
            api.queue_callback(queue, 'v2_on_file_diff', host, task, item, task_fields)
        if task.action not in api.INVENTORY_ACTIONS:
            api.queue_callback(queue, 'v2_runner_item_on_ok', host, task, item, task_fields)
