/*
 * ping_payload.h - what a secho-ping probe carries and how an echo is
 * checked against it (pure code).
 *
 * With -s, a probe is SIZE random bytes (drawn once per run) whose first
 * PAYLOAD_HDR bytes are replaced by a header: a random 32-bit tag of the
 * run and the low 32 bits of the sequence number, both big-endian (a
 * probe shorter than the header carries its first bytes only).  So every
 * probe differs from the one before, and a late echo of an earlier probe
 * is recognised by its header, not taken for corruption.  With -m the
 * probe is TEXT as it is, the same every time.
 */
#ifndef SECHO_PING_PAYLOAD_H
#define SECHO_PING_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_HDR	8

struct payload {
	unsigned char	*pl_buf;	/* the current probe, pl_size bytes */
	size_t		 pl_size;
	uint32_t	 pl_tag;
	int		 pl_text;	/* -m: no header */
	unsigned long long pl_seq;	/* the probe now in pl_buf */
};

enum payload_verdict {
	PAYLOAD_ECHO,		/* intact echo of the current probe */
	PAYLOAD_LATE,		/* echo of an earlier probe */
	PAYLOAD_CORRUPT		/* differs from the current probe */
};

/*
 * Set up a payload of size bytes: TEXT when text is not NULL (size is
 * then its length), else the size bytes of random (the run's body).
 * Returns 0, or -1 when out of memory.  ping_payload_free() releases it.
 */
int	 ping_payload_init(struct payload *pl, size_t size, const char *text,
	    uint32_t tag, const unsigned char *random);
void	 ping_payload_free(struct payload *pl);

/* Make pl_buf the probe with sequence number seq (writes the header). */
void	 ping_payload_set_seq(struct payload *pl, unsigned long long seq);

/*
 * Compare n received bytes, which sit at offset off of probe seq, with
 * what that probe carried.  Returns the index (0..n-1) of the first byte
 * that differs, or n when all match.
 */
size_t	 ping_payload_diff(const struct payload *pl, unsigned long long seq,
	    size_t off, const unsigned char *got, size_t n);

/*
 * A datagram got[0..len) received while probe cur is outstanding (first:
 * the first sequence number of the run).  PAYLOAD_LATE, with *late_seq,
 * when its header names an earlier probe of this run; otherwise ECHO or
 * CORRUPT against cur, with *bad_off the 0-based offset of the first
 * byte that differs (a shorter or longer datagram differs where the
 * shorter one ends).
 */
enum payload_verdict ping_payload_classify(const struct payload *pl,
	    unsigned long long cur, unsigned long long first,
	    const unsigned char *got, size_t len,
	    unsigned long long *late_seq, size_t *bad_off);

#endif
