/*
 * test_backup_pure.c: backup/'s pure logic: cron schedules (common/cron.h)
 * and schedule entries, the backup: section of the YAML file, WAL names,
 * timeline histories and the archive gap arithmetic, the parsers of what
 * pgbackrest prints (info, repo-ls, verify), the catalog codec, and the
 * recovery-target checks that name the recovery window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backup/backup_int.h"
#include "common/cron.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
assert_has(const char *s, const char *needle)
{
	if (strstr(s, needle) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", s, needle);
}

static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t) timegm(&tm) * 1000;
}

/* ---- cron --------------------------------------------------------------- */

static void
test_cron_parse_and_match(void **state)
{
	PgwCron c;
	PgwError e = {0};

	(void) state;
	assert_int_equal(pgw_cron_parse("30 2 * * 0", &c, &e), 0);
	/* 2026-11-22 is a Sunday */
	assert_true(pgw_cron_matches(&c, utc(2026, 11, 22, 2, 30)));
	assert_false(pgw_cron_matches(&c, utc(2026, 11, 23, 2, 30)));
	assert_false(pgw_cron_matches(&c, utc(2026, 11, 22, 2, 31)));
	assert_int_equal(pgw_cron_parse("*/15 8-18/2 1,15 * 7", &c, &e), 0);
	assert_true(pgw_cron_matches(&c, utc(2026, 11, 15, 10, 45))); /* 15th */
	assert_true(pgw_cron_matches(&c, utc(2026, 11, 22, 8, 0)));   /* Sunday */
	assert_false(pgw_cron_matches(&c, utc(2026, 11, 23, 8, 0)));
	assert_false(pgw_cron_matches(&c, utc(2026, 11, 15, 9, 0))); /* odd hour */
	/* "5/20": 5, 25, 45 */
	assert_int_equal(pgw_cron_parse("5/20 * * * *", &c, &e), 0);
	assert_true(pgw_cron_matches(&c, utc(2026, 1, 1, 0, 45)));
	assert_false(pgw_cron_matches(&c, utc(2026, 1, 1, 0, 50)));
}

static void
test_cron_refusals(void **state)
{
	PgwCron c;
	PgwError e = {0};

	(void) state;
	assert_int_equal(pgw_cron_parse("* * * *", &c, &e), PGW_EINVAL);
	assert_has(e.msg, "expected 5 fields");
	assert_int_equal(pgw_cron_parse("61 * * * *", &c, &e), PGW_EINVAL);
	assert_has(e.msg, "minute \"61\": expected 0..59");
	assert_int_equal(pgw_cron_parse("* * * * 8", &c, &e), PGW_EINVAL);
	assert_has(e.msg, "day of week");
	assert_int_equal(pgw_cron_parse("* 5-3 * * *", &c, &e), PGW_EINVAL);
	assert_has(e.msg, "range start 5 is after its end 3");
	assert_int_equal(pgw_cron_parse("*/0 * * * *", &c, &e), PGW_EINVAL);
	assert_int_equal(pgw_cron_parse("a * * * *", &c, &e), PGW_EINVAL);
	assert_int_equal(pgw_cron_parse("1,,2 * * * *", &c, &e), PGW_EINVAL);
	assert_int_equal(pgw_cron_parse("* * * * * *", &c, &e), PGW_EINVAL);
	assert_int_equal(pgw_cron_parse("00001 * * * *", &c, &e), PGW_EINVAL);
}

