/*
 * master.c - the master process.
 *
 * Start: privileges, pidfile lock, TLS contexts, sockets, detach, UDP
 * workers, "listening".  Then one poll() loop over the self-pipe and the
 * TCP/TLS listeners: accept, check access and limits, fork a child, close
 * the socket; never read client bytes.  Signals arrive through the pipe:
 * CHLD reaps, HUP reloads, USR1 logs stats, TERM/INT shut down.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/addr.h"
#include "secho/child.h"
#include "secho/config.h"
#include "secho/listen.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/nofork.h"
#include "secho/notify.h"
#include "secho/sig.h"
#include "secho/spawn.h"
#include "secho/tls.h"
#include "secho/udp.h"

#define EX_OK_		0
#define EX_FAIL		1
#define EX_OSERR_	71
#define EX_CONFIG_	78

#define ACCEPT_BATCH	64
#define REFUSE_LOG_RATE	20	/* refused lines per second, then summed */
#define WORKER_QUICK_MS	10000	/* a worker dying sooner counts as failing */
#define WORKER_MAX_DELAY 60000
#define KILL_GRACE_MS	5000	/* after SIGTERM to children, then SIGKILL */
#define ORPHAN_MAX	64	/* events of children the spawner has not named */
#define SPAWN_STALL_MS	3000	/* no answer from the spawner for so long */

/*
 * A child the spawner created can end, or send its PROXY report, before
 * the spawner's answer with its pid is read: such events wait here until
 * the answer comes.
 */
struct orphan {
	pid_t			 o_pid;		/* 0 = free */
	int			 o_exited;
	int			 o_status;
	int			 o_reported;
	struct child_report	 o_rep;
};

struct master {
	const struct master_opts *opts;
	struct secho_config	*cfg;
	struct tls_server	**tls;		/* parallel to cfg->listeners */
	struct listener_set	 ls;
	struct child_table	*children;
	struct privs		 privs;
	pid_t			*workers;	/* every live UDP worker */
	size_t			 nworkers, capworkers;
	int			 sigfd;
	int			 pidfd;
	char			*pidfile;	/* as locked at start */
	long long		 start_ms;
	uint64_t		 tcp_total, tls_total, refused_total;
	uint64_t		 udp_retired;	/* echoed by removed listeners */
	long long		 accept_pause_until;
	long long		 fd_warned;	/* last out-of-fd warning */
	int			 reserve_fd;	/* spare fd for EMFILE */
	int			 report_rd;	/* PROXY children report here */
	int			 report_wr;	/* ... through this end */
	/* plain TCP spawner (spawn.h) */
	struct spawner		 spawner;
	uint64_t		 spawn_acked;	/* requests answered so far */
	long long		 spawn_progress; /* last answer or first wait */
	struct orphan		 orphans[ORPHAN_MAX];
	size_t			 norphans;	/* slots in use */
	size_t			 orphan_next;	/* to overwrite when full */
	unsigned long long	 spawner_ticks;	/* its start, /proc clock ticks */
	/* refused-line rate limit */
	long long		 refuse_window;
	unsigned		 refuse_lines;
	unsigned long long	 refuse_suppressed;
	/* shutdown */
	int			 stopping;
	long long		 stop_deadline;
	long long		 kill_deadline;
};

static void
startup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Before and during start: always on stderr, and in syslog. */
static void
startup_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "secho: %s\n", msg);
	log_set_stderr(0);
	log_errx("%s", msg);
}

static int
log_stderr_wanted(const struct master *m)
{
	/* log.stderr is -e for the foreground; detached, only -e counts. */
	return m->opts->mo_stderr ||
	    (m->cfg->log_stderr && m->opts->mo_foreground);
}

static void
apply_log_config(const struct master *m)
{
	const struct secho_config *c = m->cfg;

	log_init(c->log_ident, c->log_facility, c->log_level,
	    log_stderr_wanted(m));
}

/* ---- pidfile ---- */

/*
 * Open and lock the pidfile before binding, so a second instance with
 * the same pidfile stops with a clear message; the pid is written after
 * the sockets are bound and the process detached.
 */
static int
pidfile_lock(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		startup_error("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		startup_error("pidfile %s is locked by running process %s: "
		    "another secho is using it", path, buf[0] ? buf : "?");
		close(fd);
		return -1;
	}
	return fd;
}

static int
pidfile_write(int fd, const char *path)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, n, 0) != n) {
		startup_error("pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- TLS contexts, one per tls listener_config ---- */

static void
tls_free_all(struct tls_server **tls, size_t n)
{
	size_t i;

	if (tls == NULL)
		return;
	for (i = 0; i < n; i++)
		if (tls[i])
			tls_server_free(tls[i]);
	free(tls);
}

static struct tls_server **
tls_build_all(const struct secho_config *cfg, char *err, size_t errlen)
{
	struct tls_server **tls;
	char warn[1024];
	size_t i;

	tls = calloc(cfg->nlisteners ? cfg->nlisteners : 1, sizeof(*tls));
	if (tls == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		if (cfg->listeners[i].lc_proto != SECHO_PROTO_TLS)
			continue;
		tls[i] = tls_server_new(&cfg->listeners[i].lc_tls, cfg->file,
		    err, errlen);
		if (tls[i] == NULL) {
			tls_free_all(tls, cfg->nlisteners);
			return NULL;
		}
		tls_server_warnings(tls[i], warn, sizeof(warn));
		if (warn[0])
			log_warnx("%s", warn);
	}
	return tls;
}

static void
attach_tls(struct master *m)
{
	size_t i;

	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];
		l->l_tls = m->tls[l->l_cfg - m->cfg->listeners];
	}
}

