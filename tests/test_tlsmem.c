/*
 * test_tlsmem.c - OpenSSL's allocator for fork (tlsmem.c), driven through
 * OPENSSL_malloc/realloc/free as OpenSSL itself calls it (cmocka).  The
 * child-arena tests run in a forked child, as in the daemon.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "secho/tlsmem.h"

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7);
}

static int
check(const unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 31 + i * 7))
			return 0;
	return 1;
}

/*
 * Resident kB of the mappings (smaps) that lie within [lo, hi): the
 * arena's, not the test's or a sanitizer's own memory.
 */
static long
rss_kb(uintptr_t lo, uintptr_t hi)
{
	char line[512];
	unsigned long a, b;
	long kb, sum = 0;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a < hi && b > lo;
		else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			sum += kb;
	}
	fclose(f);
	return sum;
}

/* Run fn in a child; its exit status must be 0. */
static void
in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define NBLK 2000

/* Blocks of every size class (and over), grown, shrunk, freed, reused. */
static int
child_churn(void)
{
	static unsigned char *blk[NBLK];
	static size_t len[NBLK];
	unsigned x = 7;
	int i, round;

	tlsmem_child();
	for (round = 0; round < 3; round++) {
		for (i = 0; i < NBLK; i++) {
			x = x * 1103515245u + 12345u;
			len[i] = 1 + (x >> 8) % (i % 10 == 0 ? 80000 : 600);
			if ((blk[i] = OPENSSL_malloc(len[i])) == NULL)
				return 1;
			fill(blk[i], len[i], (unsigned)i);
		}
		for (i = 0; i < NBLK; i += 3) {	/* grow or shrink */
			size_t n = i % 2 ? len[i] * 2 + 5 : len[i] / 2 + 1;
			unsigned char *p = OPENSSL_realloc(blk[i], n);
			if (p == NULL || !check(p, n < len[i] ? n : len[i], (unsigned)i))
				return 2;
			blk[i] = p;
			len[i] = n;
			fill(blk[i], len[i], (unsigned)i);
		}
		for (i = 0; i < NBLK; i += 2) {
			OPENSSL_free(blk[i]);
			blk[i] = NULL;
		}
		tlsmem_idle();	/* large free blocks' pages go back */
		for (i = 1; i < NBLK; i += 2)
			if (!check(blk[i], len[i], (unsigned)i))
				return 3;
		for (i = 1; i < NBLK; i += 2)
			OPENSSL_free(blk[i]);
	}
	return 0;
}

static void
test_child_arena_churn(void **state)
{
	(void)state;
	in_child(child_churn);
}

/* A block the master allocated: readable, reallocatable, freeable. */
static unsigned char *master_block;

static int
child_master_block(void)
{
	unsigned char *p;

	tlsmem_child();
	if (!check(master_block, 1000, 5))
		return 1;
	if ((p = OPENSSL_realloc(master_block, 5000)) == NULL ||
	    !check(p, 1000, 5))
		return 2;
	OPENSSL_free(p);
	return 0;
}

static void
test_master_blocks_in_child(void **state)
{
	(void)state;
	master_block = OPENSSL_malloc(1000);
	assert_non_null(master_block);
	fill(master_block, 1000, 5);
	in_child(child_master_block);
	/* The master's copy is untouched and still its own to free. */
	assert_true(check(master_block, 1000, 5));
	OPENSSL_free(master_block);
}

/*
 * Freed large blocks give all their pages back when the connection idles,
 * and are reused after that.
 */
