"""The code a task runs counts by content: the module with the module_utils
Ansible packs with it, and the action plugin, outside ansible-core."""

import pytest
from ansible.plugins.loader import add_all_plugin_dirs

from strata_ansible import code_inputs

MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.{util} import GREETING

def main():
    AnsibleModule(argument_spec={}).exit_json(changed=True, msg=GREETING)

main()
'''

ACTION = '''from ansible.plugins.action import ActionBase

class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {'msg': 'v1'}
'''


class Project:
    """A playbook dir with a module, the module_utils file it imports and an
    action plugin, named for this test alone: Ansible's plugin loaders keep
    every plugin dir they were given and what they found there."""

    made = 0

    def __init__(self, root):
        Project.made += 1
        self.root = root
        self.module, self.util, self.action = ('probe_%s_%d' % (kind, Project.made) for kind in ('mod', 'util', 'act'))
        for folder in ('library', 'module_utils', 'action_plugins'):
            (root / folder).mkdir()
        (root / 'library' / (self.module + '.py')).write_text(MODULE.replace('{util}', self.util))
        self.write_util('v1')
        self.write_action(self.action, 'v1')
        add_all_plugin_dirs(str(root))

    def write_util(self, value):
        (self.root / 'module_utils' / (self.util + '.py')).write_text('GREETING = "%s"\n' % value)

    def write_action(self, name, value):
        (self.root / 'action_plugins' / (name + '.py')).write_text(ACTION.replace('v1', value))


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path)


def digests(action):
    code_inputs._digests.clear()
    code_inputs._payloads.clear()
    return code_inputs.code_digests(action, None)


def test_editing_a_module_utils_file_the_module_imports_changes_its_digest(project):
    before = digests(project.module)
    assert before['module'] and before['action_plugin'] is None
    project.write_util('v2')
    assert digests(project.module)['module'] != before['module']


def test_editing_an_action_plugin_changes_its_digest(project):
    before = digests(project.action)
    assert before['action_plugin']
    project.write_action(project.action, 'v2')
    assert digests(project.action)['action_plugin'] != before['action_plugin']


def test_an_action_plugin_shadowing_a_module_counts(project):
    project.write_action(project.module, 'v1')
    assert digests(project.module)['action_plugin']


def test_ansible_cores_own_code_counts_through_the_release_alone():
    assert digests('ansible.builtin.copy') == {'module': None, 'action_plugin': None}
    assert digests('ansible.builtin.file') == {'module': None, 'action_plugin': None}


def test_the_action_plugin_is_chosen_as_the_worker_chooses_it(project):
    assert code_inputs.action_plugin_path('ansible.builtin.file', None).endswith('/normal.py')
    assert code_inputs.action_plugin_path('ansible.builtin.copy', None).endswith('/copy.py')
    assert code_inputs.action_plugin_path(project.action, None) == str(project.root / 'action_plugins' / (project.action + '.py'))


# -- what is kept between builds ---------------------------------------------

CORE_MODULE_UTILS = code_inputs._ANSIBLE_CORE_DIR + 'module_utils'


@pytest.fixture
def memo(tmp_path, monkeypatch):
    """A memo of its own in a fresh user cache, and nothing kept in the process."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setattr(code_inputs, '_memo', code_inputs._Memo())
    for kept in ('_no_log', '_payloads', '_digests'):
        monkeypatch.setattr(code_inputs, kept, {})
    return tmp_path / 'cache' / 'strata' / ('code-memo-v%d.json' % code_inputs._Memo.VERSION)


def only_core_module_utils(monkeypatch, *more):
    monkeypatch.setattr(code_inputs.module_utils_loader, '_get_paths', lambda subdirs=False: [CORE_MODULE_UTILS, *more])


def test_a_release_module_is_known_by_the_release_when_nothing_could_shadow_its_module_utils(monkeypatch):
    only_core_module_utils(monkeypatch, '/nonexistent/module_utils')
    key = code_inputs._release_decides('ansible.builtin.copy', None)
    assert key.startswith('release:%s:' % code_inputs.ansible.release.__version__) and key.endswith('copy.py')


def test_a_module_utils_folder_outside_the_release_means_the_payload_is_read(monkeypatch, tmp_path):
    only_core_module_utils(monkeypatch, str(tmp_path))
    assert code_inputs._release_decides('ansible.builtin.copy', None) is None


def test_what_a_release_module_hides_is_kept_for_later_builds(monkeypatch, memo):
    only_core_module_utils(monkeypatch)
    assert code_inputs.no_log_options('ansible.builtin.user', None) >= {'password'}
    assert memo.exists()
    # A later build (nothing kept in the process) reads the memo, not the module.
    later = code_inputs._Memo()
    monkeypatch.setattr(code_inputs, '_memo', later)
    monkeypatch.setattr(code_inputs, '_no_log', {})
    monkeypatch.setattr(code_inputs, 'module_payload', lambda *_: pytest.fail('the module was packed again'))
    assert code_inputs.no_log_options('ansible.builtin.user', None) >= {'password'}


def test_a_mangled_memo_costs_time_only(monkeypatch, memo):
    only_core_module_utils(monkeypatch)
    memo.parent.mkdir(parents=True)
    key = code_inputs._release_decides('ansible.builtin.user', None)
    memo.write_text('{"%s": 7, "file:%s": "x"' % (key, 'a' * 64))  # cut short: not JSON at all
    assert code_inputs.no_log_options('ansible.builtin.user', None) >= {'password'}


def test_a_file_is_parsed_once_whatever_module_packs_it(monkeypatch, memo):
    parsed = []
    real = code_inputs._options_in
    monkeypatch.setattr(code_inputs, '_options_in', lambda source: parsed.append(source) or real(source))
    code_inputs._options_of(b"x = dict(token=dict(no_log=True, aliases=['api_key']))\n")
    hidden, aliases = code_inputs._options_of(b"x = dict(token=dict(no_log=True, aliases=['api_key']))\n")
    assert (hidden, aliases.get('token')) == ({'token'}, {'api_key'})
    assert len(parsed) == 1
