/*
 * test_daemon_publisher.c: when members/<name> is written (daemon/
 * publisher.c, issue 18): an unchanged value is never written again, however
 * long the cluster idles; a changed one is written within one loop (content
 * at once, WAL positions a loop after the last write at most); a key etcd
 * lost is written back.
 */
#include "daemon/publisher.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define LEASE   0x7f3a
#define T0      1000000
#define LOOP    1000
#define TTL     10000
#define MAX_LAG (1024 * 1024)

static const PublishLimits lim = {LOOP, TTL, MAX_LAG};

static void
replica(MemberInfo *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "node2");
	snprintf(m->conn_url, sizeof(m->conn_url),
	         "postgres://127.0.0.1:5433/postgres");
	snprintf(m->api_url, sizeof(m->api_url), "http://127.0.0.1:8009/patroni");
	snprintf(m->version, sizeof(m->version), "0.1.0");
	snprintf(m->reason, sizeof(m->reason),
	         "replica-following-leader: following leader node1 at 0/3000060");
	m->role = MEMBER_ROLE_REPLICA;
	m->state = MEMBER_STATE_RUNNING;
	m->timeline = 2;
	m->xlog_location = 0x3000060;
	m->received_location = 0x3000060;
	m->replayed_location = 0x3000060;
	m->failover_priority = 1;
	m->is_valid = true;
}

/* in_view: what the watch-fed view holds after our write */
static MemberInfo
in_view(const MemberInfo *m)
{
	MemberInfo v = *m;

	v.lease = LEASE;
	return v;
}

static MemberWrite
due(const MemberPublisher *p, const MemberInfo *m, uint32_t shape,
    const MemberInfo *view, int64_t now)
{
	return publisher_member_due(p, m, shape, LEASE, view, true, &lim, now);
}

/* an idle cluster: the same value is never written twice */
static void
test_unchanged_not_written(void **state)
{
	MemberPublisher p = {0};
	MemberInfo m;
	MemberInfo v;

	(void) state;
	replica(&m);
	assert_int_equal(due(&p, &m, 11, NULL, T0), MEMBER_WRITE_FIRST);
	publisher_member_written(&p, &m, 11, LEASE, T0);
	v = in_view(&m);
	/* the next turns, a ttl later, an hour later */
	for (int64_t t = T0 + LOOP; t < T0 + 3600 * 1000; t += 997)
		assert_int_equal(due(&p, &m, 11, &v, t), MEMBER_WRITE_NONE);
	/* a reason whose only difference is a moving number (same shape) */
	snprintf(m.reason, sizeof(m.reason),
	         "replica-following-leader: following leader node1 at 0/3000068");
	assert_int_equal(due(&p, &m, 11, &v, T0 + 3 * TTL), MEMBER_WRITE_NONE);
}