/* ---- children ---- */

static void
child_env_of(const struct master *m, struct child_env *env)
{
	env->ce_cfg = m->cfg;
	env->ce_privs = &m->privs;
	env->ce_report_fd = m->report_wr;
	env->ce_listeners = &m->ls;
	env->ce_close[0] = m->pidfd;
	env->ce_close[1] = m->reserve_fd;
	env->ce_close[2] = m->report_rd;
	env->ce_close[3] = m->spawner.sp_fd;
}

/*
 * No mask juggling around fork(): the master's signals are blocked for
 * good and read from a signalfd (sig.c), so a child inherits no handler
 * that could run master code.
 */
static pid_t
spawn_udp(struct master *m, struct listener *l)
{
	struct child_env env;
	pid_t pid;

	if (m->nworkers == m->capworkers) {
		size_t ncap = m->capworkers ? m->capworkers * 2 : 8;
		pid_t *p = realloc(m->workers, ncap * sizeof(*p));
		if (p == NULL) {
			log_errx("out of memory for UDP worker of %s", l->l_name);
			return -1;
		}
		m->workers = p;
		m->capworkers = ncap;
	}
	child_env_of(m, &env);
	pid = child_spawn_udp(&env, l);
	if (pid == -1) {
		log_err("fork of UDP worker for %s", l->l_name);
		l->l_respawn_at = clock_ms() + 1000;
		return -1;
	}
	m->workers[m->nworkers++] = pid;
	l->l_worker = pid;
	l->l_worker_started = clock_ms();
	l->l_respawn_at = 0;
	return pid;
}

/* Index of pid among the UDP workers, or nworkers. */
static size_t
worker_slot(const struct master *m, pid_t pid)
{
	size_t i;

	for (i = 0; i < m->nworkers && m->workers[i] != pid; i++)
		;
	return i;
}

static int
worker_forget(struct master *m, pid_t pid)
{
	size_t i = worker_slot(m, pid);

	if (i == m->nworkers)
		return 0;
	m->workers[i] = m->workers[--m->nworkers];
	return 1;
}

