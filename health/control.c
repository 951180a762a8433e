/*
 * control.c: the PgControl handle (DESIGN.md, "health/", promise 1) and our
 * configuration files (postgresql.pgwarden.conf, pg_hba.conf,
 * standby.signal), and the connections to PostgreSQL. The postmaster's life
 * (start, stop, status, the fence's stop) is in control_proc.c.
 */
#include "health/control_int.h"
#include "witness/witness.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/run.h"
#include "common/safefs.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *
dup_or(const char *s, const char *dflt)
{
	if (s != NULL)
		return pgw_xstrdup(s);
	return dflt ? pgw_xstrdup(dflt) : NULL;
}

static void
free_secret(char *s)
{
	if (s != NULL)
	{
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
control_bin(PgControl *c, const char *prog, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->bin_dir, prog);
}

static bool
has_newline(const char *s)
{
	return s != NULL && strpbrk(s, "\n\r") != NULL;
}

/* pick up settings pgwarden wrote before a daemon restart */
static void
load_managed(PgControl *c)
{
	char path[4096];
	HealthParam *ps;
	int n;

	snprintf(path, sizeof(path), "%s/%s", c->data_dir, PGW_CONF_FILE);
	if (health_conf_read(path, &ps, &n, NULL) != 0)
		return;
	for (int i = 0; i < n; i++)
	{
		if (strcmp(ps[i].name, "primary_conninfo") == 0)
		{
			c->primary_conninfo = pgw_xstrdup(ps[i].value);
			control_pgpass_allow_conninfo(c, ps[i].value);
		}
		else if (strcmp(ps[i].name, "primary_slot_name") == 0)
			c->primary_slot = pgw_xstrdup(ps[i].value);
		else if (strcmp(ps[i].name, "synchronous_standby_names") == 0)
			c->sync_names = pgw_xstrdup(ps[i].value);
	}
	health_conf_free(ps, n);
	control_witness_load(c);
}

int
health_control_open(const PgControlConfig *cfg, PgControl **out, PgwError *err)
{
	PgControl *c;
	char buf[4096];
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->bin_dir == NULL || cfg->data_dir == NULL ||
	    cfg->socket_dir == NULL || cfg->member_name == NULL || cfg->port <= 0 ||
	    cfg->port > 65535)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid control configuration: bin_dir, data_dir, socket_dir, member_name and port are required");
	if (cfg->data_dir[0] != '/' || cfg->socket_dir[0] != '/')
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid control configuration: data_dir and socket_dir must be absolute");
	if (has_newline(cfg->superuser_password) ||
	    has_newline(cfg->replication_password))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid control configuration: a password contains a newline");
	if (geteuid() == 0 && cfg->run_as == NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "cannot run PostgreSQL as root: set run_as to an unprivileged user");
	for (int i = 0; i < cfg->n_hba_lines; i++)
		if (has_newline(cfg->hba_lines[i]))
			return pgw_error_set(err, PGW_EINVAL,
			                     "invalid pg_hba line %d: contains a newline",
			                     i + 1);
	for (int i = 0; i < cfg->n_hba_append_lines; i++)
		if (has_newline(cfg->hba_append_lines[i]))
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "invalid bootstrap pg_hba line %d: contains a newline", i + 1);

	c = pgw_xcalloc(1, sizeof(*c));
	c->bin_dir = pgw_xstrdup(cfg->bin_dir);
	c->data_dir = pgw_xstrdup(cfg->data_dir);
	c->port = cfg->port;
	c->listen = dup_or(cfg->listen_addresses, "127.0.0.1");
	c->socket_dir = pgw_xstrdup(cfg->socket_dir);
	c->member = pgw_xstrdup(cfg->member_name);
	c->superuser = dup_or(cfg->superuser, "postgres");
	c->su_password = dup_or(cfg->superuser_password, NULL);
	c->repl_user = dup_or(cfg->replication_user, "replicator");
	c->repl_password = dup_or(cfg->replication_password, NULL);
	snprintf(buf, sizeof(buf), "%s.pgpass", c->data_dir);
	c->pgpass = dup_or(cfg->pgpass_path, buf);
	snprintf(buf, sizeof(buf), "%s.log", c->data_dir);
	c->log_path = dup_or(cfg->log_path, buf);
	c->cmd_timeout_ms =
	    cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : 600000;
	c->no_sync = getenv("PGW_TEST_NOSYNC") != NULL;
	c->n_params = cfg->n_params;
	c->params = pgw_xcalloc((size_t) (cfg->n_params + 1), sizeof(HealthParam));
	for (int i = 0; i < cfg->n_params; i++)
	{
		c->params[i].name =
		    pgw_xstrdup(cfg->params[i].name ? cfg->params[i].name : "");
		c->params[i].value =
		    pgw_xstrdup(cfg->params[i].value ? cfg->params[i].value : "");
	}
	c->n_hba = cfg->n_hba_lines;
	c->hba = pgw_xcalloc((size_t) (cfg->n_hba_lines + 1), sizeof(char *));
	for (int i = 0; i < cfg->n_hba_lines; i++)
		c->hba[i] = pgw_xstrdup(cfg->hba_lines[i]);
	c->n_hba_append = cfg->n_hba_append_lines;
	c->hba_append =
	    pgw_xcalloc((size_t) (cfg->n_hba_append_lines + 1), sizeof(char *));
	for (int i = 0; i < cfg->n_hba_append_lines; i++)
		c->hba_append[i] = pgw_xstrdup(cfg->hba_append_lines[i]);

	if (cfg->run_as != NULL)
	{
		struct passwd *pw = getpwnam(cfg->run_as);

		if (pw == NULL)
		{
			health_control_close(c);
			return pgw_error_set(err, PGW_EINVAL,
			                     "OS user \"%s\" does not exist", cfg->run_as);
		}
		if (pw->pw_uid == 0)
		{
			health_control_close(c);
			return pgw_error_set(err, PGW_EINVAL,
			                     "cannot run PostgreSQL as root user \"%s\"",
			                     cfg->run_as);
		}
		c->run_as = pgw_xstrdup(cfg->run_as);
		c->as.uid = pw->pw_uid;
		c->as.gid = pw->pw_gid;
		c->as.drop = geteuid() != pw->pw_uid;
		if (c->as.drop && geteuid() != 0)
		{
			health_control_close(c);
			return pgw_error_set(err, PGW_EINVAL,
			                     "cannot switch to OS user \"%s\" without root",
			                     cfg->run_as);
		}
		pgw_strlcpy(c->home, pw->pw_dir, sizeof(c->home));
		c->as.user = c->run_as;
		c->as.home = c->home;
	}
	rc = control_pgpass_write(c, err);
	if (rc != 0)
	{
		health_control_close(c);
		return rc;
	}
	load_managed(c);
	*out = c;
	return 0;
}

