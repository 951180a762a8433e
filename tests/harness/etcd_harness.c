/*
 * etcd_harness.c: real etcd members for tests, see etcd_harness.h. Built on
 * proc.h (spawn, kill, ports, temp dirs, polls).
 */
#include "tests/harness/etcd_harness.h"

#include "tests/harness/proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct EtcdMember
{
	char name[16];
	int client_port;
	int peer_port;
	char endpoint[64]; /* 127.0.0.1:port */
	char data_dir[600];
	char log_path[600];
	pid_t pid; /* 0 when stopped */
} EtcdMember;

struct EtcdCluster
{
	int n;
	bool tls;
	char *dir;
	char endpoints[ETCD_HARNESS_MEMBERS_MAX * 64];
	char initial_cluster[ETCD_HARNESS_MEMBERS_MAX * 96];
	char token[64];
	char ca[600];
	char ca_key[600];
	char server_cert[600];
	char server_key[600];
	char client_cert[600];
	char client_key[600];
	char rogue_ca[600];
	char rogue_ca_key[600];
	char rogue_cert[600];
	char rogue_key[600];
	char ctl_log[600];
	EtcdMember m[ETCD_HARNESS_MEMBERS_MAX];
};

static bool
run_openssl(EtcdCluster *c, const char *const *args)
{
	char log[700];
	int rc;

	snprintf(log, sizeof(log), "%s/openssl.log", c->dir);
	rc = harness_run((char *const *) args, log, NULL, 30000);
	if (rc != 0)
		fprintf(stderr, "etcd_harness: openssl %s failed (exit %d), see %s\n",
		        args[1], rc, log);
	return rc == 0;
}

static bool
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

/* make_ca: a self-signed P-256 CA. */
static bool
make_ca(EtcdCluster *c, const char *crt, const char *key, const char *cn)
{
	char subj[128];
	const char *args[] = {"openssl",
	                      "req",
	                      "-x509",
	                      "-newkey",
	                      "ec",
	                      "-pkeyopt",
	                      "ec_paramgen_curve:prime256v1",
	                      "-nodes",
	                      "-keyout",
	                      key,
	                      "-out",
	                      crt,
	                      "-days",
	                      "2",
	                      "-subj",
	                      subj,
	                      NULL};

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	return run_openssl(c, args);
}

/* make_cert: a key and a certificate signed by ca with the given extensions. */
static bool
make_cert(EtcdCluster *c, const char *ca_crt, const char *ca_key,
          const char *crt, const char *key, const char *cn, const char *ext)
{
	char csr[700];
	char extf[700];
	char subj[128];
	const char *req[] = {"openssl", "req",      "-newkey",
	                     "ec",      "-pkeyopt", "ec_paramgen_curve:prime256v1",
	                     "-nodes",  "-keyout",  key,
	                     "-out",    csr,        "-subj",
	                     subj,      NULL};
	const char *sign[] = {
	    "openssl", "x509", "-req",   "-in",  csr,
	    "-CA",     ca_crt, "-CAkey", ca_key, "-CAcreateserial",
	    "-out",    crt,    "-days",  "2",    "-extfile",
	    extf,      NULL};

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	snprintf(csr, sizeof(csr), "%s.csr", crt);
	snprintf(extf, sizeof(extf), "%s.ext", crt);
	if (!write_file(extf, ext))
		return false;
	return run_openssl(c, req) && run_openssl(c, sign);
}

static bool
make_tls(EtcdCluster *c)
{
	char rogue_dir[700];

	snprintf(c->ca, sizeof(c->ca), "%s/ca.crt", c->dir);
	snprintf(c->ca_key, sizeof(c->ca_key), "%s/ca.key", c->dir);
	snprintf(c->server_cert, sizeof(c->server_cert), "%s/server.crt", c->dir);
	snprintf(c->server_key, sizeof(c->server_key), "%s/server.key", c->dir);
	snprintf(c->client_cert, sizeof(c->client_cert), "%s/client.crt", c->dir);
	snprintf(c->client_key, sizeof(c->client_key), "%s/client.key", c->dir);
	snprintf(rogue_dir, sizeof(rogue_dir), "%s", c->dir);
	snprintf(c->rogue_ca, sizeof(c->rogue_ca), "%s/rogue-ca.crt", rogue_dir);
	snprintf(c->rogue_ca_key, sizeof(c->rogue_ca_key), "%s/rogue-ca.key",
	         rogue_dir);
	snprintf(c->rogue_cert, sizeof(c->rogue_cert), "%s/rogue.crt", rogue_dir);
	snprintf(c->rogue_key, sizeof(c->rogue_key), "%s/rogue.key", rogue_dir);
	return make_ca(c, c->ca, c->ca_key, "pgwarden-test-ca") &&
	       make_cert(c, c->ca, c->ca_key, c->server_cert, c->server_key,
	                 "localhost",
	                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
	                 "extendedKeyUsage=serverAuth,clientAuth\n") &&
	       make_cert(c, c->ca, c->ca_key, c->client_cert, c->client_key,
	                 "pgwarden-client", "extendedKeyUsage=clientAuth\n") &&
	       make_ca(c, c->rogue_ca, c->rogue_ca_key, "rogue-ca") &&
	       make_cert(c, c->rogue_ca, c->rogue_ca_key, c->rogue_cert,
	                 c->rogue_key, "rogue-client",
	                 "extendedKeyUsage=clientAuth\n");
}

