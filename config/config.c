/*
 * config.c: the per-node YAML file (config.h). libyaml's document API loads
 * the file; the tree is converted to jansson (scalars resolved the way
 * PyYAML resolves them for a patroni.yml: plain 10 is an integer, plain
 * true/yes/on a boolean, quoted text always a string) while every key's
 * dotted path and line are recorded, so that each later check can name the
 * key and its line. bootstrap.dcs goes through dcs_config_decode_json(), the
 * same rules as the `config` key in etcd.
 *
 * Anchors and aliases are refused: a node reached twice is an error, which
 * also stops self-referencing and exponentially expanding documents. The
 * keys and what each one does are in config_schema.c; host:port and etcd
 * endpoint helpers in config_util.c.
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_FILE_MAX  (1024 * 1024)
#define CONFIG_DEPTH_MAX 32

/* ------------------------------------------------------------------------
 * errors with a line
 * ------------------------------------------------------------------------ */

static void
add_line(Parser *p, const char *path, int line)
{
	if (p->n_lines == p->cap_lines)
	{
		p->cap_lines = p->cap_lines ? p->cap_lines * 2 : 64;
		p->lines =
		    pgw_xrealloc(p->lines, sizeof(LineEntry) * (size_t) p->cap_lines);
	}
	p->lines[p->n_lines].path = pgw_xstrdup(path);
	p->lines[p->n_lines].line = line;
	p->n_lines++;
}

int
cfg_line_of(const Parser *p, const char *path)
{
	for (int i = 0; i < p->n_lines; i++)
		if (strcmp(p->lines[i].path, path) == 0)
			return p->lines[i].line;
	return 0;
}

/* "config file X line N: key "path": detail" */
int
cfg_perr(Parser *p, const char *path, const char *fmt, ...)
{
	char detail[PGW_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return pgw_error_set(p->err, PGW_EINVAL,
	                     "config file %s line %d: key \"%s\": %s", p->source,
	                     cfg_line_of(p, path), path, detail);
}

/* config_perr / config_parser_cfg: cfg_perr and the config for config_k8s.c */
int
config_perr(Parser *p, const char *path, const char *fmt, ...)
{
	char detail[PGW_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return cfg_perr(p, path, "%s", detail);
}

NodeConfig *
config_parser_cfg(Parser *p)
{
	return p->cfg;
}

int
cfg_punknown(Parser *p, const char *path)
{
	return pgw_error_set(p->err, PGW_EINVAL,
	                     "config file %s line %d: unknown key \"%s\"",
	                     p->source, cfg_line_of(p, path), path);
}

/*
 * cfg_warn_ignored: "config file X line N: key "k": ignored: why", kept in
 * cfg->warnings for --check-config and the daemon's log.
 */
void
cfg_warn_ignored(Parser *p, const char *path, const char *why)
{
	char w[PGW_ERROR_MSG_MAX];

	snprintf(w, sizeof(w), "config file %s line %d: key \"%s\": ignored: %s",
	         p->source, cfg_line_of(p, path), path, why);
	config_add_warning(p->cfg, w);
}

void
config_add_warning(NodeConfig *c, const char *msg)
{
	c->warnings = pgw_xrealloc(c->warnings,
	                           sizeof(char *) * (size_t) (c->n_warnings + 1));
	c->warnings[c->n_warnings++] = pgw_xstrdup(msg);
}


/* ------------------------------------------------------------------------
 * YAML -> jansson
 * ------------------------------------------------------------------------ */

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool
is_float_text(const char *s)
{
	const char *p = s;
	int digits = 0;
	bool dot = false;

	if (*p == '+' || *p == '-')
		p++;
	while ((*p >= '0' && *p <= '9') || (*p == '.' && !dot))
	{
		if (*p == '.')
			dot = true;
		else
			digits++;
		p++;
	}
	if (digits == 0)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!all_digits(p))
			return false;
		return true;
	}
	return *p == '\0' && dot;
}

