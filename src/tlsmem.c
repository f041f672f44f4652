/*
 * tlsmem.c - OpenSSL's heap, arranged for fork.
 *
 * A TLS connection's process is a fork of secho-tls, itself a fork of
 * the master, and shares the master's heap copy-on-write; every page it
 * writes becomes its own.  Measured with
 * glibc's malloc alone, a child owned ~55 heap pages after a handshake:
 *
 *  - ~38 because its own allocations (the SSL object, the handshake's
 *    short-lived buffers, digest and KDF contexts: ~750 calls, 77 KiB at
 *    the peak) landed in free chunks scattered between the master's
 *    long-lived objects;
 *  - ~20 because OpenSSL writes to some of the master's objects: lock
 *    words, reference counts of methods, keys, certificates and the
 *    SSL_CTX, the random generator's state, the error state -- some
 *    50 objects, 11 KiB, spread over the master's whole heap.
 *
 * So OpenSSL allocates through us (CRYPTO_set_mem_functions, before its
 * first allocation):
 *
 *  - in the master, objects of the kinds that children write (tm_hot_site:
 *    by OpenSSL source file, a guess that only costs memory when wrong)
 *    come from a small arena of their own, packed in allocation order, so
 *    that their writes touch a few pages; everything else is malloc's;
 *  - in a connection child (tlsmem_child), everything comes from a fresh
 *    arena that never writes to the master's pages.  The child does not
 *    give the master's blocks back (free would write to their pages and
 *    malloc's lists); they go when the child exits.  Large free blocks
 *    (record buffers, the handshake buffer) hand their pages back to the
 *    kernel when the connection goes idle (tlsmem_idle), and so do the
 *    pages at the free end of the small blocks.
 *
 * All arenas are the same small allocator: size classes with LIFO free
 * lists, carved in order from one reserved range made writable as it
 * grows.  Requests larger than the largest class go to malloc.  A child
 * has two: blocks of a page or more (record buffers, the handshake
 * buffer, the SSL object) are whole pages in an arena of their own, so
 * that a free one can give all its pages back, header included, and the
 * small blocks stay packed together in the other.
 */
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secho/tlsmem.h"

#define TM_HDR		16		/* header before each block */
#define TM_MAGIC	0x746c736dU	/* "tlsm" */
#define TM_CHILD_RESERVE (32UL << 20)	/* address space per child arena */
#define TM_HOT_RESERVE	(16UL << 20)	/* for the master's hot objects */
#define TM_COMMIT	(64UL << 10)	/* made writable at a time */
#define TM_NCOLD	32		/* trimmed free blocks remembered */

struct tm_hdr {
	uint32_t	h_magic;
	uint16_t	h_class;
	uint16_t	h_flags;
	size_t		h_size;		/* bytes asked for */
};

struct tm_free {
	struct tm_free	*f_next;
};

/*
 * Block sizes (header included): 16-byte steps to 256, then four per
 * power of two up to 64 KiB.
 */
#define TM_NCLASS	(16 + 4 * 8)
static size_t tm_sizes[TM_NCLASS];

/*
 * A free block whose pages went back to the kernel (tlsmem_idle): its
 * header went with them, so the arena remembers where it is.
 */
struct tm_cold {
	char		*k_blk;		/* the block's header */
	int		 k_class;
};

struct tm_arena {
	char		*a_base, *a_end;	/* reserved range */
	char		*a_brk;		/* next unused byte */
	char		*a_top;		/* end of the writable part */
	size_t		 a_pages;	/* blocks are whole pages; 0: packed */
	struct tm_free	*a_free[TM_NCLASS];
	int		 a_untrimmed;	/* free blocks not yet trimmed */
	struct tm_cold	 a_cold[TM_NCOLD];	/* a_pages only */
	int		 a_ncold;
};

static int tm_on;		/* 1 in a child with its arenas */
static struct tm_arena tm_child;	/* a child's small blocks */
static struct tm_arena tm_big;	/* a child's blocks of a page or more */
static struct tm_arena tm_hot;	/* the master's objects children write */

static void
tm_classes(void)
{
	size_t s, step;
	int i = 0;

	for (s = 16; s <= 256; s += 16)
		tm_sizes[i++] = s;
	for (step = 64; i < TM_NCLASS; step *= 2) {
		for (s = step * 5; s <= step * 8 && i < TM_NCLASS; s += step)
			tm_sizes[i++] = s;
	}
}

