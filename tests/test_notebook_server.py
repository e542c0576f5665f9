"""`inv lab.notebook`: a real JupyterLab on the work folder — locally and in the CPU image — the
lab's notebook saved and executed through the server (Jupyter Server's REST API and the kernel's
websocket, messages made by jupyter_client), the lab page loaded in headless Chromium, and Ctrl-C
leaving no server, kernel or container behind."""

from __future__ import annotations

import ast
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import LABS, ROOT, chromium, needs_docker

LAB = LABS["derivatives"]
SOLUTION = LAB.solution.read_text()
#: A cell the test adds after the task cells: a value computed by the student's f_prime.
VALUE_CELL = 'import mindspore\nprint(f"f′(2) = {float(f_prime(mindspore.Tensor(2.0, mindspore.float32))):.4f}")'


def needs_jupyter():
    try:
        import jupyter_client  # noqa: F401
        import jupyterlab  # noqa: F401
        import websocket  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("JupyterLab is not installed (CI=true: .ci/run installs '.[notebook]')")
        pytest.skip("JupyterLab is not installed: pip install -e '.[notebook]'")


class NotebookTask:
    """`inv lab.notebook ...` as a student starts it; its printed URL parsed."""

    def __init__(self, cwd: Path, *args: str):
        exe = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
        self.proc = subprocess.Popen(
            [exe, "--search-root", str(ROOT), "lab.notebook", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_for("open: ").split("open: ", 1)[1].strip()
        m = re.fullmatch(r"(http://127\.0\.0\.1:(\d+))/lab/tree/(\S+)\?token=([0-9a-f]{48})", self.url)
        assert m, self.url
        self.base, self.port, self.path, self.token = m[1], int(m[2]), m[3], m[4]

    def _pump(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)
        self.lines.put(None)

    def _wait_for(self, text: str, seconds: float = 180) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"never printed {text!r}:\n" + "".join(self.seen))

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            text = reply.read()
        return json.loads(text) if text else {}

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code, with what was printed in ``seen``."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.proc.kill()
            while (line := self.lines.get(timeout=10)) is not None:
                self.seen.append(line)


def filled_in(notebook: dict) -> dict:
    """The lab's notebook with each task cell holding the reference's function, and the value
    cell before the check cell."""
    bodies = {
        node.name: ast.get_source_segment(SOLUTION, node)
        for node in ast.parse(SOLUTION).body
        if isinstance(node, ast.FunctionDef)
    }
    cells = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and source.startswith("def "):
            cell = {**cell, "source": bodies[source.split("(")[0][4:]]}
        if cell["cell_type"] == "code" and source.startswith("from mslab import check"):
            cells.append(
                {"cell_type": "code", "metadata": {}, "source": VALUE_CELL, "outputs": [], "execution_count": None}
            )
        cells.append(cell)
    return {**notebook, "cells": cells}


def execute(task: NotebookTask, kernel: str, code: str, seconds: float = 300) -> dict:
    """Run ``code`` in the server's kernel over its websocket: what it printed, showed and raised."""
    import websocket
    from jupyter_client.jsonutil import json_default
    from jupyter_client.session import Session

    session = Session(key=b"", username="test")
    msg = session.msg(
        "execute_request",
        {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False},
    )
    msg["channel"] = "shell"
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{task.port}/api/kernels/{kernel}/channels?session_id={session.session}",
        header=[f"Authorization: token {task.token}"],
        timeout=seconds,
    )
    got: dict = {"stdout": "", "html": "", "text": "", "error": ""}
    try:
        ws.send(json.dumps(msg, default=json_default))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            reply = json.loads(ws.recv())
            if reply.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                continue
            kind, content = reply["msg_type"], reply["content"]
            if kind == "stream":
                got["stdout"] += content["text"]
            elif kind in ("display_data", "execute_result"):
                got["html"] += content["data"].get("text/html", "")
                got["text"] += content["data"].get("text/plain", "")
            elif kind == "error":
                got["error"] += f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                return got
    finally:
        ws.close()
    raise AssertionError(f"no answer within {seconds} s to {code[:60]!r}: {got}")


