/*
 * bk_wal.c: WAL file names, timeline history files and the archive gap
 * check's arithmetic (pure, unit-tested), plus the parsers of what
 * pgbackrest prints for them (repo-ls JSON, verify's report).
 *
 * Why the gap check needs segments [start, switch - 1] of each ancestor
 * timeline and not the switch segment: at promotion, PostgreSQL copies
 * the old timeline's switch segment up to the switch point into the new
 * timeline's first segment, and recovery reads that one; the old
 * timeline's copy is archived as .partial, for completeness only.
 */
#include "backup/backup_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
hex_field(const char *s, int n, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++)
	{
		int c = (unsigned char) s[i];

		if (c >= '0' && c <= '9')
			v = v * 16 + (uint32_t) (c - '0');
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (uint32_t) (c - 'A' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

bool
bk_wal_parse(const char *name, uint64_t seg_size, BkSeg *out)
{
	uint32_t tli, hi, lo;
	uint64_t per_id;

	if (seg_size == 0 || strlen(name) < 24)
		return false;
	if (!hex_field(name, 8, &tli) || !hex_field(name + 8, 8, &hi) ||
	    !hex_field(name + 16, 8, &lo) || tli == 0)
		return false;
	per_id = UINT64_C(0x100000000) / seg_size;
	if (per_id == 0 || lo >= per_id)
		return false;
	out->tli = tli;
	out->segno = (uint64_t) hi * per_id + lo;
	return true;
}

void
bk_wal_name(BkSeg seg, uint64_t seg_size, char *buf, size_t len)
{
	uint64_t per_id = UINT64_C(0x100000000) / (seg_size ? seg_size : 1);

	snprintf(buf, len, "%08X%08X%08X", seg.tli, (uint32_t) (seg.segno / per_id),
	         (uint32_t) (seg.segno % per_id));
}

int
bk_history_parse(const char *text, BkHistory *out, PgwError *err)
{
	const char *p = text;
	int lineno = 0;

	memset(out, 0, sizeof(*out));
	while (p != NULL && *p != '\0')
	{
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t) (nl - p) : strlen(p);
		char line[512];
		char *q;
		char *end;
		unsigned long tli;
		unsigned int hi, lo;

		lineno++;
		snprintf(line, sizeof(line), "%.*s",
		         (int) (n < sizeof(line) ? n : sizeof(line) - 1), p);
		p = nl ? nl + 1 : NULL;
		q = line;
		while (isspace((unsigned char) *q))
			q++;
		if (*q == '\0' || *q == '#')
			continue;
		tli = strtoul(q, &end, 10);
		if (end == q || tli == 0 || tli > UINT32_MAX ||
		    !isspace((unsigned char) *end))
			return pgw_error_set(err, PGW_EINVAL,
			                     "history file line %d: expected a timeline id",
			                     lineno);
		q = end;
		while (isspace((unsigned char) *q))
			q++;
		if (sscanf(q, "%X/%X", &hi, &lo) != 2)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "history file line %d: expected a switch point X/Y", lineno);
		if (out->n >= (int) PGW_LENGTHOF(out->tli))
			return pgw_error_set(err, PGW_EINVAL,
			                     "history file: more than %d timelines",
			                     (int) PGW_LENGTHOF(out->tli));
		if (out->n > 0 && tli <= out->tli[out->n - 1])
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "history file line %d: timeline %lu does not follow %u", lineno,
			    tli, out->tli[out->n - 1]);
		out->tli[out->n] = (uint32_t) tli;
		out->switch_lsn[out->n] = ((uint64_t) hi << 32) | lo;
		out->n++;
	}
	return 0;
}

static int
seg_cmp(const void *a, const void *b)
{
	const BkSeg *x = a;
	const BkSeg *y = b;

	if (x->tli != y->tli)
		return x->tli < y->tli ? -1 : 1;
	if (x->segno != y->segno)
		return x->segno < y->segno ? -1 : 1;
	return 0;
}

void
bk_segset_add(BkSegSet *set, BkSeg seg)
{
	if (set->n == set->cap)
	{
		set->cap = set->cap ? set->cap * 2 : 64;
		set->s = pgw_xrealloc(set->s, sizeof(BkSeg) * (size_t) set->cap);
	}
	set->s[set->n++] = seg;
}

void
bk_segset_sort(BkSegSet *set)
{
	if (set->n > 1)
		qsort(set->s, (size_t) set->n, sizeof(BkSeg), seg_cmp);
}

bool
bk_segset_has(const BkSegSet *set, BkSeg seg)
{
	/* callers sort the set once before asking */
	return set->n > 0 && bsearch(&seg, set->s, (size_t) set->n, sizeof(BkSeg),
	                             seg_cmp) != NULL;
}

