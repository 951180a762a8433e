#!/usr/bin/env bash
# test_daemon_systemd.sh: the systemd contract of deploy/pgwarden.service
# (Type=notify, WatchdogSec=), tested without systemd as PID 1 (issue 12):
# a NOTIFY_SOCKET listener stands in for systemd beside one real node.
#   - no READY=1 while etcd cannot be read; READY=1 after the first loop
#     that read it, with STATUS=role=...;
#   - STATUS= names the role (leader once the node bootstrapped);
#   - WATCHDOG=1 at least every half of WATCHDOG_USEC (2 s here) although
#     loop_wait is 2 s: the pings come from the loop's wait too;
#   - STOPPING=1 on SIGTERM, before the daemon exits;
#   - `systemd-analyze verify` passes on the unit after `cmake --install`
#     (it checks that ExecStart exists and that man:pgwarden(8) opens), and
#     fails when the man page is not installed (the check can fail).
source "$(dirname "$0")/../lib/it_prelude.sh"

DIR=$(mktemp -d /tmp/pgw-it-systemd-XXXXXX)
LISTENER_PID=""
cleanup() {
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	tap_dump_logs "$DIR" 1 40
	cluster_cleanup
}
trap cleanup EXIT

SOCK="$DIR/notify.sock"
MSGS="$DIR/notify.log"
# the stand-in for systemd: one line per datagram, "<monotonic ms> <fields|...>"
python3 - "$SOCK" "$MSGS" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = s.recv(4096).decode(errors="replace")
        out.write("%d %s\n" % (time.monotonic() * 1000, data.replace("\n", "|")))
PY
LISTENER_PID=$!
wait_for 10 test -S "$SOCK" || { not_ok "the notify listener is up"; exit 1; }

cluster_init "$DIR" 1 fast
# loop_wait 2 s against WATCHDOG_USEC 2 s: the loop alone would ping too late
sed -i -e 's/^    ttl: 3$/    ttl: 10/' -e 's/^    loop_wait: 0.5$/    loop_wait: 2/' \
	-e 's/^    retry_timeout: 1$/    retry_timeout: 2/' "$DIR/node1/pgwarden.yml"
NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=2000000 cluster_start_node 1

has() { grep -q -- "$1" "$MSGS" 2>/dev/null; }

# ---- not ready while etcd cannot be read ---------------------------------------
deadline=$(($(date +%s) + 4))
while [ "$(date +%s)" -lt "$deadline" ] && ! has 'READY=1'; do sleep 0.1; done
! has 'READY=1' && ok "no READY=1 in 4 s while etcd is down" || not_ok "READY=1 before etcd was read"
has 'STATUS=starting' && ok "STATUS says it is starting" || not_ok "no starting STATUS ($(tail -2 "$MSGS"))"

# ---- ready after the first good loop ---------------------------------------------
cluster_start_etcd || { not_ok "etcd starts"; exit 1; }
wait_for 30 has 'READY=1' && ok "READY=1 once etcd was read" || not_ok "no READY=1"
grep 'READY=1' "$MSGS" | grepq -q 'STATUS=role=' && ok "READY=1 comes with STATUS=role=" || not_ok "READY without STATUS"
[ "$(grep -c 'READY=1' "$MSGS")" = 1 ] && ok "READY=1 sent once" || not_ok "READY=1 sent $(grep -c 'READY=1' "$MSGS") times"
wait_for 60 has 'STATUS=role=leader' && ok "STATUS=role=leader after the bootstrap" || not_ok "no leader STATUS ($(tail -3 "$MSGS"))"

# ---- the watchdog: at least every half of WATCHDOG_USEC --------------------------
ready_ms=$(grep 'READY=1' "$MSGS" | head -1 | cut -d' ' -f1)
deadline=$(($(date +%s) + 8))
while [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done # watch the pings for 8 s
read -r n gap <<<"$(awk -v r="$ready_ms" '/WATCHDOG=1/ && $1 > r { if (last) { g = $1 - last; if (g > max) max = g } last = $1; n++ }
	END { printf "%d %d\n", n, max }' "$MSGS")"
[ "$n" -ge 8 ] && [ "$gap" -le 1000 ] && ok "WATCHDOG=1: $n pings, the longest gap $gap ms (at most 1000 ms)" ||
	not_ok "WATCHDOG=1: $n pings, the longest gap $gap ms (want <= 1000 ms)"

# ---- STOPPING=1 on SIGTERM ------------------------------------------------------------
pid=${CL_PID[1]}
kill -TERM "$pid"
wait_for 40 bash -c "! kill -0 $pid 2>/dev/null" && ok "the daemon stopped on SIGTERM" || not_ok "the daemon did not stop"
CL_PID[1]=""
has 'STOPPING=1' && ok "STOPPING=1 on SIGTERM" || not_ok "no STOPPING=1 ($(tail -3 "$MSGS"))"
last_status=$(grep -n 'STATUS=role=' "$MSGS" | tail -1 | cut -d: -f1)
stopping=$(grep -n 'STOPPING=1' "$MSGS" | head -1 | cut -d: -f1)
[ -n "$stopping" ] && [ "$stopping" -gt "${last_status:-0}" ] && ok "STOPPING=1 after the last role STATUS" ||
	not_ok "STOPPING=1 order (line $stopping, last status line $last_status)"

# ---- systemd-analyze verify after cmake --install --------------------------------------
ROOTDIR="$DIR/root"
if DESTDIR="$ROOTDIR" cmake --install "$PGW_BUILD_DIR" >"$DIR/install.log" 2>&1; then
	ok "cmake --install"
else
	not_ok "cmake --install ($(tail -3 "$DIR/install.log"))"
fi
prefix=$(find "$ROOTDIR" -path '*/bin/pgwarden' -type f | head -1)
prefix=${prefix%/bin/pgwarden}
[ -f "$prefix/share/man/man8/pgwarden.8" ] && ok "the man page pgwarden(8) is installed" || not_ok "no pgwarden.8 under $prefix"
# the unit as shipped, with ExecStart at the installed binary
sed "s#^ExecStart=/usr/local/bin/pgwarden#ExecStart=$prefix/bin/pgwarden#" "$root/deploy/pgwarden.service" >"$DIR/pgwarden.service"
if OUT=$(MANPATH="$prefix/share/man" systemd-analyze verify "$DIR/pgwarden.service" 2>&1); then
	ok "systemd-analyze verify passes"
else
	not_ok "systemd-analyze verify: $OUT"
fi
mkdir -p "$DIR/noman"
OUT=$(MANPATH="$DIR/noman" systemd-analyze verify "$DIR/pgwarden.service" 2>&1)
[ $? != 0 ] && echo "$OUT" | grepq -q 'man pgwarden(8)' && ok "without the page, verify fails naming man:pgwarden(8)" ||
	not_ok "verify without the man page: $OUT"

tap_finish
