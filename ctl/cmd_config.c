/*
 * cmd_config.c: edit-config, pause and resume. Each edits the raw JSON of
 * the config key (unknown, e.g. Patroni-only, keys survive), shows the
 * change, and writes it with one compare-and-swap on the mod_revision it
 * read: an edit made by someone else in between is detected and refused,
 * never overwritten.
 */
#include "ctl/ctl_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * config_read: the config key as a JSON object (an absent key is {} at
 * mod_revision 0, so the CAS creates it). *bad_json is set when the value
 * is not a JSON object (only --replace can fix it).
 */
static int
config_read(CtlGlobal *g, EtcdClient *c, json_t **root, int64_t *mod_rev,
            bool *bad_json)
{
	char *raw = NULL;
	size_t raw_len = 0;
	PgwError err = {0};
	json_error_t jerr;

	*root = NULL;
	*mod_rev = 0;
	*bad_json = false;
	if (dcs_key_read(c, g->prefix, "config", &raw, &raw_len, mod_rev, &err) !=
	    0)
	{
		ctl_fail(
		    "could not read %sconfig from etcd %s: %s; check --etcd and that etcd runs",
		    g->prefix, g->etcd, err.msg);
		return CTL_EXIT_FAILED;
	}
	if (raw == NULL)
		*root = json_object();
	else
	{
		*root = json_loadb(raw, raw_len, 0, &jerr);
		if (*root == NULL || !json_is_object(*root))
		{
			json_decref(*root);
			*root = json_object();
			*bad_json = true;
		}
	}
	free(raw);
	return CTL_EXIT_OK;
}

/* config_write: one CAS on mod_rev; the message says what to do on conflict */
static int
config_write(CtlGlobal *g, EtcdClient *c, const json_t *root, int64_t mod_rev)
{
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER |
	                               JSON_REAL_PRECISION(15));
	PgwError err = {0};
	int rc;
	const char *delay = getenv("PGWARDENCTL_TEST_CAS_DELAY_MS");
	int64_t ms;

	/* test aid: widen the read-to-write window to provoke a conflict */
	if (delay && pgw_parse_int64(delay, 0, 60000, &ms) == 0)
		pgw_sleep_ms(ms);
	rc = dcs_cas_put(c, g->prefix, "config", s, mod_rev, &err);
	free(s);
	if (rc == 0)
		return CTL_EXIT_OK;
	if (err.code == PGW_ECONFLICT)
		ctl_fail(
		    "the config was changed by someone else after it was read (mod_revision %lld); nothing was written; run the command again",
		    (long long) mod_rev);
	else
		ctl_fail(
		    "could not write the config: %s; it may or may not have been written: check show-config",
		    err.msg);
	return CTL_EXIT_FAILED;
}

