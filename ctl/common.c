/*
 * common.c: helpers shared by the pgwardenctl commands (ctl_int.h): the
 * etcd client, the cluster view, confirmations, and the command table.
 */
#include "ctl/ctl_int.h"

#include "common/url.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
ctl_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pgwardenctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
ctl_open(CtlGlobal *g, EtcdClient **c)
{
	EtcdClientConfig cfg = {0};
	PgwError err = {0};

	cfg.endpoints = g->etcd;
	cfg.ca_file = g->cacert;
	cfg.cert_file = g->cert;
	cfg.key_file = g->key;
	cfg.username = g->username;
	cfg.password = g->password;
	cfg.call_timeout_ms = g->timeout_ms;
	if (etcd_client_open(&cfg, c, &err) != 0)
	{
		ctl_fail("%s (check --etcd and the TLS options)", err.msg);
		return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

int
ctl_view(CtlGlobal *g, EtcdClient *c, ClusterView **out)
{
	PgwError err = {0};
	ClusterView *v = pgw_xcalloc(1, sizeof(ClusterView));

	*out = NULL;
	if (dcs_view_read(c, g->prefix, true, v, &err) != 0)
	{
		ctl_fail(
		    "could not read cluster \"%s\" from etcd %s: %s; check --etcd (or etcd3.hosts in the config) and that etcd runs",
		    g->scope, g->etcd, err.msg);
		free(v);
		return CTL_EXIT_FAILED;
	}
	if (v->n_members == 0 && !v->has_initialize && !v->has_leader &&
	    !v->has_config)
	{
		ctl_fail(
		    "cluster \"%s\" does not exist (no keys under %s in etcd %s); check --scope and --namespace",
		    g->scope, g->prefix, g->etcd);
		free(v);
		return CTL_EXIT_FAILED;
	}
	*out = v;
	return CTL_EXIT_OK;
}

bool
ctl_is_interactive(void)
{
	return isatty(STDIN_FILENO) && isatty(STDERR_FILENO);
}

bool
ctl_prompt(const char *question, char *buf, size_t len)
{
	size_t n;

	fprintf(stderr, "%s", question);
	fflush(stderr);
	if (fgets(buf, (int) len, stdin) == NULL)
		return false;
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return true;
}

bool
ctl_confirm(bool force, const char *fmt, ...)
{
	char q[512];
	char answer[16];
	va_list ap;

	if (force)
		return true;
	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	if (!ctl_is_interactive())
	{
		ctl_fail("%s: no terminal to confirm on; add --force to proceed", q);
		return false;
	}
	if (!ctl_prompt(q, answer, sizeof(answer)))
		return false;
	return strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 ||
	       strcmp(answer, "yes") == 0;
}

void
ctl_api_base(const char *api_url, char *out, size_t len)
{
	pgw_url_base(api_url, out, len);
}

typedef struct CmdEntry
{
	const char *name;
	CtlCommandFn fn;
	bool needs_etcd;
} CmdEntry;

static const CmdEntry entries[] = {
    {"list", cmd_list, true},
    {"topology", cmd_topology, true},
    {"switchover", cmd_switchover, true},
    {"failover", cmd_failover, true},
    {"flush", cmd_flush, true},
    {"pause", cmd_pause, true},
    {"resume", cmd_resume, true},
    {"restart", cmd_restart, true},
    {"reload", cmd_reload, true},
    {"reinit", cmd_reinit, true},
    {"history", cmd_history, true},
    {"show-config", cmd_show_config, true},
    {"edit-config", cmd_edit_config, true},
    {"remove", cmd_remove, true},
    {"drill", cmd_drill, true},
    {"shard", cmd_shard, true},
    {"backup", cmd_backup, true},
    {"restore", cmd_restore, true},
    {"version", cmd_version, false},
    {"debug", cmd_debug, false},
};

CtlCommandFn
ctl_command_fn(const char *command)
{
	for (size_t i = 0; i < PGW_LENGTHOF(entries); i++)
		if (strcmp(entries[i].name, command) == 0)
			return entries[i].fn;
	return NULL;
}

bool
ctl_command_needs_etcd(const char *command)
{
	for (size_t i = 0; i < PGW_LENGTHOF(entries); i++)
		if (strcmp(entries[i].name, command) == 0)
			return entries[i].needs_etcd;
	return true;
}