static void
log_exit_status(const char *what, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warnx("%s %ld killed by signal %d (%s)", what, (long)pid,
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warnx("%s %ld exited with status %d", what, (long)pid,
		    WEXITSTATUS(status));
}

/*
 * A worker or the spawner ended: count it as failing when it lived less
 * than WORKER_QUICK_MS, and return the delay before the restart, growing
 * while it keeps failing (inetd): 0, 0, 0.5, 1, 2 ... 60 s.
 */
static long long
restart_delay(int *failures, long long started, long long now)
{
	int n;

	if (now - started < WORKER_QUICK_MS)
		(*failures)++;
	else
		*failures = 0;
	if (*failures <= 1)
		return 0;
	n = *failures - 2;
	if (n > 7)
		return WORKER_MAX_DELAY;
	return 500LL << n > WORKER_MAX_DELAY ? WORKER_MAX_DELAY : 500LL << n;
}

/* ---- the plain TCP spawner ---- */

static void handle_report(struct master *m, const struct child_report *rep);
static void read_reports(struct master *m);

/* The table key of a connection the spawner has not answered for yet. */
static pid_t
pending_pid(uint64_t seq)
{
	return -(pid_t)(seq % INT32_MAX) - 1;
}

static int
spawns_outstanding(const struct master *m)
{
	return m->spawn_acked != m->spawner.sp_seq;
}

static struct orphan *
orphan_slot(struct master *m, pid_t pid)
{
	struct orphan *o = NULL;
	size_t i;

	for (i = 0; i < ORPHAN_MAX; i++) {
		if (m->orphans[i].o_pid == pid)
			return &m->orphans[i];
		if (m->orphans[i].o_pid == 0 && o == NULL)
			o = &m->orphans[i];
	}
	if (o == NULL) {
		o = &m->orphans[m->orphan_next++ % ORPHAN_MAX];
		log_warnx("forgetting what child %ld did: too many children "
		    "the spawner has not named yet", (long)o->o_pid);
	} else
		m->norphans++;
	memset(o, 0, sizeof(*o));
	o->o_pid = pid;
	return o;
}

/* 1 when pid was a connection child (now forgotten), 0 if not. */
static int
connection_ended(struct master *m, pid_t pid, int status)
{
	if (!child_table_remove(m->children, pid, NULL))
		return 0;
	/* SIGTERM/SIGKILL are ours at shutdown. */
	if (!m->stopping)
		log_exit_status("connection child", pid, status);
	return 1;
}

/* Requests the spawner will never answer: their connections are gone. */
static void
spawns_lost(struct master *m, uint64_t upto)
{
	unsigned long long lost = 0;

	while (m->spawn_acked < upto)
		lost += child_table_remove(m->children,
		    pending_pid(++m->spawn_acked), NULL);
	if (lost)
		log_warnx("secho-spawn took %llu connection(s) and did not "
		    "serve them", lost);
}

static void
spawn_answered(struct master *m, const struct spawn_reply *rep)
{
	struct child c;
	size_t i;

	if (rep->sp_seq <= m->spawn_acked || rep->sp_seq > m->spawner.sp_seq) {
		log_warnx("secho-spawn answered request %llu, which is not "
		    "waiting", (unsigned long long)rep->sp_seq);
		return;
	}
	spawns_lost(m, rep->sp_seq - 1);	/* answers come in order */
	m->spawn_acked = rep->sp_seq;
	m->spawn_progress = clock_ms();
	if (!child_table_remove(m->children, pending_pid(rep->sp_seq), &c))
		return;
	if (rep->sp_pid <= 0) {
		errno = rep->sp_errno;
		log_warn("secho-spawn could not create a connection child");
		return;
	}
	c.ch_pid = rep->sp_pid;
	if (child_table_add(m->children, &c) == -1)
		log_errx("out of memory in the child table");
	for (i = 0; m->norphans > 0 && i < ORPHAN_MAX; i++) {
		struct orphan o = m->orphans[i];

		if (o.o_pid != c.ch_pid)
			continue;
		m->orphans[i].o_pid = 0;
		m->norphans--;
		if (o.o_reported)
			handle_report(m, &o.o_rep);
		if (o.o_exited)
			connection_ended(m, o.o_pid, o.o_status);
	}
	/* The others were told to stop already (not one that has ended). */
	if (m->kill_deadline && child_table_has(m->children, c.ch_pid))
		kill(c.ch_pid, SIGTERM);
	/*
	 * Nothing unanswered: what is left in the stash is stale (a report
	 * read after its child was reaped, a child of a killed spawner); its
	 * pid must not match a later child.
	 */
	if (m->norphans > 0 && !spawns_outstanding(m)) {
		memset(m->orphans, 0, sizeof(m->orphans));
		m->norphans = 0;
	}
}

/*
 * From /proc/PID/stat: the parent, the start time (clock ticks after boot)
 * and the name.  0, or -1 when it cannot be read (gone, no /proc).
 */
static int
proc_stat_read(long pid, pid_t *ppid, unsigned long long *start, char *comm,
    size_t commlen)
{
	char path[64], buf[1024], *l, *r;
	unsigned long long st;
	ssize_t n;
	long pp;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold anything but the last ')' */
	if ((l = strchr(buf, '(')) == NULL || (r = strrchr(buf, ')')) == NULL ||
	    r < l || sscanf(r + 1, " %*c %ld %*s %*s %*s %*s %*s %*s %*s %*s "
	    "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu", &pp, &st) != 2)
		return -1;
	if (ppid)
		*ppid = (pid_t)pp;
	if (start)
		*start = st;
	if (comm && commlen > 0) {
		n = r - l - 1;
		if ((size_t)n >= commlen)
			n = (ssize_t)commlen - 1;
		memcpy(comm, l + 1, (size_t)n);
		comm[n] = '\0';
	}
	return 0;
}

/*
 * The child the spawner created and did not name, or 0.  It answers each
 * request before it reads the next, so when it dies there is at most one:
 * a child of the master (live or not yet reaped) that is neither in the
 * table nor a UDP worker, named secho (or secho-spawn before it renamed
 * itself), started after that spawner.  Anything else -- none, or more
 * than one such process (the master is PID 1 of a namespace and has
 * adopted others) -- and we do not guess.
 */
static pid_t
unnamed_child(struct master *m)
{
	char comm[32];
	unsigned long long start;
	struct dirent *e;
	pid_t self = getpid(), found = 0, pp;
	int n = 0;
	DIR *d;

	if ((d = opendir("/proc")) == NULL) {
		log_warn("cannot look in /proc for the child secho-spawn did "
		    "not name");
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end != '\0' || pid <= 0 || pid == self ||
		    proc_stat_read(pid, &pp, &start, comm, sizeof(comm)) == -1 ||
		    pp != self || child_table_has(m->children, (pid_t)pid) ||
		    start < m->spawner_ticks ||
		    (strcmp(comm, "secho") != 0 &&
		    strcmp(comm, "secho-spawn") != 0) ||
		    worker_slot(m, (pid_t)pid) < m->nworkers)
			continue;
		found = (pid_t)pid;
		n++;
	}
	closedir(d);
	if (n > 1) {
		log_warnx("%d unknown children of the master; not guessing "
		    "which one secho-spawn created", n);
		return 0;
	}
	return found;
}

/*
 * The spawner is gone.  If it died between creating a child and naming
 * it, that child takes the request's place (it counts, and a shutdown
 * stops it), or its exit does if it has ended already.  What it did not
 * answer is lost.
 */
static void
spawner_gone(struct master *m)
{
	struct spawn_reply rep;
	size_t i;
	int ended = 0;

	spawner_close(&m->spawner);
	if (spawns_outstanding(m)) {
		memset(&rep, 0, sizeof(rep));
		rep.sp_seq = m->spawn_acked + 1;
		rep.sp_pid = unnamed_child(m);
		/* its exit waits in the stash: only that child's can be there */
		for (i = 0; rep.sp_pid == 0 && i < ORPHAN_MAX; i++)
			if (m->orphans[i].o_pid > 0 && m->orphans[i].o_exited &&
			    ++ended == 1)
				rep.sp_pid = m->orphans[i].o_pid;
		if (ended > 1)
			rep.sp_pid = 0;		/* not guessing */
		if (rep.sp_pid > 0) {
			log_warnx("secho-spawn died before naming child %ld; %s",
			    (long)rep.sp_pid, ended ? "it has ended" :
			    "it serves its connection as any other");
			spawn_answered(m, &rep);
		}
	}
	spawns_lost(m, m->spawner.sp_seq);
	/* Nothing outstanding: the stash can hold nobody's events now. */
	memset(m->orphans, 0, sizeof(m->orphans));
	m->norphans = 0;
}

