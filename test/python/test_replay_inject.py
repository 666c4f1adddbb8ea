"""Injected replays (ansible-core 2.14 to 2.20): how many FAILED - RETRYING lines a cached until/retries task replays:
the same count TaskExecutor printed when the task ran."""

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task

from conftest import trusted
from strata_ansible.compat import api
from strata_ansible.replay import renotify, retried_attempts, until_met


def task(**fields):
    return Task.load(trusted(dict({'command': 'true'}, **fields)))


def test_attempts_allowed_follows_task_executor():
    loader = DataLoader()
    assert api.attempts_allowed(task(), {}, loader) == 1
    assert api.attempts_allowed(task(until='x', retries=5), {}, loader) == 6
    assert api.attempts_allowed(task(until='x', retries=0), {}, loader) == 1
    # A loop's retries may use the item: the replay passes each item's variables.
    assert api.attempts_allowed(task(until='x', retries='{{ item.n }}'), {'item': {'n': 4}}, loader) == 5


def test_until_without_retries_gets_three_retries():
    assert api.attempts_allowed(task(until='x'), {}, DataLoader()) == 4


def test_retries_without_until_retry_from_2_16_on():
    expected = 3 if api.release >= (2, 16) else 1
    assert api.attempts_allowed(task(retries=2), {}, DataLoader()) == expected


def test_until_is_checked_against_the_result_under_its_register_name():
    loader = DataLoader()
    counting = task(until='r.stdout | int >= 3', retries=5, register='r')
    assert until_met({'stdout': '3'}, counting, {}, loader)
    assert not until_met({'stdout': '2'}, counting, {}, loader)
    # A failed result can meet until (`until: r is failed`): then it did not run out.
    expecting_failure = task(until='r is failed', retries=3, register='r')
    assert until_met({'failed': True, 'rc': 1}, expecting_failure, {}, loader)


def test_a_task_that_met_until_on_its_third_attempt_retried_twice():
    assert retried_attempts({'attempts': 3, 'changed': True}, 6, met=True) == 2


def test_a_task_that_ran_out_of_attempts_retried_every_time_but_the_last():
    # Six attempts, five retry lines; TaskExecutor reports attempts=5.
    assert retried_attempts({'attempts': 5, 'failed': True}, 6, met=False) == 5


def test_a_failed_result_that_met_until_retried_once_fewer():
    assert retried_attempts({'attempts': 5, 'failed': True}, 6, met=True) == 4


def test_a_task_without_until_never_retried():
    assert retried_attempts({'attempts': 1}, 1, met=False) == 0


def test_handlers_notified_are_the_live_tasks():
    loader = DataLoader()
    task = Task.load(trusted({'command': 'true', 'notify': 'restart {{ item }}', 'loop': ['a', 'b']}), loader=loader)
    result = {'results': [{'item': 'a', 'changed': True, 'ansible_loop_var': 'item', '_ansible_notify': ['old']},
                          {'item': 'b', 'skipped': True, 'ansible_loop_var': 'item'}]}
    renotify(result, task, {}, loader)
    assert result['results'][0]['_ansible_notify'] == ['restart a']
    assert '_ansible_notify' not in result['results'][1]
    plain = Task.load(trusted({'command': 'true'}), loader=loader)
    one = {'changed': True, '_ansible_notify': ['old']}
    renotify(one, plain, {}, loader)
    assert '_ansible_notify' not in one
