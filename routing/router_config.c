/*
 * router_config.c: pgwarden-router's YAML file (libyaml document API),
 * parsed whole or rejected with the key and line (STYLE.md "Outside input").
 * Reference: routing/README.md and deploy/pgwarden-router.yml.
 */
#include "routing/exporter_int.h"

#include "common/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct Ctx
{
	yaml_document_t *doc;
	PgwError *err;
} Ctx;

static int
line_of(const yaml_node_t *n)
{
	return (int) n->start_mark.line + 1;
}

static int
scalar(Ctx *c, const char *key, yaml_node_t *v, char *out, size_t len)
{
	if (v->type != YAML_SCALAR_NODE)
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "line %d: key \"%s\" must be a string", line_of(v),
		                     key);
	if (v->data.scalar.length >= len ||
	    strlen((const char *) v->data.scalar.value) != v->data.scalar.length)
		return pgw_error_set(
		    c->err, PGW_EINVAL,
		    "line %d: key \"%s\" is longer than %zu bytes or holds a NUL",
		    line_of(v), key, len - 1);
	pgw_strlcpy(out, (const char *) v->data.scalar.value, len);
	return 0;
}

static int
duration(Ctx *c, const char *key, yaml_node_t *v, int64_t min_ms, int64_t *out)
{
	char buf[64];
	int rc;

	if ((rc = scalar(c, key, v, buf, sizeof(buf))) != 0)
		return rc;
	if (pgw_parse_duration_ms(buf, out) != 0 || *out < min_ms)
		return pgw_error_set(
		    c->err, PGW_EINVAL,
		    "line %d: key \"%s\": \"%s\" is not a duration of at least %lld ms",
		    line_of(v), key, buf, (long long) min_ms);
	return 0;
}

static int
boolean(Ctx *c, const char *key, yaml_node_t *v, bool *out)
{
	char buf[16];
	int rc;

	if ((rc = scalar(c, key, v, buf, sizeof(buf))) != 0)
		return rc;
	if (pgw_parse_bool(buf, out) != 0)
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "line %d: key \"%s\": \"%s\" is not a boolean",
		                     line_of(v), key, buf);
	return 0;
}

/* "host:port": an IPv4 literal, "localhost", "*" or empty host, port
 * 0..65535 (0: any free port) */
static bool
listen_address_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	int64_t port;
	struct in_addr a;

	if (colon == NULL || (size_t) (colon - s) >= sizeof(host) ||
	    pgw_parse_int64(colon + 1, 0, 65535, &port) != 0)
		return false;
	snprintf(host, sizeof(host), "%.*s", (int) (colon - s), s);
	return host[0] == '\0' || strcmp(host, "*") == 0 ||
	       strcmp(host, "localhost") == 0 || inet_pton(AF_INET, host, &a) == 1;
}

#define FOR_PAIRS(c, map, kn, vn)                                              \
	for (yaml_node_pair_t *_p = (map)->data.mapping.pairs.start;               \
	     _p < (map)->data.mapping.pairs.top &&                                 \
	     ((kn) = yaml_document_get_node((c)->doc, _p->key)) != NULL &&         \
	     ((vn) = yaml_document_get_node((c)->doc, _p->value)) != NULL;         \
	     _p++)

static const char *
key_name(Ctx *c, yaml_node_t *k)
{
	(void) c;
	return k->type == YAML_SCALAR_NODE ? (const char *) k->data.scalar.value
	                                   : "?";
}

static int
unknown(Ctx *c, const char *where, yaml_node_t *k)
{
	return pgw_error_set(c->err, PGW_EINVAL, "line %d: key \"%s%s\" is unknown",
	                     line_of(k), where, key_name(c, k));
}

