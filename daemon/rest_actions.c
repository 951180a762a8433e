/*
 * rest_actions.c: actions only the loop may carry out (restart, reload,
 * reinitialize, cancel a scheduled restart). The REST thread queues one and
 * waits, bounded, for the loop's answer; the loop polls rest_action_fd(),
 * pops with rest_action_next() and answers with rest_action_done(). An
 * action whose submitter gave up while still queued is withdrawn, so the
 * loop never runs a request nobody waits for any more.
 */
#include "daemon/rest_int.h"

#include "common/pgwtime.h"
#include "common/strutil.h"
#include "common/xmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int
rest_actions_init(RestServer *srv)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&srv->aq_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->aq_cond, &ca);
	pthread_condattr_destroy(&ca);
	srv->aq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->aq_next_ticket = 1;
	return srv->aq_fd < 0 ? PGW_EIO : 0;
}

void
rest_actions_destroy(RestServer *srv)
{
	RestActionItem *it = srv->aq_head;

	/* only called after the HTTP threads stopped: nobody waits */
	while (it != NULL)
	{
		RestActionItem *next = it->next;

		free(it);
		it = next;
	}
	srv->aq_head = NULL;
	if (srv->aq_fd >= 0)
		close(srv->aq_fd);
	pthread_cond_destroy(&srv->aq_cond);
	pthread_mutex_destroy(&srv->aq_lock);
}

static void
unlink_item(RestServer *srv, RestActionItem *item)
{
	RestActionItem **pp = &srv->aq_head;

	while (*pp != NULL && *pp != item)
		pp = &(*pp)->next;
	if (*pp == item)
		*pp = item->next;
}

static bool
any_queued(const RestServer *srv)
{
	for (const RestActionItem *it = srv->aq_head; it != NULL; it = it->next)
		if (it->queued)
			return true;
	return false;
}

static void
drain_fd(RestServer *srv)
{
	uint64_t v;

	while (read(srv->aq_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

int
rest_action_submit(RestServer *s, RestAction *a, int wait_ms, char *msg,
                   size_t msg_len)
{
	RestActionItem *item = pgw_xcalloc(1, sizeof(RestActionItem));
	RestActionItem **tail;
	struct timespec deadline;
	int64_t dl_ms = pgw_now_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	uint64_t one = 1;
	int status;

	deadline.tv_sec = dl_ms / 1000;
	deadline.tv_nsec = (long) (dl_ms % 1000) * 1000000L;
	pthread_mutex_lock(&s->aq_lock);
	a->ticket = s->aq_next_ticket++;
	item->action = *a;
	item->queued = true;
	for (tail = &s->aq_head; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = item;
	if (write(s->aq_fd, &one, sizeof(one)) < 0)
	{
		/* the counter cannot overflow with one write per action */
	}
	while (!item->answered && !__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
	{
		int rc = pthread_cond_timedwait(&s->aq_cond, &s->aq_lock, &deadline);

		if (rc == ETIMEDOUT)
			break;
	}
	if (item->answered)
	{
		status = item->http_status;
		pgw_strlcpy(msg, item->msg, msg_len);
		unlink_item(s, item);
		free(item);
	}
	else
	{
		status = 503;
		pgw_strlcpy(
		    msg,
		    item->queued
		        ? "timed out waiting for the HA loop"
		        : "timed out waiting for the HA loop to finish the action (it is still running)",
		    msg_len);
		if (item->queued)
		{
			/* withdrawn: the loop never sees it */
			unlink_item(s, item);
			free(item);
			if (!any_queued(s))
				drain_fd(s);
		}
		else
			item->abandoned = true; /* rest_action_done frees it */
	}
	pthread_mutex_unlock(&s->aq_lock);
	return status;
}

int
rest_action_fd(RestServer *s)
{
	return s->aq_fd;
}

bool
rest_action_next(RestServer *s, RestAction *out)
{
	bool found = false;

	pthread_mutex_lock(&s->aq_lock);
	for (RestActionItem *it = s->aq_head; it != NULL; it = it->next)
		if (it->queued)
		{
			it->queued = false;
			*out = it->action;
			found = true;
			break;
		}
	if (!any_queued(s))
		drain_fd(s);
	pthread_mutex_unlock(&s->aq_lock);
	return found;
}

void
rest_actions_wake(RestServer *srv)
{
	pthread_mutex_lock(&srv->aq_lock);
	pthread_cond_broadcast(&srv->aq_cond);
	pthread_mutex_unlock(&srv->aq_lock);
}

void
rest_action_done(RestServer *s, uint64_t ticket, int http_status,
                 const char *msg)
{
	pthread_mutex_lock(&s->aq_lock);
	for (RestActionItem *it = s->aq_head; it != NULL; it = it->next)
		if (it->action.ticket == ticket && !it->queued && !it->answered)
		{
			if (it->abandoned)
			{
				unlink_item(s, it);
				free(it);
				break;
			}
			it->answered = true;
			it->http_status = http_status;
			pgw_strlcpy(it->msg, msg ? msg : "", sizeof(it->msg));
			pthread_cond_broadcast(&s->aq_cond);
			break;
		}
	pthread_mutex_unlock(&s->aq_lock);
}
