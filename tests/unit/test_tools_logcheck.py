#!/usr/bin/env python3
"""test_tools_logcheck.py: the drills' detectors (tests/tools/pgw_logcheck.py)
on synthetic logs. Each detector is fed the cases it must catch: a writable
window holding one accepted write, a thawed old primary's first write, a gap
spanning the fault start or the round end, a short gap (an RTO, never 0), and
bad input (empty, truncated, out of order, a dead probe) that must fail loudly.
The tool runs as a program, as the drills run it; PGW_LOGCHECK names another
program with the same interface (how the old awk detectors were shown to fail
these cases: see the tests branch's note)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.environ.get("PGW_LOGCHECK",
                      os.path.join(HERE, "..", "tools", "pgw_logcheck.py"))
B = 1_700_000_000_000           # a wall-clock base, as the logs carry


def run(*args):
    cmd = ([TOOL] if os.access(TOOL, os.X_OK) and not TOOL.endswith(".py")
           else [sys.executable, TOOL])
    p = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def summary(out):
    """key=value pairs of the last line"""
    last = out.strip().splitlines()[-1]
    return dict(kv.split("=", 1) for kv in last.split())


class Logs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def file(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def writer(self, times, host="h2:5432", name="writer.log"):
        return self.file(name, "".join(f"{B + t} {i + 1} {host}\n"
                                       for i, t in enumerate(times)))

    def probe(self, host, attempts, name=None):
        """attempts: (start, end, ok) relative to B"""
        return self.file(name or f"probe-{host}.log",
                         "".join(f"{B + s} {B + e} {host} {ok}\n" for s, e, ok in attempts))

    def gap(self, path, frm, to, *extra):
        rc, out, err = run("gap", "--writer-log", path, "--from", B + frm, "--to", B + to, *extra)
        self.assertEqual(rc, 0, err)
        d = summary(out)
        return int(d["rto_ms"]), int(d["downtime_ms"]), d

    def split(self, logs, frm, to, *extra):
        args = ["split"]
        for path in logs:
            args += ["--probe-log", path]
        rc, out, err = run(*args, "--from", B + frm, "--to", B + to, *extra)
        self.assertEqual(rc, 0, err)
        d = summary(out)
        return int(d["split"]), int(d["worst_ms"]), d, out

    def fails(self, *args, want=""):
        rc, out, err = run(*args)
        self.assertEqual(rc, 2, f"want exit 2, got {rc}: {out} {err}")
        self.assertIn(want, err)


def every(start, end, step=10):
    return list(range(start, end + 1, step))


def probe_run(start, end, ok, step=20, dur=2):
    return [(t, t + dur, ok) for t in range(start, end + 1, step)]


class Gap(Logs):
    def test_outage_across_the_fault_start(self):
        # acks every 10 ms to +90, fault at +95, nothing until +4000
        p = self.writer(every(0, 90) + every(4000, 6000))
        rto, down, d = self.gap(p, 95, 6000)
        self.assertEqual(down, 3910)    # from the last ack before the fault
        self.assertEqual(rto, 3905)
        self.assertEqual(d["gap_start_ms"], str(B + 90))

    def test_one_write_after_the_outage(self):
        # a single acknowledged write ends the outage; the round ends there
        p = self.writer(every(0, 100) + [3000])
        rto, down, _ = self.gap(p, 100, 3000)
        self.assertEqual((rto, down), (2900, 2900))

    def test_two_writes_after_the_outage(self):
        p = self.writer(every(0, 100) + [3000, 3010])
        rto, down, _ = self.gap(p, 105, 3010)
        self.assertEqual((rto, down), (2895, 2900))

    def test_outage_across_the_round_end(self):
        # the gap begins before the round's end and ends after it: counted whole
        p = self.writer(every(0, 1000) + every(9000, 9100))
        rto, down, _ = self.gap(p, 500, 5000)
        self.assertEqual((rto, down), (8500, 8000))

    def test_outage_still_open(self):
        p = self.writer(every(0, 1000))
        rto, down, d = self.gap(p, 500, 5000, "--now", B + 7000)
        self.assertEqual((rto, down, d["host"]), (-1, 6000, "-"))

    def test_short_gap_is_an_rto_not_zero(self):
        # a 107 ms gap (a switchover on a quiet machine): RTO is measured
        p = self.writer(every(0, 1000) + every(1107, 2007))
        rto, down, _ = self.gap(p, 1000, 2000)
        self.assertEqual((rto, down), (107, 107))

    def test_host_of_the_ending_ack(self):
        p = self.file("w.log", f"{B} 1 h1:5432\n{B + 3000} 2 h3:5432\n{B + 3010} 3 h3:5432\n")
        _, _, d = self.gap(p, 5, 3010)
        self.assertEqual(d["host"], "h3:5432")

    def test_bad_input_fails_loudly(self):
        empty = self.file("empty.log", "")
        self.fails("gap", "--writer-log", empty, "--from", B, "--to", B + 1, want="empty log")
        trunc = self.file("trunc.log", f"{B} 1 h1:5432\n{B + 10} 2 h1")
        self.fails("gap", "--writer-log", trunc, "--from", B, "--to", B + 1, want="truncated")
        short = self.file("short.log", f"{B} 1 h1:5432\n{B + 10} 2\n")
        self.fails("gap", "--writer-log", short, "--from", B, "--to", B + 1, want="short.log:2")
        back = self.file("back.log", f"{B + 10} 1 h1:5432\n{B} 2 h1:5432\n")
        self.fails("gap", "--writer-log", back, "--from", B, "--to", B + 1, want="out of order")
        junk = self.file("junk.log", f"{B}x 1 h1:5432\n")
        self.fails("gap", "--writer-log", junk, "--from", B, "--to", B + 1, want="not a whole number")
        self.fails("gap", "--writer-log", os.path.join(self.dir.name, "none.log"),
                   "--from", B, "--to", B + 1, want="cannot read")
        ok = self.writer(every(0, 100))
        self.fails("gap", "--writer-log", ok, "--from", B + 10, "--to", B, want="window ends")

    def test_live_log_half_written_line(self):
        # only with --live is a half-written last line left out
        p = self.file("live.log", f"{B} 1 h1:5432\n{B + 3000} 2 h1:5432\n{B + 3010} 3")
        self.fails("gap", "--writer-log", p, "--from", B, "--to", B + 3000, want="truncated")
        rto, down, _ = self.gap(p, 0, 3000, "--live")
        self.assertEqual((rto, down), (3000, 3000))


class Split(Logs):
    def test_handover_without_overlap(self):
        a = self.probe("h1", probe_run(0, 1000, 1) + probe_run(1020, 6000, 0))
        b = self.probe("h2", probe_run(0, 4000, 0) + probe_run(4020, 6000, 1))
        n, worst, _, _ = self.split([a, b], 0, 6000)
        self.assertEqual((n, worst), (0, 0))

    def test_long_overlap(self):
        a = self.probe("h1", probe_run(0, 6000, 1))
        b = self.probe("h2", probe_run(0, 980, 0) + probe_run(1000, 6000, 1))
        n, worst, d, _ = self.split([a, b], 0, 6000)
        self.assertEqual(n, 1)
        self.assertEqual(worst, 5002)
        self.assertEqual(int(d["worst_at_ms"]), B + 1000)

    def test_one_accepted_write_while_another_is_writable(self):
        # the blind spot of the old detector: a run of a single write
        a = self.probe("h1", probe_run(0, 6000, 1))
        b = self.probe("h2", probe_run(0, 2980, 0) + [(3000, 3004, 1)] + probe_run(3020, 6000, 0))
        n, worst, _, out = self.split([a, b], 0, 6000)
        self.assertEqual(n, 1)
        self.assertEqual(worst, 4)
        self.assertIn("b_writes=1", out)

    def test_two_accepted_writes_while_another_is_writable(self):
        a = self.probe("h1", probe_run(0, 6000, 1))
        b = self.probe("h2", probe_run(0, 2980, 0) + [(3000, 3004, 1), (3020, 3024, 1)] +
                       probe_run(3040, 6000, 0))
        n, worst, _, _ = self.split([a, b], 0, 6000)
        self.assertEqual((n, worst), (1, 24))

    def test_thawed_old_primary_first_write(self):
        # h1 was primary, frozen 1000..7000 (its probe times out), h2 took
        # over at 5000; at the thaw h1 accepts one write before it fences
        a = self.probe("h1", probe_run(0, 980, 1) + [(1000 + k * 520, 1500 + k * 520, 0) for k in range(11)] +
                       [(7010, 7015, 1)] + probe_run(7040, 9000, 0))
        b = self.probe("h2", probe_run(0, 4980, 0) + probe_run(5000, 9000, 1))
        n, _, _, out = self.split([a, b], 0, 9000)
        self.assertEqual(n, 1, out)
        # exempted only as the caller asks: overlaps of h1's runs from the thaw on
        n, _, d, _ = self.split([a, b], 0, 9000, "--exempt-host", "h1", "--exempt-after", B + 7000)
        self.assertEqual((n, int(d["exempt"])), (0, 1))
        # an exemption never covers an overlap that began before the thaw
        n, _, d, _ = self.split([a, b], 0, 9000, "--exempt-host", "h1", "--exempt-after", B + 7011)
        self.assertEqual((n, int(d["exempt"])), (1, 0))

    def test_overlap_across_the_window_start(self):
        # both writable before the fault already: a run that began earlier counts
        a = self.probe("h1", probe_run(0, 6000, 1))
        b = self.probe("h2", probe_run(0, 6000, 1))
        n, _, _, _ = self.split([a, b], 3000, 6000)
        self.assertEqual(n, 1)

    def test_same_instant_is_an_overlap(self):
        a = self.probe("h1", [(0, 100, 1), (120, 200, 0)])
        b = self.probe("h2", [(0, 80, 0), (100, 110, 1)])
        n, worst, _, _ = self.split([a, b], 0, 200)
        self.assertEqual((n, worst), (1, 0))

    def test_dead_probe_fails_loudly(self):
        a = self.probe("h1", probe_run(0, 6000, 1))
        dead = self.probe("h2", probe_run(0, 2000, 0))
        rc, out, err = run("split", "--probe-log", a, "--probe-log", dead, "--from", B,
                           "--to", B + 6000, "--max-silence-ms", 3000)
        self.assertEqual(rc, 2, out)
        self.assertIn("dead or blind", err)
        blind = self.probe("h3", probe_run(0, 1000, 0) + probe_run(5000, 6000, 0))
        rc, out, err = run("split", "--probe-log", a, "--probe-log", blind, "--from", B,
                           "--to", B + 6000, "--max-silence-ms", 3000)
        self.assertEqual(rc, 2, out)
        self.assertIn("silent for", err)

    def test_bad_input_fails_loudly(self):
        a = self.probe("h1", probe_run(0, 1000, 1))
        empty = self.file("empty.log", "")
        self.fails("split", "--probe-log", a, "--probe-log", empty, "--from", B, "--to", B + 1,
                   want="empty log")
        trunc = self.file("trunc.log", f"{B} {B + 2} h2 1\n{B + 20} {B + 22}")
        self.fails("split", "--probe-log", trunc, "--from", B, "--to", B + 1, want="truncated")
        back = self.file("back.log", f"{B + 20} {B + 22} h2 0\n{B} {B + 2} h2 1\n")
        self.fails("split", "--probe-log", back, "--from", B, "--to", B + 1, want="out of order")
        inv = self.file("inv.log", f"{B + 20} {B + 2} h2 0\n")
        self.fails("split", "--probe-log", inv, "--from", B, "--to", B + 1, want="before it starts")
        mixed = self.file("mixed.log", f"{B} {B + 2} h2 0\n{B + 20} {B + 22} h3 1\n")
        self.fails("split", "--probe-log", mixed, "--from", B, "--to", B + 1, want="one probe log per host")
        bad = self.file("bad.log", f"{B} {B + 2} h2 yes\n")
        self.fails("split", "--probe-log", bad, "--from", B, "--to", B + 1, want="bad.log:1")
        self.fails("split", "--probe-log", a, "--probe-log", a, "--from", B, "--to", B + 1,
                   want="a second log")


class Accepts(Logs):
    def test_accepts(self):
        a = self.probe("h1", probe_run(0, 980, 0) + [(1000, 1005, 1), (1020, 1030, 1)] +
                       probe_run(1040, 2000, 0))
        rc, out, err = run("accepts", "--probe-log", a, "--from", B + 990, "--to", B + 2000)
        self.assertEqual(rc, 0, err)
        d = summary(out)
        self.assertEqual((d["accepted"], d["first_start_ms"], d["last_end_ms"]),
                         ("2", str(B + 1000), str(B + 1030)))
        rc, out, _ = run("accepts", "--probe-log", a, "--from", B + 1500, "--to", B + 2000)
        self.assertEqual(summary(out)["accepted"], "0")
        self.assertEqual(summary(out)["last_end_ms"], "-1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