static int
parse_etcd(Ctx *c, yaml_node_t *map, RouterConfig *cfg)
{
	yaml_node_t *k;
	yaml_node_t *v;
	int rc = 0;

	if (map->type != YAML_MAPPING_NODE)
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "line %d: key \"etcd\" must be a mapping",
		                     line_of(map));
	FOR_PAIRS(c, map, k, v)
	{
		const char *name = key_name(c, k);

		if (strcmp(name, "hosts") == 0)
		{
			if (v->type == YAML_SEQUENCE_NODE)
			{
				size_t used = 0;

				cfg->endpoints[0] = '\0';
				for (yaml_node_item_t *it = v->data.sequence.items.start;
				     it < v->data.sequence.items.top; it++)
				{
					yaml_node_t *e = yaml_document_get_node(c->doc, *it);
					char one[256];

					if ((rc = scalar(c, "etcd.hosts[]", e, one, sizeof(one))) !=
					    0)
						return rc;
					if (used + strlen(one) + 2 > sizeof(cfg->endpoints))
						return pgw_error_set(
						    c->err, PGW_EINVAL,
						    "line %d: key \"etcd.hosts\" is too long",
						    line_of(e));
					used += (size_t) snprintf(cfg->endpoints + used,
					                          sizeof(cfg->endpoints) - used,
					                          "%s%s", used ? "," : "", one);
				}
			}
			else
				rc = scalar(c, "etcd.hosts", v, cfg->endpoints,
				            sizeof(cfg->endpoints));
		}
		else if (strcmp(name, "cacert") == 0)
			rc =
			    scalar(c, "etcd.cacert", v, cfg->ca_file, sizeof(cfg->ca_file));
		else if (strcmp(name, "cert") == 0)
			rc = scalar(c, "etcd.cert", v, cfg->cert_file,
			            sizeof(cfg->cert_file));
		else if (strcmp(name, "key") == 0)
			rc = scalar(c, "etcd.key", v, cfg->key_file, sizeof(cfg->key_file));
		else if (strcmp(name, "username") == 0)
			rc = scalar(c, "etcd.username", v, cfg->username,
			            sizeof(cfg->username));
		else if (strcmp(name, "password") == 0)
			rc = scalar(c, "etcd.password", v, cfg->password,
			            sizeof(cfg->password));
		else
			rc = unknown(c, "etcd.", k);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
parse_target(Ctx *c, yaml_node_t *map, int idx, TargetConfig *t)
{
	yaml_node_t *k;
	yaml_node_t *v;
	char type[32] = "";
	char f[64];
	int rc = 0;

	if (map->type != YAML_MAPPING_NODE)
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "line %d: targets[%d] must be a mapping",
		                     line_of(map), idx);
	t->line = line_of(map);
	FOR_PAIRS(c, map, k, v)
	{
		if (strcmp(key_name(c, k), "type") == 0 &&
		    (rc = scalar(c, "type", v, type, sizeof(type))) != 0)
			return rc;
	}
	if (strcmp(type, "pgbouncer") == 0)
		t->kind = TARGET_PGBOUNCER;
	else if (strcmp(type, "haproxy") == 0)
		t->kind = TARGET_HAPROXY;
	else if (strcmp(type, "template") == 0)
		t->kind = TARGET_TEMPLATE;
	else if (strcmp(type, "vip") == 0)
		t->kind = TARGET_VIP;
	else
		return pgw_error_set(
		    c->err, PGW_EINVAL,
		    "line %d: targets[%d]: key \"type\" must be pgbouncer, haproxy, template or vip (got \"%s\")",
		    line_of(map), idx, type);
	t->timeout_ms = 5000;
	pgw_strlcpy(t->rw_database, "postgres_rw", sizeof(t->rw_database));
	pgw_strlcpy(t->ro_database, "postgres_ro", sizeof(t->ro_database));
	pgw_strlcpy(t->dbname, "postgres", sizeof(t->dbname));
	pgw_strlcpy(t->fenced_host, "/nonexistent/pgwarden-fenced",
	            sizeof(t->fenced_host));
	t->ro_fallback_primary = true;
	FOR_PAIRS(c, map, k, v)
	{
		const char *name = key_name(c, k);
		TargetKind kind = t->kind;

		snprintf(f, sizeof(f), "targets[%d].%s", idx, name);
		if (strcmp(name, "type") == 0)
			continue;
		else if (strcmp(name, "name") == 0)
			rc = scalar(c, f, v, t->name, sizeof(t->name));
		else if (strcmp(name, "timeout") == 0)
			rc = duration(c, f, v, 10, &t->timeout_ms);
		else if (kind == TARGET_PGBOUNCER && strcmp(name, "include_file") == 0)
			rc = scalar(c, f, v, t->include_file, sizeof(t->include_file));
		else if (kind == TARGET_PGBOUNCER &&
		         strcmp(name, "admin_conninfo") == 0)
			rc = scalar(c, f, v, t->admin_conninfo, sizeof(t->admin_conninfo));
		else if (kind == TARGET_PGBOUNCER && strcmp(name, "rw_database") == 0)
			rc = scalar(c, f, v, t->rw_database, sizeof(t->rw_database));
		else if (kind == TARGET_PGBOUNCER && strcmp(name, "ro_database") == 0)
			rc = scalar(c, f, v, t->ro_database, sizeof(t->ro_database));
		else if (kind == TARGET_PGBOUNCER && strcmp(name, "dbname") == 0)
			rc = scalar(c, f, v, t->dbname, sizeof(t->dbname));
		else if (kind == TARGET_PGBOUNCER && strcmp(name, "options") == 0)
			rc = scalar(c, f, v, t->options, sizeof(t->options));
		else if (kind == TARGET_PGBOUNCER && strcmp(name, "fenced_host") == 0)
			rc = scalar(c, f, v, t->fenced_host, sizeof(t->fenced_host));
		else if (kind == TARGET_HAPROXY && strcmp(name, "socket") == 0)
			rc = scalar(c, f, v, t->socket, sizeof(t->socket));
		else if (kind == TARGET_HAPROXY && strcmp(name, "rw_backend") == 0)
			rc = scalar(c, f, v, t->rw_backend, sizeof(t->rw_backend));
		else if (kind == TARGET_HAPROXY && strcmp(name, "ro_backend") == 0)
			rc = scalar(c, f, v, t->ro_backend, sizeof(t->ro_backend));
		else if (kind == TARGET_HAPROXY &&
		         strcmp(name, "ro_fallback_primary") == 0)
			rc = boolean(c, f, v, &t->ro_fallback_primary);
		else if (kind == TARGET_HAPROXY &&
		         strcmp(name, "server_state_file") == 0)
			rc = scalar(c, f, v, t->server_state_file,
			            sizeof(t->server_state_file));
		else if (kind == TARGET_TEMPLATE && strcmp(name, "template") == 0)
			rc = scalar(c, f, v, t->template_path, sizeof(t->template_path));
		else if (kind == TARGET_TEMPLATE && strcmp(name, "output") == 0)
			rc = scalar(c, f, v, t->output, sizeof(t->output));
		else if (kind == TARGET_TEMPLATE && strcmp(name, "hook") == 0)
		{
			if (v->type != YAML_SEQUENCE_NODE)
				return pgw_error_set(
				    c->err, PGW_EINVAL,
				    "line %d: key \"%s\" must be a list (an argument vector)",
				    line_of(v), f);
			t->hook_argc = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++)
			{
				yaml_node_t *e = yaml_document_get_node(c->doc, *it);

				if (t->hook_argc >= ROUTER_HOOK_ARGS_MAX)
					return pgw_error_set(
					    c->err, PGW_EINVAL,
					    "line %d: key \"%s\" has more than %d arguments",
					    line_of(e), f, ROUTER_HOOK_ARGS_MAX);
				if ((rc = scalar(c, f, e, t->hook_argv[t->hook_argc],
				                 sizeof(t->hook_argv[0]))) != 0)
					return rc;
				t->hook_argc++;
			}
		}
		else if (kind == TARGET_VIP && strcmp(name, "address") == 0)
			rc = scalar(c, f, v, t->address, sizeof(t->address));
		else if (kind == TARGET_VIP && strcmp(name, "interface") == 0)
			rc = scalar(c, f, v, t->interface, sizeof(t->interface));
		else if (kind == TARGET_VIP && strcmp(name, "node") == 0)
			rc = scalar(c, f, v, t->node, sizeof(t->node));
		else if (kind == TARGET_VIP && strcmp(name, "netns") == 0)
			rc = scalar(c, f, v, t->netns, sizeof(t->netns));
		else
			return pgw_error_set(
			    c->err, PGW_EINVAL,
			    "line %d: key \"%s\" is unknown for a %s target", line_of(k), f,
			    type);
		if (rc != 0)
			return rc;
	}

	/* required keys */
