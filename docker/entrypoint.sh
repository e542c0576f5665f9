#!/bin/sh
# Entrypoint of every mslab image: applies CANN's set_env.sh where the image has CANN (ascend),
# then runs the command. A no-op elsewhere.
for f in /usr/local/Ascend/ascend-toolkit/set_env.sh /usr/local/Ascend/nnal/atb/set_env.sh; do
  # shellcheck disable=SC1090
  [ -f "$f" ] && . "$f" >/dev/null 2>&1
done
exec "$@"
