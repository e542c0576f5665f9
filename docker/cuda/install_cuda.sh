#!/usr/bin/env bash
# cuda image, stage cuda-libs: NVIDIA's CUDA 11 runtime libraries into /opt/mslab/cuda and the
# loader's entry for them (/opt/mslab/cuda/mslab-cuda.conf, one lib folder a line), which the
# final stage copies to /etc/ld.so.conf.d/. Build args:
#   CUDA_LIBS         wheels (docker/cuda/requirements.txt, from docker/wheelhouse-cuda when
#                     MINDSPORE_SOURCE=wheelhouse, else from the index) or base (the base image
#                     has them, e.g. nvidia/cuda:*-cudnn8-runtime: nothing is installed)
#   MINDSPORE_SOURCE  wheelhouse = offline: the wheels' SHA256SUMS must match
#   PIP_INDEX_URL     a PyPI mirror (empty: PyPI)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL
dest=/opt/mslab/cuda
wheelhouse=$here/../wheelhouse-cuda
mkdir -p "$dest"
case ${CUDA_LIBS:-wheels} in
  base)
    # The base's own CUDA runtime: CUDA 11's libcudart and cuDNN 8 must be known to the loader.
    # (The cache is read first: `ldconfig -p | grep -q` fails under pipefail when grep stops early.)
    cache=$(ldconfig -p)
    for lib in libcudart.so.11.0 libcudnn.so.8 libcublas.so.11; do
      if ! grep -q "$lib " <<<"$cache"; then
        echo "mslab: CUDA_LIBS=base, but the base image has no $lib (a CUDA 11 + cuDNN 8 runtime image?)" >&2
        exit 1
      fi
    done
    : >"$dest/mslab-cuda.conf"
    echo "mslab: CUDA libraries from the base image"
    ;;
  wheels)
    pip_args=(--no-cache-dir --disable-pip-version-check --no-input --no-deps --no-compile)
    if [ "${MINDSPORE_SOURCE:-}" = wheelhouse ]; then
      if [ ! -f "$wheelhouse/SHA256SUMS" ]; then
        echo "mslab: docker/wheelhouse-cuda/SHA256SUMS missing; run 'inv image.wheelhouse --target cuda' first" >&2
        exit 1
      fi
      (cd "$wheelhouse" && sha256sum --check --strict --quiet SHA256SUMS)
      pip_args+=(--no-index --find-links "$wheelhouse")
    fi
    # A throwaway pip (Python's ensurepip, offline): the libraries need no interpreter of their own.
    python3 -m venv /tmp/mslab/pip
    /tmp/mslab/pip/bin/pip install "${pip_args[@]}" --target "$dest" -r "$here/requirements.txt"
    # Headers and the wheels' empty Python packages are not needed at run time.
    rm -rf "$dest"/nvidia/*/include /tmp/mslab/pip
    find "$dest" -name '__pycache__' -prune -exec rm -rf {} +
    find "$dest"/nvidia/*/lib -maxdepth 0 -type d | sort >"$dest/mslab-cuda.conf"
    echo "mslab: CUDA libraries from wheels: $(wc -l <"$dest/mslab-cuda.conf") folders, $(du -sh "$dest" | cut -f1)"
    ;;
  *)
    echo "mslab: CUDA_LIBS must be wheels or base, not '${CUDA_LIBS}'" >&2
    exit 1
    ;;
esac
