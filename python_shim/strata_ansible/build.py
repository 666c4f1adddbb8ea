"""One ansible-playbook run as the engine sees it: a build. It outlives the
strategy object (Ansible makes one per play), so a host's chain goes on from
play to play, and its images are tagged once, after the last play."""

import atexit
import collections
import os
import sys
import time
from collections.abc import Mapping

from ansible import constants as C
from ansible import context
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display
from ansible.utils.fqcn import add_internal_fqcns

from . import fetched_files, launcher, protocol, report, target
from .compat import api
from .engine import EngineError, PrivateEngine, connect
from .plain import to_plain
from .provenance import Sources
from .replay import looped, stored_form
from .runtime_inputs import module_interpreter
from .settings import Settings
from .stopwatch import stopwatch
from .task_inputs import SKIPPED, describe, undescribable
from .user_engine import UserEngine

display = Display()

# Tasks that run on the controller whatever the host: they never touch the
# container, so they make no layer and no link; stock Ansible runs them.
CONTROLLER_ACTIONS = frozenset(
    C._ACTION_ALL_INCLUDES + C._ACTION_IMPORT_TASKS + C._ACTION_IMPORT_ROLE + C._ACTION_META + C._ACTION_SET_FACT
    + C._ACTION_INCLUDE_VARS + C._ACTION_DEBUG
    + add_internal_fqcns(('add_host', 'group_by', 'assert', 'fail', 'pause', 'set_stats'))
)

# Actions that aim a connection of their own (rsync's) at the host's
# `ansible_host` as hostvars say, not through Ansible's connection: in a
# build, that name points at the build container, for these tasks alone.
# They know community.docker's connection by name (rsync runs over `docker
# exec`), so they keep it.
TARGET_FROM_HOSTVARS = frozenset(('ansible.posix.synchronize', 'synchronize'))
DOCKER_CLI_CONNECTION = 'community.docker.docker'

# How a task that missed reaches the engine's container: python_shim/connection/strata.py,
# whose commands the engine runs (files too, through an exec: the scratch tmpfs is
# where Docker's archive API cannot reach).
CONNECTION = 'strata'
CONNECTION_PLUGINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'connection')


class Pending:
    """A task sent to the engine whose result has not come yet."""

    def __init__(self, hit, described, playbook_dir):
        self.hit = hit
        self.described = described
        self.playbook_dir = playbook_dir


class Hit:
    def __init__(self, described, result):
        self.described = described
        self.result = result


class Miss:
    def __init__(self, described, task, task_vars, where):
        self.described = described
        self.task = task
        self.task_vars = task_vars
        # The target.Target the task runs in; None: its vars name the container.
        self.where = where


class HostChain:
    def __init__(self, name, runtime):
        self.name = name
        # The runtime the engine mounts for the host's modules (its `python`
        # and `shell`), or None: they run with the image's own Python.
        self.runtime = runtime
        self.hits = 0
        self.misses = 0
        self.saved_seconds = 0.0
        self.layers = 0
        self.layer_bytes = 0


class _StatsListener(CallbackBase):
    """Hooked into the TaskQueueManager's callbacks to hear that the playbook
    has ended (after the recap), which no strategy method is told. A callback
    plugin in all but name: the TaskQueueManager treats it as one."""

    _load_name = 'strata'

    def __init__(self, build):
        super().__init__()
        self._build = build
        # What the plugin loader does for a loaded callback since 2.19: which
        # methods it implements, so the TaskQueueManager calls them.
        if hasattr(self, '_init_callback_methods'):
            self._init_callback_methods()

    def v2_playbook_on_stats(self, stats):
        self._build.finish(stats)


