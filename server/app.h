/* server/app.h: one jcached process: owns and wires the loop, store, broker,
 * upstream fetcher, engine and HTTP front, runs them, and stops them in order
 * on SIGTERM/SIGINT.  Main thread only. */
#ifndef JC_SERVER_APP_H
#define JC_SERVER_APP_H

struct jc_config;

/* Runs jcached with cfg (borrowed) until a signal stops it.  Returns the
 * process exit status: 0 after a clean stop, 1 when start-up failed. */
int jc_app_run(const struct jc_config *cfg);

#endif
