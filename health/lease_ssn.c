/*
 * lease_ssn.c: the lease witness in synchronous_standby_names (issue 19,
 * health.h). With the witness on, every configuration file we write names
 * it (witness_ssn_compose), on replicas too, so a promotion, a start as
 * primary and a bootstrap all begin with commits waiting for it: no path
 * makes this PostgreSQL writable with unchecked commits. PgControl keeps
 * the base (what synchronous mode alone wants); the quorum gate that goes
 * with a composed value is published to the witness before the value takes
 * effect when it adds a gate, and after when it removes one, so that at no
 * moment is less required than either value asks.
 */
#include "health/control_int.h"

#include "common/strutil.h"
#include "common/xmem.h"
#include "witness/witness.h"

#include <stdlib.h>
#include <string.h>

#define GATE_WAIT_MS 2000

/* effective value of synchronous_standby_names: composed when the witness
 * is on; *has false when none is to be written */
int
control_sync_names_effective(PgControl *c, char *out, size_t len,
                             WitnessGate *gate, bool *has, PgwError *err)
{
	memset(gate, 0, sizeof(*gate));
	*has = c->sync_names != NULL || c->witness_app != NULL;
	out[0] = '\0';
	if (c->witness_app == NULL)
	{
		if (c->sync_names != NULL &&
		    pgw_strlcpy(out, c->sync_names, len) >= len)
			return pgw_error_set(err, PGW_EINVAL,
			                     "synchronous_standby_names too long");
		return 0;
	}
	return witness_ssn_compose(c->sync_names ? c->sync_names : "",
	                           c->witness_app, out, len, gate, err);
}

int
control_witness_gate_before(PgControl *c, const WitnessGate *g, PgwError *err)
{
	int rc;

	if (g->k <= 0)
		return 0;
	if ((rc = witness_share_set_gate(g, GATE_WAIT_MS, err)) != 0)
		return rc;
	c->witness_gate_k = g->k;
	return 0;
}

int
control_witness_gate_after(PgControl *c, const WitnessGate *g, PgwError *err)
{
	int rc;

	if (g->k > 0 || c->witness_gate_k == 0)
		return 0;
	if ((rc = witness_share_set_gate(g, GATE_WAIT_MS, err)) != 0)
		return rc;
	c->witness_gate_k = 0;
	return 0;
}

void
control_witness_load(PgControl *c)
{
	char base[1024];
	bool named = false;
	bool unknown = false;

	if (c->sync_names == NULL ||
	    witness_ssn_decompose(c->sync_names, WITNESS_APP_NAME, base,
	                          sizeof(base), &named, &unknown) != 0 ||
	    !named)
		return;
	free(c->sync_names);
	c->sync_names = pgw_xstrdup(base);
	free(c->witness_app);
	c->witness_app = pgw_xstrdup(WITNESS_APP_NAME);
	if (unknown)
	{
		/* quorum, "*" or async: which, the leader says again on its first
		 * turn; until then the witness confirms nothing */
		WitnessGate g;

		memset(&g, 0, sizeof(g));
		g.k = WITNESS_GATE_UNKNOWN_K;
		/* no wait: a witness started later takes it before it confirms */
		if (witness_share_set_gate(&g, 0, NULL) == 0)
			c->witness_gate_k = g.k;
	}
}

int
health_control_set_witness(PgControl *c, bool on, bool *changed, PgwError *err)
{
	char ssn[1024];
	WitnessGate gate;
	bool has;
	int rc;

	*changed = false;
	if (on == (c->witness_app != NULL))
		return 0;
	free(c->witness_app);
	c->witness_app = on ? pgw_xstrdup(WITNESS_APP_NAME) : NULL;
	/* no data directory yet: the bootstrap or the clone writes the file,
	 * with the witness in it, before PostgreSQL first starts */
	if (control_dir_empty(c->data_dir))
		return 0;
	if ((rc = control_sync_names_effective(c, ssn, sizeof(ssn), &gate, &has,
	                                       err)) != 0 ||
	    (rc = control_witness_gate_before(c, &gate, err)) != 0 ||
	    (rc = control_write_conf(c, err)) != 0)
	{
		/* undone: the next turn tries again */
		free(c->witness_app);
		c->witness_app = on ? NULL : pgw_xstrdup(WITNESS_APP_NAME);
		return rc;
	}
	*changed = true;
	return 0;
}

int
health_control_witness_gate_settle(PgControl *c, PgwError *err)
{
	char ssn[1024];
	WitnessGate gate;
	bool has;
	int rc;

	if ((rc = control_sync_names_effective(c, ssn, sizeof(ssn), &gate, &has,
	                                       err)) != 0)
		return rc;
	return control_witness_gate_after(c, &gate, err);
}

void
health_control_witness_conn(PgControl *c, HealthWitnessConn *out)
{
	out->host = c->socket_dir;
	out->port = c->port;
	out->repl_user = c->repl_user;
	out->superuser = c->superuser;
	out->passfile = c->pgpass;
}

void
health_control_set_commit_check(PgControl *c, const char *lib, const char *page)
{
	if ((lib == NULL) == (c->commit_lib == NULL) &&
	    (lib == NULL || strcmp(lib, c->commit_lib) == 0))
		return;
	free(c->commit_lib);
	free(c->commit_page);
	c->commit_lib = lib != NULL ? pgw_xstrdup(lib) : NULL;
	c->commit_page = lib != NULL ? pgw_xstrdup(page) : NULL;
}

/*
 * The commit check's section of our file, while the witness is named. A
 * later line wins in postgresql.conf, so the operator's own
 * session_preload_libraries (rendered above it) is repeated with ours
 * appended rather than replaced.
 */
int
control_commit_check_render(PgControl *c, StrBuf *b, PgwError *err)
{
	const char *theirs = NULL;
	StrBuf libs;
	int rc;

	if (c->witness_app == NULL || c->commit_lib == NULL)
		return 0;
	for (int i = 0; i < c->n_params; i++)
		if (strcmp(c->params[i].name, "session_preload_libraries") == 0)
			theirs = c->params[i].value;
	sbuf_init(&libs);
	/* the path is checked to need no quoting (witness_commit_lib_find);
	 * quoted anyway, as PostgreSQL's list syntax allows */
	sbuf_printf(&libs, "%s%s\"%s\"", theirs ? theirs : "",
	            theirs && theirs[0] ? "," : "", c->commit_lib);
	{
		HealthParam s[] = {
		    {"session_preload_libraries", libs.data},
		    {"pgwarden_lease.page", c->commit_page},
		};

		rc =
		    conf_render(b, "lease-checked commits (pgwarden_lease)", s, 2, err);
	}
	free(libs.data);
	return rc;
}