/* Start the spawner when there is plain TCP to serve and none runs. */
static void
ensure_spawner(struct master *m)
{
	struct logline ll;
	size_t i;
	int tcp = 0;

	if (m->spawner.sp_pid != 0 || m->stopping)
		return;
	for (i = 0; i < m->ls.ls_count; i++)
		tcp |= m->ls.ls_items[i].l_proto == SECHO_PROTO_TCP;
	if (!tcp)
		return;
	if (m->spawner.sp_path[0] == '\0') {
		char where[512];

		switch (spawner_locate(&m->spawner, where, sizeof(where))) {
		case 1:
			break;
		case 0:
			log_begin(&ll, LOG_DEBUG, "spawner");
			log_kv(&ll, "path", "none");
			log_end(&ll);
			return;
		default:
			log_warnx("no secho-spawn at %s; plain TCP children are "
			    "forked by the master", where);
			return;
		}
	}
	m->spawner.sp_respawn_at = 0;
	if (spawner_start(&m->spawner, m->report_wr) == -1) {
		log_warn("cannot start %s; plain TCP children are forked by "
		    "the master; trying again in 60 s", m->spawner.sp_path);
		m->spawner.sp_respawn_at = clock_ms() + WORKER_MAX_DELAY;
		return;
	}
	/* Its children start after it (unnamed_child). */
	if (proc_stat_read(m->spawner.sp_pid, NULL, &m->spawner_ticks, NULL,
	    0) == -1)
		m->spawner_ticks = 0;
	log_begin(&ll, LOG_DEBUG, "spawner");
	log_kv(&ll, "path", m->spawner.sp_path);
	log_kvu(&ll, "pid", (unsigned long long)m->spawner.sp_pid);
	log_end(&ll);
}

/* The spawner process ended: drain its answers, restart it later. */
static void
spawner_exited(struct master *m, int status)
{
	struct spawner *sp = &m->spawner;
	long long now = clock_ms(), delay;

	read_reports(m);	/* its last answers */
	if (!m->stopping) {
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warnx("secho-spawn %s exited with status %d",
			    sp->sp_path, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			log_warnx("secho-spawn killed by signal %d (%s)",
			    WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			log_warnx("secho-spawn exited");
	}
	spawner_gone(m);
	sp->sp_pid = 0;
	if (m->stopping)
		return;
	delay = restart_delay(&sp->sp_failures, sp->sp_started, now);
	log_warnx("restarting secho-spawn in %lld ms; until then the master "
	    "forks plain TCP children", delay);
	sp->sp_respawn_at = now + delay;
}

/*
 * A spawner that sits on requests (stopped, stuck, starved) would hold
 * those clients and their slots, and a shutdown, for ever: after
 * SPAWN_STALL_MS without an answer it is killed; the reaper then counts
 * the requests lost, and plain children are forked by the master until
 * it is back.
 */
static void
spawner_watch(struct master *m)
{
	if (m->spawner.sp_pid == 0 || !spawns_outstanding(m) ||
	    clock_ms() - m->spawn_progress < SPAWN_STALL_MS)
		return;
	log_warnx("secho-spawn %ld has not answered for %d ms; killing it",
	    (long)m->spawner.sp_pid, SPAWN_STALL_MS);
	kill(m->spawner.sp_pid, SIGKILL);
	m->spawn_progress = clock_ms();	/* once; the reaper does the rest */
}

/*
 * Stop the spawner at exit.  It holds nothing of its own (its children
 * are the master's, and gone by now): no grace period needed.
 */
static void
spawner_stop(struct master *m)
{
	spawner_close(&m->spawner);
	if (m->spawner.sp_pid == 0)
		return;
	kill(m->spawner.sp_pid, SIGKILL);
	while (waitpid(m->spawner.sp_pid, NULL, 0) == -1 && errno == EINTR)
		;
	m->spawner.sp_pid = 0;
}

static void
reap(struct master *m)
{
	int status;
	pid_t pid;
	size_t i;

	/* The spawner's answers first: fewer exits of children unnamed. */
	read_reports(m);
	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0)
			break;
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD */
		}
		if (connection_ended(m, pid, status))
			continue;
		if (pid == m->spawner.sp_pid) {
			spawner_exited(m, status);
			continue;
		}
		if (!worker_forget(m, pid)) {
			/* The spawner's answer naming it is still coming. */
			if (spawns_outstanding(m)) {
				struct orphan *o = orphan_slot(m, pid);
				o->o_exited = 1;
				o->o_status = status;
			}
			continue;
		}
		for (i = 0; i < m->ls.ls_count; i++) {
			struct listener *l = &m->ls.ls_items[i];
			long long now = clock_ms(), delay;

			if (l->l_worker != pid)
				continue;
			l->l_worker = 0;
			if (m->stopping)
				break;
			log_exit_status("UDP worker", pid, status);
			delay = restart_delay(&l->l_worker_failures,
			    l->l_worker_started, now);
			log_warnx("restarting the UDP worker of %s in %lld ms",
			    l->l_name, delay);
			l->l_respawn_at = now + delay;
			break;
		}
	}
}

static void
respawn_due(struct master *m)
{
	long long now = clock_ms();
	size_t i;

	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];
		if (l->l_proto == SECHO_PROTO_UDP && l->l_worker == 0 &&
		    l->l_respawn_at != 0 && now >= l->l_respawn_at)
			spawn_udp(m, l);
	}
	if (m->spawner.sp_pid == 0 && m->spawner.sp_respawn_at != 0 &&
	    now >= m->spawner.sp_respawn_at)
		ensure_spawner(m);
}

/* ---- accept ---- */

