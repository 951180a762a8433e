/*
 * editconf.c: the pure half of `edit-config` and `show-config` (ctl.h):
 * YAML <-> JSON, dotted --set assignments, merge patches, validation and a
 * line diff. The config key is edited as raw JSON so that keys pgwarden
 * does not model (Patroni's) are kept byte for byte in meaning.
 */
#include "ctl/ctl.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ------------------------------------------------------------------------
 * YAML -> JSON
 * ------------------------------------------------------------------------ */

/* resolve a plain (unquoted) scalar as YAML 1.1's core schema does */
static json_t *
resolve_plain(const char *s)
{
	char *end;

	if (s[0] == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0)
		return json_null();
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "on") == 0)
		return json_true();
	if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "off") == 0)
		return json_false();
	if (isdigit((unsigned char) s[0]) ||
	    ((s[0] == '-' || s[0] == '+') && isdigit((unsigned char) s[1])))
	{
		long long ll;
		double d;

		errno = 0;
		ll = strtoll(s, &end, 10);
		if (*end == '\0' && errno == 0)
			return json_integer((json_int_t) ll);
		errno = 0;
		d = strtod(s, &end);
		if (*end == '\0' && errno == 0 && isfinite(d))
			return json_real(d);
	}
	return json_string(s);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth,
                            PgwError *err);

static json_t *
node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, PgwError *err)
{
	json_t *out;

	if (depth > 64)
	{
		pgw_error_set(err, PGW_EINVAL, "line %lu: nested too deeply",
		              (unsigned long) n->start_mark.line + 1);
		return NULL;
	}
	switch (n->type)
	{
		case YAML_SCALAR_NODE:
		{
			const char *s = (const char *) n->data.scalar.value;

			if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
				return resolve_plain(s);
			return json_stringn(s, n->data.scalar.length);
		}
		case YAML_SEQUENCE_NODE:
			out = json_array();
			for (yaml_node_item_t *it = n->data.sequence.items.start;
			     it < n->data.sequence.items.top; it++)
			{
				json_t *e = node_to_json(doc, yaml_document_get_node(doc, *it),
				                         depth + 1, err);

				if (e == NULL)
				{
					json_decref(out);
					return NULL;
				}
				json_array_append_new(out, e);
			}
			return out;
		case YAML_MAPPING_NODE:
			out = json_object();
			for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
			     p < n->data.mapping.pairs.top; p++)
			{
				yaml_node_t *k = yaml_document_get_node(doc, p->key);
				json_t *e;

				if (k == NULL || k->type != YAML_SCALAR_NODE)
				{
					pgw_error_set(err, PGW_EINVAL,
					              "line %lu: a key must be a scalar",
					              (unsigned long) n->start_mark.line + 1);
					json_decref(out);
					return NULL;
				}
				e = node_to_json(doc, yaml_document_get_node(doc, p->value),
				                 depth + 1, err);
				if (e == NULL)
				{
					json_decref(out);
					return NULL;
				}
				json_object_set_new(out, (const char *) k->data.scalar.value,
				                    e);
			}
			return out;
		default:
			pgw_error_set(err, PGW_EINVAL, "line %lu: empty node",
			              (unsigned long) n->start_mark.line + 1);
			return NULL;
	}
}

/* the tags libyaml gives untagged nodes; anything else is refused */
static bool
core_tag(const char *tag)
{
	static const char *const ok[] = {
	    YAML_STR_TAG,  YAML_INT_TAG, YAML_FLOAT_TAG, YAML_BOOL_TAG,
	    YAML_NULL_TAG, YAML_MAP_TAG, YAML_SEQ_TAG};

	for (size_t i = 0; i < PGW_LENGTHOF(ok); i++)
		if (strcmp(tag, ok[i]) == 0)
			return true;
	return false;
}