#define REQUIRE(field, key)                                                    \
	do                                                                         \
	{                                                                          \
		if (t->field[0] == '\0')                                               \
			return pgw_error_set(                                              \
			    c->err, PGW_EINVAL,                                            \
			    "line %d: targets[%d] (%s): key \"%s\" is required", t->line,  \
			    idx, type, key);                                               \
	} while (0)
	switch (t->kind)
	{
		case TARGET_PGBOUNCER:
			REQUIRE(include_file, "include_file");
			REQUIRE(admin_conninfo, "admin_conninfo");
			REQUIRE(rw_database, "rw_database");
			if (!router_pgb_dbname_ok(t->rw_database) ||
			    (t->ro_database[0] != '\0' &&
			     !router_pgb_dbname_ok(t->ro_database)))
				return pgw_error_set(
				    c->err, PGW_EINVAL,
				    "line %d: targets[%d] (pgbouncer): keys \"rw_database\" and \"ro_database\" must be plain names (letters, digits, _)",
				    t->line, idx);
			break;
		case TARGET_HAPROXY:
			REQUIRE(socket, "socket");
			REQUIRE(rw_backend, "rw_backend");
			break;
		case TARGET_TEMPLATE:
			REQUIRE(template_path, "template");
			REQUIRE(output, "output");
			break;
		case TARGET_VIP:
			REQUIRE(address, "address");
			REQUIRE(interface, "interface");
			REQUIRE(node, "node");
			if (strchr(t->address, '/') == NULL)
				return pgw_error_set(
				    c->err, PGW_EINVAL,
				    "line %d: targets[%d] (vip): key \"address\" needs a prefix length (\"10.0.0.10/24\")",
				    t->line, idx);
			break;
	}
