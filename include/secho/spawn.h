/*
 * spawn.h - the plain TCP spawner (secho-spawn) and its protocol.
 *
 * Forking a connection child from the master copies an address space
 * with OpenSSL and libconfig mapped and initialised; a child forked from
 * a small process that maps only libc costs about a third less CPU per
 * connection (bench/RESULTS.md).  So the master starts secho-spawn, a
 * separate libc-only program, and hands it each accepted plain TCP
 * connection: the socket (SCM_RIGHTS) and a self-contained request with
 * everything the child needs (listener name, PROXY flag and access
 * lists, time-outs, log settings, privileges).  The spawner creates the
 * child with clone(CLONE_PARENT), so the child is the master's own child
 * like any other: the master counts it, reaps it, signals it, exactly as
 * before; the spawner only answers with the new pid.  Still one process
 * per connection.  Without the spawner (not installed, died, busy) the
 * master forks the child itself.
 */
#ifndef SECHO_SPAWN_H
#define SECHO_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "secho/config.h"

#define SPAWN_MAGIC	0x53505731u	/* "SPW1" */
/*
 * Given to secho-spawn as its second argument: a helper from another
 * build (a package upgrade while the master runs) refuses to start, and
 * the master forks the children itself until it is restarted.
 */
#define SPAWN_PROTOCOL	"1"
#define SPAWN_MSG_MAX	65536
#define SPAWN_CTL_FD	3		/* in secho-spawn */
#define SPAWN_REPORT_FD	4

/* One connection, as the master asks for it. */
struct spawn_req {
	uint64_t		 sr_seq;
	struct sockaddr_storage	 sr_peer;
	int			 sr_idle_ms;
	int			 sr_handshake_ms;
	int			 sr_proxy;
	int			 sr_log_facility;
	int			 sr_log_level;
	int			 sr_log_stderr;
	int			 sr_drop;
	uid_t			 sr_uid;
	gid_t			 sr_gid;
	const char		*sr_name;	/* listener */
	const char		*sr_ident;	/* syslog ident */
	const char		*sr_chroot;	/* NULL for none */
	struct cidr_list	 sr_allow;
	struct cidr_list	 sr_deny;
};

/*
 * The answer, a datagram on the children's report socket (child.h's
 * struct child_report travels there too; the master tells them apart by
 * size and type, and takes an answer only when the kernel says it came
 * from the spawner): the child's pid, or 0 and the errno of a failed
 * clone.
 */
#define SPAWN_REPLY_TYPE	3	/* after CHILD_REPORT_PEER, _ACCESS */

struct spawn_reply {
	int32_t		sp_pid;
	int32_t		sp_type;	/* SPAWN_REPLY_TYPE */
	uint64_t	sp_seq;
	int32_t		sp_errno;
};

/* Encode r into buf; the length, or 0 when it does not fit in len. */
size_t	spawn_encode(const struct spawn_req *r, void *buf, size_t len);

/*
 * Decode a message of len bytes into *r, whose strings and lists point
 * into buf (aligned like malloc memory).  0, or -1 when the message is
 * malformed.
 */
int	spawn_decode(const void *buf, size_t len, struct spawn_req *r);

/* The spawner as the master sees it. */
struct spawner {
	pid_t		sp_pid;		/* 0 when not running */
	int		sp_fd;		/* master's end, -1 */
	uint64_t	sp_seq;		/* last request */
	long long	sp_started;	/* ms */
	int		sp_failures;	/* quick deaths in a row */
	long long	sp_respawn_at;	/* ms, 0 none */
	char		sp_path[4096];	/* "" when there is none */
};

/*
 * Where secho-spawn is: $SECHO_SPAWN when set ("" or "none" turn it
 * off), else beside the running executable (a build tree), else the
 * installed SECHO_LIBEXECDIR/secho-spawn.  Returns 1 with sp_path set,
 * 0 when turned off, -1 when there is no executable one (sp_path "",
 * where names the last place looked at).
 */
int	spawner_locate(struct spawner *sp, char *where, size_t wherelen);

/*
 * Fork and exec the spawner with the control socket and report_fd (the
 * children's report socket, where its answers go).  0, or -1 with errno.
 */
int	spawner_start(struct spawner *sp, int report_fd);

/*
 * Hand over connection fd with request r (sr_seq is set here).  0, or
 * -1 when the spawner cannot take it now (the caller forks instead).
 */
int	spawner_send(struct spawner *sp, struct spawn_req *r, int fd);

/* Close the control socket (the spawner exits on end of file). */
void	spawner_close(struct spawner *sp);

#endif
