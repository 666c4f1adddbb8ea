"""describe() on real Ansible objects: a play loaded by Ansible's own loader."""

import pytest
from ansible import context
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.playbook.play_context import PlayContext
from ansible.vars.manager import VariableManager

from conftest import trusted
from strata_ansible.task_inputs import SKIPPED, describe


@pytest.fixture(autouse=True)
def cli_args():
    context.CLIARGS = ImmutableDict(connection='ssh', module_path=None, forks=1, become=False,
                                    become_method='sudo', become_user=None, check=False, diff=False, verbosity=0)


def described(tmp_path, tasks, play_vars=None, host_vars=None, facts=None):
    """describe() for each task of a one-host play."""
    loader = DataLoader()
    loader.set_basedir(str(tmp_path))
    inventory = InventoryManager(loader=loader, sources='web,')
    variables = VariableManager(loader=loader, inventory=inventory)
    host = inventory.get_host('web')
    for name, value in (host_vars or {}).items():
        host.set_variable(name, trusted(value))
    if facts:
        variables.set_host_facts(host.name, facts)
    play = Play.load(trusted({'hosts': 'all', 'gather_facts': False, 'vars': play_vars or {}, 'tasks': tasks}),
                     variable_manager=variables, loader=loader)
    out = []
    for block in play.compile():
        for task in block.block:
            if task.action == 'meta':
                continue
            task_vars = variables.get_vars(play=play, host=host, task=task)
            out.append(describe(task, host, task_vars, PlayContext(play=play), loader))
    return out


def test_args_are_templated_with_the_hosts_vars(tmp_path):
    [one] = described(tmp_path, [{'copy': {'content': 'hi {{ who }}', 'dest': '/x'}}], play_vars={'who': 'you'})
    assert one.inputs['args'] == {'content': 'hi you', 'dest': '/x'}
    assert one.inputs['action'] == 'ansible.builtin.copy'
    [other] = described(tmp_path, [{'copy': {'content': 'hi {{ who }}', 'dest': '/x'}}], play_vars={'who': 'them'})
    assert other.inputs != one.inputs


def test_the_task_name_and_unused_vars_do_not_count(tmp_path):
    [a] = described(tmp_path, [{'name': 'first name', 'command': 'true'}], play_vars={'unused': 1})
    [b] = described(tmp_path, [{'name': 'second name', 'command': 'true'}], play_vars={'unused': 2})
    assert a.inputs == b.inputs


def test_omitted_args_are_left_out(tmp_path):
    [one] = described(tmp_path, [{'file': {'path': '/x', 'mode': '{{ nothing | default(omit) }}', 'state': 'touch'}}])
    assert one.inputs['args'] == {'path': '/x', 'state': 'touch'}


def test_module_defaults_are_applied(tmp_path):
    tasks = [{'file': {'path': '/x'}, 'module_defaults': {'file': {'owner': 'app'}}}]
    [one] = described(tmp_path, tasks)
    assert one.inputs['args'] == {'path': '/x', 'owner': 'app'}


def test_a_loop_gives_one_entry_per_item(tmp_path):
    tasks = [{'file': {'path': '/d/{{ item }}', 'state': 'directory'}, 'loop': ['a', 'b'], 'when': "item != 'b'"}]
    [one] = described(tmp_path, tasks)
    assert one.inputs['items'] == [
        dict(one.inputs['items'][0], item='a', args={'path': '/d/a', 'state': 'directory'}),
        {'item': 'b', 'skipped': True},
    ]


def test_a_false_when_skips_without_a_lookup(tmp_path):
    assert described(tmp_path, [{'command': 'true', 'when': 'false'}]) == [SKIPPED]
    assert described(tmp_path, [{'command': 'true', 'loop': [1, 2], 'when': 'item > 5'}]) == [SKIPPED]


def test_no_log_tasks_are_secret_and_their_label_holds_no_values(tmp_path):
    [one] = described(tmp_path, [{'copy': {'content': 's3cret', 'dest': '/k'}, 'no_log': True}])
    assert one.secret and one.label == 'copy' and 's3cret' not in one.label


