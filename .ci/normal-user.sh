#!/usr/bin/env bash
# CI (as root): a normal user whose grader gets every wall (docs/walls.md), for
# tests/test_fail_closed.py: subordinate uid/gid ranges (newuidmap/newgidmap from uidmap) and
# cgroup folders delegated to it (per controller on cgroup v1, one folder on v2).
set -euo pipefail
user=mslab-test-grader
command -v newuidmap >/dev/null || { apt-get update -qq && apt-get install -y -qq uidmap >/dev/null; }
id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
grep -q "^$user:" /etc/subuid || usermod --add-subuids 300000-365535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 300000-365535 "$user"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
    mkdir -p "/sys/fs/cgroup/mslab-$user"
    chown -R "$user:" "/sys/fs/cgroup/mslab-$user"
else
    for c in memory pids cpu; do
        mkdir -p "/sys/fs/cgroup/$c/mslab-$user"
        chown -R "$user:" "/sys/fs/cgroup/$c/mslab-$user"
    done
fi
