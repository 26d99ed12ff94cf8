#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the integration tests run as real servers (TESTING.md), and
# make sure the distribution's own daemons for them are not left running on their default ports
# (the tests start their own instances on free ports; see test/helpers/servers.ts).
#
# Idempotent and quick: when every package is installed it runs no apt at all. Uses sudo when not
# root (GitHub-hosted runners). Service start-up during install is suppressed with policy-rc.d.
set -euo pipefail

PACKAGES=(
  postgresql nginx openssh-server openssh-client prometheus docker-registry
  buildah podman skopeo busybox-static shellcheck wrk uidmap haproxy socat
  jq chromium fonts-noto-color-emoji
)

log() { printf 'ci-install: %s\n' "$*" >&2; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { log "not root and no sudo: cannot install packages"; exit 1; }
  SUDO=(sudo -n)
fi

command -v dpkg-query >/dev/null || { log "dpkg-query not found: this script supports Debian/Ubuntu only"; exit 1; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done

# Services of packages installed by this run; openssh-server's sshd is stopped only then (a
# developer's own sshd on port 22 is left alone).
just_installed=" ${missing[*]} "

if ((${#missing[@]} > 0)); then
  log "installing: ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    # exit 101 = "action forbidden": package scripts do not start their services.
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  cleanup_policy() { if ((created_policy)); then "${SUDO[@]}" rm -f "$policy"; fi; }
  trap cleanup_policy EXIT
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  cleanup_policy
  trap - EXIT
else
  log "all ${#PACKAGES[@]} packages present"
fi

# pid_alive PIDFILE COMM: the pid file names a live process whose name starts with COMM.
pid_alive() {
  local file=$1 comm=$2 pid
  [[ -r $file ]] || return 1
  pid=$(head -n1 "$file" 2>/dev/null | tr -dc '0-9')
  [[ -n $pid && -r /proc/$pid/comm ]] || return 1
  [[ $(cat "/proc/$pid/comm") == "$comm"* ]]
}

# stop_service NAME COMM PIDFILE...: stop Debian's daemon NAME if it is running.
stop_service() {
  local name=$1 comm=$2 running=0 file pid
  shift 2
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    if systemctl is-active --quiet "$name" 2>/dev/null; then
      log "stopping distribution service $name (systemd)"
      "${SUDO[@]}" systemctl stop "$name"
    fi
    return 0
  fi
  for file in "$@"; do
    if pid_alive "$file" "$comm"; then running=1; fi
  done
  ((running)) || return 0
  log "stopping distribution service $name"
  if command -v service >/dev/null && [[ -x /etc/init.d/$name ]]; then
    "${SUDO[@]}" service "$name" stop >/dev/null || true
  fi
  # Whatever the init script left: the pid files' own processes only.
  for file in "$@"; do
    if pid_alive "$file" "$comm"; then
      pid=$(head -n1 "$file" | tr -dc '0-9')
      "${SUDO[@]}" kill -TERM "$pid" || true
    fi
  done
}

shopt -s nullglob
stop_service postgresql postgres /run/postgresql/*.pid /var/lib/postgresql/*/main/postmaster.pid
stop_service nginx nginx /run/nginx.pid
stop_service haproxy haproxy /run/haproxy.pid
stop_service prometheus prometheus /run/prometheus/prometheus.pid
stop_service prometheus-node-exporter prometheus-node /run/prometheus/prometheus-node-exporter.pid
stop_service docker-registry docker-registr /run/docker-registry.pid
if [[ $just_installed == *" openssh-server "* ]]; then
  stop_service ssh sshd /run/sshd.pid
fi
shopt -u nullglob

# sshd's privilege-separation directory (normally made by the ssh service at start).
[[ -d /run/sshd ]] || "${SUDO[@]}" install -d -m 0755 /run/sshd

log "ok"
