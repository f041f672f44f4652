"""Operations and hardening (issue 4): limits under a flood and their
recovery, connection children killed with SIGKILL, UDP worker back-off,
file-descriptor exhaustion, privileges of children and workers (root),
stalled TLS handshakes, the exact systemd notification sequence.

What test_tcp, test_privileges, test_proxy, test_notify, test_udp and
test_signals already check is not repeated here."""

import os
import pwd
import grp
import re
import signal
import socket
import ssl
import subprocess
import time
import unittest

import harness as h


def tcp(port, address="127.0.0.1", **extra):
    d = {"proto": "tcp", "address": address, "port": port}
    d.update(extra)
    return d


def udp(port, address="127.0.0.1"):
    return {"proto": "udp", "address": address, "port": port}


def pingpong(testcase, s, msg):
    s.sendall(msg)
    testcase.assertEqual(h.recv_exact(s, len(msg)), msg)


class OpsLimits(h.SechoTestCase):
    def test_refused_flood_bounded_log_and_recovery(self):
        """300 connections over max_connections: all refused at once, at
        most 20 `refused` lines a second, the rest summed in `suppressed=`
        of the next line, refused_total counts every one, the master stays
        responsive and serves again once a slot frees up."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 2})
        held = [h.tcp_connect("127.0.0.1", p) for _ in range(2)]
        for s in held:
            self.addCleanup(s.close)
            pingpong(self, s, b"held")
        mark = d.mark()
        t0 = time.monotonic()
        outcomes = []
        for _ in range(6):              # 6 bursts of 50 connections
            burst = [h.tcp_connect("127.0.0.1", p, 20) for _ in range(50)]
            for s in burst:
                with s:
                    outcomes.append(h.not_served(s))
        flood_s = time.monotonic() - t0
        self.assertEqual(outcomes.count(True), 300,
                         "connections over max_connections not closed at once "
                         "(False = served, None = left hanging): %r"
                         % {v: outcomes.count(v) for v in set(outcomes)})
        # a later refusal, in a new second, carries the count of the lines
        # that were left out
        time.sleep(1.2)
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            last_peer = h.sock_addr_text(c.getsockname())
            self.assertTrue(h.not_served(c))
        d.wait_event("refused", start=mark, peer=last_peer)
        time.sleep(0.2)
        lines = d.events("refused", start=mark)
        for ev in lines:
            self.assertEqual(ev.get("reason"), "max-connections", ev["_line"])
            self.assertEqual(ev.get("proto"), "tcp", ev["_line"])
        flood_lines = lines[:-1]
        bound = 20 * (int(flood_s) + 2)
        self.assertLessEqual(len(flood_lines), bound,
                             "%d refused lines for 300 refusals in %.1fs (at most 20/s)"
                             % (len(flood_lines), flood_s))
        suppressed = sum(int(ev.get("suppressed", "0")) for ev in lines)
        self.assertTrue(any("suppressed" in ev for ev in lines),
                        "no line says how many were suppressed:\n" + d.tail())
        self.assertEqual(len(lines) + suppressed, 301,
                         "lines + suppressed= must account for every refusal "
                         "(%d lines, suppressed sum %d)" % (len(lines), suppressed))
        self.assertIn("suppressed", lines[-1],
                      "the line after the flood carries suppressed=: " + lines[-1]["_line"])
        # responsive: stats at once, counting every refusal
        t1 = time.monotonic()
        ev = h.stats(d, 10)
        self.assertLess(time.monotonic() - t1, 5, "stats line late after the flood")
        self.assertEqual(ev.get("refused_total"), "301", ev["_line"])
        self.assertEqual(ev.get("active"), "2", ev["_line"])
        for s in held:
            pingpong(self, s, b"still served")
        # a slot frees up: a new client is served
        held[0].close()
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", p, b"again"), 15),
                        "not served after a slot freed up:\n" + d.tail())
        pingpong(self, held[1], b"and the other one still")


class OpsChildrenKilled(h.SechoTestCase):
    def wait_children(self, d, n, exclude=()):
        kids = h.wait_until(lambda: [c for c in d.live_children() if c not in exclude]
                            if len([c for c in d.live_children() if c not in exclude]) == n
                            else None, 15)
        self.assertTrue(kids, "expected %d connection children, have %r:\n%s"
                        % (n, d.live_children(), d.tail()))
        return kids

    def test_sigkill_children_counts_right(self):
        """max_connections = 2: both children SIGKILLed; the master lives,
        logs a warning per child, reaps them, active goes back to 0, and
        exactly 2 new clients are served (the third is refused)."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 2})
        a, b = h.tcp_connect("127.0.0.1", p), h.tcp_connect("127.0.0.1", p)
        for s in (a, b):
            self.addCleanup(s.close)
            pingpong(self, s, b"before")
        kids = self.wait_children(d, 2)
        mark = d.mark()
        for k in kids:
            os.kill(k, signal.SIGKILL)
        for k in kids:
            ev = d.wait_event("warning", 15, start=mark, msg=lambda m, k=k: re.search(r"\b%d\b" % k, m))
            self.assertRegex(ev["msg"], r"(?i)signal|kill", ev["_line"])
        for s in (a, b):
            s.settimeout(10)
            try:
                self.assertEqual(s.recv(10), b"")
            except ConnectionResetError:
                pass
        self.assertTrue(d.alive(), "the master died with its children")
        self.assertTrue(h.wait_until(lambda: not d.zombies() and not d.live_children(), 10),
                        "killed children not reaped: %r" % d.children())
        self.assertEqual(h.stats(d).get("active"), "0", d.tail())
        # exactly max_connections new clients, held at the same time
        c1, c2 = h.tcp_connect("127.0.0.1", p), h.tcp_connect("127.0.0.1", p)
        for s in (c1, c2):
            self.addCleanup(s.close)
            pingpong(self, s, b"after")
        c3 = h.tcp_connect("127.0.0.1", p)
        with c3:
            peer = h.sock_addr_text(c3.getsockname())
            self.assertTrue(h.not_served(c3), "a third client served with max_connections = 2")
        d.wait_event("refused", start=mark, peer=peer, reason="max-connections")
        self.assertEqual(h.stats(d).get("active"), "2")
        self.assertEqual(d.events("close", start=mark), [],
                         "a SIGKILLed child cannot log a close line; nobody else may")

    def test_sigkill_children_per_host_counts(self):
        """max_connections_per_host = 1, plain and behind PROXY: after
        SIGKILL of the children, the same hosts are served again."""
        p, q = self.port(), self.port()
        d = self.daemon([tcp(p), tcp(q, proxy_protocol=True)],
                        limits={"max_connections_per_host": 1})
        hdr = b"PROXY TCP4 192.0.2.7 127.0.0.1 %d %d\r\n"
        a = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(a.close)
        pingpong(self, a, b"plain")
        b = h.tcp_connect("127.0.0.1", q)
        self.addCleanup(b.close)
        b.sendall(hdr % (1000, q))
        pingpong(self, b, b"proxied")
        d.wait_event("connect", peer="192.0.2.7:1000")
        kids = self.wait_children(d, 2)
        for k in kids:
            os.kill(k, signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: not d.children(), 10), "children not reaped")
        a2 = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(a2.close)
        pingpong(self, a2, b"plain again")
        b2 = h.tcp_connect("127.0.0.1", q)
        self.addCleanup(b2.close)
        b2.sendall(hdr % (1001, q))
        pingpong(self, b2, b"proxied again")
        d.wait_event("connect", peer="192.0.2.7:1001")
        self.assertEqual(d.events("refused"), [], "refused after the killed children:\n" + d.tail())
        # and the per-host limit still holds for both hosts
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            self.assertTrue(h.not_served(c))
        c = h.tcp_connect("127.0.0.1", q)
        with c:
            c.sendall(hdr % (1002, q))
            self.assertTrue(h.not_served(c))
        d.wait_event("refused", peer="192.0.2.7:1002", reason="max-per-host")


