/*
 * test_routing_group.c: pgwarden-router's `group:` key (a sharded scope:
 * the router follows <namespace>/<scope>/<group>/routing): accepted as a
 * group number 0..9999, absent means the scope itself, anything else is
 * refused naming the key and its line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "routing/routing_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse_with_group(const char *group_line, RouterConfig *cfg, PgwError *e)
{
	char yaml[1024];

	snprintf(
	    yaml, sizeof(yaml),
	    "name: r1\nscope: demo\n%s"
	    "etcd:\n  hosts: 127.0.0.1:2379\n"
	    "targets:\n  - type: template\n    template: /tmp/t\n    output: /tmp/o\n",
	    group_line);
	memset(e, 0, sizeof(*e));
	return router_config_parse(yaml, strlen(yaml), cfg, e);
}

static void
test_group(void **state)
{
	RouterConfig *cfg = calloc(1, sizeof(*cfg));
	PgwError e;
	char prefix[PGW_PREFIX_MAX];

	(void) state;
	assert_int_equal(parse_with_group("", cfg, &e), 0);
	assert_int_equal(cfg->group, -1);
	assert_int_equal(parse_with_group("group: 3\n", cfg, &e), 0);
	assert_int_equal(cfg->group, 3);
	assert_int_equal(dcs_group_prefix_build(cfg->namespace_, cfg->scope,
	                                        cfg->group, prefix, sizeof(prefix),
	                                        &e),
	                 0);
	assert_string_equal(prefix, "/service/demo/3/");
	assert_int_equal(parse_with_group("group: 0\n", cfg, &e), 0);
	assert_int_equal(cfg->group, 0);
	assert_int_equal(parse_with_group("group: 10000\n", cfg, &e), PGW_EINVAL);
	assert_non_null(
	    strstr(e.msg, "line 3: key \"group\" must be a group number"));
	assert_int_equal(parse_with_group("group: two\n", cfg, &e), PGW_EINVAL);
	assert_int_equal(parse_with_group("group: -1\n", cfg, &e), PGW_EINVAL);
	assert_int_equal(parse_with_group("group: [1]\n", cfg, &e), PGW_EINVAL);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
