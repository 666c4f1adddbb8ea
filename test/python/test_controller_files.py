import hashlib
import os
import shutil

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import add_all_plugin_dirs

from strata_ansible.controller_files import file_inputs


@pytest.fixture
def project(tmp_path):
    files = tmp_path / 'files'
    (files / 'tree' / 'sub').mkdir(parents=True)
    (files / 'a.txt').write_text('alpha\n')
    (files / 'tree' / 'one').write_text('1\n')
    (files / 'tree' / 'sub' / 'two').write_text('2\n')
    templates = tmp_path / 'templates'
    templates.mkdir()
    (templates / 'conf.j2').write_text('port={{ port }}\nrun={{ template_run_date }}\n')
    return tmp_path


def inputs(project, action, args, task_vars=None):
    loader = DataLoader()
    loader.set_basedir(str(project))
    return file_inputs(action, args, [str(project)], dict(task_vars or {}), loader)


def test_a_copied_file_counts_by_content_under_its_given_name(project):
    [entry] = inputs(project, 'ansible.builtin.copy', {'src': 'a.txt', 'dest': '/a'})
    assert entry['arg'] == 'src' and entry['path'] == 'a.txt'
    assert entry['sha256'] == hashlib.sha256(b'alpha\n').hexdigest()


def test_a_copied_tree_gives_one_sorted_entry_per_file_and_directory(project):
    entries = inputs(project, 'copy', {'src': 'tree/', 'dest': '/t'})
    assert [e['path'] for e in entries] == ['tree/', 'tree/one', 'tree/sub/', 'tree/sub/two']


def test_an_empty_directory_counts(project):
    before = inputs(project, 'copy', {'src': 'tree', 'dest': '/t'})
    (project / 'files' / 'tree' / 'empty').mkdir()
    assert inputs(project, 'copy', {'src': 'tree', 'dest': '/t'}) != before


def test_a_linked_file_counts_by_what_it_points_to(project):
    (project / 'shared.txt').write_text('v1\n')
    os.symlink(project / 'shared.txt', project / 'files' / 'tree' / 'link')
    before = inputs(project, 'copy', {'src': 'tree', 'dest': '/t'})
    (project / 'shared.txt').write_text('v2\n')
    assert inputs(project, 'copy', {'src': 'tree', 'dest': '/t'}) != before
    not_followed = inputs(project, 'copy', {'src': 'tree', 'dest': '/t', 'local_follow': False})
    (project / 'shared.txt').write_text('v3\n')
    assert inputs(project, 'copy', {'src': 'tree', 'dest': '/t', 'local_follow': False}) == not_followed


def test_content_counts_but_mtime_and_location_do_not(project, tmp_path_factory):
    before = inputs(project, 'copy', {'src': 'tree', 'dest': '/t'})
    os.utime(project / 'files' / 'tree' / 'one', (1, 1))
    assert inputs(project, 'copy', {'src': 'tree', 'dest': '/t'}) == before
    elsewhere = tmp_path_factory.mktemp('elsewhere') / 'checkout'
    shutil.copytree(project, elsewhere)
    assert inputs(elsewhere, 'copy', {'src': 'tree', 'dest': '/t'}) == before
    (project / 'files' / 'tree' / 'one').write_text('changed\n')
    assert inputs(project, 'copy', {'src': 'tree', 'dest': '/t'}) != before


@pytest.mark.parametrize('src', ['a.txt', 'tree'])
def test_mode_counts_only_when_the_copy_preserves_it(project, src):
    plain = inputs(project, 'copy', {'src': src, 'dest': '/a'})
    preserved = inputs(project, 'copy', {'src': src, 'dest': '/a', 'mode': 'preserve'})
    os.chmod(project / 'files' / src, 0o700)
    assert inputs(project, 'copy', {'src': src, 'dest': '/a'}) == plain, 'a chmod on the controller rebuilt a 0644 copy'
    assert inputs(project, 'copy', {'src': src, 'dest': '/a', 'mode': 'preserve'}) != preserved


def test_files_on_the_remote_side_are_not_read(project):
    assert inputs(project, 'copy', {'src': '/etc/passwd', 'dest': '/a', 'remote_src': True}) == []
    assert inputs(project, 'assemble', {'src': '/etc/conf.d', 'dest': '/a'}) == []
    assert inputs(project, 'copy', {'content': 'x', 'dest': '/a'}) == []
    assert inputs(project, 'unarchive', {'src': 'https://example.com/a.tgz', 'dest': '/a'}) == []
    assert inputs(project, 'unarchive', {'src': 'a.txt', 'dest': '/a', 'copy': False}) == [], 'the older remote_src'
    assert inputs(project, 'uri', {'url': 'http://x', 'src': 'a.txt', 'remote_src': True}) == []
    assert inputs(project, 'command', {'_raw_params': 'true', 'chdir': str(project)}) == []
    assert inputs(project, 'file', {'path': str(project / 'files' / 'a.txt')}) == []


def test_a_template_counts_as_rendered_with_the_hosts_vars(project):
    one = inputs(project, 'template', {'src': 'conf.j2', 'dest': '/c'}, {'port': 80})
    again = inputs(project, 'template', {'src': 'conf.j2', 'dest': '/c'}, {'port': 80})
    other = inputs(project, 'template', {'src': 'conf.j2', 'dest': '/c'}, {'port': 81})
    assert one == again, 'template_run_date must not make every render differ'
    assert one != other


def test_a_script_counts_by_its_first_word(project):
    (project / 'files' / 'setup.sh').write_text('#!/bin/sh\necho hi\n')
    [entry] = inputs(project, 'script', {'_raw_params': 'setup.sh --flag'})
    assert entry['path'] == 'setup.sh'


def test_uri_reads_its_body_from_the_controller(project):
    [entry] = inputs(project, 'ansible.builtin.uri', {'url': 'http://x', 'src': 'a.txt'})
    assert entry['sha256'] == hashlib.sha256(b'alpha\n').hexdigest()


def test_an_action_plugin_outside_ansible_core_counts_every_source_its_args_name(project):
    # As ansible.posix.patch's action plugin reads `src` on the controller.
    (project / 'action_plugins').mkdir()
    (project / 'action_plugins' / 'probe_reader.py').write_text('from ansible.plugins.action import ActionBase\n'
                                                                 'class ActionModule(ActionBase):\n    pass\n')
    add_all_plugin_dirs(str(project))
    (project / 'files' / 'fix.patch').write_text('--- a\n+++ b\n')
    entries = inputs(project, 'probe_reader', {'src': 'fix.patch', 'dest': '/etc/x', 'basedir': '/'})
    assert [(e['arg'], e['path']) for e in entries] == [('src', 'fix.patch')]
    assert inputs(project, 'probe_reader', {'src': 'fix.patch', 'dest': '/x', 'remote_src': True}) == []
    # An absolute directory counts only under a source's name; a file under any.
    tree = str(project / 'files' / 'tree')
    assert [e['path'] for e in inputs(project, 'probe_reader', {'src': tree + '/', 'dest': '/'})][:1] == [tree + '/']
    assert inputs(project, 'probe_reader', {'src': '/nonexistent', 'dest': tree}) == []
