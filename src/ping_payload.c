/*
 * ping_payload.c - a probe's bytes, and checking an echo against them
 * (ping_payload.h).  Pure code.
 */
#include <stdlib.h>
#include <string.h>

#include "secho/ping_payload.h"

static void
header(uint32_t tag, unsigned long long seq, unsigned char h[PAYLOAD_HDR])
{
	uint32_t s = (uint32_t)seq;

	h[0] = (unsigned char)(tag >> 24);
	h[1] = (unsigned char)(tag >> 16);
	h[2] = (unsigned char)(tag >> 8);
	h[3] = (unsigned char)tag;
	h[4] = (unsigned char)(s >> 24);
	h[5] = (unsigned char)(s >> 16);
	h[6] = (unsigned char)(s >> 8);
	h[7] = (unsigned char)s;
}

static size_t
hdr_len(const struct payload *pl)
{
	if (pl->pl_text)
		return 0;
	return pl->pl_size < PAYLOAD_HDR ? pl->pl_size : PAYLOAD_HDR;
}

int
ping_payload_init(struct payload *pl, size_t size, const char *text, uint32_t tag,
    const unsigned char *random)
{
	memset(pl, 0, sizeof(*pl));
	if (text != NULL)
		size = strlen(text);
	if (size == 0 || (pl->pl_buf = malloc(size)) == NULL)
		return -1;
	pl->pl_size = size;
	pl->pl_tag = tag;
	pl->pl_text = text != NULL;
	memcpy(pl->pl_buf, text != NULL ? (const unsigned char *)text : random,
	    size);
	ping_payload_set_seq(pl, 0);
	return 0;
}

void
ping_payload_free(struct payload *pl)
{
	free(pl->pl_buf);
	pl->pl_buf = NULL;
	pl->pl_size = 0;
}

void
ping_payload_set_seq(struct payload *pl, unsigned long long seq)
{
	unsigned char h[PAYLOAD_HDR];

	pl->pl_seq = seq;
	if (pl->pl_text)
		return;
	header(pl->pl_tag, seq, h);
	memcpy(pl->pl_buf, h, hdr_len(pl));
}

size_t
ping_payload_diff(const struct payload *pl, unsigned long long seq, size_t off,
    const unsigned char *got, size_t n)
{
	unsigned char h[PAYLOAD_HDR];
	size_t i = 0, hl = hdr_len(pl);

	if (off >= pl->pl_size)
		return 0;
	if (n > pl->pl_size - off)
		n = pl->pl_size - off;
	/* The current probe is in pl_buf as it was sent. */
	if (seq == pl->pl_seq || pl->pl_text)
		goto body;
	header(pl->pl_tag, seq, h);
	for (; i < n && off + i < hl; i++)
		if (got[i] != h[off + i])
			return i;
body:
	if (memcmp(got + i, pl->pl_buf + off + i, n - i) == 0)
		return n;
	for (; i < n; i++)
		if (got[i] != pl->pl_buf[off + i])
			break;
	return i;
}

enum payload_verdict
ping_payload_classify(const struct payload *pl, unsigned long long cur,
    unsigned long long first, const unsigned char *got, size_t len,
    unsigned long long *late_seq, size_t *bad_off)
{
	unsigned char h[PAYLOAD_HDR];
	uint32_t gs, back;
	size_t n;

	if (!pl->pl_text && pl->pl_size >= PAYLOAD_HDR && len >= PAYLOAD_HDR) {
		header(pl->pl_tag, cur, h);
		gs = (uint32_t)got[4] << 24 | (uint32_t)got[5] << 16 |
		    (uint32_t)got[6] << 8 | got[7];
		back = (uint32_t)cur - gs;	/* modulo 2^32 */
		if (memcmp(got, h, 4) == 0 && back != 0 &&
		    (unsigned long long)back <= cur - first) {
			*late_seq = cur - back;
			return PAYLOAD_LATE;
		}
	}
	n = len < pl->pl_size ? len : pl->pl_size;
	*bad_off = ping_payload_diff(pl, cur, 0, got, n);
	if (*bad_off == n && len == pl->pl_size)
		return PAYLOAD_ECHO;
	return PAYLOAD_CORRUPT;
}
