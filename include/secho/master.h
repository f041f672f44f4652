/*
 * master.h - the master process: binds, accepts, applies the limits and
 * access lists, hands each connection to an engine, keeps the table of
 * connections, runs the UDP workers, reloads and shuts down.  master.c is
 * its event loop; each concern has a file of its own, and they share the
 * struct master below (doc/DESIGN.md).
 */
#ifndef SECHO_MASTER_H
#define SECHO_MASTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "secho/config.h"
#include "secho/conn.h"
#include "secho/listen.h"
#include "secho/tls.h"

struct master_opts {
	const char	*mo_config;	/* path */
	int		 mo_foreground;
	int		 mo_stderr;	/* -e */
};

/*
 * Take ownership of cfg (already loaded and validated), start serving
 * and run until SIGTERM/SIGINT.  Returns a sysexits code: 0 after a clean
 * shutdown, 71 when the system refused something at start (port in use,
 * unknown user, locked pidfile), 78 for configuration problems found only
 * now (certificates, unresolvable names), 1 otherwise (also when the
 * event loop itself fails).  Start-up errors are printed on standard
 * error as "secho: message".
 */
int	master_main(const struct master_opts *opts, struct secho_config *cfg);

/* ---- inside the master ---- */

struct conntab;
struct tls_server;
struct pending;

/* One configuration in force: what a reload replaces whole. */
struct generation {
	unsigned		 g_serial;	/* 1 at start, +1 per reload */
	struct secho_config	*g_cfg;
	struct tls_server	**g_tls;	/* indexed like g_cfg->listeners */
	struct tls_keylogs	 g_keylogs;	/* their key log files */
	struct privs		 g_privs;
};

/* An engine as the master sees it (engines.c). */
struct engine_ref {
	unsigned		 en_serial;	/* connections name it */
	int			 en_proto;	/* SECHO_PROTO_TCP, _TLS, _DTLS */
	pid_t			 en_pid;
	int			 en_fd;		/* the channel */
	int			 en_exec;	/* secho-tcp, not a fork of ours */
	int			 en_draining;	/* sent MSG_DRAIN: takes no more */
	int			 en_killed;	/* broken: SIGKILLed, not heard */
	int			 en_reaped;	/* gone: its pid is not ours */
	long long		 en_started;	/* ms */
	struct pending		*en_out;	/* waiting for room on en_fd */
	struct pending		*en_out_last;	/* its last, or NULL */
	long long		 en_out_since;	/* ms, when it began to wait */
	int			 en_stall_warned;
};

/* Restarts of the engine of one protocol (engines.c). */
struct engine_kind {
	int			 ek_failures;	/* quick deaths in a row */
	long long		 ek_respawn_at;	/* ms, 0: none due */
};

/* A log line that may come in floods: at most a few a second. */
struct ratelog {
	long long		 rl_window;	/* ms */
	unsigned		 rl_lines;
	unsigned long long	 rl_suppressed;
};

struct master {
	const struct master_opts *opts;
	struct generation	 gen;
	struct listener_set	 ls;
	struct conntab		*conns;
	uint64_t		 next_id;
	/* engines: the running ones (current and draining) */
	struct engine_ref	*engines;
	size_t			 nengines;
	unsigned		 engine_serial;
	struct engine_kind	 kind_tcp, kind_tls, kind_dtls;
	char			 tcp_engine_path[4096];	/* "": fork mode */
	/* UDP workers: every live one, current or retiring */
	pid_t			*workers;
	size_t			 nworkers, capworkers;
	/* descriptors */
	int			 sigfd;
	int			 reserve_fd;	/* spare for EMFILE */
	int			 pidfd;
	char			*pidfile;
	/* accept policy and counters */
	struct ratelog		 refuse_log, fail_log;
	long long		 accept_pause_until;
	long long		 fd_warned;
	uint64_t		 tcp_total, tls_total, dtls_total, refused_total;
	uint64_t		 udp_retired;	/* echoed by removed listeners */
	long long		 start_ms;
	/* shutdown */
	int			 stopping;
	long long		 stop_deadline;	/* TERM to connections */
	long long		 kill_deadline;	/* KILL to what is left */
	/* new ticket keys wait for a secho-tls that has them (ms, 0: no) */
	long long		 tls_renew_at;
};

#define WORKER_QUICK_MS		10000	/* a helper dying sooner is failing */
#define WORKER_MAX_DELAY	60000