class OpsUdpWorker(h.SechoTestCase):
    RESTART_RE = r"restarting the UDP worker of (\S+) in (\d+) ms"

    def test_backoff_when_worker_keeps_dying(self):
        """The worker SIGKILLed 4 times as soon as it is back: restarts are
        announced with a growing delay, the delay is real, the master does
        not spin, and the UDP echo comes back."""
        u = self.port()
        d = self.daemon([udp(u)])
        got, _ = h.udp_echo("127.0.0.1", u, b"first", tries=3)
        self.assertEqual(got, b"first")
        worker = h.wait_until(lambda: d.live_children(), 10)[0]
        cpu0 = h.cpu_seconds(d.pid)
        t_start = time.monotonic()
        mark = d.mark()
        killed, gaps = [], []
        for i in range(4):
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)
            t = time.monotonic()
            new = h.wait_until(lambda: [c for c in d.live_children() if c not in killed],
                               90, 0.01)
            self.assertTrue(new, "no new worker after kill %d:\n%s" % (i + 1, d.tail()))
            gaps.append(time.monotonic() - t)
            worker = new[0]

        def restarts():
            return [re.search(self.RESTART_RE, l) for l in d.lines(mark)
                    if re.search(self.RESTART_RE, l)]
        found = h.wait_until(lambda: len(restarts()) >= 4 and restarts(), 10)
        self.assertTrue(found, "expected 4 `restarting the UDP worker ... in N ms` lines:\n"
                        + d.tail())
        self.assertEqual(len(found), 4, d.tail())
        for m in found:
            self.assertIn(":%d" % u, m.group(1))
        delays = [int(m.group(2)) for m in found]
        self.assertEqual(delays, sorted(delays), "restart delays shrink: %r" % delays)
        self.assertGreater(delays[3], delays[1], "no back-off: %r" % delays)
        self.assertGreater(delays[3], 0, "no back-off: %r" % delays)
        # the announced delay is kept (with slack for polling)
        self.assertGreaterEqual(gaps[3], 0.8 * delays[3] / 1000.0,
                                "worker back after %.2fs, announced %d ms" % (gaps[3], delays[3]))
        elapsed = time.monotonic() - t_start
        cpu = h.cpu_seconds(d.pid) - cpu0
        self.assertLess(cpu, max(0.5, 0.15 * elapsed),
                        "master used %.2fs CPU in %.1fs of worker restarts (spinning?)"
                        % (cpu, elapsed))
        got, _ = h.udp_echo("127.0.0.1", u, b"back", tries=10, timeout=1)
        self.assertEqual(got, b"back")
        self.assertTrue(d.alive())
        self.assertEqual(d.zombies(), [])


