# strata: how a task that missed the cache reaches its build container.
# See README.md in the strata package; the strategy sets it, not an inventory.

DOCUMENTATION = '''
    name: strata
    short_description: runs a task's commands in the build container strata's engine started for it
    description:
        - The connection the strata strategy gives each task that missed the
          cache, in place of the one Ansible chose, without a variable; the
          worker finds the build container, its scratch directory and the
          mounted runtime where the strategy left them (strata_ansible/target.py).
          The engine runs the task's commands in the build container,
          as C(docker exec -i) would, without starting a docker CLI process
          for each.
        - Ansible's temporary files and async jobs go to the scratch
          directory, which is never committed, and Python modules run
          through strata's module launcher there, with the interpreter
          Ansible chose (discovered, or the user's), or the mounted runtime's.
        - A command whose privilege escalation waits for a password prompt, a
          file over 64 MiB put into the container, a file fetched from it, and
          a command or path that is not UTF-8 go through community.docker's
          docker connection instead.
    author: strata
    options:
      remote_user:
        description: The user to run commands as; the container's own when unset.
        vars:
          - name: ansible_user
          - name: ansible_docker_user
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        cli:
          - name: user
        keyword:
          - name: remote_user
      pipelining:
        description: Modules always go to the container on stdin.
        type: boolean
        default: true
'''

import os
import shlex
import sys

from ansible.errors import AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import BUFSIZE, ConnectionBase, ensure_connect
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from strata_ansible import engine, launcher, protocol, target  # noqa: E402
from strata_ansible.build import DOCKER_CLI_CONNECTION  # noqa: E402

display = Display()

# A file up to this size goes into the container in one frame; a bigger one
# through the docker CLI, which streams it.
INLINE_PUT_BYTES = 64 * 1024 * 1024


class Connection(ConnectionBase):
    """Commands over the engine's connection to Docker; what cannot go in
    one request, over community.docker's connection to the same container."""

    transport = 'strata'
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._docker_cli = None
        self._target = target.current
        runtime = self._target.runtime
        # The shell plugin Ansible chose, with strata's scratch directory and module launcher.
        self._shell = _InBuildContainer.over(self._shell, self._target.scratch)
        # The shell commands run with: the image's, else the mounted runtime's.
        self._runtime_shell = runtime['shell'] if runtime and not runtime['image_shell'] else None
        if runtime:
            # Modules run with the mounted runtime's Python whatever the
            # interpreter; with it named as configured (not a variable),
            # Ansible looks for no Python in an image that has none.
            os.environ.setdefault('ANSIBLE_PYTHON_INTERPRETER', runtime['python'])

    @property
    def _container(self):
        return self._target.container

    def set_options(self, *args, **kwargs):
        super().set_options(*args, **kwargs)
        if self._runtime_shell and self._play_context.executable != self._runtime_shell:
            # TaskExecutor's play context, which the action reads for the shell
            # its commands and modules use: the image has none.
            self._image_executable = self._play_context.executable
            self._play_context.executable = self._runtime_shell

    def update_vars(self, variables):
        # The connection variables a task's action sees are those of the
        # connection Ansible chose, as in a run without strata.
        variables.setdefault('ansible_connection', self._target.replaced)
        if self._runtime_shell:
            variables.setdefault('ansible_shell_executable', self._image_executable)
        super().update_vars(variables)

    def _user(self):
        return self.get_option('remote_user') or self._play_context.remote_user

    def _connect(self):
        self._connected = True
        return self

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        # Answering a password prompt needs the output as it comes; bytes that are
        # not UTF-8 have no place in a frame's text.
        if (self.become and self.become.expect_prompt() and sudoable) or not _is_utf8(cmd):
            return self._cli().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv('EXEC %s' % cmd, host=self._container)
        return self._run([self._executable(), '-c', cmd], in_data or b'')

    @ensure_connect
    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        source = to_bytes(in_path, errors='surrogate_or_strict')
        if not os.path.exists(source):
            raise AnsibleFileNotFound('file or module does not exist: %s' % to_native(in_path))
        if os.path.getsize(source) > INLINE_PUT_BYTES or not _is_utf8(out_path):
            return self._cli().put_file(in_path, out_path)
        display.vvv('PUT %s TO %s' % (in_path, out_path), host=self._container)
        with open(source, 'rb') as f:
            data = f.read()
        # As community.docker's connection writes it: dd, which any image that runs modules has.
        count = '' if data else ' count=0'
        script = 'dd of=%s bs=%s%s' % (shlex.quote(_absolute(out_path)), BUFSIZE, count)
        code, stdout, stderr = self._run([self._executable(), '-c', script], data)
        if code != 0:
            raise AnsibleError('failed to transfer file %s to %s:\n%s\n%s' % (to_native(in_path), to_native(out_path),
                                                                            to_native(stdout), to_native(stderr)))

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        return self._cli().fetch_file(in_path, out_path)

    def reset(self):
        self.close()

    def close(self):
        engine.close_commands_client()
        if self._docker_cli is not None:
            self._docker_cli.close()
        self._connected = False

    def _executable(self):
        return self._runtime_shell or self._play_context.executable

    def _run(self, command, stdin):
        frame = protocol.exec_command(self._container, [to_text(part, errors='surrogate_or_strict') for part in command],
                                      self._user(), to_bytes(stdin, errors='surrogate_or_strict'))
        reply = engine.commands_client().request(frame)
        return reply['exit_code'], reply['stdout'], reply['stderr']

    def _cli(self):
        """community.docker's connection to the same container, as the same user."""
        if self._docker_cli is None:
            cli = connection_loader.get(DOCKER_CLI_CONNECTION, self._play_context, None)
            cli.set_options(direct={'remote_addr': self._container, 'remote_user': self._user(),
                                    'docker_extra_args': self._target.docker_args})
            cli.set_become_plugin(self.become)
            self._docker_cli = cli
        return self._docker_cli


class _InBuildContainer:
    """Mixed over the shell plugin Ansible chose for the task: its temporary
    files and async jobs go to the scratch directory, whatever the options
    from the task's variables say, and a Python module runs through the
    module launcher there, which runs the interpreter of the shebang Ansible
    made (or the mounted runtime's Python)."""

    strata_scratch = None

    @staticmethod
    def over(shell, scratch):
        """The same shell plugin (its state too), with this class mixed over its own."""
        cls = type(type(shell).__name__, (_InBuildContainer, type(shell)), {})
        mixed = cls.__new__(cls)
        mixed.__dict__.update(vars(shell))
        mixed.strata_scratch = scratch
        return mixed

    def set_options(self, *args, **kwargs):
        super().set_options(*args, **kwargs)
        for name in ('remote_tmp', 'async_dir'):
            self.set_option(name, self.strata_scratch)

    def build_module_command(self, env_string, shebang, cmd, arg_path=None):
        interpreter = (shebang or '').replace('#!', '', 1).strip()
        if arg_path is not None or not launcher.is_python(interpreter):
            return super().build_module_command(env_string, shebang, cmd, arg_path=arg_path)
        return super().build_module_command(env_string, '#!' + launcher.interpreter(self.strata_scratch), interpreter,
                                            arg_path=cmd.strip() or None)


def _is_utf8(text):
    try:
        to_text(text, errors='surrogate_or_strict').encode('utf-8')
    except UnicodeError:
        return False
    return True


def _absolute(path):
    """Where a relative path goes: under / (there may be no home directory), as community.docker puts it."""
    return os.path.normpath(path if path.startswith(os.path.sep) else os.path.join(os.path.sep, path))
