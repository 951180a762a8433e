/*
 * test_common_safefs.c: the file operations root uses in directories the
 * PostgreSQL user controls never follow a planted symlink, never write
 * through a FIFO or a hard link, never cross a symlink while removing a
 * tree, and never chown an existing directory (security review F1, F5,
 * F8, F14). Every case plants the trap first and checks the victim after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/safefs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static int
setup(void **state)
{
	(void) state;
	snprintf(root, sizeof(root), "/tmp/pgw-safefs-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[400];

	(void) state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", root, name);
}

static void
put(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	path_of(p, sizeof(p), name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
assert_content(const char *name, const char *text)
{
	char p[512];
	char buf[256] = "";
	FILE *f;
	size_t n;

	path_of(p, sizeof(p), name);
	f = fopen(p, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, text);
}

static void
plant_link(const char *name, const char *target)
{
	char p[512];
	char t[512];

	path_of(p, sizeof(p), name);
	path_of(t, sizeof(t), target);
	assert_int_equal(symlink(t, p), 0);
}

static void
test_split(void **state)
{
	char d[64];
	char b[64];

	(void) state;
	assert_int_equal(pgw_path_split("/a/b/c", d, sizeof(d), b, sizeof(b)), 0);
	assert_string_equal(d, "/a/b");
	assert_string_equal(b, "c");
	assert_int_equal(pgw_path_split("/c", d, sizeof(d), b, sizeof(b)), 0);
	assert_string_equal(d, "/");
	assert_int_equal(pgw_path_split("c", d, sizeof(d), b, sizeof(b)), 0);
	assert_string_equal(d, ".");
	assert_int_equal(pgw_path_split("/a/", d, sizeof(d), b, sizeof(b)),
	                 PGW_EINVAL);
	assert_int_equal(pgw_path_split("/a/..", d, sizeof(d), b, sizeof(b)),
	                 PGW_EINVAL);
	assert_int_equal(pgw_path_split("", d, sizeof(d), b, sizeof(b)),
	                 PGW_EINVAL);
}

/* a symlink at the file's name is replaced, its target untouched */
static void
test_write_replaces_link(void **state)
{
	char p[512];
	PgwError err = {0};
	struct stat st;

	(void) state;
	put("victim", "ROOT-OWNED");
	plant_link("conf", "victim");
	path_of(p, sizeof(p), "conf");
	assert_int_equal(
	    pgw_write_file(p, "new\n", 4, 0600, PGW_NO_OWNER, (gid_t) -1, &err), 0);
	assert_content("victim", "ROOT-OWNED");
	assert_content("conf", "new\n");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* the old fixed temporary name is no trap either */
	plant_link("conf.tmp", "victim");
	assert_int_equal(
	    pgw_write_file(p, "again\n", 6, 0600, PGW_NO_OWNER, (gid_t) -1, &err),
	    0);
	assert_content("victim", "ROOT-OWNED");
}

static void
test_create_at(void **state)
{
	char p[512];
	PgwError err = {0};
	struct stat st;
	int dfd;

	(void) state;
	put("victim", "ROOT-OWNED");
	plant_link("promote", "victim");
	dfd = pgw_dir_open(root, PGW_NO_OWNER, &err);
	assert_true(dfd >= 0);
	assert_int_equal(
	    pgw_create_at(dfd, "promote", 0600, PGW_NO_OWNER, (gid_t) -1, &err), 0);
	close(dfd);
	assert_content("victim", "ROOT-OWNED");
	path_of(p, sizeof(p), "promote");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
}

static void
test_append_refuses_traps(void **state)
{
	char p[512];
	char v[512];
	PgwError err = {0};
	int fd;

	(void) state;
	put("victim", "ROOT-OWNED");
	/* symlink */
	plant_link("log", "victim");
	path_of(p, sizeof(p), "log");
	fd = pgw_open_append(p, 0640, PGW_NO_OWNER, (gid_t) -1, &err);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(err.msg, "symbolic link"));
	unlink(p);
	/* hard link */
	path_of(v, sizeof(v), "victim");
	assert_int_equal(link(v, p), 0);
	fd = pgw_open_append(p, 0640, PGW_NO_OWNER, (gid_t) -1, &err);
	assert_int_equal(fd, -1);
	unlink(p);
	/* FIFO: refused at once, not blocking */
	assert_int_equal(mkfifo(p, 0600), 0);
	fd = pgw_open_append(p, 0640, PGW_NO_OWNER, (gid_t) -1, &err);
	assert_int_equal(fd, -1);
	unlink(p);
	assert_content("victim", "ROOT-OWNED");
	/* new file: created; existing own file: appended */
	fd = pgw_open_append(p, 0640, PGW_NO_OWNER, (gid_t) -1, &err);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a", 1), 1);
	close(fd);
	fd = pgw_open_append(p, 0640, PGW_NO_OWNER, (gid_t) -1, &err);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "b", 1), 1);
	close(fd);
	assert_content("log", "ab");
}

static void
test_read_refuses_fifo_and_link(void **state)
{
	char p[512];
	char *buf = NULL;
	PgwError err = {0};

	(void) state;
	put("victim", "secret");
	plant_link("pid", "victim");
	path_of(p, sizeof(p), "pid");
	assert_int_equal(pgw_read_file(p, 1024, &buf, NULL, &err), PGW_EINVAL);
	assert_null(pgw_fopen_read(p));
	unlink(p);
	assert_int_equal(mkfifo(p, 0600), 0);
	/* would block forever with a plain open */
	assert_int_equal(pgw_read_file(p, 1024, &buf, NULL, &err), PGW_EINVAL);
	assert_int_equal(pgw_open_read(p), -1);
	unlink(p);
	path_of(p, sizeof(p), "victim");
	assert_int_equal(pgw_read_file(p, 1024, &buf, NULL, &err), 0);
	assert_string_equal(buf, "secret");
	free(buf);
	assert_int_equal(pgw_read_file(p, 3, &buf, NULL, &err), PGW_EINVAL);
}

