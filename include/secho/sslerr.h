/*
 * sslerr.h - OpenSSL's error queue in words, for log lines and messages
 * (shared by the daemon and secho-ping).
 */
#ifndef SECHO_SSLERR_H
#define SECHO_SSLERR_H

#include <stddef.h>

/*
 * Drain the OpenSSL error queue into one readable string in buf: the
 * distinct reasons in words, oldest (the root cause) first, joined by
 * ": ", without the generic "... lib" reasons when a specific one exists.
 * The queue is empty afterwards.  Writes fallback when it was empty.
 */
void	sslerr_text(char *buf, size_t len, const char *fallback);

#endif
