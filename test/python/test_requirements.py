"""The fix strata names when Ansible's Python lacks its libraries depends on
how that Python was installed."""

from strata_ansible.requirements import install_command


def test_pipx_gets_an_inject_into_its_venv():
    command = install_command(['msgpack', 'websocket'], '/root/.local/pipx/venvs/ansible-core/bin/python',
                              '/root/.local/pipx/venvs/ansible-core', '/usr')
    assert command == 'pipx inject ansible-core msgpack websocket-client'


def test_a_virtualenv_gets_its_own_pip():
    command = install_command(['websocket'], '/srv/venv/bin/python', '/srv/venv', '/usr')
    assert command == '/srv/venv/bin/python -m pip install websocket-client'


def test_the_system_python_gets_debian_packages():
    assert install_command(['msgpack'], '/usr/bin/python3', '/usr', '/usr') == 'apt-get install python3-msgpack'


def test_another_python_gets_pip():
    assert install_command(['msgpack'], '/opt/py/bin/python3', '/opt/py', '/opt/py') == '/opt/py/bin/python3 -m pip install msgpack'
