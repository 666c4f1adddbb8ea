import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'python_shim'))


def trusted(data):
    """Task data as Ansible's YAML loader gives it: from 2.19 on, only strings
    marked trusted are rendered as templates (data written in a test is not)."""
    try:
        from ansible.template import trust_as_template
    except ImportError:
        return data
    if isinstance(data, str):
        return trust_as_template(data)
    if isinstance(data, dict):
        return {k: trusted(v) for k, v in data.items()}
    if isinstance(data, list):
        return [trusted(v) for v in data]
    return data


def _install_collection_loader():
    # What ansible-playbook does at start-up; from 2.19 on, resolving even
    # ansible.builtin actions goes through it.
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
    _AnsibleCollectionFinder(paths=[])._install()


_install_collection_loader()


def _replay_tests_for_this_generation():
    # Up to 2.20 a hit is injected into the result queue; from 2.21 on it is
    # replayed by Ansible's TaskExecutor: each has its own tests.
    from strata_ansible.compat import api
    return ['test_replay_inject.py'] if api.replays_in_executor else ['test_replay_executor.py']


collect_ignore = _replay_tests_for_this_generation()