def test_paths_under_the_playbook_dir_do_not_count_where_the_checkout_is(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    task = [{'command': 'echo {{ playbook_dir }}/x'}]
    [one] = described(tmp_path / 'a', task, play_vars={'playbook_dir': str(tmp_path / 'a')})
    [two] = described(tmp_path / 'b', task, play_vars={'playbook_dir': str(tmp_path / 'b')})
    assert one.inputs == two.inputs
    assert one.inputs['args']['_raw_params'] == 'echo {{ playbook_dir }}/x'


def test_how_the_task_runs_counts_interpreter_shell_and_become(tmp_path):
    task = [{'command': 'true', 'become': True, 'become_method': 'su'}]
    base = described(tmp_path, task)[0].inputs
    # Before discovery, its mode: what it finds is the image's, which the chain decides.
    assert base['interpreters']['ansible_python_interpreter'] == 'auto'
    discovered = described(tmp_path, task, facts={'discovered_interpreter_python': '/usr/bin/python3'})
    assert discovered[0].inputs['interpreters']['ansible_python_interpreter'] == '/usr/bin/python3'
    for host_vars in ({'ansible_python_interpreter': '/usr/bin/python3.11'},
                      {'ansible_shell_executable': '/bin/bash'},
                      {'ansible_become_flags': '-l'},
                      {'ansible_become_exe': '/usr/local/bin/su'}):
        assert described(tmp_path, task, host_vars=host_vars)[0].inputs != base, host_vars


def test_a_become_password_does_not_count(tmp_path):
    task = [{'command': 'true', 'become': True}]
    one = described(tmp_path, task, host_vars={'ansible_become_password': 'pw-first'})[0].inputs
    two = described(tmp_path, task, host_vars={'ansible_become_password': 'pw-second'})[0].inputs
    assert one == two and 'pw-first' not in repr(one)


def test_until_counts_the_variables_it_reads_and_retries_and_delay(tmp_path):
    def inputs(wanted=0, **changes):
        task = dict({'command': 'true', 'register': 'r', 'until': 'r.rc == wanted', 'retries': 5, 'delay': 0}, **changes)
        return described(tmp_path, [task], play_vars={'wanted': wanted, 'unused': 1})[0].inputs
    base = inputs()
    assert base['stop']['reads'] == {'wanted': 0}
    assert inputs(wanted=1) != base
    assert inputs(retries=1) != base
    assert inputs(delay=2) != base


def test_a_task_without_retries_has_no_stop_inputs(tmp_path):
    assert described(tmp_path, [{'command': 'true'}])[0].inputs['stop'] is None


def test_notify_and_the_text_of_changed_when_and_failed_when_do_not_count(tmp_path):
    [a] = described(tmp_path, [{'command': 'true', 'notify': 'one', 'changed_when': 'false', 'failed_when': 'false'}])
    [b] = described(tmp_path, [{'command': 'true', 'notify': 'two', 'changed_when': 'true', 'failed_when': 'r.rc > 1'}])
    [c] = described(tmp_path, [{'command': 'true'}])
    assert a.inputs == b.inputs
    assert a.inputs != c.inputs, 'whether they are there counts: the stored result holds their outcome'


def test_an_extended_loop_can_use_allitems(tmp_path):
    task = {'copy': {'content': '{{ ansible_loop.allitems | join(",") }}', 'dest': '/{{ item }}'},
            'loop': ['a', 'b'], 'loop_control': {'extended': True}}
    [one] = described(tmp_path, [task])
    assert [i['args']['content'] for i in one.inputs['items']] == ['a,b', 'a,b']


def test_a_file_glob_counts_in_the_same_order_whatever_the_directory_lists_first(tmp_path, monkeypatch):
    (tmp_path / 'files').mkdir()
    for name in ('b.conf', 'a.conf', 'c.conf'):
        (tmp_path / 'files' / name).write_text(name)
    task = [{'copy': {'src': '{{ item }}', 'dest': '/etc/'}, 'with_fileglob': ['files/*.conf']}]
    listed = described(tmp_path, task)[0].inputs
    import glob as glob_module
    real = glob_module.glob
    monkeypatch.setattr(glob_module, 'glob', lambda *a, **k: list(reversed(real(*a, **k))))
    assert described(tmp_path, task)[0].inputs == listed


def test_what_a_module_hides_is_sealed_and_kept_out_of_the_label(tmp_path):
    [copy] = described(tmp_path, [{'copy': {'content': 'hunter2', 'dest': '/etc/app.conf'}}])
    assert copy.secret and 'hunter2' not in copy.label and 'dest=/etc/app.conf' in copy.label
    assert copy.inputs['args']['content'] == 'hunter2', 'still part of the fingerprint'
    [user] = described(tmp_path, [{'user': {'name': 'app', 'password': '$6$hash'}}])
    assert user.secret and '$6$hash' not in user.label
    [plain] = described(tmp_path, [{'file': {'path': '/x', 'state': 'touch'}}])
    assert not plain.secret


def test_environment_values_are_sealed(tmp_path):
    [one] = described(tmp_path, [{'command': 'env', 'environment': {'API_TOKEN': 'abc123'}}])
    assert one.secret and 'abc123' not in one.label


def test_a_loop_item_with_a_hidden_value_seals_the_task(tmp_path):
    [one] = described(tmp_path, [{'user': {'name': '{{ item }}', 'password': 'pw-{{ item }}'}, 'loop': ['a', 'b']}])
    assert one.secret and 'pw-a' not in one.label


def test_an_alias_of_a_hidden_option_is_sealed(tmp_path):
    # uri declares url_password with the alias `password`.
    [one] = described(tmp_path, [{'uri': {'url': 'http://x/', 'user': 'bob', 'password': 'alias-secret'}}])
    assert one.secret and 'alias-secret' not in one.label
    # get_url adds the alias by assignment, in another file than the no_log declaration.
    [fetched] = described(tmp_path, [{'get_url': {'url': 'file:///x', 'dest': '/y', 'username': 'u', 'password': 'get-url-secret'}}])
    assert fetched.secret and 'get-url-secret' not in fetched.label


def test_a_hidden_suboption_seals_the_task_and_masks_its_option(tmp_path):
    from ansible.plugins.loader import module_loader
    library = tmp_path / 'library'
    library.mkdir()
    (library / 'nested_secret_probe.py').write_text(
        'from ansible.module_utils.basic import AnsibleModule\n'
        'def main():\n'
        '    spec = dict(opts=dict(type="dict", options=dict(name=dict(), pw=dict(no_log=True))), path=dict())\n'
        '    AnsibleModule(argument_spec=spec).exit_json(changed=False)\n'
        'main()\n')
    module_loader.add_directory(str(library))
    [one] = described(tmp_path, [{'nested_secret_probe': {'opts': {'name': 'x', 'pw': 'nested-secret'}, 'path': '/p'}}])
    assert one.secret and 'nested-secret' not in one.label and 'path=/p' in one.label
    [listed] = described(tmp_path, [{'nested_secret_probe': {'opts': [{'pw': 'in-a-list'}]}}])
    assert listed.secret and 'in-a-list' not in listed.label