/* the walk removes links as links and never enters what they point to */
static void
test_clear_does_not_cross_links(void **state)
{
	char p[512];
	char q[512];
	PgwError err = {0};
	struct stat st;

	(void) state;
	path_of(p, sizeof(p), "outside");
	assert_int_equal(mkdir(p, 0755), 0);
	put("outside/keep", "ROOT-OWNED");
	path_of(p, sizeof(p), "data");
	assert_int_equal(mkdir(p, 0700), 0);
	path_of(p, sizeof(p), "data/base");
	assert_int_equal(mkdir(p, 0700), 0);
	path_of(p, sizeof(p), "data/base/deep");
	assert_int_equal(mkdir(p, 0700), 0);
	put("data/base/deep/f", "x");
	put("data/PG_VERSION", "15");
	plant_link("data/pg_wal", "outside");
	plant_link("data/base/evil", "outside/keep");
	path_of(p, sizeof(p), "data");
	assert_int_equal(pgw_dir_clear(p, &err), 0);
	assert_int_equal(stat(p, &st), 0); /* the directory stays */
	assert_content("outside/keep", "ROOT-OWNED");
	path_of(q, sizeof(q), "data/base");
	assert_int_equal(lstat(q, &st), -1);
	/* the top itself a symlink: refused, target untouched */
	plant_link("datalink", "outside");
	path_of(p, sizeof(p), "datalink");
	assert_int_not_equal(pgw_dir_clear(p, &err), 0);
	assert_content("outside/keep", "ROOT-OWNED");
	/* rmtree of a link removes the link only */
	assert_int_equal(pgw_rmtree(p, &err), 0);
	assert_int_equal(lstat(p, &st), -1);
	assert_content("outside/keep", "ROOT-OWNED");
	path_of(p, sizeof(p), "data");
	assert_int_equal(pgw_rmtree(p, &err), 0);
	assert_int_equal(lstat(p, &st), -1);
}

static void
test_dir_ensure(void **state)
{
	char p[512];
	PgwError err = {0};
	struct stat st;

	(void) state;
	/* created: mode set */
	path_of(p, sizeof(p), "sock");
	assert_int_equal(pgw_dir_ensure(p, 0750, PGW_NO_OWNER, (gid_t) -1, false,
	                                "postgresql.socket_dir", &err),
	                 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* existing with another mode: left alone */
	assert_int_equal(chmod(p, 0711), 0);
	assert_int_equal(pgw_dir_ensure(p, 0750, PGW_NO_OWNER, (gid_t) -1, false,
	                                "postgresql.socket_dir", &err),
	                 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0711);
	/* world-writable without sticky: refused, naming the key */
	assert_int_equal(chmod(p, 0777), 0);
	assert_int_equal(pgw_dir_ensure(p, 0750, PGW_NO_OWNER, (gid_t) -1, false,
	                                "postgresql.socket_dir", &err),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "postgresql.socket_dir"));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0777);
	/* like /tmp (sticky): accepted, not changed */
	assert_int_equal(chmod(p, 01777), 0);
	assert_int_equal(pgw_dir_ensure(p, 0750, PGW_NO_OWNER, (gid_t) -1, false,
	                                "postgresql.socket_dir", &err),
	                 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	/* symlink: refused */
	plant_link("socklink", "sock");
	path_of(p, sizeof(p), "socklink");
	assert_int_equal(pgw_dir_ensure(p, 0750, PGW_NO_OWNER, (gid_t) -1, false,
	                                "postgresql.socket_dir", &err),
	                 PGW_EINVAL);
	assert_non_null(strstr(err.msg, "symbolic link"));
	/* an existing directory of another owner: refused, never chowned */
	if (geteuid() == 0)
	{
		path_of(p, sizeof(p), "other");
		assert_int_equal(mkdir(p, 0755), 0);
		assert_int_equal(chown(p, 12345, 12345), 0);
		assert_int_equal(pgw_dir_ensure(p, 0700, 23456, 23456, true,
		                                "postgresql.data_dir", &err),
		                 PGW_EINVAL);
		assert_non_null(strstr(err.msg, "postgresql.data_dir"));
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal((int) st.st_uid, 12345);
		/* root-owned, not writable by the user: refused */
		path_of(p, sizeof(p), "rootdir");
		assert_int_equal(mkdir(p, 0755), 0);
		assert_int_equal(pgw_dir_ensure(p, 0700, 23456, 23456, false,
		                                "postgresql.socket_dir", &err),
		                 PGW_EINVAL);
		assert_non_null(strstr(err.msg, "not writable"));
		/* created for the user: owned by it */
		path_of(p, sizeof(p), "new");
		assert_int_equal(pgw_dir_ensure(p, 0700, 23456, 23456, true,
		                                "postgresql.data_dir", &err),
		                 0);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal((int) st.st_uid, 23456);
	}
}

static void
test_dir_open_owner(void **state)
{
	PgwError err = {0};
	int fd;

	(void) state;
	fd = pgw_dir_open(root, geteuid(), &err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pgw_dir_open(root, geteuid() + 1, &err), -1);
	assert_non_null(strstr(err.msg, "not owned"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	    cmocka_unit_test_setup_teardown(test_write_replaces_link, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_create_at, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_refuses_traps, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_refuses_fifo_and_link, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_clear_does_not_cross_links, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_dir_ensure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_open_owner, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
