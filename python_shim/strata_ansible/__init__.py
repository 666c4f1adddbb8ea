"""The Ansible side of strata: a strategy mixin that asks the strata engine,
for every task of an image host, whether the task's layer is already cached.

It knows Ansible and nothing of Docker: the engine answers with a stored
result to replay or a container name to run the task in.
"""

from ansible.errors import AnsibleError
from ansible.release import __version__ as _ansible_version

# The strategy API this package builds on (TaskResult, post_process_whens,
# the result queue, Templar) was reworked in ansible-core 2.19.
_SUPPORTED = ((2, 14), (2, 18))


def _check_ansible_version(version):
    major_minor = tuple(int(part) for part in version.split('.')[:2])
    lowest, highest = _SUPPORTED
    if not lowest <= major_minor <= highest:
        raise AnsibleError(
            'strata works with ansible-core %d.%d to %d.%d, and this is ansible-core %s. '
            'Run ansible-playbook from ansible-core %d.%d to %d.%d (Debian 12 has 2.14), '
            'or unset ANSIBLE_STRATEGY to run the playbook without strata.'
            % (lowest + highest + (version,) + lowest + highest))


_check_ansible_version(_ansible_version)
