/*
 * forklean.h - fork(2) without glibc's fork handlers (forklean.c): for a
 * single-threaded process that holds no lock at the call.
 */
#ifndef SECHO_FORKLEAN_H
#define SECHO_FORKLEAN_H

#include <sys/types.h>

/* As fork(2): 0 in the child, its pid in the parent, or -1. */
pid_t	fork_lean(void);

#endif
