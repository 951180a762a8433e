/*
 * cmd_backup.c: pgwardenctl backup / backup list / backup verify / restore
 * (issue 15). `backup` asks the leader for a backup (backup/demand) and
 * waits for its outcome; `backup list` prints the catalog; `backup verify`
 * runs the restore drill here (it needs this node's config: -c) and
 * records it; `restore` restores the repository into a new cluster's data
 * directory after checking the target against the recovery window.
 */
#include "ctl/ctl_int.h"

#include "backup/backup.h"
#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"
#include "config/config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum
{
	O_TYPE = 256,
	O_NO_WAIT,
	O_TIMEOUT,
	O_JSON,
	O_DIR,
	O_PORT,
	O_TO,
	O_INTO,
	O_DATA_DIR,
	O_HELP,
};

static const struct option long_opts[] = {
    {"type", required_argument, NULL, O_TYPE},
    {"no-wait", no_argument, NULL, O_NO_WAIT},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"json", no_argument, NULL, O_JSON},
    {"dir", required_argument, NULL, O_DIR},
    {"port", required_argument, NULL, O_PORT},
    {"to", required_argument, NULL, O_TO},
    {"into", required_argument, NULL, O_INTO},
    {"data-dir", required_argument, NULL, O_DATA_DIR},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

typedef struct BackupArgs
{
	const char *sub; /* NULL (take a backup), "list", "verify" */
	const char *type;
	bool no_wait;
	int64_t timeout_ms;
	bool json;
	const char *dir;
	int port;
	const char *to;
	const char *into;
	const char *data_dir;
	bool help;
} BackupArgs;

static void
help(const char *command)
{
	if (strcmp(command, "restore") == 0)
		printf(
		    "usage: pgwardenctl [-c CONFIG] restore --to TIME|LSN|latest --into NEW_SCOPE --data-dir DIR [--port PORT] [--json]\n\n"
		    "Restore this cluster's pgBackRest repository to a point in time into DIR (new or\n"
		    "empty), for a new cluster NEW_SCOPE: recovery runs on a scratch PORT with archiving\n"
		    "off, the server is promoted and stopped cleanly; start a pgwarden node of scope\n"
		    "NEW_SCOPE on DIR and it adopts it. TIME needs a zone (2026-11-23 10:00:00+00) and\n"
		    "must lie inside the recovery window (`backup list`). Needs -c (this node's config).\n");
	else
		printf(
		    "usage: pgwardenctl [-c CONFIG] backup [--type full|diff|incr] [--no-wait] [--timeout DURATION]\n"
		    "       pgwardenctl backup list [--json]\n"
		    "       pgwardenctl [-c CONFIG] backup verify [--dir DIR] [--port PORT] [--json]\n\n"
		    "backup: ask the leader for a base backup now and wait for its outcome (default\n"
		    "type incr; the leader picks a healthy replica, or the primary if allowed).\n"
		    "list: the backups, recovery window, archive, last attempt, gap check and drill.\n"
		    "verify: the restore drill, run here: pgbackrest verify, restore the newest backup to\n"
		    "the end of the archive into DIR on PORT, pg_amcheck, the canary row; recorded in\n"
		    "etcd and exported as metrics. Exit code 1 when the drill fails.\n");
}

