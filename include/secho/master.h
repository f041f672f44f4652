/*
 * master.h - the master process: bind, daemonize, pidfile, the poll loop
 * over listeners and the self-pipe, limits, reload, shutdown.
 */
#ifndef SECHO_MASTER_H
#define SECHO_MASTER_H

#include "secho/config.h"

struct master_opts {
	const char	*mo_config;	/* path */
	int		 mo_foreground;
	int		 mo_stderr;	/* -e */
};

/*
 * Take ownership of cfg (already loaded and validated), start serving
 * and run until SIGTERM/SIGINT.  Returns a sysexits code: 0 after a clean
 * shutdown, 71 when the system refused something at start (port in use,
 * unknown user, locked pidfile), 78 for configuration problems found only
 * now (certificates, unresolvable names), 1 otherwise.  Start-up errors
 * are printed on standard error as "secho: message".
 */
int	master_main(const struct master_opts *opts, struct secho_config *cfg);

#endif
