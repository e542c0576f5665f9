"""Missing walls fail closed, judged by effect: a grader that cannot raise a
wall refuses in one line and the student's file never runs (a canary that would write a file
outside its jail and copy the lab's checks there is absent), unless that wall is allowed weaker;
a normal user with subordinate uids and a delegated cgroup grades behind every wall.

The grader itself runs as a normal user (setpriv, with an interpreter that user can reach, as in
test_sandbox_users.py): ``nobody`` (no subordinate uids, no cgroup) and ``mslab-test-grader``,
which .ci/normal-user.sh provisions (subuid/subgid ranges, delegated cgroup folders). A host
that refuses user namespaces is simulated by a seccomp filter on the grader that makes every
``unshare``/``clone`` with CLONE_NEWUSER fail, as Docker's default profile does.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest
from test_sandbox_users import NOBODY, _interpreter

from conftest import LABS, inv
from mslab import doctor
from mslab.errors import MslabError
from mslab.sandbox import cgroups
from mslab.sandbox.host import WALLS, Limits, missing_walls, parse_walls, preflight

slow = pytest.mark.slow  # sandboxes under attack: minutes (pytest -m 'not slow' skips them)
as_users = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become other users"
)

GRADER = "mslab-test-grader"  # provisioned by .ci/normal-user.sh
CHECKS = LABS["derivatives"].hidden_checks  # what the canary tries to copy out

CANARY = r"""
import errno, fcntl, os, sys
MARK = {mark!r}
try:  # a submission that escaped would leave this file behind, with the lab's checks in it
    with open(MARK, "w") as fh:
        fh.write("ran\n")
        fh.write(open({checks!r}).read())
except OSError:
    pass

def ids():
    return [os.getuid(), os.getgid(), os.getcwd()]

def lease():  # write leases on the venv's files blocked every pytest of the grader's
    fd = os.open(os.path.join(sys.prefix, "pyvenv.cfg") if os.path.exists(os.path.join(sys.prefix, "pyvenv.cfg")) else os.__file__, os.O_RDONLY)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]
    finally:
        os.close(fd)

def init_mem():  # PID 1 (init) has the student's uid under a normal user's grader, and is dumpable
    found = []
    for path in ("/proc/1/mem", "/proc/1/task/1/mem"):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            found.append(errno.errorcode[exc.errno])
        else:
            found.append("/dev/null" if os.fstat(fd).st_rdev == os.stat("/dev/null").st_rdev else "init's memory")
            os.close(fd)
    return found

def hoard():  # memory no rlimit sees: pages written to memfds, never mapped
    block, fds = b"\x5a" * (1 << 20), []
    for _ in range(1024):
        fd = os.memfd_create("hoard")
        fds.append(fd)
        for _ in range(4):
            os.write(fd, block)
    return "held 4 GiB"
"""

DRIVER = r"""
import ctypes, errno, json, sys
args = json.loads(sys.argv[1])
if args.get("deny_userns"):  # a host that refuses user namespaces (Docker's default profile does)
    try:
        import seccomp
    except ImportError:
        import pyseccomp as seccomp
    flt = seccomp.SyscallFilter(seccomp.ALLOW)
    flt.add_rule(seccomp.ERRNO(errno.EPERM), "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000))
    flt.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, 0x10000000, 0x10000000))
    flt.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    if args.get("deny_namespaces"):  # and any namespace at all (a root grader without CAP_SYS_ADMIN)
        flt.add_rule(seccomp.ERRNO(errno.EPERM), "unshare")
        for flag in (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x20000000, 0x40000000):
            flt.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # no_new_privs, which an unprivileged filter needs
    flt.load()
from mslab.sandbox.host import Limits, Sandbox, StudentError, WallsMissing, preflight
from mslab.sandbox.zygote import Zygote
if args.get("claim_all"):  # fool the grader's own check: the child must still stop by itself
    ready = Zygote.ready
    def claim(self):
        info = ready(self)
        info.update(userns=True, subids=info.get("subids") or {"uid": [1, 100], "gid": [1, 100]})
        return info
    Zygote.ready = claim
limits = Limits(load_seconds=60, call_seconds=30, memory_bytes=args.get("memory", 2 << 30),
                allow_weaker=tuple(args.get("allow", ())))
out = {}
try:
    if args.get("preflight"):
        walls, isolation = preflight(limits)
        print(json.dumps({"walls": walls, "isolation": isolation}))
        sys.exit(0)
    with Sandbox(args["file"], "canary", limits=limits) as sb:
        for name in args["calls"]:
            try:
                out[name] = sb.call(name)
            except StudentError as exc:
                out[name] = "error: " + str(exc)
        out["walls"], out["isolation"] = sb.walls, sb.isolation
