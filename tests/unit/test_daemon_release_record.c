/*
 * test_daemon_release_record.c: the record of a leader key this node gave
 * up (daemon/release_record.c, issue 21): written and read back; a record
 * of another boot says nothing; bad content is refused with a message that
 * names the file and what is wrong; a symlink for the file or the
 * directory, a directory that others may write or that belongs to someone
 * else, is never trusted; a missing directory is created only when asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/fast_release.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64];
static char sdir[128];

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

static int
setup(void **state)
{
	(void) state;
	snprintf(base, sizeof(base), "/tmp/pgw-release-XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(sdir, sizeof(sdir), "%s/state", base);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[160];

	(void) state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static ReleaseRecord
record(int64_t lease, const char *reason)
{
	ReleaseRecord r = {0};

	r.lease_id = lease;
	r.released_mono_ms = 123456;
	snprintf(r.by, sizeof(r.by), "fence");
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	return r;
}

static void
test_roundtrip(void **state)
{
	ReleaseRecord w = record(0x7f3a00000000abcdLL, "daemon-died");
	ReleaseRecord r;
	PgwError err = {0};
	int fd;
	struct stat st;

	(void) state;
	/* no directory yet: nothing recorded, and a write cannot create it */
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err), 0);
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err),
	                 PGW_ENOTFOUND);
	fd = release_state_dir_open(sdir, true, &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(sdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err), 0);
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err), 1);
	assert_true(r.lease_id == w.lease_id);
	assert_true(r.released_mono_ms == 123456);
	assert_string_equal(r.by, "fence");
	assert_string_equal(r.reason, "daemon-died");
	/* another member's record is another file */
	assert_int_equal(release_record_read(sdir, "demo", "node2", &r, &err), 0);
	/* a rule name as the reason; the file is replaced */
	w = record(0x42, "leader-pg-down-release");
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err), 0);
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err), 1);
	assert_true(r.lease_id == 0x42);
	assert_string_equal(r.reason, "leader-pg-down-release");
	/* nothing that is not a word goes in */
	w = record(0x42, "two words");
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err),
	                 PGW_EINVAL);
	w = record(0, "daemon-died");
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err),
	                 PGW_EINVAL);
}

static void
test_other_boot(void **state)
{
	char path[256];
	ReleaseRecord r;
	PgwError err = {0};

	(void) state;
	assert_true(release_state_dir_open(sdir, true, &err) >= 0);
	snprintf(path, sizeof(path), "%s/demo.node1.leader-released", sdir);
	put_file(
	    path,
	    "lease=7f3a boot=00000000-0000-0000-0000-000000000000 mono_ms=5 by=fence reason=daemon-died\n");
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err), 0);
	assert_true(r.lease_id == 0);
}

static void
test_bad_content(void **state)
{
	char path[256];
	ReleaseRecord r;
	PgwError err = {0};
	char boot[64] = "";
	const char *bad[] = {
	    "",
	    "garbage\n",
	    "lease=zz boot=b mono_ms=5 by=fence reason=x\n",
	    "lease=0 boot=b mono_ms=5 by=fence reason=x\n",
	    "lease=10 boot=b mono_ms=-5 by=fence reason=x\n",
	    "lease=10 boot=b mono_ms=5 by=fence\n",
	    "lease=10 boot=b mono_ms=5 by=fence reason=x trailing\n",
	    "lease=ffffffffffffffff boot=b mono_ms=5 by=fence reason=x\n",
	};

	(void) state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		memset(&err, 0, sizeof(err));
		assert_false(
		    release_record_parse(bad[i], &r, boot, sizeof(boot), &err));
		assert_true(err.msg[0] != '\0');
	}
	assert_true(
	    release_record_parse("lease=10 boot=b mono_ms=5 by=fence reason=x\n",
	                         &r, boot, sizeof(boot), &err));
	assert_string_equal(boot, "b");
	/* in a file: refused, naming the file */
	assert_true(release_state_dir_open(sdir, true, &err) >= 0);
	snprintf(path, sizeof(path), "%s/demo.node1.leader-released", sdir);
	put_file(path, "lease=10 boot=b mono_ms=5 by=fence reason=x trailing\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "demo.node1.leader-released"));
	assert_non_null(strstr(err.msg, "unexpected text"));
}

static void
test_untrusted(void **state)
{
	char path[256];
	char target[256];
	char link_dir[256];
	ReleaseRecord w = record(0x99, "daemon-died");
	ReleaseRecord r;
	PgwError err = {0};

	(void) state;
	assert_true(release_state_dir_open(sdir, true, &err) >= 0);
	/* the record itself a symlink (planted by someone who could write the
	 * directory): never read through, never written through */
	snprintf(target, sizeof(target), "%s/elsewhere", base);
	put_file(target, "lease=10 boot=b mono_ms=5 by=fence reason=x\n");
	snprintf(path, sizeof(path), "%s/demo.node1.leader-released", sdir);
	assert_int_equal(symlink(target, path), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err),
	                 PGW_EAUTH);
	assert_non_null(strstr(err.msg, "symlink"));
	unlink(path);
	/* a directory others may write */
	assert_int_equal(chmod(sdir, 0777), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err),
	                 PGW_EAUTH);
	assert_non_null(strstr(err.msg, "not trusted"));
	assert_int_equal(release_record_read(sdir, "demo", "node1", &r, &err),
	                 PGW_EAUTH);
	assert_true(release_state_dir_open(sdir, true, &err) < 0);
	assert_int_equal(chmod(sdir, 0700), 0);
	/* a directory that belongs to someone else */
	assert_int_equal(chown(sdir, 65534, 65534), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err),
	                 PGW_EAUTH);
	assert_non_null(strstr(err.msg, "uid 65534"));
	assert_int_equal(chown(sdir, getuid(), getgid()), 0);
	/* the state directory a symlink */
	snprintf(link_dir, sizeof(link_dir), "%s/state-link", base);
	assert_int_equal(symlink(sdir, link_dir), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(release_record_write(link_dir, "demo", "node1", &w, &err),
	                 PGW_EAUTH);
	assert_true(release_state_dir_open(link_dir, true, &err) < 0);
	/* and the real one still works */
	assert_int_equal(release_record_write(sdir, "demo", "node1", &w, &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_boot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
