/*
 * tls_keylog.c - the key log (tls.keylog_file): TLS secrets in the NSS
 * key log format, so that a capture can be decrypted (Wireshark,
 * tshark -o tls.keylog_file:F).  The master opens each file once per
 * generation (O_APPEND, created 0600), because the connections' processes
 * have dropped the privileges to open it; the TLS engine inherits the
 * descriptors and keeps them below ENGINE_FD_BASE, so that each
 * connection's process keeps them too; that process writes each line
 * with one write(2), which O_APPEND places whole at the end of the file
 * whatever the other processes write at the same time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "secho/engine.h"
#include "secho/tls.h"

#include "tls_int.h"

void
tls_keylog_cb(const SSL *ssl, const char *line)
{
	const struct tls_ctxdata *cd;
	struct iovec iov[2];
	ssize_t n;

	cd = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (cd == NULL || cd->cd_ts == NULL || cd->cd_ts->ts_keylog_fd < 0)
		return;
	iov[0].iov_base = (void *)(uintptr_t)line;
	iov[0].iov_len = strlen(line);
	iov[1].iov_base = (void *)"\n";
	iov[1].iov_len = 1;
	/* One call: one line, never interleaved (O_APPEND, regular file). */
	do
		n = writev(cd->cd_ts->ts_keylog_fd, iov, 2);
	while (n == -1 && errno == EINTR);
}

static int
open_file(const char *path, int create, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/*
	 * The master is root: no symbolic link is followed (it could point
	 * anywhere), and a FIFO must not block it (O_NONBLOCK, cleared).
	 */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, errno == ELOOP ?
		    "a symbolic link (not followed)" : errno == ENXIO ?
		    "not a regular file (a FIFO)" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	/* Secrets: a file others could have planted or may read is refused. */
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: must belong to uid %u and be "
		    "readable by it only (it is uid %u, mode %04o)", path,
		    (unsigned)geteuid(), (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, O_APPEND);
	return fd;
}

int
tls_keylogs_open(struct tls_keylogs *k, const char *path, char *err,
    size_t errlen)
{
	char **np;
	int *nf, fd;
	size_t i;

	for (i = 0; i < k->kl_count; i++)
		if (strcmp(k->kl_paths[i], path) == 0)
			return k->kl_fds[i];
	if (k->kl_count >= TLS_KEYLOG_MAX) {
		snprintf(err, errlen, "%s: more than %d different key log "
		    "files", path, TLS_KEYLOG_MAX);
		return -1;
	}
	if ((np = realloc(k->kl_paths, (k->kl_count + 1) * sizeof(*np))) ==
	    NULL)
		goto oom;
	k->kl_paths = np;
	if ((nf = realloc(k->kl_fds, (k->kl_count + 1) * sizeof(*nf))) ==
	    NULL)
		goto oom;
	k->kl_fds = nf;
	if ((k->kl_paths[k->kl_count] = strdup(path)) == NULL)
		goto oom;
	if ((fd = open_file(path, 1, err, errlen)) == -1) {
		free(k->kl_paths[k->kl_count]);
		return -1;
	}
	k->kl_fds[k->kl_count++] = fd;
	return fd;
oom:
	snprintf(err, errlen, "%s: out of memory", path);
	return -1;
}

int
tls_keylog_check(const char *path, char *err, size_t errlen)
{
	char dir[4096], *slash;
	int fd;

	if (access(path, F_OK) == 0) {
		if ((fd = open_file(path, 0, err, errlen)) == -1)
			return -1;
		close(fd);
		return 0;
	}
	/* Not there yet: created at start, in a directory we may write. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(err, errlen, "%s: cannot be created: %s: %s", path,
		    dir, strerror(errno));
		return -1;
	}
	return 0;
}

size_t
tls_keylogs_fds(const struct tls_keylogs *k, int *fds, size_t max)
{
	size_t i;

	for (i = 0; i < k->kl_count && i < max; i++)
		fds[i] = k->kl_fds[i];
	return i;
}

void
tls_keylogs_lower(struct tls_keylogs *k, struct tls_server **ts, size_t n)
{
	size_t i, j;
	int fd;

	for (i = 0; i < k->kl_count; i++) {
		if (k->kl_fds[i] < ENGINE_FD_BASE)
			continue;
		fd = fcntl(k->kl_fds[i], F_DUPFD_CLOEXEC, 3);
		if (fd == -1 || fd >= ENGINE_FD_BASE) {
			if (fd != -1)
				close(fd);
			fd = -1;	/* no key log rather than a lost one */
		}
		for (j = 0; j < n; j++)
			if (ts[j] != NULL &&
			    ts[j]->ts_keylog_fd == k->kl_fds[i])
				ts[j]->ts_keylog_fd = fd;
		close(k->kl_fds[i]);
		k->kl_fds[i] = fd;
	}
}

void
tls_keylogs_close(struct tls_keylogs *k)
{
	size_t i;

	for (i = 0; i < k->kl_count; i++) {
		if (k->kl_fds[i] != -1)
			close(k->kl_fds[i]);
		free(k->kl_paths[i]);
	}
	free(k->kl_paths);
	free(k->kl_fds);
	memset(k, 0, sizeof(*k));
}
