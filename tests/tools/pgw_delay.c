/*
 * pgw_delay.c: link delay and loss for the chaos drills where the kernel has
 * no sch_netem (tests/lib/netns.sh, fault "netem"). iptables sends the
 * node's eth0 traffic to NFQUEUE --queue-num N; this program, started in the
 * node's network namespace (a queue belongs to one namespace), binds queue
 * N and gives every packet its verdict: NF_DROP with probability
 * --loss-pct, otherwise NF_ACCEPT once arrival + --delay-ms + a uniform
 * offset in [-jitter, +jitter] (at least arrival) has passed. The packet
 * itself waits in the kernel; we keep only its id and due time.
 *
 * Usage: pgw_delay --queue N [--delay-ms 100] [--jitter-ms 0] [--loss-pct 0]
 *        [--max-held 20000] [--duration-s 3600] [--seed S]
 * stderr: one "state=ready" line once the queue is bound, one summary line
 * (packets, dropped, held_max, overflow, ...) when stopped by SIGTERM /
 * SIGINT / --duration-s, after every held packet has been accepted.
 * Exit: 0 stopped, 1 could not bind the queue, 2 bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

/*
 * Held packets live in a binary min-heap ordered by (due time, arrival
 * number), not a FIFO ring: with jitter a later packet may be due before an
 * earlier one, and releasing it then reorders the stream as netem's tfifo
 * does, which is the behaviour the drill means to reproduce. The arrival
 * number keeps packets with the same due time in arrival order. The heap is
 * allocated once at --max-held entries, so memory is bounded.
 */
struct held
{
	int64_t due_us; /* CLOCK_MONOTONIC */
	uint64_t arrival;
	uint32_t id; /* the kernel's packet id in this queue */
};

static struct held *heap;
static size_t heap_len;
static size_t heap_cap;

static volatile sig_atomic_t stop_flag;
static bool stopping; /* after the stop: accept at once */

static struct
{
	int queue;
	int64_t delay_us;
	int64_t jitter_us;
	double loss_pct;
	long max_held;
	long duration_s;
	uint64_t seed;
} cfg = {
    .queue = -1,
    .delay_us = 100000,
    .max_held = 20000,
    .duration_s = 3600,
};

static struct
{
	unsigned long long packets;
	unsigned long long dropped;
	unsigned long long overflow;
	unsigned long long lost_notifications; /* ENOBUFS on the netlink socket */
	unsigned long long verdict_errors;
	size_t held_max;
} st;

static uint64_t arrivals;
static uint64_t rng_state;

static void
on_signal(int sig)
{
	(void) sig;
	stop_flag = 1;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: the drill needs cheap, decorrelated draws, not secrecy */
static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* uniform in [0, 1) with the 53 bits a double holds */
static double
rng_unit(void)
{
	return (double) (rng_next() >> 11) / 9007199254740992.0;
}

static bool
held_before(const struct held *a, const struct held *b)
{
	return a->due_us < b->due_us ||
	       (a->due_us == b->due_us && a->arrival < b->arrival);
}

static void
heap_push(struct held h)
{
	size_t i = heap_len++;

	while (i > 0)
	{
		size_t parent = (i - 1) / 2;

		if (!held_before(&h, &heap[parent]))
			break;
		heap[i] = heap[parent];
		i = parent;
	}
	heap[i] = h;
}

static struct held
heap_pop(void)
{
	struct held top = heap[0];
	struct held last = heap[--heap_len];
	size_t i = 0;

	for (;;)
	{
		size_t child = 2 * i + 1;

		if (child >= heap_len)
			break;
		if (child + 1 < heap_len && held_before(&heap[child + 1], &heap[child]))
			child++;
		if (!held_before(&heap[child], &last))
			break;
		heap[i] = heap[child];
		i = child;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

static void
verdict(struct nfq_q_handle *qh, uint32_t id, uint32_t v)
{
	if (nfq_set_verdict(qh, id, v, 0, NULL) < 0)
		st.verdict_errors++;
}

/* release every held packet due by `now` (all of them when now is INT64_MAX) */
static void
release_due(struct nfq_q_handle *qh, int64_t now)
{
	while (heap_len > 0 && heap[0].due_us <= now)
		verdict(qh, heap_pop().id, NF_ACCEPT);
}

static int
on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
          void *data)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	uint32_t id;
	int64_t due;

	(void) msg;
	(void) data;
	if (ph == NULL)
		return 0;
	id = ntohl(ph->packet_id);
	st.packets++;
	if (stopping)
	{
		verdict(qh, id, NF_ACCEPT);
		return 0;
	}
	if (cfg.loss_pct > 0 && rng_unit() * 100.0 < cfg.loss_pct)
	{
		st.dropped++;
		verdict(qh, id, NF_DROP);
		return 0;
	}
	if (heap_len >= heap_cap)
	{
		/* bounded memory beats fidelity: this one goes through undelayed */
		st.overflow++;
		verdict(qh, id, NF_ACCEPT);
		return 0;
	}
	due = now_us() + cfg.delay_us;
	if (cfg.jitter_us > 0)
		due += (int64_t) (rng_unit() * (double) (2 * cfg.jitter_us + 1)) -
		       cfg.jitter_us;
	heap_push((struct held){.due_us = due, .arrival = arrivals++, .id = id});
	if (heap_len > st.held_max)
		st.held_max = heap_len;
	return 0;
}

static void
usage(void)
{
	fprintf(
	    stderr,
	    "usage: pgw_delay --queue N [--delay-ms MS] [--jitter-ms MS] [--loss-pct P] [--max-held N] [--duration-s S] [--seed S]\n");
}

static void
bad_arg(const char *name, const char *value, const char *want)
{
	fprintf(stderr,
	        "pgw_delay error=bad_argument arg=--%s value=\"%s\" want=\"%s\"\n",
	        name, value, want);
	usage();
	exit(2);
}

static long
parse_long(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;
	char want[64];

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
	{
		snprintf(want, sizeof(want), "integer in [%ld, %ld]", lo, hi);
		bad_arg(name, s, want);
	}
	return v;
}

static double
parse_pct(const char *name, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 ||
	    v > 100)
		bad_arg(name, s, "number in [0, 100]");
	return v;
}

