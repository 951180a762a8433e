/*
 * drill.c: the pure parts of `pgwardenctl drill` (drill.h): kind names, the
 * RTO / downtime computation from acknowledged write times, which round a
 * write belongs to, the verdict of a round, and the report.
 */
#include "ctl/drill.h"

#include <inttypes.h>
#include <string.h>

static const char *const kind_names[] = {
    [CTL_DRILL_SWITCHOVER] = "switchover",
    [CTL_DRILL_KILL_POSTGRES] = "kill-postgres",
    [CTL_DRILL_STOP_DAEMON] = "stop-daemon",
};

int
ctl_drill_kind_parse(const char *s, CtlDrillKind *out)
{
	if (s == NULL)
		return PGW_EINVAL;
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
	{
		if (strcmp(s, kind_names[i]) == 0)
		{
			if (out)
				*out = (CtlDrillKind) i;
			return 0;
		}
	}
	return PGW_EINVAL;
}

const char *
ctl_drill_kind_name(CtlDrillKind k)
{
	if ((size_t) k < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[k];
	return "?";
}

void
ctl_drill_gap(const int64_t *ack_ms, int n, int64_t fault_ms, int64_t *rto_ms,
              int64_t *downtime_ms)
{
	int64_t prev = -1;
	int64_t best_gap = -1;
	int64_t best_end = -1;

	*rto_ms = -1;
	*downtime_ms = -1;
	for (int i = 0; i < n; i++)
	{
		if (ack_ms[i] < fault_ms)
		{
			prev = ack_ms[i];
			continue;
		}
		{
			/* the first gap runs from the last ack before the fault */
			int64_t from = prev >= 0 ? prev : fault_ms;
			int64_t gap = ack_ms[i] - from;

			if (gap > best_gap)
			{
				best_gap = gap;
				best_end = ack_ms[i];
			}
		}
		prev = ack_ms[i];
	}
	if (best_end < 0)
		return;
	*downtime_ms = best_gap;
	*rto_ms = best_end - fault_ms;
}

int
ctl_drill_round_of(const int64_t *fault_ms, int n_rounds, int64_t ack_ms)
{
	int r = 0;

	for (int i = 0; i < n_rounds; i++)
	{
		if (fault_ms[i] <= ack_ms)
			r = i;
	}
	return r;
}

static void
note_add(CtlDrillRound *r, const char *what)
{
	size_t used = strlen(r->note);

	snprintf(r->note + used, sizeof(r->note) - used, "%s%s",
	         used > 0 ? "; " : "", what);
}

static void
note_split(CtlDrillRound *r)
{
	char buf[256];

	snprintf(buf, sizeof(buf),
	         "SPLIT-BRAIN: %s both acknowledged writes for %lld ms (%lld "
	         "overlap%s)",
	         r->split_pair[0] ? r->split_pair : "two members",
	         (long long) r->split_worst_ms, (long long) r->split_instants,
	         r->split_instants == 1 ? "" : "s");
	note_add(r, buf);
}

void
ctl_drill_judge(CtlDrillRound *r)
{
	char buf[96];

	r->ok = !r->broken;
	if (r->broken)
	{
		/* two writable members matter most, whatever broke the round */
		if (r->split_instants > 0)
			note_split(r);
		return;
	}
	if (r->rto_ms < 0)
	{
		r->ok = false;
		note_add(r, "no write acknowledged after the fault");
	}
	if (r->rejoin_ms < 0)
		r->ok = false; /* the caller's note says what was missing */
	if (r->lost > 0)
	{
		r->ok = false;
		snprintf(buf, sizeof(buf), "LOST %lld acknowledged writes",
		         (long long) r->lost);
		note_add(r, buf);
	}
	else if (r->lost < 0)
	{
		r->ok = false;
		note_add(r, "lost writes not checked");
	}
	if (r->split_instants > 0)
	{
		r->ok = false;
		note_split(r);
	}
	else if (r->split_instants < 0)
	{
		r->ok = false;
		note_add(r, "split-brain not watched");
	}
}

static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void
num_or_dash(char *buf, size_t len, int64_t v)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRId64, v);
}

