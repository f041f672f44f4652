/*
 * sig.h - signal set-up for the master (self-pipe) and for children.
 */
#ifndef SECHO_SIG_H
#define SECHO_SIG_H

#include <signal.h>

/*
 * Create the self-pipe (both ends non-blocking, close-on-exec) and install
 * handlers for HUP, TERM, INT, USR1 and CHLD that only write the signal
 * number to it.  SIGPIPE is ignored.  Returns the read end, or -1.
 */
int	sig_master_init(void);

/* Read one pending signal number from the self-pipe, 0 when none. */
int	sig_next(void);

/* Close the self-pipe (in a child after fork). */
void	sig_close_pipe(void);

/*
 * In a child after fork: restore default dispositions, keep SIGPIPE
 * ignored, install a handler for TERM/INT that sets *stop, and block
 * TERM/INT; *waitmask receives the mask to use while waiting (ppoll).
 */
void	sig_child_init(volatile sig_atomic_t *stop, sigset_t *waitmask);

#endif
