/*
 * config_security.c: what a node's configuration opens and what it sends in
 * clear (DESIGN.md promise 6; security review F2, F3, F12, F13, F15): the
 * refusals config_validate() applies, and the notes that --check-config
 * prints and the daemon logs at its start.
 */
#include "config/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

bool
config_rest_has_auth(const NodeConfig *cfg)
{
	return !empty(cfg->restapi_username) ||
	       (cfg->restapi_verify_client != CONFIG_VERIFY_NONE &&
	        !empty(cfg->restapi_certfile));
}

bool
config_rest_writes_open(const NodeConfig *cfg)
{
	return config_rest_has_auth(cfg) || cfg->n_restapi_allowlist > 0 ||
	       cfg->restapi_allowlist_include_members ||
	       cfg->restapi_loopback_writes;
}

int
config_security_validate(const NodeConfig *cfg, PgwError *err)
{
	const char *src = cfg->source ? cfg->source : "<environment>";

	/* F15: "admin:" authenticated when the password was empty */
	if (cfg->restapi_username != NULL && cfg->restapi_username[0] == '\0')
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"restapi.authentication.username\": must not be empty",
		    src);
	if (cfg->restapi_password != NULL && cfg->restapi_password[0] == '\0')
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"restapi.authentication.password\": must not be empty (an empty password is no authentication)",
		    src);
	/* F3: a vouch stops every automatic failover; only a caller that can
	 * prove who it is may ask for one */
	if (cfg->bootstrap_dcs.failsafe_mode && !config_rest_has_auth(cfg))
		return pgw_error_set(
		    err, PGW_EINVAL,
		    "config file %s: key \"bootstrap.dcs.failsafe_mode\": needs restapi.authentication or restapi.verify_client (client certificates), so that only the leader can ask for a failsafe vouch",
		    src);
	return 0;
}

static void note(ConfigNotes *out, bool warn, const char *fmt, ...)
    PGW_PRINTF(3, 4);

static void
note(ConfigNotes *out, bool warn, const char *fmt, ...)
{
	va_list ap;

	if (out->n >= CONFIG_NOTES_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(out->msg[out->n], sizeof(out->msg[0]), fmt, ap);
	va_end(ap);
	out->warn[out->n++] = warn;
}

static bool
listens_on_loopback(const char *listen)
{
	return listen != NULL && (strncmp(listen, "127.", 4) == 0 ||
	                          strncmp(listen, "localhost:", 10) == 0 ||
	                          strncmp(listen, "[::1]", 5) == 0);
}

void
config_security_notes(const NodeConfig *cfg, const char *path, ConfigNotes *out)
{
	struct stat st;
	bool tls = !empty(cfg->restapi_certfile);

	memset(out, 0, sizeof(*out));
	if (!config_rest_writes_open(cfg))
		note(
		    out, false,
		    "REST write endpoints (switchover, failover, restart, reinitialize, reload, config, failsafe) are closed: they answer 403 until restapi.authentication, restapi.verify_client or restapi.allowlist is set (or restapi.allow_unauthenticated_writes_from_loopback: true)");
	else if (!config_rest_has_auth(cfg) && cfg->n_restapi_allowlist == 0 &&
	         !cfg->restapi_allowlist_include_members)
		note(
		    out, true,
		    "REST write endpoints are open without authentication to every local user (restapi.allow_unauthenticated_writes_from_loopback: true)");
	else if (!config_rest_has_auth(cfg))
		note(
		    out, true,
		    "REST write endpoints are open without authentication to the addresses of restapi.allowlist%s",
		    cfg->restapi_loopback_writes ? " and to every local user" : "");
	if (!empty(cfg->restapi_username) && !tls &&
	    !listens_on_loopback(cfg->restapi_listen))
		note(
		    out, true,
		    "restapi.authentication over plain http: the password crosses the network in clear (set restapi.certfile and keyfile)");
	if (cfg->restapi_credentials_over_http)
		note(
		    out, true,
		    "restapi.allow_credentials_over_http: the leader sends restapi.authentication to members' http api_urls (failsafe vouches)");
	if (cfg->n_pg_hba == 0 && empty(cfg->pg_superuser_password))
		note(
		    out, false,
		    "postgresql.authentication.superuser.password is not set: the generated pg_hba.conf lets local connections in by peer authentication only (root and the PostgreSQL OS user as the superuser, other OS users as their own role); nothing is \"trust\"");
	if (cfg->n_pg_hba == 0 && empty(cfg->pg_replication_password))
		note(
		    out, true,
		    "postgresql.authentication.replication.password is not set: replicas cannot connect over TCP (the generated pg_hba.conf has no \"trust\" rule)");
	if (!empty(cfg->etcd_password) &&
	    (cfg->etcd_protocol == NULL ||
	     strcmp(cfg->etcd_protocol, "https") != 0))
		note(
		    out, true,
		    "etcd3.password is sent over plain gRPC (etcd3.protocol is not https): anyone on the path can read it");
	if (path != NULL && stat(path, &st) == 0)
	{
		if (st.st_mode & (S_IWGRP | S_IWOTH))
			note(
			    out, true,
			    "config file %s is writable by group or others (mode %04o): whoever can write it decides what pgwarden, running as root, does",
			    path, (unsigned int) (st.st_mode & 07777));
		if ((st.st_mode & S_IROTH) &&
		    (!empty(cfg->restapi_password) || !empty(cfg->etcd_password) ||
		     !empty(cfg->pg_superuser_password) ||
		     !empty(cfg->pg_replication_password)))
			note(
			    out, true,
			    "config file %s holds passwords and is readable by every user (mode %04o): chmod 600 (or 640 with a trusted group)",
			    path, (unsigned int) (st.st_mode & 07777));
		if (st.st_uid != 0 && st.st_uid != geteuid())
			note(out, true, "config file %s is owned by uid %d, not by root",
			     path, (int) st.st_uid);
	}
}
