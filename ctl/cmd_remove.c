/*
 * cmd_remove.c: `remove SCOPE` deletes every key of a cluster, in one
 * DeleteRange (all or nothing), after the operator typed the scope name.
 * Refused while members are registered: their daemons would rebuild the
 * cluster's keys, or worse, bootstrap a new one over the data.
 */
#include "ctl/ctl_int.h"

#include "common/xmem.h"

#include <stdlib.h>
#include <string.h>

int
cmd_remove(CtlGlobal *g, const CtlArgs *a)
{
	EtcdClient *c = NULL;
	ClusterView *v = NULL;
	PgwError err = {0};
	int64_t deleted = 0;
	char answer[PGW_NAME_MAX + 8];
	int rc;

	if ((rc = ctl_open(g, &c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_view(g, c, &v)) != CTL_EXIT_OK)
		goto out;
	rc = CTL_EXIT_FAILED;
	if (v->n_members > 0)
	{
		char names[512] = "";
		size_t used = 0;

		for (int i = 0; i < v->n_members && used < sizeof(names); i++)
			used +=
			    (size_t) snprintf(names + used, sizeof(names) - used, "%s%s",
			                      i ? ", " : "", v->members[i].name);
		ctl_fail(
		    "cluster \"%s\" still has %d running member(s) (%s); stop their daemons first",
		    g->scope, v->n_members, names);
		goto out;
	}
	if (!a->yes_i_am_sure)
	{
		if (!ctl_is_interactive())
		{
			ctl_fail(
			    "remove needs confirmation: run it on a terminal, or add --yes-i-am-sure");
			goto out;
		}
		fprintf(
		    stderr,
		    "This deletes every key of cluster \"%s\" under %s in etcd %s.\n",
		    g->scope, g->prefix, g->etcd);
		if (!ctl_prompt("Type the scope name to confirm: ", answer,
		                sizeof(answer)) ||
		    strcmp(answer, g->scope) != 0)
		{
			ctl_fail(
			    "the name typed does not match \"%s\"; nothing was deleted",
			    g->scope);
			goto out;
		}
	}
	if (etcd_delete(c, g->prefix, true, &deleted, &err) != 0)
	{
		ctl_fail("could not delete the keys under %s: %s", g->prefix, err.msg);
		goto out;
	}
	printf("removed cluster \"%s\" (%lld keys under %s)\n", g->scope,
	       (long long) deleted, g->prefix);
	rc = CTL_EXIT_OK;
out:
	free(v);
	etcd_client_close(c);
	return rc;
}
