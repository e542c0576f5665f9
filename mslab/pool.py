"""A pool of local worker processes with the fault model of the Ray cluster's: each worker holds
one call at a time, so a worker that dies (the kernel's OOM killer, a ``kill -9``) was running
exactly that call; the pool says so, starts another worker, and the caller decides whether to
send the call again.

``concurrent.futures.ProcessPoolExecutor``, used before, breaks as a whole when one worker dies:
every call still queued fails, and its shutdown can wait forever on the workers that are left
(measured: 18 students, ``--jobs 2``, one worker sent SIGKILL 8 s in — the run never ended, its
manager thread spinning in ``terminate_broken``). Here a death costs only the call it held.

Calls and answers cross as text (JSON written by the caller), never as pickled objects: the
workers are the grader's own processes, but nothing they send back is run. A worker starts
with ``multiprocessing``'s ``spawn`` (a fresh interpreter: no threads or state inherited) and
runs ``initializer(*initargs)`` once, then ``handler(text) -> text`` for each call.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import multiprocessing.connection
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


def _serve(conn, initializer: Callable, initargs: tuple, handler: Callable[[str], str]) -> None:
    """A worker's life: set up, then answer calls until the pool closes the pipe."""
    initializer(*initargs)
    while True:
        try:
            text = conn.recv_bytes().decode("utf-8")
        except (EOFError, OSError):
            return
        conn.send_bytes(handler(text).encode("utf-8"))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    held: tuple | None = None  # (key, text) of the call it runs now


class Lost(Exception):
    """A call that no worker answered; ``str()`` says why. ``charged``: the worker holding it
    died (so the call may be what killed it), rather than no worker being left to send it to."""

    def __init__(self, why: str, charged: bool = True):
        super().__init__(why)
        self.charged = charged


class Pool:
    """``size`` workers running ``handler`` after ``initializer(*initargs)``. Calls are queued
    with :meth:`submit` and answered by :meth:`results` as ``(key, answer)`` — or ``(key,
    Lost)`` when the worker running that call died; a dead worker is replaced while there is
    work left (at most ``replacements`` times in all, so that a pool whose every worker dies at
    once ends). ``method``: multiprocessing's start method (``spawn``; bench/bench_start.py
    measures ``forkserver`` against it)."""

    def __init__(
        self, size: int, initializer: Callable, initargs: tuple, handler: Callable[[str], str], method: str = "spawn"
    ):
        self._context: Any = multiprocessing.get_context("forkserver" if method == "forkserver" else "spawn")
        self._start = (initializer, initargs, handler)
        self.workers: list[_Worker] = []
        self.retired: list[_Worker] = []  # let go by shrink(): joined by close()
        self.queue: collections.deque = collections.deque()
        self.lost = 0
        self.replacements = 0
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(theirs, *self._start), daemon=True)
        process.start()
        theirs.close()
        self.workers.append(_Worker(process, ours))

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process.pid is not None]

    def each(self, text: str) -> list[str | Lost]:
        """Send ``text`` to every worker at once and wait for each one's answer (a worker that
        dies answers :class:`Lost`): for what every worker must do before any call."""
        self.ask_each(text)
        return self.answers()

    def ask_each(self, text: str) -> None:
        """Send ``text`` to every worker at once; :meth:`answers` waits for what they answer (a
        worker still starting reads it once it is up: asking early costs the caller nothing)."""
        for worker in self.workers:
            try:
                worker.conn.send_bytes(text.encode("utf-8"))
            except OSError:  # it died starting: its answer is Lost
                pass
            worker.held = ("each", text)

    def answers(self) -> list[str | Lost]:
        """Each worker's answer to what :meth:`ask_each` sent."""
        answers: list[str | Lost] = []
        for worker in list(self.workers):
            try:
                answers.append(worker.conn.recv_bytes().decode("utf-8"))
                worker.held = None
            except (EOFError, OSError):
                answers.append(self._died(worker))
        return answers

    def shrink(self, size: int) -> None:
        """Let idle workers beyond ``size`` go (a class with fewer students than workers): their
        pipes close, so they end as :meth:`close` ends them."""
        while len(self.workers) > max(1, size):
            worker = self.workers.pop()
            with contextlib.suppress(OSError):
                worker.conn.close()
            self.retired.append(worker)

    def submit(self, key: int, text: str) -> None:
        self.queue.append((key, text))

    def resubmit(self, key: int, text: str) -> None:
        """Send a call again, before the others (a lost one)."""
        self.queue.appendleft((key, text))

    def results(self) -> Iterator[tuple[int, str | Lost]]:
        """Answers as they come, until every queued call is answered or lost."""
        while self.queue or any(w.held for w in self.workers):
            for worker in self.workers:
                if worker.held is None and self.queue:
                    key, text = self.queue.popleft()
                    try:
                        worker.conn.send_bytes(text.encode("utf-8"))
                    except OSError:  # it died idle: the call goes back, the death shows below
                        self.queue.appendleft((key, text))
                        continue
                    worker.held = (key, text)
            if not self.workers:  # every worker died and none may be started again
                while self.queue:
                    yield (
                        self.queue.popleft()[0],
                        Lost("no grading worker is left; rerun to grade the rest", charged=False),
                    )
                return
            waits: dict = {w.conn: w for w in self.workers if w.held} | {w.process.sentinel: w for w in self.workers}
            for ready in multiprocessing.connection.wait(list(waits)):
                worker = waits[ready]
                if worker not in self.workers:
                    continue  # both its pipe and its sentinel were ready: handled once
                held = worker.held
                answer: str | Lost
                if ready == worker.process.sentinel:
                    sent = self._sent_before_dying(worker)
                    answer = self._died(worker)
                    if sent is not None:
                        answer = sent
                else:
                    try:
                        answer = worker.conn.recv_bytes().decode("utf-8")
                    except (EOFError, OSError):
                        answer = self._died(worker)
                    else:
                        worker.held = None
                if held is not None:
                    yield held[0], answer

    @staticmethod
    def _sent_before_dying(worker: _Worker) -> str | None:
        """The answer a worker sent just before it ended, if one is waiting in its pipe."""
        try:
            if worker.held is not None and worker.conn.poll():
                return worker.conn.recv_bytes().decode("utf-8")
        except (EOFError, OSError):
            pass
        return None

    def _died(self, worker: _Worker) -> Lost:
        """Take a dead worker out (and start another while there is work); what it held is lost."""
        worker.process.join(5)
        code = worker.process.exitcode
        with contextlib.suppress(OSError):
            worker.conn.close()
        self.workers.remove(worker)
        self.lost += 1
        if (self.queue or worker.held) and self.replacements > 0:
            self.replacements -= 1
            self._spawn()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return Lost(f"the grading worker {how}")

    def close(self, kill: bool = False) -> None:
        """End the workers: at once (``kill``: SIGKILL, for Ctrl-C), else by closing their pipes."""
        for worker in self.workers:
            if kill:
                with contextlib.suppress(Exception):
                    worker.process.kill()
            with contextlib.suppress(OSError):
                worker.conn.close()
        for worker in self.retired:
            if kill:
                with contextlib.suppress(Exception):
                    worker.process.kill()
        for worker in [*self.workers, *self.retired]:
            worker.process.join(10)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
        self.workers, self.retired = [], []
