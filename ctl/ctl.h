/*
 * ctl.h: the public header of ctl/ (pgwardenctl's library part): output
 * formatting that is unit-tested without a cluster. main.c holds argument
 * parsing and the commands.
 */
#ifndef PGW_CTL_H
#define PGW_CTL_H

#include "consensus/consensus.h"

#include <stdio.h>

typedef enum CtlFormat
{
	CTL_FORMAT_PRETTY = 0,
	CTL_FORMAT_JSON,
	CTL_FORMAT_YAML,
} CtlFormat;

/* ctl_format_parse: "pretty" / "json" / "yaml"; 0 or PGW_EINVAL. */
int			ctl_format_parse(const char *s, CtlFormat *out);

/*
 * ctl_list_print: print the members of a cluster view as `pgwardenctl list`
 * does: a header line (scope, system identifier, pause, leader lease) and one
 * row per member (name, host:port, role, state, timeline, lag in MB, pending
 * restart, tags), sorted by name. lease_ttl_s is the leader lease's remaining
 * TTL (< 0 unknown). Column widths count UTF-8 characters, not bytes.
 */
void		ctl_list_print(FILE *out, const ClusterView *v, const char *scope,
						   int64_t lease_ttl_s, CtlFormat fmt);

/* ctl_display_width: terminal columns of a UTF-8 string (1 per code point). */
size_t		ctl_display_width(const char *s);

#endif