#undef REQUIRE
	return 0;
}

static int
parse_root(Ctx *c, yaml_node_t *root, RouterConfig *cfg)
{
	yaml_node_t *k;
	yaml_node_t *v;
	int rc = 0;

	if (root == NULL || root->type != YAML_MAPPING_NODE)
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "line 1: the file must be a YAML mapping");
	FOR_PAIRS(c, root, k, v)
	{
		const char *name = key_name(c, k);

		if (strcmp(name, "name") == 0)
			rc = scalar(c, name, v, cfg->name, sizeof(cfg->name));
		else if (strcmp(name, "scope") == 0)
			rc = scalar(c, name, v, cfg->scope, sizeof(cfg->scope));
		else if (strcmp(name, "namespace") == 0)
			rc = scalar(c, name, v, cfg->namespace_, sizeof(cfg->namespace_));
		else if (strcmp(name, "group") == 0)
		{
			/* a sharded scope: route one group (<scope>/<group>/routing) */
			char buf[16];
			int64_t g;

			if ((rc = scalar(c, name, v, buf, sizeof(buf))) == 0 &&
			    pgw_parse_int64(buf, 0, 9999, &g) != 0)
				return pgw_error_set(
				    c->err, PGW_EINVAL,
				    "line %d: key \"group\" must be a group number 0..9999, not \"%s\"",
				    line_of(v), buf);
			cfg->group = rc == 0 ? (int) g : -1;
		}
		else if (strcmp(name, "etcd") == 0 || strcmp(name, "etcd3") == 0)
			rc = parse_etcd(c, v, cfg);
		else if (strcmp(name, "router_ttl") == 0)
			rc = duration(c, name, v, 1000, &cfg->router_ttl_ms);
		else if (strcmp(name, "loop_wait") == 0)
			rc = duration(c, name, v, 5, &cfg->loop_ms);
		else if (strcmp(name, "retry_interval") == 0)
			rc = duration(c, name, v, 10, &cfg->retry_ms);
		else if (strcmp(name, "status_file") == 0)
			rc = scalar(c, name, v, cfg->status_file, sizeof(cfg->status_file));
		else if (strcmp(name, "metrics_file") == 0)
			rc = scalar(c, name, v, cfg->metrics_file,
			            sizeof(cfg->metrics_file));
		else if (strcmp(name, "metrics_listen") == 0)
		{
			rc = scalar(c, name, v, cfg->metrics_listen,
			            sizeof(cfg->metrics_listen));
			if (rc == 0 && !listen_address_ok(cfg->metrics_listen))
				return pgw_error_set(
				    c->err, PGW_EINVAL,
				    "line %d: key \"metrics_listen\": \"%s\" is not an IPv4 host:port (e.g. 127.0.0.1:9633)",
				    line_of(v), cfg->metrics_listen);
		}
		else if (strcmp(name, "pools_interval") == 0)
			rc = duration(c, name, v, 100, &cfg->pools_interval_ms);
		else if (strcmp(name, "log_level") == 0)
			rc = scalar(c, name, v, cfg->log_level, sizeof(cfg->log_level));
		else if (strcmp(name, "targets") == 0)
		{
			if (v->type != YAML_SEQUENCE_NODE)
				return pgw_error_set(c->err, PGW_EINVAL,
				                     "line %d: key \"targets\" must be a list",
				                     line_of(v));
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++)
			{
				if (cfg->n_targets >= ROUTER_TARGETS_MAX)
					return pgw_error_set(c->err, PGW_EINVAL,
					                     "line %d: more than %d targets",
					                     line_of(v), ROUTER_TARGETS_MAX);
				rc =
				    parse_target(c, yaml_document_get_node(c->doc, *it),
				                 cfg->n_targets, &cfg->targets[cfg->n_targets]);
				if (rc != 0)
					return rc;
				cfg->n_targets++;
			}
		}
		else
			rc = unknown(c, "", k);
		if (rc != 0)
			return rc;
	}
	if (cfg->name[0] == '\0')
		return pgw_error_set(c->err, PGW_EINVAL, "key \"name\" is required");
	for (const char *p = cfg->name; *p; p++)
		if (*p == '/' || *p <= ' ' || *p == '"')
			return pgw_error_set(
			    c->err, PGW_EINVAL,
			    "key \"name\": \"%s\" holds '/', a space or a quote",
			    cfg->name);
	if (cfg->scope[0] == '\0')
		return pgw_error_set(c->err, PGW_EINVAL, "key \"scope\" is required");
	if (cfg->endpoints[0] == '\0')
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "key \"etcd.hosts\" is required");
	if (cfg->n_targets == 0)
		return pgw_error_set(c->err, PGW_EINVAL,
		                     "key \"targets\" is required (at least one)");
	for (int i = 0; i < cfg->n_targets; i++)
	{
		char a[128];
		char b[128];

		exporter_target_name(&cfg->targets[i], a, sizeof(a));
		for (int j = 0; j < i; j++)
		{
			exporter_target_name(&cfg->targets[j], b, sizeof(b));
			if (cfg->targets[i].kind == cfg->targets[j].kind &&
			    strcmp(a, b) == 0)
				return pgw_error_set(
				    c->err, PGW_EINVAL,
				    "line %d: targets[%d] has the metrics name \"%s\" of targets[%d]; give one a distinct \"name\"",
				    cfg->targets[i].line, i, a, j);
		}
	}
	if (cfg->loop_ms * 2 >= cfg->router_ttl_ms)
		return pgw_error_set(
		    c->err, PGW_EINVAL,
		    "key \"loop_wait\" (%lld ms) must be under half of router_ttl (%lld ms)",
		    (long long) cfg->loop_ms, (long long) cfg->router_ttl_ms);
	return 0;
}

