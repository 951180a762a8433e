/*
 * dcs_view.c: the DCS value model's view side (consensus.h Parts 2 and 3,
 * no etcd transport): the Patroni-compatible key layout under
 * <namespace>/<scope>/, folding keys and watch events into a ClusterView,
 * and the compares every leader-only write carries. Pure: config/, the
 * decision engine and ctl's output link it without gRPC (library pgw_dcs).
 */
#include "consensus/consensus.h"
#include "consensus/dcs_view_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
dcs_prefix_build(const char *namespace_, const char *scope, char *out,
                 size_t len, PgwError *err)
{
	const char *ns = namespace_ ? namespace_ : "/service";
	size_t ns_len;
	int n;

	if (scope == NULL || scope[0] == '\0' || strchr(scope, '/') != NULL)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "invalid scope \"%s\": must be non-empty and hold no '/'",
		    scope ? scope : "");
	while (*ns == '/')
		ns++;
	ns_len = strlen(ns);
	while (ns_len > 0 && ns[ns_len - 1] == '/')
		ns_len--;
	if (ns_len == 0)
		n = snprintf(out, len, "/%s/", scope);
	else
		n = snprintf(out, len, "/%.*s/%s/", (int) ns_len, ns, scope);
	if (n < 0 || (size_t) n >= len)
		return pgw_error_set(err, PGW_EINVAL,
		                     "key prefix for scope \"%s\" is too long", scope);
	return 0;
}

int
dcs_group_prefix_build(const char *namespace_, const char *scope, int group,
                       char *out, size_t len, PgwError *err)
{
	size_t n;
	int rc;

	if ((rc = dcs_prefix_build(namespace_, scope, out, len, err)) != 0 ||
	    group < 0)
		return rc;
	if (group > 9999)
		return pgw_error_set(err, PGW_EINVAL,
		                     "group %d is out of range (0..9999)", group);
	n = strlen(out);
	if ((size_t) snprintf(out + n, len - n, "%d/", group) >= len - n)
		return pgw_error_set(err, PGW_EINVAL,
		                     "key prefix for scope \"%s\" is too long", scope);
	return 0;
}

int
dcs_key_join(const char *prefix, const char *suffix, char *out, size_t len,
             PgwError *err)
{
	int n = snprintf(out, len, "%s%s", prefix, suffix);

	if (n < 0 || (size_t) n >= len)
		return pgw_error_set(err, PGW_EINVAL, "key \"%s%s\" is too long",
		                     prefix, suffix);
	return 0;
}

static void
note_bad_value(ClusterView *v, const char *suffix)
{
	size_t used = strlen(v->bad_value_keys);

	v->n_bad_values++;
	if (used + strlen(suffix) + 2 < sizeof(v->bad_value_keys))
		snprintf(v->bad_value_keys + used, sizeof(v->bad_value_keys) - used,
		         "%s%s", used ? "," : "", suffix);
}

/*
 * shown_name: a member key's name as the view holds it. A name with control
 * characters (refused by dcs_member_decode, so never acted on) is kept with
 * '?' in their place: it is listed, and never printed as it is (security
 * review F10: a newline in a key forged log lines).
 */