static void
test_cron_next_and_due(void **state)
{
	PgwCron c;
	PgwError e = {0};
	int64_t t0 = utc(2026, 11, 23, 10, 0);

	(void) state;
	assert_int_equal(pgw_cron_parse("0 3 * * *", &c, &e), 0);
	assert_int_equal(pgw_cron_next(&c, t0), utc(2026, 11, 24, 3, 0));
	assert_int_equal(pgw_cron_next(&c, utc(2026, 11, 24, 3, 0)),
	                 utc(2026, 11, 25, 3, 0));
	/* February 30 never comes */
	assert_int_equal(pgw_cron_parse("0 0 30 2 *", &c, &e), 0);
	assert_int_equal(pgw_cron_next(&c, t0), -1);
	/* due: the latest match in (since, now], once */
	assert_int_equal(pgw_cron_parse("*/10 * * * *", &c, &e), 0);
	assert_int_equal(pgw_cron_last_due(&c, t0, t0 + 35 * 60000),
	                 t0 + 30 * 60000);
	assert_int_equal(pgw_cron_last_due(&c, t0, t0 + 5 * 60000), -1);
	assert_int_equal(pgw_cron_last_due(&c, t0 - 1, t0), t0);
	assert_int_equal(pgw_cron_last_due(&c, t0, t0), -1);
	/* a scheduler that slept for a month fires once */
	assert_true(pgw_cron_last_due(&c, t0 - INT64_C(30) * 86400000, t0) == t0);
}

