/*
 * tlsmem.h - OpenSSL's heap in TLS connection children (tlsmem.c).
 */
#ifndef SECHO_TLSMEM_H
#define SECHO_TLSMEM_H

/* Before any other OpenSSL call (main).  0, or -1 when too late. */
int	tlsmem_init(void);
/* In a TLS connection child, right after fork: its own arena. */
void	tlsmem_child(void);
/*
 * The connection is idle: large free blocks give their pages back, and so
 * does the free end of the small blocks' arena.
 */
void	tlsmem_idle(void);

#endif
