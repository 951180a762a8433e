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
 * also stops self-referencing and exponentially expanding documents.
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

#define CONFIG_FILE_MAX		(1024 * 1024)
#define CONFIG_DEPTH_MAX	32
#define CONFIG_PATH_MAX		256

typedef struct LineEntry
{
	char	   *path;
	int			line;
} LineEntry;

typedef struct Parser
{
	const char *source;
	yaml_document_t *doc;
	unsigned char *visited;		/* per node index */
	int			n_nodes;
	LineEntry  *lines;
	int			n_lines;
	int			cap_lines;
	NodeConfig *cfg;
	PgwError   *err;
} Parser;

/* ------------------------------------------------------------------------
 * helpers shared with config_env.c
 * ------------------------------------------------------------------------ */

void
config_set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? pgw_xstrdup(s) : NULL;
}

int
config_parse_level(const char *s, LogLevel *out)
{
	static const struct
	{
		const char *name;
		LogLevel	level;
	}			levels[] = {
		{"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},
		{"warn", LOG_LEVEL_WARN}, {"warning", LOG_LEVEL_WARN},
		{"error", LOG_LEVEL_ERROR}, {"critical", LOG_LEVEL_ERROR},
	};

	for (size_t i = 0; i < PGW_LENGTHOF(levels); i++)
	{
		if (strcasecmp(s, levels[i].name) == 0)
		{
			*out = levels[i].level;
			return 0;
		}
	}
	return PGW_EINVAL;
}

static bool
host_chars_ok(const char *b, const char *e, bool allow_list)
{
	for (const char *p = b; p < e; p++)
	{
		unsigned char ch = (unsigned char) *p;

		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == '@' || ch == '[' ||
			ch == ']' || (ch == ',' && !allow_list))
			return false;
	}
	return true;
}

int
config_split_host_port(const char *s, char *host, size_t host_len, int *port,
					   PgwError *err)
{
	const char *colon;
	const char *hb = s;
	const char *he;
	int64_t		p;

	if (s == NULL || (colon = strrchr(s, ':')) == NULL)
		return pgw_error_set(err, PGW_EINVAL, "expected host:port");
	he = colon;
	if (*s == '[')
	{
		if (colon == s || colon[-1] != ']')
			return pgw_error_set(err, PGW_EINVAL, "expected host:port");
		hb = s + 1;
		he = colon - 1;
	}
	else if (memchr(s, ':', (size_t) (colon - s)) != NULL &&
			 memchr(s, ',', (size_t) (colon - s)) == NULL)
	{
		/* an unbracketed IPv6 address: fine as a host, the last ':' is the port */
	}
	if (pgw_parse_int64(colon + 1, 1, 65535, &p) != 0)
		return pgw_error_set(err, PGW_EINVAL, "expected host:port (port 1..65535)");
	if ((size_t) (he - hb) >= host_len)
		return pgw_error_set(err, PGW_EINVAL, "expected host:port (host too long)");
	if (!host_chars_ok(hb, he, true))
		return pgw_error_set(err, PGW_EINVAL, "expected host:port (bad host)");
	memcpy(host, hb, (size_t) (he - hb));
	host[he - hb] = '\0';
	*port = (int) p;
	return 0;
}

int
config_check_hostport(const char *s, bool allow_list, int *port, PgwError *err)
{
	char		host[512];
	int			p;

	if (config_split_host_port(s, host, sizeof(host), &p, err) != 0)
		return PGW_EINVAL;
	if (!allow_list && strchr(host, ',') != NULL)
		return pgw_error_set(err, PGW_EINVAL, "expected host:port (one host)");
	if (allow_list)
	{
		/* "h1,h2:port": no empty item */
		const char *q = host;

		if (host[0] != '\0')
		{
			for (;;)
			{
				const char *c = strchr(q, ',');
				size_t		n = c ? (size_t) (c - q) : strlen(q);

				if (n == 0)
					return pgw_error_set(err, PGW_EINVAL,
										 "expected host[,host]:port (empty host)");
				if (c == NULL)
					break;
				q = c + 1;
			}
		}
	}
	if (port)
		*port = p;
	return 0;
}

