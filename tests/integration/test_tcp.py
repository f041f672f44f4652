"""TCP echo (SPEC: Behaviour/TCP, Processes, Logs)."""

import os
import signal
import socket
import struct
import subprocess
import threading
import time

import harness as h


def tcp(port, address="127.0.0.1", **extra):
    d = {"proto": "tcp", "address": address, "port": port}
    d.update(extra)
    return d


class TcpEcho(h.SechoTestCase):
    def setUp(self):
        super().setUp()
        self.p = self.port()
        self.d = self.daemon([tcp(self.p)],
                             limits={"max_connections": 400, "max_connections_per_host": 200})

    def test_nc_roundtrip(self):
        r = subprocess.run(["nc", "-N", "127.0.0.1", str(self.p)], input=b"hi",
                           capture_output=True, timeout=30)
        self.assertEqual(r.stdout, b"hi", r.stderr)

    def test_nc_lines(self):
        data = b"".join(b"line %d\n" % i for i in range(1000))
        r = subprocess.run(["nc", "-N", "127.0.0.1", str(self.p)], input=data,
                           capture_output=True, timeout=30)
        self.assertEqual(r.stdout, data)

    def test_socat_roundtrip(self):
        data = b"hello from socat\n\x00\xff binary\n"
        r = subprocess.run(["socat", "-t", "10", "-", "TCP:127.0.0.1:%d" % self.p],
                           input=data, capture_output=True, timeout=30)
        self.assertEqual(r.stdout, data, r.stderr)

    def test_binary_1mib(self):
        data = os.urandom(1 << 20)
        got, name = h.tcp_echo("127.0.0.1", self.p, data)
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "echoed bytes differ")

    def test_bulk_counts(self):
        """8 MiB: past the first full buffer the echo moves bytes with
        splice(); the close line still counts every byte both ways."""
        data = os.urandom(8 << 20)
        got, name = h.tcp_echo("127.0.0.1", self.p, data)
        self.assertTrue(got == data, "echoed bytes differ")
        ev = self.d.wait_event("close", peer=h.sock_addr_text(name))
        self.assertEqual(ev.get("bytes_in"), str(len(data)), ev["_line"])
        self.assertEqual(ev.get("bytes_out"), str(len(data)), ev["_line"])
        self.assertEqual(ev.get("reason"), "eof", ev["_line"])

    def test_every_byte_value(self):
        data = bytes(range(256)) * 64
        got, _ = h.tcp_echo("127.0.0.1", self.p, data)
        self.assertEqual(got, data)

    def test_interactive_pingpong(self):
        """Each small message comes back before the next one is sent."""
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.monotonic()
            for i in range(50):
                msg = b"message %03d " % i + os.urandom(64)
                s.sendall(msg)
                self.assertEqual(h.recv_exact(s, len(msg)), msg)
            elapsed = time.monotonic() - t0
            # no Nagle/delayed-ACK stall (40 ms each would take 2 s)
            self.assertLess(elapsed, 5.0)
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(h.recv_all(s), b"")

    def test_half_close(self):
        """After the client's SHUT_WR, the server sends everything, then closes."""
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            data = os.urandom(200000)
            # send without reading: the echo must wait in buffers, not be lost
            t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)),
                                 daemon=True)
            t.start()
            time.sleep(0.3)
            got = h.recv_all(s)
            t.join(10)
            self.assertEqual(got, data)
            # and after EOF, really closed: further recv keeps returning b''
            self.assertEqual(s.recv(10), b"")

    def test_half_close_empty(self):
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(h.recv_all(s), b"")

    def test_100_concurrent_clients(self):
        n = 100
        results = [None] * n
        datas = [os.urandom(1000 + 97 * i) for i in range(n)]
        barrier = threading.Barrier(n, timeout=60)

        def client(i):
            try:
                s = h.tcp_connect("127.0.0.1", self.p, 60)
                with s:
                    barrier.wait()      # all connected at the same time
                    s.sendall(datas[i])
                    s.shutdown(socket.SHUT_WR)
                    results[i] = h.recv_all(s, 60)
            except Exception as e:      # noqa: BLE001 - reported below
                results[i] = e
                try:
                    barrier.abort()
                except Exception:
                    pass

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        bad = [(i, results[i] if not isinstance(results[i], bytes) else "wrong data")
               for i in range(n) if results[i] != datas[i]]
        self.assertEqual(bad, [], "%d of %d clients failed; log:\n%s" % (len(bad), n, self.d.tail()))
        self.assertTrue(self.d.alive())


