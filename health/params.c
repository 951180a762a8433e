/*
 * params.c: the parameters pgwarden writes into postgresql.pgwarden.conf
 * (health.h, health_control_set_params): replaced while the node runs when
 * the cluster-wide parameters of the `config` key change, and checked the
 * way the postmaster will read them at its next start before anyone relies
 * on them. A parameter PostgreSQL refuses (an unknown name, a value out of
 * range) would let a reload carry on with the old value and then stop the
 * next start cold ("configuration file contains errors"): such a parameter
 * is left out of the file and named to the caller instead.
 */
#include "health/control_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHECK_TIMEOUT_MS 15000

static bool
same_params(const PgControl *c, const HealthParam *p, int n)
{
	if (c->n_params != n)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(c->params[i].name, p[i].name) != 0 ||
		    strcmp(c->params[i].value, p[i].value) != 0)
			return false;
	return true;
}

static void
free_params(PgControl *c)
{
	for (int i = 0; i < c->n_params; i++)
	{
		free((char *) c->params[i].name);
		free((char *) c->params[i].value);
	}
	free(c->params);
	c->params = NULL;
	c->n_params = 0;
}

static void
copy_params(PgControl *c, const HealthParam *p, int n)
{
	free_params(c);
	c->params = pgw_xcalloc((size_t) n + 1, sizeof(HealthParam));
	for (int i = 0; i < n; i++)
	{
		c->params[i].name = pgw_xstrdup(p[i].name);
		c->params[i].value = pgw_xstrdup(p[i].value);
	}
	c->n_params = n;
}

/* drop_param: remove name from c->params; true when it was there */
static bool
drop_param(PgControl *c, const char *name)
{
	for (int i = 0; i < c->n_params; i++)
		if (strcmp(c->params[i].name, name) == 0)
		{
			free((char *) c->params[i].name);
			free((char *) c->params[i].value);
			memmove(&c->params[i], &c->params[i + 1],
			        sizeof(HealthParam) * (size_t) (c->n_params - i - 1));
			c->n_params--;
			return true;
		}
	return false;
}

/*
 * check_conf: `postgres -D data_dir -C port` as run_as reads every
 * configuration file exactly as the postmaster's start will, and exits
 * non-zero naming each parameter it refuses: 'unrecognized configuration
 * parameter "x"', 'invalid value for parameter "x"', '... outside the
 * valid range for parameter "x"' (LC_ALL=C in the child). It works beside
 * a running server (pg_ctl uses it so). 0 when the files are good; else
 * PGW_EINVAL with the refused names (comma-separated) in bad, or another
 * error when it could not run.
 */
static int
check_conf(PgControl *c, char *bad, size_t bad_len, PgwError *err)
{
	char prog[4096];
	const char *argv[6];
	StrBuf out = {0};
	int rc;

	bad[0] = '\0';
	control_bin(c, "postgres", prog, sizeof(prog));
	argv[0] = prog;
	argv[1] = "-D";
	argv[2] = c->data_dir;
	argv[3] = "-C";
	argv[4] = "port";
	argv[5] = NULL;
	rc = run_program(argv, &c->as, NULL, CHECK_TIMEOUT_MS, &out, err);
	if (rc == PGW_EIO && out.data != NULL)
	{
		const char *p = out.data;
		size_t used = 0;

		while ((p = strstr(p, "parameter \"")) != NULL)
		{
			const char *b = p + strlen("parameter \"");
			const char *e = strchr(b, '"');
			int w;

			if (e == NULL)
				break;
			w = snprintf(bad + used, bad_len - used, "%s%.*s", used ? "," : "",
			             (int) (e - b), b);
			if (w > 0 && used + (size_t) w < bad_len)
				used += (size_t) w;
			p = e;
		}
		if (used > 0)
			rc = pgw_error_set(err, PGW_EINVAL,
			                   "PostgreSQL refuses parameter(s) %s", bad);
	}
	free(out.data);
	return rc;
}

int
health_control_set_params(PgControl *c, const HealthParam *params, int n,
                          bool *changed, char *rejected, size_t rejected_len,
                          PgwError *err)
{
	char path[4096];
	struct stat st;
	size_t used = 0;

	*changed = false;
	if (rejected_len > 0)
		rejected[0] = '\0';
	if (!c->params_unwritten && same_params(c, params, n))
		return 0;
	copy_params(c, params, n);
	*changed = true;
	c->params_unwritten = true;
	/* no data directory yet: bootstrap or clone writes the file */
	snprintf(path, sizeof(path), "%s/PG_VERSION", c->data_dir);
	if (stat(path, &st) != 0)
	{
		c->params_unwritten = false;
		return 0;
	}
	for (int attempt = 0; attempt <= n; attempt++)
	{
		char bad[512];
		char *save = NULL;
		int rc;
		bool dropped = false;

		if ((rc = control_write_conf(c, err)) != 0)
		{
			*changed = false; /* params_unwritten: the next call retries */
			return rc;
		}
		c->params_unwritten = false;
		rc = check_conf(c, bad, sizeof(bad), err);
		if (rc == 0)
			return 0;
		if (rc != PGW_EINVAL)
			return rc;
		for (char *name = strtok_r(bad, ",", &save); name != NULL;
		     name = strtok_r(NULL, ",", &save))
		{
			if (!drop_param(c, name))
				continue;
			dropped = true;
			if (rejected_len > used)
			{
				int w = snprintf(rejected + used, rejected_len - used, "%s%s",
				                 used ? "," : "", name);

				if (w > 0 && used + (size_t) w < rejected_len)
					used += (size_t) w;
			}
		}
		/* refused for a reason that is not one of ours (say a bad line in
		 * postgresql.auto.conf): ours are written, the error is said */
		if (!dropped)
			return rc;
		pgw_error_clear(err);
	}
	if (control_write_conf(c, err) != 0)
	{
		c->params_unwritten = true;
		*changed = false;
		return err->code ? err->code : PGW_EIO;
	}
	return 0;
}
