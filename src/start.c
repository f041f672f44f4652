/*
 * start.c - the master's start, in order: privileges resolved, pidfile
 * locked, TLS contexts built, sockets bound, detached, pidfile written,
 * the engines and UDP workers started, "listening"; then the loop
 * (master.c), and everything freed at the end.  Exit codes: sysexits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "secho/clock.h"
#include "secho/conntab.h"
#include "secho/listen.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/notify.h"
#include "secho/sig.h"

#define EX_FAIL		1
#define EX_OSERR_	71
#define EX_CONFIG_	78

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

/* Everything up to the loop; a sysexits code, 0 when serving. */
static int
start(struct master *m)
{
	char err[1024], warn[512];
	size_t i;

	if (privs_resolve(m->gen.g_cfg, &m->gen.g_privs, err, sizeof(err),
	    warn, sizeof(warn)) == -1) {
		startup_error("%s", err);
		return EX_OSERR_;
	}
	if (warn[0])
		log_warnx("%s", warn);
	if (m->gen.g_cfg->pidfile) {
		if ((m->pidfile = strdup(m->gen.g_cfg->pidfile)) == NULL) {
			startup_error("out of memory");
			return EX_FAIL;
		}
		if ((m->pidfd = pidfile_lock(m->pidfile, err,
		    sizeof(err))) == -1) {
			startup_error("%s", err);
			return EX_OSERR_;
		}
	}
	if (generation_tls_build(&m->gen, err, sizeof(err)) == -1) {
		startup_error("%s", err);
		return EX_CONFIG_;
	}
	generation_log_keylogs(&m->gen);
	switch (listen_build(m->gen.g_cfg, NULL, &m->ls, err, sizeof(err))) {
	case 0:
		break;
	case LISTEN_ERR_CONFIG:
		startup_error("%s", err);
		return EX_CONFIG_;
	default:
		startup_error("%s", err);
		return EX_OSERR_;
	}
	if (!m->opts->mo_foreground) {
		if (daemonize(m->opts->mo_stderr) == -1) {
			startup_error("detaching: %s", strerror(errno));
			return EX_FAIL;
		}
		/* Only syslog from now on, unless -e. */
		log_set_stderr(m->opts->mo_stderr);
	}
	if (m->pidfd != -1 &&
	    pidfile_write(m->pidfd, m->pidfile, err, sizeof(err)) == -1) {
		startup_error("%s", err);
		return EX_FAIL;
	}
	/* After the daemon's forks: this memory never goes into one. */
	if ((m->conns = conntab_new()) == NULL) {
		startup_error("out of memory");
		return EX_FAIL;
	}
	/*
	 * The processes of an engine that dies are given to us, not to
	 * PID 1 (which may not reap): they end at once (PR_SET_PDEATHSIG)
	 * and are reaped here, so none outlives the service as a zombie.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("cannot become the reaper of our descendants");
	if ((m->sigfd = sig_master_init()) == -1) {
		startup_error("signals: %s", strerror(errno));
		return EX_FAIL;
	}
	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];

		if ((l->l_proto != SECHO_PROTO_UDP && !engines_current(m,
		    l->l_proto) && engines_start(m, l->l_proto) == -1) ||
		    (l->l_proto == SECHO_PROTO_UDP &&
		    workers_start(m, l) == -1)) {
			startup_error("cannot start the %s processes: %s",
			    config_proto_name(l->l_proto), strerror(errno));
			return EX_OSERR_;
		}
	}
	/* Everything that serves runs: "listening" means served. */
	for (i = 0; i < m->ls.ls_count; i++)
		master_log_listening(&m->ls.ls_items[i]);
	notify_send("READY=1");
	return 0;
}

int
master_main(const struct master_opts *opts, struct secho_config *cfg)
{
	struct master m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.opts = opts;
	m.gen.g_cfg = cfg;
	m.gen.g_serial = 1;
	m.sigfd = m.pidfd = -1;
	m.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	m.start_ms = clock_ms();
	master_apply_log(&m);
	engines_locate(&m);
	if ((rc = start(&m)) == 0)
		rc = master_run(&m);
	else {
		/* A failed start: what did start ends with the master. */
		engines_kill_all(&m);
		workers_signal(&m, SIGKILL);
		while (waitpid(-1, NULL, 0) != -1 || errno == EINTR)
			;
	}
	pidfile_remove(m.pidfd, m.pidfile);
	free(m.pidfile);
	listen_free(&m.ls);
	generation_free(&m.gen);
	engines_free(&m);
	conntab_free(m.conns);
	free(m.workers);
	if (m.reserve_fd != -1)
		close(m.reserve_fd);
	sig_close_pipe();
	return rc;
}
