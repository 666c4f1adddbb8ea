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