def run_the_notebook(task: NotebookTask) -> dict[str, dict]:
    """Save the filled-in notebook through the server (as the browser's Ctrl-S does), start its
    kernel (a session, as opening it does), run every code cell; {cell source: outputs}."""
    path = task.path
    model = task.api("GET", f"/api/contents/{path}?content=1")
    assert model["type"] == "notebook" and model["content"]["metadata"]["mslab"]["lab"] == "derivatives"
    task.api(
        "PUT", f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": filled_in(model["content"])}
    )
    session = task.api("POST", "/api/sessions", {"path": path, "type": "notebook", "kernel": {"name": "python3"}})
    kernel = session["kernel"]["id"]
    outputs = {}
    saved = task.api("GET", f"/api/contents/{path}?content=1")["content"]
    for cell in saved["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            outputs[source] = execute(task, kernel, source)
    return outputs


def screenshot(task: NotebookTask, png: Path, width: int = 1280, height: int = 800) -> str:
    """The lab page in headless Chromium: its screenshot in ``png`` and the DOM it rendered."""
    args = [chromium(), "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    args += [f"--window-size={width},{height}"]
    # JupyterLab renders the notebook asynchronously: a loaded machine may need a longer budget of
    # the page's virtual time before the cells are in the DOM (seen once in CI, at 20 s).
    for budget in (20000, 45000, 90000):
        timed = [*args, f"--virtual-time-budget={budget}"]
        subprocess.run([*timed, f"--screenshot={png}", task.url], check=True, capture_output=True, timeout=240)
        dom = subprocess.run([*timed, "--dump-dom", task.url], check=True, capture_output=True, text=True, timeout=240)
        if "from mslab import check" in dom.stdout:
            break
    print(f"screenshot of {task.url.split('?')[0]}: {png}")
    return dom.stdout


def check_screenshot(png: Path, dom: str) -> None:
    from PIL import Image  # Pillow: a dependency of MindSpore's

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.size == (1280, 800)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "JupyterLab's page, not a blank one"
    # The page JupyterLab rendered is the lab's notebook: its tab, its cells, the lab's title.
    assert "jp-Notebook" in dom and "derivatives.ipynb" in dom
    assert "Derivatives with mindspore.grad" in dom and "from mslab import check" in dom


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo += children.get(p, [])
    return found - {pid}


def gone(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (not zombies)."""
    left = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(p)
    return left


def listeners(port: int) -> set[str]:
    """The addresses with a socket listening on ``port`` (the kernel's /proc/net/tcp and tcp6)."""
    import ipaddress

    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:  # LISTEN
                raw = bytes.fromhex(address)
                # the kernel writes each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                ip = ipaddress.ip_address(raw)
                found.add(str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip))
    return found


def answers(task: NotebookTask) -> bool:
    try:
        task.api("GET", "/api/status")
        return True
    except OSError:
        return False


def test_local_jupyterlab_runs_the_lab_notebook_and_ctrl_c_stops_it(tmp_path):
    needs_jupyter()
    task = NotebookTask(tmp_path, "derivatives")
    try:
        assert task.path == "derivatives.ipynb" and (tmp_path / "work" / "derivatives.ipynb").is_file()
        # localhost only, and the token is needed
        with pytest.raises(urllib.error.HTTPError) as refused:
            task.api("GET", "/api/contents", token="0" * 48)
        assert refused.value.code == 403
        assert listeners(task.port) == {"127.0.0.1"}
        outputs = run_the_notebook(task)
        assert not any(o["error"] for o in outputs.values()), {k[:40]: o["error"] for k, o in outputs.items()}
        assert outputs[VALUE_CELL]["stdout"].strip() == "f′(2) = 10.0000"  # 3·2² − 2
        check = next(o for source, o in outputs.items() if source.startswith("from mslab import check"))
        assert "Score: 12/12" in check["html"], check
        assert (
            "the hidden checks hold 8 more points" in check["html"]
            and "check(&quot;derivatives&quot;, all=True)" in check["html"]
        )
        assert check["html"].count("✅") == len(LAB.tasks)  # a line per task, each passing
        dom = screenshot(task, tmp_path / "lab.png")
        check_screenshot(tmp_path / "lab.png", dom)
        started = descendants(task.proc.pid)
        assert len(started) >= 2, "the server and the notebook's kernel"
    finally:
        code = task.interrupt()
    assert code == 130, "".join(task.seen)
    assert "stopped JupyterLab" in "".join(task.seen)
    assert not answers(task)
    assert not gone(started), "the server and its kernels are gone"


def test_ctrl_c_while_jupyterlab_starts_leaves_nothing_running(tmp_path):
    """SIGINT after the server process exists, before it answers: 130, and it is gone."""
    needs_jupyter()
    exe = shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"
    proc = subprocess.Popen(
        [exe, "--search-root", str(ROOT), "lab.notebook", "derivatives"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        server: set[int] = set()
        while not server and time.monotonic() < deadline and proc.poll() is None:
            for pid in descendants(proc.pid):
                try:
                    if b"jupyterlab" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        server.add(pid)
                except OSError:
                    pass
            time.sleep(0.05)
        assert server, "the server process never started"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    assert "open: " not in out and "stopped JupyterLab" in out, out
    assert not gone(server)


def test_notebook_task_refuses_bad_input_in_one_line(tmp_path):
    from conftest import inv

    (tmp_path / "file").write_text("")
    for args, fragment in (
        (["nope"], "unknown lab 'nope'"),
        (["derivatives", "--dest", "file/work"], "is a file, not a folder"),
        (["derivatives", "--target", "moon"], "unknown target 'moon'"),
        (["derivatives", "--port", "x"], "--port must be a whole number"),
    ):
        result = inv("lab.notebook", *args, cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.mark.docker
def test_jupyterlab_in_the_cpu_image_runs_the_notebook_and_ctrl_c_removes_the_container(tmp_path):
    needs_jupyter()
    from mslab import images
    from mslab.errors import MslabError

    try:
        client = images.docker_client()
    except MslabError as exc:
        needs_docker(str(exc))
    tag = images.notebook_image("cpu")
    if not client.images.list(name=tag):
        needs_docker(f"image {tag} is not built: inv image.build --target cpu --notebook (bash .ci/docker.sh)")
    assert (
        "jupyterlab"
        not in client.containers.run(images.service("cpu")["image"], ["python", "-I", "-m", "pip", "list"], remove=True)
        .decode()
        .lower()
    ), "the grading image stays without JupyterLab"
    task = NotebookTask(tmp_path, "derivatives", "--target", "cpu")
    try:
        (container,) = client.containers.list(
            filters={"label": ["org.mslab.role=notebook", f"org.mslab.run.pid={task.proc.pid}"]}
        )
        assert listeners(task.port) <= {"127.0.0.1"}  # docker-proxy's, where the engine runs one
        ports = container.attrs["HostConfig"]["PortBindings"]
        assert ports == {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(task.port)}]}
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] and container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            task.api("GET", "/api/contents", token="0" * 48)
        assert refused.value.code == 403
        outputs = run_the_notebook(task)
        assert outputs[VALUE_CELL]["stdout"].strip() == "f′(2) = 10.0000", outputs[VALUE_CELL]
        # The image holds no checker: the check cell says where checks run, in one line.
        check = next(o for source, o in outputs.items() if source.startswith("from mslab import check"))
        assert "inv lab.check derivatives --watch" in check["stdout"] + check["error"], check
        # the notebook saved through the server is the student's file on the host
        saved = json.loads((tmp_path / "work" / "derivatives.ipynb").read_text())
        assert any(VALUE_CELL in "".join(c["source"]) for c in saved["cells"])
        dom = screenshot(task, tmp_path / "lab.png")
        check_screenshot(tmp_path / "lab.png", dom)
    finally:
        code = task.interrupt()
    assert code == 130, "".join(task.seen)
    assert not client.containers.list(all=True, filters={"label": f"org.mslab.run.pid={task.proc.pid}"})
    assert not answers(task)