class Build:
    _current = None

    @classmethod
    def for_tqm(cls, tqm):
        """The run's build, made (and its engine started) when the first play's
        strategy is, before its first task."""
        if cls._current is None:
            cls._current = cls()
        cls._current._listen_to(tqm)
        return cls._current

    def __init__(self):
        self.settings = Settings()
        connection_loader.add_directory(CONNECTION_PLUGINS)
        target.redirect(connection_loader, CONNECTION)
        # --check runs read nothing from the cache and keep nothing: each task
        # runs, in check mode, in a container of the base image.
        self.check_mode = bool(context.CLIARGS.get('check'))
        # A run of some tasks only (--tags, --skip-tags, --start-at-task)
        # builds and caches a chain of just those tasks; tagging that as the
        # image would ship an image without the others, so it is not tagged.
        self.partial_run = _partial_run(context.CLIARGS)
        self.hosts = {}
        self._pending = {}
        # Per host, the stored result of a failure Ansible counted against it,
        # waiting: whether it is cached (the host's errors were cleared, as
        # `meta: clear_host_errors` does, and the host went on) or dropped (the
        # host stayed failed) is known only when the host is next heard of.
        self._held = {}
        # The play being run, which knows whether a host is failed now.
        self._iterator = None
        # Per host, the hits the engine said come next (a reply's `ahead`), in order.
        self._ahead = {}
        # What each host's final image's provenance names of the run.
        self._sources = Sources()
        self._client = None
        self._local = None if self.settings.engine else _local_engine(self.settings)
        self._started = time.monotonic()
        self._listening_to = None
        atexit.register(self.close)

    def play_started(self, iterator, inventory, variable_manager, loader):
        """Opens every image host of the play before any task runs, so a bad
        strata_from, strata_image or strata_config stops the build at once."""
        self._iterator = iterator
        play = iterator._play
        for host in inventory.get_hosts(play.hosts, order=play.order):
            if host.name in self.hosts:
                continue
            task_vars = variable_manager.get_vars(play=play, host=host)
            template = lambda value, task_vars=task_vars: api.template(loader, task_vars, value)  # noqa: E731
            base = template(task_vars.get('strata_from'))
            if base:
                self._open(host.name, base, task_vars, template)

    def _listen_to(self, tqm):
        if self._listening_to is not tqm:
            tqm._callback_plugins.append(_StatsListener(self))
            self._listening_to = tqm

    @property
    def client(self):
        if self._client is None:
            with stopwatch.timing('connect'):
                self._client = connect(self.settings, self._local)
        return self._client

    # -- before a task runs -------------------------------------------------

    def plan(self, host, task, task_vars, play_context, loader):
        """None to leave the task to stock Ansible, else a Hit to replay or a
        Miss that says which container of the engine's the task runs in."""
        def template(value):
            return api.template(loader, task_vars, value)

        base = template(task_vars.get('strata_from'))
        if not base:
            return None
        action = task.resolved_action or task.action
        if _runs_on_controller(task, action, host, template):
            return None
        record = self._open(host.name, base, task_vars, template)
        # `_cacheable: false` runs the task and every later one; a task strata
        # cannot replay runs alone, unless it changes a file.
        invalidates = not _cacheable(task_vars, template)
        cacheable = not invalidates
        never_cached = _never_cached(task, action, template)
        if never_cached and not invalidates:
            report.never_cached(host.name, never_cached)
            cacheable = False
        try:
            with stopwatch.timing('describe'):
                described = describe(task, host, task_vars, play_context, loader)
        except Exception as e:  # noqa: BLE001 - any failure to describe, the worker reports it
            # It still runs in the container (where it will most likely fail
            # the same way), but nothing about it can be cached.
            report.uncacheable(host.name, e)
            described, cacheable = undescribable(task, action), False
        if described is SKIPPED:
            return None
        self._settle_held(host.name, keep=not _carries_failure(self._iterator, host))
        self._sources.note(host.name, task, described, task_vars.get('playbook_dir'))
        reply = self._ask(host.name, protocol.task(
            host.name, described.label, described.inputs, lookup=not (self.settings.no_cache or self.check_mode),
            cacheable=cacheable, invalidates=invalidates, secret=described.secret))
        key = (host.name, task._uuid)
        if reply['outcome'] == 'hit':
            record.hits += 1
            record.saved_seconds += reply['saved_seconds']
            self._pending[key] = Pending(True, described, task_vars['playbook_dir'])
            result = protocol.unpack_result(reply['result'])
            if action in fetched_files.ACTIONS:
                result = fetched_files.put_back(result, looped(task), task_vars['playbook_dir'])
            return Hit(described, result)
        record.misses += 1
        self._pending[key] = Pending(False, described, task_vars['playbook_dir'])
        self._show_progress('[%s] %s' % (host.name, described.label))
        task = _undelegated_from_itself(task, host, template)
        if action in TARGET_FROM_HOSTVARS:
            return Miss(described, task, self._synchronize_vars(host, task_vars, reply['container'], reply['scratch']), None)
        runtime = self.hosts[host.name].runtime
        where = target.Target(task._uuid, reply['container'], reply['scratch'], self._docker_args(), runtime)
        return Miss(described, task, task_vars, where)

    def _ask(self, host, frame):
        """The engine's answer to a task: a hit it told of ahead, taken now
        and confirmed by the engine later, or else its reply."""
        digest = protocol.digest(frame)
        ahead = self._ahead.get(host)
        if ahead and ahead[0]['digest'] == digest:
            hit = ahead.popleft()
            self.client.send_ahead(dict(frame, digest=digest, expect=hit['fingerprint']), hit['fingerprint'])
            return dict(hit, outcome='hit')
        reply = self.client.request(dict(frame, digest=digest))
        self._ahead[host] = collections.deque(reply.get('ahead', ()))
        return reply

    def _open(self, host, base, task_vars, template):
        record = self.hosts.get(host)
        if record is None:
            tags = template(task_vars.get('strata_image') or [])
            tags = [tags] if isinstance(tags, str) else list(tags)
            config = to_plain(template(task_vars.get('strata_config')))
            push, squash = (boolean(template(task_vars.get(name, False)), strict=False)
                            for name in ('strata_push', 'strata_squash'))
            python_use = str(template(task_vars.get('strata_python') or 'auto'))
            opened = self.client.request(protocol.open_host(host, str(base), [str(t) for t in tags], config, push, squash,
                                                            python_use, _interpreter(task_vars, template),
                                                            _source_date_epoch(task_vars, template)))
            runtime = opened.get('runtime')
            files = (launcher.scratch_files(runtime['python'], runtime['shell']) if runtime
                     else launcher.scratch_files())
            self.client.request(protocol.scratch_files(host, files))
            record = self.hosts[host] = HostChain(host, runtime)
        return record

    def _docker_args(self):
        return '-H ' + self.client.hello['docker_host']

    def _synchronize_vars(self, host, task_vars, container, scratch):
        """synchronize aims rsync at the host's `ansible_host` and knows
        community.docker's connection by name: for it alone, the task's vars
        name the build container, and it runs over that connection, its
        temporary files in the scratch directory."""
        return dict(task_vars, ansible_connection=DOCKER_CLI_CONNECTION, ansible_docker_host=container,
                    ansible_docker_extra_args=self._docker_args(), ansible_pipelining=True,
                    ansible_remote_tmp=scratch, ansible_async_dir=scratch,
                    hostvars=_HostVarsAt(task_vars['hostvars'], host.name, container))

    # -- after a task ran ---------------------------------------------------

    def is_miss(self, host, task):
        pending = self._pending.get((host.name, task._uuid))
        return pending is not None and not pending.hit

    def task_finished(self, task_result, failed_for_good):
        """Commits, skips or discards what a task that missed did. `failed_for_good`:
        its failure was neither ignored nor rescued (Ansible counted it as a failure)."""
        with stopwatch.timing('after'):
            self._task_finished(task_result, failed_for_good)

    def _task_finished(self, task_result, failed_for_good):
        host, task = api.host_and_task(task_result)
        pending = self._pending.pop((host.name, task._uuid), None)
        if pending is None:
            return
        if pending.hit:
            report.cached(host.name)
            self._show_progress()
            return
        outcome = protocol.DISCARD if self.check_mode else _outcome(task_result)
        stored = to_plain(stored_form(api.result_data(task_result))) if outcome == protocol.COMMIT else None
        if outcome == protocol.COMMIT and failed_for_good:
            self._held[host.name] = stored
            return
        if stored is not None and (task.resolved_action or task.action) in fetched_files.ACTIONS:
            try:
                fetched_files.keep_fetched(stored, looped(task), fetched_files.sources(pending.described.inputs),
                                           pending.playbook_dir)
            except fetched_files.NotKept as e:
                report.not_kept(host.name, str(e))
                outcome, stored = protocol.SKIP, None
        self._task_done(host.name, outcome, stored)

    def _settle_held(self, host, keep):
        """Caches the host's held failure when its errors were cleared (the
        same rescue path then runs on a hit), else drops it."""
        if host in self._held:
            stored = self._held.pop(host)
            self._task_done(host, protocol.COMMIT if keep else protocol.DISCARD, stored if keep else None)

    def _task_done(self, host, outcome, stored):
        reply = self.client.request(protocol.task_done(host, outcome, stored))
        record = self.hosts[host]
        if outcome == protocol.COMMIT:
            record.layers += 1 if reply['new_layer'] else 0
            record.layer_bytes += reply['layer_bytes']
            report.built(host, reply['new_layer'], reply['layer_bytes'], reply['seconds'])
        elif outcome == protocol.SKIP:
            report.skipped(host)
        elif self.check_mode:
            report.checked(host)
        else:
            report.discarded(host)
        self._show_progress()

    # -- after the playbook -------------------------------------------------

    def finish(self, stats):
        """Tags the image of every host that came through, then sums up."""
        report.status.stop()
        if not self.hosts:
            return
        if self.check_mode:
            report.check_mode_summary()
            return
        # Ansible's own outcome for each host: failed or unreachable at the end
        # of the run (a failure rescued, ignored or cleared is not).
        tqm = self._listening_to
        failed = set(tqm._failed_hosts) | set(tqm._unreachable_hosts)
        untagged = False
        try:
            for record in self.hosts.values():
                self._settle_held(record.name, keep=record.name not in failed)
                report.host_summary(record)
                if record.name in failed:
                    report.not_tagged(record.name)
                    continue
                if self.partial_run:
                    report.not_tagged_partial(record.name)
                    untagged = True
                    continue
                reply = self.client.request(protocol.finish_host(record.name, self._provenance_inputs(record.name)))
                report.tagged(record.name, reply['image'], reply['tags'])
                for tag in reply['pushed']:
                    report.pushed(record.name, tag)
            if untagged:
                # DESIGN.md: a host whose image is not tagged makes the run exit non-zero, as a failed one does.
                sys.exit(1)
        except EngineError as e:
            display.error(str(e), wrap_text=False)
            # Raised through the callback machinery on purpose: a build whose
            # image could not be tagged must not exit 0.
            sys.exit(1)
        finally:
            records = self.hosts.values()
            hits, misses = sum(r.hits for r in records), sum(r.misses for r in records)
            report.build_summary(hits, misses, sum(r.saved_seconds for r in records), time.monotonic() - self._started)
            if self.settings.profile:
                display.display(stopwatch.account(hits, misses))

    def _provenance_inputs(self, host):
        """What the image's provenance names of the run; None when a file cannot be read (the image is still tagged)."""
        try:
            return self._sources.for_host(host)
        except OSError as e:
            report.no_provenance_inputs(host, e)
            return None

    def _show_progress(self, running=None):
        report.status.start()
        records = self.hosts.values()
        report.progress(sum(r.hits for r in records), sum(r.misses for r in records),
                        time.monotonic() - self._started, running)

    def close(self):
        report.status.stop()
        connected = self._client is not None
        built = any(r.misses for r in self.hosts.values())
        if connected:
            if built and not isinstance(self._local, PrivateEngine):
                self._end_build()
            self._client.close()
            self._client = None
        if isinstance(self._local, PrivateEngine):
            # A private engine exits by itself once its build's connection
            # closes. Waiting for it matters only when it has containers to
            # remove; a build that started none need not wait for its exit.
            if not connected:
                self._local.stop()
            elif built:
                self._local.wait()
            else:
                self._local.let_go()
        self._local = None

    def _end_build(self):
        """An engine that outlives this run removes its containers before the run ends."""
        try:
            self._client.request(protocol.end_build())
        except EngineError as e:
            display.warning('strata: %s' % e)


