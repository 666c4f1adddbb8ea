"""Which strategy a play that names its own runs with."""

import pytest

from strata_ansible.play_strategy import strata_variant


@pytest.mark.parametrize('named, variant', [
    ('free', 'strata_free'), ('ansible.builtin.free', 'strata_free'), ('ansible.legacy.free', 'strata_free'),
    ('host_pinned', 'strata_host_pinned'), ('debug', 'strata_debug'), ('linear', 'strata'),
])
def test_ansibles_strategies_get_their_strata_variant_while_strata_is_configured(named, variant):
    assert strata_variant(named, configured='strata') == variant


def test_other_strategies_are_left_alone():
    assert strata_variant('mitogen_linear', configured='strata') == 'mitogen_linear'
    assert strata_variant('strata', configured='strata') == 'strata'


def test_nothing_changes_when_strata_is_not_the_configured_strategy():
    assert strata_variant('free', configured='linear') == 'free'
