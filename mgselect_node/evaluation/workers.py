"""Running episode jobs in this process or over spawned worker processes, one evaluator per process.

Both evaluators (closed-loop success, real-time execution) load a policy and a simulator once and then run
many episodes: the worker object is built once per process by the pool initializer, never per job.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_PROCESS: dict[str, Any] = {}   # this worker process's evaluator and how to run one job on it


def _init(factory: Callable[[Any], Any], settings: Any, run: Callable[[Any, Any], Any]) -> None:
    _PROCESS["worker"], _PROCESS["run"] = factory(settings), run


def _job(job: Any) -> Any:
    return _PROCESS["run"](_PROCESS["worker"], job)


def map_jobs(factory: Callable[[Any], Any], settings: Any, jobs: Sequence[Any], run: Callable[[Any, Any], Any],
             workers: int = 1) -> Iterator[Any]:
    """`run(factory(settings), job)` for every job, results in job order. workers <= 1: in this process
    (the evaluator is closed at the end); otherwise over `workers` spawned processes (never forked: the parent
    may hold torch threads). `factory` and `run` must be module-level (picklable)."""
    if workers <= 1:
        worker = factory(settings)
        try:
            for job in jobs:
                yield run(worker, job)
        finally:
            worker.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init,
                             initargs=(factory, settings, run)) as pool:
        yield from pool.map(_job, jobs)
