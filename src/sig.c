/*
 * sig.c - signals: a self-pipe for the master, a stop flag for children.
 *
 * Handlers do nothing but write one byte (the signal number) or set a
 * flag, and they save errno.  The master's poll() sees the pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "secho/sig.h"

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t *child_stop;

static void
master_handler(int signo)
{
	int saved = errno;
	unsigned char c = (unsigned char)signo;

	/* A full pipe already wakes the loop; the byte may be dropped. */
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* EAGAIN: loop is awake anyway */
	}
	errno = saved;
}

static int
set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int
sig_master_init(void)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGCHLD };
	struct sigaction sa;
	size_t i;

	if (pipe(sig_pipe) == -1)
		return -1;
	if (set_flags(sig_pipe[0]) == -1 || set_flags(sig_pipe[1]) == -1)
		return -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	sa.sa_handler = master_handler;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) == -1)
			return -1;
	return sig_pipe[0];
}

int
sig_next(void)
{
	unsigned char c;
	ssize_t n;

	do
		n = read(sig_pipe[0], &c, 1);
	while (n == -1 && errno == EINTR);
	return n == 1 ? c : 0;
}

void
sig_close_pipe(void)
{
	if (sig_pipe[0] != -1)
		close(sig_pipe[0]);
	if (sig_pipe[1] != -1)
		close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
}

static void
child_handler(int signo)
{
	(void)signo;
	if (child_stop)
		*child_stop = 1;
}

void
sig_child_init(volatile sig_atomic_t *stop, sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	/*
	 * The master forks with every signal blocked, so until here none of
	 * its handlers (which write to its self-pipe) can run in the child.
	 */
	child_stop = stop;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);

	/* A reload or stats request is for the master, not for us. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);

	sa.sa_handler = child_handler;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/*
	 * TERM and INT stay blocked except inside ppoll(): a stop request
	 * that arrives between the flag test and the wait is delivered when
	 * ppoll() unblocks it, so it cannot be lost.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	/* SIGUSR2 carries the master's verdict; taken with sigtimedwait(). */
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_SETMASK, &block, NULL);
	sigemptyset(waitmask);
	sigaddset(waitmask, SIGUSR2);
}
