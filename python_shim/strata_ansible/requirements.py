"""What strata needs of the Python that runs ansible-playbook: an
ansible-core release it supports, and its two Python libraries, msgpack and
websocket-client. Ansible often lives in a virtualenv or pipx, which does not
see the system's packages; when one is missing, say which Python runs
Ansible and the command that adds it there. `strata doctor` runs this file
with Ansible's Python to ask the same."""

import importlib
import os
import sys

from ansible.errors import AnsibleError
from ansible.release import __version__ as ANSIBLE_VERSION

OLDEST = (2, 14)
# The newest release `make test` runs; newer ones run with a warning.
NEWEST_TESTED = (2, 22)

# import name: the distribution that provides it, on PyPI and in Debian
LIBRARIES = {
    'msgpack': ('msgpack', 'python3-msgpack'),
    'websocket': ('websocket-client', 'python3-websocket'),
}


def missing_libraries():
    missing = []
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def install_command(missing, executable=None, prefix=None, base_prefix=None):
    """The command that adds `missing` to the install this Python belongs to."""
    executable = executable or sys.executable
    prefix = prefix or sys.prefix
    base_prefix = base_prefix or sys.base_prefix
    dists = ' '.join(LIBRARIES[name][0] for name in missing)
    parts = prefix.rstrip(os.sep).split(os.sep)
    if 'pipx' in parts and parts[-2:-1] == ['venvs']:
        return 'pipx inject %s %s' % (parts[-1], dists)
    if prefix != base_prefix:
        return '%s -m pip install %s' % (executable, dists)
    if prefix == '/usr':
        return 'apt-get install %s' % ' '.join(LIBRARIES[name][1] for name in missing)
    return '%s -m pip install %s' % (executable, dists)


def check_python_libraries():
    missing = missing_libraries()
    if missing:
        raise AnsibleError(
            'strata needs the Python libraries msgpack and websocket-client in the Python that runs ansible-playbook '
            '(%s), which cannot import %s. Add them to that install: %s'
            % (sys.executable, ' or '.join(LIBRARIES[name][0] for name in missing), install_command(missing)))


if __name__ == '__main__':
    import json
    missing = missing_libraries()
    print(json.dumps({
        'ansible_core': ANSIBLE_VERSION,
        'oldest': list(OLDEST),
        'newest_tested': list(NEWEST_TESTED),
        'missing': [LIBRARIES[name][0] for name in missing],
        'fix': install_command(missing) if missing else None,
    }))
