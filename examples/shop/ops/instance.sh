#!/usr/bin/env bash
# The shop's own platform CLI (what Slipway's `command` target calls; examples/shop/targets/command.yml).
# One instance = one `node server.js` on <host>:<port>, started detached with a pid file; nginx in
# front reads an upstream file where a drained instance is marked `down`.
#
#   instance.sh --root DIR [--upstream FILE --nginx-conf FILE] start   HOST:PORT VERSION
#   instance.sh --root DIR                                      stop    HOST:PORT
#   instance.sh --root DIR                                      version HOST:PORT
#   instance.sh --root DIR --upstream FILE --nginx-conf FILE    drain|undrain HOST:PORT
#
# DIR/releases/<version>  the release folders (start copies ./.slipway-release there when the
#                         version is not kept yet: the folder the pipeline built once per commit)
# DIR/run/<port>.pid|.version, DIR/log/<port>.log
# Every value arrives as its own argument (Slipway runs this without a shell); nothing is eval'd.
set -euo pipefail

root='' upstream='' nginx_conf='' nginx_bin="${NGINX:-nginx}"
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --upstream) upstream="$2"; shift 2 ;;
    --nginx-conf) nginx_conf="$2"; shift 2 ;;
    --nginx) nginx_bin="$2"; shift 2 ;;
    *) echo "instance.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
cmd="${1:-}" instance="${2:-}" version="${3:-}"
die() { echo "instance.sh: $*" >&2; exit 1; }
[[ -n "$root" && "$root" == /* ]] || die "--root must be an absolute directory (got '${root}')"
[[ "$instance" =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || die "instance must be HOST:PORT (got '${instance}')"
host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}"
run="$root/run" pidfile="$root/run/$port.pid" verfile="$root/run/$port.version"
mkdir -p "$root/releases" "$run" "$root/log"

alive() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

stop() {
  if alive; then
    local pid; pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$verfile"
}

mark() { # $1 = down | up: rewrite this instance's line in the upstream file, then reload nginx
  [[ -n "$upstream" && -n "$nginx_conf" ]] || die "$cmd needs --upstream and --nginx-conf"
  grep -q "server $instance[ ;]" "$upstream" || die "$instance is not in $upstream"
  local tmp="$upstream.tmp.$$"
  # The instances of one batch are drained and undrained at the same time: one rewrite and reload
  # at a time (flock), or two edits of the same file lose one and an instance stays drained.
  exec 9>"$upstream.lock"
  flock -w 60 9 || die "could not lock $upstream.lock within 60 s"
  if [[ "$1" == down ]]; then sed -E "s/^([[:space:]]*server $instance)( down)?;/\1 down;/" "$upstream" >"$tmp"
  else sed -E "s/^([[:space:]]*server $instance) down;/\1;/" "$upstream" >"$tmp"; fi
  mv "$tmp" "$upstream"
  "$nginx_bin" -e stderr -c "$nginx_conf" -t -q
  "$nginx_bin" -e stderr -c "$nginx_conf" -s reload
  exec 9>&-
  sleep 0.3 # the old workers finish their requests (the app's SIGTERM drain covers the rest)
}

case "$cmd" in
  start)
    [[ "$version" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$ ]] || die "version must be a release name (got '${version}')"
    rel="$root/releases/$version"
    if [[ ! -d "$rel" ]]; then
      [[ -d .slipway-release ]] || die "release $version is not kept under $root/releases and there is no ./.slipway-release to install"
      cp -R .slipway-release "$rel.tmp.$$" && mv "$rel.tmp.$$" "$rel"
    fi
    stop
    (cd "$rel" && APP_VERSION="$version" PORT="$port" HOST="$host" exec setsid node server.js >>"$root/log/$port.log" 2>&1 </dev/null) &
    echo $! >"$pidfile"
    echo "$version" >"$verfile"
    echo "started $version on $instance (pid $(cat "$pidfile"))"
    ;;
  stop) stop; echo "stopped $instance" ;;
  version) if alive && [[ -f "$verfile" ]]; then cat "$verfile"; fi ;;
  drain) mark down; echo "drained $instance" ;;
  undrain) mark up; echo "undrained $instance" ;;
  *) die "command must be start, stop, version, drain or undrain (got '${cmd}')" ;;
esac