static void
shown_name(const char *name, char *out, size_t len)
{
	pgw_strlcpy(out, name, len);
	for (char *p = out; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void
member_remove(ClusterView *v, const char *raw)
{
	char name[PGW_NAME_MAX];

	shown_name(raw, name, sizeof(name));
	for (int i = 0; i < v->n_members; i++)
	{
		if (strcmp(v->members[i].name, name) == 0)
		{
			memmove(&v->members[i], &v->members[i + 1],
			        sizeof(MemberInfo) * (size_t) (v->n_members - i - 1));
			v->n_members--;
			return;
		}
	}
}

static void
member_put(ClusterView *v, const char *name, const EtcdKeyValue *kv)
{
	MemberInfo m;
	PgwError err = {0};
	int slot = -1;
	char shown[PGW_NAME_MAX];

	if (strlen(name) >= PGW_NAME_MAX || name[0] == '\0')
		return;
	shown_name(name, shown, sizeof(shown));
	memset(&m, 0, sizeof(m));
	if (dcs_member_decode(name, kv->value, kv->value_len, &m, &err) != 0)
	{
		memset(&m, 0, sizeof(m));
		pgw_strlcpy(m.name, shown, sizeof(m.name));
		m.is_valid = false;
		pgw_strlcpy(m.parse_error, err.msg, sizeof(m.parse_error));
	}
	else
		m.is_valid = true;
	m.mod_revision = kv->mod_revision;
	m.lease = kv->lease;
	for (int i = 0; i < v->n_members; i++)
		if (strcmp(v->members[i].name, shown) == 0)
			slot = i;
	if (slot < 0)
	{
		if (v->n_members >= PGW_MEMBERS_MAX)
			return;
		slot = v->n_members++;
	}
	v->members[slot] = m;
}

/* optime from the `status` key: {"optime": N, ...}; tolerant of garbage. */
static uint64_t
status_optime(const char *value, size_t len)
{
	const char *p = memmem(value, len, "\"optime\"", 8);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	p += 8;
	while (p < value + len && (*p == ':' || *p == ' '))
		p++;
	while (p < value + len && *p >= '0' && *p <= '9')
	{
		v = v * 10 + (uint64_t) (*p - '0');
		p++;
	}
	return v;
}

static int
history_last_timeline(const char *value, size_t len, bool *ok)
{
	HistoryEntry *entries = NULL;
	int n = 0;
	int tl = 0;

	*ok = dcs_history_decode(value, len, &entries, &n, NULL) == 0;
	if (*ok)
	{
		for (int i = 0; i < n; i++)
			if (entries[i].timeline > tl)
				tl = entries[i].timeline;
	}
	free(entries);
	return tl;
}

/* A decoder of one key's JSON value into *out (see consensus.h Part 2). */
typedef int (*ValueDecodeFn)(const char *value, size_t len, void *out,
                             PgwError *err);

static int
decode_failsafe(const char *value, size_t len, void *out, PgwError *err)
{
	return dcs_failsafe_decode(value, len, out, err);
}

static int
decode_failover(const char *value, size_t len, void *out, PgwError *err)
{
	return dcs_failover_decode(value, len, out, err);
}

static int
decode_sync(const char *value, size_t len, void *out, PgwError *err)
{
	return dcs_sync_decode(value, len, out, err);
}

/*
 * decode_or_clear: *out (size bytes) becomes the decoded value of kv, or all
 * zero when the key is deleted or holds garbage (noted once per value, so
 * the loop carries on with "no request" rather than a half-decoded one).
 * True when a value was decoded.
 */
static bool
decode_or_clear(ClusterView *v, const char *suffix, const EtcdKeyValue *kv,
                bool deleted, ValueDecodeFn decode, void *out, size_t size)
{
	PgwError err = {0};

	memset(out, 0, size);
	if (deleted)
		return false;
	if (decode(kv->value, kv->value_len, out, &err) == 0)
		return true;
	memset(out, 0, size);
	note_bad_value(v, suffix);
	return false;
}

/*
 * dcs_view_apply_kv: fold one key into the view. Returns true for keys that should
 * wake the loop (leader, config, failover, sync, initialize).
 */
bool
dcs_view_apply_kv(ClusterView *v, const char *suffix, const EtcdKeyValue *kv,
                  bool deleted)
{
	PgwError err = {0};

	if (strncmp(suffix, "members/", 8) == 0)
	{
		if (deleted)
			member_remove(v, suffix + 8);
		else
			member_put(v, suffix + 8, kv);
		return false;
	}
	if (strcmp(suffix, "leader") == 0)
	{
		v->has_leader = !deleted;
		v->leader[0] = '\0';
		v->leader_lease = deleted ? 0 : kv->lease;
		v->leader_mod_revision = deleted ? 0 : kv->mod_revision;
		if (!deleted)
		{
			if (kv->value_len == 0 || kv->value_len >= PGW_NAME_MAX ||
			    memchr(kv->value, '\0', kv->value_len) != NULL)
			{
				/* a leader we cannot name still blocks elections */
				pgw_strlcpy(v->leader, "?", sizeof(v->leader));
				note_bad_value(v, suffix);
			}
			else
			{
				/* control characters: kept with '?' (never printed raw;
				 * no member can have the name, so none is the leader) */
				shown_name(kv->value, v->leader, sizeof(v->leader));
				if (strcmp(v->leader, kv->value) != 0)
					note_bad_value(v, suffix);
			}
		}
		return true;
	}
	if (strcmp(suffix, "initialize") == 0)
	{
		v->has_initialize = !deleted;
		v->initialize[0] = '\0';
		if (!deleted && kv->value_len < sizeof(v->initialize))
			pgw_strlcpy(v->initialize, kv->value, sizeof(v->initialize));
		else if (!deleted)
			note_bad_value(v, suffix);
		return true;
	}
	if (strcmp(suffix, "config") == 0)
	{
		v->has_config = !deleted;
		dcs_config_defaults(&v->config);
		v->config_is_valid = true;
		if (!deleted)
		{
			DynamicConfig cfg;

			if (dcs_config_decode(kv->value, kv->value_len, &cfg, &err) == 0 &&
			    dcs_config_validate(&cfg, &err) == 0)
			{
				v->config = cfg;
				v->config.mod_revision = kv->mod_revision;
			}
			else
			{
				v->config_is_valid = false;
				v->config.mod_revision = kv->mod_revision;
				note_bad_value(v, suffix);
			}
		}
		return true;
	}
	if (strcmp(suffix, "failover") == 0)
	{
		if (decode_or_clear(v, suffix, kv, deleted, decode_failover,
		                    &v->failover, sizeof(v->failover)))
		{
			v->failover.present = true;
			v->failover.mod_revision = kv->mod_revision;
		}
		return true;
	}
	if (strcmp(suffix, "sync") == 0)
	{
		if (decode_or_clear(v, suffix, kv, deleted, decode_sync, &v->sync,
		                    sizeof(v->sync)))
		{
			v->sync.present = true;
			v->sync.mod_revision = kv->mod_revision;
		}
		return true;
	}
	if (strcmp(suffix, "failsafe") == 0)
	{
		(void) decode_or_clear(v, suffix, kv, deleted, decode_failsafe,
		                       &v->failsafe, sizeof(v->failsafe));
		return true;
	}
	if (strcmp(suffix, "status") == 0)
	{
		v->leader_optime =
		    deleted ? 0 : status_optime(kv->value, kv->value_len);
		return false;
	}
	if (strcmp(suffix, "history") == 0)
	{
		bool ok = true;

		v->last_history_timeline =
		    deleted ? 0 : history_last_timeline(kv->value, kv->value_len, &ok);
		if (!ok)
			note_bad_value(v, suffix);
		return false;
	}
	return false;
}

bool
dcs_view_apply_event(ClusterView *v, const char *prefix, const EtcdEvent *ev)
{
	size_t plen = strlen(prefix);

	if (ev->type != ETCD_EVENT_WATCH_PUT && ev->type != ETCD_EVENT_WATCH_DELETE)
		return false;
	if (ev->kv.key == NULL || ev->kv.key_len <= plen ||
	    memcmp(ev->kv.key, prefix, plen) != 0)
		return false;
	if (ev->revision > v->revision)
		v->revision = ev->revision;
	return dcs_view_apply_kv(v, ev->kv.key + plen, &ev->kv,
	                         ev->type == ETCD_EVENT_WATCH_DELETE);
}

/*
 * dcs_leader_compares: the two compares every leader-only write carries:
 * the leader key holds name, on lease (promise 5: never a blind write).
 */
void
dcs_view_note_leader(ClusterView *v, const char *name, int64_t lease)
{
	v->has_leader = name != NULL;
	pgw_strlcpy(v->leader, name != NULL ? name : "", sizeof(v->leader));
	v->leader_lease = name != NULL ? lease : 0;
	v->leader_mod_revision = 0;
}

void
dcs_leader_compares(EtcdCompare cmp[2], const char *leader_key,
                    const char *name, int64_t lease)
{
	memset(cmp, 0, 2 * sizeof(EtcdCompare));
	cmp[0].key = leader_key;
	cmp[0].result = ETCD_CMP_EQUAL;
	cmp[0].target = ETCD_TARGET_VALUE;
	cmp[0].value = name;
	cmp[0].value_len = strlen(name);
	cmp[1].key = leader_key;
	cmp[1].result = ETCD_CMP_EQUAL;
	cmp[1].target = ETCD_TARGET_LEASE;
	cmp[1].number = lease;
}

/* txn_ok: run a txn whose responses we do not need; *ok = compares held */
