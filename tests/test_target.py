"""The target, resolved once at the command line (mslab/target.py): name, image, device, tolerances, isolation."""

from __future__ import annotations

import pytest

from mslab import doctor
from mslab.doctor import resolve_target as resolve
from mslab.errors import MslabError
from mslab.target import LOCAL_TARGET, Target


def test_local_is_this_machine_forked_from_a_zygote():
    assert resolve() == Target("local", "", "CPU", {}, "process") == LOCAL_TARGET
    assert resolve().local and not resolve("cpu").local


@pytest.mark.parametrize(
    "name,image,device,tolerances",
    [
        ("cpu", "mslab-cpu", "CPU", {}),
        ("cuda", "mslab-cuda", "GPU", {}),
        # Ascend's cube units compute float32 matmuls in reduced precision
        ("ascend", "mslab-ascend", "Ascend", {"float32": (2e-3, 1e-3)}),
    ],
)
def test_an_image_target_has_its_compose_image_and_device(name, image, device, tolerances, monkeypatch):
    monkeypatch.setenv("MSLAB_CUDA_DEVICE", "GPU")  # a machine without a GPU computes on its CPU
    target = resolve(name)
    assert (target.name, target.image, target.device, target.isolation) == (name, image, device, "container")
    assert target.tolerances == tolerances


def test_container_isolation_on_this_machine_means_the_cpu_image():
    assert resolve("local", "container") == resolve("cpu")
    assert resolve("cuda", "container").name == "cuda"


def test_auto_is_what_doctor_recommends(monkeypatch):
    monkeypatch.setattr(doctor, "recommended_target", lambda: "cuda")
    assert resolve("auto").image == "mslab-cuda"
    monkeypatch.setattr(doctor, "recommended_target", lambda: "local")
    assert resolve("auto") == LOCAL_TARGET
    with pytest.raises(MslabError, match="no Docker engine here"):
        resolve("auto", image=True)  # the image tasks need an image


@pytest.mark.parametrize(
    "args,kwargs,message",
    [
        (("moon",), {}, "unknown target 'moon'; choose one of: local, cpu, cuda, ascend, auto"),
        (("local", "vm"), {}, "unknown isolation 'vm'; choose process or container"),
        (("local",), {"image": True}, "unknown target 'local'; choose one of: cpu, cuda, ascend, auto"),
    ],
)
def test_a_bad_target_is_one_line(args, kwargs, message):
    with pytest.raises(MslabError) as caught:
        resolve(*args, **kwargs)
    assert str(caught.value) == message
