/*
 * engine.h - an engine: the process that creates, owns and reaps the
 * process of each connection of one protocol (doc/DESIGN.md).
 *
 * The master hands it each accepted connection (MSG_CONN with the socket
 * and a struct conn_req); it forks the connection's process, knows its
 * pid at once, reaps it, and tells the master in order on their one
 * channel: MSG_STARTED (or MSG_NOT_STARTED), the PROXY messages of that
 * process (MSG_PEER, MSG_ACCESS), MSG_ENDED.  The master's MSG_VERDICT
 * goes back to the process it concerns; MSG_STOP signals every process;
 * MSG_DRAIN (or the master's end of file) ends the engine once its
 * processes are gone.  Its processes die with it (PR_SET_PDEATHSIG), as
 * it dies with the master.  Only libc: the static secho-tcp runs it.
 */
#ifndef SECHO_ENGINE_H
#define SECHO_ENGINE_H

#include <stdint.h>
#include <sys/types.h>

#include "secho/conn.h"

/* Where the exec'd secho-tcp finds its channel to the master. */
#define ENGINE_CHAN_FD	3
/*
 * An engine keeps its descriptors of long-lived connections (PROXY
 * channels) at or above this number and its own below it, so that a new
 * connection process closes everything of the others' in one call.
 */
#define ENGINE_FD_BASE	64

/*
 * A datagram front (dtls_front.c): an engine whose protocol has no
 * accept owns its listener sockets, answers what needs no state itself,
 * and asks the master (MSG_ADMIT, by engine_ask()) before it keeps any
 * state for a peer; MSG_ADMITTED makes the peer a connection with an id.
 */
struct engine;
/* The largest message an engine sends the master (engine_ask too). */
#define ENGINE_MSG_MAX	192

struct engine_front {
	int	(*ef_fd)(void *f);	/* to poll for reading, or -1 */
	int	(*ef_timeout)(void *f);	/* ms until its next duty, -1 none */
	void	(*ef_ready)(void *f, struct engine *e);	/* read, answer */
	/* The socket of the peer admitted for token, or -1 with errno. */
	int	(*ef_admitted)(void *f, uint64_t token);
	void	(*ef_refused)(void *f, uint64_t token);
	void	(*ef_drain)(void *f);	/* read no more */
	size_t	(*ef_pending)(void *f);	/* questions not answered yet */
	void	(*ef_child)(void *f);	/* first thing in a new process */
};

/* Ask the master about a peer: MSG_ADMIT with payload p. */
void	engine_ask(struct engine *e, const void *p, size_t len);

/*
 * Run an engine on chan (SOCK_SEQPACKET to the master, whose pid is
 * master) with proto serving each connection, until it drains.  Every
 * descriptor but stdio and chan must be closed already.  Returns the
 * exit status: 0, or 1 when it could not set itself up (logged).
 */
int	engine_run(int chan, pid_t master, const struct conn_proto *proto);

#endif
