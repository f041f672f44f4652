"""secho behind a real HAProxy (issue 4, PROXY protocol): HAProxy in TCP
mode with `send-proxy-v2` balances round robin over two secho instances
whose listeners have `proxy_protocol = true`; clients echo through it and
every secho logs the client's own address and port, not HAProxy's.  The
same for TLS passed through HAProxy (TLS end to end, client to secho).

The HAProxy configuration is the README example with the ports filled in.
Needs `haproxy` on PATH (Debian package haproxy, in scripts/deps.sh); the
tests never install anything and skip with a message without it."""

import os
import shutil
import socket
import subprocess
import unittest

import harness as h

HAPROXY_CFG = """\
global
    maxconn 4096

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout check 5s
    timeout client 6m
    timeout server 6m

# plain TCP echo
frontend echo
    bind 127.0.0.1:{front_tcp}
    default_backend secho_tcp

backend secho_tcp
    balance roundrobin
    # health check: PROXY v2 LOCAL header, then an echo round trip
    option tcp-check
    tcp-check connect send-proxy
    tcp-check send "ping\\n"
    tcp-check expect string "ping"
    server s1 127.0.0.1:{s1_tcp} send-proxy-v2 check inter 2s
    server s2 127.0.0.1:{s2_tcp} send-proxy-v2 check inter 2s

# TLS echo: HAProxy passes the TLS bytes through; secho terminates TLS
frontend echo_tls
    bind 127.0.0.1:{front_tls}
    default_backend secho_tls

backend secho_tls
    balance roundrobin
    # up or down together with the same instance's TCP listener
    server s1 127.0.0.1:{s1_tls} send-proxy-v2 track secho_tcp/s1
    server s2 127.0.0.1:{s2_tls} send-proxy-v2 track secho_tcp/s2
"""


