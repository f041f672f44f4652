/*
 * sslerr.c - OpenSSL's error queue in words (sslerr.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "secho/sslerr.h"

/* Reasons that only say which layer failed; dropped when others exist. */
static int
generic_reason(const char *r)
{
	size_t n = strlen(r);

	return n >= 4 && strcmp(r + n - 4, " lib") == 0;
}

/*
 * Drain the OpenSSL error queue into one readable string: the distinct
 * reasons in words, oldest (the root cause) first, joined by ": ".  The
 * queue is empty afterwards.  Writes fallback when the queue was empty.
 */
void
sslerr_text(char *buf, size_t len, const char *fallback)
{
	const char *seen[8], *r;
	unsigned long e;
	size_t nseen = 0, i, off = 0;
	int specific = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	/* First pass: collect, so generic reasons can be filtered. */
	while ((e = ERR_get_error()) != 0) {
		if ((r = ERR_reason_error_string(e)) == NULL)
			continue;	/* no words for it */
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i], r) == 0)
				break;
		if (i < nseen || nseen == sizeof(seen) / sizeof(seen[0]))
			continue;
		seen[nseen++] = r;
		if (!generic_reason(r))
			specific = 1;
	}
	for (i = 0; i < nseen; i++) {
		if (specific && generic_reason(seen[i]))
			continue;
		int n = snprintf(buf + off, len - off, "%s%s",
		    off ? ": " : "", seen[i]);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (off == 0)
		snprintf(buf, len, "%s", fallback);
	ERR_clear_error();
}
