"""PROXY protocol v1/v2 on tcp listeners (SPEC: Configuration
proxy_protocol; Processes: the child parses it and reports the address
back for the limits; the address in it is the peer for logs, limits and
access lists; handshake_timeout covers the header)."""

import errno
import socket
import struct
import time

import harness as h

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, sport, dst, dport, command=0x21):
    if ":" in src:
        fam = 0x21
        addrs = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam = 0x11
        addrs = socket.inet_aton(src) + socket.inet_aton(dst)
    body = addrs + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([command, fam]) + struct.pack("!H", len(body)) + body


def proxied_echo(port, header, data, timeout=15):
    """Send header + data, end our side, read all; b"" when the server
    closed or reset the connection (it may do so before our shutdown)."""
    s = h.tcp_connect("127.0.0.1", port, timeout)
    with s:
        name = s.getsockname()
        try:
            s.sendall(header + data)
            s.shutdown(socket.SHUT_WR)
            return h.recv_all(s, timeout), name
        except OSError as e:
            if e.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                raise
            return b"", name


class Proxy(h.SechoTestCase):
    def start(self, **extra):
        self.p = self.port()
        lst = {"proto": "tcp", "address": "127.0.0.1", "port": self.p, "proxy_protocol": True}
        lst.update(extra.pop("listener", {}))
        return self.daemon([lst], **extra)

    def test_v1_tcp4(self):
        d = self.start()
        hdr = b"PROXY TCP4 192.0.2.10 127.0.0.1 5555 %d\r\n" % self.p
        got, _ = proxied_echo(self.p, hdr, b"payload after header")
        self.assertEqual(got, b"payload after header", "the header is not echoed")
        e = d.wait_event("close", peer="192.0.2.10:5555")
        self.assertEqual(e.get("bytes_in"), str(len(b"payload after header")))
        self.assertEqual(e.get("reason"), "eof")
        d.wait_event("connect", peer="192.0.2.10:5555")

    def test_v1_tcp6(self):
        d = self.start()
        hdr = b"PROXY TCP6 2001:db8::7 ::1 4444 %d\r\n" % self.p
        got, _ = proxied_echo(self.p, hdr, b"six")
        self.assertEqual(got, b"six")
        d.wait_event("close", peer="[2001:db8::7]:4444")

    def test_v2_tcp4(self):
        d = self.start()
        got, _ = proxied_echo(self.p, v2_header("198.51.100.3", 6000, "127.0.0.1", self.p),
                              b"\x00\x01binary v2")
        self.assertEqual(got, b"\x00\x01binary v2")
        d.wait_event("close", peer="198.51.100.3:6000", reason="eof")

    def test_v2_local(self):
        """LOCAL command (health checks): the real connection address is the peer."""
        d = self.start()
        hdr = V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
        got, name = proxied_echo(self.p, hdr, b"local")
        self.assertEqual(got, b"local")
        d.wait_event("close", peer=h.sock_addr_text(name))

    def test_missing_header(self):
        d = self.start()
        got, name = proxied_echo(self.p, b"", b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(got, b"", "data without a PROXY header is echoed")
        self.assertTrue(d.alive())

    def test_header_timeout(self):
        d = self.start(limits={"handshake_timeout": 1})
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            t0 = time.monotonic()
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(10), b"")
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - t0, 8)
        d.wait_event("close", reason="handshake-timeout")

    def test_access_list_uses_proxied_address(self):
        d = self.start(listener={"allow": ["192.0.2.0/24"]})
        got, _ = proxied_echo(self.p, b"PROXY TCP4 192.0.2.1 127.0.0.1 1111 %d\r\n" % self.p, b"in")
        self.assertEqual(got, b"in")
        got, _ = proxied_echo(self.p, b"PROXY TCP4 203.0.113.9 127.0.0.1 2222 %d\r\n" % self.p, b"out")
        self.assertEqual(got, b"", "a denied proxied address was served")
        ev = d.wait_event("refused", reason="access")
        self.assertEqual(ev.get("peer"), "203.0.113.9:2222")

    def test_per_host_limit_uses_proxied_address(self):
        d = self.start(limits={"max_connections_per_host": 1})
        hdr = b"PROXY TCP4 192.0.2.7 127.0.0.1 %d %d\r\n"
        a = h.tcp_connect("127.0.0.1", self.p)
        self.addCleanup(a.close)
        a.sendall(hdr % (1000, self.p) + b"a")
        self.assertEqual(h.recv_exact(a, 1), b"a")
        # the same proxied host again: over the limit
        got, _ = proxied_echo(self.p, hdr % (1001, self.p), b"b")
        self.assertEqual(got, b"", "second connection of the same proxied host served")
        self.assertEqual(d.wait_event("refused", peer="192.0.2.7:1001").get("reason"), "max-per-host")
        # another proxied host (same real address 127.0.0.1) is served
        got, _ = proxied_echo(self.p, b"PROXY TCP4 192.0.2.8 127.0.0.1 1002 %d\r\n" % self.p, b"c")
        self.assertEqual(got, b"c")
