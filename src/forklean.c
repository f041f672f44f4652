/*
 * forklean.c - fork(2) without glibc's fork handlers, for the engines'
 * connection processes (engine.c).
 */
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "secho/forklean.h"

/*
 * fork(2) without glibc's fork handlers.  glibc's fork() takes its
 * malloc and stdio locks before the fork and releases them after, in the
 * engine too: the engine then owns new copies of those pages and every
 * live connection's process keeps the old ones -- 12 KiB more per idle
 * plain connection, 16 KiB per TLS one (bench/RESULTS.md, "fork").  The
 * handlers have nothing to do here: the engine is single-threaded (it
 * must stay so) and holds no lock at this call; OpenSSL 3's fork
 * handlers are empty (its random generator reseeds when getpid()
 * changes); getpid() and raise() ask the kernel.
 */
pid_t
fork_lean(void)
{
#if defined(__s390__) || defined(__CRIS__)
	return (pid_t)syscall(SYS_clone, 0, SIGCHLD, 0, 0, 0);	/* stack first */
#else
	return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}
