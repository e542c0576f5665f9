"""The sandbox's child in a target's container (cpu, cuda, ascend): the same interface as
:class:`mslab.sandbox.host.ForkedChild`, with the container's own walls (see
:mod:`mslab.containers`: non-root, read-only root, no network, no capabilities, limits).

This module reads what the container sends — Docker's attach stream, untrusted bytes — and
nothing else: it never creates containers nor looks compose.yaml up. :mod:`mslab.containers`
(outside the trust boundary) creates the container for a target, with the student's source
written by the grader into a folder of its own and mounted read-only, and hands it here
attached but not started. Printed output arrives as the container's stderr stream, kept with
the same cap as a forked child's; the channel is the container's stdin/stdout.
"""

from __future__ import annotations

import select
import struct
from collections.abc import Callable
from typing import Any

from mslab.sandbox.host import OutputTail, send_within


class ContainerChild:
    """The sandbox child inside a fresh container, talking over the attached stdin/stdout.

    ``container``: the Docker SDK's container, created and not started; ``attached``: its attach
    socket (stdin, stdout, stderr, stream); ``cleanup``: what :meth:`kill` calls after removing it
    (the creator's bookkeeping: untrack it, remove the source's folder).
    """

    def __init__(self, container: Any, attached: Any, cleanup: Callable[[], None] = lambda: None):
        self.container, self.socket, self._cleanup = container, attached, cleanup
        self.raw = attached._sock  # the plain socket under the SDK's wrapper
        self.reader = self.raw.fileno()
        self.output = OutputTail()
        self._frames = b""
        container.start()

    def write(self, data: bytes, seconds: float = 30.0) -> None:
        try:
            send_within(self.raw, data, seconds)
        except TimeoutError:
            raise
        except OSError as exc:
            raise BrokenPipeError(str(exc)) from None

    def read(self) -> bytes | None:
        """Whatever stdout bytes have arrived (b"" if only stderr did); None at end of stream.
        Stderr's frames are the student's printed output (:attr:`output`)."""
        if not select.select([self.raw], [], [], 0)[0]:
            return b""
        chunk = self.raw.recv(1 << 20)
        if not chunk:
            return None
        self._frames += chunk
        out = b""
        # Docker multiplexes the streams: 8-byte header (stream, 0, 0, 0, big-endian size).
        while len(self._frames) >= 8:
            stream, size = self._frames[0], struct.unpack(">I", self._frames[4:8])[0]
            if len(self._frames) < 8 + size:
                break
            payload, self._frames = self._frames[8 : 8 + size], self._frames[8 + size :]
            if stream == 1:
                out += payload
            elif stream == 2:
                self.output.feed(payload)
        return out

    def on_idle(self, ready: list[int] | None) -> list[int]:
        return []

    def drain(self) -> None:
        pass

    def measure(self) -> dict:
        return {"container": True}

    def exit_reason(self) -> str:
        try:
            result = self.container.wait(timeout=5)
            self.container.reload()
        except Exception:  # noqa: BLE001 - the engine did not answer: the child is as good as gone
            return "stopped answering"
        if self.container.attrs.get("State", {}).get("OOMKilled"):
            return "was killed for using too much memory"
        return f"exited with code {result.get('StatusCode')}"

    def kill(self) -> None:
        try:
            self.socket.close()
        finally:
            try:
                self.container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._cleanup()