char *
config_etcd_hosts_normalise(const char *hosts, const char *protocol,
							PgwError *err)
{
	size_t		cap = strlen(hosts) * 2 + 16;
	char	   *out = pgw_xmalloc(cap);
	size_t		used = 0;
	const char *p = hosts;
	bool		https = protocol && strcmp(protocol, "https") == 0;
	int			n = 0;

	out[0] = '\0';
	for (;;)
	{
		const char *c = strchr(p, ',');
		size_t		len = c ? (size_t) (c - p) : strlen(p);
		char		entry[512];
		const char *hp;
		const char *scheme = https ? "https://" : "";
		PgwError	e2 = {0};

		while (len > 0 && (*p == ' ' || *p == '\t'))
		{
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(entry))
		{
			free(out);
			pgw_error_set(err, PGW_EINVAL, "expected host:port[,host:port...] (empty or over-long entry)");
			return NULL;
		}
		memcpy(entry, p, len);
		entry[len] = '\0';
		hp = entry;
		if (strncmp(entry, "http://", 7) == 0)
		{
			hp = entry + 7;
			scheme = "http://";
		}
		else if (strncmp(entry, "https://", 8) == 0)
		{
			hp = entry + 8;
			scheme = "https://";
		}
		if (strchr(hp, '/') != NULL || config_check_hostport(hp, false, NULL, &e2) != 0)
		{
			free(out);
			pgw_error_set(err, PGW_EINVAL, "expected host:port, got \"%s\"", entry);
			return NULL;
		}
		if (++n > ETCD_ENDPOINTS_MAX)
		{
			free(out);
			pgw_error_set(err, PGW_EINVAL, "more than %d hosts", ETCD_ENDPOINTS_MAX);
			return NULL;
		}
		used += (size_t) snprintf(out + used, cap - used, "%s%s%s", used ? "," : "",
								  scheme, hp);
		if (c == NULL)
			break;
		p = c + 1;
	}
	return out;
}

/* ------------------------------------------------------------------------
 * errors with a line
 * ------------------------------------------------------------------------ */

static void
add_line(Parser *p, const char *path, int line)
{
	if (p->n_lines == p->cap_lines)
	{
		p->cap_lines = p->cap_lines ? p->cap_lines * 2 : 64;
		p->lines = pgw_xrealloc(p->lines, sizeof(LineEntry) * (size_t) p->cap_lines);
	}
	p->lines[p->n_lines].path = pgw_xstrdup(path);
	p->lines[p->n_lines].line = line;
	p->n_lines++;
}

static int
line_of(const Parser *p, const char *path)
{
	for (int i = 0; i < p->n_lines; i++)
		if (strcmp(p->lines[i].path, path) == 0)
			return p->lines[i].line;
	return 0;
}

static int	perr(Parser *p, const char *path, const char *fmt,...) PGW_PRINTF(3, 4);

/* "config file X line N: key "path": detail" */
static int
perr(Parser *p, const char *path, const char *fmt,...)
{
	char		detail[PGW_ERROR_MSG_MAX];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return pgw_error_set(p->err, PGW_EINVAL, "config file %s line %d: key \"%s\": %s",
						 p->source, line_of(p, path), path, detail);
}