static void
refuse(struct master *m, struct listener *l, const struct sockaddr *peer,
    const char *reason)
{
	struct logline ll;
	char name[ADDR_STRLEN];
	long long now = clock_ms();

	m->refused_total++;
	if (now - m->refuse_window >= 1000) {
		m->refuse_window = now;
		m->refuse_lines = 0;
	}
	/* A flood must not become a flood of log lines. */
	if (m->refuse_lines >= REFUSE_LOG_RATE) {
		m->refuse_suppressed++;
		return;
	}
	m->refuse_lines++;
	log_begin(&ll, LOG_WARNING, "refused");
	log_kv(&ll, "proto", config_proto_name(l->l_proto));
	log_kv(&ll, "peer", addr_format(peer, name, sizeof(name)));
	log_kv(&ll, "reason", reason);
	if (m->refuse_suppressed) {
		log_kvu(&ll, "suppressed", m->refuse_suppressed);
		m->refuse_suppressed = 0;
	}
	log_end(&ll);
}

/* Hand fd to the spawner; 0 with c->ch_pid the pending key, or -1. */
static int
spawn_conn(struct master *m, struct listener *l, int fd,
    const struct sockaddr *peer, struct child *c)
{
	const struct listener_config *lc = l->l_cfg;
	struct spawn_req r;

	memset(&r, 0, sizeof(r));
	memcpy(&r.sr_peer, peer, peer->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	r.sr_idle_ms = m->cfg->idle_timeout * 1000;
	r.sr_handshake_ms = m->cfg->handshake_timeout * 1000;
	r.sr_proxy = lc->lc_proxy_protocol;
	r.sr_log_facility = m->cfg->log_facility;
	r.sr_log_level = m->cfg->log_level;
	r.sr_log_stderr = log_stderr_wanted(m);
	r.sr_drop = m->privs.pv_drop;
	r.sr_uid = m->privs.pv_uid;
	r.sr_gid = m->privs.pv_gid;
	r.sr_chroot = m->privs.pv_chroot;
	r.sr_name = l->l_name;
	r.sr_ident = m->cfg->log_ident ? m->cfg->log_ident : "secho";
	r.sr_allow = lc->lc_allow;
	r.sr_deny = lc->lc_deny;
	if (!spawns_outstanding(m))
		m->spawn_progress = clock_ms();	/* the wait starts now */
	if (spawner_send(&m->spawner, &r, fd) == -1)
		return -1;
	c->ch_pid = pending_pid(r.sr_seq);
	return 0;
}

static void
accept_one(struct master *m, struct listener *l, int fd,
    const struct sockaddr *peer)
{
	const struct listener_config *lc = l->l_cfg;
	struct child_env env;
	struct child c;
	pid_t pid;

	memset(&c, 0, sizeof(c));
	addr_host_key(peer, c.ch_host);
	/*
	 * Behind PROXY the socket's peer is the balancer: access lists and
	 * the per-host limit wait for the child to report the real peer.
	 */
	if (!lc->lc_proxy_protocol &&
	    !addr_access_allowed(&lc->lc_allow, &lc->lc_deny, peer)) {
		refuse(m, l, peer, "access");
		return;
	}
	if (child_table_count(m->children) >= (size_t)m->cfg->max_connections) {
		refuse(m, l, peer, "max-connections");
		return;
	}
	if (!lc->lc_proxy_protocol &&
	    child_table_host_count(m->children, c.ch_host) >=
	    (unsigned)m->cfg->max_per_host) {
		refuse(m, l, peer, "max-per-host");
		return;
	}
	c.ch_proto = l->l_proto;
	c.ch_start = clock_ms();
	/* Plain TCP: the lean spawner forks it when it can (spawn.h). */
	if (l->l_proto == SECHO_PROTO_TCP && m->spawner.sp_fd != -1 &&
	    spawn_conn(m, l, fd, peer, &c) == 0) {
		if (child_table_add(m->children, &c) == -1)
			log_errx("out of memory in the child table");
		m->tcp_total++;
		return;
	}
	child_env_of(m, &env);
	pid = child_spawn_conn(&env, l, fd, peer);
	if (pid == -1) {
		char name[ADDR_STRLEN];
		log_err("fork for %s", addr_format(peer, name, sizeof(name)));
		return;
	}
	c.ch_pid = pid;
	if (child_table_add(m->children, &c) == -1)
		log_errx("out of memory in the child table");
	if (l->l_proto == SECHO_PROTO_TLS)
		m->tls_total++;
	else
		m->tcp_total++;
}

/*
 * Out of file descriptors: with the spare descriptor given back, take the
 * waiting connection and close it at once, so the client is not left
 * hanging in the backlog; say so at most once a second and stop polling
 * the listeners briefly, so there is no busy loop while the shortage
 * lasts.
 */
static void
out_of_fds(struct master *m, struct listener *l)
{
	char name[ADDR_STRLEN] = "-";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	long long now = clock_ms();
	int saved = errno, fd;

	if (m->reserve_fd != -1) {
		close(m->reserve_fd);
		fd = accept4(l->l_fd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC);
		if (fd != -1) {
			addr_format((struct sockaddr *)&ss, name, sizeof(name));
			m->refused_total++;
			close(fd);
		}
		m->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (now - m->fd_warned >= 1000) {
		m->fd_warned = now;
		errno = saved;
		log_warn("accept on %s: out of file descriptors, closed "
		    "connection from %s", l->l_name, name);
	}
	m->accept_pause_until = now + 100;
}

static void
accept_ready(struct master *m, struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, i;

	/* A shortage may have kept us from taking the spare back. */
	if (m->reserve_fd == -1)
		m->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		/* TLS works non-blocking; plain TCP echoes blocking. */
		fd = accept4(l->l_fd, (struct sockaddr *)&ss, &len,
		    (l->l_proto == SECHO_PROTO_TLS ? SOCK_NONBLOCK : 0) |
		    SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
				return;
			case EMFILE:
			case ENFILE:
				out_of_fds(m, l);
				return;
			case ENOBUFS:
			case ENOMEM:
				/* Pause rather than spin (sshd, stunnel). */
				log_warn("accept on %s; pausing for 1 s",
				    l->l_name);
				m->accept_pause_until = clock_ms() + 1000;
				return;
			default:
				log_warn("accept on %s", l->l_name);
				return;
			}
		}
		accept_one(m, l, fd, (struct sockaddr *)&ss);
		close(fd);
	}
}