/* content is news at once, in the turn that sees it */
static void
test_content_written_at_once(void **state)
{
	MemberPublisher p = {0};
	MemberInfo m;
	MemberInfo v;
	MemberInfo c;

	(void) state;
	replica(&m);
	publisher_member_written(&p, &m, 11, LEASE, T0);
	v = in_view(&m);

	c = m;
	c.role = MEMBER_ROLE_PRIMARY;
	assert_int_equal(due(&p, &c, 11, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	c = m;
	c.state = MEMBER_STATE_STOPPED;
	assert_int_equal(due(&p, &c, 11, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	c = m;
	c.timeline = 3;
	assert_int_equal(due(&p, &c, 11, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	c = m;
	c.pending_restart = true;
	assert_int_equal(due(&p, &c, 11, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	c = m;
	c.nofailover = true;
	assert_int_equal(due(&p, &c, 11, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	c = m;
	snprintf(c.conn_url, sizeof(c.conn_url),
	         "postgres://127.0.0.1:6000/postgres");
	assert_int_equal(due(&p, &c, 11, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	/* another reason (a new shape): following another leader */
	assert_int_equal(due(&p, &m, 12, &v, T0 + 1), MEMBER_WRITE_CONTENT);
	/* written: then quiet again */
	c = m;
	c.role = MEMBER_ROLE_PRIMARY;
	publisher_member_written(&p, &c, 11, LEASE, T0 + 1);
	v = in_view(&c);
	assert_int_equal(due(&p, &c, 11, &v, T0 + 5 * TTL), MEMBER_WRITE_NONE);
}

/* WAL positions: at most once a loop, and only when a lag decision could
 * tell, or the key is a ttl old */
static void
test_positions(void **state)
{
	MemberPublisher p = {0};
	MemberInfo m;
	MemberInfo v;
	MemberInfo c;
	uint64_t step = publisher_position_step(MAX_LAG);

	(void) state;
	assert_int_equal(step, MAX_LAG / 8);
	assert_int_equal(publisher_position_step(0), 1);
	replica(&m);
	publisher_member_written(&p, &m, 11, LEASE, T0);
	v = in_view(&m);

	/* a step's worth: not within the loop of the last write, then at once */
	c = m;
	c.received_location += step;
	c.xlog_location += step;
	assert_int_equal(due(&p, &c, 11, &v, T0 + LOOP - 1), MEMBER_WRITE_NONE);
	assert_int_equal(due(&p, &c, 11, &v, T0 + LOOP), MEMBER_WRITE_POSITION);
	/* replay alone counts too */
	c = m;
	c.replayed_location += step;
	assert_int_equal(due(&p, &c, 11, &v, T0 + LOOP), MEMBER_WRITE_POSITION);

	/* less than a step: only once the key is a ttl old */
	c = m;
	c.received_location += 96;
	c.xlog_location += 96;
	assert_int_equal(due(&p, &c, 11, &v, T0 + LOOP), MEMBER_WRITE_NONE);
	assert_int_equal(due(&p, &c, 11, &v, T0 + TTL - 1), MEMBER_WRITE_NONE);
	assert_int_equal(due(&p, &c, 11, &v, T0 + TTL), MEMBER_WRITE_REFRESH);

	/* under load: one write per loop at most */
	publisher_member_written(&p, &c, 11, LEASE, T0 + TTL);
	v = in_view(&c);
	for (int k = 1; k <= 5; k++)
	{
		c.received_location += step;
		c.xlog_location += step;
		assert_int_equal(due(&p, &c, 11, &v, T0 + TTL + k * LOOP - 10),
		                 k == 1 ? MEMBER_WRITE_NONE : MEMBER_WRITE_POSITION);
		if (k > 1)
			publisher_member_written(&p, &c, 11, LEASE,
			                         T0 + TTL + k * LOOP - 10);
	}
}

/* what etcd lost is written back; a new lease takes the key with it */
static void
test_missing_and_lease(void **state)
{
	MemberPublisher p = {0};
	MemberInfo m;
	MemberInfo v;

	(void) state;
	replica(&m);
	publisher_member_written(&p, &m, 11, LEASE, T0);
	v = in_view(&m);
	/* our write's event may still be on its way within the loop */
	assert_int_equal(due(&p, &m, 11, NULL, T0 + 10), MEMBER_WRITE_NONE);
	/* a loop later the view still lacks it: deleted or expired */
	assert_int_equal(due(&p, &m, 11, NULL, T0 + LOOP), MEMBER_WRITE_MISSING);
	/* a view that cannot be read says nothing */
	assert_int_equal(
	    publisher_member_due(&p, &m, 11, LEASE, NULL, false, &lim, T0 + LOOP),
	    MEMBER_WRITE_NONE);
	/* our key on another lease (an earlier incarnation's) */
	v.lease = LEASE + 1;
	assert_int_equal(due(&p, &m, 11, &v, T0 + LOOP), MEMBER_WRITE_MISSING);
	/* a new lease of ours */
	v.lease = LEASE;
	assert_int_equal(
	    publisher_member_due(&p, &m, 11, LEASE + 2, &v, true, &lim, T0 + 1),
	    MEMBER_WRITE_LEASE);
	/* forced (a role change peers must see at once) */
	publisher_member_forget(&p);
	assert_int_equal(due(&p, &m, 11, &v, T0 + 1), MEMBER_WRITE_FIRST);
	assert_string_equal(publisher_write_name(MEMBER_WRITE_POSITION),
	                    "position");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unchanged_not_written),
	    cmocka_unit_test(test_content_written_at_once),
	    cmocka_unit_test(test_positions),
	    cmocka_unit_test(test_missing_and_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
