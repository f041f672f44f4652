"""Signals: SIGHUP reload, SIGUSR1 stats, SIGTERM/SIGINT shutdown
(SPEC: Behaviour/Signals, Logs reload/stats/shutdown)."""

import os
import signal
import socket
import time

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


class Reload(h.SechoTestCase):
    def test_add_and_remove_listener(self):
        a, b, c = self.port(), self.port(), self.port()
        d = self.daemon([tcp(a), tcp(b)])
        conn = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(conn.close)
        pingpong(self, conn, b"before reload")
        inode_a = h.listening_inode(a)
        self.assertTrue(inode_a)

        d.rewrite([tcp(a), tcp(c)])
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")

        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", c, b"new"), 10),
                        "the new listener answers:\n" + d.tail())
        self.assertTrue(h.wait_until(lambda: h.tcp_refused("127.0.0.1", b), 10),
                        "the removed listener still accepts")
        self.assertTrue(h.try_echo("127.0.0.1", a, b"kept"))
        self.assertEqual(h.listening_inode(a), inode_a,
                         "an unchanged listener keeps its socket across a reload")
        pingpong(self, conn, b"after reload")
        conn.shutdown(socket.SHUT_WR)
        self.assertEqual(h.recv_all(conn), b"")
        self.assertTrue(d.alive())

    def test_reload_udp_listener(self):
        a, u = self.port(), self.port()
        d = self.daemon([tcp(a)])
        d.rewrite([tcp(a), udp(u)])
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        got, _ = h.udp_echo("127.0.0.1", u, b"new udp", tries=10, timeout=1)
        self.assertEqual(got, b"new udp")
        # and removed again: its worker goes away
        worker = h.wait_until(lambda: d.live_children(), 10)
        self.assertTrue(worker)
        d.rewrite([tcp(a)])
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        self.assertTrue(h.wait_until(lambda: not d.live_children(), 10),
                        "the removed UDP listener's worker is still running")
        self.assertTrue(h.wait_until(lambda: not d.children(), 10),
                        "the worker is not reaped: %s" % d.children())
        self.assertFalse(h.listening_inode(u, "udp"), "the UDP socket is still bound")

    def test_reload_changes_settings(self):
        """A reload applies new settings to new connections (idle_timeout)."""
        a = self.port()
        d = self.daemon([tcp(a)], limits={"idle_timeout": 300})
        d.rewrite([tcp(a)], limits={"idle_timeout": 1})
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        s = h.tcp_connect("127.0.0.1", a)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            s.settimeout(15)
            try:
                self.assertEqual(s.recv(1), b"")
            except ConnectionResetError:
                pass
        self.assertEqual(d.wait_event("close", peer=peer).get("reason"), "idle-timeout")

    def test_broken_file_keeps_old_config(self):
        a = self.port()
        d = self.daemon([tcp(a)])
        conn = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(conn.close)
        pingpong(self, conn, b"one")
        text = 'log = {\n  level = "info";\n};\nlisteners = (\n  { proto = "tcp"; port = ; }\n);\n'
        d.rewrite(text=text)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        ev = d.wait_event("reload", start=mark, result="failed")
        self.assertTrue(ev.get("error"), "reload result=failed has an error field: " + ev["_line"])
        # the error names the file and line somewhere in what was logged
        logged = "\n".join(d.lines(mark))
        self.assertIn("secho.cfg:%d" % h.line_of(text, "port = ;"), logged)
        self.assertTrue(d.alive())
        self.assertTrue(h.try_echo("127.0.0.1", a, b"old listener"))
        pingpong(self, conn, b"two")
        # a fixed file is then loaded
        b = self.port()
        d.rewrite([tcp(a), tcp(b)])
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", b, b"fixed"), 10))

    def test_bad_value_keeps_old_config(self):
        a, b = self.port(), self.port()
        d = self.daemon([tcp(a)])
        d.rewrite([tcp(a), tcp(b)], limits={"max_connections": 0})
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="failed")
        self.assertTrue(h.tcp_refused("127.0.0.1", b), "a failed reload opened a listener")
        self.assertTrue(h.try_echo("127.0.0.1", a))

    def test_reload_with_port_in_use(self):
        """A new listener that cannot bind: reload fails (or reports it), the
        daemon keeps serving the old listeners."""
        a, b = self.port(), self.port()
        d = self.daemon([tcp(a)])
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", b))
        busy.listen(1)
        d.rewrite([tcp(a), tcp(b)])
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark)
        logged = "\n".join(d.lines(mark))
        self.assertIn("127.0.0.1:%d" % b, logged, "the address that failed is named")
        self.assertTrue(d.alive())
        self.assertTrue(h.try_echo("127.0.0.1", a))