class HAProxy(h.SechoTestCase):
    def setUp(self):
        super().setUp()
        self.haproxy = shutil.which("haproxy") or (
            "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
        if not self.haproxy:
            self.skipTest("haproxy not installed (Debian package haproxy; `make deps` "
                          "installs it): the tests do not install it")
        self.ca, self.cert, self.key = h.repo_certs()
        self.tls_ok = True
        try:
            h.skip_unless_tls(self, self.tmp, self.cert, self.key)
        except unittest.SkipTest as e:     # TLS not built yet: TCP only
            self.tls_ok = False
            self.tls_skip = str(e)

    def start_secho(self, name, with_tls):
        ports = {"tcp": self.port()}
        listeners = [{"proto": "tcp", "address": "127.0.0.1", "port": ports["tcp"],
                      "proxy_protocol": True}]
        tls = None
        if with_tls:
            ports["tls"] = self.port()
            listeners.append({"proto": "tls", "address": "127.0.0.1", "port": ports["tls"],
                              "proxy_protocol": True})
            tls = {"certificate": self.cert, "private_key": self.key}
        d = self.daemon(listeners, tls=tls, cfgname=name + ".cfg",
                        daemon={"pidfile": self.tmp.file(name + ".pid")})
        return d, ports

    def start_haproxy(self, text, fronts):
        cfg = self.tmp.write("haproxy.cfg", text)
        r = subprocess.run([self.haproxy, "-c", "-f", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(r.returncode, 0, "haproxy -c:\n" + r.stdout.decode("utf-8", "replace"))
        logf = open(self.tmp.file("haproxy.log"), "wb")
        self.addCleanup(logf.close)
        p = subprocess.Popen([self.haproxy, "-f", cfg, "-db"], stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        self.addCleanup(lambda: h.reap_adopted())

        def up():
            if p.poll() is not None:
                return "exited"
            return all(h.listening_inode(port) for port in fronts)
        state = h.wait_until(up, 30, 0.1)
        if state is not True:
            self.fail("haproxy did not start (%s):\n%s" % (
                state, open(self.tmp.file("haproxy.log"), "rb").read().decode("utf-8", "replace")))
        return p

    def haproxy_log(self):
        try:
            with open(self.tmp.file("haproxy.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def test_two_instances_behind_haproxy(self):
        d1, p1 = self.start_secho("s1", self.tls_ok)
        d2, p2 = self.start_secho("s2", self.tls_ok)
        front_tcp, front_tls = self.port(), self.port()
        text = HAPROXY_CFG.format(front_tcp=front_tcp, front_tls=front_tls,
                                  s1_tcp=p1["tcp"], s2_tcp=p2["tcp"],
                                  s1_tls=p1.get("tls", self.port()),
                                  s2_tls=p2.get("tls", self.port()))
        hp = self.start_haproxy(text, [front_tcp, front_tls])

        # several connections, some at the same time
        clients = []
        for i in range(8):
            payload = b"through haproxy %d " % i + os.urandom(200)
            got, name = h.tcp_echo("127.0.0.1", front_tcp, payload, timeout=20)
            self.assertEqual(got, payload, "echo %d through haproxy" % i)
            clients.append((name, len(payload)))
        held = []
        for i in range(4):
            s = h.tcp_connect("127.0.0.1", front_tcp)
            self.addCleanup(s.close)
            held.append(s)
        for i, s in enumerate(held):
            msg = b"concurrent %d" % i
            s.sendall(msg)
            self.assertEqual(h.recv_exact(s, len(msg)), msg)
            clients.append((s.getsockname(), len(msg)))
        for s in held:
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(h.recv_all(s), b"")
            s.close()

        # every client is logged, with its own port, by exactly one instance
        served = {d1: 0, d2: 0}
        for name, n in clients:
            peer = h.sock_addr_text(name)
            self.assertTrue(h.wait_until(
                lambda: any(dd.events("close", peer=peer) for dd in (d1, d2)), 15),
                "no secho logged a close for client %s:\ns1:\n%s\ns2:\n%s"
                % (peer, d1.tail(20), d2.tail(20)))
            owners = [dd for dd in (d1, d2) if dd.events("connect", peer=peer, proto="tcp")]
            self.assertEqual(len(owners), 1, "client %s logged by %d instances" % (peer, len(owners)))
            close = owners[0].events("close", peer=peer)[0]
            self.assertEqual(close.get("reason"), "eof", close["_line"])
            self.assertEqual(close.get("bytes_in"), str(n), close["_line"])
            served[owners[0]] += 1
        self.assertGreater(served[d1], 0, "round robin: s1 got no client")
        self.assertGreater(served[d2], 0, "round robin: s2 got no client")
        # nothing else: only HAProxy's health checks (an echo of "ping\\n"
        # behind a PROXY v2 LOCAL header, then a reset) add lines
        client_peers = {h.sock_addr_text(n) for n, _ in clients}
        for dd in (d1, d2):
            for ev in dd.events("refused") + dd.events("tls-error"):
                self.fail("unexpected line behind haproxy: " + ev["_line"])
            for ev in dd.events("close"):
                if ev["peer"] in client_peers:
                    continue
                self.assertEqual((ev.get("bytes_in"), ev.get("bytes_out")), ("5", "5"),
                                 "a connection that is neither a client nor a health check "
                                 "(HAProxy's own port as peer?): " + ev["_line"])

        if not self.tls_ok:
            self.skipTest("TCP through haproxy checked; TLS part skipped: " + self.tls_skip)
        ctx = h.tls_client_ctx(self.ca)
        tls_clients = []
        for i in range(4):
            payload = b"tls through haproxy %d" % i
            got, name, version = h.tls_echo(ctx, "127.0.0.1", front_tls, payload, timeout=20)
            self.assertEqual(got, payload)
            tls_clients.append(h.sock_addr_text(name))
        served = {d1: 0, d2: 0}
        for peer in tls_clients:
            self.assertTrue(h.wait_until(
                lambda: any(dd.events("close", peer=peer, proto="tls") for dd in (d1, d2)), 15),
                "no secho logged a tls close for client %s:\ns1:\n%s\ns2:\n%s"
                % (peer, d1.tail(20), d2.tail(20)))
            owners = [dd for dd in (d1, d2) if dd.events("connect", peer=peer, proto="tls")]
            self.assertEqual(len(owners), 1, "tls client %s logged by %d instances" % (peer, len(owners)))
            self.assertTrue(owners[0].events("close", peer=peer, proto="tls")[0].get("tls_version"))
            served[owners[0]] += 1
        self.assertGreater(served[d1], 0, "round robin (tls): s1 got no client")
        self.assertGreater(served[d2], 0, "round robin (tls): s2 got no client")

        # stop everything by PID (cleanups do it too)
        h.stop_popen(hp)
        for dd in (d1, d2):
            self.assertEqual(dd.stop(), 0, dd.tail())

    def test_health_checks(self):
        """The README's health check (`tcp-check connect send-proxy`: a PROXY
        v2 LOCAL header, then an echo of "ping\\n") passes against secho:
        the checks reach both instances, are echoed, and no server goes
        down."""
        d1, p1 = self.start_secho("s1", False)
        d2, p2 = self.start_secho("s2", False)
        front_tcp, front_tls = self.port(), self.port()
        text = HAPROXY_CFG.format(front_tcp=front_tcp, front_tls=front_tls,
                                  s1_tcp=p1["tcp"], s2_tcp=p2["tcp"],
                                  s1_tls=self.port(), s2_tls=self.port())
        hp = self.start_haproxy(text, [front_tcp, front_tls])
        # at least two rounds of checks (inter 2s) reach each instance
        for dd in (d1, d2):
            self.assertTrue(h.wait_until(lambda: len(dd.events("close")) >= 2, 20),
                            "no health checks seen:\n" + dd.tail(20) + "\nhaproxy:\n"
                            + self.haproxy_log())
            for ev in dd.events("close"):
                # LOCAL: the peer is the connection's own address (HAProxy)
                self.assertTrue(ev.get("peer", "").startswith("127.0.0.1:"), ev["_line"])
                self.assertEqual(ev.get("bytes_in"), "5", ev["_line"])
                self.assertEqual(ev.get("bytes_out"), "5", ev["_line"])
        self.assertNotRegex(self.haproxy_log(), r"(?i)is DOWN", "a server went down")
        self.assertTrue(all(h.try_echo("127.0.0.1", front_tcp, b"x%d" % i) for i in range(4)))
        h.stop_popen(hp)

    def test_dead_instance_is_taken_out(self):
        """With one secho stopped, HAProxy's check marks it down and every
        client is served by the other one."""
        d1, p1 = self.start_secho("s1", False)
        d2, p2 = self.start_secho("s2", False)
        front_tcp, front_tls = self.port(), self.port()
        text = HAPROXY_CFG.format(front_tcp=front_tcp, front_tls=front_tls,
                                  s1_tcp=p1["tcp"], s2_tcp=p2["tcp"],
                                  s1_tls=self.port(), s2_tls=self.port())
        hp = self.start_haproxy(text, [front_tcp, front_tls])
        self.assertEqual(d2.stop(), 0)
        self.assertTrue(h.wait_until(lambda: "is DOWN" in self.haproxy_log(), 30),
                        "haproxy did not notice:\n" + self.haproxy_log())
        for i in range(4):
            self.assertTrue(h.try_echo("127.0.0.1", front_tcp, b"survivor %d" % i, timeout=10))
        self.assertRegex(self.haproxy_log(), r"secho_tls/s2 is DOWN",
                         "the tls server does not follow its tcp twin")
        h.stop_popen(hp)