int
ctl_yaml_to_json(const char *text, size_t len, json_t **out, PgwError *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc = 0;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return pgw_error_set(err, PGW_EINVAL,
		                     "could not initialise the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
	if (!yaml_parser_load(&parser, &doc))
	{
		rc = pgw_error_set(err, PGW_EINVAL, "line %lu: %s",
		                   (unsigned long) parser.problem_mark.line + 1,
		                   parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		rc = pgw_error_set(err, PGW_EINVAL, "the document is empty");
	else
	{
		for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++)
			if (n->tag && !core_tag((const char *) n->tag))
			{
				rc = pgw_error_set(err, PGW_EINVAL,
				                   "line %lu: YAML tags are not supported",
				                   (unsigned long) n->start_mark.line + 1);
				break;
			}
		if (rc == 0)
		{
			*out = node_to_json(&doc, root, 0, err);
			if (*out == NULL)
				rc = PGW_EINVAL;
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

/* ------------------------------------------------------------------------
 * JSON -> YAML (block style, sorted keys)
 * ------------------------------------------------------------------------ */

typedef struct Buf
{
	char *s;
	size_t len;
	size_t cap;
} Buf;

static void
buf_add(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->s = pgw_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_indent(Buf *b, int n)
{
	for (int i = 0; i < n; i++)
		buf_add(b, "  ", 2);
}

/* a string that reads back as the same string when left plain */
static bool
plain_safe(const char *s)
{
	json_t *r;
	bool ok;

	if (s[0] == '\0' || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) != NULL)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char) *p < 0x20 ||
		    (p[0] == ':' && (p[1] == ' ' || p[1] == '\0')) ||
		    (p[0] == ' ' && p[1] == '#'))
			return false;
	if (s[strlen(s) - 1] == ' ')
		return false;
	r = resolve_plain(s);
	ok = json_is_string(r);
	json_decref(r);
	return ok;
}

static void
emit_scalar(Buf *b, const json_t *v)
{
	char *s;

	if (json_is_string(v) && plain_safe(json_string_value(v)))
	{
		buf_puts(b, json_string_value(v));
		return;
	}
	/* JSON scalars are valid YAML flow scalars */
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	buf_puts(b, s ? s : "null");
	free(s);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
emit(Buf *b, const json_t *v, int depth)
{
	if (json_is_object(v) && json_object_size(v) > 0)
	{
		size_t n = json_object_size(v);
		const char **keys = pgw_xcalloc(n, sizeof(char *));
		const char *k;
		json_t *val;
		size_t i = 0;

		json_object_foreach((json_t *) v, k, val) keys[i++] = k;
		qsort(keys, n, sizeof(char *), cmp_str);
		for (i = 0; i < n; i++)
		{
			json_t *kv = json_string(keys[i]);

			val = json_object_get(v, keys[i]);
			buf_indent(b, depth);
			emit_scalar(b, kv);
			json_decref(kv);
			buf_puts(b, ":");
			if ((json_is_object(val) && json_object_size(val) > 0) ||
			    (json_is_array(val) && json_array_size(val) > 0))
			{
				buf_puts(b, "\n");
				emit(b, val, depth + 1);
			}
			else
			{
				buf_puts(b, " ");
				emit(b, val, depth + 1);
			}
		}
		free(keys);
	}
	else if (json_is_array(v) && json_array_size(v) > 0)
	{
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			buf_indent(b, depth);
			buf_puts(b, "-");
			if (json_is_object(e) && json_object_size(e) > 0)
			{
				/* "- key: v" with the other keys aligned under it */
				Buf sub = {0};

				buf_add(&sub, "", 0);
				emit(&sub, e, depth + 1);
				buf_puts(b, " ");
				buf_puts(b, sub.s + 2 * (depth + 1));
				free(sub.s);
			}
			else if (json_is_array(e) && json_array_size(e) > 0)
			{
				buf_puts(b, "\n");
				emit(b, e, depth + 1);
			}
			else
			{
				buf_puts(b, " ");
				emit(b, e, depth + 1);
			}
		}
	}
	else
	{
		if (json_is_object(v))
			buf_puts(b, "{}");
		else if (json_is_array(v))
			buf_puts(b, "[]");
		else
			emit_scalar(b, v);
		buf_puts(b, "\n");
	}
}

char *
ctl_json_to_yaml(const json_t *v)
{
	Buf b = {0};

	buf_add(&b, "", 0);
	emit(&b, v, 0);
	return b.s;
}

/* ------------------------------------------------------------------------
 * --set, merge patch, validation
 * ------------------------------------------------------------------------ */

int
ctl_config_set(json_t *root, const char *assignment, PgwError *err)
{
	const char *eq = strchr(assignment, '=');
	char *path;
	char *seg;
	char *dot;
	json_t *obj = root;
	json_t *val;
	int rc = 0;

	if (!json_is_object(root))
		return pgw_error_set(err, PGW_EINVAL,
		                     "the config is not a JSON object");
	if (eq == NULL || eq == assignment)
		return pgw_error_set(err, PGW_EINVAL,
		                     "invalid assignment \"%s\": expected KEY=VALUE",
		                     assignment);
	path = pgw_xstrndup(assignment, (size_t) (eq - assignment));
	if (path[0] == '.' || path[strlen(path) - 1] == '.' ||
	    strstr(path, "..") != NULL)
	{
		rc = pgw_error_set(err, PGW_EINVAL,
		                   "invalid key \"%s\": empty path element", path);
		goto out;
	}
	if (eq[1] == '\0')
		val = json_string("");
	else if (ctl_yaml_to_json(eq + 1, strlen(eq + 1), &val, err) != 0)
	{
		pgw_error_prefix(err, "invalid value for \"%s\"", path);
		rc = PGW_EINVAL;
		goto out;
	}
	seg = path;
	while ((dot = strchr(seg, '.')) != NULL)
	{
		json_t *next;

		*dot = '\0';
		next = json_object_get(obj, seg);
		if (next == NULL)
		{
			if (json_is_null(val))
			{
				json_decref(val); /* deleting below a missing key: no-op */
				goto out;
			}
			next = json_object();
			json_object_set_new(obj, seg, next);
		}
		else if (!json_is_object(next))
		{
			rc = pgw_error_set(err, PGW_EINVAL,
			                   "cannot set \"%.*s\": \"%s\" is not a mapping",
			                   (int) (eq - assignment), assignment, seg);
			json_decref(val);
			goto out;
		}
		obj = next;
		seg = dot + 1;
	}
	if (json_is_null(val))
	{
		json_object_del(obj, seg);
		json_decref(val);
	}
	else
		json_object_set_new(obj, seg, val);
out:
	free(path);
	return rc;
}

static void
merge(json_t *dst, const json_t *patch)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *) patch, k, v)
	{
		json_t *cur = json_object_get(dst, k);

		if (json_is_null(v))
			json_object_del(dst, k);
		else if (json_is_object(v) && json_is_object(cur))
			merge(cur, v);
		else if (json_is_object(v))
		{
			json_t *o = json_object();

			merge(o, v);
			json_object_set_new(dst, k, o);
		}
		else
			json_object_set_new(dst, k, json_deep_copy(v));
	}
}