class TcpDualStack(h.SechoTestCase):
    def test_ipv4_and_ipv6_to_dual_stack_listener(self):
        if not h.HAVE_IPV6:
            self.skipTest("no IPv6 on loopback")
        p = self.port()
        d = self.daemon([tcp(p, "::")])
        got, name4 = h.tcp_echo("127.0.0.1", p, b"over ipv4")
        self.assertEqual(got, b"over ipv4")
        got, name6 = h.tcp_echo("::1", p, b"over ipv6")
        self.assertEqual(got, b"over ipv6")
        # IPv4-mapped peers are written as IPv4, v6 peers in brackets
        d.wait_event("connect", proto="tcp", peer=h.sock_addr_text(name4))
        d.wait_event("connect", proto="tcp", peer="[::1]:%d" % name6[1])
        d.wait_event("close", peer=h.sock_addr_text(name4), reason="eof")
        d.wait_event("close", peer="[::1]:%d" % name6[1], reason="eof")

    def test_ipv6_only_listener(self):
        if not h.HAVE_IPV6:
            self.skipTest("no IPv6 on loopback")
        p = self.port()
        d = self.daemon([tcp(p, "::1")])
        got, name = h.tcp_echo("::1", p, b"v6")
        self.assertEqual(got, b"v6")
        ev = d.wait_event("connect", peer="[::1]:%d" % name[1])
        self.assertEqual(ev.get("listener"), "[::1]:%d" % p)

    def test_ipv4_only_listener(self):
        p = self.port()
        self.daemon([tcp(p, "0.0.0.0")])
        got, _ = h.tcp_echo("127.0.0.1", p, b"v4")
        self.assertEqual(got, b"v4")
        if h.HAVE_IPV6:
            self.assertTrue(h.tcp_refused("::1", p), '"0.0.0.0" is IPv4 only')


class TcpLogs(h.SechoTestCase):
    def test_connect_and_close_lines(self):
        p = self.port()
        d = self.daemon([tcp(p)])
        lst = d.wait_event("listening", proto="tcp")
        self.assertEqual(lst.get("addr"), "127.0.0.1:%d" % p)
        data = os.urandom(12345)
        got, name = h.tcp_echo("127.0.0.1", p, data)
        self.assertEqual(got, data)
        peer = h.sock_addr_text(name)
        c = d.wait_event("connect", peer=peer)
        self.assertEqual(c.get("proto"), "tcp")
        self.assertEqual(c.get("listener"), "127.0.0.1:%d" % p)
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e.get("proto"), "tcp")
        self.assertEqual(e.get("bytes_in"), str(len(data)))
        self.assertEqual(e.get("bytes_out"), str(len(data)))
        self.assertEqual(e.get("reason"), "eof")
        self.assertRegex(e.get("duration_ms", ""), r"^\d+$")
        self.assertGreater(e["_index"], c["_index"])

    def test_duration(self):
        p = self.port()
        d = self.daemon([tcp(p)])
        s = h.tcp_connect("127.0.0.1", p)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            s.sendall(b"x")
            self.assertEqual(h.recv_exact(s, 1), b"x")
            time.sleep(1.2)
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(h.recv_all(s), b"")
        e = d.wait_event("close", peer=peer)
        self.assertGreaterEqual(int(e["duration_ms"]), 1100)
        self.assertLess(int(e["duration_ms"]), 20000)
        self.assertEqual((e["bytes_in"], e["bytes_out"]), ("1", "1"))