except WallsMissing as exc:
    print(json.dumps({"refused": str(exc)}))
    sys.exit(3)
print(json.dumps(out))
"""


def _grader_user() -> tuple[int, int]:
    """The provisioned normal user's uid and gid: FAIL under CI (which provisions it), skip elsewhere."""
    why = ""
    try:
        entry = pwd.getpwnam(GRADER)
    except KeyError:
        why = f"no user {GRADER}"
    else:
        subuid = Path("/etc/subuid").read_text() if Path("/etc/subuid").exists() else ""
        subgid = Path("/etc/subgid").read_text() if Path("/etc/subgid").exists() else ""
        if f"\n{GRADER}:" not in "\n" + subuid or f"\n{GRADER}:" not in "\n" + subgid:
            why = f"{GRADER} has no subordinate uid/gid range"
        elif not shutil.which("newuidmap"):
            why = "no newuidmap (apt-get install uidmap)"
        elif cgroups.mounted() == "v1" and not all(
            (cgroups.ROOT / c / f"mslab-{GRADER}").stat().st_uid == entry.pw_uid
            if (cgroups.ROOT / c / f"mslab-{GRADER}").exists()
            else False
            for c in cgroups.V1_CONTROLLERS
        ):
            why = f"no cgroup folders delegated to {GRADER}"
        elif cgroups.mounted() == "v2" and not (cgroups.ROOT / f"mslab-{GRADER}").is_dir():
            why = f"no cgroup folder delegated to {GRADER}"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why} (CI=true: .ci/normal-user.sh should have provisioned it)")
        pytest.skip(f"{why}: run .ci/normal-user.sh as root")
    return entry.pw_uid, entry.pw_gid


@pytest.fixture
def world():
    """A folder every user can reach: the interpreters, the canary and where it would write."""
    folder = Path(tempfile.mkdtemp(prefix="mslab-closed-"))
    folder.chmod(0o755)
    drop = folder / "drop"
    drop.mkdir()
    drop.chmod(0o1777)
    mark = drop / f"canary-{secrets.token_hex(4)}"
    (folder / "canary.py").write_text(CANARY.format(mark=str(mark), checks=str(CHECKS)))
    (folder / "driver.py").write_text(DRIVER)
    pythons: dict = {}
    yield folder, mark, pythons
    shutil.rmtree(folder, ignore_errors=True)
    for uid in pythons:
        for kind in ("jail", "scratch"):
            shutil.rmtree(Path(tempfile.gettempdir()) / f"mslab-{kind}-{uid}", ignore_errors=True)


def _grade_as(world, uid: int, gid: int, env: dict | None = None, **args) -> tuple[int, dict, str]:
    folder, _mark, pythons = world
    if uid not in pythons:
        pythons[uid] = _interpreter(folder, uid, gid)
        assert pythons[uid], f"no interpreter with mindspore that uid {uid} can run"
    args = {"file": str(folder / "canary.py"), "calls": ["ids"], **args}
    command = [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        *pythons[uid],
        str(folder / "driver.py"),
        json.dumps(args),
    ]
    if uid != NOBODY and cgroups.mounted() == "v2":  # a v2 grader starts inside its delegated folder
        command = ["sh", "-c", f'echo $$ > /sys/fs/cgroup/mslab-{GRADER}/cgroup.procs && exec "$@"', "sh", *command]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
        env={"PATH": os.environ["PATH"], **(env or {})},
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, (json.loads(lines[-1]) if lines else {}), done.stderr[-2000:]


@slow
@as_users
def test_a_grader_without_subuids_or_cgroup_refuses_in_one_line(world):
    """nobody: no subordinate uids (the student would run as the grader's uid) and no cgroup."""
    code, got, err = _grade_as(world, NOBODY, NOBODY)
    assert code == 3, err
    message = got["refused"]
    assert "\n" not in message
    assert "uid: as root: apt-get install uidmap && usermod --add-subuids 100000-165535" in message
    assert "cgroup: as root, once:" in message or "cgroup: run the grader in a delegated scope" in message
    assert message.endswith("--allow-weaker uid,cgroup (docs/walls.md)")
    assert not world[1].exists()  # the canary never ran
    code, got, err = _grade_as(world, NOBODY, NOBODY, preflight=True)  # what inv grade asks first
    assert code == 3 and got["refused"] == message, err


@slow
@as_users
def test_no_user_namespaces_refuses_and_never_loads_the_file(world):
    """A host that refuses user namespaces: before, the student ran with no jail as the grader and
    read the hidden checks; now the grader refuses, naming the namespaces' walls."""
    code, got, err = _grade_as(world, NOBODY, NOBODY, deny_userns=True, allow=["uid", "cgroup"])
    assert code == 3, err
    message = got["refused"]
    assert "\n" not in message
    assert message.startswith(
        "the sandbox cannot raise these walls here: user_ns, mount_ns, pid_ns, net_ns, ipc_ns, uts_ns, cgroup_ns,"
        " jail, scratch: allow unprivileged user namespaces"
    )
    assert not world[1].exists()


