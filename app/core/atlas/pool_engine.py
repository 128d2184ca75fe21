"""The embedded engine on every core of this machine: a :class:`~concurrent.futures.ProcessPoolExecutor` (spawn
context) whose initializer opens the model once per worker process, with one torch thread each (N processes of one
thread each, not N processes fighting over N threads each). Nothing to install; each clip is scanned by the same
:func:`~app.core.atlas.build.scan_file` as the in-process engine, so both build the same atlas."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from app.core.atlas.build import ClipResult, ModelSource, scan_file
from app.core.atlas.scan import ScanSettings
from app.core.atlas.topk import FloorSnapshot, TopK
from app.core.errors import EngineError, first_line

if TYPE_CHECKING:
    from app.core.model_runtime import Model
    from app.core.sources import Network

#: Clips handed out per worker at a time: enough to keep every worker busy, few enough that the results waiting to
#: be committed (and the driver's memory) do not grow with the corpus.
IN_FLIGHT_PER_WORKER = 2

# In a worker process: the model its initializer opened and how to scan, or why the model could not be opened.
_worker: tuple[Model | Network, ScanSettings] | str | None = None


def _start_worker(source: ModelSource, settings: ScanSettings, driver: int) -> None:
    global _worker
    _follow_parent(driver)
    import torch

    torch.set_num_threads(1)  # one core per process: the pool is the parallelism
    try:
        _worker = (source.open(), settings)
    except Exception as err:  # said by the first scan as one line: an initializer's own error prints a traceback
        _worker = f"cannot open the model '{source.model}' in a worker: {first_line(err)}"


def _follow_parent(driver: int) -> None:
    """End this worker when the build ``driver`` (its parent's pid) is gone, killed with SIGKILL and nothing left to
    tell it (maybe before this worker started): a pool worker holds both ends of its queue, so it would otherwise
    wait for work forever."""

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="aurascope-pool-parent", daemon=True).start()


def _scan(path: str, sha256: str | None, floor: FloorSnapshot | None) -> ClipResult:
    if not isinstance(_worker, tuple):
        raise EngineError(_worker or "the worker's model was not opened")
    network, settings = _worker
    return scan_file(path, network, settings, device="cpu", floor=floor, sha256=sha256)


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Spawn workers with SIGINT ignored (an ignored signal stays ignored across exec, and Python then leaves it so):
    Ctrl-C reaches the whole foreground group, and only the build should answer it, by shutting the pool down,
    not every worker with a KeyboardInterrupt traceback of its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class PoolEngine:
    """``workers`` processes on this machine (default: one per core), each opening ``source`` once."""

    def __init__(self, source: ModelSource, settings: ScanSettings, *, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise EngineError(f"the pool needs at least 1 worker, not {workers}")
        self.source, self.settings = source, settings
        self.workers = workers or default_workers()

    def scan(
        self, paths: Sequence[str], *, floor: TopK | None = None, hashes: Mapping[str, str] | None = None
    ) -> Iterator[ClipResult]:
        """Results as the workers finish them (any order); at most ``IN_FLIGHT_PER_WORKER`` clips per worker
        outstanding at once. Each clip goes with its hash and the floor as it is when the clip is handed out (a
        snapshot: the workers cannot see the build's top k, which only gets better, so it never skips too much)."""
        if not paths:
            return
        known: Mapping[str, str] = hashes or {}

        def submit(path: str) -> Future[ClipResult]:
            return pool.submit(_scan, path, known.get(path), floor.snapshot() if floor is not None else None)

        workers = min(self.workers, len(paths))
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a process that holds torch's threads
            initializer=_start_worker,
            initargs=(self.source, self.settings, os.getpid()),
        )
        todo = iter(paths)
        running: set[Future[ClipResult]] = set()
        try:
            # A spawn pool starts one worker per submit while none is idle: the first ``workers`` submits start
            # them all (no worker is idle before it has imported torch, seconds later). Only these run with SIGINT
            # ignored, so the build's own Ctrl-C is lost only during those few fork+execs (milliseconds).
            with _workers_ignore_ctrl_c():
                for path in itertools.islice(todo, workers):
                    running.add(submit(path))
            for path in itertools.islice(todo, workers * (IN_FLIGHT_PER_WORKER - 1)):
                running.add(submit(path))
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield self._result(future)
                    path = next(todo, None)
                    if path is not None:
                        running.add(submit(path))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _result(self, future: Future[ClipResult]) -> ClipResult:
        try:
            return future.result()
        except BrokenProcessPool as err:
            raise EngineError(f"a worker of the pool stopped ({first_line(err)}): was it killed?") from None