class TcpProcesses(h.SechoTestCase):
    def test_no_zombies_after_300_connections(self):
        p = self.port()
        d = self.daemon([tcp(p)])
        for i in range(300):
            msg = b"conn %d" % i
            got, _ = h.tcp_echo("127.0.0.1", p, msg)
            self.assertEqual(got, msg)
        # every child exits and is reaped (allow a settle time)
        left = h.wait_until(lambda: not d.children(), 15) or d.children()
        states = {c: h.proc_state(c) for c in d.children()}
        self.assertEqual(states, {}, "children left after all connections closed "
                         "(Z = zombie, not reaped)")
        self.assertEqual(d.zombies(), [])
        self.assertTrue(d.alive())
        # the last child may log its close line just after the client
        # saw EOF: wait for it rather than race with it
        h.wait_until(lambda: len(d.events("close", reason="eof")) >= 300, 15)
        n = len(d.events("close", reason="eof"))
        self.assertEqual(n, 300, "one close line per connection")

    def test_child_per_connection(self):
        p = self.port()
        d = self.daemon([tcp(p)])
        socks = [h.tcp_connect("127.0.0.1", p) for _ in range(3)]
        try:
            for s in socks:
                s.sendall(b"a")
                self.assertEqual(h.recv_exact(s, 1), b"a")
            kids = h.wait_until(lambda: len(d.live_children()) >= 3 and d.live_children(), 10)
            self.assertEqual(len(kids or []), 3, "one forked child per connection")
        finally:
            for s in socks:
                s.close()
        self.assertTrue(h.wait_until(lambda: not d.children(), 15), d.children())


