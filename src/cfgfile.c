/*
 * cfgfile.c - reading the configuration file: the whole text, bounded in
 * size, a readable reason when it cannot be read ("PATH: cannot read:
 * ..."), @include files relative to its directory; config.c parses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secho/config.h"

/* A configuration file larger than this is a mistake, not a config. */
#define CONFIG_MAX_SIZE	(16 * 1024 * 1024)

/* Read the whole file into a NUL-terminated malloc'd string. */
static int
read_file(const char *path, char **textp, char **errp)
{
	struct stat st;
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd = -1, rc = -1, saved;

	*textp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > CONFIG_MAX_SIZE + 1) {
				errno = EFBIG;
				goto fail;
			}
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		if (asprintf(errp, "%s: cannot read: not a text file (NUL "
		    "byte)\n", path) == -1)
			*errp = NULL;
		goto out;
	}
	*textp = buf;
	buf = NULL;
	rc = 0;
	goto out;

fail:
	saved = errno;
	if (asprintf(errp, "%s: cannot read: %s\n", path,
	    strerror(saved)) == -1)
		*errp = NULL;
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return rc;
}

int
config_load(const char *path, struct secho_config **cfgp, char **errp)
{
	char *text = NULL, *incdir = NULL;
	const char *slash;
	int rc = -1;

	*cfgp = NULL;
	*errp = NULL;
	if (read_file(path, &text, errp) == -1)
		goto out;
	/* @include "x.cfg" is relative to the directory of the file. */
	if ((slash = strrchr(path, '/')) != NULL) {
		incdir = slash == path ? strdup("/") :
		    strndup(path, (size_t)(slash - path));
		if (incdir == NULL) {
			if (asprintf(errp, "%s: out of memory\n", path) == -1)
				*errp = NULL;
			goto out;
		}
	}
	rc = config_load_text(text, path, incdir, cfgp, errp);
out:
	free(incdir);
	free(text);
	return rc;
}