class OpsFileDescriptors(h.SechoTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists("/usr/bin/prlimit") and not _which("prlimit"):
            self.skipTest("prlimit (util-linux) not installed")

    def set_nofile(self, pid, soft, hard):
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%s:%s" % (soft, hard)],
                       check=True, timeout=30)

    def exhaust(self, d):
        """Lower the master's soft RLIMIT_NOFILE below its number of open
        descriptors (and to at most the lowest free descriptor number, so
        that the next descriptor really is over the limit)."""
        fds = h.open_fds(d.pid)
        free = min(set(range(len(fds) + 1)) - set(fds))
        n = min(free, len(fds) - 1)
        soft, hard = h.nofile_limits(d.pid)
        self.set_nofile(d.pid, n, hard)
        self.addCleanup(lambda: d.alive() and self.set_nofile(d.pid, soft, hard))
        return n, (soft, hard)

    def test_exhaustion_and_recovery(self):
        """RLIMIT_NOFILE lowered below the master's open descriptors:
        clients are closed without an echo (the spare descriptor), one
        rate-limited warning, no busy loop; served again once it is raised;
        a second shortage is handled the same way."""
        p = self.port()
        d = self.daemon([tcp(p)])
        self.assertTrue(h.try_echo("127.0.0.1", p))
        n, (soft, hard) = self.exhaust(d)
        mark = d.mark()
        cpu0 = h.cpu_seconds(d.pid)
        t0 = time.monotonic()
        # clients keep arriving for ~2 s: each is closed without an echo
        results = []
        while time.monotonic() - t0 < 2.0 or len(results) < 4:
            c = h.tcp_connect("127.0.0.1", p)
            with c:
                results.append(h.not_served(c, 10))
            time.sleep(0.2)
            if len(results) > 40:
                break
        ev = d.wait_event("warning", 10, start=mark,
                          msg=lambda m: "out of file descriptors" in m)
        self.assertTrue(all(r is True for r in results),
                        "with RLIMIT_NOFILE %d (fds %r) clients were not closed at once: %r\n%s"
                        % (n, h.open_fds(d.pid), results, d.tail()))
        time.sleep(max(0.0, 2.5 - (time.monotonic() - t0)))
        elapsed = time.monotonic() - t0
        cpu = h.cpu_seconds(d.pid) - cpu0
        self.assertLess(cpu, max(0.5, 0.2 * elapsed),
                        "master used %.2fs CPU in %.1fs while out of descriptors (busy loop?)"
                        % (cpu, elapsed))
        self.assertTrue(d.alive())
        warn = [e for e in d.events("warning", start=mark) if "out of file descriptors" in e["msg"]]
        self.assertLessEqual(len(warn), int(elapsed) + 2, "the warning is rate-limited: %d lines" % len(warn))
        # recovery
        self.set_nofile(d.pid, soft, hard)
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", p, b"recovered"), 15),
                        "not served after the limit was raised:\n" + d.tail())
        # a second shortage is handled the same way (the spare came back)
        time.sleep(1.1)
        self.exhaust(d)
        mark = d.mark()
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            self.assertIs(h.not_served(c, 10), True, "second shortage: client not closed at once")
        d.wait_event("warning", 10, start=mark, msg=lambda m: "out of file descriptors" in m)

    def starve(self, d):
        """RLIMIT_NOFILE 3 (only stdin/out/err): even the spare descriptor
        cannot help, so a waiting client cannot be accepted at all."""
        soft, hard = h.nofile_limits(d.pid)
        self.set_nofile(d.pid, 3, hard)
        self.addCleanup(lambda: d.alive() and self.set_nofile(d.pid, soft, hard))
        return soft, hard

    def test_no_busy_loop_when_nothing_can_be_accepted(self):
        """A client that cannot be accepted stays in the backlog; the master
        does not spin over it, and recovers once the limit is raised."""
        p = self.port()
        d = self.daemon([tcp(p)])
        self.assertTrue(h.try_echo("127.0.0.1", p))
        soft, hard = self.starve(d)
        mark = d.mark()
        cpu0 = h.cpu_seconds(d.pid)
        t0 = time.monotonic()
        c = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(c.close)
        c.sendall(b"waiting")
        d.wait_event("warning", 10, start=mark, msg=lambda m: "out of file descriptors" in m)
        time.sleep(2.0)
        elapsed = time.monotonic() - t0
        cpu = h.cpu_seconds(d.pid) - cpu0
        self.assertLess(cpu, max(0.5, 0.2 * elapsed),
                        "master used %.2fs CPU in %.1fs with a client it cannot accept (busy loop)"
                        % (cpu, elapsed))
        self.assertTrue(d.alive())
        ev = h.stats(d)      # still answers signals
        self.assertEqual(ev.get("active"), "0", ev["_line"])
        self.set_nofile(d.pid, soft, hard)
        # the waiting client is served or closed; a new one is served
        try:
            got = h.recv_exact(c, 7, 15)
            self.assertIn(got, (b"waiting", b""))
        except (ConnectionResetError, socket.timeout):
            pass
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", p, b"recovered"), 15),
                        "not served after the limit was raised:\n" + d.tail())

    # Regression: out_of_fds() once lost the spare descriptor for good
    # when re-opening /dev/null failed during a total shortage.
    def test_spare_descriptor_taken_back(self):
        """After a total shortage (the spare descriptor could not be
        re-opened), the next partial shortage again closes clients at once
        instead of leaving them in the backlog."""
        p = self.port()
        d = self.daemon([tcp(p)])
        soft, hard = self.starve(d)
        mark = d.mark()
        c = h.tcp_connect("127.0.0.1", p)
        with c:
            d.wait_event("warning", 10, start=mark, msg=lambda m: "out of file descriptors" in m)
            c.sendall(b"w")
            self.set_nofile(d.pid, soft, hard)
            try:
                h.recv_exact(c, 1, 10)
            except OSError:
                pass
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", p, b"recovered"), 15))
        time.sleep(0.5)
        fds = h.open_fds(d.pid)
        self.exhaust(d)
        c2 = h.tcp_connect("127.0.0.1", p)
        with c2:
            self.assertIs(h.not_served(c2, 5), True,
                          "after a total shortage the spare descriptor is gone: the next "
                          "shortage leaves clients hanging (master fds %r)" % fds)


