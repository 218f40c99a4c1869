"""ctml.dask.io: a task whose workers keep dying (past their memory limit, in practice) is one line that
says what to change, never dask's traceback."""
from __future__ import annotations

import os

import pytest

from ctml.dask.io import client_for
from ctml.errors import UserError

pytestmark = pytest.mark.slow


def _die() -> None:
    os._exit(1)  # what the nanny sees when the OS or the memory limit kills a worker


def test_a_task_whose_workers_die_is_one_line_naming_the_memory_limit_and_the_way_out():
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the first death is final
        with pytest.raises(UserError) as caught:
            with client_for("") as client:  # a real LocalCluster of worker processes
                client.submit(_die, key="profile-row-group-3", pure=False).result(timeout=120)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("compute.engine dask (a LocalCluster): the workers running profile-row-group-3 died")
    assert "`dask worker --memory-limit`" in message and "compute.engine: local" in message