static json_t *
resolve_plain(Parser *p, const char *s, int line)
{
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes",
	                                    "YES",  "on",   "On",   "ON",  NULL};
	static const char *const falses[] = {
	    "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", NULL};
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	const char *d = s;

	for (int i = 0; trues[i]; i++)
		if (strcmp(s, trues[i]) == 0)
			return json_true();
	for (int i = 0; falses[i]; i++)
		if (strcmp(s, falses[i]) == 0)
			return json_false();
	for (int i = 0; nulls[i]; i++)
		if (strcmp(s, nulls[i]) == 0)
			return json_null();
	if (*d == '-' || *d == '+')
		d++;
	if (all_digits(d))
	{
		int64_t v;

		if (pgw_parse_int64(*s == '+' ? s + 1 : s, INT64_MIN, INT64_MAX, &v) !=
		    0)
		{
			pgw_error_set(
			    p->err, PGW_EINVAL,
			    "config file %s line %d: integer %.40s is out of range",
			    p->source, line, s);
			return NULL;
		}
		return json_integer((json_int_t) v);
	}
	if (is_float_text(s))
		return json_real(strtod(s, NULL));
	return json_string(s);
}

static json_t *
to_json(Parser *p, int index, const char *path, int depth)
{
	yaml_node_t *node = yaml_document_get_node(p->doc, index);
	int line;

	if (node == NULL)
	{
		pgw_error_set(p->err, PGW_EINVAL,
		              "config file %s: broken YAML document", p->source);
		return NULL;
	}
	line = (int) node->start_mark.line + 1;
	if (p->visited[index - 1])
	{
		pgw_error_set(p->err, PGW_EINVAL,
		              "config file %s line %d: YAML aliases are not supported",
		              p->source, line);
		return NULL;
	}
	p->visited[index - 1] = 1;
	if (depth > CONFIG_DEPTH_MAX)
	{
		pgw_error_set(p->err, PGW_EINVAL,
		              "config file %s line %d: nested too deeply", p->source,
		              line);
		return NULL;
	}
	switch (node->type)
	{
		case YAML_SCALAR_NODE:
		{
			const char *s = (const char *) node->data.scalar.value;
			json_t *v;

			if (strlen(s) != node->data.scalar.length)
			{
				pgw_error_set(
				    p->err, PGW_EINVAL,
				    "config file %s line %d: a value holds a NUL character",
				    p->source, line);
				return NULL;
			}
			if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
				v = resolve_plain(p, s, line);
			else
				v = json_string(s);
			if (v == NULL && p->err && p->err->code == 0)
				pgw_error_set(
				    p->err, PGW_EINVAL,
				    "config file %s line %d: invalid UTF-8 in a value",
				    p->source, line);
			return v;
		}
		case YAML_SEQUENCE_NODE:
		{
			json_t *a = json_array();
			int i = 0;

			for (yaml_node_item_t *it = node->data.sequence.items.start;
			     it < node->data.sequence.items.top; it++, i++)
			{
				char sub[CONFIG_PATH_MAX];
				yaml_node_t *item = yaml_document_get_node(p->doc, *it);
				json_t *v;

				snprintf(sub, sizeof(sub), "%s[%d]", path, i);
				add_line(p, sub, item ? (int) item->start_mark.line + 1 : line);
				v = to_json(p, *it, sub, depth + 1);
				if (v == NULL)
				{
					json_decref(a);
					return NULL;
				}
				json_array_append_new(a, v);
			}
			return a;
		}
		case YAML_MAPPING_NODE:
		{
			json_t *o = json_object();

			for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
			     pr < node->data.mapping.pairs.top; pr++)
			{
				yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
				char sub[CONFIG_PATH_MAX];
				const char *key;
				int kline;
				json_t *v;

				kline = k ? (int) k->start_mark.line + 1 : line;
				if (k == NULL || k->type != YAML_SCALAR_NODE ||
				    strlen((const char *) k->data.scalar.value) !=
				        k->data.scalar.length ||
				    k->data.scalar.length == 0)
				{
					pgw_error_set(
					    p->err, PGW_EINVAL,
					    "config file %s line %d: under \"%s\": keys must be non-empty scalars",
					    p->source, kline, path[0] ? path : "(top)");
					json_decref(o);
					return NULL;
				}
				key = (const char *) k->data.scalar.value;
				if (snprintf(sub, sizeof(sub), "%s%s%s", path,
				             path[0] ? "." : "", key) >= (int) sizeof(sub))
				{
					pgw_error_set(p->err, PGW_EINVAL,
					              "config file %s line %d: key path too long",
					              p->source, kline);
					json_decref(o);
					return NULL;
				}
				if (json_object_get(o, key) != NULL)
				{
					pgw_error_set(
					    p->err, PGW_EINVAL,
					    "config file %s line %d: duplicate key \"%s\"",
					    p->source, kline, sub);
					json_decref(o);
					return NULL;
				}
				add_line(p, sub, kline);
				v = to_json(p, pr->value, sub, depth + 1);
				if (v == NULL)
				{
					json_decref(o);
					return NULL;
				}
				if (json_object_set_new(o, key, v) != 0)
				{
					pgw_error_set(
					    p->err, PGW_EINVAL,
					    "config file %s line %d: invalid UTF-8 in key \"%s\"",
					    p->source, kline, sub);
					json_decref(o);
					return NULL;
				}
			}
			return o;
		}
		default:
			break;
	}
	pgw_error_set(p->err, PGW_EINVAL, "config file %s line %d: empty YAML node",
	              p->source, line);
	return NULL;
}


