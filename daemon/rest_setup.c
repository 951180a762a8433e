/*
 * rest_setup.c: the REST server's settings and teardown (DESIGN.md "REST
 * API"): restapi options copied into the RestServer (access control, etcd
 * for the write endpoints, the TLS files read once at start) and the free
 * of everything it holds. Moved out of rest_server.c, which keeps the HTTP
 * glue and the lifecycle.
 */
#include "daemon/rest_int.h"

#include "common/strutil.h"
#include "common/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0 || n > 1024 * 1024)
	{
		fclose(f);
		return NULL;
	}
	buf = pgw_xmalloc((size_t) n + 1);
	if (fread(buf, 1, (size_t) n, f) != (size_t) n)
	{
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *
dup_opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? pgw_xstrdup(s) : NULL;
}

void
rest_server_free(RestServer *srv)
{
	rest_guard_stop(srv);
	rest_write_close(srv);
	rest_shards_close();
	if (srv->has_snap)
	{
		free(srv->snap.history_json);
		free(srv->snap.config_json);
	}
	free(srv->cert_pem);
	if (srv->key_pem)
		explicit_bzero(srv->key_pem, strlen(srv->key_pem));
	free(srv->key_pem);
	free(srv->ca_pem);
	free(srv->username);
	if (srv->password)
		explicit_bzero(srv->password, strlen(srv->password));
	free(srv->password);
	free(srv->allow);
	for (int i = 0; i < srv->n_allow_names; i++)
		free(srv->allow_names[i]);
	free(srv->allow_names);
	free(srv->etcd_endpoints);
	free(srv->etcd_cacert);
	free(srv->etcd_cert);
	free(srv->etcd_key);
	free(srv->etcd_username);
	free(srv->etcd_password);
	free(srv->prefix);
	free(srv->member_name);
	rest_actions_destroy(srv);
	pthread_cond_destroy(&srv->jobs_cond);
	pthread_mutex_destroy(&srv->jobs_lock);
	pthread_mutex_destroy(&srv->guard_lock);
	pthread_mutex_destroy(&srv->etcd_lock);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

int
rest_server_configure(RestServer *srv, const RestOptions *opt, PgwError *err)
{
	srv->verify_client = opt->verify_client;
	srv->username = dup_opt(opt->username);
	srv->password = dup_opt(opt->password);
	srv->allowlist_include_members = opt->allowlist_include_members;
	srv->allow_loopback_writes = opt->allow_loopback_writes;
	srv->lease_deadline = opt->lease_deadline;
	/* an empty password would make "user:" authenticate (F15) */
	if ((opt->username != NULL && opt->username[0] == '\0' &&
	     opt->password != NULL) ||
	    (srv->username != NULL &&
	     (opt->password == NULL || opt->password[0] == '\0')))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "restapi.authentication: the username and the password must not be empty");
	if (opt->n_allowlist > 0)
	{
		srv->allow = pgw_xcalloc((size_t) opt->n_allowlist, sizeof(RestCidr));
		srv->allow_names =
		    pgw_xcalloc((size_t) opt->n_allowlist, sizeof(char *));
	}
	for (int i = 0; i < opt->n_allowlist; i++)
	{
		const char *e = opt->allowlist[i];

		if (e == NULL || e[0] == '\0')
			return pgw_error_set(err, PGW_EINVAL,
			                     "restapi.allowlist entry %d is empty", i + 1);
		if (rest_cidr_parse(e, &srv->allow[srv->n_allow]) == 0)
			srv->n_allow++;
		else if (strchr(e, '/') == NULL && strchr(e, ':') == NULL)
			srv->allow_names[srv->n_allow_names++] =
			    pgw_xstrdup(e); /* a host name */
		else
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "restapi.allowlist entry \"%s\" is not an address, a network (CIDR) or a host name",
			    e);
	}
	srv->etcd_endpoints = dup_opt(opt->etcd_endpoints);
	srv->etcd_cacert = dup_opt(opt->etcd_cacert);
	srv->etcd_cert = dup_opt(opt->etcd_cert);
	srv->etcd_key = dup_opt(opt->etcd_key);
	srv->etcd_username = dup_opt(opt->etcd_username);
	srv->etcd_password = dup_opt(opt->etcd_password);
	srv->prefix = dup_opt(opt->prefix);
	srv->member_name = dup_opt(opt->member_name);
	if (opt->certfile && opt->certfile[0])
	{
		srv->cert_pem = read_file(opt->certfile);
		srv->key_pem = read_file(opt->keyfile ? opt->keyfile : "");
		if (srv->cert_pem == NULL || srv->key_pem == NULL)
			return pgw_error_set(
			    err, PGW_EINVAL,
			    "could not read REST TLS certificate \"%s\" or key \"%s\"",
			    opt->certfile, opt->keyfile ? opt->keyfile : "");
		if (opt->verify_client != 0)
		{
			if (opt->cafile == NULL || opt->cafile[0] == '\0')
				return pgw_error_set(
				    err, PGW_EINVAL,
				    "restapi.verify_client needs restapi.cafile (the CA that signs client certificates)");
			srv->ca_pem = read_file(opt->cafile);
			if (srv->ca_pem == NULL)
				return pgw_error_set(err, PGW_EINVAL,
				                     "could not read REST TLS CA file \"%s\"",
				                     opt->cafile);
		}
	}
	else if (opt->verify_client != 0)
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "restapi.verify_client needs TLS (restapi.certfile and keyfile)");
	return 0;
}
