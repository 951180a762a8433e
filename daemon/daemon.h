/*
 * daemon.h: the public header of daemon/ (used by main.c and the daemon's
 * tests only; nothing else links daemon/).
 */
#ifndef PGW_DAEMON_H
#define PGW_DAEMON_H

#include "config/config.h"

/*
 * daemon_run: run the HA loop until SIGTERM/SIGINT (clean stop: PostgreSQL
 * stopped, leader key released). Blocks. Returns the process exit code.
 * config_path is re-read on SIGHUP.
 */
int daemon_run(NodeConfig *cfg, const char *config_path);

/*
 * daemon_env_take: keep a private copy of the PGWARDEN_* variables and
 * remove them from the environment (children never see them). Call once,
 * after the configuration was read and before any thread starts.
 * daemon_env_saved: that copy (NULL-terminated; environ when never taken),
 * for config_apply_env on reload.
 */
void daemon_env_take(void);
char *const *daemon_env_saved(void);

#endif