def _which(name):
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def find_low_port(lo=900, hi=1000):
    """A TCP port below 1024 free on 127.0.0.1 (not 2049, not < lo)."""
    for port in range(lo, hi + 1):
        if h.tcp_port_free_on("127.0.0.1", port) and h.tcp_port_free_on("0.0.0.0", port):
            return port
    return None


class OpsPrivileges(h.SechoTestCase):
    """Beyond test_privileges: an explicit group, strict checks (all four
    ids, no supplementary groups at all, no capabilities) and a reload that
    binds a port below 1024."""

    def setUp(self):
        super().setUp()
        if not h.is_root():
            self.skipTest("needs root (privilege drop happens only when started as root)")
        try:
            self.nobody = pwd.getpwnam("nobody")
            self.nogroup = grp.getgrnam("nogroup")
        except KeyError:
            self.skipTest("no user nobody or group nogroup on this system")

    def check_dropped(self, pid, what):
        st = h.proc_status(pid)
        uid, gid = str(self.nobody.pw_uid), str(self.nogroup.gr_gid)
        self.assertEqual(st["Uid"], [uid] * 4, "%s %d: real/effective/saved/fs uid" % (what, pid))
        self.assertEqual(st["Gid"], [gid] * 4, "%s %d: real/effective/saved/fs gid" % (what, pid))
        self.assertEqual(st.get("Groups", []), [], "%s %d: supplementary groups kept" % (what, pid))
        for cap in ("CapPrm", "CapEff", "CapAmb"):
            if cap in st:
                self.assertEqual(int(st[cap][0], 16), 0, "%s %d: %s not empty" % (what, pid, cap))

    def test_nobody_nogroup_and_low_port_reload(self):
        a, u = self.port(), self.port()
        daemon = {"user": "nobody", "group": "nogroup"}
        d = self.daemon([tcp(a), udp(u)], daemon=daemon)
        got, _ = h.udp_echo("127.0.0.1", u, b"u", tries=3)
        self.assertEqual(got, b"u")
        worker = h.wait_until(lambda: d.live_children(), 10)
        self.assertEqual(len(worker), 1, "one UDP worker")
        worker = worker[0]
        s = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(s.close)
        pingpong(self, s, b"x")
        conn = [k for k in h.wait_until(lambda: len(d.live_children()) == 2 and d.live_children(), 10)
                if k != worker]
        self.assertEqual(len(conn), 1)
        self.check_dropped(conn[0], "connection child")
        self.check_dropped(worker, "UDP worker")
        st = h.proc_status(d.pid)
        self.assertEqual(st["Uid"], ["0"] * 4, "the master keeps root")
        s.close()

        low = find_low_port()
        if low is None:
            self.skipTest("no free TCP port in 900..1000 on 127.0.0.1")
        d.rewrite([tcp(a), udp(u), tcp(low)], daemon=daemon)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        ev = d.wait_event("reload", 20, start=mark)
        self.assertEqual(ev.get("result"), "ok", "reload binding port %d: %s" % (low, ev["_line"]))
        d.wait_event("listening", 10, start=mark, addr="127.0.0.1:%d" % low)
        c = h.tcp_connect("127.0.0.1", low)
        self.addCleanup(c.close)
        pingpong(self, c, b"low port")
        kids = h.wait_until(lambda: [k for k in d.live_children() if k not in (worker, conn[0])]
                            if len(d.live_children()) >= 2 else None, 10)
        self.assertTrue(kids, "no child for the low-port connection and the new UDP worker")
        for k in kids:
            self.check_dropped(k, "child after reload")
        self.assertEqual(h.proc_status(d.pid)["Uid"], ["0"] * 4)


