/*
 * sig.c - signals: a signalfd for the master, a stop flag for the
 * processes of connections and UDP workers.
 *
 * The master keeps HUP, TERM, INT, USR1 and CHLD blocked for good and
 * reads them from a signalfd in its poll() loop: no handler runs in the
 * master at all, so a fork needs no mask juggling and a child can never
 * run master code on a signal.  A connection's process or a UDP worker
 * installs one handler (TERM/INT set a flag and shut the socket down,
 * sig_child_wake_fd) and lets the stop signals in only where it waits
 * (ppoll, or the blocking plain echo, which a shutdown() wakes), so it
 * cannot lose a stop request.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/sig.h"

static int sig_fd = -1;
static volatile sig_atomic_t *child_stop;
static volatile sig_atomic_t child_wake_fd = -1;

static void
master_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGCHLD);
	/* Not ours: "pkill -USR2 secho" must not end anything. */
	sigaddset(set, SIGUSR2);
}

int
sig_master_init(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;
	master_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return sig_fd;
}

int
sig_next(void)
{
	struct signalfd_siginfo si;
	ssize_t n;

	do
		n = read(sig_fd, &si, sizeof(si));
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof(si) ? (int)si.ssi_signo : 0;
}

void
sig_close_pipe(void)
{
	if (sig_fd != -1)
		close(sig_fd);
	sig_fd = -1;
}

static void
child_handler(int signo)
{
	int saved = errno;

	(void)signo;
	if (child_stop)
		*child_stop = 1;
	/* shutdown() is async-signal-safe; it wakes a blocked recv/send. */
	if (child_wake_fd != -1)
		shutdown(child_wake_fd, SHUT_RDWR);
	errno = saved;
}

void
sig_child_wake_fd(int fd)
{
	child_wake_fd = fd;
}

void
sig_child_init(volatile sig_atomic_t *stop, sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	/*
	 * SIGPIPE ignored (inherited); HUP, USR1 and CHLD stay blocked: a
	 * "pkill -HUP secho" is for the master.
	 */
	child_stop = stop;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = child_handler;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/*
	 * TERM and INT stay blocked except inside ppoll(): a stop request
	 * that arrives between the flag test and the wait is delivered when
	 * ppoll() unblocks it, so it cannot be lost.
	 */
	master_set(&block);
	sigprocmask(SIG_SETMASK, &block, NULL);
	*waitmask = block;
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}
