/*
 * gate.c: the witness's pure rules (witness.h): synchronous_standby_names
 * with the witness in it, the quorum gate, and the lease rule itself.
 *
 * Why FIRST and ANY differ: "FIRST k (a, b)" with no more names than k
 * needs every name; "FIRST k+1 (witness, a, b)" then needs the witness as
 * well, and if the witness is gone fewer than k+1 stream, so PostgreSQL
 * waits: its own rule keeps the standbys' part and the lease's. "ANY k (a,
 * b, c)" cannot be extended that way ("ANY k+1 (witness, a, b, c)" is met
 * by k+1 standbys without the witness), so in quorum mode the witness is
 * the only name PostgreSQL waits for, and it confirms only what k of the
 * list have also confirmed (read from pg_stat_replication).
 */
#include "witness/witness.h"

#include "common/strutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct Base
{
	enum
	{
		BASE_EMPTY,
		BASE_STAR,
		BASE_FIRST,
		BASE_ANY,
	} kind;
	int k;
	int n;
	char names[WITNESS_GATE_NAMES_MAX][WITNESS_GATE_NAME_LEN];
} Base;

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* keyword: case-insensitive word at p followed by a non-identifier char */
static bool
keyword(const char *p, const char *word, const char **end)
{
	size_t n = strlen(word);

	if (strncasecmp(p, word, n) != 0 || isalnum((unsigned char) p[n]) ||
	    p[n] == '_')
		return false;
	*end = p + n;
	return true;
}

/* parse_name: a double-quoted name ("" is a quote) or a bare identifier */
static int
parse_name(const char **pp, char *out, PgwError *err)
{
	const char *p = *pp;
	size_t j = 0;

	if (*p == '"')
	{
		for (p++;; p++)
		{
			if (*p == '\0')
				return pgw_error_set(err, PGW_EINVAL,
				                     "unterminated quoted name");
			if (*p == '"' && p[1] == '"')
				p++;
			else if (*p == '"')
			{
				p++;
				break;
			}
			if (j + 1 >= WITNESS_GATE_NAME_LEN)
				return pgw_error_set(err, PGW_EINVAL,
				                     "a standby name is longer than %d bytes",
				                     WITNESS_GATE_NAME_LEN - 1);
			out[j++] = *p;
		}
	}
	else if (*p == '*')
	{
		out[j++] = '*';
		p++;
	}
	else
	{
		while (isalnum((unsigned char) *p) || *p == '_' || *p == '$' ||
		       (unsigned char) *p >= 0x80)
		{
			if (j + 1 >= WITNESS_GATE_NAME_LEN)
				return pgw_error_set(err, PGW_EINVAL,
				                     "a standby name is longer than %d bytes",
				                     WITNESS_GATE_NAME_LEN - 1);
			/* PostgreSQL folds an unquoted name to lower case */
			out[j++] = (char) tolower((unsigned char) *p);
			p++;
		}
	}
	if (j == 0)
		return pgw_error_set(err, PGW_EINVAL,
		                     "expected a standby name at \"%.20s\"", *pp);
	out[j] = '\0';
	*pp = p;
	return 0;
}

static int
parse_list(const char **pp, Base *b, PgwError *err)
{
	const char *p = skip_ws(*pp);

	for (;;)
	{
		int rc;

		if (b->n == WITNESS_GATE_NAMES_MAX)
			return pgw_error_set(err, PGW_EINVAL, "more than %d standby names",
			                     WITNESS_GATE_NAMES_MAX);
		if ((rc = parse_name(&p, b->names[b->n], err)) != 0)
			return rc;
		b->n++;
		p = skip_ws(p);
		if (*p != ',')
			break;
		p = skip_ws(p + 1);
	}
	*pp = p;
	return 0;
}

