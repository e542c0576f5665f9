"""inv doctor: hardware detection against fake nvidia-smi/npu-smi (tests/fakes) and fake roots."""

import os
from pathlib import Path

import pytest
from invoke import Context

from conftest import inv
from mslab import devices, doctor
from mslab.errors import MslabError
from mslab.tasks.doctor import doctor as doctor_task

FAKES = Path(__file__).parent / "fakes"

# /usr/local/Ascend/driver/version.info as printed by `cat` in Ascend's MindX DL fault-diagnosis
# guide (a 24.1.rc1 driver); {version} replaces its first line's value where a test needs another.
VERSION_INFO = """\
Version={version}
ascendhal_version=7.35.19
aicpu_version=1.0
tdt_version=1.0
log_version=1.0
prof_version=2.0
dvppkernels_version=1.1
tsfw_version=1.0
Innerversion=V100R001C15SPC006B220
compatible_version=[V100R001C30],[V100R001C13],[V100R001C15],[V100R001C17]
compatible_version_fw=[7.0.0,7.2.99]
"""
# <toolkit>/<arch>-linux/ascend_toolkit_install.info, same guide, version replaced.
TOOLKIT_INFO = """\
package_name=Ascend-cann-toolkit
version={version}
innerversion=V100R001C19SPC001B212
arch=aarch64
os=linux
path=/usr/local/Ascend/ascend-toolkit/{version}/aarch64-linux
"""


@pytest.fixture(autouse=True)
def no_reaping(monkeypatch):
    """The fake engines below answer; the orphan check must not remove real containers."""
    from mslab import containers

    monkeypatch.setattr(containers, "reap_orphans", lambda client=None, token="": [])


def engine() -> str:
    return "20.10.24+dfsg1"


def no_engine() -> str:
    raise MslabError("Docker engine not reachable: connection refused")


def fake_path(*names: str) -> str:
    return ":".join(str(FAKES / n) for n in names) or str(FAKES / "none")


def ascend_root(tmp_path, cards=2, control=True, driver="24.1.rc3", cann="8.0.RC3") -> Path:
    dev = tmp_path / "dev"
    dev.mkdir()
    for i in range(cards):
        (dev / f"davinci{i}").touch()
    if control:
        for name in doctor.ASCEND_CONTROL_DEVICES:
            (dev / name).touch()
    if driver:
        info = tmp_path / "usr/local/Ascend/driver/version.info"
        info.parent.mkdir(parents=True)
        info.write_text(VERSION_INFO.format(version=driver))
    if cann:
        info = tmp_path / "usr/local/Ascend/ascend-toolkit/latest/aarch64-linux/ascend_toolkit_install.info"
        info.parent.mkdir(parents=True)
        info.write_text(TOOLKIT_INFO.format(version=cann))
    return tmp_path


def rows(report) -> dict[str, tuple[str, str]]:
    out = {}
    for c in report.checks:
        out.setdefault(c.name, (c.status, c.detail))
    return out


def test_bare_machine_without_docker_runs_locally(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path(), no_engine, arch="x86_64")
    r = rows(report)
    assert report.recommended == "local"
    assert r["Docker engine"] == ("missing", "Docker engine not reachable: connection refused")
    assert r["NVIDIA GPU"] == ("missing", "no nvidia-smi on PATH")
    assert r["Ascend NPU devices"][0] == "missing"
    assert r["CPU architecture"] == ("ok", "x86_64 (cpu, cuda, ascend images)")
    assert "Orphaned containers" not in r  # nothing to ask without an engine


def test_docker_without_accelerator_picks_cpu(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path(), engine, arch="x86_64")
    assert rows(report)["Docker engine"] == ("ok", "reachable, version 20.10.24+dfsg1")
    assert rows(report)["Orphaned containers"] == ("ok", "none")
    assert report.recommended == "cpu"


def test_gpu_with_recent_driver_picks_cuda(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path("gpu"), engine, arch="x86_64")
    r = rows(report)
    assert r["NVIDIA GPU"] == ("ok", "1: NVIDIA A10G")
    assert r["NVIDIA driver"] == ("ok", "535.247.01 (>= 510.39.01, the CUDA 11.6 minimum)")
    assert report.gpu and report.recommended == "cuda"


