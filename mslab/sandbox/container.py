"""The sandbox's child in a target's container (cpu, cuda, ascend): the same interface as
:class:`mslab.sandbox.host.ForkedChild`, with the container's own walls (see
:mod:`mslab.containers`: non-root, read-only root, no network, no capabilities, limits).

The student's source is written by the grader into a folder of its own and mounted read-only;
printed output arrives as the container's stderr stream, kept with the same cap as a forked
child's; the channel is the container's stdin/stdout.
"""

from __future__ import annotations

import os
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

    def on_output(self, payload: bytes) -> None:
        self.output.feed(payload)

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
        try:
            os.unlink(self._file)
        except OSError:
            pass
        try:
            os.rmdir(self._folder)
        except OSError:
            pass
