"""The stopwatch behind STRATA_PROFILE: nested parts are counted once."""

import time

from strata_ansible.stopwatch import Stopwatch


def test_time_in_an_inner_part_is_not_counted_again_in_the_outer_one():
    watch = Stopwatch()
    with watch.timing('describe'):
        time.sleep(0.02)
        with watch.timing('code'):
            time.sleep(0.05)
    assert 0.05 <= watch.seconds['code'] < 0.09
    assert 0.02 <= watch.seconds['describe'] < 0.05


def test_a_part_timed_again_adds_up():
    watch = Stopwatch()
    for _ in range(3):
        with watch.timing('engine'):
            time.sleep(0.01)
    assert 0.03 <= watch.seconds['engine'] < 0.06


def test_a_part_that_raises_is_still_counted():
    watch = Stopwatch()
    try:
        with watch.timing('engine'):
            time.sleep(0.01)
            raise RuntimeError('lost the engine')
    except RuntimeError:
        pass
    assert watch.seconds['engine'] >= 0.01


def test_the_account_names_each_part_and_the_time_per_task():
    watch = Stopwatch()
    watch.seconds.update(describe=0.5, engine=0.25, replay=0.25)
    line = watch.account(cached=400, built=100)
    assert line.startswith('strata: own time 1.000s for 400 cached and 100 built tasks (2.00 ms per task): ')
    assert 'describe 0.500s, engine 0.250s, replay 0.250s' in line
    assert 'code' not in line