def test_an_h200_with_a_cuda_13_driver_picks_cuda(tmp_path):
    """Real output captured on a lent H200 host, where doctor itself ran and said the same."""
    report = doctor.diagnose(tmp_path, fake_path("gpu-h200"), engine, arch="x86_64")
    r = rows(report)
    assert r["NVIDIA GPU"] == ("ok", "1: NVIDIA H200")
    assert r["NVIDIA driver"] == ("ok", "580.159.04 (>= 510.39.01, the CUDA 11.6 minimum)")
    assert report.gpu and report.recommended == "cuda"


def test_gpu_with_old_driver_falls_back_to_cpu(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path("gpu-old"), engine, arch="x86_64")
    r = rows(report)
    assert r["NVIDIA GPU"] == ("ok", "1: TITAN Xp")
    assert r["NVIDIA driver"] == ("fail", "450.57 (< 510.39.01, the CUDA 11.6 minimum)")
    assert report.recommended == "cpu"


def test_nvidia_smi_without_driver_is_a_failure_row(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path("gpu-broken"), engine, arch="x86_64")
    status, detail = rows(report)["NVIDIA GPU"]
    assert status == "fail"
    assert "couldn't communicate with the NVIDIA driver" in detail
    assert report.recommended == "cpu"


def test_cuda_image_needs_x86_64(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path("gpu"), engine, arch="aarch64")
    assert report.recommended == "cpu"
    assert ("warn", "the cuda image is x86_64 only, this is aarch64") in [(c.status, c.detail) for c in report.checks]


def test_ascend_machine_picks_ascend(tmp_path):
    root = ascend_root(tmp_path)
    report = doctor.diagnose(root, fake_path("npu"), engine, arch="aarch64")
    r = rows(report)
    assert r["Ascend NPU devices"] == ("ok", "davinci0, davinci1 + davinci_manager, devmm_svm, hisi_hdc")
    assert r["npu-smi"] == ("ok", "24.1.1: 2 NPU(s): 0 910B4 OK, 1 910B4 OK")
    assert r["Ascend driver"] == ("ok", "24.1.rc3")
    assert r["CANN (host)"] == ("ok", "8.0.RC3 (the ascend image brings its own 8.0.RC3)")
    assert report.npu and report.recommended == "ascend"


def test_other_ascend_driver_warns_but_still_picks_ascend(tmp_path):
    root = ascend_root(tmp_path, driver="24.1.rc1", cann=None)
    report = doctor.diagnose(root, fake_path("npu"), engine, arch="aarch64")
    r = rows(report)
    assert r["Ascend driver"] == ("warn", "24.1.rc1 (MindSpore 2.4.0 is documented with 24.1.rc3)")
    assert r["CANN (host)"][0] == "missing"
    assert report.recommended == "ascend"


def test_davinci_without_control_devices_is_not_usable(tmp_path):
    root = ascend_root(tmp_path, control=False)
    report = doctor.diagnose(root, fake_path("npu"), engine, arch="aarch64")
    status, detail = rows(report)["Ascend NPU devices"]
    assert status == "fail" and "/dev/davinci_manager" in detail
    assert report.recommended == "cpu"


def test_broken_npu_smi_is_not_usable(tmp_path):
    root = ascend_root(tmp_path)
    report = doctor.diagnose(root, fake_path("npu-sick"), engine, arch="aarch64")
    assert rows(report)["npu-smi"] == ("fail", "npu-smi info failed: dcmi module initialize failed. ret is -8005")
    assert report.recommended == "cpu"


def test_npu_wins_over_gpu(tmp_path):
    root = ascend_root(tmp_path)
    report = doctor.diagnose(root, fake_path("gpu", "npu"), engine, arch="x86_64")
    assert report.gpu and report.npu
    assert report.recommended == "ascend"


def test_accelerator_without_docker_still_local(tmp_path):
    report = doctor.diagnose(tmp_path, fake_path("gpu"), no_engine, arch="x86_64")
    assert report.gpu and report.recommended == "local"
    assert "install Docker" in doctor.explain(report)


