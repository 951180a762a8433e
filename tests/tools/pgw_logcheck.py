#!/usr/bin/env python3
"""pgw_logcheck.py: the drills' detectors over the logs of tests/tools/pgw_writer
(DESIGN.md "The promises"; tests/lib/netns.sh, test_daemon_cluster.sh and the
benchmarks call it). Pure functions over files, so tests/unit/test_tools_logcheck.py
feeds them synthetic logs, including the cases each detector must catch.

  gap    --writer-log F --from MS --to MS [--now MS]
         The longest interval without an acknowledged write that overlaps
         [FROM, TO]: from the ack before it (even one before FROM) to the ack
         after it (even one after TO). Prints
           rto_ms=  FROM -> the ack that ended it (-1: no ack since one before TO)
           downtime_ms=  its length (an open one lasts until NOW, default TO)
           gap_start_ms= gap_end_ms= host=  (host of the ending ack, "-")
         RTO has no threshold: a 100 ms gap gives an RTO, never 0.
  split  --probe-log F... --from MS --to MS [--max-silence-ms N]
         [--exempt-host H --exempt-after MS]
         Writable windows of different hosts that overlap. Every accepted
         attempt is its whole [start, end] (the commit happened somewhere in
         it); consecutive accepted attempts of one host form a run; two runs
         of different hosts overlap when max(starts) <= min(ends), so a run of
         one single accepted write counts. One "overlap ..." line per pair,
         then "split= worst_ms= worst_at_ms= exempt= exempt_worst_ms=".
         --exempt-host/--exempt-after: overlaps whose H-run starts at or after
         MS are counted in exempt=, not split= (a thawed node's commits: the
         caller reports them). --max-silence-ms: every probe log must show an
         attempt at least every N ms over [FROM, TO] (a dead or blind probe
         fails loudly instead of reporting no split).
  accepts --probe-log F --from MS --to MS
         One host's accepted attempts in [FROM, TO]: "accepted= attempts=
         first_start_ms= last_end_ms=" (-1 when none).
Every log is checked whole: an empty log, a line that is not complete
("truncated"), a field that is not a number, or times that go backwards exit
2 with "FILE:LINE: what". A live log's last line may be half written: it is
ignored only when it lacks its newline and --live is given.
"""
import argparse
import sys


class LogError(Exception):
    """A log that cannot be trusted: the message names the file and line."""


def _int(s, path, n, what):
    try:
        return int(s)
    except ValueError:
        raise LogError(f"{path}:{n}: {what} \"{s}\" is not a whole number")


def read_lines(path, live):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            data = f.read()
    except OSError as e:
        raise LogError(f"{path}: cannot read: {e.strerror}")
    if data == "":
        raise LogError(f"{path}: empty log")
    lines = data.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif live:
        lines.pop()             # still being written
        if not lines:
            raise LogError(f"{path}: empty log (one line, still being written)")
    else:
        raise LogError(f"{path}:{len(lines)}: truncated line (no newline): \"{lines[-1][:60]}\"")
    return lines


def read_writer_log(path, live=False):
    """[(wall_ms, host)] from "wall_ms seq host" lines, in time order."""
    out = []
    prev = None
    for n, line in enumerate(read_lines(path, live), 1):
        f = line.split()
        if len(f) != 3:
            raise LogError(f"{path}:{n}: want \"wall_ms seq host\", got \"{line[:60]}\"")
        t = _int(f[0], path, n, "time")
        _int(f[1], path, n, "seq")
        if prev is not None and t < prev:
            raise LogError(f"{path}:{n}: out of order: {t} after {prev}")
        prev = t
        out.append((t, f[2]))
    return out


def read_probe_log(path, live=False):
    """[(start_ms, end_ms, host, ok)] from "start end host ok" lines."""
    out = []
    prev = None
    host = None
    for n, line in enumerate(read_lines(path, live), 1):
        f = line.split()
        if len(f) != 4 or f[3] not in ("0", "1"):
            raise LogError(f"{path}:{n}: want \"start_ms end_ms host 0|1\", got \"{line[:60]}\"")
        s = _int(f[0], path, n, "start")
        e = _int(f[1], path, n, "end")
        if e < s:
            raise LogError(f"{path}:{n}: ends ({e}) before it starts ({s})")
        if prev is not None and s < prev:
            raise LogError(f"{path}:{n}: out of order: starts {s} after {prev}")
        if host is not None and f[2] != host:
            raise LogError(f"{path}:{n}: host {f[2]} in the log of {host} (one probe log per host)")
        prev = s
        host = f[2]
        out.append((s, e, f[2], f[3] == "1"))
    return out


def gap(acks, frm, to, now=None):
    """dict(rto_ms, downtime_ms, gap_start_ms, gap_end_ms, host) over acks."""
    if now is None:
        now = to
    best = None                 # (length, start, end, host)
    prev = None
    for t, h in acks:
        if t > frm and (prev is None or prev < to):
            start = prev if prev is not None else frm
            if best is None or t - start > best[0]:
                best = (t - start, start, t, h)
        prev = t
        if t >= to:
            break
    if prev < to:
        # the writer has not written since before TO: an outage still on,
        # from the last ack (even one before FROM) until NOW
        length = now - prev
        if best is None or length > best[0]:
            return dict(rto_ms=-1, downtime_ms=length, gap_start_ms=prev,
                        gap_end_ms=-1, host="-")
        return dict(rto_ms=-1, downtime_ms=best[0], gap_start_ms=best[1],
                    gap_end_ms=best[2], host="-")
    return dict(rto_ms=best[2] - frm, downtime_ms=best[0], gap_start_ms=best[1],
                gap_end_ms=best[2], host=best[3])


