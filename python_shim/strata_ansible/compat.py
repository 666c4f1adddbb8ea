"""The few names that moved between ansible-core releases."""

try:  # ansible-core 2.19 and later
    from ansible.executor.task_result import _RawTaskResult as TaskResult
except ImportError:  # up to 2.18
    from ansible.executor.task_result import TaskResult

__all__ = ['TaskResult']