class TcpBadClients(h.SechoTestCase):
    def test_reset_silent_and_huge_clients(self):
        p = self.port()
        d = self.daemon([tcp(p)])

        # 1. connect and reset
        r = h.tcp_connect("127.0.0.1", p)
        rname = h.sock_addr_text(r.getsockname())
        r.sendall(b"some data before the reset")
        r.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.close()

        # 2. connect and say nothing
        silent = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(silent.close)

        # 3. 100 MiB in one connection, read back in parallel
        big = {"err": None, "ok": False}
        size = 100 << 20
        chunk = os.urandom(1 << 20)

        def huge():
            try:
                s = h.tcp_connect("127.0.0.1", p, 60)
                with s:
                    def send():
                        for _ in range(size // len(chunk)):
                            s.sendall(chunk)
                        s.shutdown(socket.SHUT_WR)
                    t = threading.Thread(target=send, daemon=True)
                    t.start()
                    got = 0
                    bad = False
                    pos = 0
                    s.settimeout(60)
                    while True:
                        b = s.recv(1 << 20)
                        if not b:
                            break
                        # compare against the repeating chunk
                        off = pos % len(chunk)
                        ref = (chunk[off:] + chunk)[:len(b)] if len(b) <= len(chunk) else None
                        if ref is not None and b != ref:
                            bad = True
                        pos += len(b)
                        got += len(b)
                    t.join(60)
                    big["ok"] = (got == size and not bad)
                    big["got"] = got
            except Exception as e:   # noqa: BLE001
                big["err"] = e

        ht = threading.Thread(target=huge, daemon=True)
        ht.start()

        # meanwhile, others are served
        for i in range(20):
            msg = os.urandom(500 + i)
            got, _ = h.tcp_echo("127.0.0.1", p, msg)
            self.assertEqual(got, msg)
        ht.join(180)
        self.assertFalse(ht.is_alive(), "100 MiB echo did not finish")
        self.assertIsNone(big["err"])
        self.assertTrue(big["ok"], "100 MiB echo wrong (%s bytes back)" % big.get("got"))
        self.assertTrue(d.alive())

        # the reset client was closed and logged
        d.wait_event("close", peer=rname, reason=lambda v: v in ("error", "eof"))
        # the silent one is still served
        silent.sendall(b"still here")
        self.assertEqual(h.recv_exact(silent, 10), b"still here")
        got, _ = h.tcp_echo("127.0.0.1", p, b"after")
        self.assertEqual(got, b"after")
        self.assertTrue(d.alive())

    def test_client_that_never_reads(self):
        """A client that sends but never reads blocks only its own child."""
        p = self.port()
        d = self.daemon([tcp(p)])
        s = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(s.close)
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 10
        blob = b"z" * 65536
        while time.monotonic() < deadline and sent < (64 << 20):
            try:
                sent += s.send(blob)
            except BlockingIOError:
                break
        got, _ = h.tcp_echo("127.0.0.1", p, b"others are fine")
        self.assertEqual(got, b"others are fine")
        self.assertTrue(d.alive())


class TcpIdleTimeout(h.SechoTestCase):
    def test_idle_client_closed(self):
        p = self.port()
        d = self.daemon([tcp(p)], limits={"idle_timeout": 1})
        s = h.tcp_connect("127.0.0.1", p)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            t0 = time.monotonic()
            s.settimeout(15)
            try:
                b = s.recv(10)
            except ConnectionResetError:
                b = b""
            elapsed = time.monotonic() - t0
            self.assertEqual(b, b"")
            self.assertGreater(elapsed, 0.7)
            self.assertLess(elapsed, 8)
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e.get("reason"), "idle-timeout")

    def test_active_client_not_closed(self):
        """idle_timeout counts time without data, not connection time."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"idle_timeout": 1})
        s = h.tcp_connect("127.0.0.1", p)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            for i in range(8):      # 3.2 s in total, a message every 0.4 s
                s.sendall(b"%d" % i)
                self.assertEqual(h.recv_exact(s, 1), b"%d" % i)
                time.sleep(0.4)
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(h.recv_all(s), b"")
        self.assertEqual(d.wait_event("close", peer=peer).get("reason"), "eof")


class TcpLimits(h.SechoTestCase):
    def assert_closed_at_once(self, s):
        self.assertIs(h.not_served(s), True,
                      "a refused connection is closed at once, not served")

    def test_max_per_host(self):
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections_per_host": 2})
        a = h.tcp_connect("127.0.0.1", p)
        b = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        for s in (a, b):
            s.sendall(b"k")
            self.assertEqual(h.recv_exact(s, 1), b"k")
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            peer = h.sock_addr_text(c.getsockname())
            self.assert_closed_at_once(c)
        ev = d.wait_event("refused", peer=peer)
        self.assertEqual(ev.get("reason"), "max-per-host")
        self.assertEqual(ev.get("proto"), "tcp")
        # once one closes, a new connection is served again
        a.close()
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", p, b"again"), 10))

    def test_max_connections(self):
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 1})
        a = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(a.close)
        a.sendall(b"k")
        self.assertEqual(h.recv_exact(a, 1), b"k")
        c = h.tcp_connect("127.0.0.1", p, 10)
        with c:
            peer = h.sock_addr_text(c.getsockname())
            # either refused and closed at once, or left in the backlog
            # (listeners paused at the cap): never served while a is open
            c.settimeout(3)
            try:
                c.sendall(b"x")
                got = c.recv(10)
            except (ConnectionResetError, BrokenPipeError, socket.timeout):
                got = b""
            self.assertEqual(got, b"", "second connection served above max_connections")
        a.close()
        refused = d.events("refused", reason="max-connections")
        if refused:
            self.assertEqual(refused[0].get("peer"), peer)
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", p, b"again"), 15))

    def test_allow_list(self):
        p = self.port()
        q = self.port()
        d = self.daemon([tcp(p, allow=["192.0.2.0/24"]), tcp(q, allow=["10.0.0.0/8", "127.0.0.0/8"])])
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            peer = h.sock_addr_text(c.getsockname())
            self.assert_closed_at_once(c)
        ev = d.wait_event("refused", peer=peer)
        self.assertEqual(ev.get("reason"), "access")
        got, _ = h.tcp_echo("127.0.0.1", q, b"allowed")
        self.assertEqual(got, b"allowed")

    def test_deny_wins(self):
        p = self.port()
        d = self.daemon([tcp(p, allow=["127.0.0.0/8"], deny=["127.0.0.1"])])
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            peer = h.sock_addr_text(c.getsockname())
            self.assert_closed_at_once(c)
        self.assertEqual(d.wait_event("refused", peer=peer).get("reason"), "access")
        # another loopback address is allowed
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(20)
        with s:
            s.connect(("127.0.0.1", p))
            s.sendall(b"ok")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(h.recv_all(s), b"ok")
