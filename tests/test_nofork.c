/*
 * test_nofork.c - the master's memory that its connection children give
 * up right after fork (nofork.c): the child table with the addresses of
 * every other client, the poll set (cmocka).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/nofork.h"

/* 1 when [p, p + len) is mapped (mincore fails with ENOMEM if not). */
static int
mapped(void *p, size_t len)
{
	unsigned char vec[64];

	return mincore(p, len, vec) == 0 ? 1 : errno == ENOMEM ? 0 : -1;
}

static void
test_children_give_it_up(void **state)
{
	unsigned char *a, *b;
	int status;
	pid_t pid;

	(void)state;
	a = nofork_calloc(100, 40);
	b = nofork_calloc(1, 4096);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a[3999], 0);		/* zeroed, like calloc */
	memset(a, 0x5a, 4000);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Before: the copy is there; after: gone, both of them. */
		if (mapped(a, 4000) != 1 || a[10] != 0x5a)
			_exit(1);
		nofork_child();
		_exit(mapped(a, 4000) == 0 && mapped(b, 4096) == 0 ? 0 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The master keeps its own. */
	assert_int_equal(mapped(a, 4000), 1);
	assert_int_equal(a[3999], 0x5a);
	nofork_free(a, 100, 40);
	nofork_free(b, 1, 4096);
	assert_int_equal(mapped(a, 4000), 0);
}

/* Freed mappings are forgotten: a child does not unmap what is reused. */
static void
test_free_forgets(void **state)
{
	unsigned char *a, *c;
	int status;
	pid_t pid;

	(void)state;
	a = nofork_calloc(1, 8192);
	assert_non_null(a);
	nofork_free(a, 1, 8192);
	/* Something else may now live at that address. */
	c = mmap(a, 8192, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (c == MAP_FAILED)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		nofork_child();
		_exit(mapped(c, 8192) == 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	munmap(c, 8192);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_children_give_it_up),
		cmocka_unit_test(test_free_forgets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