/* ------------------------------------------------------------------------
 * schema cfg_walk
 * ------------------------------------------------------------------------ */


const char *
cfg_kind_name(const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "a mapping";
		case JSON_ARRAY:
			return "a list";
		case JSON_STRING:
			return "a string";
		case JSON_INTEGER:
			return "an integer";
		case JSON_REAL:
			return "a number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "a boolean";
		case JSON_NULL:
			return "null";
	}
	return "unknown";
}

/* scalar text of a string-typed value (numbers as their text); NULL + err */
const char *
cfg_str_value(Parser *p, json_t *v, const char *path, char *buf, size_t size)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
	{
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	if (json_is_real(v))
	{
		snprintf(buf, size, "%.17g", json_real_value(v));
		return buf;
	}
	cfg_perr(p, path, "expected a string, got %s", cfg_kind_name(v));
	return NULL;
}


void
cfg_join_path(char *buf, size_t size, const char *path, const char *key)
{
	snprintf(buf, size, "%s%s%s", path, path[0] ? "." : "", key);
}

static int
field_apply(Parser *p, const Field *f, json_t *v, const char *path)
{
	char buf[64];
	const char *s;

	switch (f->kind)
	{
		case F_STR:
			/* "password:" with nothing after it (Debian's template) */
			if (json_is_null(v))
			{
				config_set_str(FIELD_PTR(p, f->off, char *), NULL);
				return 0;
			}
			if ((s = cfg_str_value(p, v, path, buf, sizeof(buf))) == NULL)
				return PGW_EINVAL;
			config_set_str(FIELD_PTR(p, f->off, char *), s);
			return 0;
		case F_HOSTPORT:
		case F_PGLISTEN:
		{
			PgwError e2 = {0};

			if (!json_is_string(v))
				return cfg_perr(p, path, "expected host:port, got %s",
				                cfg_kind_name(v));
			s = json_string_value(v);
			if (config_check_hostport(s, f->kind == F_PGLISTEN,
			                          FIELD_PTR(p, f->off_n, int), &e2) != 0)
				return cfg_perr(p, path, "%s", e2.msg);
			config_set_str(FIELD_PTR(p, f->off, char *), s);
			return 0;
		}
		case F_BOOL:
			if (!json_is_boolean(v))
				return cfg_perr(p, path, "expected a boolean, got %s",
				                cfg_kind_name(v));
			*FIELD_PTR(p, f->off, bool) = json_is_true(v);
			return 0;
		case F_STRLIST:
		{
			char ***list = FIELD_PTR(p, f->off, char **);
			int *n = FIELD_PTR(p, f->off_n, int);
			size_t i;
			json_t *item;

			if (!json_is_array(v))
				return cfg_perr(p, path, "expected a list of strings, got %s",
				                cfg_kind_name(v));
			for (int k = 0; k < *n; k++)
				free((*list)[k]);
			free(*list);
			*list = NULL;
			*n = 0;
			if (json_array_size(v) == 0)
				return 0;
			*list = pgw_xcalloc(json_array_size(v), sizeof(char *));
			json_array_foreach(v, i, item)
			{
				char sub[CONFIG_PATH_MAX];

				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
				if ((s = cfg_str_value(p, item, sub, buf, sizeof(buf))) == NULL)
					return PGW_EINVAL;
				(*list)[(*n)++] = pgw_xstrdup(s);
			}
			return 0;
		}
		case F_SECTION:
			if (json_is_null(v))
				return 0; /* "restapi:" with nothing under it */
			if (!json_is_object(v))
				return cfg_perr(p, path, "expected a mapping, got %s",
				                cfg_kind_name(v));
			return cfg_walk(p, v, path, f->sub);
		case F_CUSTOM:
			return f->fn(p, v, path);
		case F_IGNORED:
			cfg_warn_ignored(p, path, f->why);
			return 0;
		case F_REFUSED:
			return cfg_perr(p, path, "%s", f->why);
	}
	return PGW_EINVAL;
}