static int
tm_class(size_t total)
{
	int lo = 0, hi = TM_NCLASS - 1, mid;

	if (total > tm_sizes[TM_NCLASS - 1])
		return -1;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (tm_sizes[mid] >= total)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* pages: 0 for a packed arena, else the page size (whole-page blocks). */
static int
tm_arena_init(struct tm_arena *a, size_t reserve, size_t pages)
{
	void *p;

	p = mmap(NULL, reserve, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	memset(a, 0, sizeof(*a));
	a->a_base = a->a_brk = a->a_top = p;
	a->a_end = a->a_base + reserve;
	a->a_pages = pages;
	return 0;
}

/* The block size of class c in arena a. */
static size_t
tm_block_size(const struct tm_arena *a, int c)
{
	size_t sz = tm_sizes[c];

	if (a->a_pages)
		sz = (sz + a->a_pages - 1) & ~(a->a_pages - 1);
	return sz;
}

static int
tm_in(const struct tm_arena *a, const void *p)
{
	return a->a_base != NULL && (const char *)p >= a->a_base &&
	    (const char *)p < a->a_end;
}

/* The arena of ours that p is in, or NULL: malloc's. */
static struct tm_arena *
tm_arena_of(const void *p)
{
	if (tm_in(&tm_child, p))
		return &tm_child;
	if (tm_in(&tm_big, p))
		return &tm_big;
	if (tm_in(&tm_hot, p))
		return &tm_hot;
	return NULL;
}

static struct tm_hdr *
tm_hdr_of(void *p)
{
	struct tm_hdr *h = (struct tm_hdr *)((char *)p - TM_HDR);

	if (h->h_magic != TM_MAGIC)
		abort();	/* not a block of ours: a corrupted heap */
	return h;
}

/* NULL when the arena cannot serve it (the caller falls back). */
static void *
tm_alloc(struct tm_arena *a, size_t n)
{
	struct tm_hdr *h = NULL;
	struct tm_free *f;
	size_t sz;
	int c, i;

	if (n > SIZE_MAX - TM_HDR || (c = tm_class(n + TM_HDR)) == -1)
		return NULL;
	sz = tm_block_size(a, c);
	if ((f = a->a_free[c]) != NULL) {
		a->a_free[c] = f->f_next;
		h = (struct tm_hdr *)((char *)f - TM_HDR);
	} else {
		/* A trimmed block: its pages come back zeroed. */
		for (i = 0; i < a->a_ncold; i++) {
			if (a->a_cold[i].k_class != c)
				continue;
			h = (struct tm_hdr *)a->a_cold[i].k_blk;
			a->a_cold[i] = a->a_cold[--a->a_ncold];
			h->h_magic = TM_MAGIC;
			h->h_class = (uint16_t)c;
			break;
		}
	}
	if (h == NULL) {
		if ((size_t)(a->a_end - a->a_brk) < sz)
			return NULL;
		while ((size_t)(a->a_top - a->a_brk) < sz) {
			if (mprotect(a->a_top, TM_COMMIT,
			    PROT_READ | PROT_WRITE) == -1)
				return NULL;
			a->a_top += TM_COMMIT;
		}
		h = (struct tm_hdr *)a->a_brk;
		a->a_brk += sz;
		h->h_magic = TM_MAGIC;
		h->h_class = (uint16_t)c;
	}
	h->h_flags = 0;
	h->h_size = n;
	return (char *)h + TM_HDR;
}

static void
tm_release(struct tm_arena *a, void *p)
{
	struct tm_hdr *h = tm_hdr_of(p);
	struct tm_free *f = p;

	f->f_next = a->a_free[h->h_class];
	a->a_free[h->h_class] = f;
	a->a_untrimmed = 1;
}

/*
 * The master's objects that connection children write to, by the source
 * file that allocates them (OpenSSL 3.0; measured by placing each of the
 * master's allocations on a page of its own and looking at which pages a
 * child copied).  Locks and the random generator are the bulk.
 */
static int
tm_hot_site(const char *file, size_t n)
{
	static const char *const hot[] = {
		"threads_pthread.c",	/* CRYPTO_RWLOCK */
		"drbg.c", "drbg_ctr.c", "cipher_aes.c", /* DRBG state */
		"err.c", "err_blocks.c",	/* the error state */
		"ssl_lib.c", "ssl_cert.c",	/* SSL_CTX, CERT */
		"p_lib.c", "ec_kmeth.c",	/* EVP_PKEY, its method */
		"digest.c", "keymgmt_meth.c", "signature.c", "exchange.c",
		"kdf_meth.c", "mac_meth.c", "evp_rand.c",  /* methods */
	};
	const char *b;
	size_t i;

	if (file == NULL)
		return 0;
	b = strrchr(file, '/');
	b = b ? b + 1 : file;
	for (i = 0; i < sizeof(hot) / sizeof(hot[0]); i++)
		if (strcmp(b, hot[i]) == 0)
			return 1;
	/* EVP_CIPHER_CTX (the DRBG's), but not the 130 EVP_CIPHERs. */
	return strcmp(b, "evp_enc.c") == 0 && n < 256;
}

static size_t
tm_size_of(void *p)
{
	if (tm_arena_of(p) != NULL)
		return tm_hdr_of(p)->h_size;
	return malloc_usable_size(p);	/* malloc's */
}

static void *
tm_malloc(size_t n, const char *file, int line)
{
	void *p;

	if (tm_on) {
		p = tm_alloc(n + TM_HDR > tm_big.a_pages / 2 ? &tm_big :
		    &tm_child, n);
		if (p != NULL)
			return p;
	} else if (tm_hot.a_base != NULL && tm_hot_site(file, n)) {
		if ((p = tm_alloc(&tm_hot, n)) != NULL)
			return p;
	}
	return malloc(n);
}

static void
tm_freefn(void *p, const char *file, int line)
{
	struct tm_arena *a;

	if (p == NULL)
		return;
	a = tm_arena_of(p);
	if (tm_on) {
		if (a != NULL && a != &tm_hot)
			tm_release(a, p);
		/* else: the master's block, left alone (see above) */
	} else if (a == &tm_hot)
		tm_release(a, p);
	else
		free(p);
}

static void *
tm_realloc(void *p, size_t n, const char *file, int line)
{
	struct tm_arena *a;
	struct tm_hdr *h;
	void *q;
	size_t old;

	if (p == NULL)
		return tm_malloc(n, file, line);
	if (n == 0) {
		tm_freefn(p, file, line);
		return NULL;
	}
	a = tm_arena_of(p);
	if (!tm_on && a != &tm_hot)
		return realloc(p, n);
	if (a != NULL) {
		h = tm_hdr_of(p);
		if (n + TM_HDR <= tm_sizes[h->h_class]) {
			h->h_size = n;
			return p;
		}
	}
	old = tm_size_of(p);
	if ((q = tm_malloc(n, file, line)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	tm_freefn(p, file, line);
	return q;
}

/*
 * SECHO_TLSMEM=off leaves OpenSSL on malloc, =nohot keeps the children's
 * arenas but not the master's hot one: for measuring what each part
 * gains (bench/RESULTS.md), and a way out if an OpenSSL upgrade ever
 * disagrees with this file.
 */
int
tlsmem_init(void)
{
	const char *mode = getenv("SECHO_TLSMEM");

	if (mode != NULL && strcmp(mode, "off") == 0)
		return 0;
	tm_classes();
	if (CRYPTO_set_mem_functions(tm_malloc, tm_realloc, tm_freefn) != 1)
		return -1;
	if (mode == NULL || strcmp(mode, "nohot") != 0)
		(void)tm_arena_init(&tm_hot, TM_HOT_RESERVE, 0);   /* or malloc */
	return 0;
}

void
tlsmem_child(void)
{
	long pg = sysconf(_SC_PAGESIZE);

	if (tm_sizes[0] == 0)
		return;		/* tlsmem_init was not called */
	if (pg <= 0 || (pg & (pg - 1)) != 0)
		pg = 4096;
	if (tm_arena_init(&tm_child, TM_CHILD_RESERVE, 0) == -1)
		return;		/* malloc, as in the master */
	if (tm_arena_init(&tm_big, TM_CHILD_RESERVE, (size_t)pg) == -1) {
		(void)munmap(tm_child.a_base, TM_CHILD_RESERVE);
		memset(&tm_child, 0, sizeof(tm_child));
		return;
	}
	tm_on = 1;
}

/*
 * The packed arena: free blocks that end where the carving does are
 * carved again later instead (a_brk moves down), and the whole pages above
 * the new end go back.  A child's short-lived handshake blocks are often
 * the last ones carved.  Bounded: a few blocks per quiet spell.
 */
static void
tm_trim_top(struct tm_arena *a, uintptr_t pg)
{
	struct tm_free **pp, *f;
	uintptr_t lo;
	int c, n, found = 1;

	for (n = 0; n < 256 && found; n++) {
		found = 0;
		for (c = 0; c < TM_NCLASS && !found; c++) {
			for (pp = &a->a_free[c]; (f = *pp) != NULL;
			    pp = &f->f_next) {
				if ((char *)f - TM_HDR + tm_block_size(a, c) !=
				    a->a_brk)
					continue;
				*pp = f->f_next;
				a->a_brk = (char *)f - TM_HDR;
				found = 1;
				break;
			}
		}
	}
	lo = ((uintptr_t)a->a_brk + pg - 1) & ~(pg - 1);
	if ((uintptr_t)a->a_top > lo)
		(void)madvise((void *)lo, (uintptr_t)a->a_top - lo,
		    MADV_DONTNEED);
	a->a_untrimmed = 0;
}

/*
 * Free blocks of the page arena give all their pages back; the arena
 * remembers them (tm_cold) until they are reused.  When it cannot
 * remember more, the rest stay as they are: memory, not correctness.
 */
void
tlsmem_idle(void)
{
	struct tm_arena *a = &tm_big;
	struct tm_free *f;
	char *blk;
	int c;

	if (!tm_on)
		return;
	if (tm_child.a_untrimmed)
		tm_trim_top(&tm_child, tm_big.a_pages);
	if (!a->a_untrimmed)
		return;
	for (c = 0; c < TM_NCLASS; c++) {
		while ((f = a->a_free[c]) != NULL && a->a_ncold < TM_NCOLD) {
			a->a_free[c] = f->f_next;
			blk = (char *)f - TM_HDR;
			(void)madvise(blk, tm_block_size(a, c), MADV_DONTNEED);
			a->a_cold[a->a_ncold].k_blk = blk;
			a->a_cold[a->a_ncold].k_class = c;
			a->a_ncold++;
		}
	}
	a->a_untrimmed = 0;
}
