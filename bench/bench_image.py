"""CPU image size against its base image plus the installed MindSpore (goal: ratio <= 1.15).

    python bench/bench_image.py [--target cpu|cuda] [--base mslab/base:bookworm]

For the cuda image, also its CUDA libraries (/opt/mslab/cuda) and what it shares with the cpu
image: the layers both have (base, runtime stage, MindSpore's venv), which a machine stores once.

Printed, not asserted. "Installed MindSpore" is the venv's site-packages/mindspore folder as it
sits in the image; the rest of the venv (numpy, scipy, the grader's dependencies), the OS
packages the Dockerfile adds and the metadata are the overhead the ratio measures.
"""

import argparse
import sys

from mslab import images
from mslab.errors import MslabError


def du(client, image: str, path: str) -> int:
    out = client.containers.run(image, ["du", "-sb", path], entrypoint=[], remove=True, network_mode="none")
    return int(out.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cpu", help="compose.yaml service")
    parser.add_argument("--base", default="", help="base image (default: the image's org.mslab.base-image label)")
    args = parser.parse_args()
    try:
        client = images.docker_client()
        tag = images.service(args.target)["image"]
        image = client.images.get(tag)
        base_tag = args.base or image.labels.get("org.mslab.base-image") or images.build_args(args.target)["BASE_IMAGE"]
        base = client.images.get(base_tag)
    except (MslabError, Exception) as e:  # noqa: BLE001 - print one line, no traceback
        print(f"bench_image: {e}", file=sys.stderr)
        return 2
    site = (
        client.containers.run(
            tag,
            ["python", "-c", "import mindspore, os; print(os.path.dirname(mindspore.__file__))"],
            entrypoint=[],
            remove=True,
            network_mode="none",
        )
        .decode()
        .strip()
        .splitlines()[-1]
    )
    mindspore = du(client, tag, site)
    venv = du(client, tag, "/opt/mslab/venv")
    size, base_size = image.attrs["Size"], base.attrs["Size"]
    # the cuda image's CUDA libraries count as payload, like MindSpore
    cuda = du(client, tag, "/opt/mslab/cuda") if image.labels.get("org.mslab.cuda.libs") else 0
    ratio = size / (base_size + mindspore + cuda)
    gb = 1e9
    print(f"image            {tag:28s} {size / gb:6.2f} GB")
    print(f"base             {base_tag:28s} {base_size / gb:6.2f} GB")
    print(f"MindSpore        {site:28.28s} {mindspore / gb:6.2f} GB  (venv total {venv / gb:.2f} GB)")
    if cuda:
        print(f"CUDA libraries   {'/opt/mslab/cuda':28s} {cuda / gb:6.2f} GB  ({image.labels['org.mslab.cuda.libs']})")
    payload = "base + MindSpore" + (" + CUDA" if cuda else "")
    print(f"ratio image / ({payload}) = {ratio:.3f}  (goal <= 1.15: {'met' if ratio <= 1.15 else 'NOT met'})")
    if cuda:
        try:
            cpu = client.images.get(images.service("cpu")["image"])
        except Exception:  # noqa: BLE001 - no cpu image: nothing to compare
            return 0
        mine, theirs = image.attrs["RootFS"]["Layers"], cpu.attrs["RootFS"]["Layers"]
        shared = 0
        while shared < min(len(mine), len(theirs)) and mine[shared] == theirs[shared]:
            shared += 1
        print(
            f"shared with {cpu.tags[0] if cpu.tags else 'the cpu image'}: the first {shared} of {len(mine)} layers;"
            f" cpu image {cpu.attrs['Size'] / gb:.2f} GB, so the cuda image adds {(size - cpu.attrs['Size']) / gb:.2f} GB"
            " on a machine that has both"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
