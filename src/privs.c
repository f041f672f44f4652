/*
 * privs.c - who connection processes and UDP workers run as:
 * daemon.user and daemon.group resolved in the master, at start and on
 * every reload (the drop itself is conn.c's).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secho/master.h"

int
privs_resolve(const struct secho_config *cfg, struct privs *pv,
    char *err, size_t errlen, char *warn, size_t warnlen)
{
	struct passwd *pw;
	struct group *gr;

	memset(pv, 0, sizeof(*pv));
	if (warnlen)
		warn[0] = '\0';
	if (cfg->user == NULL) {
		if (cfg->chroot_dir)
			snprintf(warn, warnlen, "daemon.chroot is ignored "
			    "without daemon.user");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "%s: daemon.user: user \"%s\" does not "
		    "exist", cfg->file, cfg->user);
		return -1;
	}
	pv->pv_uid = pw->pw_uid;
	pv->pv_gid = pw->pw_gid;
	if (cfg->group) {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			snprintf(err, errlen, "%s: daemon.group: group \"%s\" "
			    "does not exist", cfg->file, cfg->group);
			return -1;
		}
		pv->pv_gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		snprintf(warn, warnlen, "not started as root: children keep "
		    "uid %u (daemon.user \"%s\" ignored)",
		    (unsigned)geteuid(), cfg->user);
		return 0;
	}
	pv->pv_drop = 1;
	if (cfg->chroot_dir && (pv->pv_chroot = strdup(cfg->chroot_dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
privs_free(struct privs *pv)
{
	free(pv->pv_chroot);
	pv->pv_chroot = NULL;
}
