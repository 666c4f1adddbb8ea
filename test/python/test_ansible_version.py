"""strata refuses an ansible-core whose strategy API it was not built for,
with a message that names both versions and the way out."""

import pytest
from ansible.errors import AnsibleError

from strata_ansible import _check_ansible_version


@pytest.mark.parametrize('version', ['2.14.18', '2.15.0', '2.18.7'])
def test_the_supported_releases_pass(version):
    _check_ansible_version(version)


@pytest.mark.parametrize('version', ['2.19.11', '2.13.9', '3.0.0.dev0'])
def test_other_releases_are_refused_by_name(version):
    with pytest.raises(AnsibleError, match=r'strata works with ansible-core 2\.14 to 2\.18, and this is ansible-core ' + version.replace('.', r'\.')):
        _check_ansible_version(version)