def test_recommended_target_reads_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MSLAB_DOCTOR_ROOT", str(ascend_root(tmp_path)))
    assert doctor.recommended_target(path=fake_path("npu"), docker_probe=engine) == "ascend"
    assert doctor.recommended_target(path=fake_path("npu"), docker_probe=no_engine) == "local"


def test_parsers_on_the_samples():
    import subprocess

    out = subprocess.run([FAKES / "npu" / "npu-smi", "info"], capture_output=True, text=True).stdout
    assert devices.parse_npu_smi(out) == ("24.1.1", [("0", "910B4", "OK"), ("1", "910B4", "OK")])
    out = subprocess.run([FAKES / "gpu-old" / "nvidia-smi"], capture_output=True, text=True).stdout
    assert devices.parse_nvidia_smi(out) == ("450.57", ["TITAN Xp"])
    assert devices.parse_nvidia_smi("") == ("", [])


def test_inv_doctor_needs_no_docker(tmp_path, monkeypatch, capsys):
    """The task itself, with the real Docker probe pointed at a socket that does not exist."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("PATH", fake_path("gpu") + ":/usr/bin:/bin")
    monkeypatch.setenv("COLUMNS", "200")
    doctor_task(Context(), root=str(tmp_path))
    out = capsys.readouterr().out
    assert "Docker engine not reachable" in out
    assert "535.247.01" in out
    assert "Recommended target" in out and "local" in out
    doctor_task(Context(), root=str(tmp_path), quiet=True)
    assert capsys.readouterr().out == "local\n"


@pytest.mark.parametrize(("a", "b"), [("510.39.01", "510.39.1"), ("535.247.01", "510.39.01"), ("24.1.rc3", "24.1.rc3")])
def test_version_order(a, b):
    assert doctor._version_tuple(a) >= doctor._version_tuple(b)


def test_doctor_lists_the_walls_a_sandbox_gets_here():
    """With a probe that measured a host without user namespaces and cgroups (a normal user on a
    locked-down distribution), those walls are warnings and the isolation says what is missing."""
    measured = {
        "uid": 1000,
        "user_ns": False,
        "seccomp": True,
        "no_new_privs": True,
        "caps": 0,
        "mount_ns": True,
        "jail": True,
        "pid_ns": True,
        "net_ns": True,
        "ipc_ns": True,
        "uts_ns": True,
        "cgroup_ns": True,
        "cgroup": "",
        "scratch": True,
    }
    rows = {
        c.name: c for c in doctor.walls_checks(lambda: (measured, "weaker: user_ns, cgroup"), how=lambda w: f"do {w}")
    }
    assert rows["Wall: user_ns (user namespace)"].status == doctor.FAIL
    assert rows["Wall: user_ns (user namespace)"].detail == "missing: do user_ns"
    assert rows["Wall: cgroup (memory, pids and CPU limits)"].detail == "missing: do cgroup"
    assert rows["Wall: seccomp (seccomp filter)"].status == doctor.OK
    # uid 1000 is a normal user's own (the grader's) unless this test runs as uid 1000's grader
    assert rows["Wall: uid (a uid that owns nothing the sandbox sees)"].status == (
        doctor.FAIL if os.getuid() == 1000 else doctor.OK
    )
    assert rows["Sandbox isolation"].detail == "weaker: user_ns, cgroup"
    assert rows["inv grade here"].status == doctor.FAIL
    assert "--allow-weaker user_ns,cgroup" in rows["inv grade here"].detail or os.getuid() == 1000
    failing = doctor.walls_checks(lambda: (_ for _ in ()).throw(RuntimeError("zygote stopped")))
    assert [(c.status, c.detail) for c in failing] == [(doctor.FAIL, "no sandbox could start: zygote stopped")]


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, as CI runs: every wall stands on this kind of host")
def test_inv_doctor_measures_the_walls_of_this_host():
    done = inv("doctor")
    assert done.returncode == 0, done.stderr
    assert "Sandbox isolation" in done.stdout and "full" in done.stdout
    assert "every wall stands" in done.stdout