/*
 * A child behind a PROXY header names the real peer: move its count to
 * that host and answer whether it is within the per-host limit.  The
 * refusal itself is logged by the child, which knows the listener.
 */
static void
handle_report(struct master *m, const struct child_report *rep)
{
	unsigned char host[16];
	union sigval v;

	if (rep->cr_peer.ss_family != AF_INET &&
	    rep->cr_peer.ss_family != AF_INET6)
		return;
	if (rep->cr_type == CHILD_REPORT_ACCESS) {
		m->refused_total++;
		return;
	}
	addr_host_key((const struct sockaddr *)&rep->cr_peer, host);
	if (child_table_set_host(m->children, rep->cr_pid, host) == -1) {
		/* Its pid may still be on its way from the spawner. */
		if (spawns_outstanding(m)) {
			struct orphan *o = orphan_slot(m, rep->cr_pid);
			o->o_reported = 1;
			o->o_rep = *rep;
		}
		return;	/* else a stale pid: ignored */
	}
	v.sival_int = CHILD_VERDICT_OK;
	if (child_table_host_count(m->children, host) >
	    (unsigned)m->cfg->max_per_host) {
		v.sival_int = CHILD_VERDICT_MAX_PER_HOST;
		m->refused_total++;
	}
	sigqueue(rep->cr_pid, SIGUSR2, v);
}

/*
 * The report socket: PROXY children's reports and the spawner's answers.
 * The sender's pid is the kernel's (SO_PASSCRED), not what a child wrote.
 */
static void
read_reports(struct master *m)
{
	union {
		struct child_report	cr;
		struct spawn_reply	sr;
	} u;
	union {
		char		 b[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr	 align;
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	struct ucred uc;
	pid_t sender;
	ssize_t n;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = &u;
		iov.iov_len = sizeof(u);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf.b;
		msg.msg_controllen = sizeof(cbuf.b);
		/* Room for credentials only: descriptors a child might send
		 * are discarded by the kernel (MSG_CTRUNC). */
		n = recvmsg(m->report_rd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return;
		sender = 0;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
				sender = uc.pid;
			}
		if (sender <= 0)
			continue;
		if (n == (ssize_t)sizeof(u.sr) &&
		    u.sr.sp_type == SPAWN_REPLY_TYPE) {
			if (sender == m->spawner.sp_pid)
				spawn_answered(m, &u.sr);
			continue;
		}
		if (n != (ssize_t)sizeof(u.cr))
			continue;
		u.cr.cr_pid = sender;
		handle_report(m, &u.cr);
	}
}

/* ---- events ---- */

static void
log_listening(const struct listener *l)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "listening");
	log_kv(&ll, "proto", config_proto_name(l->l_proto));
	log_kv(&ll, "addr", l->l_name);
	log_end(&ll);
}

static uint64_t
udp_total(const struct master *m)
{
	uint64_t t = m->udp_retired;
	size_t i;

	for (i = 0; i < m->ls.ls_count; i++)
		if (m->ls.ls_items[i].l_counters)
			t += __atomic_load_n(
			    &m->ls.ls_items[i].l_counters->uc_echoed,
			    __ATOMIC_RELAXED);
	return t;
}

static void
log_stats(const struct master *m)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "stats");
	log_kvu(&ll, "uptime_s", (clock_ms() - m->start_ms) / 1000);
	log_kvu(&ll, "active", child_table_count(m->children));
	log_kvu(&ll, "tcp_total", m->tcp_total);
	log_kvu(&ll, "tls_total", m->tls_total);
	log_kvu(&ll, "udp_total", udp_total(m));
	log_kvu(&ll, "refused_total", m->refused_total);
	log_end(&ll);
}

static void
log_reload(const char *result, const char *error)
{
	struct logline ll;

	log_begin(&ll, LOG_NOTICE, "reload");
	log_kv(&ll, "result", result);
	if (error)
		log_kv(&ll, "error", error);
	log_end(&ll);
}

