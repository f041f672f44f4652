/*
 * sig.h - signal set-up for the master (signalfd) and for children.
 */
#ifndef SECHO_SIG_H
#define SECHO_SIG_H

#include <signal.h>

/*
 * Block HUP, TERM, INT, USR1 and CHLD for good and return a
 * non-blocking signalfd that reports them, or -1.  SIGPIPE is ignored.
 */
int	sig_master_init(void);

/* Read one pending signal number from the signalfd, 0 when none. */
int	sig_next(void);

/* Close the signalfd (in a child after fork). */
void	sig_close_pipe(void);

/*
 * In a child after fork: install a handler for TERM/INT that sets *stop
 * and keep them blocked but while waiting: *waitmask receives the mask to
 * use in ppoll().  The master's other signals stay blocked.
 */
void	sig_child_init(volatile sig_atomic_t *stop, sigset_t *waitmask);

/*
 * In a child: on TERM/INT, besides setting the stop flag, shut down fd
 * (both ways), so that a blocking recv() or send() on it returns at
 * once.  -1 for none.
 */
void	sig_child_wake_fd(int fd);

#endif