void
health_control_close(PgControl *c)
{
	if (c == NULL)
		return;
	if (c->standby_conn != NULL)
		PQfinish(c->standby_conn);
	free(c->bin_dir);
	free(c->data_dir);
	free(c->listen);
	free(c->socket_dir);
	free(c->run_as);
	free(c->member);
	free(c->superuser);
	free_secret(c->su_password);
	free(c->repl_user);
	free_secret(c->repl_password);
	free(c->pgpass);
	free(c->log_path);
	for (int i = 0; i < c->n_params; i++)
	{
		free((char *) c->params[i].name);
		free((char *) c->params[i].value);
	}
	free(c->params);
	for (int i = 0; i < c->n_hba; i++)
		free(c->hba[i]);
	free(c->hba);
	for (int i = 0; i < c->n_hba_append; i++)
		free(c->hba_append[i]);
	free(c->hba_append);
	free(c->primary_conninfo);
	free(c->primary_slot);
	free(c->sync_names);
	free(c->witness_app);
	free(c->commit_lib);
	free(c->commit_page);
	free(c);
}

bool
control_dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (d == NULL)
		return errno == ENOENT;
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
		{
			empty = false;
			break;
		}
	}
	closedir(d);
	return empty;
}

int
control_write_conf(PgControl *c, PgwError *err)
{
	char port[16];
	StrBuf b;
	HealthParam base[] = {
	    {"listen_addresses", c->listen},
	    {"port", port},
	    {"unix_socket_directories", c->socket_dir},
	    {"wal_level", "replica"},
	    {"hot_standby", "on"},
	    {"wal_log_hints", "on"},
	    {"max_wal_senders", "10"},
	    {"max_replication_slots", "10"},
	    {"lc_messages", "C"},
	    {"logging_collector", "off"},
	};
	int rc;

	snprintf(port, sizeof(port), "%d", c->port);
	sbuf_init(&b);
	rc = conf_render(
	    &b,
	    "written by pgwarden: do not edit, it is rewritten on every change\n"
	    "base settings",
	    base, (int) PGW_LENGTHOF(base), err);
	if (rc == 0)
		rc = conf_render(&b, "configured parameters", c->params, c->n_params,
		                 err);
	if (rc == 0)
	{
		/* with the lease witness named in it (lease_ssn.c) when it is on */
		char ssn[1024];
		WitnessGate gate;
		bool has;
		HealthParam s[] = {{"synchronous_standby_names", ssn}};

		rc =
		    control_sync_names_effective(c, ssn, sizeof(ssn), &gate, &has, err);
		if (rc == 0 && has)
			rc = conf_render(&b, "synchronous replication", s, 1, err);
		if (rc == 0)
			rc = control_commit_check_render(c, &b, err);
	}
	if (rc == 0 && c->primary_conninfo != NULL)
	{
		/*
		 * No recovery_target_timeline: 'latest' is PostgreSQL's default
		 * since 12, and the line vanishing at promotion reset a
		 * postmaster-context setting, which marked every new primary
		 * pending restart and logged "configuration file contains errors".
		 */
		HealthParam s[] = {
		    {"primary_conninfo", c->primary_conninfo},
		    {"primary_slot_name", c->primary_slot},
		};

		rc = conf_render(&b, "standby", s, 2, err);
	}
	if (rc == 0)
		rc = control_write_data_file(c, PGW_CONF_FILE, b.data, b.len, err);
	free(b.data);
	return rc;
}

