/*
 * rest_guard.c: keeps the REST API answerable under a connection flood
 * (security review F4: 64 half-sent requests from one client took the API
 * down, HAProxy's checks and the peers' probes with it). libmicrohttpd
 * bounds connections per client address and in total; its timeout is an
 * idle one that a trickle of bytes resets. This file adds the deadline
 * that trickling cannot extend: every connection is tracked from
 * libmicrohttpd's connection notifications, and a watchdog thread shuts
 * down the socket of one that has not delivered its request headers within
 * REST_HEADER_DEADLINE_MS (since it was accepted, or since its previous
 * request ended) or a write request's body within REST_BODY_DEADLINE_MS.
 * libmicrohttpd then sees end-of-file and closes it the usual way.
 *
 * The socket is shut down with guard_lock held, and a connection leaves
 * the list (CLOSED notification, also under guard_lock) before
 * libmicrohttpd closes its descriptor, so a descriptor number reused by a
 * newer connection is never shut down by mistake.
 */
#include "daemon/rest_int.h"

#include "common/log.h"
#include "common/pgwtime.h"
#include "common/xmem.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define GUARD_TICK_MS      200
#define GUARD_LOG_EVERY_MS 10000

struct RestConn
{
	int fd;
	RestConnPhase phase;
	int64_t phase_start_mono_ms;
	bool shut;
	struct RestConn *prev;
	struct RestConn *next;
};

void
rest_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe)
{
	RestServer *srv = cls;
	RestConn *rc;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		rc = pgw_xcalloc(1, sizeof(RestConn));
		rc->fd = ci != NULL ? ci->connect_fd : -1;
		rc->phase = REST_CONN_WAIT_HEADERS;
		rc->phase_start_mono_ms = pgw_now_mono_ms();
		pthread_mutex_lock(&srv->guard_lock);
		rc->next = srv->conns;
		if (srv->conns != NULL)
			srv->conns->prev = rc;
		srv->conns = rc;
		srv->n_conns++;
		pthread_mutex_unlock(&srv->guard_lock);
		*socket_context = rc;
		return;
	}
	rc = *socket_context;
	if (rc == NULL)
		return;
	pthread_mutex_lock(&srv->guard_lock);
	if (rc->prev != NULL)
		rc->prev->next = rc->next;
	else
		srv->conns = rc->next;
	if (rc->next != NULL)
		rc->next->prev = rc->prev;
	srv->n_conns--;
	pthread_mutex_unlock(&srv->guard_lock);
	free(rc);
	*socket_context = NULL;
}

void
rest_guard_phase(RestServer *srv, struct MHD_Connection *conn,
                 RestConnPhase phase)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	RestConn *rc = ci != NULL ? ci->socket_context : NULL;

	if (rc == NULL)
		return;
	pthread_mutex_lock(&srv->guard_lock);
	if (rc->phase != phase)
	{
		rc->phase = phase;
		rc->phase_start_mono_ms = pgw_now_mono_ms();
	}
	pthread_mutex_unlock(&srv->guard_lock);
}

/* sweep: shut down every connection past its deadline; returns how many */
static int
sweep(RestServer *srv, int64_t now, int *open)
{
	int n = 0;

	pthread_mutex_lock(&srv->guard_lock);
	*open = srv->n_conns;
	for (RestConn *rc = srv->conns; rc != NULL; rc = rc->next)
	{
		int64_t age = now - rc->phase_start_mono_ms;
		bool late =
		    (rc->phase == REST_CONN_WAIT_HEADERS &&
		     age > REST_HEADER_DEADLINE_MS) ||
		    (rc->phase == REST_CONN_RECEIVING && age > REST_BODY_DEADLINE_MS);

		if (late && !rc->shut && rc->fd >= 0)
		{
			(void) shutdown(rc->fd, SHUT_RDWR);
			rc->shut = true;
			n++;
		}
	}
	pthread_mutex_unlock(&srv->guard_lock);
	return n;
}

static void *
guard_main(void *arg)
{
	RestServer *srv = arg;
	int64_t last_log = 0;
	uint64_t since_log = 0;

	while (!__atomic_load_n(&srv->guard_stop, __ATOMIC_ACQUIRE))
	{
		int64_t now = pgw_now_mono_ms();
		int open = 0;
		int n = sweep(srv, now, &open);

		since_log += (uint64_t) n;
		__atomic_add_fetch(&srv->guard_closed_total, (uint64_t) n,
		                   __ATOMIC_RELAXED);
		/* a flood closes thousands: say so once per interval, not each */
		if (since_log > 0 && now - last_log >= GUARD_LOG_EVERY_MS)
		{
			log_warn(
			    "rest.slow-clients-closed",
			    "count=%llu header_deadline_ms=%d body_deadline_ms=%d open=%d",
			    (unsigned long long) since_log, REST_HEADER_DEADLINE_MS,
			    REST_BODY_DEADLINE_MS, open);
			since_log = 0;
			last_log = now;
		}
		pgw_sleep_ms(GUARD_TICK_MS);
	}
	return NULL;
}

int
rest_guard_start(RestServer *srv)
{
	__atomic_store_n(&srv->guard_stop, false, __ATOMIC_RELEASE);
	if (pthread_create(&srv->guard_thread, NULL, guard_main, srv) != 0)
		return PGW_EIO;
	srv->guard_started = true;
	return 0;
}

void
rest_guard_stop(RestServer *srv)
{
	if (!srv->guard_started)
		return;
	__atomic_store_n(&srv->guard_stop, true, __ATOMIC_RELEASE);
	pthread_join(srv->guard_thread, NULL);
	srv->guard_started = false;
}

uint64_t
rest_guard_closed_total(RestServer *srv)
{
	return srv ? __atomic_load_n(&srv->guard_closed_total, __ATOMIC_RELAXED)
	           : 0;
}
