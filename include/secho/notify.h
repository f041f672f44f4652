/*
 * notify.h - systemd readiness protocol over $NOTIFY_SOCKET.
 */
#ifndef SECHO_NOTIFY_H
#define SECHO_NOTIFY_H

/*
 * Send state ("READY=1", "RELOADING=1", "STOPPING=1", ...) to the socket
 * named by $NOTIFY_SOCKET (a path or an abstract "@name").  No-op without
 * it.  Returns 0, or -1 with errno set.
 */
int	notify_send(const char *state);

#endif
