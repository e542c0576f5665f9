#!/usr/bin/env bash
# Real Docker for CI and developers: engine, local base image, host-side wheelhouses, the CPU
# image and the CUDA image (Debian + PyPI's CUDA wheels, sharing the CPU image's layers).
# Idempotent: every step is skipped when its result is already there. Prints timings and sizes.
#   bash .ci/docker.sh            # engine + base + wheelhouses + build + verify of both images
#   MSLAB_SKIP_BUILD=1 bash .ci/docker.sh   # engine + base + wheelhouses only
#   MSLAB_SKIP_CUDA=1 bash .ci/docker.sh    # the CPU image only (no 1.3 GB of CUDA wheels)
# The engine started here keeps running; its PID is in $MSLAB_DOCKERD_PIDFILE (stop it with
# `kill "$(cat "$MSLAB_DOCKERD_PIDFILE")"`).
set -euo pipefail
cd "$(dirname "$0")/.."

read -ra INV <<<"${INV:-.venv/bin/inv}"  # e.g. INV=".venv/bin/inv --search-root elsewhere"
BASE_IMAGE=${MSLAB_BASE_IMAGE:-mslab/base:bookworm}
# MindSpore 2.4.0 is not downloadable here: CI builds the image with PyPI's 2.7.2 through the
# build args (see docs/admin.md); the real 2.4.0 build is the default everywhere else.
export INVOKE_MSLAB_IMAGE_MINDSPORE_VERSION=${INVOKE_MSLAB_IMAGE_MINDSPORE_VERSION:-2.7.2}
export INVOKE_MSLAB_IMAGE_MINDSPORE_SOURCE=${INVOKE_MSLAB_IMAGE_MINDSPORE_SOURCE:-wheelhouse}
export INVOKE_MSLAB_IMAGE_BASE_IMAGE=${INVOKE_MSLAB_IMAGE_BASE_IMAGE:-$BASE_IMAGE}
DOCKER=/usr/bin/docker  # Debian's client, matching the engine (the one first on PATH may differ)
export MSLAB_DOCKERD_PIDFILE=${MSLAB_DOCKERD_PIDFILE:-/run/mslab-dockerd.pid}

t0=$SECONDS
step() { printf '\n== %s\n' "$*"; ts=$SECONDS; }
done_() { printf '== %s: %ss\n' "$1" "$((SECONDS - ts))"; }

step "docker engine"
# docker-compose: Debian's compose v1 (1.29.2), the real implementation that checks compose.yaml
# below (compose v2 is not packaged in bookworm); shellcheck for docker/*.sh.
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || [ ! -x "$DOCKER" ] \
   || ! command -v docker-compose >/dev/null || ! command -v shellcheck >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap docker-compose shellcheck >/dev/null
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  dockerd >/var/log/mslab-dockerd.log 2>&1 &
  echo $! >"$MSLAB_DOCKERD_PIDFILE"
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null || { tail -n 20 /var/log/mslab-dockerd.log; exit 1; }
  echo "started dockerd pid $(cat "$MSLAB_DOCKERD_PIDFILE")"
fi
done_ "docker engine"

step "compose.yaml with docker-compose $(docker-compose version --short)"
docker-compose -f compose.yaml config -q
MSLAB_ASCEND_GID=1000 MSLAB_ASCEND_CHIP=910 docker-compose -f compose.yaml config -q
shellcheck -x docker/*.sh docker/*/*.sh .ci/docker.sh
done_ "compose.yaml"

step "base image $BASE_IMAGE"
# The recipe label names this script's way of making the base: a base made by an older recipe
# (with apt's caches, ~78 MB) is made again.
RECIPE=2
if [ "$("$DOCKER" image inspect -f '{{ index .Config.Labels "org.mslab.base-recipe" }}' "$BASE_IMAGE" 2>/dev/null)" != "$RECIPE" ]; then
  rootfs=$(mktemp -d)
  # Python and venv come from Debian as in debian:bookworm-slim + apt; libgomp1 is left to the
  # Dockerfile, which installs whatever the base lacks.
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >/tmp/mslab-debootstrap.log 2>&1 \
    || { tail -n 20 /tmp/mslab-debootstrap.log; exit 1; }
  # No package caches or lists (apt-get update restores the lists when a build needs them).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*
  tar -C "$rootfs" -c . | "$DOCKER" import -c 'CMD ["/bin/bash"]' \
    -c "LABEL org.mslab.base-recipe=$RECIPE" - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi
"$DOCKER" image ls "$BASE_IMAGE"
done_ "base image"

# The cuda target's wheelhouse is the cpu target's (docker/wheelhouse, the same files) plus
# docker/wheelhouse-cuda. Both stay in the checkout, and pip's cache keeps what was downloaded.
WHEELHOUSE_TARGET=cuda
[ -z "${MSLAB_SKIP_CUDA:-}" ] || WHEELHOUSE_TARGET=cpu
step "wheelhouse ($WHEELHOUSE_TARGET)"
"${INV[@]}" image.wheelhouse --target "$WHEELHOUSE_TARGET"
du -sh docker/wheelhouse docker/wheelhouse-cuda
done_ "wheelhouse"

if [ -z "${MSLAB_SKIP_BUILD:-}" ]; then
  step "build cpu image"
  # The build stage is kept for the cuda build, which reuses its layers (MindSpore's venv) and
  # then removes it.
  keep=(--keep-build-stage)
  [ -z "${MSLAB_SKIP_CUDA:-}" ] || keep=()
  "${INV[@]}" image.build --target cpu "${keep[@]}"
  done_ "build cpu image"

  step "verify cpu image"
  "${INV[@]}" image.verify --target cpu
  done_ "verify cpu image"

  if [ -z "${MSLAB_SKIP_CUDA:-}" ]; then
    step "build cuda image"
    "${INV[@]}" image.build --target cuda
    done_ "build cuda image"

    step "verify cuda image (no GPU here: links, run_check and the labs' checks on the CPU)"
    "${INV[@]}" image.verify --target cuda --labs yes
    done_ "verify cuda image"
  fi

  # JupyterLab on top of the cpu image (inv lab.notebook --target cpu); the grading image stays
  # without it. Its size: the difference of the two sizes below.
  step "build cpu notebook image"
  "${INV[@]}" image.wheelhouse --target cpu --notebook
  "${INV[@]}" image.build --target cpu --notebook
  done_ "build cpu notebook image"

  step "image sizes"
  for tag in mslab-cpu mslab-cpu-notebook mslab-cuda; do
    "$DOCKER" image inspect -f "{{ index .RepoTags 0 }}: {{ .Size }} bytes, {{ len .RootFS.Layers }} layers" "$tag" 2>/dev/null || true
  done
  "$DOCKER" system df -v | sed -n '/^REPOSITORY/,/^$/p' | grep -E '^(REPOSITORY|mslab-)' || true
  done_ "image sizes"
fi
printf '\n== .ci/docker.sh total: %ss\n' "$((SECONDS - t0))"
