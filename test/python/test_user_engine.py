"""The per-user engine: where it lives, which builds share one, and that two
builds starting at once start one engine. Docker is pointed nowhere: an
engine starts and listens without it."""

import os
import signal
import stat
import threading
import time

import pytest

from strata_ansible import engine as engine_module
from strata_ansible import user_engine
from strata_ansible.engine import EngineError


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_RUNTIME_DIR', str(tmp_path))
    monkeypatch.setenv('DOCKER_HOST', 'unix:///nonexistent/docker.sock')
    yield tmp_path / 'strata'
    for pid_file in (tmp_path / 'strata').glob('engine-*.pid') if (tmp_path / 'strata').exists() else ():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass


def test_the_directory_is_the_users_alone(runtime):
    path = user_engine.runtime_dir()
    assert path == str(runtime)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    os.chmod(path, 0o755)
    with pytest.raises(EngineError, match='chmod 700'):
        user_engine.runtime_dir()


def test_builds_with_other_engine_settings_get_another_engine():
    base = {'DOCKER_HOST': 'unix:///a.sock'}
    assert user_engine.engine_key(base) == user_engine.engine_key(dict(base, ANSIBLE_FORCE_COLOR='1'))
    for name, value in [('DOCKER_HOST', 'tcp://b:2375'), ('STRATA_CACHE_REPO', 'r:5000/c'), ('STRATA_SECRET', 's'), ('XDG_DATA_HOME', '/d')]:
        assert user_engine.engine_key(dict(base, **{name: value})) != user_engine.engine_key(base), name


def test_two_builds_starting_at_once_start_one_engine_and_the_next_reuses_it(runtime):
    engines = []
    threads = [threading.Thread(target=lambda: engines.append(user_engine.UserEngine('node', 30))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pids = list(runtime.glob('engine-*.pid'))
    assert len(pids) == 1, 'one engine'
    started = [e for e in engines if e._proc is not None]
    assert len(started) == 1, 'started by one of the two builds'
    assert engines[0].address == engines[1].address and engines[0].token == engines[1].token
    # Its token works: the engine answers hello, here with Docker's absence (not a refused token).
    with pytest.raises(EngineError, match='cannot reach the Docker daemon'):
        engine_module.EngineClient(engines[0].address, engines[0].token, engines[0].why_lost)
    began = time.monotonic()
    later = user_engine.UserEngine('node', 30)
    assert later._proc is None and time.monotonic() - began < 0.5, 'a later build connects to the running engine'
