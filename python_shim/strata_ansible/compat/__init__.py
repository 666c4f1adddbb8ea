"""Every place where ansible-core's API differs between releases, behind one
object, `api`, chosen once at import. The rest of the plugin reads as if
there were one Ansible.

Three generations of the strategy API:

- `legacy` (2.14 to 2.18): results are `TaskResult`s with a `_result` dict,
  templating is `Templar`, the strategy re-evaluates changed_when/failed_when
  with `post_process_whens`.
- `tagged` (2.19 and 2.20): results travel as `_RawTaskResult`/`_WireTaskResult`,
  templating is the data-tagging `TemplateEngine` (a string not marked
  trusted is not rendered), warnings and errors in results are objects.
- `unified` (2.21 and later): one `UnifiedTaskResult` per task, `register`
  computed in the worker, results sent as `(host, task, utr)`; a hit is
  replayed by Ansible's own TaskExecutor rather than injected.
"""

from ansible.errors import AnsibleError
from ansible.release import __version__ as ANSIBLE_VERSION
from ansible.utils.display import Display

from ..requirements import NEWEST_TESTED, OLDEST


def release(version):
    return tuple(int(part) for part in version.split('.')[:2] if part.isdigit())


def check_version(version):
    """Refuses a release older than strata knows; warns about one newer than tested."""
    found = release(version)
    if found < OLDEST:
        raise AnsibleError(
            'strata works with ansible-core %d.%d or later, and this is ansible-core %s. '
            'Upgrade Ansible (e.g. `pipx install ansible-core` or Debian 12\'s ansible-core), '
            'or unset ANSIBLE_STRATEGY to run the playbook without strata.' % (OLDEST + (version,)))
    if found > NEWEST_TESTED:
        Display().warning('strata is tested with ansible-core %d.%d to %d.%d, and this is ansible-core %s; '
                          'it should work, but nothing has checked it yet' % (OLDEST + NEWEST_TESTED + (version,)))


def _load(version):
    found = release(version)
    if found >= (2, 21):
        from .unified import Unified
        return Unified(found)
    if found >= (2, 19):
        from .tagged import Tagged
        return Tagged(found)
    from .legacy import Legacy
    return Legacy(found)


check_version(ANSIBLE_VERSION)
api = _load(ANSIBLE_VERSION)