@slow
@as_users
def test_the_child_stops_by_itself_when_the_grader_is_fooled(world):
    """The grader's check before forking is told every wall can rise; the child's own check still
    stops it before the file is read, and the grader reports it as its own failure."""
    code, got, err = _grade_as(world, NOBODY, NOBODY, deny_userns=True, claim_all=True, allow=["cgroup"])
    assert code == 3, err
    message = got["refused"]
    assert "\n" not in message and "usermod --add-subuids" in message
    assert message.startswith("the sandbox cannot raise these walls here (no subordinate uid mapping")
    assert not world[1].exists()


@slow
@as_users
def test_a_root_grader_that_cannot_unshare_refuses_even_when_allowed(world):
    """Root in a container with Docker's default profile: no namespaces at all. A root grader
    has no weaker mode: it refuses, and says so."""
    for allow in ([], ["all"]):
        code, got, err = _grade_as(world, 0, 0, deny_userns=True, deny_namespaces=True, allow=allow)
        assert code == 3, err
        message = got["refused"]
        assert "\n" not in message and message.startswith(
            "the sandbox cannot raise these walls here (a root grader cannot run without them): user_ns, mount_ns,"
        )
        assert message.endswith("Provide them, or grade with --isolation container (docs/walls.md)")
    assert not world[1].exists()


@slow
@as_users
def test_allowed_weaker_runs_and_says_so(world):
    """The same host, with the namespaces allowed weaker: it runs (the canary does, as the
    instructor chose) and the isolation names every missing wall."""
    code, got, err = _grade_as(world, NOBODY, NOBODY, deny_userns=True, allow=["all"])
    assert code == 0, err
    assert got["ids"][0] == NOBODY and got["isolation"].startswith("weaker: uid, user_ns, mount_ns")
    assert world[1].read_text().startswith("ran\n")


@slow
@as_users
def test_a_normal_user_with_subuids_and_a_cgroup_grades_behind_every_wall(world):
    uid, gid = _grader_user()
    code, got, err = _grade_as(world, uid, gid, calls=["ids", "lease", "init_mem", "hoard", "ids"], memory=256 << 20)
    assert code == 0, err
    first, count = next(
        (int(f[1]), int(f[2]))
        for f in (line.split(":") for line in Path("/etc/subuid").read_text().splitlines())
        if f[0] == GRADER
    )
    walls = got["walls"]
    assert got["isolation"] == "full"
    assert first < walls["uid"] < first + count  # as the host sees it (/proc/<pid>/status): subordinate
    assert got["ids"] == [1000, 1000, "/sandbox"]
    assert got["lease"] in ("EACCES", "EPERM")  # the venv is not the student's
    assert all(x in ("/dev/null", "EACCES", "EPERM") for x in got["init_mem"]), got["init_mem"]
    assert walls["cgroup"] == cgroups.mounted()
    # outside the sandbox: the grader and the classmates after it are untouched
    assert got["ids"] == [1000, 1000, "/sandbox"]
    assert got["hoard"].startswith("error: the student process was killed for using more than 256 MiB")
    assert not world[1].exists()


@slow
@as_users
def test_subordinate_ids_without_user_namespaces_still_miss_the_uid_wall(world):
    """Subordinate ids are mapped into a user namespace: without one the student would run as the
    grader even with the namespaces allowed weaker. Refused by the grader, and by the child when
    the grader is fooled."""
    uid, gid = _grader_user()
    allow = ["user_ns", "mount_ns", "pid_ns", "net_ns", "ipc_ns", "uts_ns", "cgroup_ns", "jail", "scratch"]
    code, got, err = _grade_as(world, uid, gid, deny_userns=True, allow=allow)
    assert code == 3, err
    assert got["refused"].startswith("the sandbox cannot raise these walls here: uid: as root: apt-get install uidmap")
    code, got, err = _grade_as(world, uid, gid, deny_userns=True, claim_all=True, allow=allow)
    assert code == 3, err
    assert got["refused"].startswith("the sandbox cannot raise these walls here (no subordinate uid mapping")
    assert not world[1].exists()


