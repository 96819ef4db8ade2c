"""Where the chunks are valued: in this process (``local``) or on a Dask cluster (``dask``).

An engine takes the chunks still to do, as ``(index, batch)`` pairs, maps
:func:`~valuation.revalue.chunk.value_chunk` over them and hands each output back to the
driver (``done(index, batch_lines, output)``), which stages it and records it in the ledger.
Only the driver writes files, so a worker that dies loses nothing but its running task.

Dask. ``--workers N`` starts a local cluster of ``N`` worker processes with one task thread
each and ``NUMBA_NUM_THREADS`` (and the OpenMP and BLAS pools) ``= max(1, CPUs // N)``, so the
workers' kernels do not oversubscribe the machine; ``--scheduler ADDR`` uses a running cluster
(start its workers with ``--nthreads 1`` and ``NUMBA_NUM_THREADS`` set to their share of the
cores). The cluster starts in a background thread (:class:`ClusterStart`) while the driver
reads its inputs: it compiles or loads every kernel into the on-disk cache first, so that
workers on this machine (or sharing ``DPV_CACHE_DIR``) load warm kernels instead of compiling
them, then has each worker load them. The context
(calibration, loans) is scattered once to every worker; each chunk is one task, at most
``2 × workers + 2`` in flight, so the driver's memory stays bounded. When a worker dies the
scheduler runs its tasks again elsewhere; each task's result is taken once, by its chunk
index, so nothing is duplicated or dropped, and the output is byte-identical to the local
engine's (a row depends on its product alone).
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from valuation.exceptions import DpvInputError
from valuation.revalue.chunk import ChunkContext, ChunkOutput, value_chunk

ENGINES = ("local", "dask")
# Thread pools a worker's libraries size from the environment: numba's kernels, and the
# OpenMP / BLAS pools of the market model (LightGBM, scikit-learn).
THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
Done = Callable[[int, pa.RecordBatch, ChunkOutput], None]

LARGE_GRAPH = "Sending large graph"
"""The start of distributed's warning about a task graph of several megabytes."""
MSG_ENGINE = "unknown engine {value!r}; choose one of: local, dask"
MSG_WORKERS = "must be a positive whole number, got {value!r}"
MSG_BOTH = "give either --scheduler or --workers, not both"
MSG_NOT_DASK = "--scheduler and --workers need --engine dask"
MSG_SCHEDULER = "cannot reach the Dask scheduler: {detail}"


def check_engine(engine: str, scheduler: str | None, workers: int | None) -> None:
    """Refuse an engine or cluster option that cannot work (before any work starts)."""
    if engine not in ENGINES:
        raise DpvInputError(MSG_ENGINE.format(value=engine), field="--engine")
    if engine == "local" and (scheduler is not None or workers is not None):
        raise DpvInputError(MSG_NOT_DASK, field="--engine")
    if scheduler is not None and workers is not None:
        raise DpvInputError(MSG_BOTH, field="--scheduler")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise DpvInputError(MSG_WORKERS.format(value=workers), field="--workers")


def run_local(
    pending: Iterator[tuple[int, pa.RecordBatch]], context: ChunkContext, done: Done
) -> None:
    """Value the chunks one after the other in this process (the kernels use its threads)."""
    for index, batch in pending:
        done(index, batch, value_chunk(batch, context))


def worker_threads(workers: int) -> int:
    """Numba threads per worker of a local cluster of ``workers`` processes."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, cpus // workers)


def warm_kernels() -> None:
    """Compile or load every kernel into the on-disk cache (workers then load it warm)."""
    from valuation.kernels.registry import warmup_all

    warmup_all()


def _warm_worker() -> int:
    """Make a worker ready before its first task (run by ``Client.run``).

    It loads the kernels and imports what unpickling the context needs (the market model's
    libraries: scikit-learn and LightGBM), which would otherwise hold up its first chunk.
    """
    import lightgbm  # noqa: F401

    import models  # noqa: F401
    import valuation.methods.market_model  # noqa: F401

    warm_kernels()
    return os.getpid()


def open_client(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """Return ``(client, cluster)``: a new local cluster (``cluster`` set) or a running one."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise DpvInputError(MSG_SCHEDULER.format(detail=exc), field="--scheduler") from None
    n = workers or 2
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={name: str(worker_threads(n)) for name in THREAD_VARIABLES},
    )
    return Client(cluster), cluster


class ClusterStart:
    """A Dask cluster made ready in a background thread while the driver reads its inputs.

    Started, it warms the kernel cache (:func:`warm_kernels`), opens the client
    (:func:`open_client`) and has every worker load the kernels, all beside the driver's own
    work (hashing the portfolio, reading the loans and the calibration) instead of after it.
    A context manager: leaving it closes the client and the cluster, whether the run
    succeeded, failed a check or was interrupted; :meth:`client` waits for the start and
    re-raises its error (an unreachable ``--scheduler`` is a :class:`DpvInputError`).
    """

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        import importlib
        from concurrent.futures import ThreadPoolExecutor

        from valuation.kernels.registry import WARMUP_MODULES

        # the thread's imports happen here first: two threads importing one package at once
        # (numba's modules import each other) may see a module half initialised
        for name in (*WARMUP_MODULES, "distributed"):
            importlib.import_module(name)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpv-cluster")
        self._future = pool.submit(_start_cluster, scheduler, workers)
        pool.shutdown(wait=False)
        self._closed = False

    def client(self) -> Any:
        """Return the client of the started cluster (waiting for it)."""
        return self._future.result()[0]

    def close(self) -> None:
        """Close the client and the cluster (once; nothing when the start failed)."""
        if self._closed:
            return
        self._closed = True
        try:
            client, cluster = self._future.result()
        except BaseException:  # the start failed: nothing to close, its error is reported
            return
        _close(client, cluster)

    def __enter__(self) -> ClusterStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(client: Any, cluster: Any) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


def _start_cluster(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    warm_kernels()
    client, cluster = open_client(scheduler, workers)
    try:
        client.run(_warm_worker)
    except BaseException:
        _close(client, cluster)
        raise
    return client, cluster


def run_dask(
    pending: Iterator[tuple[int, pa.RecordBatch]],
    context: ChunkContext,
    done: Done,
    client: Any,
) -> None:
    """Value the chunks as tasks of ``client``'s cluster, at most ``2 × workers + 2`` at once."""
    from distributed import as_completed

    shared = client.scatter(context, broadcast=True, hash=False)
    n_workers = max(1, len(client.scheduler_info()["workers"]))
    limit = 2 * n_workers + 2
    token = uuid.uuid4().hex[:12]
    in_flight: dict[Any, tuple[int, pa.RecordBatch]] = {}
    queue = as_completed(loop=client.loop)

    def submit_next() -> bool:
        for index, batch in pending:
            with warnings.catch_warnings():
                # a chunk travels with its task by design (one chunk's rows, once): the
                # warning that a graph is large speaks of graphs that repeat their data
                warnings.filterwarnings("ignore", message=LARGE_GRAPH, category=UserWarning)
                future = client.submit(
                    value_chunk, batch, shared, key=f"dpv-revalue-{token}-{index}",
                    pure=False,
                )  # fmt: skip
            in_flight[future] = (index, batch)
            queue.add(future)
            return True
        return False

    for _ in range(limit):
        if not submit_next():
            break
    for future in queue:
        index, batch = in_flight.pop(future)
        output = future.result()
        future.release()
        done(index, batch, output)
        submit_next()


__all__ = [
    "ENGINES",
    "ClusterStart",
    "check_engine",
    "open_client",
    "run_dask",
    "run_local",
    "warm_kernels",
    "worker_threads",
]
