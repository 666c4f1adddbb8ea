# strata: how a task that missed the cache reaches its build container.
# See README.md in the strata package; the strategy sets it, not an inventory.

DOCUMENTATION = '''
    name: strata
    short_description: runs a task's commands in the build container strata's engine started for it
    description:
        - The connection the strata strategy gives each task that missed the
          cache. The engine runs the task's commands in the build container,
          as C(docker exec -i) would, without starting a docker CLI process
          for each.
        - A command whose privilege escalation waits for a password prompt, a
          file over 64 MiB put into the container, a file fetched from it, and
          a command or path that is not UTF-8 go through community.docker's
          docker connection instead.
    author: strata
    options:
      remote_addr:
        description: The build container, as the engine named it.
        vars:
          - name: ansible_strata_container
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
      docker_extra_args:
        description: How the docker CLI reaches the engine's Docker, for what goes through community.docker's connection.
        default: ''
        vars:
          - name: ansible_docker_extra_args
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

from strata_ansible import engine, protocol  # noqa: E402
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

    @property
    def _container(self):
        return self.get_option('remote_addr')

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
        return self._run([self._play_context.executable, '-c', cmd], in_data or b'')

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
        code, stdout, stderr = self._run([self._play_context.executable, '-c', script], data)
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
                                    'docker_extra_args': self.get_option('docker_extra_args')})
            cli.set_become_plugin(self.become)
            self._docker_cli = cli
        return self._docker_cli


def _is_utf8(text):
    try:
        to_text(text, errors='surrogate_or_strict').encode('utf-8')
    except UnicodeError:
        return False
    return True


def _absolute(path):
    """Where a relative path goes: under / (there may be no home directory), as community.docker puts it."""
    return os.path.normpath(path if path.startswith(os.path.sep) else os.path.join(os.path.sep, path))