void
ctl_drill_report(FILE *out, const char *scope, CtlDrillKind kind,
                 const CtlDrillRound *r, int n, bool json)
{
	int64_t max_rto = -1;
	int64_t max_down = -1;
	int64_t lost = 0;
	bool lost_known = n > 0;
	int64_t split = 0;
	bool split_known = n > 0;
	int n_ok = 0;

	for (int i = 0; i < n; i++)
	{
		if (r[i].rto_ms > max_rto)
			max_rto = r[i].rto_ms;
		if (r[i].downtime_ms > max_down)
			max_down = r[i].downtime_ms;
		if (r[i].lost > 0)
			lost += r[i].lost;
		if (r[i].lost < 0)
			lost_known = false;
		if (r[i].split_instants > 0)
			split += r[i].split_instants;
		if (r[i].split_instants < 0)
			split_known = false;
		if (r[i].ok)
			n_ok++;
	}
	if (json)
	{
		fprintf(out, "{\"scope\": ");
		json_str(out, scope ? scope : "");
		fprintf(out, ", \"kind\": \"%s\", \"rounds\": [",
		        ctl_drill_kind_name(kind));
		for (int i = 0; i < n; i++)
		{
			fprintf(out, "%s{\"round\": %d, \"old_primary\": ", i ? ", " : "",
			        r[i].round);
			json_str(out, r[i].old_primary);
			fprintf(out, ", \"new_primary\": ");
			json_str(out, r[i].new_primary);
			fprintf(out,
			        ", \"fault_wall_ms\": %" PRId64 ", \"rto_ms\": %" PRId64
			        ", \"downtime_ms\": %" PRId64 ", \"acked\": %" PRId64,
			        r[i].fault_wall_ms, r[i].rto_ms, r[i].downtime_ms,
			        r[i].acked);
			if (r[i].lost >= 0)
				fprintf(out, ", \"lost\": %" PRId64, r[i].lost);
			else
				fprintf(out, ", \"lost\": null");
			if (r[i].split_instants >= 0)
				fprintf(out,
				        ", \"split\": %" PRId64
				        ", \"split_worst_ms\": %" PRId64,
				        r[i].split_instants, r[i].split_worst_ms);
			else
				fprintf(out, ", \"split\": null, \"split_worst_ms\": null");
			fprintf(out, ", \"rejoin_ms\": %" PRId64 ", \"ok\": %s, \"note\": ",
			        r[i].rejoin_ms, r[i].ok ? "true" : "false");
			json_str(out, r[i].note);
			fputc('}', out);
		}
		fprintf(out,
		        "], \"max_rto_ms\": %" PRId64 ", \"max_downtime_ms\": %" PRId64,
		        max_rto, max_down);
		if (lost_known)
			fprintf(out, ", \"lost\": %" PRId64, lost);
		else
			fprintf(out, ", \"lost\": null");
		if (split_known)
			fprintf(out, ", \"split\": %" PRId64, split);
		else
			fprintf(out, ", \"split\": null");
		fprintf(out, ", \"ok\": %s}\n", n > 0 && n_ok == n ? "true" : "false");
		return;
	}
	fprintf(out, "drill %s on cluster \"%s\": %d round%s\n",
	        ctl_drill_kind_name(kind), scope ? scope : "", n,
	        n == 1 ? "" : "s");
	fprintf(out,
	        "%-5s | %-12s | %-12s | %8s | %11s | %7s | %5s | %9s | %5s | %s\n",
	        "Round", "Old primary", "New primary", "RTO ms", "Downtime ms",
	        "Acked", "Lost", "Rejoin ms", "Split", "Result");
	for (int i = 0; i < n; i++)
	{
		char rto[24], down[24], lst[24], rej[24], spl[24];

		num_or_dash(rto, sizeof(rto), r[i].rto_ms);
		num_or_dash(down, sizeof(down), r[i].downtime_ms);
		num_or_dash(lst, sizeof(lst), r[i].lost);
		num_or_dash(rej, sizeof(rej), r[i].rejoin_ms);
		num_or_dash(spl, sizeof(spl), r[i].split_instants);
		fprintf(out,
		        "%-5d | %-12s | %-12s | %8s | %11s | %7" PRId64
		        " | %5s | %9s | %5s | %s%s%s\n",
		        r[i].round, r[i].old_primary,
		        r[i].new_primary[0] ? r[i].new_primary : "-", rto, down,
		        r[i].acked, lst, rej, spl, r[i].ok ? "ok" : "FAILED",
		        r[i].note[0] ? ": " : "", r[i].note);
	}
	fprintf(out, "max RTO %" PRId64 " ms, max downtime %" PRId64 " ms, ",
	        max_rto, max_down);
	if (lost_known)
		fprintf(out, "lost writes %" PRId64, lost);
	else
		fprintf(out, "lost writes unknown (the check did not run)");
	if (split_known)
		fprintf(out, ", split-brain instants %" PRId64, split);
	else
		fprintf(out, ", split-brain unknown (the watch did not run)");
	fprintf(out, ", %d/%d rounds ok\n", n_ok, n);
	fprintf(
	    out,
	    "(RTO = fault -> the acknowledged write that ended the longest write gap; downtime = that gap; rejoin = fault -> every member running and every replica streaming from the primary on its timeline; split = pairs of members that acknowledged writes at once, probed every 50 ms)\n");
}