static void
reload(struct master *m)
{
	struct secho_config *ncfg = NULL;
	struct tls_server **ntls = NULL;
	struct listener_set nls;
	struct privs npv;
	char *errs = NULL, err[1024], warn[512];
	size_t i;

	notify_send("RELOADING=1");
	if (config_load(m->opts->mo_config, &ncfg, &errs) == -1) {
		/* One line in the log: the first problem and a count. */
		size_t n = 0;
		char *p;
		for (p = errs; p && *p; p++)
			n += *p == '\n';
		if (errs && (p = strchr(errs, '\n')) != NULL)
			*p = '\0';
		if (n > 1)
			snprintf(err, sizeof(err), "%s (and %zu more)",
			    errs ? errs : "?", n - 1);
		else
			snprintf(err, sizeof(err), "%s", errs ? errs : "?");
		free(errs);
		log_reload("failed", err);
		goto done;
	}
	if (child_privs_resolve(ncfg, &npv, err, sizeof(err), warn,
	    sizeof(warn)) == -1) {
		log_reload("failed", err);
		config_free(ncfg);
		goto done;
	}
	if ((ntls = tls_build_all(ncfg, err, sizeof(err))) == NULL) {
		log_reload("failed", err);
		child_privs_free(&npv);
		config_free(ncfg);
		goto done;
	}
	if (listen_build(ncfg, &m->ls, &nls, err, sizeof(err)) != 0) {
		log_reload("failed", err);
		tls_free_all(ntls, ncfg->nlisteners);
		child_privs_free(&npv);
		config_free(ncfg);
		goto done;
	}

	/* Committed.  Removed sockets close; their workers stop. */
	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *o = &m->ls.ls_items[i];
		if (o->l_worker > 0)
			kill(o->l_worker, SIGTERM);
		if (o->l_counters)
			m->udp_retired += o->l_counters->uc_echoed;
	}
	listen_free(&m->ls);
	tls_free_all(m->tls, m->cfg->nlisteners);
	config_free(m->cfg);
	child_privs_free(&m->privs);
	m->cfg = ncfg;
	m->tls = ntls;
	m->privs = npv;
	m->ls = nls;
	attach_tls(m);
	tls_rotate_keys();	/* tickets: rotate on reload (issue 3) */
	apply_log_config(m);
	if (warn[0])
		log_warnx("%s", warn);

	/* UDP workers start over with the new settings (new, then old out). */
	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];
		pid_t old = l->l_worker;
		if (l->l_proto != SECHO_PROTO_UDP)
			continue;
		l->l_worker_failures = 0;
		spawn_udp(m, l);
		if (old > 0)
			kill(old, SIGTERM);
	}
	/* A spawner that is not running gets another chance (installed
	 * since, or the first plain TCP listener). */
	if (m->spawner.sp_pid == 0) {
		m->spawner.sp_path[0] = '\0';
		m->spawner.sp_failures = 0;
		ensure_spawner(m);
	}
	/* Listening lines for the sockets that are new. */
	for (i = 0; i < m->ls.ls_count; i++)
		if (!m->ls.ls_items[i].l_reused)
			log_listening(&m->ls.ls_items[i]);
	log_reload("ok", NULL);
done:
	notify_send("READY=1");
}

static void
begin_shutdown(struct master *m)
{
	struct logline ll;
	size_t i;

	if (m->stopping)
		return;
	reap(m);	/* children that already ended are not active */
	m->stopping = 1;
	notify_send("STOPPING=1");
	log_begin(&ll, LOG_NOTICE, "shutdown");
	log_kvu(&ll, "active", child_table_count(m->children));
	log_end(&ll);
	/* Stop accepting: listeners close, UDP workers stop now. */
	for (i = 0; i < m->nworkers; i++)
		kill(m->workers[i], SIGTERM);
	listen_close_fds(&m->ls);
	m->stop_deadline = clock_ms() + m->cfg->shutdown_timeout * 1000LL;
}

/* Poll timeout (ms) until the next timed duty, -1 for none. */
static int
next_timeout(const struct master *m)
{
	long long now = clock_ms(), t = -1, d;
	size_t i;

#define CONSIDER(at) do { d = (at) - now; if (d < 0) d = 0; \
	if (t < 0 || d < t) t = d; } while (0)
	if (m->stopping) {
		if (m->kill_deadline)
			CONSIDER(m->kill_deadline);
		else
			CONSIDER(m->stop_deadline);
	} else {
		for (i = 0; i < m->ls.ls_count; i++)
			if (m->ls.ls_items[i].l_respawn_at)
				CONSIDER(m->ls.ls_items[i].l_respawn_at);
		if (m->spawner.sp_respawn_at)
			CONSIDER(m->spawner.sp_respawn_at);
		if (m->accept_pause_until > now)
			CONSIDER(m->accept_pause_until);
		CONSIDER(now + 60000);	/* TLS ticket key rotation */
	}
	if (m->spawner.sp_pid != 0 && spawns_outstanding(m))
		CONSIDER(m->spawn_progress + SPAWN_STALL_MS);
#undef CONSIDER
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

static int
run_loop(struct master *m)
{
	struct pollfd *pfds = NULL;
	struct listener **owners = NULL;
	size_t cap = 0, n, i;
	int sig, r;

	for (;;) {
		if (m->stopping && child_table_count(m->children) == 0 &&
		    m->nworkers == 0)
			break;
		if (cap < m->ls.ls_count + 2) {
			/* poll writes it after each fork: nofork.h says why. */
			nofork_free(pfds, cap, sizeof(*pfds));
			nofork_free(owners, cap, sizeof(*owners));
			cap = m->ls.ls_count + 2;
			pfds = nofork_calloc(cap, sizeof(*pfds));
			owners = nofork_calloc(cap, sizeof(*owners));
			if (pfds == NULL || owners == NULL) {
				log_errx("out of memory in the master loop");
				nofork_free(pfds, cap, sizeof(*pfds));
				nofork_free(owners, cap, sizeof(*owners));
				return EX_FAIL;
			}
		}
		n = 0;
		pfds[n].fd = m->sigfd;
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		pfds[n].fd = m->report_rd;
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		if (!m->stopping && clock_ms() >= m->accept_pause_until)
			for (i = 0; i < m->ls.ls_count; i++) {
				struct listener *l = &m->ls.ls_items[i];
				if (l->l_proto == SECHO_PROTO_UDP || l->l_fd < 0)
					continue;
				pfds[n].fd = l->l_fd;
				pfds[n].events = POLLIN;
				owners[n++] = l;
			}
		r = poll(pfds, n, next_timeout(m));
		if (r == -1 && errno != EINTR) {
			log_err("poll");
			break;
		}
		if (r > 0 && (pfds[0].revents & POLLIN)) {
			while ((sig = sig_next()) != 0) {
				switch (sig) {
				case SIGCHLD:
					reap(m);
					break;
				case SIGHUP:
					if (!m->stopping)
						reload(m);
					break;
				case SIGUSR1:
					/*
					 * The signalfd hands USR1 before a
					 * pending CHLD: children that already
					 * ended are not active (as at shutdown).
					 */
					reap(m);
					log_stats(m);
					break;
				case SIGTERM:
				case SIGINT:
					begin_shutdown(m);
					break;
				}
			}
		}
		if (r > 0 && (pfds[1].revents & POLLIN))
			read_reports(m);
		if (r > 0 && !m->stopping)
			for (i = 2; i < n; i++)
				if (pfds[i].revents & POLLIN)
					accept_ready(m, owners[i]);
		spawner_watch(m);
		if (m->stopping) {
			long long now = clock_ms();
			if (!m->kill_deadline && now >= m->stop_deadline) {
				/* Time is up: children log reason=shutdown. */
				child_table_signal(m->children, SIGTERM);
				m->kill_deadline = now + KILL_GRACE_MS;
			} else if (m->kill_deadline && now >= m->kill_deadline) {
				child_table_signal(m->children, SIGKILL);
				for (i = 0; i < m->nworkers; i++)
					kill(m->workers[i], SIGKILL);
				m->kill_deadline = now + KILL_GRACE_MS;
			}
		} else {
			respawn_due(m);
			tls_tick(clock_ms());
		}
	}
	nofork_free(pfds, cap, sizeof(*pfds));
	nofork_free(owners, cap, sizeof(*owners));
	return EX_OK_;
}

