"""Where a task that missed the cache runs, told to the worker that runs it.

Ansible forks each task's worker from the strategy's process inside
StrategyBase._queue_task (fork on every release from 2.14 to 2.22), so what
the strategy sets here just before it queues a task is what that worker
finds. The worker's connection loader then gives the task the strata
connection, which reads the rest from here. None of it is a variable: the
play templates what stock Ansible gives it."""

import contextlib


class Target:
    def __init__(self, task_uuid, container, scratch, docker_args, runtime):
        self.task_uuid = task_uuid
        self.container = container
        # Never committed: Ansible's temporary files and async jobs, and the module launcher.
        self.scratch = scratch
        # How the docker CLI reaches the engine's Docker (community.docker's connection).
        self.docker_args = docker_args
        # The mounted runtime (`python`, `shell`, `image_shell`), or None.
        self.runtime = runtime
        # The connection Ansible chose for the task, which strata's stands in for.
        self.replaced = None


current = None


@contextlib.contextmanager
def queued(target):
    """`target` is where the task queued meanwhile runs."""
    global current
    current = target
    try:
        yield
    finally:
        current = None


def redirect(connection_loader, name):
    """Makes the connection loader give the connection `name` where a
    worker loads the connection of the task `current` names (the pattern of
    mitogen's strategy, which redirects connection loads the same way)."""
    real = connection_loader.get_with_context

    def get_with_context(plugin_name, *args, **kwargs):
        if current is not None and kwargs.get('task_uuid') == current.task_uuid and plugin_name != 'local':
            current.replaced = plugin_name
            plugin_name = name
        return real(plugin_name, *args, **kwargs)

    connection_loader.get_with_context = get_with_context