static int
parse(const CtlArgs *a, BackupArgs *o)
{
	int argc = a->raw_argc;
	char **argv = a->raw_argv;
	int c;
	int64_t v;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = 6 * 3600 * 1000;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1)
	{
		switch (c)
		{
			case O_TYPE:
				o->type = optarg;
				break;
			case O_NO_WAIT:
				o->no_wait = true;
				break;
			case O_TIMEOUT:
				if (pgw_parse_duration_ms(optarg, &o->timeout_ms) != 0 ||
				    o->timeout_ms <= 0)
				{
					ctl_fail(
					    "invalid --timeout \"%s\": expected a duration such as 30s or 2m",
					    optarg);
					return CTL_EXIT_USAGE;
				}
				break;
			case O_JSON:
				o->json = true;
				break;
			case O_DIR:
				o->dir = optarg;
				break;
			case O_PORT:
				if (pgw_parse_int64(optarg, 1, 65535, &v) != 0)
				{
					ctl_fail("invalid --port \"%s\": expected 1..65535",
					         optarg);
					return CTL_EXIT_USAGE;
				}
				o->port = (int) v;
				break;
			case O_TO:
				o->to = optarg;
				break;
			case O_INTO:
				o->into = optarg;
				break;
			case O_DATA_DIR:
				o->data_dir = optarg;
				break;
			case O_HELP:
				o->help = true;
				break;
			case ':':
				ctl_fail("option \"%s\" of %s needs a value", argv[optind - 1],
				         a->command);
				return CTL_EXIT_USAGE;
			default:
				ctl_fail(
				    "unknown option \"%s\" for %s (see pgwardenctl %s --help)",
				    argv[optind - 1], a->command, a->command);
				return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		o->sub = argv[optind++];
	if (optind < argc)
	{
		ctl_fail("unexpected argument \"%s\" to %s", argv[optind], a->command);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

/* the node's own config: verify and restore run pgbackrest here */
static int
load_node(const CtlGlobal *g, NodeConfig *nc)
{
	PgwError err = {0};
	extern char **environ;

	memset(nc, 0, sizeof(*nc));
	if (g->config_path == NULL)
	{
		ctl_fail(
		    "this command runs pgbackrest here: give this node's configuration with -c CONFIG (or PGWARDEN_CONFIG)");
		return CTL_EXIT_USAGE;
	}
	if (config_load_file(g->config_path, nc, &err) != 0 ||
	    config_apply_env(nc, environ, &err) != 0 ||
	    config_validate(nc, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		return CTL_EXIT_USAGE;
	}
	if (!nc->backup.enabled)
	{
		ctl_fail(
		    "%s has no backup: section (repository, stanza): nothing to restore from",
		    g->config_path);
		config_free(nc);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

static int
do_list(CtlGlobal *g, EtcdClient *c, const BackupArgs *o)
{
	BackupState *st = pgw_xcalloc(1, sizeof(BackupState));
	BackupCatalog *cat = pgw_xcalloc(1, sizeof(BackupCatalog));
	PgwError err = {0};
	bool found = false;
	int rc = CTL_EXIT_OK;

	if (backup_state_read(c, g->prefix, st, &err) != 0 ||
	    backup_catalog_read(c, g->prefix, cat, &found, &err) != 0)
	{
		ctl_fail("could not read the backup keys of \"%s\": %s", g->scope,
		         err.msg);
		rc = CTL_EXIT_FAILED;
	}
	else
	{
		if (!found && !o->json)
			printf(
			    "No catalog yet: backups are off, or the leader has not mirrored the repository yet.\n");
		backup_catalog_print(stdout, cat, st, pgw_now_wall_ms(),
		                     o->json || g->format == CTL_FORMAT_JSON);
	}
	free(st);
	free(cat);
	return rc;
}

/* take: demand a backup and wait for the attempt that carries its id */
static int
do_take(CtlGlobal *g, EtcdClient *c, const BackupArgs *o)
{
	char id[BACKUP_ID_MAX];
	char by[96];
	PgwError err = {0};
	int64_t deadline = pgw_now_mono_ms() + o->timeout_ms;
	BackupState *st;
	int rc = CTL_EXIT_FAILED;
	BackupStatus last = BACKUP_STATUS_NONE;

	snprintf(by, sizeof(by), "pgwardenctl (pid %d)", (int) getpid());
	if (backup_demand_put(c, g->prefix, o->type, by, id, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		return err.code == PGW_EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
	}
	printf("backup %s requested (%s)\n", id, o->type ? o->type : "incr");
	if (o->no_wait)
		return CTL_EXIT_OK;
	fflush(stdout);
	st = pgw_xcalloc(1, sizeof(BackupState));
	while (pgw_now_mono_ms() < deadline)
	{
		if (backup_state_read(c, g->prefix, st, &err) == 0 &&
		    st->attempt.present && strcmp(st->attempt.id, id) == 0)
		{
			if (st->attempt.status != last &&
			    st->attempt.status == BACKUP_STATUS_RUNNING)
			{
				printf("running on %s (%s), token %lld\n", st->attempt.node,
				       st->attempt.source_role,
				       (long long) st->lock.create_revision);
				fflush(stdout);
			}
			last = st->attempt.status;
			if (st->attempt.status == BACKUP_STATUS_OK)
			{
				printf("backup %s done: label %s, from %s (%s)\n", id,
				       st->attempt.label, st->attempt.node,
				       st->attempt.source_role);
				rc = CTL_EXIT_OK;
				break;
			}
			if (st->attempt.status == BACKUP_STATUS_FAILED ||
			    st->attempt.status == BACKUP_STATUS_ABORTED)
			{
				ctl_fail(
				    "backup %s %s: %s (the leader retries it up to backup.max_retries times)",
				    id, backup_status_name(st->attempt.status),
				    st->attempt.reason);
				break;
			}
		}
		usleep(500000);
	}
	if (rc != CTL_EXIT_OK && last != BACKUP_STATUS_FAILED &&
	    last != BACKUP_STATUS_ABORTED)
		ctl_fail(
		    "backup %s: no outcome within the --timeout (status %s); see `pgwardenctl backup list`",
		    id, backup_status_name(last));
	free(st);
	return rc;
}

static int
do_verify(CtlGlobal *g, EtcdClient *c, const BackupArgs *o)
{
	NodeConfig nc;
	BackupVerify v;
	PgwError err = {0};
	char dir[600];
	int rc;

	if ((rc = load_node(g, &nc)) != CTL_EXIT_OK)
		return rc;
	if (o->dir != NULL)
		pgw_strlcpy(dir, o->dir, sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%s.verify-%d", nc.pg_data_dir,
		         (int) getpid());
	if (backup_verify(&nc, dir, o->port > 0 ? o->port : nc.pg_port + 1000, &v,
	                  &err) != 0)
	{
		ctl_fail("the restore drill could not run: %s", err.msg);
		config_free(&nc);
		return CTL_EXIT_FAILED;
	}
	pgw_strlcpy(v.node, nc.name ? nc.name : "", sizeof(v.node));
	if (backup_verify_put(c, g->prefix, &v, &err) != 0)
		ctl_fail(
		    "warning: the drill's result could not be recorded in etcd: %s",
		    err.msg);
	if (o->json || g->format == CTL_FORMAT_JSON)
	{
		json_t *j = json_pack(
		    "{s:b,s:s,s:I,s:I,s:I,s:s,s:s}", "ok", v.ok, "label", v.label,
		    "restore_ms", (json_int_t) v.restore_ms, "recovery_point",
		    (json_int_t) v.recovery_point_wall_ms, "rpo_ms",
		    (json_int_t) v.rpo_ms, "detail", v.detail, "node", v.node);
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(j);
	}
	else
	{
		char a[40];

		printf("restore drill %s: %s\n", v.ok ? "PASSED" : "FAILED", v.detail);
		printf(
		    "backup %s, restore + recovery %.1f s, recovery point %s, RPO %.1f s\n",
		    v.label[0] ? v.label : "-", (double) v.restore_ms / 1000.0,
		    v.recovery_point_wall_ms > 0
		        ? (pgw_format_wall_iso(v.recovery_point_wall_ms, 0, a,
		                               sizeof(a)),
		           a)
		        : "-",
		    (double) v.rpo_ms / 1000.0);
	}
	config_free(&nc);
	return v.ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

int
cmd_backup(CtlGlobal *g, const CtlArgs *a)
{
	BackupArgs o;
	EtcdClient *c = NULL;
	int rc;

	if ((rc = parse(a, &o)) != CTL_EXIT_OK)
		return rc;
	if (o.help)
	{
		help("backup");
		return CTL_EXIT_OK;
	}
	if (o.sub != NULL && strcmp(o.sub, "list") != 0 &&
	    strcmp(o.sub, "verify") != 0)
	{
		ctl_fail(
		    "backup \"%s\": expected list or verify (or nothing, to take a backup)",
		    o.sub);
		return CTL_EXIT_USAGE;
	}
	if (o.sub == NULL &&
	    (o.json || o.dir || o.port || o.to || o.into || o.data_dir))
	{
		ctl_fail("backup takes only --type, --no-wait and --timeout");
		return CTL_EXIT_USAGE;
	}
	if (o.sub != NULL && strcmp(o.sub, "list") == 0 &&
	    (o.type || o.no_wait || o.dir || o.port || o.to || o.into ||
	     o.data_dir))
	{
		ctl_fail("backup list takes only --json");
		return CTL_EXIT_USAGE;
	}
	if (o.sub != NULL && strcmp(o.sub, "verify") == 0 &&
	    (o.type || o.no_wait || o.to || o.into || o.data_dir))
	{
		ctl_fail("backup verify takes only --dir, --port and --json");
		return CTL_EXIT_USAGE;
	}
	if (o.type != NULL && strcmp(o.type, "full") != 0 &&
	    strcmp(o.type, "diff") != 0 && strcmp(o.type, "incr") != 0)
	{
		ctl_fail("invalid --type \"%s\": expected full, diff or incr", o.type);
		return CTL_EXIT_USAGE;
	}
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if (o.sub == NULL)
		rc = do_take(g, c, &o);
	else if (strcmp(o.sub, "list") == 0)
		rc = do_list(g, c, &o);
	else
		rc = do_verify(g, c, &o);
	etcd_client_close(c);
	return rc;
}

/* new_scope_free: no key of the new scope exists in etcd yet */
static int
new_scope_free(CtlGlobal *g, EtcdClient *c, const char *scope)
{
	char prefix[PGW_PREFIX_MAX];
	EtcdRangeResult r = {0};
	PgwError err = {0};
	int rc;

	if (dcs_prefix_build(g->namespace_, scope, prefix, sizeof(prefix), &err) !=
	    0)
	{
		ctl_fail("--into \"%s\": %s", scope, err.msg);
		return CTL_EXIT_USAGE;
	}
	if ((rc = etcd_range(c, prefix, true, 0, false, &r, &err)) != 0)
	{
		ctl_fail("could not read %s from etcd: %s", prefix, err.msg);
		return CTL_EXIT_FAILED;
	}
	rc = r.count > 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
	if (rc != CTL_EXIT_OK)
		ctl_fail(
		    "--into \"%s\": that cluster already exists in etcd (%s has keys): a restore never overwrites a cluster",
		    scope, prefix);
	etcd_range_result_free(&r);
	return rc;
}

int
cmd_restore(CtlGlobal *g, const CtlArgs *a)
{
	BackupArgs o;
	NodeConfig nc;
	EtcdClient *c = NULL;
	BackupCatalog *cat = NULL;
	BackupRestoreOptions opt = {0};
	BackupRestoreResult res = {0};
	char label[BACKUP_LABEL_MAX];
	PgwError err = {0};
	bool found = false;
	int rc;

	if ((rc = parse(a, &o)) != CTL_EXIT_OK)
		return rc;
	if (o.help)
	{
		help("restore");
		return CTL_EXIT_OK;
	}
	if (o.sub != NULL || o.type || o.no_wait || o.dir)
	{
		ctl_fail("restore takes --to, --into, --data-dir, --port and --json");
		return CTL_EXIT_USAGE;
	}
	if (o.to == NULL || o.into == NULL || o.data_dir == NULL)
	{
		ctl_fail(
		    "restore needs --to TIME|LSN|latest, --into NEW_SCOPE and --data-dir DIR");
		return CTL_EXIT_USAGE;
	}
	if (backup_target_parse(o.to, &opt.target, &err) != 0)
	{
		ctl_fail("%s", err.msg);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(o.into, g->scope) == 0)
	{
		ctl_fail(
		    "--into \"%s\" is the source cluster itself: a restore goes into a new scope, never over the running cluster",
		    o.into);
		return CTL_EXIT_USAGE;
	}
	if ((rc = load_node(g, &nc)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
	{
		config_free(&nc);
		return rc;
	}
	cat = pgw_xcalloc(1, sizeof(BackupCatalog));
	if (backup_catalog_read(c, g->prefix, cat, &found, &err) != 0 || !found)
	{
		ctl_fail(
		    "no backup catalog for \"%s\" in etcd%s%s: is the cluster's backup section on?",
		    g->scope, err.msg[0] ? ": " : "", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (backup_target_check(cat, &opt.target, label, sizeof(label), &err) != 0)
	{
		ctl_fail("%s", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if ((rc = new_scope_free(g, c, o.into)) != CTL_EXIT_OK)
		goto out;
	opt.into_scope = o.into;
	opt.data_dir = o.data_dir;
	opt.port = o.port > 0 ? o.port : nc.pg_port + 2000;
	opt.label = label;
	fprintf(stderr, "restoring backup %s of \"%s\" to %s into %s ...\n", label,
	        g->scope, opt.target.text, o.data_dir);
	if (backup_restore(&nc, &opt, &res, &err) != 0)
	{
		ctl_fail("restore failed: %s", err.msg);
		rc = CTL_EXIT_FAILED;
		goto out;
	}
	if (o.json || g->format == CTL_FORMAT_JSON)
		printf(
		    "{\"label\": \"%s\", \"target\": \"%s\", \"restore_ms\": %lld, \"recovery_ms\": %lld, \"timeline\": %u, \"end_lsn\": \"%s\", \"data_dir\": \"%s\", \"scope\": \"%s\"}\n",
		    res.label, opt.target.text, (long long) res.restore_ms,
		    (long long) res.recovery_ms, res.timeline, res.end_lsn, o.data_dir,
		    o.into);
	else
		printf(
		    "restored backup %s to %s: restore %.1f s, recovery %.1f s, timeline %u, end %s\n"
		    "next: start a pgwarden node with scope %s and postgresql.data_dir %s (its backup:\n"
		    "section archives into stanza %s, never into \"%s\")\n",
		    res.label, opt.target.text, (double) res.restore_ms / 1000.0,
		    (double) res.recovery_ms / 1000.0, res.timeline, res.end_lsn,
		    o.into, o.data_dir, o.into, g->scope);
	rc = CTL_EXIT_OK;
out:
	free(cat);
	etcd_client_close(c);
	config_free(&nc);
	return rc;
}
