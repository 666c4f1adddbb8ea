"""What the plugin tells the engine for a final image's provenance: the
files that decided a host's tasks (by path relative to the playbook and
sha256), never those of a task whose values Ansible hides; and the
SOURCE_DATE_EPOCH a host gets."""

import hashlib
import os

from ansible import context
from ansible.module_utils.common.collections import ImmutableDict

from strata_ansible.build import _source_date_epoch
from strata_ansible.provenance import Sources
from test_task_inputs import cli_args, described  # noqa: F401 (cli_args: the fixture, used by pytest)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Task:
    """What Sources reads of a task: where it is written, and its role."""

    def __init__(self, path):
        self._path = path
        self._role = None

    def get_path(self):
        return '%s:3' % self._path


def test_a_template_task_names_the_template_it_reads(tmp_path):
    (tmp_path / 'templates').mkdir()
    (tmp_path / 'templates' / 'app.conf.j2').write_text('port={{ port }}\n')
    [task] = described(tmp_path, [{'template': {'src': 'app.conf.j2', 'dest': '/etc/app.conf'}}], play_vars={'port': 80})
    assert task.sources == [str(tmp_path / 'templates' / 'app.conf.j2')]


def test_the_files_of_a_host_are_relative_to_the_playbook_with_their_digests(tmp_path, monkeypatch):
    (tmp_path / 'templates').mkdir()
    playbook, template, secret = tmp_path / 'site.yml', tmp_path / 'templates' / 'a.j2', tmp_path / 'templates' / 'key.j2'
    for path in (playbook, template, secret):
        path.write_text(path.name)
    (tmp_path / 'group_vars').mkdir()
    (tmp_path / 'group_vars' / 'all.yml').write_text('x: 1\n')
    monkeypatch.setattr(context, 'CLIARGS', ImmutableDict(args=[str(playbook)], inventory=['web,']))

    class Described:
        def __init__(self, sources, secret):
            self.sources, self.secret = sources, secret

    sources = Sources()
    sources.note('web', _Task(playbook), Described([str(template)], False), str(tmp_path))
    sources.note('web', _Task(playbook), Described([str(secret)], True), str(tmp_path))
    inputs = sources.for_host('web')
    assert inputs['playbooks'] == ['site.yml']
    assert inputs['inventories'] == ['web,']
    assert inputs['ansible_core'] and inputs['ansible_core'][0].isdigit()
    assert inputs['files'] == [
        {'path': 'group_vars/all.yml', 'sha256': _sha(tmp_path / 'group_vars' / 'all.yml')},
        {'path': 'site.yml', 'sha256': _sha(playbook)},
        {'path': os.path.join('templates', 'a.j2'), 'sha256': _sha(template)},
    ]


def test_the_epoch_is_the_hosts_variable_else_the_runs_environment(monkeypatch):
    same = lambda value: value  # noqa: E731 (the vars are already templated here)
    monkeypatch.delenv('SOURCE_DATE_EPOCH', raising=False)
    assert _source_date_epoch({}, same) is None
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '1700000000')
    assert _source_date_epoch({}, same) == ('1700000000', 'SOURCE_DATE_EPOCH')
    assert _source_date_epoch({'strata_source_date_epoch': 42}, same) == (42, 'strata_source_date_epoch')
    monkeypatch.setenv('SOURCE_DATE_EPOCH', '')
    assert _source_date_epoch({}, same) is None


def test_a_label_names_the_playbook_folder_as_the_inputs_do(tmp_path):
    """A reproducible image's history holds its tasks' labels: the same from any checkout."""
    [task] = described(tmp_path, [{'command': 'cat %s/files/motd' % tmp_path}])
    assert task.label == 'command cat {{ playbook_dir }}/files/motd'