void
bk_segset_free(BkSegSet *set)
{
	free(set->s);
	memset(set, 0, sizeof(*set));
}

void
bk_gap_missing(const BkHistory *h, uint64_t seg_size, uint64_t floor_segno,
               const BkSegSet *present, BkSegSet *missing)
{
	for (int i = 0; i < h->n; i++)
	{
		uint64_t end = h->switch_lsn[i] / seg_size; /* switch segment */
		uint64_t start;

		if (i > 0)
			start = h->switch_lsn[i - 1] / seg_size;
		else
		{
			/* the oldest timeline: from its first archived segment */
			start = UINT64_MAX;
			for (int k = 0; k < present->n; k++)
				if (present->s[k].tli == h->tli[i] &&
				    present->s[k].segno < start)
					start = present->s[k].segno;
			if (start == UINT64_MAX)
				start = floor_segno;
		}
		if (start < floor_segno)
			start = floor_segno;
		/* a guard against a corrupt file asking for terabytes */
		if (end > start && end - start > 1000000)
			start = end - 1000000;
		for (uint64_t s = start; s < end; s++)
		{
			BkSeg seg = {h->tli[i], s};

			if (!bk_segset_has(present, seg))
				bk_segset_add(missing, seg);
		}
	}
}

int
bk_repo_ls_parse(const char *json, size_t len, uint64_t seg_size,
                 BkSegSet *present, BkSegSet *partial_out, uint32_t *histories,
                 int max_histories, int *n_histories, PgwError *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t *v;

	if (n_histories != NULL)
		*n_histories = 0;
	if (root == NULL || !json_is_object(root))
	{
		json_decref(root);
		return pgw_error_set(err, PGW_EINVAL,
		                     "repo-ls output is not a JSON object: %s",
		                     root == NULL ? jerr.text : "wrong type");
	}
	json_object_foreach(root, key, v)
	{
		const char *base = strrchr(key, '/');
		const json_t *type = json_object_get(v, "type");
		BkSeg seg;

		base = base ? base + 1 : key;
		if (!json_is_string(type) ||
		    strcmp(json_string_value(type), "file") != 0)
			continue;
		if (strlen(base) >= 16 && strcmp(base + 8, ".history") == 0)
		{
			uint32_t tli;

			if (hex_field(base, 8, &tli) && histories != NULL &&
			    n_histories != NULL && *n_histories < max_histories)
				histories[(*n_histories)++] = tli;
			continue;
		}
		if (!bk_wal_parse(base, seg_size, &seg))
			continue;
		if (base[24] == '-')
			bk_segset_add(present, seg);
		else if (strncmp(base + 24, ".partial", 8) == 0 && partial_out != NULL)
			bk_segset_add(partial_out, seg);
	}
	json_decref(root);
	bk_segset_sort(present);
	if (partial_out != NULL)
		bk_segset_sort(partial_out);
	return 0;
}

int
bk_verify_parse(const char *text, int *n_ranges, int *gaps, bool *status_error,
                char *first_error, size_t first_error_len)
{
	char seen[64][48]; /* "archiveId/tli" of each range */
	int n_seen = 0;
	const char *p = text ? text : "";

	*n_ranges = 0;
	*gaps = 0;
	*status_error = false;
	if (first_error_len > 0)
		first_error[0] = '\0';
	while (*p)
	{
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t) (nl - p) : strlen(p);
		char line[1024];
		const char *a;
		char id[32];
		char start[32];

		snprintf(line, sizeof(line), "%.*s",
		         (int) (n < sizeof(line) ? n : sizeof(line) - 1), p);
		p = nl ? nl + 1 : p + n;
		if (strstr(line, "status: error") != NULL)
			*status_error = true;
		if (first_error_len > 0 && first_error[0] == '\0' &&
		    (strstr(line, "invalid") != NULL ||
		     strstr(line, "missing") != NULL || strstr(line, "ERROR") != NULL))
		{
			const char *s = line;

			while (*s == ' ')
				s++;
			pgw_strlcpy(first_error, s, first_error_len);
		}
		if ((a = strstr(line, "archiveId: ")) == NULL ||
		    sscanf(a, "archiveId: %31[^,], wal start: %31[0-9A-F]", id,
		           start) != 2)
			continue;
		(*n_ranges)++;
		{
			char k[48];
			bool dup = false;

			snprintf(k, sizeof(k), "%s/%.8s", id, start);
			for (int i = 0; i < n_seen; i++)
				if (strcmp(seen[i], k) == 0)
					dup = true;
			if (dup)
				(*gaps)++;
			else if (n_seen < 64)
				pgw_strlcpy(seen[n_seen++], k, sizeof(seen[0]));
		}
	}
	return 0;
}
