/*
 * target_template.c: "anything else" (issue 7): render a template file with
 * the table's endpoints, replace the output atomically, then run a hook
 * from an argument vector, bounded in time. An unknown placeholder is an
 * error and the previously rendered file stays.
 */
#include "routing/routing_int.h"

#include "common/log.h"
#include "common/pgwtime.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Buf
{
	char *p;
	size_t len;
	size_t cap;
} Buf;

static void
buf_add(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 1024;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static char *
replicas_json(const RoutingTable *t)
{
	json_t *a = json_array();
	char *s;

	for (int i = 0; i < t->n_replicas; i++)
	{
		const RoutingReplica *r = &t->replicas[i];

		json_array_append_new(
		    a, json_pack("{s:s, s:s, s:i, s:I, s:i, s:s}", "name", r->ep.name,
		                 "host", r->ep.host, "port", r->ep.port, "lag",
		                 (json_int_t) (r->lag_bytes > INT64_MAX ? INT64_MAX
		                                                        : r->lag_bytes),
		                 "weight", r->weight, "sync_state",
		                 r->is_sync ? "sync" : "async"));
	}
	s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(a);
	if (s == NULL)
		abort();
	return s;
}

int
router_template_render(const char *tmpl, const RoutingTable *t, char **out,
                       PgwError *err)
{
	Buf b = {0};
	const char *p = tmpl;
	int line = 1;

	*out = NULL;
	buf_add(&b, "", 0);
	while (*p)
	{
		const char *open = strstr(p, "{{");
		const char *close;
		char name[64];
		char num[32];
		size_t nlen;

		if (open == NULL)
		{
			buf_str(&b, p);
			break;
		}
		for (const char *q = p; q < open; q++)
			if (*q == '\n')
				line++;
		buf_add(&b, p, (size_t) (open - p));
		close = strstr(open + 2, "}}");
		if (close == NULL || memchr(open, '\n', (size_t) (close - open)))
		{
			free(b.p);
			return pgw_error_set(err, PGW_EINVAL,
			                     "template line %d: \"{{\" without \"}}\"",
			                     line);
		}
		nlen = (size_t) (close - open - 2);
		while (nlen > 0 && open[2] == ' ')
		{
			open++;
			nlen--;
		}
		while (nlen > 0 && open[2 + nlen - 1] == ' ')
			nlen--;
		if (nlen >= sizeof(name))
			nlen = sizeof(name) - 1;
		memcpy(name, open + 2, nlen);
		name[nlen] = '\0';
		if (strcmp(name, "epoch") == 0)
		{
			snprintf(num, sizeof(num), "%lld", (long long) t->epoch);
			buf_str(&b, num);
		}
		else if (strcmp(name, "state") == 0)
			buf_str(&b, routing_state_name(t->state));
		else if (strcmp(name, "leader") == 0)
			buf_str(&b, t->leader);
		else if (strcmp(name, "primary_name") == 0)
			buf_str(&b, t->has_primary ? t->primary.name : "");
		else if (strcmp(name, "primary_host") == 0)
			buf_str(&b, t->has_primary ? t->primary.host : "");
		else if (strcmp(name, "primary_port") == 0)
		{
			snprintf(num, sizeof(num), "%d", t->primary.port);
			buf_str(&b, t->has_primary ? num : "");
		}
		else if (strcmp(name, "replicas_json") == 0)
		{
			char *s = replicas_json(t);

			buf_str(&b, s);
			free(s);
		}
		else if (strcmp(name, "table_json") == 0)
		{
			char *s = routing_table_encode(t);

			buf_str(&b, s);
			free(s);
		}
		else if (strcmp(name, "time") == 0)
		{
			char ts[48];

			pgw_format_wall_iso(t->changed_at_wall_ms, 0, ts, sizeof(ts));
			buf_str(&b, ts);
		}
		else
		{
			free(b.p);
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "template line %d: unknown placeholder \"{{%s}}\"", line, name);
		}
		p = strstr(open + 2, "}}") + 2;
	}
	*out = b.p;
	return 0;
}

static int
read_file(const char *path, char **out, PgwError *err)
{
	FILE *f = fopen(path, "r");
	Buf b = {0};
	char tmp[4096];
	size_t n;

	if (f == NULL)
		return pgw_error_set(err, PGW_EIO, "could not open template \"%s\": %s",
		                     path, strerror(errno));
	buf_add(&b, "", 0);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(&b, tmp, n);
	fclose(f);
	if (strlen(b.p) != b.len)
	{
		free(b.p);
		return pgw_error_set(err, PGW_EINVAL, "template \"%s\" holds a NUL",
		                     path);
	}
	*out = b.p;
	return 0;
}

int
template_apply(const TargetConfig *cfg, const RoutingTable *t, PgwError *err)
{
	char *tmpl = NULL;
	char *text = NULL;
	int rc;

	if ((rc = read_file(cfg->template_path, &tmpl, err)) != 0)
		goto out;
	if ((rc = router_template_render(tmpl, t, &text, err)) != 0)
	{
		pgw_error_prefix(err, "%s", cfg->template_path);
		goto out;
	}
	if ((rc = router_write_atomic(cfg->output, text, strlen(text), 0644,
	                              err)) != 0)
		goto out;
	if (cfg->hook_argc > 0)
	{
		char *argv[ROUTER_HOOK_ARGS_MAX + 1];

		for (int i = 0; i < cfg->hook_argc; i++)
			argv[i] = (char *) cfg->hook_argv[i];
		argv[cfg->hook_argc] = NULL;
		log_info("router.hook.run", "command=\"%s\" argc=%d epoch=%lld",
		         argv[0], cfg->hook_argc, (long long) t->epoch);
		rc = router_run_argv(argv, cfg->timeout_ms, NULL, 0, err);
	}
out:
	free(tmpl);
	free(text);
	if (rc != 0)
		pgw_error_prefix(err, "template target");
	return rc;
}
