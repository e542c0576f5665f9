#!/bin/bash
# Entrypoint of every mslab image, then runs the command. The ascend image sets
# MSLAB_CANN_SET_ENV to CANN's set_env.sh (and MSLAB_CANN_OPTIONAL_SET_ENV to NNAL's, applied
# only if present): it must exist, be readable by this user and succeed, else the container
# stops here with one line saying why. Its output goes to stderr: stdout is the grader's channel.
# A no-op in images without CANN.
if [ -n "${MSLAB_CANN_SET_ENV:-}" ]; then
  if [ ! -r "$MSLAB_CANN_SET_ENV" ]; then
    echo "mslab entrypoint: CANN toolkit missing or unreadable for uid $(id -u): $MSLAB_CANN_SET_ENV" >&2
    exit 127
  fi
  # shellcheck disable=SC1090
  . "$MSLAB_CANN_SET_ENV" >&2 || {
    echo "mslab entrypoint: $MSLAB_CANN_SET_ENV failed (exit $?): CANN is not usable" >&2
    exit 127
  }
fi
for f in ${MSLAB_CANN_OPTIONAL_SET_ENV:-}; do
  [ -e "$f" ] || continue
  # shellcheck disable=SC1090
  . "$f" >&2 || {
    echo "mslab entrypoint: $f failed (exit $?): CANN is not usable" >&2
    exit 127
  }
done
exec "$@"
