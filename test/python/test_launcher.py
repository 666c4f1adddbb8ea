"""The module launcher strata puts in each build container's scratch
directory, run here with the host's sh and Python: only Ansible's payload
directory goes to the scratch directory; the module sees its usual temp dir,
arguments and environment."""

import json
import os
import stat
import subprocess
import sys

from strata_ansible import launcher

MODULE = '''
import json, os, sys, tempfile
payload = tempfile.mkdtemp(prefix="ansible_ping_payload_")
own = tempfile.mkdtemp(prefix="made_by_the_module_")
print(json.dumps({"payload": payload, "own": own, "tempdir": tempfile.gettempdir(),
                  "argv": sys.argv, "name": __name__, "tmpdir_env": os.environ.get("TMPDIR")}))
os.rmdir(payload)
os.rmdir(own)
'''


def install(scratch):
    for name, text in launcher.scratch_files().items():
        path = scratch / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return launcher.interpreter(str(scratch))


def run(launcher_path, *args, **kwargs):
    """The launcher as a module command runs it: the interpreter Ansible chose first."""
    return subprocess.run([launcher_path, sys.executable, *args], capture_output=True, text=True, check=True, **kwargs).stdout


def test_only_the_payload_directory_goes_to_scratch(tmp_path):
    python = install(tmp_path)
    out = run(python, input=MODULE)
    seen = json.loads(out)
    assert os.path.dirname(seen['payload']) == str(tmp_path)
    assert os.path.dirname(seen['own']) == seen['tempdir'] != str(tmp_path)
    assert seen['name'] == '__main__'
    assert seen['tmpdir_env'] == os.environ.get('TMPDIR')


def test_a_module_file_and_its_arguments_are_passed_as_python_would(tmp_path):
    python = install(tmp_path)
    module = tmp_path / 'AnsiballZ_ping.py'
    module.write_text(MODULE)
    out = run(python, str(module))
    assert json.loads(out)['argv'] == [str(module)]


def test_the_interpreter_can_be_a_command_with_arguments(tmp_path):
    python = install(tmp_path)
    out = subprocess.run([python, '/usr/bin/env %s' % os.path.basename(sys.executable)], input='import sys; print(sys.argv)',
                         capture_output=True, text=True, check=True, env=dict(os.environ, PATH=os.path.dirname(sys.executable)))
    assert out.stdout.strip() == "['']"


def test_the_interpreter_is_one_word_so_any_release_can_quote_it(tmp_path):
    # ansible-core 2.18 quotes the interpreter as a single word (shlex.join).
    assert ' ' not in launcher.interpreter(str(tmp_path))


def test_the_launcher_runs_with_the_shell_it_is_given(tmp_path):
    # An image without /bin/sh runs it with the mounted runtime's shell.
    shell = tmp_path / 'shell'
    shell.write_text('#!/bin/sh\ntouch "%s"\nexec /bin/sh "$@"\n' % (tmp_path / 'used'))
    shell.chmod(0o755)
    scratch = tmp_path / 'scratch'
    scratch.mkdir()
    for name, text in launcher.scratch_files(python='python3', shell=str(shell)).items():
        (scratch / name).write_text(text)
        (scratch / name).chmod(0o755)
    # The mounted runtime's Python runs, whatever the interpreter Ansible chose.
    out = subprocess.run([launcher.interpreter(str(scratch)), '/no/such/python'], input='print("ran")', capture_output=True,
                         text=True, check=True)
    assert out.stdout == 'ran\n'
    assert (tmp_path / 'used').exists()
