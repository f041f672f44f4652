/*
 * serve_tcp.c - struct conn over a plain, non-blocking TCP socket.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/echo.h"

static ssize_t
tcp_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(c->c_fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return CONN_WANT_READ;
	return CONN_ERROR;
}

static ssize_t
tcp_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(c->c_fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return CONN_WANT_WRITE;
	return CONN_ERROR;
}

static int
tcp_close_write(struct conn *c)
{
	if (shutdown(c->c_fd, SHUT_WR) == -1 && errno != ENOTCONN)
		return CONN_ERROR;
	return 0;
}

static const struct conn_ops tcp_ops = {
	.co_read = tcp_read,
	.co_write = tcp_write,
	.co_close_write = tcp_close_write,
	.co_pending = NULL,
};

void
serve_tcp_conn_init(struct conn *c, int fd)
{
	c->c_ops = &tcp_ops;
	c->c_ctx = NULL;
	c->c_fd = fd;
	c->c_bytes_in = 0;
	c->c_bytes_out = 0;
}