@slow
@as_users
def test_a_normal_user_without_a_cgroup_refuses_unless_allowed(world):
    uid, gid = _grader_user()
    env = {"MSLAB_CGROUP": "mslab-nobody-made-this"}
    code, got, err = _grade_as(world, uid, gid, env=env)
    assert code == 3, err
    assert got["refused"].startswith("the sandbox cannot raise these walls here: cgroup: ")
    assert "mslab-nobody-made-this" in got["refused"] and "--allow-weaker cgroup " in got["refused"]
    code, got, err = _grade_as(world, uid, gid, env=env, allow=["cgroup"])
    assert code == 0, err
    assert got["isolation"] == "weaker: cgroup" and got["walls"]["uid"] not in (0, uid)
    assert not world[1].exists()


def test_wall_names_parse_and_travel():
    assert parse_walls("cgroup, uid,cgroup") == ("cgroup", "uid")
    assert parse_walls("all") == WALLS and parse_walls("") == ()
    with pytest.raises(MslabError) as caught:
        parse_walls("cgroup,memory")
    assert str(caught.value) == f"unknown wall 'memory' (the walls are: all, {', '.join(WALLS)})"
    limits = Limits(allow_weaker=["uid"])  # as a worker rebuilds it from asdict() and JSON
    assert limits.allow_weaker == ("uid",) and Limits(**json.loads(json.dumps(asdict(limits)))) == limits
    assert set(WALLS) == set(doctor.WALLS)


@slow
@pytest.mark.skipif(os.geteuid() != 0, reason="as root, as CI runs the grader")
def test_a_root_grader_preflight_stands_behind_every_wall():
    walls, isolation = preflight(Limits(load_seconds=60))
    assert isolation == "full" and missing_walls(walls) == []


def test_lab_check_allows_every_wall_and_warns_of_the_missing_ones(monkeypatch, capsys, tmp_path):
    """A student's own machine: lab.check runs whatever walls stand, and says which do not."""
    from mslab import checker
    from mslab.tasks import lab as lab_task

    seen = {}

    def fake_run_checks(lab, path, **options):
        seen.update(options)
        return checker.CheckRun(
            lab=lab.name, submission=str(path), target="local", seed=1, isolation="weaker: uid, cgroup"
        )

    monkeypatch.setattr(checker, "run_checks", fake_run_checks)
    monkeypatch.setattr(checker, "collect", lambda lab, hidden: [])
    submission = tmp_path / "derivatives.py"
    submission.write_text("")
    lab_task._check("derivatives", str(submission), False, 1, None, None)
    assert seen["limits"].allow_weaker == WALLS
    assert capsys.readouterr().out == (
        "warning: this machine cannot raise every wall of the sandbox (uid, cgroup): see docs/walls.md\n"
    )


def _fake_v2(tmp_path: Path, monkeypatch, own: str) -> Path:
    """A cgroup v2 tree in a folder (this project's machines are v1): the kernel's files as plain files."""
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    parent = tmp_path / "mslab-alice"
    parent.mkdir()
    (parent / "cgroup.controllers").write_text("cpu memory pids\n")
    (parent / "cgroup.subtree_control").write_text("\n")
    (parent / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroups, "_own_v2", lambda: tmp_path / own)
    monkeypatch.setenv("MSLAB_CGROUP", "/sys/fs/cgroup/mslab-alice")
    monkeypatch.setattr(cgroups, "mounted", lambda: "v2")
    return parent


def test_v2_a_delegated_folder_holding_the_grader_is_used_and_the_grader_moves_to_a_leaf(tmp_path, monkeypatch):
    parent = _fake_v2(tmp_path, monkeypatch, "mslab-alice")
    assert cgroups._user_parents("v2") == [parent]
    cgroups._enable_v2_delegated(parent)
    assert (parent / cgroups.GRADER_LEAF / "cgroup.procs").read_text() == "0"  # this process, moved
    assert (parent / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_v2_a_delegated_folder_the_grader_is_outside_of_is_no_cgroup(tmp_path, monkeypatch):
    """v2 moves a process only where the mover may write the common ancestor's cgroup.procs."""
    _fake_v2(tmp_path, monkeypatch, "user.slice/session-1.scope")
    assert cgroups._user_parents("v2") == []


def test_v2_a_delegated_folder_without_the_controllers_is_refused(tmp_path, monkeypatch):
    parent = _fake_v2(tmp_path, monkeypatch, "mslab-alice/mslab-grader")
    (parent / "cgroup.controllers").write_text("cpu pids\n")
    assert cgroups._user_parents("v2") == [parent]
    with pytest.raises(OSError, match="lacks controllers: memory"):
        cgroups._enable_v2_delegated(parent)


def test_inv_grade_refuses_an_unknown_wall_in_one_line(tmp_path):
    done = inv("grade", str(tmp_path), "--allow-weaker", "cgroup,memory", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr == f"error: unknown wall 'memory' (the walls are: all, {', '.join(WALLS)})\n"
    assert not (tmp_path / "out").exists()