int
ctl_config_merge_patch(json_t *root, const json_t *patch, PgwError *err)
{
	if (!json_is_object(root))
		return pgw_error_set(err, PGW_EINVAL,
		                     "the config is not a JSON object");
	if (!json_is_object(patch))
		return pgw_error_set(err, PGW_EINVAL, "the patch is not a mapping");
	merge(root, patch);
	return 0;
}

int
ctl_config_check(const json_t *root, PgwError *err)
{
	DynamicConfig *cfg;
	char bad[128] = "";
	int rc;

	if (!json_is_object(root))
		return pgw_error_set(err, PGW_EINVAL, "the config must be a mapping");
	cfg = pgw_xcalloc(1, sizeof(*cfg));
	rc = dcs_config_decode_json(root, false, "", cfg, bad, sizeof(bad), err);
	free(cfg);
	return rc == 0 ? 0 : PGW_EINVAL;
}

/* ------------------------------------------------------------------------
 * line diff (longest common subsequence; configs are a few hundred lines)
 * ------------------------------------------------------------------------ */

static char **
split_lines(const char *s, int *n)
{
	int cap = 16;
	char **out = pgw_xmalloc(sizeof(char *) * (size_t) cap);

	*n = 0;
	while (*s)
	{
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t) (nl - s) : strlen(s);

		if (*n == cap)
		{
			cap *= 2;
			out = pgw_xrealloc(out, sizeof(char *) * (size_t) cap);
		}
		out[(*n)++] = pgw_xstrndup(s, len);
		s += len + (nl ? 1 : 0);
	}
	return out;
}

char *
ctl_diff(const char *old_text, const char *new_text)
{
	int na;
	int nb;
	char **a;
	char **b;
	int *lcs;
	Buf out = {0};
	int i = 0;
	int j = 0;
	bool changed = false;

	if (strcmp(old_text, new_text) == 0)
		return NULL;
	a = split_lines(old_text, &na);
	b = split_lines(new_text, &nb);
	lcs = pgw_xcalloc((size_t) (na + 1) * (size_t) (nb + 1), sizeof(int));
#define L(x, y) lcs[(size_t) (x) * (size_t) (nb + 1) + (size_t) (y)]
	for (int x = na - 1; x >= 0; x--)
		for (int y = nb - 1; y >= 0; y--)
			L(x, y) =
			    strcmp(a[x], b[y]) == 0
			        ? L(x + 1, y + 1) + 1
			        : (L(x + 1, y) >= L(x, y + 1) ? L(x + 1, y) : L(x, y + 1));
	buf_add(&out, "", 0);
	while (i < na || j < nb)
	{
		if (i < na && j < nb && strcmp(a[i], b[j]) == 0)
		{
			buf_puts(&out, " ");
			buf_puts(&out, a[i]);
			i++;
			j++;
		}
		else if (i < na && (j == nb || L(i + 1, j) >= L(i, j + 1)))
		{
			buf_puts(&out, "-");
			buf_puts(&out, a[i]);
			i++;
			changed = true;
		}
		else
		{
			buf_puts(&out, "+");
			buf_puts(&out, b[j]);
			j++;
			changed = true;
		}
		buf_puts(&out, "\n");
	}
#undef L
	for (int x = 0; x < na; x++)
		free(a[x]);
	for (int y = 0; y < nb; y++)
		free(b[y]);
	free(a);
	free(b);
	free(lcs);
	if (!changed)
	{
		free(out.s);
		return NULL;
	}
	return out.s;
}