int
cfg_walk(Parser *p, json_t *obj, const char *path, const Field *fields)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		char sub[CONFIG_PATH_MAX];
		const Field *f;

		cfg_join_path(sub, sizeof(sub), path, key);
		for (f = fields; f->key != NULL; f++)
			if (strcmp(f->key, key) == 0)
				break;
		if (f->key == NULL)
			for (f = fields; f->key != NULL; f++)
				if (strcmp(f->key, "*") == 0)
					break;
		if (f->key == NULL)
			return cfg_punknown(p, sub);
		if (field_apply(p, f, v, sub) != 0)
			return PGW_EINVAL;
	}
	return 0;
}


/* ------------------------------------------------------------------------
 * entry points
 * ------------------------------------------------------------------------ */

int
config_parse(const char *yaml, size_t len, const char *source_name,
             NodeConfig *out, PgwError *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_document_t doc2;
	bool have_doc = false;
	Parser p;
	yaml_node_t *root;
	json_t *tree = NULL;
	int rc = PGW_EINVAL;
	const char *src = source_name ? source_name : "<string>";
	PgwError local = {0};

	if (err == NULL)
		err = &local;
	pgw_error_clear(err);
	config_free(out);
	config_schema_defaults(out);
	out->source = pgw_xstrdup(src);
	memset(&p, 0, sizeof(p));
	p.source = out->source;
	p.cfg = out;
	p.err = err;

	if (yaml == NULL || len > CONFIG_FILE_MAX)
	{
		pgw_error_set(err, PGW_EINVAL,
		              "config file %s: empty or larger than %d bytes", src,
		              CONFIG_FILE_MAX);
		goto fail;
	}
	if (!yaml_parser_initialize(&parser))
	{
		pgw_error_set(err, PGW_EINTERNAL,
		              "config file %s: could not initialise libyaml", src);
		goto fail;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, len);
	if (!yaml_parser_load(&parser, &doc))
	{
		pgw_error_set(
		    err, PGW_EINVAL, "config file %s line %d: invalid YAML: %s%s%s",
		    src, (int) parser.problem_mark.line + 1,
		    parser.problem ? parser.problem : "parse error",
		    parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		goto fail;
	}
	have_doc = true;
	root = yaml_document_get_root_node(&doc);
	if (root != NULL)
	{
		/* a second document is refused rather than silently ignored */
		if (!yaml_parser_load(&parser, &doc2))
		{
			pgw_error_set(err, PGW_EINVAL,
			              "config file %s line %d: invalid YAML: %s", src,
			              (int) parser.problem_mark.line + 1,
			              parser.problem ? parser.problem : "parse error");
			yaml_parser_delete(&parser);
			goto fail;
		}
		if (yaml_document_get_root_node(&doc2) != NULL)
		{
			pgw_error_set(err, PGW_EINVAL,
			              "config file %s line %d: more than one YAML document",
			              src, (int) doc2.start_mark.line + 1);
			yaml_document_delete(&doc2);
			yaml_parser_delete(&parser);
			goto fail;
		}
		yaml_document_delete(&doc2);
	}
	yaml_parser_delete(&parser);
	if (root == NULL)
	{
		pgw_error_set(err, PGW_EINVAL, "config file %s: the file is empty",
		              src);
		goto fail;
	}
	if (root->type != YAML_MAPPING_NODE)
	{
		pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s line %d: expected a mapping of keys at the top",
		    src, (int) root->start_mark.line + 1);
		goto fail;
	}
	p.doc = &doc;
	p.n_nodes = (int) (doc.nodes.top - doc.nodes.start);
	p.visited = pgw_xcalloc((size_t) p.n_nodes + 1, 1);
	tree = to_json(&p, 1, "", 0);
	if (tree == NULL)
	{
		if (err && err->code == 0)
			pgw_error_set(err, PGW_EINVAL, "config file %s: could not convert",
			              src);
		goto fail;
	}
	if (cfg_walk(&p, tree, "", config_top_fields) != 0 ||
	    config_schema_finish(&p) != 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	if (err && err->code == 0)
		pgw_error_set(err, PGW_EINVAL, "config file %s: invalid", src);
	config_free(out);
out:
	json_decref(tree);
	if (have_doc)
		yaml_document_delete(&doc);
	free(p.visited);
	for (int i = 0; i < p.n_lines; i++)
		free(p.lines[i].path);
	free(p.lines);
	return rc;
}

int
config_load_file(const char *path, NodeConfig *out, PgwError *err)
{
	int fd;
	struct stat st;
	char *buf;
	size_t got = 0;
	int rc;

	config_free(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pgw_error_set(err, errno == ENOENT ? PGW_ENOTFOUND : PGW_EIO,
		                     "could not open config file %s: %s", path,
		                     strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_FILE_MAX)
	{
		close(fd);
		return pgw_error_set(
		    err, PGW_EIO,
		    "could not read config file %s: not a regular file of at most %d bytes",
		    path, CONFIG_FILE_MAX);
	}
	buf = pgw_xmalloc((size_t) st.st_size + 1);
	while (got < (size_t) st.st_size)
	{
		ssize_t n = read(fd, buf + got, (size_t) st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t) n;
	}
	close(fd);
	if (got != (size_t) st.st_size)
	{
		free(buf);
		return pgw_error_set(err, PGW_EIO, "could not read config file %s",
		                     path);
	}
	buf[got] = '\0';
	rc = config_parse(buf, got, path, out, err);
	free(buf);
	return rc;
}

static void
free_list(char ***list, int *n)
{
	for (int i = 0; i < *n; i++)
		free((*list)[i]);
	free(*list);
	*list = NULL;
	*n = 0;
}

void
config_free(NodeConfig *c)
{
	if (c == NULL)
		return;

	char **strs[] = {
	    &c->source,
	    &c->scope,
	    &c->namespace_,
	    &c->name,
	    &c->etcd_hosts,
	    &c->etcd_protocol,
	    &c->etcd_cacert,
	    &c->etcd_cert,
	    &c->etcd_key,
	    &c->etcd_username,
	    &c->etcd_password,
	    &c->restapi_listen,
	    &c->restapi_connect_address,
	    &c->restapi_certfile,
	    &c->restapi_keyfile,
	    &c->restapi_cafile,
	    &c->restapi_username,
	    &c->restapi_password,
	    &c->pg_listen,
	    &c->pg_connect_address,
	    &c->pg_proxy_address,
	    &c->pg_data_dir,
	    &c->pg_bin_dir,
	    &c->pg_run_as,
	    &c->pg_socket_dir,
	    &c->pg_pgpass,
	    &c->pg_superuser_username,
	    &c->pg_superuser_password,
	    &c->pg_replication_username,
	    &c->pg_replication_password,
	    &c->pg_rewind_username,
	    &c->pg_rewind_password,
	    &c->cb_on_start,
	    &c->cb_on_stop,
	    &c->cb_on_restart,
	    &c->cb_on_reload,
	    &c->cb_on_role_change,
	    &c->pg_pre_promote,
	    &c->watchdog_device,
	    &c->state_dir,
	};

	for (size_t i = 0; i < PGW_LENGTHOF(strs); i++)
		free(*strs[i]);
	free_list(&c->restapi_allowlist, &c->n_restapi_allowlist);
	free_list(&c->pg_hba, &c->n_pg_hba);
	free_list(&c->initdb, &c->n_initdb);
	free_list(&c->bootstrap_pg_hba, &c->n_bootstrap_pg_hba);
	free_list(&c->dcs_pg_hba, &c->n_dcs_pg_hba);
	free_list(&c->warnings, &c->n_warnings);
	config_k8s_free(&c->k8s);
	memset(c, 0, sizeof(*c));
}