static void
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"queue", required_argument, NULL, 'q'},
	    {"delay-ms", required_argument, NULL, 'd'},
	    {"jitter-ms", required_argument, NULL, 'j'},
	    {"loss-pct", required_argument, NULL, 'l'},
	    {"max-held", required_argument, NULL, 'm'},
	    {"duration-s", required_argument, NULL, 't'},
	    {"seed", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0}};
	int o;

	/* getopt's own message names the option; ours follows it */
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'q':
				cfg.queue = (int) parse_long("queue", optarg, 0, 65535);
				break;
			case 'd':
				cfg.delay_us = parse_long("delay-ms", optarg, 0, 60000) * 1000;
				break;
			case 'j':
				cfg.jitter_us =
				    parse_long("jitter-ms", optarg, 0, 60000) * 1000;
				break;
			case 'l':
				cfg.loss_pct = parse_pct("loss-pct", optarg);
				break;
			case 'm':
				cfg.max_held = parse_long("max-held", optarg, 1, 1000000);
				break;
			case 't':
				cfg.duration_s = parse_long("duration-s", optarg, 1, 86400);
				break;
			case 's':
				cfg.seed = (uint64_t) parse_long("seed", optarg, 1, LONG_MAX);
				break;
			default:
				fprintf(stderr, "pgw_delay error=bad_argument arg=\"%s\"\n",
				        optind > 0 && optind <= argc ? argv[optind - 1] : "?");
				usage();
				exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "pgw_delay error=unexpected_argument value=\"%s\"\n",
		        argv[optind]);
		usage();
		exit(2);
	}
	if (cfg.queue < 0)
	{
		fprintf(stderr, "pgw_delay error=missing_argument arg=--queue\n");
		usage();
		exit(2);
	}
}

/*
 * read_packets: at most `batch` netlink messages without blocking, so that a
 * flood of arrivals cannot postpone the release of packets already due.
 */
static void
read_packets(struct nfq_handle *h, int fd, char *buf, size_t len, int batch)
{
	for (int i = 0; i < batch; i++)
	{
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

		if (n > 0)
		{
			nfq_handle_packet(h, buf, (int) n);
			continue;
		}
		/*
		 * ENOBUFS: the socket overflowed and the kernel could not hand us
		 * some packets; with FAIL_OPEN it accepted them itself, so nothing
		 * waits on us for them. Anything else ends this batch.
		 */
		if (n < 0 && errno == ENOBUFS)
		{
			st.lost_notifications++;
			continue;
		}
		break;
	}
}