def _local_engine(settings):
    """The engine this run uses when STRATA_ENGINE names none: this user's,
    shared with later builds, or with STRATA_PRIVATE_ENGINE one of its own."""
    if settings.private_engine:
        return PrivateEngine(settings.node)
    return UserEngine(settings.node, settings.engine_idle)


class _HostVarsAt(Mapping):
    """hostvars in which one host's `ansible_host` names its build container."""

    def __init__(self, hostvars, host, container):
        self._hostvars = hostvars
        self._host = host
        self._container = container

    def __getitem__(self, name):
        found = self._hostvars[name]
        return _Overlay(found, ansible_host=self._container) if name == self._host else found

    def __iter__(self):
        return iter(self._hostvars)

    def __len__(self):
        return len(self._hostvars)


class _Overlay(Mapping):
    def __init__(self, base, **overrides):
        self._base = base
        self._overrides = overrides

    def __getitem__(self, key):
        return self._overrides[key] if key in self._overrides else self._base[key]

    def __iter__(self):
        return iter(set(self._base) | set(self._overrides))

    def __len__(self):
        return len(set(self._base) | set(self._overrides))


def _runs_on_controller(task, action, host, template):
    if action in CONTROLLER_ACTIONS:
        return True
    if task.delegate_to is not None and template(task.delegate_to) != host.name:
        return True
    return template(task.connection) == 'local'