/* parse_base: PostgreSQL's synchronous_standby_names grammar */
static int
parse_base(const char *s, Base *b, PgwError *err)
{
	const char *p = skip_ws(s);
	const char *q;
	bool has_num = false;
	int rc;

	memset(b, 0, sizeof(*b));
	if (*p == '\0')
	{
		b->kind = BASE_EMPTY;
		return 0;
	}
	b->kind = BASE_FIRST;
	b->k = 1;
	if (keyword(p, "FIRST", &q))
		p = skip_ws(q);
	else if (keyword(p, "ANY", &q))
	{
		b->kind = BASE_ANY;
		p = skip_ws(q);
		if (!isdigit((unsigned char) *p))
			return pgw_error_set(err, PGW_EINVAL, "ANY without a number");
	}
	if (isdigit((unsigned char) *p))
	{
		long k = 0;

		while (isdigit((unsigned char) *p))
		{
			k = k * 10 + (*p - '0');
			if (k > WITNESS_GATE_NAMES_MAX)
				return pgw_error_set(err, PGW_EINVAL,
				                     "number of standbys out of range (1..%d)",
				                     WITNESS_GATE_NAMES_MAX);
			p++;
		}
		if (k < 1)
			return pgw_error_set(err, PGW_EINVAL,
			                     "number of standbys must be at least 1");
		b->k = (int) k;
		has_num = true;
		p = skip_ws(p);
	}
	if (has_num || *p == '(')
	{
		if (*p != '(')
			return pgw_error_set(err, PGW_EINVAL,
			                     "expected \"(\" after the number");
		p++;
		if ((rc = parse_list(&p, b, err)) != 0)
			return rc;
		if (*p != ')')
			return pgw_error_set(err, PGW_EINVAL, "expected \")\" at \"%.20s\"",
			                     p);
		p = skip_ws(p + 1);
	}
	else if ((rc = parse_list(&p, b, err)) != 0)
		return rc;
	if (*p != '\0')
		return pgw_error_set(err, PGW_EINVAL, "unexpected \"%.20s\"", p);
	/* a bare "*" (or FIRST k (*)): any k standbys */
	if (b->kind == BASE_FIRST && b->n == 1 && strcmp(b->names[0], "*") == 0)
		b->kind = BASE_STAR;
	return 0;
}

/* append: s at out[*used], bounded by len */
static int
append(char *out, size_t len, size_t *used, const char *s, PgwError *err)
{
	size_t n = strlen(s);

	if (*used + n + 1 > len)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "synchronous_standby_names would be longer than %zu bytes",
		    len - 1);
	memcpy(out + *used, s, n + 1);
	*used += n;
	return 0;
}

/* append_quoted: "name" with its quotes doubled */
static int
append_quoted(char *out, size_t len, size_t *used, const char *name,
              PgwError *err)
{
	char q[2 * WITNESS_GATE_NAME_LEN + 3];
	size_t j = 0;

	q[j++] = '"';
	for (const char *p = name; *p; p++)
	{
		if (*p == '"')
			q[j++] = '"';
		q[j++] = *p;
	}
	q[j++] = '"';
	q[j] = '\0';
	return append(out, len, used, q, err);
}

int
witness_ssn_compose(const char *base, const char *app, char *ssn,
                    size_t ssn_len, WitnessGate *gate, PgwError *err)
{
	Base b;
	size_t used = 0;
	int rc;

	memset(gate, 0, sizeof(*gate));
	if (ssn_len == 0 || app == NULL || app[0] == '\0' ||
	    strlen(app) >= WITNESS_GATE_NAME_LEN)
		return pgw_error_set(err, PGW_EINVAL, "invalid witness name or buffer");
	ssn[0] = '\0';
	if ((rc = parse_base(base ? base : "", &b, err)) != 0)
	{
		pgw_error_prefix(err, "synchronous_standby_names \"%.200s\"", base);
		return rc;
	}
	for (int i = 0; i < b.n; i++)
		if (strcasecmp(b.names[i], app) == 0)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "synchronous_standby_names \"%.200s\" already names the witness \"%s\"",
			    base, app);
	switch (b.kind)
	{
		case BASE_EMPTY:
			return append_quoted(ssn, ssn_len, &used, app, err);
		case BASE_STAR:
			gate->k = b.k;
			gate->any_name = true;
			return append_quoted(ssn, ssn_len, &used, app, err);
		case BASE_ANY:
			if (b.k > b.n)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "synchronous_standby_names \"%.200s\" asks for %d of %d standbys",
				    base, b.k, b.n);
			gate->k = b.k;
			for (int i = 0; i < b.n; i++)
			{
				if (strcmp(b.names[i], "*") == 0)
					gate->any_name = true;
				else
					pgw_strlcpy(gate->names[gate->n_names++], b.names[i],
					            WITNESS_GATE_NAME_LEN);
			}
			return append_quoted(ssn, ssn_len, &used, app, err);
		case BASE_FIRST:
		{
			char head[32];

			/* more names than k, or "*" (any number of standbys):
				 * with the witness first, it would be optional */
			for (int i = 0; i < b.n; i++)
				if (strcmp(b.names[i], "*") == 0)
					return pgw_error_set(
					    err, PGW_EINVAL,
					    "synchronous_standby_names \"%.200s\" mixes \"*\" with names under FIRST: the witness would be optional",
					    base);
			if (b.n > b.k)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "synchronous_standby_names \"%.200s\" lists %d names for FIRST %d: with the witness first, PostgreSQL could commit without it",
				    base, b.n, b.k);
			/* FIRST k+1 must read back (parse_base caps k): else the
			 * daemon would not know its own value (fuzz_witness_input) */
			if (b.k + 1 > WITNESS_GATE_NAMES_MAX)
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "synchronous_standby_names \"%.200s\" asks for FIRST %d: with the witness that is %d, over the %d standbys pgwarden handles",
				    base, b.k, b.k + 1, WITNESS_GATE_NAMES_MAX);
			snprintf(head, sizeof(head), "FIRST %d (", b.k + 1);
			if ((rc = append(ssn, ssn_len, &used, head, err)) != 0 ||
			    (rc = append_quoted(ssn, ssn_len, &used, app, err)) != 0)
				return rc;
			for (int i = 0; i < b.n; i++)
			{
				if ((rc = append(ssn, ssn_len, &used, ", ", err)) != 0 ||
				    (rc = append_quoted(ssn, ssn_len, &used, b.names[i],
				                        err)) != 0)
					return rc;
			}
			return append(ssn, ssn_len, &used, ")", err);
		}
	}
	return pgw_error_set(err, PGW_EINTERNAL,
	                     "unknown synchronous_standby_names form");
}

