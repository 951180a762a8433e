/*
 * drill_int.h: shared by cmd_drill.c and drill_pg.c only: the drill's
 * PostgreSQL side (drill.h, notes R5): the writer whose acknowledged writes
 * give RTO, downtime and the lost-write check; the postmaster kill; the
 * streaming check that "rejoined" means.
 */
#ifndef PGW_CTL_DRILL_INT_H
#define PGW_CTL_DRILL_INT_H

#include "ctl/ctl_int.h"
#include "ctl/drill.h"

typedef struct DrillWriter DrillWriter;

/*
 * drill_writer_start: a thread that commits every 10 ms to whichever member
 * of v runs read-write (one connection at a time; on an error it tries the
 * members one after another), recording the monotonic time and seq of each
 * acknowledged write. Rows go to table pgwarden_drill, keyed by this run.
 */
DrillWriter *drill_writer_start(const CtlGlobal *g, const ClusterView *v);

/* drill_writer_stop: stop and join the thread; the acks stay readable. */
void drill_writer_stop(DrillWriter *w);
void drill_writer_free(DrillWriter *w);

/* drill_writer_acks_since: how many writes were acknowledged at or after from_ms. */
int drill_writer_acks_since(DrillWriter *w, int64_t from_ms);

/* drill_writer_count: writes acknowledged so far. */
int drill_writer_count(DrillWriter *w);

/*
 * drill_writer_window: a copy (caller frees *out) of the ack times from the
 * last one before from_ms on; the count.
 */
int drill_writer_window(DrillWriter *w, int64_t from_ms, int64_t **out);

/*
 * drill_pg_params: the libpq parameters (keys drill_pg_keys, NULL-ended)
 * of every drill connection to url as the configured superuser, into vals
 * (DRILL_PG_PARAMS entries, borrowed from g and the arguments).
 */
#define DRILL_PG_PARAMS 11
extern const char *const drill_pg_keys[DRILL_PG_PARAMS];
void drill_pg_params(const CtlGlobal *g, const char *url, const char *timeout_s,
                     const char *options, const char **vals);

/*
 * drill_pg_is_sync_cancel: whether a notice says a commit's wait for
 * synchronous replication was cancelled (committed locally, maybe never
 * replicated: not an acknowledgement).
 */
bool drill_pg_is_sync_cancel(const char *msg);

typedef struct DrillWatch DrillWatch;

/*
 * drill_watch_start: the split-brain watch: a thread per member of v that
 * tries a write acknowledgement (a transactional logical message in its own
 * transaction) every 50 ms on its own connection as the superuser, each
 * attempt bounded to 1 s client-side (then the connection is dropped and
 * made again), recording every attempt's monotonic [start, end] and
 * whether it was acknowledged.
 */
DrillWatch *drill_watch_start(const CtlGlobal *g, const ClusterView *v);

/* drill_watch_stop: stop and join the threads; the logs stay readable. */
void drill_watch_stop(DrillWatch *s);
void drill_watch_free(DrillWatch *s);

/*
 * drill_watch_round: x->split_instants, split_worst_ms and split_pair over
 * [from_ms, to_ms] (ctl_drill_split). false, with -1 in both figures and
 * the reason in why, when the watch cannot vouch for the window: a probe
 * that did not start, was silent, or whose member never answered it, or
 * no probe write acknowledged anywhere.
 */
bool drill_watch_round(DrillWatch *s, int64_t from_ms, int64_t to_ms,
                       CtlDrillRound *x, char *why, size_t len);

/*
 * drill_pg_start_time: member m's pg_postmaster_start_time() as text in
 * buf; false when it cannot be read.
 */
bool drill_pg_start_time(const CtlGlobal *g, const MemberInfo *m, char *buf,
                         size_t len);

/*
 * drill_pg_kill: SIGKILL member m's postmaster through SQL as the
 * superuser (COPY ... TO PROGRAM 'kill -KILL <pid>'). CTL_EXIT_OK once the
 * program was started (COPY's answer proves nothing: the caller checks the
 * effect), CTL_EXIT_FAILED with the reason in note when the postmaster's
 * pid could not be read.
 */
int drill_pg_kill(const CtlGlobal *g, const MemberInfo *m, char *note,
                  size_t len);

/*
 * drill_pg_streaming: every member but the leader streams from the leader:
 * the leader runs read-write and its pg_stat_replication shows the member
 * streaming (application_name = member name), and the member's
 * pg_stat_wal_receiver streams from the leader's address on the leader's
 * current timeline. false with the first reason in why.
 */
bool drill_pg_streaming(const CtlGlobal *g, const ClusterView *v, char *why,
                        size_t len);

/*
 * drill_pg_lost: the writer's acknowledged writes missing on the leader's
 * PostgreSQL now, counted per round (the round whose fault came last
 * before the ack). 0, or -1 with the reason in why (the check did not run).
 */
int drill_pg_lost(const CtlGlobal *g, EtcdClient *c, DrillWriter *w,
                  const int64_t *fault_mono_ms, int n_rounds, int64_t *lost,
                  char *why, size_t len);

#endif
