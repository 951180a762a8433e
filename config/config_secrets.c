/*
 * config_secrets.c: what a container needs to be configured from its
 * environment and its mounted Secrets alone (config.h, config_apply_env):
 * the variables config_env.c does not cover (PostgreSQL credentials,
 * run_as, socket_dir, the REST TLS files), and for every secret a
 * PGWARDEN_<NAME>_FILE variant naming a file of a mounted Secret, so that
 * passwords need not sit in the environment of the daemon (and of every
 * child it spawns). Setting both forms of one secret is an error, not a
 * silent choice. A secret file is read whole (at most 64 KiB, a regular
 * file, no NUL byte); one trailing newline is dropped, as `kubectl create
 * secret --from-file` of an `echo`-made file holds one.
 */
#include "config/config.h"
#include "config/config_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_FILE_MAX (64 * 1024)

typedef struct ContainerVar
{
	const char *name; /* PGWARDEN_... */
	size_t off;       /* char * in NodeConfig */
	bool is_secret;   /* also read from NAME_FILE */
} ContainerVar;

#define CV(n, m, s)                                                            \
	{                                                                          \
		n, offsetof(NodeConfig, m), s                                          \
	}

static const ContainerVar vars[] = {
    /* secrets config_env.c reads as plain variables: their _FILE forms */
    CV("PGWARDEN_ETCD3_PASSWORD", etcd_password, true),
    CV("PGWARDEN_RESTAPI_PASSWORD", restapi_password, true),
    /* the rest of what a pod needs */
    CV("PGWARDEN_POSTGRESQL_SUPERUSER_USERNAME", pg_superuser_username, false),
    CV("PGWARDEN_POSTGRESQL_SUPERUSER_PASSWORD", pg_superuser_password, true),
    CV("PGWARDEN_POSTGRESQL_REPLICATION_USERNAME", pg_replication_username,
       false),
    CV("PGWARDEN_POSTGRESQL_REPLICATION_PASSWORD", pg_replication_password,
       true),
    CV("PGWARDEN_POSTGRESQL_REWIND_USERNAME", pg_rewind_username, false),
    CV("PGWARDEN_POSTGRESQL_REWIND_PASSWORD", pg_rewind_password, true),
    CV("PGWARDEN_POSTGRESQL_RUN_AS", pg_run_as, false),
    CV("PGWARDEN_POSTGRESQL_SOCKET_DIR", pg_socket_dir, false),
    CV("PGWARDEN_POSTGRESQL_PGPASS", pg_pgpass, false),
    CV("PGWARDEN_RESTAPI_CERTFILE", restapi_certfile, false),
    CV("PGWARDEN_RESTAPI_KEYFILE", restapi_keyfile, false),
    CV("PGWARDEN_RESTAPI_CAFILE", restapi_cafile, false),
};

#define CFG_STR(c, off) ((char **) ((char *) (c) + (off)))

const char *
config_env_value(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (char *const *e = envp; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* read_secret: the content of a mounted Secret file, or NULL with err */
static char *
read_secret(const char *var, const char *path, PgwError *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0)
	{
		pgw_error_set(err, PGW_EINVAL,
		              "environment variable %s: could not open \"%s\": %s", var,
		              path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SECRET_FILE_MAX)
	{
		close(fd);
		pgw_error_set(
		    err, PGW_EINVAL,
		    "environment variable %s: \"%s\" is not a regular file of at most %d bytes",
		    var, path, SECRET_FILE_MAX);
		return NULL;
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
	buf[got] = '\0';
	if (got != (size_t) st.st_size || memchr(buf, '\0', got) != NULL)
	{
		explicit_bzero(buf, got);
		free(buf);
		pgw_error_set(
		    err, PGW_EINVAL,
		    "environment variable %s: could not read \"%s\" whole, or it holds a NUL byte",
		    var, path);
		return NULL;
	}
	if (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	if (got > 0 && buf[got - 1] == '\r')
		buf[--got] = '\0';
	if (got == 0)
	{
		free(buf);
		pgw_error_set(err, PGW_EINVAL,
		              "environment variable %s: \"%s\" is empty", var, path);
		return NULL;
	}
	return buf;
}

int
config_secrets_apply_env(NodeConfig *cfg, char *const *envp, PgwError *err)
{
	for (size_t i = 0; i < PGW_LENGTHOF(vars); i++)
	{
		char file_var[96];
		const char *plain = config_env_value(envp, vars[i].name);
		const char *file = NULL;
		char **dst = CFG_STR(cfg, vars[i].off);

		if (vars[i].is_secret)
		{
			snprintf(file_var, sizeof(file_var), "%s_FILE", vars[i].name);
			file = config_env_value(envp, file_var);
		}
		if (plain != NULL && file != NULL)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "environment variables %s and %s are both set: set one",
			    vars[i].name, file_var);
		if (file != NULL)
		{
			char *v;

			if (file[0] == '\0')
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "environment variable %s: must not be empty", file_var);
			if ((v = read_secret(file_var, file, err)) == NULL)
				return PGW_EINVAL;
			if (*dst != NULL)
				explicit_bzero(*dst, strlen(*dst));
			free(*dst);
			*dst = v;
		}
		else if (plain != NULL)
		{
			/* the two config_env.c already applied stay as they are */
			if (vars[i].off == offsetof(NodeConfig, etcd_password) ||
			    vars[i].off == offsetof(NodeConfig, restapi_password))
				continue;
			if (plain[0] == '\0')
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "environment variable %s: must not be empty", vars[i].name);
			config_set_str(dst, plain);
		}
	}
	return 0;
}

int
config_load_or_env(const char *path, bool may_be_missing, NodeConfig *out,
                   PgwError *err)
{
	int rc = config_load_file(path, out, err);
	char source[600];

	if (rc != PGW_ENOTFOUND || !may_be_missing)
		return rc;
	pgw_error_clear(err);
	snprintf(source, sizeof(source), "<environment; no file %s>", path);
	return config_parse("{}", 2, source, out, err);
}
