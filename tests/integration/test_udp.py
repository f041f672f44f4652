"""UDP echo (SPEC: Behaviour/UDP, Processes, Logs udp and udp-drop)."""

import os
import signal
import socket
import subprocess
import threading
import time

import harness as h


def udp(port, address="127.0.0.1", **extra):
    d = {"proto": "udp", "address": address, "port": port}
    d.update(extra)
    return d


class UdpEcho(h.SechoTestCase):
    def setUp(self):
        super().setUp()
        self.p = self.port()
        self.d = self.daemon([udp(self.p)])

    def test_sizes(self):
        s = h.udp_socket()
        with s:
            for size in (1, 1400, 8192, 65507):
                data = os.urandom(size)
                got, src = h.udp_echo("127.0.0.1", self.p, data, sock=s, tries=3)
                self.assertIsNotNone(got, "no reply to a %d-byte datagram" % size)
                self.assertEqual(len(got), size)
                self.assertTrue(got == data, "%d-byte datagram changed" % size)
                self.assertEqual(src, ("127.0.0.1", self.p))

    def test_empty_datagram(self):
        s = h.udp_socket()
        with s:
            got, src = h.udp_echo("127.0.0.1", self.p, b"", sock=s, timeout=5)
            self.assertEqual(got, b"", "an empty datagram is echoed as an empty one")

    def test_burst_all_answered(self):
        """50 datagrams at once (below the default rate of 200/s): all come
        back, none discarded from the queue."""
        s = h.udp_socket()
        with s:
            s.settimeout(5)
            sent = {b"dgram %03d" % i for i in range(50)}
            for m in sorted(sent):
                s.sendto(m, ("127.0.0.1", self.p))
            got = set()
            try:
                while len(got) < len(sent):
                    got.add(s.recvfrom(100)[0])
            except socket.timeout:
                pass
            self.assertEqual(sent - got, set())

    def test_socat(self):
        p = subprocess.Popen(["socat", "-", "UDP:127.0.0.1:%d" % self.p],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        p.stdin.write(b"hello socat\n")
        p.stdin.flush()
        r = out.wait_for(r"hello socat", 15, stream="stdout")
        self.assertIsNotNone(r, "socat got no echo; socat said: %s" % out.text())

    def test_one_worker_process(self):
        kids = h.wait_until(lambda: self.d.live_children(), 10)
        self.assertEqual(len(kids or []), 1, "one forked worker per UDP listener")
        for _ in range(20):
            got, _ = h.udp_echo("127.0.0.1", self.p, b"x", tries=3)
            self.assertEqual(got, b"x")
        self.assertEqual(self.d.live_children(), kids, "datagrams do not fork")


class UdpAddresses(h.SechoTestCase):
    def test_dual_stack(self):
        if not h.HAVE_IPV6:
            self.skipTest("no IPv6 on loopback")
        p = self.port()
        self.daemon([udp(p, "::")])
        got, src = h.udp_echo("127.0.0.1", p, b"four", tries=3)
        self.assertEqual(got, b"four")
        self.assertEqual((h.fmt_addr(src[0], src[1])), "127.0.0.1:%d" % p,
                         "reply from the address sent to (as IPv4)")
        got, src = h.udp_echo("::1", p, b"six", tries=3)
        self.assertEqual(got, b"six")
        self.assertEqual(src[:2], ("::1", p))

    def test_reply_from_destination_address_dual_stack(self):
        """Sent to 127.0.0.2 (a local address that is not the route's
        preferred source): the reply must come from 127.0.0.2."""
        if not h.HAVE_IPV6:
            self.skipTest("no IPv6 on loopback")
        p = self.port()
        self.daemon([udp(p, "::")])
        got, src = h.udp_echo("127.0.0.2", p, b"where from", tries=3)
        self.assertEqual(got, b"where from")
        self.assertEqual(h.fmt_addr(src[0], src[1]), "127.0.0.2:%d" % p)

    def test_reply_from_destination_address_v4_any(self):
        p = self.port()
        self.daemon([udp(p, "0.0.0.0")])
        for dst in ("127.0.0.1", "127.0.0.3"):
            got, src = h.udp_echo(dst, p, b"where from", tries=3)
            self.assertEqual(got, b"where from")
            self.assertEqual(src, (dst, p))

    def test_udp_and_tcp_same_port(self):
        p = self.port()
        self.daemon([udp(p), {"proto": "tcp", "address": "127.0.0.1", "port": p}])
        got, _ = h.udp_echo("127.0.0.1", p, b"u", tries=3)
        self.assertEqual(got, b"u")
        self.assertTrue(h.try_echo("127.0.0.1", p, b"t"))


class UdpLogs(h.SechoTestCase):
    def test_debug_lines(self):
        p = self.port()
        d = self.daemon([udp(p)], log={"level": "debug"})
        s = h.udp_socket()
        with s:
            s.bind(("127.0.0.1", 0))
            got, _ = h.udp_echo("127.0.0.1", p, b"x" * 321, sock=s, tries=3)
            self.assertEqual(got, b"x" * 321)
            peer = h.sock_addr_text(s.getsockname())
        ev = d.wait_event("udp", peer=peer)
        self.assertEqual(ev.get("bytes"), "321")

    def test_no_debug_lines_at_info(self):
        p = self.port()
        d = self.daemon([udp(p)], log={"level": "info"})
        got, _ = h.udp_echo("127.0.0.1", p, b"quiet", tries=3)
        self.assertEqual(got, b"quiet")
        time.sleep(0.5)
        self.assertEqual(d.events("udp"), [])


class UdpGuards(h.SechoTestCase):
    def test_rate_limit(self):
        p = self.port()
        d = self.daemon([udp(p)], limits={"udp_rate_per_host": 5})
        s = h.udp_socket()
        with s:
            s.bind(("127.0.0.1", 0))
            for i in range(50):
                s.sendto(b"r%02d" % i, ("127.0.0.1", p))
            replies = []
            s.settimeout(2)
            try:
                while True:
                    replies.append(s.recvfrom(100)[0])
            except socket.timeout:
                pass
        self.assertGreaterEqual(len(replies), 3, "the burst of 5 is echoed")
        self.assertLessEqual(len(replies), 7, "rate 5/s, burst 5: got %d replies" % len(replies))
        ev = d.wait_event("udp-drop", reason="rate-limit")
        self.assertRegex(ev.get("count", ""), r"^[1-9]\d*$")
        self.assertLessEqual(int(ev["count"]), 50 - len(replies))
        self.assertTrue(ev.get("peer", "").startswith("127.0.0.1"), ev)
        # at most one line per second per reason
        time.sleep(1.5)
        lines = d.events("udp-drop", reason="rate-limit")
        self.assertLessEqual(len(lines), 2, "udp-drop lines are throttled: %d" % len(lines))
        # the bucket refills: a datagram a bit later is echoed again
        got, _ = h.udp_echo("127.0.0.1", p, b"later", tries=3, timeout=3)
        self.assertEqual(got, b"later")

    def test_rate_limit_per_source_address(self):
        p = self.port()
        self.daemon([udp(p)], limits={"udp_rate_per_host": 3})
        a = h.udp_socket(bind=("127.0.0.1", 0))
        b = h.udp_socket(bind=("127.0.0.5", 0))
        with a, b:
            for i in range(30):
                a.sendto(b"a", ("127.0.0.1", p))
            got, _ = h.udp_echo("127.0.0.1", p, b"other host", sock=b, timeout=3)
            self.assertEqual(got, b"other host", "another source has its own bucket")

    def test_no_limit_when_zero(self):
        p = self.port()
        self.daemon([udp(p)], limits={"udp_rate_per_host": 0})
        s = h.udp_socket()
        with s:
            s.settimeout(5)
            for i in range(300):
                s.sendto(b"n%03d" % i, ("127.0.0.1", p))
                if i % 50 == 49:
                    time.sleep(0.01)
            n = 0
            try:
                while n < 300:
                    s.recvfrom(100)
                    n += 1
            except socket.timeout:
                pass
        self.assertGreaterEqual(n, 290, "udp_rate_per_host = 0 means no limit")

    def test_source_port_2049(self):
        """NFS port: no reply, logged (no root needed: 2049 > 1023)."""
        p = self.port()
        d = self.daemon([udp(p)])
        try:
            s = h.udp_socket(bind=("127.0.0.1", 2049))
        except OSError as e:
            self.skipTest("cannot bind 127.0.0.1:2049: %s" % e)
        with s:
            got, _ = h.udp_echo("127.0.0.1", p, b"loop?", sock=s, timeout=1.5)
            self.assertIsNone(got, "datagram from port 2049 echoed")
        ev = d.wait_event("udp-drop", reason="source-port")
        self.assertRegex(ev.get("count", ""), r"^[1-9]\d*$")
        # and the service still answers others
        got, _ = h.udp_echo("127.0.0.1", p, b"fine", tries=3)
        self.assertEqual(got, b"fine")

    def test_source_port_below_1024(self):
        if not h.is_root():
            self.skipTest("binding a client to a port below 1024 needs root")
        p = self.port()
        d = self.daemon([udp(p)])
        s = None
        for sport in (19, 7, 1023, 1000):
            try:
                s = h.udp_socket(bind=("127.0.0.1", sport))
                break
            except OSError:
                continue
        if s is None:
            self.skipTest("no low port free to bind")
        with s:
            got, _ = h.udp_echo("127.0.0.1", p, b"chargen loop?", sock=s, timeout=1.5)
            self.assertIsNone(got, "datagram from a port below 1024 echoed")
        ev = d.wait_event("udp-drop", reason="source-port")
        self.assertTrue(ev.get("peer", "").startswith("127.0.0.1"), ev)


class UdpWorker(h.SechoTestCase):
    def test_worker_restarted(self):
        p = self.port()
        d = self.daemon([udp(p)])
        got, _ = h.udp_echo("127.0.0.1", p, b"before", tries=3)
        self.assertEqual(got, b"before")
        kids = h.wait_until(lambda: d.live_children(), 10)
        self.assertEqual(len(kids or []), 1)
        old = kids[0]
        mark = d.mark()
        os.kill(old, signal.SIGKILL)
        # the master notices and says so
        d.wait_for(r".", 10, start=mark)
        new = h.wait_until(lambda: [c for c in d.live_children() if c != old], 10)
        self.assertTrue(new, "no new worker; log:\n" + d.tail())
        self.assertEqual(d.zombies(), [], "the dead worker is reaped")
        got, _ = h.udp_echo("127.0.0.1", p, b"after", tries=10, timeout=1)
        self.assertEqual(got, b"after", "the new worker answers")
        self.assertTrue(d.alive())

    def test_udp_total_survives_worker_restart(self):
        """stats udp_total counts every datagram echoed since start, also
        those of a worker that died."""
        p = self.port()
        d = self.daemon([udp(p)])
        for i in range(3):
            got, _ = h.udp_echo("127.0.0.1", p, b"b%d" % i, tries=3)
            self.assertEqual(got, b"b%d" % i)
        old = h.wait_until(lambda: d.live_children(), 10)[0]
        os.kill(old, signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: [c for c in d.live_children() if c != old], 10))
        got, _ = h.udp_echo("127.0.0.1", p, b"after", timeout=10)
        self.assertEqual(got, b"after")
        time.sleep(0.2)
        mark = d.mark()
        d.signal(signal.SIGUSR1)
        ev = d.wait_event("stats", start=mark)
        self.assertEqual(ev.get("udp_total"), "4", ev["_line"])
