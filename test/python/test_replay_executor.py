"""Replays through TaskExecutor (ansible-core 2.21 and later): the stored
result the replay action hands back, and the until checks it holds false."""

from strata_ansible.compat.unified import _as_action_result, _hold_until_false


def test_the_action_result_leaves_out_what_the_worker_adds_itself():
    stored = {'changed': True, 'rc': 0, 'stdout': 'x', 'stdout_lines': ['x'], 'attempts': 3, 'retries': 4,
              'ansible_loop_var': 'thing', 'thing': 'a', '_ansible_item_label': 'a', 'failed_when_result': False}
    assert _as_action_result(stored) == {'changed': True, 'rc': 0, 'stdout': 'x', 'stdout_lines': ['x']}


def test_an_item_without_a_named_loop_var_loses_item():
    assert _as_action_result({'item': 1, 'changed': False}) == {'changed': False}


class _Task:
    """Just what _hold_until_false reads of a task: its conditions."""

    class loop_control:
        break_when = []

    def __init__(self, until):
        self.until = until
        self.changed_when = ['r.rc == 1']
        self.failed_when = []

    def _resolve_conditional(self, conditional, variables):
        return True


def test_until_checks_are_held_false_the_given_number_of_times():
    task = _Task(until=['r.rc == 0'])
    _hold_until_false(task, 2)
    # changed_when is never held; until is, twice.
    assert task._resolve_conditional(task.changed_when, {}) is True
    assert [task._resolve_conditional(task.until, {}) for _ in range(3)] == [False, False, True]


def test_without_until_the_retry_check_made_on_the_spot_is_held():
    task = _Task(until=[])
    _hold_until_false(task, 1)
    assert task._resolve_conditional(task.changed_when, {}) is True
    assert [task._resolve_conditional([True], {}) for _ in range(2)] == [False, True]
