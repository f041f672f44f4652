/*
 * secho_tcp.c - secho-tcp, the plain TCP engine (engine.h) as a program
 * of its own: it maps nothing but libc, so forking a connection's process
 * from it costs about half of a fork of the master, which has OpenSSL and
 * libconfig mapped (doc/DESIGN.md).  Started by the master with its
 * channel on descriptor 3: "secho-tcp MASTER-PID PROTOCOL".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "secho/closefrom.h"
#include "secho/connreq.h"
#include "secho/engine.h"
#include "secho/tcp_echo.h"

static const struct conn_proto tcp_proto = {
	.cp_start = NULL,
	.cp_serve = tcp_echo_serve,
	.cp_arg = NULL,
};

int
main(int argc, char **argv)
{
	if (argc != 3 || fcntl(ENGINE_CHAN_FD, F_GETFD) == -1) {
		fprintf(stderr, "secho-tcp: started by secho(8) only\n");
		return 64;
	}
	if (strcmp(argv[2], CONNREQ_PROTOCOL) != 0) {
		fprintf(stderr, "secho-tcp: protocol %s, secho speaks %s: "
		    "restart secho\n", CONNREQ_PROTOCOL, argv[2]);
		return 65;
	}
	close_from(ENGINE_CHAN_FD + 1);
	return engine_run(ENGINE_CHAN_FD, (pid_t)strtol(argv[1], NULL, 10),
	    &tcp_proto);
}