static int
punknown(Parser *p, const char *path)
{
	return pgw_error_set(p->err, PGW_EINVAL, "config file %s line %d: unknown key \"%s\"",
						 p->source, line_of(p, path), path);
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
	int			digits = 0;
	bool		dot = false;

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
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
	"on", "On", "ON", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO",
	"off", "Off", "OFF", NULL};
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
		int64_t		v;

		if (pgw_parse_int64(*s == '+' ? s + 1 : s, INT64_MIN, INT64_MAX, &v) != 0)
		{
			pgw_error_set(p->err, PGW_EINVAL,
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
	int			line;

	if (node == NULL)
	{
		pgw_error_set(p->err, PGW_EINVAL, "config file %s: broken YAML document",
					  p->source);
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
		pgw_error_set(p->err, PGW_EINVAL, "config file %s line %d: nested too deeply",
					  p->source, line);
		return NULL;
	}
	switch (node->type)
	{
		case YAML_SCALAR_NODE:
			{
				const char *s = (const char *) node->data.scalar.value;
				json_t	   *v;

				if (strlen(s) != node->data.scalar.length)
				{
					pgw_error_set(p->err, PGW_EINVAL,
								  "config file %s line %d: a value holds a NUL character",
								  p->source, line);
					return NULL;
				}
				if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
					v = resolve_plain(p, s, line);
				else
					v = json_string(s);
				if (v == NULL && p->err && p->err->code == 0)
					pgw_error_set(p->err, PGW_EINVAL,
								  "config file %s line %d: invalid UTF-8 in a value",
								  p->source, line);
				return v;
			}
		case YAML_SEQUENCE_NODE:
			{
				json_t	   *a = json_array();
				int			i = 0;

				for (yaml_node_item_t *it = node->data.sequence.items.start;
					 it < node->data.sequence.items.top; it++, i++)
				{
					char		sub[CONFIG_PATH_MAX];
					yaml_node_t *item = yaml_document_get_node(p->doc, *it);
					json_t	   *v;

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
				json_t	   *o = json_object();

				for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
					 pr < node->data.mapping.pairs.top; pr++)
				{
					yaml_node_t *k = yaml_document_get_node(p->doc, pr->key);
					char		sub[CONFIG_PATH_MAX];
					const char *key;
					int			kline;
					json_t	   *v;

					kline = k ? (int) k->start_mark.line + 1 : line;
					if (k == NULL || k->type != YAML_SCALAR_NODE ||
						strlen((const char *) k->data.scalar.value) != k->data.scalar.length ||
						k->data.scalar.length == 0)
					{
						pgw_error_set(p->err, PGW_EINVAL,
									  "config file %s line %d: under \"%s\": keys must be non-empty scalars",
									  p->source, kline, path[0] ? path : "(top)");
						json_decref(o);
						return NULL;
					}
					key = (const char *) k->data.scalar.value;
					if (snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key) >=
						(int) sizeof(sub))
					{
						pgw_error_set(p->err, PGW_EINVAL,
									  "config file %s line %d: key path too long", p->source, kline);
						json_decref(o);
						return NULL;
					}
					if (json_object_get(o, key) != NULL)
					{
						pgw_error_set(p->err, PGW_EINVAL,
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
						pgw_error_set(p->err, PGW_EINVAL,
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
 * schema walk
 * ------------------------------------------------------------------------ */

typedef enum FieldKind
{
	F_STR,						/* string (numbers accepted as their text) */
	F_HOSTPORT,					/* "host:port" */
	F_PGLISTEN,					/* "host[,host]:port" */
	F_BOOL,
	F_STRLIST,					/* list of strings: off = char **, off_n = int */
	F_SECTION,					/* mapping: sub */
	F_CUSTOM,					/* fn */
} FieldKind;

typedef struct Field Field;
typedef int (*FieldFn) (Parser *p, json_t *v, const char *path);

struct Field
{
	const char *key;
	FieldKind	kind;
	size_t		off;
	size_t		off_n;
	const Field *sub;
	FieldFn		fn;
};

#define FSTR(k, m)		{k, F_STR, offsetof(NodeConfig, m), 0, NULL, NULL}
#define FHP(k, m, n)	{k, F_HOSTPORT, offsetof(NodeConfig, m), offsetof(NodeConfig, n), NULL, NULL}
#define FPGL(k, m, n)	{k, F_PGLISTEN, offsetof(NodeConfig, m), offsetof(NodeConfig, n), NULL, NULL}
#define FBOOL(k, m)		{k, F_BOOL, offsetof(NodeConfig, m), 0, NULL, NULL}
#define FLIST(k, m, n)	{k, F_STRLIST, offsetof(NodeConfig, m), offsetof(NodeConfig, n), NULL, NULL}
#define FSEC(k, s)		{k, F_SECTION, 0, 0, s, NULL}
#define FFN(k, f)		{k, F_CUSTOM, 0, 0, NULL, f}
#define FEND			{NULL, F_STR, 0, 0, NULL, NULL}

#define FIELD_PTR(p, off, type) ((type *) ((char *) (p)->cfg + (off)))

static const char *
kind_name(const json_t *v)
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
static const char *
str_value(Parser *p, json_t *v, const char *path, char *buf, size_t size)
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
	perr(p, path, "expected a string, got %s", kind_name(v));
	return NULL;
}

static int	walk(Parser *p, json_t *obj, const char *path, const Field *fields);

static void
join_path(char *buf, size_t size, const char *path, const char *key)
{
	snprintf(buf, size, "%s%s%s", path, path[0] ? "." : "", key);
}

static int
field_apply(Parser *p, const Field *f, json_t *v, const char *path)
{
	char		buf[64];
	const char *s;

	switch (f->kind)
	{
		case F_STR:
			if ((s = str_value(p, v, path, buf, sizeof(buf))) == NULL)
				return PGW_EINVAL;
			config_set_str(FIELD_PTR(p, f->off, char *), s);
			return 0;
		case F_HOSTPORT:
		case F_PGLISTEN:
			{
				PgwError	e2 = {0};

				if (!json_is_string(v))
					return perr(p, path, "expected host:port, got %s", kind_name(v));
				s = json_string_value(v);
				if (config_check_hostport(s, f->kind == F_PGLISTEN,
										  FIELD_PTR(p, f->off_n, int), &e2) != 0)
					return perr(p, path, "%s", e2.msg);
				config_set_str(FIELD_PTR(p, f->off, char *), s);
				return 0;
			}
		case F_BOOL:
			if (!json_is_boolean(v))
				return perr(p, path, "expected a boolean, got %s", kind_name(v));
			*FIELD_PTR(p, f->off, bool) = json_is_true(v);
			return 0;
		case F_STRLIST:
			{
				char	 ***list = FIELD_PTR(p, f->off, char **);
				int		   *n = FIELD_PTR(p, f->off_n, int);
				size_t		i;
				json_t	   *item;

				if (!json_is_array(v))
					return perr(p, path, "expected a list of strings, got %s", kind_name(v));
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
					char		sub[CONFIG_PATH_MAX];

					snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
					if ((s = str_value(p, item, sub, buf, sizeof(buf))) == NULL)
						return PGW_EINVAL;
					(*list)[(*n)++] = pgw_xstrdup(s);
				}
				return 0;
			}
		case F_SECTION:
			if (json_is_null(v))
				return 0;		/* "restapi:" with nothing under it */
			if (!json_is_object(v))
				return perr(p, path, "expected a mapping, got %s", kind_name(v));
			return walk(p, v, path, f->sub);
		case F_CUSTOM:
			return f->fn(p, v, path);
	}
	return PGW_EINVAL;
}

static int
walk(Parser *p, json_t *obj, const char *path, const Field *fields)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(obj, key, v)
	{
		char		sub[CONFIG_PATH_MAX];
		const Field *f;

		join_path(sub, sizeof(sub), path, key);
		for (f = fields; f->key != NULL; f++)
			if (strcmp(f->key, key) == 0)
				break;
		if (f->key == NULL)
			return punknown(p, sub);
		if (field_apply(p, f, v, sub) != 0)
			return PGW_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * custom fields
 * ------------------------------------------------------------------------ */

static int
fn_log_level(Parser *p, json_t *v, const char *path)
{
	if (!json_is_string(v) || config_parse_level(json_string_value(v), &p->cfg->log_level) != 0)
		return perr(p, path, "expected one of debug, info, warn, error");
	return 0;
}

static int
fn_etcd_hosts(Parser *p, json_t *v, const char *path)
{
	char	   *joined;

	if (json_is_string(v))
		joined = pgw_xstrdup(json_string_value(v));
	else if (json_is_array(v) && json_array_size(v) > 0)
	{
		size_t		cap = 1;
		size_t		i;
		json_t	   *item;

		json_array_foreach(v, i, item)
		{
			if (!json_is_string(item))
			{
				char		sub[CONFIG_PATH_MAX];

				snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
				return perr(p, sub, "expected host:port, got %s", kind_name(item));
			}
			cap += json_string_length(item) + 1;
		}
		joined = pgw_xmalloc(cap);
		joined[0] = '\0';
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				strncat(joined, ",", cap - strlen(joined) - 1);
			strncat(joined, json_string_value(item), cap - strlen(joined) - 1);
		}
	}
	else
		return perr(p, path, "expected host:port or a list of them, got %s",
					kind_name(v));
	if (p->cfg->etcd_hosts != NULL)
	{
		free(joined);
		return perr(p, path, "set either etcd3.host or etcd3.hosts, not both");
	}
	{
		PgwError	e2 = {0};
		char	   *norm = config_etcd_hosts_normalise(joined, "http", &e2);

		free(joined);
		if (norm == NULL)
			return perr(p, path, "%s", e2.msg);
		p->cfg->etcd_hosts = norm;
	}
	return 0;
}

static int
fn_etcd_protocol(Parser *p, json_t *v, const char *path)
{
	if (!json_is_string(v) || (strcmp(json_string_value(v), "http") != 0 &&
							   strcmp(json_string_value(v), "https") != 0))
		return perr(p, path, "expected \"http\" or \"https\"");
	config_set_str(&p->cfg->etcd_protocol, json_string_value(v));
	return 0;
}

static int
fn_verify_client(Parser *p, json_t *v, const char *path)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (strcmp(s, "none") == 0)
		p->cfg->restapi_verify_client = CONFIG_VERIFY_NONE;
	else if (strcmp(s, "optional") == 0)
		p->cfg->restapi_verify_client = CONFIG_VERIFY_OPTIONAL;
	else if (strcmp(s, "required") == 0)
		p->cfg->restapi_verify_client = CONFIG_VERIFY_REQUIRED;
	else
		return perr(p, path, "expected none, optional or required");
	return 0;
}

static int
fn_watchdog_mode(Parser *p, json_t *v, const char *path)
{
	/* PyYAML reads a plain `off` as false, as we do */
	const char *s = json_is_string(v) ? json_string_value(v) :
		json_is_false(v) ? "off" : "";

	if (strcmp(s, "off") == 0)
		p->cfg->watchdog_mode = CONFIG_WATCHDOG_OFF;
	else if (strcmp(s, "automatic") == 0)
		p->cfg->watchdog_mode = CONFIG_WATCHDOG_AUTOMATIC;
	else if (strcmp(s, "required") == 0)
		/* Patroni's "required" refuses leadership without a kernel
		 * watchdog; we do not drive /dev/watchdog, and accepting the word
		 * would promise a guarantee we do not give */
		return perr(p, path, "\"required\" is not supported: pgwarden does not drive /dev/watchdog; "
					"its fence watchdog process stops PostgreSQL when the daemon freezes "
					"(README, \"How it keeps one writer\"); use off or automatic");
	else
		return perr(p, path, "expected off, automatic or required");
	return 0;
}

static int
fn_watchdog_margin(Parser *p, json_t *v, const char *path)
{
	double		s;

	if (!json_is_number(v))
		return perr(p, path, "expected a number of seconds, got %s", kind_name(v));
	s = json_number_value(v);
	if (!(s >= 0 && s <= 3600))
		return perr(p, path, "%g s is out of range (0..3600 s)", s);
	p->cfg->watchdog_safety_margin_ms = (int64_t) (s * 1000.0 + 0.5);
	return 0;
}

static int
fn_parameters(Parser *p, json_t *v, const char *path)
{
	const char *name;
	json_t	   *val;
	NodeConfig *c = p->cfg;

	if (!json_is_object(v))
		return perr(p, path, "expected a mapping, got %s", kind_name(v));
	json_object_foreach(v, name, val)
	{
		char		sub[CONFIG_PATH_MAX];
		PgParam    *pp;
		int			n;

		join_path(sub, sizeof(sub), path, name);
		if (c->n_pg_parameters >= PGW_PG_PARAMS_MAX)
			return perr(p, sub, "more than %d parameters", PGW_PG_PARAMS_MAX);
		pp = &c->pg_parameters[c->n_pg_parameters];
		if (strlen(name) >= sizeof(pp->name))
			return perr(p, sub, "parameter name longer than %zu bytes",
						sizeof(pp->name) - 1);
		if (json_is_string(val))
			n = snprintf(pp->value, sizeof(pp->value), "%s", json_string_value(val));
		else if (json_is_integer(val))
			n = snprintf(pp->value, sizeof(pp->value), "%" JSON_INTEGER_FORMAT,
						 json_integer_value(val));
		else if (json_is_real(val))
			n = snprintf(pp->value, sizeof(pp->value), "%.15g", json_real_value(val));
		else if (json_is_boolean(val))
			n = snprintf(pp->value, sizeof(pp->value), "%s",
						 json_is_true(val) ? "on" : "off");
		else
			return perr(p, sub, "expected a string, number or boolean, got %s",
						kind_name(val));
		if (n < 0 || (size_t) n >= sizeof(pp->value))
			return perr(p, sub, "value longer than %zu bytes", sizeof(pp->value) - 1);
		pgw_strlcpy(pp->name, name, sizeof(pp->name));
		c->n_pg_parameters++;
	}
	return 0;
}

static int
fn_bootstrap_dcs(Parser *p, json_t *v, const char *path)
{
	char		bad[CONFIG_PATH_MAX];
	char		prefix[CONFIG_PATH_MAX];
	PgwError	e2 = {0};

	if (!json_is_object(v))
		return perr(p, path, "expected a mapping, got %s", kind_name(v));
	snprintf(prefix, sizeof(prefix), "%s.", path);
	if (dcs_config_decode_json(v, true, prefix, &p->cfg->bootstrap_dcs, bad,
							   sizeof(bad), &e2) != 0)
	{
		char		full[CONFIG_PATH_MAX * 2];
		int			line;

		snprintf(full, sizeof(full), "%s%s", prefix, bad);
		line = line_of(p, full);
		if (line == 0)
			line = line_of(p, path);
		return pgw_error_set(p->err, PGW_EINVAL, "config file %s line %d: %s",
							 p->source, line, e2.msg);
	}
	p->cfg->has_bootstrap_dcs = true;
	return 0;
}

static int
fn_initdb(Parser *p, json_t *v, const char *path)
{
	NodeConfig *c = p->cfg;
	size_t		i;
	json_t	   *item;

	if (!json_is_array(v))
		return perr(p, path, "expected a list, got %s", kind_name(v));
	for (int k = 0; k < c->n_initdb; k++)
		free(c->initdb[k]);
	free(c->initdb);
	c->initdb = NULL;
	c->n_initdb = 0;
	if (json_array_size(v) == 0)
		return 0;
	c->initdb = pgw_xcalloc(json_array_size(v), sizeof(char *));
	json_array_foreach(v, i, item)
	{
		char		sub[CONFIG_PATH_MAX];
		char		buf[64];
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (json_is_string(item))
			c->initdb[c->n_initdb++] = pgw_xstrdup(json_string_value(item));
		else if (json_is_object(item) && json_object_size(item) == 1)
		{
			const char *k = json_object_iter_key(json_object_iter(item));
			json_t	   *val = json_object_iter_value(json_object_iter(item));
			char	   *opt;
			size_t		len;

			if ((s = str_value(p, val, sub, buf, sizeof(buf))) == NULL)
				return PGW_EINVAL;
			len = strlen(k) + strlen(s) + 2;
			opt = pgw_xmalloc(len);
			snprintf(opt, len, "%s=%s", k, s);
			c->initdb[c->n_initdb++] = opt;
		}
		else
			return perr(p, sub, "expected an option or a one-key mapping, got %s",
						kind_name(item));
	}
	return 0;
}

/* backup: parsed by config_backup.c, which names the bad key's path */
static int
fn_backup(Parser *p, json_t *v, const char *path)
{
	char		bad[CONFIG_PATH_MAX] = "";
	PgwError	e2 = {0};

	if (config_backup_parse(v, path, &p->cfg->backup, bad, sizeof(bad), &e2) != 0)
		return perr(p, bad[0] ? bad : path, "%s", e2.msg);
	return 0;
}

static int
fn_tags(Parser *p, json_t *v, const char *path)
{
	NodeConfig *c = p->cfg;
	const char *key;
	json_t	   *val;

	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return perr(p, path, "expected a mapping, got %s", kind_name(v));
	json_object_foreach(v, key, val)
	{
		char		sub[CONFIG_PATH_MAX];
		MemberTag  *t;
		int			n;

		join_path(sub, sizeof(sub), path, key);
		if (c->n_tags >= PGW_TAGS_MAX)
			return perr(p, sub, "more than %d tags", PGW_TAGS_MAX);
		t = &c->tags[c->n_tags];
		if (strlen(key) >= sizeof(t->key))
			return perr(p, sub, "tag name longer than %zu bytes", sizeof(t->key) - 1);
		if (strcmp(key, "nofailover") == 0 || strcmp(key, "noloadbalance") == 0 ||
			strcmp(key, "nosync") == 0 || strcmp(key, "clonefrom") == 0 ||
			strcmp(key, "nostream") == 0)
		{
			if (!json_is_boolean(val))
				return perr(p, sub, "expected a boolean, got %s", kind_name(val));
			if (strcmp(key, "nofailover") == 0)
				c->tag_nofailover = json_is_true(val);
			else if (strcmp(key, "noloadbalance") == 0)
				c->tag_noloadbalance = json_is_true(val);
			else if (strcmp(key, "nosync") == 0)
				c->tag_nosync = json_is_true(val);
		}
		else if (strcmp(key, "failover_priority") == 0)
		{
			if (!json_is_integer(val) || json_integer_value(val) < 0 ||
				json_integer_value(val) > INT_MAX)
				return perr(p, sub, "expected a non-negative integer");
			c->tag_failover_priority = (int) json_integer_value(val);
		}
		else if (strcmp(key, "replicatefrom") == 0)
		{
			if (!json_is_string(val))
				return perr(p, sub, "expected a member name, got %s", kind_name(val));
			if (json_string_length(val) >= sizeof(c->tag_replicatefrom))
				return perr(p, sub, "longer than %zu bytes",
							sizeof(c->tag_replicatefrom) - 1);
			pgw_strlcpy(c->tag_replicatefrom, json_string_value(val),
						sizeof(c->tag_replicatefrom));
		}
		if (json_is_string(val))
			n = snprintf(t->value, sizeof(t->value), "%s", json_string_value(val));
		else if (json_is_integer(val))
			n = snprintf(t->value, sizeof(t->value), "%" JSON_INTEGER_FORMAT,
						 json_integer_value(val));
		else if (json_is_real(val))
			n = snprintf(t->value, sizeof(t->value), "%.15g", json_real_value(val));
		else if (json_is_boolean(val))
			n = snprintf(t->value, sizeof(t->value), "%s",
						 json_is_true(val) ? "true" : "false");
		else
			return perr(p, sub, "expected a string, number or boolean, got %s",
						kind_name(val));
		if (n < 0 || (size_t) n >= sizeof(t->value))
			return perr(p, sub, "value longer than %zu bytes", sizeof(t->value) - 1);
		pgw_strlcpy(t->key, key, sizeof(t->key));
		c->n_tags++;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * the schema
 * ------------------------------------------------------------------------ */

static const Field log_fields[] = {
	FFN("level", fn_log_level),
	FEND
};

static const Field etcd_fields[] = {
	FFN("hosts", fn_etcd_hosts),
	FFN("host", fn_etcd_hosts),
	FFN("protocol", fn_etcd_protocol),
	FSTR("cacert", etcd_cacert),
	FSTR("cert", etcd_cert),
	FSTR("key", etcd_key),
	FSTR("username", etcd_username),
	FSTR("password", etcd_password),
	FEND
};

static const Field restapi_auth_fields[] = {
	FSTR("username", restapi_username),
	FSTR("password", restapi_password),
	FEND
};

static const Field restapi_fields[] = {
	FHP("listen", restapi_listen, restapi_port),
	FSTR("connect_address", restapi_connect_address),
	FSTR("certfile", restapi_certfile),
	FSTR("keyfile", restapi_keyfile),
	FSTR("cafile", restapi_cafile),
	FFN("verify_client", fn_verify_client),
	FSEC("authentication", restapi_auth_fields),
	FLIST("allowlist", restapi_allowlist, n_restapi_allowlist),
	FBOOL("allowlist_include_members", restapi_allowlist_include_members),
	FEND
};

static const Field pg_superuser_fields[] = {
	FSTR("username", pg_superuser_username),
	FSTR("password", pg_superuser_password),
	FEND
};

static const Field pg_replication_fields[] = {
	FSTR("username", pg_replication_username),
	FSTR("password", pg_replication_password),
	FEND
};

static const Field pg_rewind_fields[] = {
	FSTR("username", pg_rewind_username),
	FSTR("password", pg_rewind_password),
	FEND
};

static const Field pg_auth_fields[] = {
	FSEC("superuser", pg_superuser_fields),
	FSEC("replication", pg_replication_fields),
	FSEC("rewind", pg_rewind_fields),
	FEND
};

static const Field pg_callback_fields[] = {
	FSTR("on_start", cb_on_start),
	FSTR("on_stop", cb_on_stop),
	FSTR("on_restart", cb_on_restart),
	FSTR("on_reload", cb_on_reload),
	FSTR("on_role_change", cb_on_role_change),
	FEND
};

static const Field pg_fields[] = {
	FPGL("listen", pg_listen, pg_port),
	FSTR("connect_address", pg_connect_address),
	FSTR("data_dir", pg_data_dir),
	FSTR("bin_dir", pg_bin_dir),
	FSTR("run_as", pg_run_as),
	FSTR("socket_dir", pg_socket_dir),
	FSTR("pgpass", pg_pgpass),
	FSEC("authentication", pg_auth_fields),
	FFN("parameters", fn_parameters),
	FLIST("pg_hba", pg_hba, n_pg_hba),
	FSEC("callbacks", pg_callback_fields),
	FSTR("pre_promote", pg_pre_promote),
	FEND
};

static const Field bootstrap_fields[] = {
	FFN("dcs", fn_bootstrap_dcs),
	FFN("initdb", fn_initdb),
	FEND
};

static const Field watchdog_fields[] = {
	FFN("mode", fn_watchdog_mode),
	FSTR("device", watchdog_device),
	FFN("safety_margin", fn_watchdog_margin),
	FEND
};

static const Field top_fields[] = {
	FSTR("scope", scope),
	FSTR("namespace", namespace_),
	FSTR("name", name),
	FFN("log_level", fn_log_level),
	FSEC("log", log_fields),
	FSEC("etcd3", etcd_fields),
	FSEC("restapi", restapi_fields),
	FSEC("postgresql", pg_fields),
	FSEC("bootstrap", bootstrap_fields),
	FFN("tags", fn_tags),
	FSEC("watchdog", watchdog_fields),
	FBOOL("switchover_on_shutdown", switchover_on_shutdown),
	FFN("backup", fn_backup),
	FEND
};

/* ------------------------------------------------------------------------
 * entry points
 * ------------------------------------------------------------------------ */

static void
set_defaults(NodeConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = LOG_LEVEL_INFO;
	c->tag_failover_priority = 1;
	c->watchdog_safety_margin_ms = 5000;
	c->switchover_on_shutdown = true;
	dcs_config_defaults(&c->bootstrap_dcs);
}

/* finish: defaults that depend on several keys (protocol after hosts) */
static int
finish(Parser *p)
{
	NodeConfig *c = p->cfg;

	if (c->namespace_ == NULL)
		config_set_str(&c->namespace_, "/service");
	if (c->etcd_protocol == NULL)
		config_set_str(&c->etcd_protocol, "http");
	if (c->etcd_hosts != NULL)
	{
		PgwError	e2 = {0};
		char	   *norm = config_etcd_hosts_normalise(c->etcd_hosts, c->etcd_protocol, &e2);

		if (norm == NULL)
			return perr(p, "etcd3.hosts", "%s", e2.msg);
		free(c->etcd_hosts);
		c->etcd_hosts = norm;
	}
	return 0;
}

int
config_parse(const char *yaml, size_t len, const char *source_name,
			 NodeConfig *out, PgwError *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_document_t doc2;
	bool		have_doc = false;
	Parser		p;
	yaml_node_t *root;
	json_t	   *tree = NULL;
	int			rc = PGW_EINVAL;
	const char *src = source_name ? source_name : "<string>";
	PgwError	local = {0};

	if (err == NULL)
		err = &local;
	pgw_error_clear(err);
	config_free(out);
	set_defaults(out);
	out->source = pgw_xstrdup(src);
	memset(&p, 0, sizeof(p));
	p.source = out->source;
	p.cfg = out;
	p.err = err;

	if (yaml == NULL || len > CONFIG_FILE_MAX)
	{
		pgw_error_set(err, PGW_EINVAL, "config file %s: empty or larger than %d bytes",
					  src, CONFIG_FILE_MAX);
		goto fail;
	}
	if (!yaml_parser_initialize(&parser))
	{
		pgw_error_set(err, PGW_EINTERNAL, "config file %s: could not initialise libyaml", src);
		goto fail;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, len);
	if (!yaml_parser_load(&parser, &doc))
	{
		pgw_error_set(err, PGW_EINVAL, "config file %s line %d: invalid YAML: %s%s%s",
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
			pgw_error_set(err, PGW_EINVAL, "config file %s line %d: invalid YAML: %s",
						  src, (int) parser.problem_mark.line + 1,
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
		pgw_error_set(err, PGW_EINVAL, "config file %s: the file is empty", src);
		goto fail;
	}
	if (root->type != YAML_MAPPING_NODE)
	{
		pgw_error_set(err, PGW_EINVAL, "config file %s line %d: expected a mapping of keys at the top",
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
			pgw_error_set(err, PGW_EINVAL, "config file %s: could not convert", src);
		goto fail;
	}
	if (walk(&p, tree, "", top_fields) != 0 || finish(&p) != 0)
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
	int			fd;
	struct stat st;
	char	   *buf;
	size_t		got = 0;
	int			rc;

	config_free(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pgw_error_set(err, errno == ENOENT ? PGW_ENOTFOUND : PGW_EIO,
							 "could not open config file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX)
	{
		close(fd);
		return pgw_error_set(err, PGW_EIO,
							 "could not read config file %s: not a regular file of at most %d bytes",
							 path, CONFIG_FILE_MAX);
	}
	buf = pgw_xmalloc((size_t) st.st_size + 1);
	while (got < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, buf + got, (size_t) st.st_size - got);

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
		return pgw_error_set(err, PGW_EIO, "could not read config file %s", path);
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

	char	  **strs[] = {
		&c->source, &c->scope, &c->namespace_, &c->name,
		&c->etcd_hosts, &c->etcd_protocol, &c->etcd_cacert, &c->etcd_cert,
		&c->etcd_key, &c->etcd_username, &c->etcd_password,
		&c->restapi_listen, &c->restapi_connect_address, &c->restapi_certfile,
		&c->restapi_keyfile, &c->restapi_cafile, &c->restapi_username,
		&c->restapi_password,
		&c->pg_listen, &c->pg_connect_address, &c->pg_data_dir, &c->pg_bin_dir,
		&c->pg_run_as, &c->pg_socket_dir, &c->pg_pgpass,
		&c->pg_superuser_username, &c->pg_superuser_password,
		&c->pg_replication_username, &c->pg_replication_password,
		&c->pg_rewind_username, &c->pg_rewind_password,
		&c->cb_on_start, &c->cb_on_stop, &c->cb_on_restart, &c->cb_on_reload,
		&c->cb_on_role_change, &c->pg_pre_promote, &c->watchdog_device,
	};

	for (size_t i = 0; i < PGW_LENGTHOF(strs); i++)
		free(*strs[i]);
	free_list(&c->restapi_allowlist, &c->n_restapi_allowlist);
	free_list(&c->pg_hba, &c->n_pg_hba);
	free_list(&c->initdb, &c->n_initdb);
	memset(c, 0, sizeof(*c));
}