def runs_of(attempts, frm, to):
    """[(start, end, n_accepted)] runs of consecutive accepted attempts that
    touch [frm, to]."""
    runs = []
    cur = None
    for s, e, _h, ok in attempts:
        if ok:
            if cur is None:
                cur = [s, e, 1]
            else:
                cur[1] = max(cur[1], e)
                cur[2] += 1
        elif cur is not None:
            runs.append(tuple(cur))
            cur = None
    if cur is not None:
        runs.append(tuple(cur))
    return [r for r in runs if r[1] >= frm and r[0] <= to]


def silence(path, attempts, frm, to, max_ms):
    """Raise LogError when the probe shows no attempt for more than max_ms
    within [frm, to] (its end included: the probe must outlive the window)."""
    last = frm
    for s, _e, _h, _ok in attempts:
        if s < frm:
            continue
        if s > to:
            break
        if s - last > max_ms:
            raise LogError(f"{path}: probe silent for {s - last} ms from {last} "
                           f"(more than {max_ms} ms): it saw nothing then")
        last = s
    if to - last > max_ms:
        raise LogError(f"{path}: probe silent for {to - last} ms from {last} to the "
                       f"window's end {to} (more than {max_ms} ms): dead or blind")


def split(logs, frm, to, exempt_host=None, exempt_after=None):
    """logs: {host: attempts}. Returns (overlaps, summary dict)."""
    runs = []
    for h, att in logs.items():
        for s, e, n in runs_of(att, frm, to):
            runs.append((h, s, e, n))
    overlaps = []
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            a, b = runs[i], runs[j]
            if a[0] == b[0]:
                continue
            lo = max(a[1], b[1])
            hi = min(a[2], b[2])
            if lo > hi:
                continue
            ex = False
            if exempt_host is not None:
                for r in (a, b):
                    if r[0] == exempt_host and r[1] >= exempt_after:
                        ex = True
            overlaps.append(dict(a=a[0], b=b[0], from_ms=lo, to_ms=hi, ms=hi - lo,
                                 a_writes=a[3], b_writes=b[3], exempt=ex))
    overlaps.sort(key=lambda o: o["from_ms"])
    real = [o for o in overlaps if not o["exempt"]]
    exm = [o for o in overlaps if o["exempt"]]
    worst = max(real, key=lambda o: o["ms"]) if real else None
    return overlaps, dict(
        split=len(real), worst_ms=worst["ms"] if worst else 0,
        worst_at_ms=worst["from_ms"] if worst else 0, exempt=len(exm),
        exempt_worst_ms=max((o["ms"] for o in exm), default=0))


def accepts(attempts, frm, to):
    acc = [(s, e) for s, e, _h, ok in attempts if ok and e >= frm and s <= to]
    n = sum(1 for s, _e, _h, _ok in attempts if s <= to and _e >= frm)
    return dict(accepted=len(acc), attempts=n,
                first_start_ms=acc[0][0] if acc else -1,
                last_end_ms=acc[-1][1] if acc else -1)


def kv(d):
    return " ".join(f"{k}={v}" for k, v in d.items())


def main(argv):
    p = argparse.ArgumentParser(prog="pgw_logcheck.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gap")
    g.add_argument("--writer-log", required=True)
    g.add_argument("--from", dest="frm", type=int, required=True)
    g.add_argument("--to", type=int, required=True)
    g.add_argument("--live", action="store_true")
    g.add_argument("--now", type=int)
    s = sub.add_parser("split")
    s.add_argument("--probe-log", action="append", required=True)
    s.add_argument("--from", dest="frm", type=int, required=True)
    s.add_argument("--to", type=int, required=True)
    s.add_argument("--live", action="store_true")
    s.add_argument("--max-silence-ms", type=int)
    s.add_argument("--exempt-host")
    s.add_argument("--exempt-after", type=int)
    c = sub.add_parser("accepts")
    c.add_argument("--probe-log", required=True)
    c.add_argument("--from", dest="frm", type=int, required=True)
    c.add_argument("--to", type=int, required=True)
    c.add_argument("--live", action="store_true")
    o = p.parse_args(argv)
    try:
        if o.to < o.frm:
            raise LogError(f"window ends ({o.to}) before it starts ({o.frm})")
        if o.cmd == "gap":
            acks = read_writer_log(o.writer_log, o.live)
            print(kv(gap(acks, o.frm, o.to, o.now)))
        elif o.cmd == "split":
            if (o.exempt_host is None) != (o.exempt_after is None):
                raise LogError("--exempt-host and --exempt-after go together")
            logs = {}
            for path in o.probe_log:
                att = read_probe_log(path, o.live)
                h = att[0][2]
                if h in logs:
                    raise LogError(f"{path}: a second log for host {h}")
                if o.max_silence_ms is not None:
                    silence(path, att, o.frm, o.to, o.max_silence_ms)
                logs[h] = att
            overlaps, summary = split(logs, o.frm, o.to, o.exempt_host, o.exempt_after)
            for ov in overlaps:
                print("overlap " + kv(ov))
            print(kv(summary))
        else:
            print(kv(accepts(read_probe_log(o.probe_log, o.live), o.frm, o.to)))
    except LogError as e:
        print(f"pgw_logcheck {o.cmd}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
