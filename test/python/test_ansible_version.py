"""strata refuses an ansible-core older than it knows, with a message that
names the release and the way out, and warns about one newer than tested."""

import pytest
from ansible.errors import AnsibleError

from strata_ansible import compat


@pytest.mark.parametrize('version', ['2.14.18', '2.15.0', '2.18.7', '2.19.11', '2.22.0b2'])
def test_the_tested_releases_pass_quietly(version, capsys):
    compat.check_version(version)
    assert 'WARNING' not in capsys.readouterr().err


@pytest.mark.parametrize('version', ['2.13.9', '2.9.27'])
def test_older_releases_are_refused_by_name(version):
    with pytest.raises(AnsibleError, match=r'strata works with ansible-core 2\.14 or later, and this is ansible-core ' + version.replace('.', r'\.')):
        compat.check_version(version)


@pytest.mark.parametrize('version', ['2.23.0', '3.0.0.dev0'])
def test_newer_releases_run_with_a_warning_that_names_the_tested_range(version, capsys):
    compat.check_version(version)
    err = capsys.readouterr().err
    assert 'strata is tested with ansible-core 2.14 to 2.22, and this is ansible-core ' + version in ' '.join(err.split())


def test_each_release_of_this_generation_gets_its_adapter():
    # Only the running release's generation can be imported here.
    if compat.api.release >= (2, 21):
        versions, generation = ['2.21.0', '2.22.0b2'], 'unified'
    elif compat.api.release >= (2, 19):
        versions, generation = ['2.19.11', '2.20.0'], 'tagged'
    else:
        versions, generation = ['2.14.18', '2.16.3', '2.18.1'], 'legacy'
    assert [compat._load(v).generation for v in versions] == [generation] * len(versions)
