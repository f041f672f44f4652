/*
 * connreq.c - the request of one connection, master to engine
 * (connreq.h): a fixed header, the access lists, then three strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "secho/connreq.h"
#include "secho/msg.h"

/* What travels: this header, the access lists, then three strings. */
struct connreq_wire {
	uint32_t		 w_len;		/* all of it */
	int32_t			 w_proto;
	uint32_t		 w_gen;
	uint32_t		 w_listener;
	int64_t			 w_accepted_ms;
	struct sockaddr_storage	 w_peer;
	int32_t			 w_idle_ms;
	int32_t			 w_handshake_ms;
	int32_t			 w_proxy;
	int32_t			 w_log_facility;
	int32_t			 w_log_level;
	int32_t			 w_log_stderr;
	int32_t			 w_drop;
	uint32_t		 w_uid;
	uint32_t		 w_gid;
	uint32_t		 w_name_len;	/* each with its NUL */
	uint32_t		 w_ident_len;
	uint32_t		 w_chroot_len;	/* 0: no chroot */
	uint32_t		 w_nallow;
	uint32_t		 w_ndeny;
};

#define WIRE_HDR	((sizeof(struct connreq_wire) + 7) & ~(size_t)7)

size_t
connreq_encode(const struct conn_req *r, void *buf, size_t len)
{
	struct connreq_wire w;
	size_t nl = strlen(r->cr_name) + 1, il = strlen(r->cr_ident) + 1;
	size_t cl = r->cr_chroot ? strlen(r->cr_chroot) + 1 : 0;
	size_t al = r->cr_allow.count * sizeof(struct cidr);
	size_t dl = r->cr_deny.count * sizeof(struct cidr);
	size_t total = WIRE_HDR + al + dl + nl + il + cl;
	char *p = buf;

	if (total > len || total > CONNREQ_MAX)
		return 0;
	memset(&w, 0, sizeof(w));
	w.w_len = (uint32_t)total;
	w.w_proto = r->cr_proto;
	w.w_gen = r->cr_gen;
	w.w_listener = r->cr_listener;
	w.w_accepted_ms = r->cr_accepted_ms;
	w.w_peer = r->cr_peer;
	w.w_idle_ms = r->cr_idle_ms;
	w.w_handshake_ms = r->cr_handshake_ms;
	w.w_proxy = r->cr_proxy;
	w.w_log_facility = r->cr_log_facility;
	w.w_log_level = r->cr_log_level;
	w.w_log_stderr = r->cr_log_stderr;
	w.w_drop = r->cr_drop;
	w.w_uid = r->cr_uid;
	w.w_gid = r->cr_gid;
	w.w_name_len = (uint32_t)nl;
	w.w_ident_len = (uint32_t)il;
	w.w_chroot_len = (uint32_t)cl;
	w.w_nallow = (uint32_t)r->cr_allow.count;
	w.w_ndeny = (uint32_t)r->cr_deny.count;
	memset(p, 0, WIRE_HDR);
	memcpy(p, &w, sizeof(w));
	p += WIRE_HDR;
	if (al)
		memcpy(p, r->cr_allow.items, al);
	p += al;
	if (dl)
		memcpy(p, r->cr_deny.items, dl);
	p += dl;
	memcpy(p, r->cr_name, nl);
	p += nl;
	memcpy(p, r->cr_ident, il);
	p += il;
	if (cl)
		memcpy(p, r->cr_chroot, cl);
	return total;
}

static int
cidrs_valid(const struct cidr *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (c[i].family == AF_INET) {
			if (c[i].prefix < 0 || c[i].prefix > 32)
				return 0;
		} else if (c[i].family == AF_INET6) {
			if (c[i].prefix < 0 || c[i].prefix > 128)
				return 0;
		} else
			return 0;
	}
	return 1;
}

/* A string of exactly len bytes with its NUL at the end; NULL if not. */
static const char *
wire_string(const char *p, size_t len)
{
	if (len == 0 || p[len - 1] != '\0' || strlen(p) != len - 1)
		return NULL;
	return p;
}

int
connreq_decode(const void *buf, size_t len, struct conn_req *r)
{
	struct connreq_wire w;
	const char *p = buf;
	size_t al, dl, need;

	if (len < WIRE_HDR || len > CONNREQ_MAX)
		return -1;
	memcpy(&w, buf, sizeof(w));
	if (w.w_len != len)
		return -1;
	if (w.w_proto != SECHO_PROTO_TCP && !config_proto_is_tls(w.w_proto))
		return -1;
	if (w.w_peer.ss_family != AF_INET && w.w_peer.ss_family != AF_INET6)
		return -1;
	if (w.w_idle_ms < 0 || w.w_handshake_ms < 0 || w.w_log_level < 0 ||
	    w.w_log_level > 7)
		return -1;
	/* Every count is bounded by len (< 2^16), so nothing overflows. */
	if (w.w_nallow > len || w.w_ndeny > len || w.w_name_len > len ||
	    w.w_ident_len > len || w.w_chroot_len > len)
		return -1;
	al = (size_t)w.w_nallow * sizeof(struct cidr);
	dl = (size_t)w.w_ndeny * sizeof(struct cidr);
	need = WIRE_HDR + al + dl + w.w_name_len + w.w_ident_len +
	    w.w_chroot_len;
	if (need != len)
		return -1;

	memset(r, 0, sizeof(*r));
	p += WIRE_HDR;
	r->cr_allow.items = (struct cidr *)(uintptr_t)p;
	r->cr_allow.count = w.w_nallow;
	r->cr_allow.set = w.w_nallow > 0;
	p += al;
	r->cr_deny.items = (struct cidr *)(uintptr_t)p;
	r->cr_deny.count = w.w_ndeny;
	r->cr_deny.set = w.w_ndeny > 0;
	p += dl;
	if (!cidrs_valid(r->cr_allow.items, r->cr_allow.count) ||
	    !cidrs_valid(r->cr_deny.items, r->cr_deny.count))
		return -1;
	if ((r->cr_name = wire_string(p, w.w_name_len)) == NULL)
		return -1;
	p += w.w_name_len;
	if ((r->cr_ident = wire_string(p, w.w_ident_len)) == NULL)
		return -1;
	p += w.w_ident_len;
	if (w.w_chroot_len &&
	    (r->cr_chroot = wire_string(p, w.w_chroot_len)) == NULL)
		return -1;
	r->cr_proto = w.w_proto;
	r->cr_gen = w.w_gen;
	r->cr_listener = w.w_listener;
	r->cr_accepted_ms = w.w_accepted_ms;
	r->cr_peer = w.w_peer;
	r->cr_idle_ms = w.w_idle_ms;
	r->cr_handshake_ms = w.w_handshake_ms;
	r->cr_proxy = w.w_proxy != 0;
	r->cr_log_facility = w.w_log_facility;
	r->cr_log_level = w.w_log_level;
	r->cr_log_stderr = w.w_log_stderr != 0;
	r->cr_drop = w.w_drop != 0;
	r->cr_uid = w.w_uid;
	r->cr_gid = w.w_gid;
	return 0;
}