class Stats(h.SechoTestCase):
    def test_stats_line(self):
        a, u = self.port(), self.port()
        d = self.daemon([tcp(a), udp(u)])
        for i in range(3):
            self.assertTrue(h.try_echo("127.0.0.1", a, b"closed %d" % i))
        open_conns = [h.tcp_connect("127.0.0.1", a) for _ in range(2)]
        for s in open_conns:
            self.addCleanup(s.close)
            pingpong(self, s, b"open")
        for i in range(4):
            got, _ = h.udp_echo("127.0.0.1", u, b"u%d" % i, tries=3)
            self.assertEqual(got, b"u%d" % i)
        # wait for the 3 closed ones to be reaped (2 conns + UDP worker left)
        h.wait_until(lambda: len(d.events("close")) >= 3 and len(d.live_children()) == 3
                     and not d.zombies(), 10)
        time.sleep(0.3)
        mark = d.mark()
        d.signal(signal.SIGUSR1)
        ev = d.wait_event("stats", start=mark)
        for k in ("uptime_s", "active", "tcp_total", "tls_total", "udp_total", "refused_total"):
            self.assertRegex(ev.get(k, ""), r"^\d+$", "%s in %s" % (k, ev["_line"]))
        self.assertEqual(ev["tcp_total"], "5", ev["_line"])
        self.assertEqual(ev["active"], "2", ev["_line"])
        self.assertEqual(ev["tls_total"], "0", ev["_line"])
        self.assertEqual(ev["udp_total"], "4", ev["_line"])
        self.assertEqual(ev["refused_total"], "0", ev["_line"])
        self.assertLess(int(ev["uptime_s"]), 120)
        self.assertTrue(d.alive(), "SIGUSR1 must not stop the daemon")

    def test_stats_refused_and_uptime(self):
        a = self.port()
        d = self.daemon([tcp(a, allow=["192.0.2.0/24"])])
        c = h.tcp_connect("127.0.0.1", a)
        with c:
            c.settimeout(10)
            try:
                c.recv(1)
            except OSError:
                pass
        d.wait_event("refused", reason="access")
        time.sleep(1.1)
        mark = d.mark()
        d.signal(signal.SIGUSR1)
        ev = d.wait_event("stats", start=mark)
        self.assertEqual(ev.get("refused_total"), "1", ev["_line"])
        self.assertEqual(ev.get("active"), "0", ev["_line"])
        self.assertGreaterEqual(int(ev.get("uptime_s", "-1")), 1, ev["_line"])


class Shutdown(h.SechoTestCase):
    def test_sigterm(self):
        a, u = self.port(), self.port()
        d = self.daemon([tcp(a), udp(u)])
        self.assertTrue(h.try_echo("127.0.0.1", a))
        got, _ = h.udp_echo("127.0.0.1", u, b"x", tries=3)
        self.assertEqual(got, b"x")
        # the echo's child may still be exiting: wait until only the
        # UDP worker is left, so "active" below has one right answer
        d.wait_event("close")
        deadline = time.monotonic() + 15
        while len(d.children()) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(d.children()), 1, "only the UDP worker left")
        self.assertTrue(os.path.exists(d.pidfile), "pidfile written in foreground mode too")
        with open(d.pidfile) as f:
            self.assertEqual(f.read().strip(), str(d.pid))
        kids = d.children()
        self.assertTrue(kids, "a UDP worker")
        mark = d.mark()
        d.signal(signal.SIGTERM)
        status = d.wait_exit(20)
        self.assertEqual(status, 0, "exit status after SIGTERM:\n" + d.tail())
        d.out.join(5)
        ev = d.wait_event("shutdown", start=mark, timeout=1)
        self.assertEqual(ev.get("active"), "0")
        self.assertFalse(os.path.exists(d.pidfile), "pidfile removed")
        left = [k for k in kids if h.pid_alive(k)]
        self.assertEqual(left, [], "processes of the daemon left after SIGTERM")
        self.assertEqual(h.pids_with_arg(d.cfg), [])
        self.assertTrue(h.tcp_refused("127.0.0.1", a))

    def test_sigint(self):
        a = self.port()
        d = self.daemon([tcp(a)])
        d.signal(signal.SIGINT)
        self.assertEqual(d.wait_exit(20), 0)
        self.assertFalse(os.path.exists(d.pidfile))

    def test_open_connection_cut_after_timeout(self):
        a = self.port()
        d = self.daemon([tcp(a)], daemon={"shutdown_timeout": 1})
        conn = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(conn.close)
        peer = h.sock_addr_text(conn.getsockname())
        pingpong(self, conn, b"hello")
        h.wait_until(lambda: d.live_children(), 10)
        kids = d.children()
        mark = d.mark()
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        ev = d.wait_event("shutdown", start=mark)
        self.assertEqual(ev.get("active"), "1")
        conn.settimeout(15)
        try:
            b = conn.recv(10)
        except ConnectionResetError:
            b = b""
        self.assertEqual(b, b"", "the connection is ended")
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(d.wait_exit(20), 0, d.tail())
        d.out.join(5)
        e = d.wait_event("close", peer=peer, timeout=2)
        self.assertEqual(e.get("reason"), "shutdown")
        self.assertEqual([k for k in kids if h.pid_alive(k)], [])

    def test_connection_may_finish(self):
        """During shutdown_timeout an established connection keeps working;
        when it ends, the daemon exits without waiting for the rest."""
        a = self.port()
        d = self.daemon([tcp(a)], daemon={"shutdown_timeout": 15})
        conn = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(conn.close)
        peer = h.sock_addr_text(conn.getsockname())
        pingpong(self, conn, b"one")
        mark = d.mark()
        d.signal(signal.SIGTERM)
        d.wait_event("shutdown", start=mark)
        self.assertTrue(h.wait_until(lambda: h.tcp_refused("127.0.0.1", a), 3),
                        "still accepting during shutdown")
        pingpong(self, conn, b"still served during the grace period")
        conn.shutdown(socket.SHUT_WR)
        self.assertEqual(h.recv_all(conn), b"")
        t0 = time.monotonic()
        self.assertEqual(d.wait_exit(20), 0)
        self.assertLess(time.monotonic() - t0, 8, "exit waited for the full shutdown_timeout")
        d.out.join(5)
        self.assertEqual(d.wait_event("close", peer=peer, timeout=2).get("reason"), "eof")
