"""The walls as a normal user grades: a grader run by an unprivileged uid gets user namespaces,
and the student is still never uid 0 and still filtered.

As root the same walls are checked by test_walls.py and the hostile corpus; here the grader
itself runs as ``nobody`` (uid 65534) with an interpreter that user can reach. ``nobody`` has no
subordinate uids and no delegated cgroup, so it grades only with ``uid`` and ``cgroup`` allowed
weaker (test_fail_closed.py: refused otherwise, and every wall for a user that has both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # sandboxes under attack: minutes (pytest -m 'not slow' skips them)

NOBODY = 65534
LABS = Path(__file__).resolve().parent.parent / "labs"
PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def ids(): return os.getuid(), os.getgid(), os.getcwd()
def unshare_user():
    return "ok" if libc.unshare(0x10000000) == 0 else errno.errorcode[ctypes.get_errno()]
def write_sysctl():
    try:
        with open("/proc/sys/kernel/hostname", "w") as fh:
            fh.write(open("/proc/sys/kernel/hostname").read())
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]
def grad():
    from mindspore import grad, ops, Tensor
    return float(grad(ops.sin)(Tensor(0.0)).asnumpy())
def keyctl():  # KEYCTL_GET_KEYRING_ID of the user keyring: the shared channel between students
    libc.syscall.restype = ctypes.c_long
    return "ok" if libc.syscall(250, 0, -4, 0) >= 0 else errno.errorcode[ctypes.get_errno()]
def processes():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def sees(path):
    return os.path.exists(path)
def numeric():
    try:
        import mslab.numeric
        return "imported"
    except ImportError:
        return "ImportError"
"""
DRIVER = """
import json, sys
from mslab.sandbox.host import Sandbox, Limits
limits = Limits(load_seconds=60, call_seconds=20, allow_weaker=("uid", "cgroup"))
with Sandbox(sys.argv[1], "probe", limits=limits) as sb:
    out = {name: sb.call(name) for name in ("ids", "unshare_user", "write_sysctl", "grad", "keyctl",
                                            "processes", "numeric")}
    out["sees_labs"] = sb.call("sees", sys.argv[2])
    out["walls"], out["isolation"] = sb.walls, sb.isolation
print(json.dumps(out))
"""


def _interpreter(folder: Path, uid: int = NOBODY, gid: int = NOBODY) -> list[str] | None:
    """A Python that ``uid`` (default ``nobody``) can run, seeing this venv's packages (mindspore, mslab)."""
    site = sysconfig.get_paths()["purelib"]
    candidates = [sys.executable]
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if system.exists():  # the venv's own base may sit in a home folder nobody can enter
        venv = folder / "venv"
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
        own_site = next((venv / "lib").glob("python*/site-packages"))
        (own_site / "mslab_parent.pth").write_text(f"import site; site.addsitedir({site!r})\n")
        candidates.insert(0, str(venv / "bin" / "python"))
    for python in candidates:
        check = subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                python,
                "-I",
                "-c",
                "import subprocess, sys, mindspore, mslab.sandbox.zygote; subprocess.run([sys.executable, '-c', ''], check=True)",
            ],
            capture_output=True,
            cwd=folder,
        )
        if check.returncode == 0:
            return [python]
    return None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become nobody (setpriv)")
def test_a_normal_users_grader_still_walls_the_student_in():
    folder = Path(tempfile.mkdtemp(prefix="mslab-nobody-"))
    try:
        folder.chmod(0o755)
        python = _interpreter(folder)
        assert python, "no interpreter with mindspore that uid 65534 can run"
        (folder / "probe.py").write_text(PROBE)
        (folder / "driver.py").write_text(DRIVER)
        done = subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                *python,
                str(folder / "driver.py"),
                str(folder / "probe.py"),
                str(LABS),
            ],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=300,
            env={"PATH": os.environ["PATH"]},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        got = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / f"mslab-jail-{NOBODY}", ignore_errors=True)
        shutil.rmtree(Path(tempfile.gettempdir()) / f"mslab-scratch-{NOBODY}", ignore_errors=True)
    assert got["ids"] == [1000, 1000, "/sandbox"]  # uid 1000 of a user namespace of its own
    assert got["unshare_user"] == "EPERM"  # seccomp
    assert got["write_sysctl"] in ("EACCES", "EROFS", "EPERM")
    assert got["grad"] == 1.0  # MindSpore works behind the walls
    assert got["keyctl"] == "EPERM" and got["processes"] == [1, 2]  # its init and itself
    assert got["numeric"] == "ImportError" and got["sees_labs"] is False  # no oracle, no checkout
    walls = got["walls"]
    assert walls["uid"] == NOBODY and walls["caps"] == 0
    assert walls["seccomp"] and walls["no_new_privs"] and walls["jail"] and walls["scratch"]
    assert all(walls[f"{ns}_ns"] for ns in ("user", "mount", "pid", "net", "ipc", "uts", "cgroup"))
    # nobody has neither a delegated cgroup nor subordinate uids: the student runs as its uid
    assert walls["cgroup"] == "" and got["isolation"] == "weaker: uid, cgroup"
