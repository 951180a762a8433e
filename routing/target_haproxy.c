/*
 * target_haproxy.c: flip HAProxy 2.6 through its runtime API on the stats
 * socket (notes R1 §1.5) instead of waiting for fall x inter failed health
 * checks: `set server ... state maint` + `shutdown sessions server` for
 * every rw server that is not the primary (fence first), then `set server
 * ... addr`, `state ready` and `health up` for the primary; verified with
 * `show servers state`, whose dump is also kept in server_state_file so a
 * reload with load-server-state-from-file does not undo it.
 */
#include "routing/routing_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/strutil.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
haproxy_command(const char *socket_path, const char *cmd, int64_t timeout_ms,
                char *out, size_t out_len, PgwError *err)
{
	struct sockaddr_un sa = {0};
	int64_t deadline = pgw_now_mono_ms() + timeout_ms;
	size_t used = 0;
	size_t off = 0;
	char line[ROUTING_HOST_MAX + 200];
	int fd;
	int n;

	if (out_len > 0)
		out[0] = '\0';
	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t) n >= sizeof(line))
		return pgw_error_set(err, PGW_EINVAL, "HAProxy command too long");
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return pgw_error_set(err, PGW_EINVAL, "socket path \"%s\" too long",
		                     socket_path);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pgw_error_set(err, PGW_EIO, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
	{
		int e = errno;

		close(fd);
		return pgw_error_set(err, PGW_EUNAVAILABLE,
		                     "could not connect to HAProxy socket \"%s\": %s",
		                     socket_path, strerror(e));
	}
	while (off < (size_t) n)
	{
		ssize_t w = write(fd, line + off, (size_t) n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
		{
			int e = errno;

			close(fd);
			return pgw_error_set(err, PGW_EUNAVAILABLE,
			                     "could not send \"%s\" to HAProxy: %s", cmd,
			                     strerror(e));
		}
		off += (size_t) w;
	}
	for (;;)
	{
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - pgw_now_mono_ms();
		char tmp[4096];
		ssize_t r;

		if (left <= 0)
		{
			close(fd);
			return pgw_error_set(err, PGW_ETIMEDOUT,
			                     "HAProxy did not answer \"%s\" within %lld ms",
			                     cmd, (long long) timeout_ms);
		}
		if (poll(&pfd, 1, (int) left) <= 0)
			continue;
		r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out_len > 0 && used < out_len - 1)
		{
			size_t take = (size_t) r;

			if (take > out_len - 1 - used)
				take = out_len - 1 - used;
			memcpy(out + used, tmp, take);
			used += take;
			out[used] = '\0';
		}
	}
	close(fd);
	return 0;
}

int
haproxy_servers_parse(const char *text, const char *backend, HaproxyServer *out,
                      int max, PgwError *err)
{
	const char *p = text;
	int n = 0;
	bool first = true;

	while (*p)
	{
		size_t len = strcspn(p, "\n");
		char line[1024];
		char *f[24];
		int nf = 0;
		char *s;

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
		if (first)
		{
			first = false;
			if (strcmp(line, "1") != 0)
				return pgw_error_set(
				    err, PGW_EBADRESPONSE,
				    "show servers state: format \"%s\" is not version 1", line);
			continue;
		}
		if (line[0] == '#' || line[0] == '\0')
			continue;
		s = line;
		while (nf < 24 && *s)
		{
			while (*s == ' ')
				*s++ = '\0';
			if (*s == '\0')
				break;
			f[nf++] = s;
			s += strcspn(s, " ");
		}
		if (nf < 19)
			return pgw_error_set(err, PGW_EBADRESPONSE,
			                     "show servers state: short line \"%.80s\"",
			                     line);
		if (strcmp(f[1], backend) != 0)
			continue;
		if (n >= max)
			break;
		memset(&out[n], 0, sizeof(out[n]));
		pgw_strlcpy(out[n].name, f[3], sizeof(out[n].name));
		pgw_strlcpy(out[n].addr, f[4], sizeof(out[n].addr));
		out[n].op_state = (int) strtol(f[5], NULL, 10);
		out[n].admin_state = (int) strtol(f[6], NULL, 10);
		out[n].weight = (int) strtol(f[7], NULL, 10);
		out[n].check_state = (int) strtol(f[13], NULL, 10);
		out[n].port = (int) strtol(f[18], NULL, 10);
		n++;
	}
	return n;
}

