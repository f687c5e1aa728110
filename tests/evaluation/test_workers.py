from mgselect_node.evaluation.workers import map_jobs

CLOSED: list[int] = []


class Doubler:
    """A stand-in evaluator: built once per process, closed at the end of an in-process run."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def close(self) -> None:
        CLOSED.append(self.offset)


def double(worker: Doubler, job: int) -> int:
    return 2 * job + worker.offset


def test_in_process_keeps_job_order_and_closes_the_evaluator():
    CLOSED.clear()
    assert list(map_jobs(Doubler, 1, [3, 1, 2], double)) == [7, 3, 5]
    assert CLOSED == [1]


def test_spawned_workers_give_the_same_results_in_job_order():
    assert list(map_jobs(Doubler, 1, list(range(6)), double, workers=2)) == [1, 3, 5, 7, 9, 11]