int
witness_ssn_decompose(const char *ssn, const char *app, char *base,
                      size_t base_len, bool *named, bool *gate_unknown)
{
	Base b;
	size_t used = 0;
	int rc;

	*named = false;
	*gate_unknown = false;
	if (base_len == 0)
		return PGW_EINVAL;
	base[0] = '\0';
	if (parse_base(ssn ? ssn : "", &b, NULL) != 0 || b.kind != BASE_FIRST ||
	    b.n == 0 || strcasecmp(b.names[0], app) != 0)
	{
		/* not composed by us: it is the base itself */
		return pgw_strlcpy(base, ssn ? ssn : "", base_len) < base_len
		           ? 0
		           : PGW_EINVAL;
	}
	*named = true;
	if (b.n == 1)
	{
		/* async, quorum and "*" all read "witness" alone: which one it was
		 * (and its gate) is not in PostgreSQL's value */
		*gate_unknown = true;
		return 0;
	}
	{
		char head[32];

		snprintf(head, sizeof(head), "FIRST %d (", b.k - 1);
		if ((rc = append(base, base_len, &used, head, NULL)) != 0)
			return rc;
	}
	for (int i = 1; i < b.n; i++)
	{
		if ((i > 1 && (rc = append(base, base_len, &used, ", ", NULL)) != 0) ||
		    (rc = append_quoted(base, base_len, &used, b.names[i], NULL)) != 0)
			return rc;
	}
	return append(base, base_len, &used, ")", NULL);
}

static bool
gate_names(const WitnessGate *g, const char *self_name, const char *name)
{
	if (name == NULL || (self_name != NULL && strcasecmp(name, self_name) == 0))
		return false;
	if (g->any_name)
		return true;
	for (int i = 0; i < g->n_names; i++)
		if (strcasecmp(g->names[i], name) == 0)
			return true;
	return false;
}

/* kth_highest: the k-th highest of v[0..n) (k >= 1), 0 when n < k */
static uint64_t
kth_highest(uint64_t *v, int n, int k)
{
	if (n < k)
		return 0;
	/* n is small (at most the members): insertion sort, descending */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j] > v[j - 1]; j--)
		{
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[k - 1];
}

WitnessPositions
witness_gate_position(const WitnessGate *g, const char *self_name,
                      const WitnessStandby *s, int n, uint64_t received)
{
	WitnessPositions p = {received, received, received};
	uint64_t w[WITNESS_GATE_NAMES_MAX];
	uint64_t f[WITNESS_GATE_NAMES_MAX];
	uint64_t a[WITNESS_GATE_NAMES_MAX];
	int m = 0;

	if (g == NULL || g->k <= 0)
		return p;
	for (int i = 0; i < n && m < WITNESS_GATE_NAMES_MAX; i++)
	{
		if (!s[i].streaming || !gate_names(g, self_name, s[i].application_name))
			continue;
		w[m] = s[i].write_lsn;
		f[m] = s[i].flush_lsn;
		a[m] = s[i].replay_lsn;
		m++;
	}
	p.write = kth_highest(w, m, g->k);
	p.flush = kth_highest(f, m, g->k);
	p.apply = kth_highest(a, m, g->k);
	if (p.write > received)
		p.write = received;
	if (p.flush > received)
		p.flush = received;
	if (p.apply > received)
		p.apply = received;
	return p;
}

bool
witness_may_confirm(bool armed, int64_t deadline_mono_ms, int64_t now_mono_us)
{
	return armed && deadline_mono_ms > 0 &&
	       now_mono_us < deadline_mono_ms * 1000;
}