/*
 * Detach: new session, no controlling terminal, "/" as working directory,
 * standard streams on /dev/null -- but standard error stays when the
 * operator asked for log lines there (-e).
 */
static int
daemonize(int keep_stderr)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return -1;
	/* Second fork: never a session leader, so no controlling tty. */
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		return -1;
	umask(022);
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

int
master_main(const struct master_opts *opts, struct secho_config *cfg)
{
	struct master m;
	char err[1024], warn[512];
	size_t i;
	int rc = EX_FAIL;

	memset(&m, 0, sizeof(m));
	m.opts = opts;
	m.cfg = cfg;
	m.sigfd = m.pidfd = -1;
	m.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	m.report_rd = m.report_wr = -1;
	m.spawner.sp_fd = -1;
	m.start_ms = clock_ms();
	apply_log_config(&m);

	if ((m.children = child_table_new()) == NULL) {
		startup_error("out of memory");
		goto out;
	}
	if (child_privs_resolve(cfg, &m.privs, err, sizeof(err), warn,
	    sizeof(warn)) == -1) {
		startup_error("%s", err);
		rc = EX_OSERR_;
		goto out;
	}
	if (warn[0])
		log_warnx("%s", warn);
	if (cfg->pidfile) {
		if ((m.pidfile = strdup(cfg->pidfile)) == NULL ||
		    (m.pidfd = pidfile_lock(cfg->pidfile)) == -1) {
			rc = EX_OSERR_;
			goto out;
		}
	}
	if ((m.tls = tls_build_all(cfg, err, sizeof(err))) == NULL) {
		startup_error("%s", err);
		rc = EX_CONFIG_;
		goto out;
	}
	switch (listen_build(cfg, NULL, &m.ls, err, sizeof(err))) {
	case 0:
		break;
	case LISTEN_ERR_CONFIG:
		startup_error("%s", err);
		rc = EX_CONFIG_;
		goto out;
	default:
		startup_error("%s", err);
		rc = EX_OSERR_;
		goto out;
	}
	attach_tls(&m);

	if (!opts->mo_foreground) {
		if (daemonize(opts->mo_stderr) == -1) {
			startup_error("detaching: %s", strerror(errno));
			goto out;
		}
		/* Only syslog from now on, unless -e. */
		log_set_stderr(opts->mo_stderr);
	}
	if (m.pidfd != -1 && pidfile_write(m.pidfd, m.pidfile) == -1)
		goto out;
	{
		int sv[2], one = 1;
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) == -1) {
			startup_error("socketpair: %s", strerror(errno));
			goto out;
		}
		m.report_rd = sv[0];
		m.report_wr = sv[1];
		/* Who sent a report: the kernel says (read_reports()). */
		if (setsockopt(m.report_rd, SOL_SOCKET, SO_PASSCRED, &one,
		    sizeof(one)) == -1) {
			startup_error("SO_PASSCRED: %s", strerror(errno));
			goto out;
		}
	}
	if ((m.sigfd = sig_master_init()) == -1) {
		startup_error("signals: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < m.ls.ls_count; i++)
		log_listening(&m.ls.ls_items[i]);
	ensure_spawner(&m);	/* returns once it runs secho-spawn */
	for (i = 0; i < m.ls.ls_count; i++)
		if (m.ls.ls_items[i].l_proto == SECHO_PROTO_UDP)
			spawn_udp(&m, &m.ls.ls_items[i]);
	notify_send("READY=1");

	rc = run_loop(&m);
	spawner_stop(&m);
out:
	if (m.pidfd != -1) {
		/*
		 * We hold the lock, so the file is ours (or a stale one of a
		 * dead process): remove it, also after a failed start.
		 */
		unlink(m.pidfile);
		close(m.pidfd);
	}
	free(m.pidfile);
	listen_free(&m.ls);
	if (m.cfg) {
		tls_free_all(m.tls, m.cfg->nlisteners);
		config_free(m.cfg);
	}
	child_privs_free(&m.privs);
	child_table_free(m.children);
	free(m.workers);
	if (m.reserve_fd != -1)
		close(m.reserve_fd);
	if (m.report_rd != -1)
		close(m.report_rd);
	if (m.report_wr != -1)
		close(m.report_wr);
	sig_close_pipe();
	return rc;
}