static char *
read_file(const char *path, size_t *len, PgwError *err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (f == NULL)
	{
		pgw_error_set(err, PGW_ENOTFOUND, "could not open \"%s\": %s", path,
		              strerror(errno));
		return NULL;
	}
	for (;;)
	{
		size_t n;

		if (*len + 4096 + 1 > cap)
		{
			cap = (*len + 4096 + 1) * 2;
			buf = pgw_xrealloc(buf, cap);
		}
		n = fread(buf + *len, 1, cap - *len - 1, f);
		*len += n;
		if (n == 0 || *len > 16 * 1024 * 1024)
			break;
	}
	buf[*len] = '\0';
	if (ferror(f))
	{
		pgw_error_set(err, PGW_EIO, "could not read \"%s\"", path);
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

static int
load_doc(const char *path, json_t **out)
{
	PgwError err = {0};
	size_t len;
	char *text = read_file(path, &len, &err);

	*out = NULL;
	if (text == NULL)
	{
		ctl_fail("%s", err.msg);
		return CTL_EXIT_FAILED;
	}
	if (ctl_yaml_to_json(text, len, out, &err) != 0)
	{
		ctl_fail("file \"%s\" %s", path, err.msg);
		free(text);
		return CTL_EXIT_USAGE;
	}
	free(text);
	if (!json_is_object(*out))
	{
		ctl_fail("file \"%s\" does not hold a mapping", path);
		json_decref(*out);
		*out = NULL;
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

/* edit_in_editor: $EDITOR (default vi) on a YAML copy; *out the result */
static int
edit_in_editor(const json_t *cur, json_t **out)
{
	char path[] = "/tmp/pgwardenctl-config-XXXXXX.yaml";
	char *yaml = ctl_json_to_yaml(cur);
	const char *editor = getenv("EDITOR");
	int fd = mkstemps(path, 5);
	pid_t pid;
	int status = 0;
	int rc;

	if (fd < 0)
	{
		ctl_fail("could not create a temporary file: %s", strerror(errno));
		free(yaml);
		return CTL_EXIT_FAILED;
	}
	if (write(fd, yaml, strlen(yaml)) != (ssize_t) strlen(yaml))
	{
		ctl_fail("could not write %s", path);
		close(fd);
		unlink(path);
		free(yaml);
		return CTL_EXIT_FAILED;
	}
	close(fd);
	free(yaml);
	pid = fork();
	if (pid == 0)
	{
		execl("/bin/sh", "sh", "-c", "exec ${EDITOR:-vi} \"$1\"", "sh", path,
		      (char *) NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
	{
		ctl_fail("the editor (%s) failed; nothing was written",
		         editor ? editor : "vi");
		unlink(path);
		return CTL_EXIT_FAILED;
	}
	rc = load_doc(path, out);
	unlink(path);
	return rc;
}

int
cmd_edit_config(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	json_t *cur = NULL;
	json_t *next = NULL;
	int64_t mod_rev;
	bool bad_json;
	PgwError err = {0};
	char *old_yaml = NULL;
	char *new_yaml = NULL;
	char *diff = NULL;
	int rc;

	if (a->n_sets == 0 && !a->apply_file && !a->replace_file &&
	    !ctl_is_interactive())
	{
		ctl_fail(
		    "edit-config: nothing to change: use --set, --pg, --apply or --replace (or run it on a terminal to use $EDITOR)");
		return CTL_EXIT_USAGE;
	}
	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = config_read(g, c, &cur, &mod_rev, &bad_json)) != CTL_EXIT_OK)
		goto out;
	rc = CTL_EXIT_FAILED;
	if (a->expect_revision != 0 && a->expect_revision != mod_rev)
	{
		ctl_fail(
		    "the config is at mod_revision %lld, not %lld as expected: someone changed it; nothing was written",
		    (long long) mod_rev, (long long) a->expect_revision);
		goto out;
	}
	if (bad_json && !a->replace_file)
	{
		ctl_fail(
		    "the config key does not hold a JSON object; replace it whole with --replace FILE");
		goto out;
	}
	if (a->replace_file)
	{
		if ((rc = load_doc(a->replace_file, &next)) != CTL_EXIT_OK)
			goto out;
		rc = CTL_EXIT_FAILED;
	}
	else
		next = json_deep_copy(cur);
	if (a->apply_file)
	{
		json_t *patch = NULL;

		if ((rc = load_doc(a->apply_file, &patch)) != CTL_EXIT_OK)
			goto out;
		rc = CTL_EXIT_FAILED;
		if (ctl_config_merge_patch(next, patch, &err) != 0)
		{
			ctl_fail("--apply %s: %s", a->apply_file, err.msg);
			json_decref(patch);
			goto out;
		}
		json_decref(patch);
	}
	for (int i = 0; i < a->n_sets; i++)
		if (ctl_config_set(next, a->sets[i], &err) != 0)
		{
			ctl_fail("%s", err.msg);
			rc = CTL_EXIT_USAGE;
			goto out;
		}
	if (a->n_sets == 0 && !a->apply_file && !a->replace_file)
	{
		json_decref(next);
		next = NULL;
		if ((rc = edit_in_editor(cur, &next)) != CTL_EXIT_OK)
			goto out;
		rc = CTL_EXIT_FAILED;
	}
	if (ctl_config_check(next, &err) != 0)
	{
		ctl_fail("the edited config is refused: %s; nothing was written",
		         err.msg);
		goto out;
	}
	old_yaml = ctl_json_to_yaml(cur);
	new_yaml = ctl_json_to_yaml(next);
	diff = ctl_diff(bad_json ? "" : old_yaml, new_yaml);
	if (diff == NULL)
	{
		printf("no changes\n");
		rc = CTL_EXIT_OK;
		goto out;
	}
	if (!a->quiet)
		printf("--- config (mod_revision %lld)\n+++ config (edited)\n%s",
		       (long long) mod_rev, diff);
	fflush(stdout);
	if (!ctl_confirm(a->force, "Apply these changes? [y/N] "))
	{
		if (a->force || ctl_is_interactive())
			ctl_fail("edit-config aborted; nothing was written");
		goto out;
	}
	if ((rc = config_write(g, c, next, mod_rev)) == CTL_EXIT_OK)
		printf("config updated\n");
out:
	free(diff);
	free(old_yaml);
	free(new_yaml);
	json_decref(cur);
	json_decref(next);
	etcd_client_close(c);
	return rc;
}

/* ------------------------------------------------------------------------
 * pause / resume
 * ------------------------------------------------------------------------ */

/*
 * member_shows_pause: has member (raw member key JSON) seen pause == want?
 * Its REST API's GET /patroni answers with "pause": true when the daemon
 * runs paused (Patroni does the same); when the API does not answer, the
 * member key's own "pause" field is used.
 */
static bool
member_shows_pause(CtlGlobal *g, const json_t *member, bool want)
{
	const char *api = json_string_value(json_object_get(member, "api_url"));
	long status = 0;
	char *body = NULL;
	bool seen;
	PgwError err = {0};

	if (api &&
	    ctl_rest_call(g, "GET", api, NULL, 1000, &status, &body, &err) == 0 &&
	    status == 200 && body)
	{
		json_t *o = json_loads(body, 0, NULL);

		if (o != NULL)
		{
			seen = json_is_true(json_object_get(o, "pause"));
			json_decref(o);
			free(body);
			return seen == want;
		}
	}
	free(body);
	seen = json_is_true(json_object_get(member, "pause"));
	return seen == want;
}

static int
wait_pause(CtlGlobal *g, EtcdClient *c, bool want, int64_t budget_ms)
{
	char key[PGW_PREFIX_MAX + 16];
	int64_t deadline = pgw_now_mono_ms() + budget_ms;
	char missing[512] = "";

	snprintf(key, sizeof(key), "%smembers/", g->prefix);
	while (pgw_now_mono_ms() < deadline)
	{
		EtcdRangeResult r = {0};
		PgwError err = {0};
		size_t used = 0;
		int n_missing = 0;

		if (etcd_range(c, key, true, 0, false, &r, &err) != 0)
		{
			pgw_sleep_ms(200);
			continue;
		}
		missing[0] = '\0';
		for (size_t i = 0; i < r.count; i++)
		{
			json_t *m = json_loadb(r.kvs[i].value, r.kvs[i].value_len, 0, NULL);

			if (m == NULL || !member_shows_pause(g, m, want))
			{
				n_missing++;
				if (used < sizeof(missing))
					used += (size_t) snprintf(
					    missing + used, sizeof(missing) - used, "%s%s",
					    used ? ", " : "", r.kvs[i].key + strlen(key));
			}
			json_decref(m);
		}
		etcd_range_result_free(&r);
		if (n_missing == 0)
			return CTL_EXIT_OK;
		pgw_sleep_ms(200);
	}
	ctl_fail(
	    "the config says %s, but these members have not shown it within %lld s: %s; check their daemons",
	    want ? "paused" : "resumed", (long long) (budget_ms / 1000), missing);
	return CTL_EXIT_FAILED;
}

static int
toggle_pause(CtlGlobal *g, const CtlArgs *a, bool want)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	json_t *cur = NULL;
	int64_t mod_rev;
	bool bad_json;
	PgwError err = {0};
	int rc;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK ||
	    (rc = config_read(g, c, &cur, &mod_rev, &bad_json)) != CTL_EXIT_OK)
		goto out;
	rc = CTL_EXIT_FAILED;
	if (bad_json)
	{
		ctl_fail(
		    "the config key does not hold a JSON object; fix it with edit-config --replace FILE");
		goto out;
	}
	if (json_is_true(json_object_get(cur, "pause")) == want)
	{
		ctl_fail(
		    want ? "cluster \"%s\" is already paused (resume it with resume)"
		         : "cluster \"%s\" is not paused",
		    g->scope);
		goto out;
	}
	if (want)
		json_object_set_new(cur, "pause", json_true());
	else
		json_object_del(cur, "pause");
	if (ctl_config_check(cur, &err) != 0)
	{
		ctl_fail("the config is refused after the change: %s", err.msg);
		goto out;
	}
	if ((rc = config_write(g, c, cur, mod_rev)) != CTL_EXIT_OK)
		goto out;
	printf("%s cluster \"%s\"\n", want ? "paused" : "resumed", g->scope);
	fflush(stdout);
	if (a->wait)
	{
		int64_t budget =
		    a->timeout_ms > 0
		        ? a->timeout_ms
		        : (2 * (v->config.ttl_ms + v->config.loop_wait_ms) > 30000
		               ? 2 * (v->config.ttl_ms + v->config.loop_wait_ms)
		               : 30000);

		rc = wait_pause(g, c, want, budget);
		if (rc == CTL_EXIT_OK)
			printf("every member has %s\n", want ? "paused" : "resumed");
	}
out:
	json_decref(cur);
	free(v);
	etcd_client_close(c);
	return rc;
}

int
cmd_pause(CtlGlobal *g, const CtlArgs *a)
{
	return toggle_pause(g, a, true);
}

int
cmd_resume(CtlGlobal *g, const CtlArgs *a)
{
	return toggle_pause(g, a, false);
}
