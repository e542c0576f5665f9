"""SIGINT and SIGTERM, the same way for every command that runs student code: `inv grade`,
`inv lab.check` (and its ``--watch``), `inv lab.notebook`, and the grading workers.

* In the command's own process, :class:`Stops` turns either signal into KeyboardInterrupt (main
  thread only) and says afterwards whether one came (:attr:`Stops.seen`): pytest swallows the
  KeyboardInterrupt it gets and returns what it had, which must never count as a score.
* ``hold=True`` (the grader) blocks both signals — held back, not lost — until :func:`release`:
  threads and worker processes started meanwhile inherit the block, so Ctrl-C reaches only the
  main thread, once everything it must clean up exists (never a worker in its interpreter's
  start-up, never a half-started pool). A signal still held when the block ends after the run
  is dropped: there is nothing left to stop.
* A worker process (:func:`note_in_worker`) only notes the signal: whatever it finishes from then
  on may have been cut short, so it is not recorded; the grader ends the worker.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from multiprocessing import resource_tracker

STOPS = (signal.SIGINT, signal.SIGTERM)

_held: list = []  # the signal mask to go back to at release()


class Stops:
    """While inside, SIGINT and SIGTERM raise KeyboardInterrupt; ``seen``: the signals that came."""

    def __init__(self, hold: bool = False):
        self.hold = hold
        self.seen: list[int] = []
        self.before: dict = {}

    def __enter__(self) -> Stops:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only: nothing to install here
        self.before = {sig: signal.signal(sig, self._stop) for sig in STOPS}
        if self.hold:
            # multiprocessing's resource tracker, when it starts, unblocks SIGINT and SIGTERM
            # behind our back (resource_tracker.ensure_running): start it first.
            resource_tracker.ensure_running()
            _held[:] = [signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)]
        return self

    def _stop(self, signum, frame) -> None:
        self.seen.append(signum)
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if not self.before:
            return
        late: list[int] = []
        for sig in STOPS:  # a signal still held back comes after the run ended: nothing to stop
            signal.signal(sig, lambda signum, frame: late.append(signum))
        release()
        for sig, handler in self.before.items():
            signal.signal(sig, handler)


def release() -> None:
    """Let SIGINT and SIGTERM through again (one held back is delivered now); nothing when none
    is held."""
    if _held:
        signal.pthread_sigmask(signal.SIG_SETMASK, _held.pop())


def ignore() -> None:
    """From now on both signals are ignored: a second Ctrl-C must not cut a cleanup short."""
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)


def note_in_worker(note: Callable[[], None]) -> None:
    """In a worker process: a signal calls ``note()`` and nothing else (Ctrl-C reaches the whole
    process group; the worker waits for the grader to end it)."""
    for sig in STOPS:
        signal.signal(sig, lambda signum, frame: note())