static void add(HaproxyCmds *out, const char *fmt, ...) PGW_PRINTF(2, 3);

static void
add(HaproxyCmds *out, const char *fmt, ...)
{
	va_list ap;

	if (out->n >= HAPROXY_CMDS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(out->cmd[out->n], sizeof(out->cmd[0]), fmt, ap);
	va_end(ap);
	out->n++;
}

/* the endpoint server s should serve in this backend, or NULL (maint) */
static const RoutingEndpoint *
wanted(const TargetConfig *cfg, const RoutingTable *t, bool is_ro,
       const char *server, int *weight)
{
	*weight = ROUTING_WEIGHT_DEFAULT;
	if (!is_ro)
	{
		if (t->state == ROUTING_STATE_SERVING && t->has_primary &&
		    strcmp(t->primary.name, server) == 0)
			return &t->primary;
		return NULL;
	}
	for (int i = 0; i < t->n_replicas; i++)
		if (t->replicas[i].weight > 0 &&
		    strcmp(t->replicas[i].ep.name, server) == 0)
		{
			*weight = t->replicas[i].weight;
			return &t->replicas[i].ep;
		}
	if (cfg->ro_fallback_primary && t->has_primary &&
	    t->state == ROUTING_STATE_SERVING &&
	    strcmp(t->primary.name, server) == 0)
	{
		for (int i = 0; i < t->n_replicas; i++)
			if (t->replicas[i].weight > 0)
				return NULL;
		return &t->primary;
	}
	return NULL;
}

int
haproxy_commands_build(const TargetConfig *cfg, const RoutingTable *t,
                       bool is_ro, const HaproxyServer *servers, int n,
                       HaproxyCmds *out, PgwError *err)
{
	const char *be = is_ro ? cfg->ro_backend : cfg->rw_backend;
	bool primary_found = false;
	int w;

	memset(out, 0, sizeof(*out));
	/* fence first: everything that must stop */
	for (int i = 0; i < n; i++)
	{
		if (wanted(cfg, t, is_ro, servers[i].name, &w) != NULL)
			continue;
		add(out, "set server %s/%s state maint", be, servers[i].name);
		if (!is_ro)
			add(out, "shutdown sessions server %s/%s", be, servers[i].name);
	}
	/* then point */
	for (int i = 0; i < n; i++)
	{
		const RoutingEndpoint *ep = wanted(cfg, t, is_ro, servers[i].name, &w);

		if (ep == NULL)
			continue;
		if (!is_ro)
			primary_found = true;
		if (strcmp(servers[i].addr, ep->host) != 0 ||
		    servers[i].port != ep->port)
			add(out, "set server %s/%s addr %s port %d", be, servers[i].name,
			    ep->host, ep->port);
		if (is_ro && servers[i].weight != w)
			add(out, "set server %s/%s weight %d", be, servers[i].name, w);
		add(out, "set server %s/%s state ready", be, servers[i].name);
		if (servers[i].check_state & HAPROXY_CHK_CONFIGURED)
			add(out, "set server %s/%s health up", be, servers[i].name);
	}
	if (!is_ro && t->state == ROUTING_STATE_SERVING && !primary_found)
		return pgw_error_set(
		    err, PGW_ENOTFOUND,
		    "HAProxy backend \"%s\" has no server named \"%s\" (the primary): writes stay cut",
		    be, t->primary.name);
	return 0;
}

int
haproxy_verify(const TargetConfig *cfg, const RoutingTable *t, bool is_ro,
               const HaproxyServer *servers, int n, PgwError *err)
{
	const char *be = is_ro ? cfg->ro_backend : cfg->rw_backend;
	int w;

	for (int i = 0; i < n; i++)
	{
		const RoutingEndpoint *ep = wanted(cfg, t, is_ro, servers[i].name, &w);
		bool maint = (servers[i].admin_state & 0x01) != 0;

		if (ep == NULL && !maint)
			return pgw_error_set(err, PGW_ESTATE,
			                     "HAProxy server %s/%s is not in maint", be,
			                     servers[i].name);
		if (ep != NULL && (maint || strcmp(servers[i].addr, ep->host) != 0 ||
		                   servers[i].port != ep->port))
			return pgw_error_set(
			    err, PGW_ESTATE,
			    "HAProxy server %s/%s is %s at %s:%d, want ready at %s:%d", be,
			    servers[i].name, maint ? "in maint" : "ready", servers[i].addr,
			    servers[i].port, ep->host, ep->port);
	}
	return 0;
}

static int
apply_backend(const TargetConfig *cfg, const RoutingTable *t, bool is_ro,
              char *buf, size_t buflen, PgwError *err)
{
	const char *be = is_ro ? cfg->ro_backend : cfg->rw_backend;
	HaproxyServer *servers = calloc(HAPROXY_SERVERS_MAX, sizeof(*servers));
	HaproxyCmds *cmds = calloc(1, sizeof(*cmds));
	char cmd[160];
	int n;
	int rc;
	int build_rc;

	if (servers == NULL || cmds == NULL)
		abort();
	snprintf(cmd, sizeof(cmd), "show servers state %s", be);
	if ((rc = haproxy_command(cfg->socket, cmd, cfg->timeout_ms, buf, buflen,
	                          err)) != 0)
		goto out;
	if ((rc = n = haproxy_servers_parse(buf, be, servers, HAPROXY_SERVERS_MAX,
	                                    err)) < 0)
		goto out;
	if (n == 0)
	{
		rc = pgw_error_set(
		    err, PGW_ENOTFOUND,
		    "HAProxy has no backend \"%s\" or it has no servers: %.120s", be,
		    buf);
		goto out;
	}
	build_rc = haproxy_commands_build(cfg, t, is_ro, servers, n, cmds, err);
	for (int i = 0; i < cmds->n; i++)
	{
		log_info("router.haproxy.command", "command=\"%s\"", cmds->cmd[i]);
		if ((rc = haproxy_command(cfg->socket, cmds->cmd[i], cfg->timeout_ms,
		                          buf, buflen, err)) != 0)
			goto out;
		/* `set server` answers nothing on success; addr changes answer
		 * "IP changed from ..." / "no need to change"; anything else is a
		 * refusal */
		buf[strcspn(buf, "\n")] = '\0';
		if (buf[0] != '\0' && strstr(buf, "changed") == NULL &&
		    strstr(buf, "no need to change") == NULL)
		{
			rc = pgw_error_set(err, PGW_ESTATE, "HAProxy refused \"%s\": %s",
			                   cmds->cmd[i], buf);
			goto out;
		}
	}
	if (build_rc != 0)
	{
		rc = build_rc;
		goto out;
	}
	if ((rc = haproxy_command(cfg->socket, cmd, cfg->timeout_ms, buf, buflen,
	                          err)) != 0)
		goto out;
	if ((rc = n = haproxy_servers_parse(buf, be, servers, HAPROXY_SERVERS_MAX,
	                                    err)) < 0)
		goto out;
	rc = haproxy_verify(cfg, t, is_ro, servers, n, err);
out:
	free(servers);
	free(cmds);
	return rc;
}

int
haproxy_apply(const TargetConfig *cfg, const RoutingTable *t, PgwError *err)
{
	size_t buflen = 1 << 16;
	char *buf = malloc(buflen);
	int rc;

	if (buf == NULL)
		abort();
	rc = apply_backend(cfg, t, false, buf, buflen, err);
	if (rc == 0 && cfg->ro_backend[0] != '\0')
		rc = apply_backend(cfg, t, true, buf, buflen, err);
	if (rc == 0 && cfg->server_state_file[0] != '\0')
	{
		if ((rc = haproxy_command(cfg->socket, "show servers state",
		                          cfg->timeout_ms, buf, buflen, err)) == 0)
			rc = router_write_atomic(cfg->server_state_file, buf, strlen(buf),
			                         0644, err);
	}
	free(buf);
	if (rc != 0)
		pgw_error_prefix(err, "haproxy target");
	return rc;
}
