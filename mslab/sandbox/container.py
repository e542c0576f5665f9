"""The sandbox's child in a target's container (cpu, cuda, ascend): the same interface as
:class:`mslab.sandbox.host.ForkedChild`, with the container's own walls (see
:mod:`mslab.containers`: non-root, read-only root, no network, no capabilities, limits).

The student's source is written by the grader into a folder of its own and mounted read-only;
printed output arrives as the container's stderr stream, kept with the same cap as a forked
child's; the channel is the container's stdin/stdout.
"""

from __future__ import annotations

import os
import select
import struct
import tempfile
from pathlib import Path

from mslab.containers import ContainerProcess
from mslab.sandbox.host import OutputTail, send_within


class ContainerChild(ContainerProcess):
    def __init__(self, target: str, module_name: str, source: bytes, limits):
        self._folder = Path(tempfile.mkdtemp(prefix="mslab-container-"))
        self._file = self._folder / f"{module_name}.py"
        self._file.write_bytes(source)
        self._folder.chmod(0o755)
        self.output = OutputTail()
        try:
            super().__init__(target, module_name, self._file, limits)
        except BaseException:
            self._remove()
            raise

    def read(self) -> bytes | None:
        """Channel bytes that arrived (stdout); stderr frames go to the output tail."""
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

    def write(self, data: bytes, seconds: float = 30.0) -> None:
        try:
            send_within(self.raw, data, seconds)
        except TimeoutError:
            raise
        except OSError as exc:
            raise BrokenPipeError(str(exc)) from None

    def on_idle(self, ready):
        return []

    def drain(self) -> None:
        pass

    def measure(self) -> dict:
        return {"container": True}

    def kill(self) -> None:
        try:
            super().kill()
        finally:
            self._remove()

    def _remove(self) -> None:
        for path in (self._file,):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            os.rmdir(self._folder)
        except OSError:
            pass