/*
 * control_write_hba: the operator's postgresql.pg_hba lines, or our
 * defaults. The defaults never say "trust" (security review F13: with it
 * every local OS user was a database superuser, and a superuser runs
 * programs as the PostgreSQL OS user): password authentication where a
 * password is configured, else peer authentication over the socket with a
 * pg_ident map that lets root (pgwarden) and the PostgreSQL OS user in as
 * the superuser and every other OS user only as its own role.
 */
int
control_write_hba(PgControl *c, PgwError *err)
{
	StrBuf b;
	int rc;
	const char *method = c->su_password ? "scram-sha-256" : "peer map=pgwarden";
	const char *rmethod =
	    c->repl_password ? "scram-sha-256" : "peer map=pgwarden";

	sbuf_init(&b);
	sbuf_puts(&b, "# written by pgwarden\n");
	if (c->n_hba > 0)
	{
		for (int i = 0; i < c->n_hba; i++)
			sbuf_printf(&b, "%s\n", c->hba[i]);
	}
	else
	{
		sbuf_printf(&b, "local all all %s\n", method);
		sbuf_puts(&b, "host all all 127.0.0.1/32 scram-sha-256\n");
		sbuf_puts(&b, "host all all ::1/128 scram-sha-256\n");
		sbuf_printf(&b, "local replication all %s\n", rmethod);
		sbuf_puts(&b, "host replication all 127.0.0.1/32 scram-sha-256\n");
		sbuf_puts(&b, "host replication all ::1/128 scram-sha-256\n");
		for (int i = 0; i < c->n_hba_append; i++)
			sbuf_printf(&b, "%s\n", c->hba_append[i]);
	}
	rc = control_write_data_file(c, "pg_hba.conf", b.data, b.len, err);
	free(b.data);
	if (rc == 0 && c->n_hba == 0 && (!c->su_password || !c->repl_password))
	{
		/* names come from our config; quoted as pg_ident.conf wants */
		sbuf_init(&b);
		sbuf_puts(&b, "# written by pgwarden: the map of its peer rules\n");
		sbuf_printf(&b, "pgwarden root \"%s\"\n", c->superuser);
		if (c->run_as != NULL)
			sbuf_printf(&b, "pgwarden \"%s\" \"%s\"\n", c->run_as,
			            c->superuser);
		if (!c->repl_password)
		{
			sbuf_printf(&b, "pgwarden root \"%s\"\n", c->repl_user);
			if (c->run_as != NULL)
				sbuf_printf(&b, "pgwarden \"%s\" \"%s\"\n", c->run_as,
				            c->repl_user);
		}
		sbuf_puts(&b, "pgwarden /^(.*)$ \\1\n");
		rc = control_write_data_file(c, "pg_ident.conf", b.data, b.len, err);
		free(b.data);
	}
	return rc;
}

