#!/usr/bin/env bash
# Shared by the three Dockerfiles (build stage): creates $MSLAB_VENV with MindSpore, the
# grader's pinned dependencies and extra pip arguments, checking the MindSpore wheel's SHA-256.
#   install.sh PYTHON [EXTRA_PIP_ARGS...]
# Build args (empty = docker/pins.env): MINDSPORE_VERSION, MINDSPORE_SOURCE, MINDSPORE_SHA256;
# PYTHON_VERSION (compose.yaml) must match PYTHON's version; PIP_INDEX_URL, when not empty, is
# the PyPI mirror pip uses (sources pypi and official; a wheelhouse build needs no index).
set -euo pipefail
[ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL
here=$(cd "$(dirname "$0")" && pwd)
python=$1
shift
version_arg=${MINDSPORE_VERSION:-} source_arg=${MINDSPORE_SOURCE:-} sha_arg=${MINDSPORE_SHA256:-}
# shellcheck source=SCRIPTDIR/pins.env
. "$here/pins.env"
version=${version_arg:-$MINDSPORE_VERSION_PIN}
source=${source_arg:-$MINDSPORE_SOURCE_PIN}
arch=$(uname -m)
cp=$("$python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
if [ -n "${PYTHON_VERSION:-}" ] && [ "cp${PYTHON_VERSION//./}" != "$cp" ]; then
  echo "mslab: the base image has Python $cp, compose.yaml says PYTHON_VERSION=$PYTHON_VERSION" >&2
  exit 1
fi
pin_var=SHA256_${version//./_}_${arch}_${cp}
sha=${sha_arg:-${!pin_var:-}}
wheelhouse=$here/wheelhouse
MSLAB_VENV=/opt/mslab/venv  # the Dockerfiles copy this folder into the final stage
echo "mslab: MindSpore $version from $source for $arch/$cp (sha256 ${sha:-from wheelhouse SHA256SUMS})"

check_sha() {  # FILE: fails unless FILE has the pinned SHA-256
  echo "$sha  $1" | sha256sum --check --strict -
}

"$python" -m venv "$MSLAB_VENV"
pip=("$MSLAB_VENV/bin/pip" install --no-cache-dir --disable-pip-version-check --no-input)
case $source in
  official)
    if [ -z "$sha" ]; then
      echo "mslab: no SHA-256 pinned for MindSpore $version $arch/$cp; pass MINDSPORE_SHA256" >&2
      exit 1
    fi
    whl=/tmp/mindspore-$version-$cp-$cp-linux_$arch.whl
    url=$MINDSPORE_URL_BASE/$version/MindSpore/unified/$arch/$(basename "$whl")
    "$python" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$whl"
    check_sha "$whl"
    "${pip[@]}" "$whl" -r "$here/requirements.txt" "$@"
    rm -f "$whl"
    ;;
  wheelhouse)
    if [ ! -f "$wheelhouse/SHA256SUMS" ]; then
      echo "mslab: docker/wheelhouse/SHA256SUMS missing; run 'inv image.wheelhouse' first" >&2
      exit 1
    fi
    (cd "$wheelhouse" && sha256sum --check --strict --quiet SHA256SUMS)
    if [ -n "$sha" ]; then
      for whl in "$wheelhouse"/mindspore-"$version"-"$cp"-*"$arch".whl; do check_sha "$whl"; done
    fi
    "${pip[@]}" --no-index --find-links "$wheelhouse" "mindspore==$version" \
      -r "$here/requirements.txt" "$@"
    ;;
  pypi)
    "${pip[@]}" "mindspore==$version" -r "$here/requirements.txt" "$@"
    ;;
  *)
    echo "mslab: MINDSPORE_SOURCE must be official, wheelhouse or pypi, not '$source'" >&2
    exit 1
    ;;
esac
"$MSLAB_VENV/bin/python" -c 'import mindspore, numpy; print("mslab: mindspore", mindspore.__version__, "numpy", numpy.__version__)'
