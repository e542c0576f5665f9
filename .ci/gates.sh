#!/usr/bin/env bash
# The gates a contributor runs before pushing (pre-commit runs the same, .ci/run runs this):
# ruff (lint + format), mypy on mslab/, import-linter's layers, shellcheck on the shell scripts,
# hadolint on the Dockerfiles.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
t0=$SECONDS
"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy"
"$BIN/lint-imports"  # the layers of pyproject's [tool.importlinter]
"$BIN/shellcheck" -x .ci/run .ci/gates.sh .ci/docker.sh docker/*.sh
"$BIN/hadolint" -c docker/hadolint.yaml docker/Dockerfile docker/*/Dockerfile
echo "== gates passed: $((SECONDS - t0))s"