def _interpreter(task_vars, template):
    """The Python Ansible would run the host's modules with: its
    ansible_python_interpreter when that is a path, else strata's default."""
    named = template(task_vars.get('ansible_python_interpreter') or '')
    return named if isinstance(named, str) and named.startswith('/') else module_interpreter()


def _undelegated_from_itself(task, host, template):
    """The task to run. One delegated to its own host runs in the build
    container like any other; from 2.19 on the worker works out a delegated
    host's connection from the inventory alone, so such a task runs as a copy
    without the delegation (same uuid: its result is the task's)."""
    if not api.WORKER_RESOLVES_DELEGATION or task.delegate_to is None or template(task.delegate_to) != host.name:
        return task
    undelegated = task.copy(exclude_tasks=True)
    undelegated.delegate_to = None
    return undelegated


def _partial_run(cli_args):
    tags = set(cli_args.get('tags') or ()) - {'all'}
    return bool(tags or cli_args.get('skip_tags') or cli_args.get('start_at_task'))


def _source_date_epoch(task_vars, template):
    """The host's SOURCE_DATE_EPOCH: its strata_source_date_epoch, else the
    run's environment; with the name of what set it, for the engine's error."""
    value = template(task_vars.get('strata_source_date_epoch'))
    if value is not None and value != '':
        return to_plain(value), 'strata_source_date_epoch'
    value = os.environ.get('SOURCE_DATE_EPOCH')
    return (value, 'SOURCE_DATE_EPOCH') if value else None


def _cacheable(task_vars, template):
    return boolean(template(task_vars.get('_cacheable', True)), strict=False)


def _outcome(task_result):
    """What to keep of a task that ran: everything it did, as it reported it
    (skipped by the module itself included), unless its host was unreachable."""
    return protocol.DISCARD if api.result_status(task_result)['unreachable'] else protocol.COMMIT


def _never_cached(task, action, template):
    """Why a task cannot be taken from the cache, or None."""
    if action in TARGET_FROM_HOSTVARS and template(task.args.get('mode', 'push')) == 'pull':
        return 'synchronize in pull mode writes files on the controller, which strata does not keep'
    return None


def _carries_failure(iterator, host):
    """Whether the host's failure still stands, where PlayIterator.clear_host_errors
    would clear it (is_failed says no while an always: section runs)."""
    state = iterator.get_state_for_host(host.name)
    while state is not None:
        if state.fail_state:
            return True
        state = state.tasks_child_state or state.rescue_child_state or state.always_child_state
    return False

