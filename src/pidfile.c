/*
 * pidfile.c - the pidfile: locked before binding (a second instance with
 * the same file stops with a clear message), written once the sockets
 * are bound and the process detached, removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "secho/master.h"

int
pidfile_lock(const char *path, char *err, size_t errlen)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(err, errlen, "pidfile %s is locked by running process "
		    "%s: another secho is using it", path, buf[0] ? buf : "?");
		close(fd);
		return -1;
	}
	return fd;
}

int
pidfile_write(int fd, const char *path, char *err, size_t errlen)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, n, 0) != n) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * We hold the lock, so the file is ours (or a stale one of a dead
 * process): remove it, also after a failed start.
 */
void
pidfile_remove(int fd, const char *path)
{
	if (fd == -1)
		return;
	unlink(path);
	close(fd);
}