int
main(int argc, char **argv)
{
	/* room for one message even when the kernel adds optional attributes */
	static char buf[65536];
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	struct sigaction sa;
	sigset_t block;
	sigset_t orig;
	int64_t end_us;
	uint32_t maxlen;
	int fd;

	parse_args(argc, argv);
	rng_state =
	    cfg.seed ? cfg.seed : ((uint64_t) now_us() << 16) ^ (uint64_t) getpid();
	if (rng_state == 0)
		rng_state = 1;
	heap_cap = (size_t) cfg.max_held;
	heap = calloc(heap_cap, sizeof(*heap));
	if (heap == NULL)
	{
		fprintf(stderr, "pgw_delay error=out_of_memory max_held=%ld\n",
		        cfg.max_held);
		return 1;
	}

	/*
	 * Signals are blocked except inside ppoll(), so a SIGTERM that lands
	 * between the stop check and the wait still ends the wait at once.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	h = nfq_open();
	if (h == NULL)
	{
		fprintf(stderr, "pgw_delay error=nfq_open errno=%d msg=\"%s\"\n", errno,
		        strerror(errno));
		return 1;
	}
	/* kernels before 3.8 need the family bound; later ones ignore it */
	(void) nfq_bind_pf(h, AF_INET);
	qh = nfq_create_queue(h, (uint16_t) cfg.queue, on_packet, NULL);
	if (qh == NULL)
	{
		fprintf(stderr,
		        "pgw_delay error=bind_queue queue=%d errno=%d msg=\"%s\"\n",
		        cfg.queue, errno, strerror(errno));
		nfq_close(h);
		return 1;
	}
	/* the verdict needs only the id: no payload crosses into userspace */
	if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0)
	{
		fprintf(stderr, "pgw_delay error=set_mode errno=%d msg=\"%s\"\n", errno,
		        strerror(errno));
		nfq_destroy_queue(qh);
		nfq_close(h);
		return 1;
	}

	/*
	 * The kernel counts a packet against the queue's maxlen until its
	 * verdict, so every held packet counts: the limit is our --max-held
	 * plus headroom for what sits unread in the socket (the default 1024
	 * would drop a replication stream's packets under 100 ms of delay).
	 * FAIL_OPEN: should the queue or the socket still overflow, the kernel
	 * accepts the packet instead of dropping it, so the only loss is ours.
	 */
	maxlen = (uint32_t) cfg.max_held + 8192;
	if (nfq_set_queue_maxlen(qh, maxlen) < 0)
		fprintf(stderr,
		        "pgw_delay warning=set_queue_maxlen maxlen=%u errno=%d\n",
		        maxlen, errno);
	if (nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0)
		fprintf(stderr, "pgw_delay warning=fail_open_unsupported errno=%d\n",
		        errno);
	/* a burst of arrivals waits here instead of overflowing */
	nfnl_rcvbufsiz(nfq_nfnlh(h), 8 * 1024 * 1024);
	fd = nfq_fd(h);

	fprintf(
	    stderr,
	    "pgw_delay queue=%d delay_ms=%lld jitter_ms=%lld loss_pct=%g max_held=%ld queue_maxlen=%u state=ready\n",
	    cfg.queue, (long long) (cfg.delay_us / 1000),
	    (long long) (cfg.jitter_us / 1000), cfg.loss_pct, cfg.max_held, maxlen);

	end_us = now_us() + (int64_t) cfg.duration_s * 1000000;
	while (!stop_flag)
	{
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t now = now_us();
		int64_t wait_us;
		struct timespec tmo;
		int rc;

		if (now >= end_us)
			break;
		release_due(qh, now);
		/* at most 1 s per wait, so --duration-s holds without traffic */
		wait_us = end_us - now;
		if (wait_us > 1000000)
			wait_us = 1000000;
		if (heap_len > 0 && heap[0].due_us - now < wait_us)
			wait_us = heap[0].due_us - now;
		if (wait_us < 0)
			wait_us = 0;
		tmo.tv_sec = wait_us / 1000000;
		tmo.tv_nsec = (long) (wait_us % 1000000) * 1000;
		rc = ppoll(&pfd, 1, &tmo, &orig);
		if (rc < 0 && errno != EINTR)
		{
			fprintf(stderr, "pgw_delay error=poll errno=%d msg=\"%s\"\n", errno,
			        strerror(errno));
			break;
		}
		if (rc > 0 && (pfd.revents & (POLLIN | POLLERR)))
			read_packets(h, fd, buf, sizeof(buf), 256);
	}

	/*
	 * Destroying the queue would make the kernel drop what we hold and what
	 * still sits unread in the socket: accept all of it first, so stopping
	 * the fault heals the link at once instead of costing retransmits.
	 */
	stopping = true;
	release_due(qh, INT64_MAX);
	read_packets(h, fd, buf, sizeof(buf), (int) maxlen);
	fprintf(
	    stderr,
	    "pgw_delay queue=%d packets=%llu dropped=%llu held_max=%zu overflow=%llu lost_notifications=%llu verdict_errors=%llu state=stopped\n",
	    cfg.queue, st.packets, st.dropped, st.held_max, st.overflow,
	    st.lost_notifications, st.verdict_errors);
	nfq_destroy_queue(qh);
	nfq_close(h);
	free(heap);
	return 0;
}