/* master.c: the loop until the shutdown is done; 0 */
int	 master_run(struct master *m);
int	 master_log_stderr_wanted(const struct master *m);
void	 master_apply_log(const struct master *m);
void	 master_log_listening(const struct listener *l);
void	 master_fatal(struct master *m, const char *what)
	    __attribute__((noreturn));
long long restart_delay(int *failures, long long started, long long now);
/* In a process forked from the master: only stdio and keep stay open. */
void	 master_forked(const int *keep, size_t n);

/* pidfile.c: the locked descriptor, or -1 with err set */
int	 pidfile_lock(const char *path, char *err, size_t errlen);
int	 pidfile_write(int fd, const char *path, char *err, size_t errlen);
void	 pidfile_remove(int fd, const char *path);

/* privs.c */
int	 privs_resolve(const struct secho_config *cfg, struct privs *pv,
	    char *err, size_t errlen, char *warn, size_t warnlen);
void	 privs_free(struct privs *pv);

/* policy.c: access lists and limits at accept, and their log lines */
const char *policy_check(struct master *m, const struct listener *l,
	    const struct sockaddr *peer);
void	 policy_refused(struct master *m, int proto,
	    const struct sockaddr *peer, const char *reason);
void	 policy_not_started(struct master *m, int proto,
	    const struct sockaddr *peer, int err);
/* A PROXY peer named by a connection: its verdict (MSG_VERDICT_*). */
int	 policy_proxy_peer(struct master *m, uint64_t id,
	    const struct sockaddr_storage *peer);
void	 policy_accept(struct master *m, struct listener *l);
/* MSG_ADMIT from the DTLS engine e: answered MSG_ADMITTED/REFUSED. */
void	 policy_admit(struct master *m, struct engine_ref *e,
	    const void *payload, size_t len);

/* engines.c: the channels; engines_life.c: starts, restarts */
const char *engines_name(const struct engine_ref *e);
const char *engines_proto_name(int proto);
struct engine_kind *engines_kind(struct master *m, int proto);
struct engine_ref *engines_by_serial(struct master *m, unsigned serial);
void	 engines_locate(struct master *m);
int	 engines_start(struct master *m, int proto);
struct engine_ref *engines_current(struct master *m, int proto);
int	 engines_ready(struct master *m, int proto);
int	 engines_send_conn(struct master *m, struct engine_ref *e,
	    const struct listener *l, uint64_t id,
	    const struct sockaddr *peer, int fd, long long accepted_ms);
/* MSG_ADMITTED: token, then the request, as engines_send_conn(). */
int	 engines_send_admitted(struct master *m, struct engine_ref *e,
	    const struct listener *l, uint64_t id,
	    const struct sockaddr *peer, uint64_t token);
void	 engines_send(struct master *m, struct engine_ref *e, uint32_t type,
	    uint64_t id, int32_t value);
void	 engines_send_raw(struct master *m, struct engine_ref *e,
	    uint32_t type, uint64_t id, const void *p, size_t len);
int	 engines_read(struct master *m, struct engine_ref *e);
void	 engines_flush(struct master *m, struct engine_ref *e);
int	 engines_exited(struct master *m, pid_t pid, int status);
void	 engines_drain(struct master *m, struct engine_ref *e);
void	 engines_renew_tls(struct master *m, int same_generation);
void	 engines_renew(struct master *m, int proto, int same_generation);
/* Does a listener of proto exist? */
int	 engines_needed(const struct master *m, int proto);
void	 engines_due(struct master *m, long long now);
void	 engines_kill_all(struct master *m);
void	 engines_free(struct master *m);

/* workers.c: UDP workers */
int	 workers_start(struct master *m, struct listener *l);
int	 workers_exited(struct master *m, pid_t pid, int status);
void	 workers_due(struct master *m, long long now);
void	 workers_reload(struct master *m, struct listener_set *old);
void	 workers_signal(struct master *m, int sig);
uint64_t workers_udp_total(const struct master *m);

/* reload.c */
void	 reload(struct master *m);
void	 generation_free(struct generation *g);
int	 generation_tls_build(struct generation *g, char *err, size_t errlen);
void	 generation_log_keylogs(const struct generation *g);

/* shutdown.c */
void	 shutdown_begin(struct master *m);
void	 shutdown_tick(struct master *m, long long now);
int	 shutdown_done(const struct master *m);
long long shutdown_next(const struct master *m);

#endif