int
control_write_signal(PgControl *c, bool standby, PgwError *err)
{
	if (!standby)
		return control_unlink_data_file(c, "standby.signal", err);
	return control_write_data_file(c, "standby.signal", "", 0, err);
}

int
health_control_ensure_standby(PgControl *c, PgwError *err)
{
	return control_write_signal(c, true, err);
}

int
control_set_standby(PgControl *c, const HealthUpstream *leader, PgwError *err)
{
	char port[16];
	char slot[HEALTH_NAME_MAX];
	const char *keys[] = {
	    "host",           "port", "user", "passfile", "application_name",
	    "connect_timeout"};
	const char *vals[6];
	char *ci;

	if (leader == NULL || leader->host == NULL || leader->port <= 0 ||
	    leader->port > 65535)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid upstream: host and port are required");
	snprintf(port, sizeof(port), "%d", leader->port);
	vals[0] = leader->host;
	vals[1] = port;
	vals[2] = c->repl_user;
	vals[3] = c->pgpass;
	vals[4] = c->member;
	vals[5] = "5";
	ci = health_conninfo_build(keys, vals, 6);
	if (ci == NULL)
		return pgw_error_set(err, PGW_EINTERNAL,
		                     "could not build primary_conninfo");
	if (control_pgpass_allow(c, leader->host, leader->port, err) != 0)
	{
		free(ci);
		return err && err->code ? err->code : PGW_EIO;
	}
	free(c->primary_conninfo);
	free(c->primary_slot);
	c->primary_conninfo = ci;
	c->primary_slot =
	    pgw_xstrdup(health_slot_name(c->member, slot, sizeof(slot)));
	return 0;
}

static const char *
conn_host(PgControl *c)
{
	return c->socket_dir;
}

PGconn *
control_connect_local(PgControl *c, int timeout_ms, PgwError *err)
{
	char port[16];
	const char *keys[] = {
	    "host", "port", "user", "dbname", "passfile", "application_name", NULL};
	const char *vals[7];
	HealthUnreachable why;

	snprintf(port, sizeof(port), "%d", c->port);
	vals[0] = conn_host(c);
	vals[1] = port;
	vals[2] = c->superuser;
	vals[3] = "postgres";
	vals[4] = c->pgpass;
	vals[5] = "pgwarden";
	vals[6] = NULL;
	return pgc_connect(keys, vals, timeout_ms, &why, err);
}

PGconn *
control_connect_remote(PgControl *c, const HealthUpstream *up, bool replication,
                       int timeout_ms, PgwError *err)
{
	char port[16];
	const char *keys[] = {"host",        "port",     "user",
	                      "dbname",      "passfile", "application_name",
	                      "replication", NULL};
	const char *vals[8];
	HealthUnreachable why;

	if (control_pgpass_allow(c, up->host, up->port, err) != 0)
		return NULL;
	snprintf(port, sizeof(port), "%d", up->port);
	vals[0] = up->host;
	vals[1] = port;
	vals[2] = replication ? c->repl_user : c->superuser;
	vals[3] = "postgres";
	vals[4] = c->pgpass;
	vals[5] = "pgwarden";
	vals[6] = replication ? "true" : NULL;
	vals[7] = NULL;
	if (!replication)
		keys[6] = NULL;
	return pgc_connect(keys, vals, timeout_ms, &why, err);
}