static int
child_idle_trim(void)
{
	unsigned char *p[16], *q;
	long before, after;
	uintptr_t lo, hi;
	int i;

	tlsmem_child();
	for (i = 0; i < 16; i++) {
		if ((p[i] = OPENSSL_malloc(60000)) == NULL)
			return 1;
		memset(p[i], 0xa5, 60000);
	}
	lo = hi = (uintptr_t)p[0];
	for (i = 0; i < 16; i++) {
		if ((uintptr_t)p[i] < lo)
			lo = (uintptr_t)p[i];
		if ((uintptr_t)p[i] + 60000 > hi)
			hi = (uintptr_t)p[i] + 60000;
	}
	for (i = 0; i < 16; i++)
		OPENSSL_free(p[i]);
	before = rss_kb(lo, hi) / 4;
	tlsmem_idle();
	after = rss_kb(lo, hi) / 4;
	/* 16 blocks of 15 pages: every page goes back, headers too. */
	if (before < 16 * 14 || after > 2)
		return 2;
	/* Reused after the trim: usable, and zero where it was given back. */
	for (i = 0; i < 16; i++) {
		if ((q = OPENSSL_malloc(60000)) == NULL)
			return 3;
		if ((uintptr_t)q < lo || (uintptr_t)q >= hi)
			return 4;	/* a new block, not a trimmed one */
		if (q[0] != 0 || q[59999] != 0)
			return 5;
		memset(q, 1, 60000);
		p[i] = q;
	}
	for (i = 0; i < 16; i++)
		OPENSSL_free(p[i]);
	return 0;
}

static void
test_idle_trim(void **state)
{
	(void)state;
	in_child(child_idle_trim);
}

/*
 * Small blocks freed at the end of the packed arena: at idle the carving
 * moves back over them and the pages above go back; the blocks still in
 * use keep their bytes, and the space is carved again.
 */
static int
child_trim_top(void)
{
	long pg = sysconf(_SC_PAGESIZE), before, after;
	int i, n = (int)(6 * pg / 200) + 10;	/* over six pages */
	unsigned char **p = calloc((size_t)n, sizeof(*p)), *q;
	uintptr_t lo, hi;

	if (p == NULL || pg <= 0)
		return 1;
	tlsmem_child();
	for (i = 0; i < n; i++) {
		if ((p[i] = OPENSSL_malloc(200)) == NULL)
			return 1;
		fill(p[i], 200, (unsigned)i);
	}
	lo = (uintptr_t)p[0];
	hi = (uintptr_t)p[n - 1] + 200;
	if (hi - lo < (uintptr_t)(5 * pg))
		return 2;	/* not packed */
	for (i = 10; i < n; i += 2)	/* in any order */
		OPENSSL_free(p[i]);
	for (i = 11; i < n; i += 2)
		OPENSSL_free(p[i]);
	before = rss_kb(lo, hi) * 1024 / pg;	/* pages */
	tlsmem_idle();
	after = rss_kb(lo, hi) * 1024 / pg;
	if (before < 6 || after > 1)
		return 3;
	for (i = 0; i < 10; i++)
		if (!check(p[i], 200, (unsigned)i))
			return 4;
	if ((q = OPENSSL_malloc(200)) == NULL)
		return 5;
	if ((uintptr_t)q >= (uintptr_t)p[10] + (uintptr_t)pg)
		return 6;	/* the freed end is carved again */
	memset(q, 1, 200);
	OPENSSL_free(q);
	for (i = 0; i < 10; i++)
		OPENSSL_free(p[i]);
	free(p);
	return 0;
}

static void
test_trim_top(void **state)
{
	(void)state;
	in_child(child_trim_top);
}

/* A large block does not push the small ones apart. */
static int
child_small_packed(void)
{
	unsigned char *a, *big, *b;

	tlsmem_child();
	if ((a = OPENSSL_malloc(100)) == NULL ||
	    (big = OPENSSL_malloc(20000)) == NULL ||
	    (b = OPENSSL_malloc(100)) == NULL)
		return 1;
	if ((uintptr_t)b - (uintptr_t)a > 512 && (uintptr_t)a - (uintptr_t)b > 512)
		return 2;
	if (((uintptr_t)big & 4095) > 64)
		return 3;	/* large blocks start at a page */
	OPENSSL_free(a);
	OPENSSL_free(big);
	OPENSSL_free(b);
	return 0;
}

static void
test_small_packed(void **state)
{
	(void)state;
	in_child(child_small_packed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_arena_churn),
		cmocka_unit_test(test_master_blocks_in_child),
		cmocka_unit_test(test_idle_trim),
		cmocka_unit_test(test_trim_top),
		cmocka_unit_test(test_small_packed),
	};

	/* As in main.c: before OpenSSL's first allocation. */
	if (tlsmem_init() != 0) {
		fprintf(stderr, "tlsmem_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
