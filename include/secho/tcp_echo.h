/*
 * tcp_echo.h - plain TCP connections (tcp_echo.c).
 */
#ifndef SECHO_TCP_ECHO_H
#define SECHO_TCP_ECHO_H

#include <signal.h>

#include "secho/conn.h"
#include "secho/echo.h"

/* A struct conn over the non-blocking socket fd (for echo_run()). */
void	tcp_conn_init(struct conn *c, int fd);

/*
 * The same echo as echo_run() for a plain socket in blocking mode: recv,
 * send everything, repeat; SO_RCVTIMEO/SO_SNDTIMEO give the idle timeout
 * and a stop signal shuts the socket down (sig_child_wake_fd()).  Signals
 * in sigmask are unblocked while it runs.  Counts bytes in c.
 */
enum echo_result tcp_echo_run(struct conn *c, int idle_timeout_ms,
    volatile sig_atomic_t *stop, const sigset_t *sigmask);

/* struct conn_proto's cp_serve for plain TCP (arg unused). */
const char *tcp_echo_serve(void *arg, const struct conn_req *r,
	    struct conn *c, long long hs_deadline, const char *peername,
	    struct conn_tls_info *ti);

#endif
