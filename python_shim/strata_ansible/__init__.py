"""The Ansible side of strata: a strategy mixin that asks the strata engine,
for every task of an image host, whether the task's layer is already cached.

It knows Ansible and nothing of Docker: the engine answers with a stored
result to replay or a container name to run the task in. What differs
between ansible-core releases lives in `compat`, which also refuses a
release that is too old.
"""

from . import compat  # noqa: F401 - checks the ansible-core release on import
from .requirements import check_python_libraries

check_python_libraries()