static void
test_schedule_entries(void **state)
{
	char type[8];
	PgwCron c;
	PgwError e = {0};
	BkSchedule s;
	ConfigBackup cb;

	(void) state;
	assert_int_equal(config_backup_schedule_check("full 0 1 * * 0", type,
	                                              sizeof(type), &c, &e),
	                 0);
	assert_string_equal(type, "full");
	assert_int_equal(config_backup_schedule_check("verify 30 4 * * *", type,
	                                              sizeof(type), &c, &e),
	                 0);
	assert_int_equal(config_backup_schedule_check("weekly 0 1 * * 0", type,
	                                              sizeof(type), &c, &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "expected \"full|diff|incr|verify");
	assert_int_equal(config_backup_schedule_check("incr 0 25 * * *", type,
	                                              sizeof(type), &c, &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "schedule entry \"incr 0 25 * * *\"");
	assert_has(e.msg, "hour \"25\"");

	/* the dynamic key wins; a bad one is refused whole, the file stays */
	config_backup_defaults(&cb);
	cb.n_schedule = 1;
	snprintf(cb.schedule[0], sizeof(cb.schedule[0]), "full 0 1 * * 0");
	bk_schedule_from_config(NULL, &cb, &s);
	assert_int_equal(s.n, 1);
	assert_false(s.from_config_key);
	bk_schedule_from_config(
	    "{\"ttl\":30,\"backup\":{\"schedule\":[\"incr */5 * * * *\",\"diff 0 * * * *\"]}}",
	    &cb, &s);
	assert_int_equal(s.n, 2);
	assert_true(s.from_config_key);
	assert_string_equal(s.type[1], "diff");
	bk_schedule_from_config(
	    "{\"backup\":{\"schedule\":[\"incr */5 * * * *\",\"diff 0 99 * * *\"]}}",
	    &cb, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.entry[0], "full 0 1 * * 0");
	assert_has(s.error, "backup.schedule[1]");
	bk_schedule_from_config("{\"backup\":{\"schedule\":\"full 0 2 * * *\"}}",
	                        &cb, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.entry[0], "full 0 2 * * *");
	bk_schedule_from_config("not json", &cb, &s);
	assert_int_equal(s.n, 1);
}

/* ---- the backup: section ------------------------------------------------- */

static const char *base_yaml =
    "scope: demo\nname: n1\netcd3:\n  hosts: 127.0.0.1:2379\nrestapi:\n  listen: 127.0.0.1:8008\n"
    "postgresql:\n  listen: 127.0.0.1:5432\n  data_dir: /var/lib/pg/data\n";

static int
parse_with(const char *section, NodeConfig *c, PgwError *e)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s%s", base_yaml, section);
	memset(c, 0, sizeof(*c));
	return config_parse(buf, strlen(buf), "t.yml", c, e);
}

static void
test_config_section(void **state)
{
	NodeConfig c;
	PgwError e = {0};

	(void) state;
	assert_int_equal(parse_with("", &c, &e), 0);
	assert_false(c.backup.enabled);
	config_free(&c);
	assert_int_equal(
	    parse_with(
	        "backup:\n  repository: /srv/repo\n  schedule:\n    - full 0 1 * * 0\n"
	        "    - incr 0 * * * *\n  retention_full: 2\n  max_lag: 32MB\n"
	        "  after_failover: diff\n  retry_interval: 30s\n  timeout: 2h\n"
	        "  create_replica_methods: [pgbackrest, basebackup]\n",
	        &c, &e),
	    0);
	assert_true(c.backup.enabled);
	assert_string_equal(c.backup.repository, "/srv/repo");
	assert_int_equal(c.backup.n_schedule, 2);
	assert_int_equal(c.backup.retention_full, 2);
	assert_int_equal(c.backup.max_lag_bytes, 32 * 1024 * 1024);
	assert_string_equal(c.backup.after_failover, "diff");
	assert_int_equal(c.backup.retry_interval_ms, 30000);
	assert_int_equal(c.backup.timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(c.backup.n_replica_methods, 2);
	assert_string_equal(c.backup.pgbackrest, "/usr/bin/pgbackrest");
	config_free(&c);
}

static void
test_config_section_errors(void **state)
{
	NodeConfig c;
	PgwError e = {0};

	(void) state;
	assert_int_equal(parse_with("backup:\n  schedule: []\n", &c, &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "key \"backup.repository\"");
	assert_has(e.msg, "repository path");
	assert_int_equal(
	    parse_with(
	        "backup:\n  repository: /srv/repo\n  schedule:\n    - full 0 1 * * 0\n"
	        "    - incr 0 24 * * *\n",
	        &c, &e),
	    PGW_EINVAL);
	assert_has(e.msg, "line 14");
	assert_has(e.msg, "backup.schedule[1]");
	assert_has(e.msg, "hour \"24\"");
	assert_int_equal(
	    parse_with("backup:\n  repository: relative/repo\n", &c, &e),
	    PGW_EINVAL);
	assert_has(e.msg, "absolute path");
	assert_int_equal(
	    parse_with("backup:\n  repository: \"/srv/my repo\"\n", &c, &e),
	    PGW_EINVAL);
	assert_int_equal(
	    parse_with("backup:\n  repository: /srv/repo\n  retention: 2\n", &c,
	               &e),
	    PGW_EINVAL);
	assert_has(e.msg, "backup.retention");
	assert_int_equal(
	    parse_with(
	        "backup:\n  repository: /srv/repo\n  after_failover: weekly\n", &c,
	        &e),
	    PGW_EINVAL);
	assert_int_equal(
	    parse_with("backup:\n  repository: /srv/repo\n  stanza: \"a b\"\n", &c,
	               &e),
	    PGW_EINVAL);
	assert_int_equal(
	    parse_with("backup:\n  repository: /srv/repo\n  remote: tls\n", &c, &e),
	    PGW_EINVAL);
	assert_int_equal(
	    parse_with(
	        "backup:\n  repository: /srv/repo\n  create_replica_methods: [rsync]\n",
	        &c, &e),
	    PGW_EINVAL);
	assert_int_equal(parse_with("backup: 3\n", &c, &e), PGW_EINVAL);
	/* a disabled section needs no repository */
	assert_int_equal(parse_with("backup:\n  enabled: false\n", &c, &e), 0);
	assert_false(c.backup.enabled);
	config_free(&c);
}

/* bootstrap.method: pgbackrest: parsed, then config_validate's cross-checks */
static int
parse_validate(const char *section, NodeConfig *c, PgwError *e)
{
	int rc = parse_with(section, c, e);

	if (rc == 0 && (rc = config_validate(c, e)) != 0)
		config_free(c);
	return rc;
}

static void
test_config_bootstrap_restore(void **state)
{
	NodeConfig c;
	PgwError e = {0};
	const char *repo = "backup:\n  repository: /srv/repo\n";
	char y[1024];

	(void) state;
	snprintf(
	    y, sizeof(y),
	    "%sbootstrap:\n  method: pgbackrest\n  pgbackrest:\n    stanza: old\n"
	    "    to: '2026-11-23 10:00:00.5+01'\n",
	    repo);
	assert_int_equal(parse_validate(y, &c, &e), 0);
	assert_true(c.bootstrap_restore.enabled);
	assert_string_equal(c.bootstrap_restore.stanza, "old");
	assert_int_equal(c.bootstrap_restore.target.kind, BACKUP_TARGET_TIME);
	assert_string_equal(c.bootstrap_restore.target.text,
	                    "2026-11-23 09:00:00.500000+00");
	config_free(&c);
	/* to: defaults to latest; initdb is the default method */
	snprintf(
	    y, sizeof(y),
	    "%sbootstrap:\n  method: pgbackrest\n  pgbackrest: {stanza: old}\n",
	    repo);
	assert_int_equal(parse_validate(y, &c, &e), 0);
	assert_int_equal(c.bootstrap_restore.target.kind, BACKUP_TARGET_LATEST);
	config_free(&c);
	assert_int_equal(parse_validate("bootstrap:\n  method: initdb\n", &c, &e),
	                 0);
	assert_false(c.bootstrap_restore.enabled);
	config_free(&c);
	/* refusals, each naming the key */
	snprintf(
	    y, sizeof(y),
	    "%sbootstrap:\n  method: pgbackrest\n  pgbackrest:\n    stanza: old\n"
	    "    to: '2026-11-23 10:00:00'\n",
	    repo);
	assert_int_equal(parse_validate(y, &c, &e), PGW_EINVAL);
	assert_has(e.msg, "bootstrap.pgbackrest.to");
	assert_has(e.msg, "has no time zone");
	snprintf(
	    y, sizeof(y),
	    "%sbootstrap:\n  method: pgbackrest\n  pgbackrest: {stanza: demo}\n",
	    repo);
	assert_int_equal(parse_validate(y, &c, &e), PGW_EINVAL);
	assert_has(e.msg, "own stanza");
	snprintf(y, sizeof(y), "%sbootstrap:\n  method: pgbackrest\n", repo);
	assert_int_equal(parse_validate(y, &c, &e), PGW_EINVAL);
	assert_has(e.msg, "bootstrap.pgbackrest.stanza");
	assert_int_equal(
	    parse_validate(
	        "bootstrap:\n  method: pgbackrest\n  pgbackrest: {stanza: old}\n",
	        &c, &e),
	    PGW_EINVAL);
	assert_has(e.msg, "needs the backup: section");
	snprintf(y, sizeof(y),
	         "%sbootstrap:\n  method: pgbackrest\n  pgbackrest:\n"
	         "    command: /usr/bin/restore.sh\n",
	         repo);
	assert_int_equal(parse_validate(y, &c, &e), PGW_EINVAL);
	assert_has(e.msg, "bootstrap.pgbackrest.command");
	snprintf(
	    y, sizeof(y),
	    "%sbootstrap:\n  method: pgbackrest\n  pgbackrest: {stanza: old, at: latest}\n",
	    repo);
	assert_int_equal(parse_validate(y, &c, &e), PGW_EINVAL);
	assert_has(e.msg, "bootstrap.pgbackrest.at");
	/* Patroni's script form under another method: ignored with a warning */
	assert_int_equal(
	    parse_validate(
	        "bootstrap:\n  method: wal_e\n  wal_e:\n    command: x\n", &c, &e),
	    0);
	assert_false(c.bootstrap_restore.enabled);
	assert_true(c.n_warnings > 0);
	config_free(&c);
}

/* ---- WAL, history, gaps ---------------------------------------------------- */

#define SEG (16 * 1024 * 1024)

static void
test_wal_names(void **state)
{
	BkSeg s;
	char buf[32];

	(void) state;
	assert_true(bk_wal_parse("0000000200000001000000FF", SEG, &s));
	assert_int_equal(s.tli, 2);
	assert_int_equal(s.segno, 256 + 255);
	bk_wal_name(s, SEG, buf, sizeof(buf));
	assert_string_equal(buf, "0000000200000001000000FF");
	assert_false(
	    bk_wal_parse("000000020000000100000100", SEG, &s)); /* seg 256 */
	assert_false(bk_wal_parse("00000002000000010000000", SEG, &s));
	assert_false(bk_wal_parse("0000000g0000000100000001", SEG, &s));
	assert_false(bk_wal_parse("000000000000000100000001", SEG, &s)); /* tli 0 */
}

static void
test_history_and_gap(void **state)
{
	BkHistory h;
	PgwError e = {0};
	BkSegSet present = {0};
	BkSegSet missing = {0};

	(void) state;
	/* TL1 ended at 0/5000100 (segment 5), TL2 at 0/8800000 (segment 8) */
	assert_int_equal(
	    bk_history_parse("1\t0/5000100\tno recovery target specified\n\n"
	                     "2\t0/8800000\tno recovery target specified\n",
	                     &h, &e),
	    0);
	assert_int_equal(h.n, 2);
	for (uint64_t s = 1; s <= 4; s++)
		bk_segset_add(&present, (BkSeg){1, s});
	/* TL2 begins in segment 5 (its copy of it), then 6 is missing, 7 there */
	bk_segset_add(&present, (BkSeg){2, 5});
	bk_segset_add(&present, (BkSeg){2, 7});
	bk_segset_sort(&present);
	bk_gap_missing(&h, SEG, 0, &present, &missing);
	assert_int_equal(missing.n, 1);
	assert_int_equal(missing.s[0].tli, 2);
	assert_int_equal(missing.s[0].segno, 6);
	bk_segset_free(&missing);

	/* a check that must fail: the old timeline's last segment before the
	 * switch is what a crashed primary never archived */
	bk_segset_free(&present);
	for (uint64_t s = 1; s <= 3; s++)
		bk_segset_add(&present, (BkSeg){1, s});
	for (uint64_t s = 5; s <= 7; s++)
		bk_segset_add(&present, (BkSeg){2, s});
	bk_segset_sort(&present);
	bk_gap_missing(&h, SEG, 0, &present, &missing);
	assert_int_equal(missing.n, 1);
	assert_int_equal(missing.s[0].tli, 1);
	assert_int_equal(missing.s[0].segno, 4);
	bk_segset_free(&missing);

	/* below the oldest backup nothing is needed */
	bk_gap_missing(&h, SEG, 5, &present, &missing);
	assert_int_equal(missing.n, 0);
	bk_segset_free(&missing);
	bk_segset_free(&present);

	assert_int_equal(
	    bk_history_parse("2\t0/5000100\tx\n1\t0/6000000\ty\n", &h, &e),
	    PGW_EINVAL);
	assert_has(e.msg, "does not follow");
	assert_int_equal(bk_history_parse("1\tnot-an-lsn\n", &h, &e), PGW_EINVAL);
}

static void
test_repo_ls_and_verify(void **state)
{
	const char *ls =
	    "{\".\":{\"type\":\"path\"},\"15-1\":{\"type\":\"path\"},"
	    "\"15-1/00000002.history\":{\"type\":\"file\",\"size\":42,\"time\":1},"
	    "\"15-1/0000000100000000/000000010000000000000001-d85c.gz\":{\"type\":\"file\",\"size\":1,\"time\":1},"
	    "\"15-1/0000000100000000/000000010000000000000002.00000028.backup\":{\"type\":\"file\"},"
	    "\"15-1/0000000100000000/000000010000000000000003.partial-abc.gz\":{\"type\":\"file\"},"
	    "\"15-1/0000000200000000/000000020000000000000003-9f.lz4\":{\"type\":\"file\"}}";
	BkSegSet present = {0}, partial = {0};
	uint32_t hist[4];
	int nh = 0;
	PgwError e = {0};
	int ranges, gaps;
	bool bad;
	char first[128];

	(void) state;
	assert_int_equal(bk_repo_ls_parse(ls, strlen(ls), SEG, &present, &partial,
	                                  hist, 4, &nh, &e),
	                 0);
	assert_int_equal(present.n, 2);
	assert_int_equal(partial.n, 1);
	assert_int_equal(nh, 1);
	assert_int_equal(hist[0], 2);
	assert_true(bk_segset_has(&present, (BkSeg){2, 3}));
	assert_false(bk_segset_has(&present, (BkSeg){1, 3}));
	bk_segset_free(&present);
	bk_segset_free(&partial);
	assert_int_equal(
	    bk_repo_ls_parse("[1]", 3, SEG, &present, NULL, NULL, 0, NULL, &e),
	    PGW_EINVAL);

	bk_verify_parse(
	    "P00 DETAIL: archiveId: 15-1, wal start: 000000010000000000000001, wal stop: 000000010000000000000005\n"
	    "P00 DETAIL: archiveId: 15-1, wal start: 000000020000000000000005, wal stop: 000000020000000000000009\n",
	    &ranges, &gaps, &bad, first, sizeof(first));
	assert_int_equal(ranges, 2);
	assert_int_equal(gaps, 0);
	assert_false(bad);
	/* a check that must fail: two ranges on one timeline = a gap */
	bk_verify_parse(
	    "P00 DETAIL: archiveId: 15-1, wal start: 000000010000000000000001, wal stop: 000000010000000000000002\n"
	    "P00 DETAIL: archiveId: 15-1, wal start: 000000010000000000000004, wal stop: 000000010000000000000005\n",
	    &ranges, &gaps, &bad, first, sizeof(first));
	assert_int_equal(gaps, 1);
	bk_verify_parse(
	    "P01   INFO: invalid checksum '20261202-153758F/pg_data/base/1/1247.gz'\n"
	    "   status: error\n",
	    &ranges, &gaps, &bad, first, sizeof(first));
	assert_true(bad);
	assert_has(first, "invalid checksum");
}

/* ---- info, catalog, targets ----------------------------------------------- */

static const char *info_json =
    "[{\"archive\":[{\"database\":{\"id\":1,\"repo-key\":1},\"id\":\"15-1\",\"max\":\"000000010000000000000005\",\"min\":\"000000010000000000000001\"}],"
    "\"backup\":[{\"archive\":{\"start\":\"000000010000000000000002\",\"stop\":\"000000010000000000000002\"},"
    "\"error\":false,\"info\":{\"delta\":1,\"repository\":{\"delta\":3,\"size\":3056862},\"size\":22992589},"
    "\"label\":\"20261202-153758F\",\"lsn\":{\"start\":\"0/2000028\",\"stop\":\"0/2000138\"},\"prior\":null,\"reference\":null,"
    "\"timestamp\":{\"start\":1796225878,\"stop\":1796225888},\"type\":\"full\"},"
    "{\"archive\":{\"start\":\"000000010000000000000005\",\"stop\":\"000000010000000000000005\"},\"error\":false,"
    "\"info\":{\"size\":23000781,\"repository\":{\"size\":3057374}},\"label\":\"20261202-153758F_20261202-153811I\","
    "\"lsn\":{\"start\":\"0/5000028\",\"stop\":\"0/5000100\"},\"prior\":\"20261202-153758F\","
    "\"timestamp\":{\"start\":1796225891,\"stop\":1796225893},\"type\":\"incr\"}],"
    "\"cipher\":\"none\",\"db\":[{\"id\":1,\"repo-key\":1,\"system-id\":7714731362483970823,\"version\":\"15\"}],"
    "\"name\":\"demo\",\"status\":{\"code\":0,\"message\":\"ok\"}}]";

static void
test_info_and_catalog(void **state)
{
	BackupCatalog *c = calloc(1, sizeof(BackupCatalog));
	BackupCatalog *d = calloc(1, sizeof(BackupCatalog));
	PgwError e = {0};
	char *json;

	(void) state;
	assert_int_equal(
	    backup_info_parse(info_json, strlen(info_json), "demo", c, &e), 0);
	assert_int_equal(c->n_backups, 2);
	assert_string_equal(c->system_id, "7714731362483970823");
	assert_string_equal(c->backups[1].prior, "20261202-153758F");
	assert_string_equal(c->backups[0].stop_lsn, "0/2000138");
	assert_int_equal(c->window_earliest_wall_ms, INT64_C(1796225888000));
	assert_int_equal(c->n_archive, 1);
	assert_int_equal(
	    backup_info_parse(info_json, strlen(info_json), "other", c, &e),
	    PGW_ENOTFOUND);
	assert_int_equal(backup_info_parse("{}", 2, "demo", c, &e), PGW_EINVAL);
	assert_int_equal(
	    backup_info_parse(info_json, strlen(info_json), "demo", c, &e), 0);
	c->backups[0].token = 42;
	snprintf(c->backups[0].node, sizeof(c->backups[0].node), "node2");
	c->window_latest_wall_ms = INT64_C(1796226000000);
	json = backup_catalog_encode(c);
	assert_int_equal(backup_catalog_decode(json, strlen(json), d, &e), 0);
	assert_memory_equal(c, d, sizeof(BackupCatalog));
	free(json);
	/* outside input refused whole */
	assert_int_equal(
	    backup_catalog_decode("{\"backups\":[{\"label\":3}]}", 26, d, &e),
	    PGW_EINVAL);
	assert_int_equal(d->n_backups, 0);
	assert_int_equal(
	    backup_catalog_decode(
	        "{\"backups\":[{\"label\":\"x\",\"wal_start\":\"zz\"}]}", 45, d,
	        &e),
	    PGW_EINVAL);
	assert_int_equal(backup_catalog_decode("[]", 2, d, &e), PGW_EINVAL);
	free(c);
	free(d);
}

static void
test_targets(void **state)
{
	BackupCatalog *c = calloc(1, sizeof(BackupCatalog));
	BackupTarget t;
	PgwError e = {0};
	char label[64];

	(void) state;
	assert_int_equal(
	    backup_target_parse("2026-12-02 15:38:37.236159+00", &t, &e), 0);
	assert_int_equal(t.kind, BACKUP_TARGET_TIME);
	assert_int_equal(t.wall_us, INT64_C(1796225917236159));
	assert_string_equal(t.text, "2026-12-02 15:38:37.236159+00");
	assert_int_equal(backup_target_parse("2026-12-02T16:38:37+01:00", &t, &e),
	                 0);
	assert_int_equal(t.wall_us, INT64_C(1796225917000000));
	assert_int_equal(backup_target_parse("2026-12-02 15:38:37", &t, &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "has no time zone");
	assert_int_equal(backup_target_parse("yesterday", &t, &e), PGW_EINVAL);
	assert_int_equal(backup_target_parse("0/5000100", &t, &e), 0);
	assert_int_equal(t.kind, BACKUP_TARGET_LSN);
	assert_int_equal(t.lsn, 0x5000100);
	assert_int_equal(backup_target_parse("latest", &t, &e), 0);

	assert_int_equal(
	    backup_info_parse(info_json, strlen(info_json), "demo", c, &e), 0);
	c->window_latest_wall_ms = INT64_C(1796226000000);
	/* inside: the newest backup consistent before it */
	assert_int_equal(backup_target_parse("2026-12-02 15:38:10+00", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e), 0);
	assert_string_equal(label, "20261202-153758F");
	assert_int_equal(backup_target_parse("2026-12-02 15:39:00+00", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e), 0);
	assert_string_equal(label, "20261202-153758F_20261202-153811I");
	/* outside: the message names the window */
	assert_int_equal(backup_target_parse("2026-12-02 15:00:00+00", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "before the recovery window");
	assert_has(e.msg, "2026-12-02T15:38:08.000Z");
	assert_int_equal(backup_target_parse("2026-12-03 00:00:00+00", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "after the recovery window");
	assert_int_equal(backup_target_parse("0/1000000", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e),
	                 PGW_EINVAL);
	assert_has(e.msg, "before the oldest backup's consistent point 0/2000138");
	assert_int_equal(backup_target_parse("0/6000000", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e), 0);
	assert_string_equal(label, "20261202-153758F_20261202-153811I");
	c->n_backups = 0;
	assert_int_equal(backup_target_parse("latest", &t, &e), 0);
	assert_int_equal(backup_target_check(c, &t, label, sizeof(label), &e),
	                 PGW_ESTATE);
	assert_has(e.msg, "nothing to restore");
	free(c);
}

static void
test_key_codecs(void **state)
{
	BackupAttempt a = {0}, b;
	BackupRequest r = {0}, r2;
	BackupGap g = {0}, g2;
	char *j;

	(void) state;
	snprintf(a.id, sizeof(a.id), "demand-1");
	snprintf(a.type, sizeof(a.type), "full");
	snprintf(a.node, sizeof(a.node), "node2");
	a.status = BACKUP_STATUS_ABORTED;
	snprintf(a.reason, sizeof(a.reason), "the source replica was \"promoted\"");
	a.token = 77;
	a.attempt = 2;
	j = bk_attempt_encode(&a);
	assert_int_equal(bk_attempt_decode(j, strlen(j), &b), 0);
	assert_string_equal(b.reason, a.reason);
	assert_int_equal(b.status, BACKUP_STATUS_ABORTED);
	assert_int_equal(b.token, 77);
	free(j);
	assert_int_equal(
	    bk_attempt_decode(
	        "{\"id\":\"x\",\"type\":\"full\",\"status\":\"bogus\"}", 41, &b),
	    PGW_EINVAL);
	snprintf(r.id, sizeof(r.id), "sched-1");
	snprintf(r.type, sizeof(r.type), "diff");
	snprintf(r.source, sizeof(r.source), "node3");
	r.attempt = 1;
	j = bk_request_encode(&r);
	assert_int_equal(bk_request_decode(j, strlen(j), &r2), 0);
	assert_string_equal(r2.source, "node3");
	free(j);
	assert_int_equal(
	    bk_request_decode("{\"id\":\"x\",\"type\":\"weekly\",\"source\":\"n\"}",
	                      40, &r2),
	    PGW_EINVAL);
	snprintf(g.status, sizeof(g.status), "gap");
	g.n_missing = 1;
	snprintf(g.missing[0], sizeof(g.missing[0]), "000000010000000000000004");
	j = bk_gap_encode(&g);
	assert_int_equal(bk_gap_decode(j, strlen(j), &g2), 0);
	assert_int_equal(g2.n_missing, 1);
	free(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cron_parse_and_match),
	    cmocka_unit_test(test_cron_refusals),
	    cmocka_unit_test(test_cron_next_and_due),
	    cmocka_unit_test(test_schedule_entries),
	    cmocka_unit_test(test_config_section),
	    cmocka_unit_test(test_config_section_errors),
	    cmocka_unit_test(test_config_bootstrap_restore),
	    cmocka_unit_test(test_wal_names),
	    cmocka_unit_test(test_history_and_gap),
	    cmocka_unit_test(test_repo_ls_and_verify),
	    cmocka_unit_test(test_info_and_catalog),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_key_codecs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