static pid_t
spawn_member(EtcdCluster *c, int i)
{
	EtcdMember *m = &c->m[i];
	const char *scheme = c->tls ? "https" : "http";
	char client_url[96];
	char peer_url[96];
	const char *argv[40];
	int n = 0;

	snprintf(client_url, sizeof(client_url), "%s://127.0.0.1:%d", scheme,
	         m->client_port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", m->peer_port);
	argv[n++] = "etcd";
	argv[n++] = "--name";
	argv[n++] = m->name;
	argv[n++] = "--data-dir";
	argv[n++] = m->data_dir;
	argv[n++] = "--listen-client-urls";
	argv[n++] = client_url;
	argv[n++] = "--advertise-client-urls";
	argv[n++] = client_url;
	argv[n++] = "--listen-peer-urls";
	argv[n++] = peer_url;
	argv[n++] = "--initial-advertise-peer-urls";
	argv[n++] = peer_url;
	argv[n++] = "--initial-cluster";
	argv[n++] = c->initial_cluster;
	argv[n++] = "--initial-cluster-token";
	argv[n++] = c->token;
	argv[n++] = "--initial-cluster-state";
	argv[n++] = "new";
	/* fast raft: elections in about a second */
	argv[n++] = "--heartbeat-interval";
	argv[n++] = "50";
	argv[n++] = "--election-timeout";
	argv[n++] = "500";
	argv[n++] = "--logger";
	argv[n++] = "zap";
	if (c->tls)
	{
		argv[n++] = "--cert-file";
		argv[n++] = c->server_cert;
		argv[n++] = "--key-file";
		argv[n++] = c->server_key;
		argv[n++] = "--trusted-ca-file";
		argv[n++] = c->ca;
		argv[n++] = "--client-cert-auth";
	}
	argv[n] = NULL;
	m->pid = harness_spawn((char *const *) argv, m->log_path, NULL);
	return m->pid;
}

static int
etcdctl_at(EtcdCluster *c, const char *endpoints, const char *const args[],
           int timeout_ms)
{
	const char *argv[48];
	char ep[ETCD_HARNESS_MEMBERS_MAX * 80];
	char cacert[700];
	char cert[700];
	char key[700];
	int n = 0;

	snprintf(ep, sizeof(ep), "--endpoints=%s", endpoints);
	argv[n++] = "etcdctl";
	argv[n++] = ep;
	argv[n++] = "--dial-timeout=2s";
	argv[n++] = "--command-timeout=5s";
	if (c->tls)
	{
		snprintf(cacert, sizeof(cacert), "--cacert=%s", c->ca);
		snprintf(cert, sizeof(cert), "--cert=%s", c->client_cert);
		snprintf(key, sizeof(key), "--key=%s", c->client_key);
		argv[n++] = cacert;
		argv[n++] = cert;
		argv[n++] = key;
	}
	for (int i = 0; args[i] && n < 46; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return harness_run((char *const *) argv, c->ctl_log, NULL, timeout_ms);
}

int
etcd_harness_etcdctl(EtcdCluster *c, const char *const args[])
{
	char eps[ETCD_HARNESS_MEMBERS_MAX * 80] = "";

	/* etcdctl wants URLs when TLS is on */
	for (int i = 0; i < c->n; i++)
	{
		size_t l = strlen(eps);

		snprintf(eps + l, sizeof(eps) - l, "%s%s://%s", i ? "," : "",
		         c->tls ? "https" : "http", c->m[i].endpoint);
	}
	return etcdctl_at(c, eps, args, 15000);
}

bool
etcd_harness_wait_healthy(EtcdCluster *c, int i, int timeout_ms)
{
	char ep[96];
	const char *args[] = {"endpoint", "health", NULL};

	snprintf(ep, sizeof(ep), "%s://%s", c->tls ? "https" : "http",
	         c->m[i].endpoint);
	return HARNESS_POLL(c->m[i].pid > 0 && harness_alive(c->m[i].pid) &&
	                        etcdctl_at(c, ep, args, 10000) == 0,
	                    timeout_ms, 100);
}

EtcdCluster *
etcd_harness_start(int members, bool tls)
{
	EtcdCluster *c;
	int wait_ms = 30000 * harness_timeout_mult();

	if (members < 1 || members > ETCD_HARNESS_MEMBERS_MAX)
	{
		fprintf(stderr, "etcd_harness: %d members is out of range\n", members);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->n = members;
	c->tls = tls;
	c->dir = harness_tmpdir("etcd");
	snprintf(c->ctl_log, sizeof(c->ctl_log), "%s/etcdctl.log", c->dir);
	snprintf(c->token, sizeof(c->token), "pgw-%d-%lld", (int) getpid(),
	         (long long) harness_now_ms());
	if (tls && !make_tls(c))
	{
		free(c->dir);
		free(c);
		return NULL;
	}
	for (int i = 0; i < members; i++)
	{
		EtcdMember *m = &c->m[i];
		char piece[128];
		size_t l;

		snprintf(m->name, sizeof(m->name), "m%d", i);
		m->client_port = harness_free_port();
		m->peer_port = harness_free_port();
		snprintf(m->endpoint, sizeof(m->endpoint), "127.0.0.1:%d",
		         m->client_port);
		snprintf(m->data_dir, sizeof(m->data_dir), "%s/m%d.data", c->dir, i);
		snprintf(m->log_path, sizeof(m->log_path), "%s/m%d.log", c->dir, i);
		snprintf(piece, sizeof(piece), "%s%s", i ? "," : "", m->endpoint);
		l = strlen(c->endpoints);
		snprintf(c->endpoints + l, sizeof(c->endpoints) - l, "%s", piece);
		snprintf(piece, sizeof(piece), "%s%s=http://127.0.0.1:%d", i ? "," : "",
		         m->name, m->peer_port);
		l = strlen(c->initial_cluster);
		snprintf(c->initial_cluster + l, sizeof(c->initial_cluster) - l, "%s",
		         piece);
	}
	for (int i = 0; i < members; i++)
	{
		if (spawn_member(c, i) <= 0)
		{
			fprintf(stderr, "etcd_harness: could not spawn etcd\n");
			etcd_harness_stop(c);
			return NULL;
		}
	}
	for (int i = 0; i < members; i++)
	{
		if (!etcd_harness_wait_healthy(c, i, wait_ms))
		{
			fprintf(
			    stderr,
			    "etcd_harness: member %s (%s) not healthy after %d ms; log: %s\n",
			    c->m[i].name, c->m[i].endpoint, wait_ms, c->m[i].log_path);
			etcd_harness_stop(c);
			return NULL;
		}
	}
	return c;
}

const char *
etcd_harness_endpoints(EtcdCluster *c)
{
	return c->endpoints;
}

const char *
etcd_harness_member_endpoint(EtcdCluster *c, int i)
{
	return c->m[i].endpoint;
}

int
etcd_harness_members(EtcdCluster *c)
{
	return c->n;
}

pid_t
etcd_harness_member_pid(EtcdCluster *c, int i)
{
	return c->m[i].pid;
}

void
etcd_harness_kill_member(EtcdCluster *c, int i, int sig)
{
	EtcdMember *m = &c->m[i];

	if (m->pid <= 0)
		return;
	if (sig == SIGSTOP || sig == SIGCONT)
	{
		kill(-m->pid, sig);
		return;
	}
	kill(-m->pid, SIGCONT); /* a frozen member must be able to die */
	harness_kill(m->pid, sig, 5000);
	m->pid = 0;
}

bool
etcd_harness_restart_member(EtcdCluster *c, int i, bool wait_healthy)
{
	if (c->m[i].pid > 0)
		etcd_harness_kill_member(c, i, SIGTERM);
	if (spawn_member(c, i) <= 0)
		return false;
	if (!wait_healthy)
		return HARNESS_POLL(harness_alive(c->m[i].pid) &&
		                        harness_wait_port(c->m[i].client_port, 100),
		                    10000 * harness_timeout_mult(), 50);
	return etcd_harness_wait_healthy(c, i, 30000 * harness_timeout_mult());
}

void
etcd_harness_stop(EtcdCluster *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < c->n; i++)
		etcd_harness_kill_member(c, i, SIGTERM);
	free(c->dir);
	free(c);
}

const char *
etcd_harness_ca_file(EtcdCluster *c)
{
	return c->tls ? c->ca : NULL;
}

const char *
etcd_harness_client_cert_file(EtcdCluster *c)
{
	return c->tls ? c->client_cert : NULL;
}

const char *
etcd_harness_client_key_file(EtcdCluster *c)
{
	return c->tls ? c->client_key : NULL;
}

const char *
etcd_harness_rogue_cert_file(EtcdCluster *c)
{
	return c->tls ? c->rogue_cert : NULL;
}

const char *
etcd_harness_rogue_key_file(EtcdCluster *c)
{
	return c->tls ? c->rogue_key : NULL;
}

const char *
etcd_harness_rogue_ca_file(EtcdCluster *c)
{
	return c->tls ? c->rogue_ca : NULL;
}

const char *
etcd_harness_dir(EtcdCluster *c)
{
	return c->dir;
}
