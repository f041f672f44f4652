/*
 * fuzz_proxy.c - libFuzzer harness for proxy_parse() (see fuzz/README).
 *
 * Beyond "no crash, no read past len" (ASan), it checks the contract the
 * reader relies on: a result is NEED_MORE, INVALID or a length within
 * the buffer and the cap; a header parses to the same length with
 * nothing after it; every shorter prefix of a header is NEED_MORE; and
 * once a prefix is INVALID, the whole input is INVALID too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secho/proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An exactly sized copy, so ASan sees any read beyond len. */
static int
parse_copy(const uint8_t *data, size_t len, struct proxy_info *pi)
{
	unsigned char *p;
	int r;

	if ((p = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(p, data, len);
	r = proxy_parse(p, len, pi);
	free(p);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info pi, pi2;
	size_t k, step;
	int r;

	r = parse_copy(data, size, &pi);
	if (r != PROXY_NEED_MORE && r != PROXY_INVALID &&
	    (r < 0 || (size_t)r > size || r > PROXY_HDR_MAX))
		abort();
	if (r > 0) {
		if (pi.pi_version != 1 && pi.pi_version != 2)
			abort();
		if (pi.pi_local ? pi.pi_src.ss_family != 0 :
		    (pi.pi_src.ss_family != AF_INET &&
		    pi.pi_src.ss_family != AF_INET6) ||
		    pi.pi_src.ss_family != pi.pi_dst.ss_family)
			abort();
		if (parse_copy(data, (size_t)r, &pi2) != r ||
		    memcmp(&pi, &pi2, sizeof(pi)) != 0)
			abort();
	}
	/* Prefixes: a sample for long inputs keeps the run fast. */
	step = size > 256 ? size / 128 : 1;
	for (k = 0; k < size; k += step) {
		int rk = parse_copy(data, k, NULL);

		if (r > 0 && k < (size_t)r && rk != PROXY_NEED_MORE)
			abort();
		if (rk == PROXY_INVALID && r != PROXY_INVALID)
			abort();
		if (rk > 0 && rk != r)
			abort();
	}
	return 0;
}