int
router_config_parse(const char *yaml, size_t len, RouterConfig *out,
                    PgwError *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	Ctx c;
	int rc;

	memset(out, 0, sizeof(*out));
	pgw_strlcpy(out->namespace_, "/service", sizeof(out->namespace_));
	out->group = -1;
	out->router_ttl_ms = 5000;
	out->loop_ms = 50;
	out->retry_ms = 1000;
	out->pools_interval_ms = 2000;
	pgw_strlcpy(out->log_level, "info", sizeof(out->log_level));
	if (!yaml_parser_initialize(&parser))
		return pgw_error_set(err, PGW_EIO, "could not initialize libyaml");
	yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, len);
	if (!yaml_parser_load(&parser, &doc))
	{
		rc = pgw_error_set(err, PGW_EINVAL, "line %d: %s",
		                   (int) parser.problem_mark.line + 1,
		                   parser.problem ? parser.problem : "bad YAML");
		yaml_parser_delete(&parser);
		return rc;
	}
	c.doc = &doc;
	c.err = err;
	rc = parse_root(&c, yaml_document_get_root_node(&doc), out);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int
router_config_load(const char *path, RouterConfig *out, PgwError *err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	int rc;

	if (f == NULL)
		return pgw_error_set(err, errno == ENOENT ? PGW_ENOTFOUND : PGW_EIO,
		                     "could not open router config \"%s\": %s", path,
		                     strerror(errno));
	buf = malloc(1 << 20);
	if (buf == NULL)
	{
		fclose(f);
		return pgw_error_set(err, PGW_EIO, "out of memory");
	}
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rc = router_config_parse(buf, n, out, err);
	if (rc != 0)
		pgw_error_prefix(err, "%s", path);
	free(buf);
	return rc;
}