class OpsTlsStalled(h.SechoTestCase):
    """50 clients that never finish a TLS handshake do not stop anybody."""

    def setUp(self):
        super().setUp()
        self.ca, self.cert, self.key = h.repo_certs()
        h.skip_unless_tls(self, self.tmp, self.cert, self.key)

    def half_client_hello(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        self.assertGreater(len(hello), 50)
        return hello[:len(hello) // 2]

    def test_50_stalled_handshakes(self):
        t, p = self.port(), self.port()
        d = self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": t}, tcp(p)],
                        tls={"certificate": self.cert, "private_key": self.key},
                        limits={"handshake_timeout": 2, "max_connections_per_host": 200})
        half = self.half_client_hello()
        stalled = []
        t0 = time.monotonic()
        for i in range(50):
            s = h.tcp_connect("127.0.0.1", t)
            self.addCleanup(s.close)
            if i % 2:
                s.sendall(half)
            stalled.append(s)
        # meanwhile: a TLS client and a plain client are served
        ctx = h.tls_client_ctx(self.ca)
        got, tname, version = h.tls_echo(ctx, "127.0.0.1", t, b"tls meanwhile", timeout=10)
        self.assertEqual(got, b"tls meanwhile")
        got, pname = h.tcp_echo("127.0.0.1", p, b"tcp meanwhile", timeout=10)
        self.assertEqual(got, b"tcp meanwhile")
        served_at = time.monotonic() - t0
        tls_close = d.wait_event("close", 10, peer=h.sock_addr_text(tname))
        self.assertEqual(tls_close.get("reason"), "eof", tls_close["_line"])
        d.wait_event("close", 10, peer=h.sock_addr_text(pname), reason="eof")
        early = d.events("close", reason="handshake-timeout")
        self.assertEqual(early, [], "the stalled connections timed out before the normal "
                         "clients were served (%.1fs): the test proves nothing" % served_at)
        # every stalled one ends with handshake-timeout after ~2 s
        peers = {h.sock_addr_text(s.getsockname()) for s in stalled}
        for s in stalled:
            s.settimeout(20)
            try:
                data = s.recv(4096)
                if data:     # a TLS alert is fine; then EOF
                    self.assertEqual(data[0], 0x15, "non-alert data %r" % data[:10])
                    while s.recv(4096):
                        pass
            except (ConnectionResetError, socket.timeout):
                pass
        self.assertTrue(h.wait_until(
            lambda: len(d.events("close", reason="handshake-timeout")) >= 50, 20),
            "%d handshake-timeout lines:\n%s"
            % (len(d.events("close", reason="handshake-timeout")), d.tail()))
        timed_out = d.events("close", reason="handshake-timeout")
        self.assertEqual({e.get("peer") for e in timed_out}, peers)
        for e in timed_out:
            self.assertEqual(e.get("proto"), "tls", e["_line"])
            self.assertGreaterEqual(int(e.get("duration_ms", "0")), 1500, e["_line"])
            self.assertLess(int(e.get("duration_ms", "0")), 15000, e["_line"])
        self.assertTrue(h.wait_until(lambda: not d.children(), 15), "children left")
        self.assertTrue(h.try_echo("127.0.0.1", p, b"after"))


class OpsNotifyOrder(h.SechoTestCase):
    def test_exact_sequence_with_failed_reload(self):
        """The whole sequence, nothing else and nothing missing:
        READY, (RELOADING, READY) for a good and for a bad reload, STOPPING."""
        path = self.tmp.file("notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(path)
        a = self.port()
        d = self.daemon([tcp(a)], env={"NOTIFY_SOCKET": path}, start=False)
        d.start()
        states = []

        def drain(until, timeout=15):
            ns.settimeout(timeout)
            while True:
                try:
                    msg = ns.recv(4096).decode("utf-8", "replace")
                except socket.timeout:
                    self.fail("no %s; states so far %r" % (until, states))
                for line in msg.split("\n"):
                    if line.endswith("=1") and line.split("=")[0] in (
                            "READY", "RELOADING", "STOPPING"):
                        states.append(line)
                if until(states):
                    return

        drain(lambda s: "READY=1" in s)
        d.signal(signal.SIGHUP)
        d.wait_event("reload", result="ok")
        drain(lambda s: len(s) >= 3)
        d.rewrite(text="listeners = ( { proto = \"tcp\"; port = 0; } );\n")
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="failed")
        drain(lambda s: len(s) >= 5)
        self.assertTrue(h.try_echo("127.0.0.1", a))
        d.signal(signal.SIGTERM)
        drain(lambda s: "STOPPING=1" in s)
        self.assertEqual(d.wait_exit(20), 0)
        ns.settimeout(0.5)
        try:
            while True:
                for line in ns.recv(4096).decode().split("\n"):
                    if line in ("READY=1", "RELOADING=1", "STOPPING=1"):
                        states.append(line)
        except socket.timeout:
            pass
        self.assertEqual(states, ["READY=1", "RELOADING=1", "READY=1",
                                  "RELOADING=1", "READY=1", "STOPPING=1"])


if __name__ == "__main__":
    unittest.main()
