"""DTLS echo (issue 14; SPEC: DTLS, listeners, limits, access lists, logs).

Clients we did not write: `openssl s_client -dtls1_2` and `gnutls-cli
--udp`; a few raw datagrams from Python for what no client does on
purpose (a ClientHello replayed 1000 times, a handshake left half done),
a lossy relay for what the network does, and secho-ping -S -u."""

import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness as h

CLIENT_SUBJ = "/O=Secho Test/CN=client-one"
CLIENT_RFC2253 = "CN=client-one,O=Secho Test"
MTU = 1200


class SClient:
    """openssl s_client -dtls1_2 -quiet: lines in, echoes out; ended by
    SIGTERM (no close_notify) or, with close(), by end of input."""

    def __init__(self, port, extra=(), quiet=True, host="127.0.0.1"):
        cmd = ["openssl", "s_client", "-dtls1_2", "-connect",
               "%s:%d" % (host, port)]
        if quiet:
            cmd.append("-quiet")
        self.p = subprocess.Popen(cmd + list(extra), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        h._popen_pids.add(self.p.pid)
        self.buf = b""

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def read(self, n, timeout=h.IO_TIMEOUT):
        """At least n bytes of output (fewer on timeout or exit)."""
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while len(self.buf) < n and time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                continue
            b = os.read(self.p.stdout.fileno(), 65536)
            if not b:
                break
            self.buf += b
        sel.close()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except OSError:
                pass


def capture_hello(extra=()):
    """The first datagram of `openssl s_client -dtls1_2`: a ClientHello
    without a cookie, as a client sends it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(20)
    port = s.getsockname()[1]
    p = subprocess.Popen(["openssl", "s_client", "-dtls1_2", "-connect",
                          "127.0.0.1:%d" % port] + list(extra),
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        data, _ = s.recvfrom(65536)
    finally:
        p.kill()
        p.wait()
        s.close()
    return data


def with_cookie(hello, cookie):
    """hello (one ClientHello record) with cookie in it: message_seq 1,
    record sequence 1, lengths adjusted -- the second ClientHello."""
    rec, hs, body = bytearray(hello[:13]), bytearray(hello[13:25]), hello[25:]
    sid_len = body[34]
    pos = 35 + sid_len
    assert body[pos] == 0, "the captured ClientHello has a cookie already"
    body = body[:pos] + bytes([len(cookie)]) + cookie + body[pos + 1:]
    n = len(body)
    hs[1:4] = n.to_bytes(3, "big")
    hs[4:6] = (1).to_bytes(2, "big")
    hs[9:12] = n.to_bytes(3, "big")
    rec[3:11] = (1).to_bytes(8, "big")
    rec[11:13] = (n + 12).to_bytes(2, "big")
    return bytes(rec) + bytes(hs) + body


def hvr_cookie(reply):
    """The cookie of a HelloVerifyRequest datagram (or None if it is not one)."""
    if len(reply) < 13 + 12 + 3 or reply[0] != 22 or reply[13] != 3:
        return None
    n = reply[13 + 12 + 2]
    return reply[13 + 12 + 3:13 + 12 + 3 + n]


class DtlsBase(h.SechoTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir = h.TempDir("secho-it-dtls-certs-")
        cls.cert, cls.key = h.make_cert(cls.certdir, "server")
        cls.rcert, cls.rkey = h.make_cert(cls.certdir, "server-rsa", key_type="rsa")
        cls.ccert, cls.ckey = h.make_cert(cls.certdir, "client", subj=CLIENT_SUBJ,
                                          san=False)

    @classmethod
    def tearDownClass(cls):
        cls.certdir.cleanup()

    def start(self, tls=None, listener=None, limits=None, more=(), **kw):
        self.p = self.port()
        t = {"certificate": self.cert, "private_key": self.key}
        t.update(tls or {})
        lst = {"proto": "dtls", "address": "127.0.0.1", "port": self.p}
        lst.update(listener or {})
        self.p = lst["port"]
        return self.daemon([lst] + list(more), tls=t, limits=limits, **kw)

    def client(self, extra=(), **kw):
        c = SClient(self.p, ["-CAfile", self.cert] + list(extra), **kw)
        self.addCleanup(c.stop)
        return c

    def echo_line(self, c, line):
        c.send(line)
        return c.read(len(line))


class DtlsEcho(DtlsBase):
    def test_openssl_lines_and_1000_byte_records(self):
        d = self.start()
        c = self.client()
        self.assertEqual(self.echo_line(c, b"hello dtls\n"), b"hello dtls\n")
        big = bytes(random.choice(b"abcdefghij") for _ in range(999)) + b"\n"
        for _ in range(3):
            self.assertEqual(self.echo_line(c, big), big)
        ev = d.wait_event("connect", proto="dtls", listener="127.0.0.1:%d" % self.p)
        self.assertTrue(ev["peer"].startswith("127.0.0.1:"))
        self.assertEqual(d.engines("secho-dtls") != [], True)
        c.stop()

    def test_close_notify_and_close_line(self):
        d = self.start()
        c = self.client(quiet=False)
        c.send(b"bye\n")
        c.p.stdin.close()       # end of input: s_client sends close_notify
        c.p.wait(20)
        ev = d.wait_event("close", proto="dtls", reason="eof")
        self.assertEqual(ev["tls_version"], "DTLSv1.2")
        self.assertTrue(ev["cipher"])
        self.assertNotIn("client_subject", ev)
        self.assertEqual(ev["bytes_in"], ev["bytes_out"])

    def test_gnutls_cli(self):
        if not h.shutil.which("gnutls-cli"):
            self.skipTest("gnutls-cli is not installed (gnutls-bin)")
        d = self.start()
        p = subprocess.run(["gnutls-cli", "--udp", "--x509cafile", self.cert,
                            "-p", str(self.p), "localhost"],
                           input=b"hello gnutls\n", capture_output=True, timeout=30)
        self.assertIn(b"hello gnutls", p.stdout, p.stderr.decode(errors="replace"))
        ev = d.wait_event("close", proto="dtls")
        self.assertEqual(ev["tls_version"], "DTLSv1.2")

    def test_python_binding(self):
        import importlib.util
        import ssl
        if (not hasattr(ssl, "PROTOCOL_DTLS")
                and importlib.util.find_spec("dtls") is None):
            self.skipTest("no DTLS binding for Python: the ssl module has none, "
                          "and Debian 12 packages none (PyDTLS, 'dtls' on PyPI, "
                          "is not installed)")
        self.fail("a Python DTLS binding is installed: give it a test here")

    def test_client_certificate_required(self):
        d = self.start(tls={"client_ca": self.ccert, "verify_client": "require"})
        c = self.client(["-cert", self.ccert, "-key", self.ckey])
        self.assertEqual(self.echo_line(c, b"with cert\n"), b"with cert\n")
        c.stop()
        c1 = self.client(["-cert", self.ccert, "-key", self.ckey], quiet=False)
        c1.send(b"bye\n")
        c1.p.stdin.close()
        c1.p.wait(30)
        ev = d.wait_event("close", proto="dtls", timeout=30, reason="eof",
                          client_subject=CLIENT_RFC2253)
        self.assertEqual(ev["tls_version"], "DTLSv1.2")
        # Without a certificate: refused in the handshake.
        m = d.mark()
        c2 = self.client(quiet=False)
        c2.p.stdin.close()
        c2.p.wait(30)
        d.wait_event("tls-error", start=m)
        d.wait_event("close", start=m, proto="dtls", reason="tls-error")

    def test_resumption(self):
        d = self.start()
        sess = self.tmp.file("sess.pem")
        out = []
        for arg in (["-sess_out", sess], ["-sess_in", sess]):
            p = subprocess.run(["openssl", "s_client", "-dtls1_2", "-connect",
                                "127.0.0.1:%d" % self.p, "-CAfile", self.cert] + arg,
                               input=b"x\n", capture_output=True, timeout=30)
            out.append(p.stdout.decode(errors="replace"))
        self.assertIn("New, TLSv1.2", out[0])
        self.assertIn("Reused, TLSv1.2", out[1], out[1][-2000:])
        self.assertEqual(len(d.events("close", proto="dtls")) >= 1, True)


class DtlsLimits(DtlsBase):
    def test_idle_timeout(self):
        """Ended by idle_timeout, and the client is told: there is no FIN
        in UDP, so the server sends its close_notify (an alert record)."""
        d = self.start(limits={"idle_timeout": 2})
        relay = LossyRelay(self.p, loss=0)
        self.addCleanup(relay.stop)
        c = SClient(relay.port, ["-CAfile", self.cert])
        self.addCleanup(c.stop)
        self.assertEqual(self.echo_line(c, b"once\n"), b"once\n")
        t0 = time.monotonic()
        n = len(relay.types)
        ev = d.wait_event("close", proto="dtls", reason="idle-timeout", timeout=20)
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.assertEqual(ev["tls_version"], "DTLSv1.2")
        self.assertTrue(h.wait_until(lambda: 21 in relay.types[n:], 10),
                        "no alert from the server after its idle timeout: %r"
                        % relay.types[n:])

    def test_handshake_timeout(self):
        """A client that proves its address, then says nothing more."""
        d = self.start(limits={"handshake_timeout": 2})
        ch = capture_hello()
        s = h.udp_socket()
        self.addCleanup(s.close)
        s.sendto(ch, ("127.0.0.1", self.p))
        cookie = hvr_cookie(s.recv(2048))
        self.assertIsNotNone(cookie)
        s.sendto(with_cookie(ch, cookie), ("127.0.0.1", self.p))
        s.settimeout(10)
        self.assertEqual(s.recv(4096)[0], 22)       # ServerHello flight
        d.wait_event("connect", proto="dtls")
        ev = d.wait_event("close", proto="dtls", reason="handshake-timeout",
                          timeout=20)
        self.assertGreaterEqual(int(ev["duration_ms"]), 1500)
        self.assertNotIn("tls_version", ev)

    def test_access_lists(self):
        d = self.start(listener={"deny": ["127.0.0.1"]})
        c = self.client(quiet=False)
        c.p.stdin.close()
        ev = d.wait_event("refused", proto="dtls", reason="access")
        self.assertTrue(ev["peer"].startswith("127.0.0.1:"))
        self.assertEqual(d.events("connect"), [])
        self.assertEqual(d.children(), [])

    def test_max_connections_per_host(self):
        d = self.start(limits={"max_connections_per_host": 1})
        c = self.client()
        self.assertEqual(self.echo_line(c, b"first\n"), b"first\n")
        c2 = self.client(quiet=False)
        c2.p.stdin.close()
        d.wait_event("refused", proto="dtls", reason="max-per-host")
        self.assertEqual(len(d.events("connect", proto="dtls")), 1)
        self.assertEqual(self.echo_line(c, b"still\n"), b"still\n")

    def test_max_connections(self):
        d = self.start(limits={"max_connections": 1, "idle_timeout": 2})
        c = self.client()
        self.assertEqual(self.echo_line(c, b"first\n"), b"first\n")
        c2 = self.client(quiet=False)
        c2.p.stdin.close()
        d.wait_event("refused", proto="dtls", reason="max-connections")
        c.stop()
        d.wait_event("close", proto="dtls", timeout=h.IO_TIMEOUT)
        # The place is given back: the next client is served.
        c3 = self.client()
        self.assertEqual(self.echo_line(c3, b"next\n"), b"next\n")

    def test_reload_keeps_socket_and_associations(self):
        d = self.start()
        inode = h.listening_inode(self.p, "udp")
        c = self.client()
        self.assertEqual(self.echo_line(c, b"before\n"), b"before\n")
        m = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=m, result="ok")
        self.assertEqual(h.listening_inode(self.p, "udp") & inode, inode)
        self.assertEqual(self.echo_line(c, b"after\n"), b"after\n")
        c2 = self.client()
        self.assertEqual(self.echo_line(c2, b"new\n"), b"new\n")
        # A bad certificate: the old configuration stays whole.
        m = d.mark()
        d.rewrite(d.listeners, tls={"certificate": self.tmp.file("missing.pem"),
                                    "private_key": self.key})
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=m, result="failed")
        c3 = self.client()
        self.assertEqual(self.echo_line(c3, b"still\n"), b"still\n")


class DtlsAmplification(DtlsBase):
    def test_replayed_hello_gets_small_answers_and_no_process(self):
        d = self.start(limits={"udp_rate_per_host": 0})
        ch = capture_hello()
        s = h.udp_socket()
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        replies = []
        for i in range(1000):
            s.sendto(ch, ("127.0.0.1", self.p))
            if i % 50 == 49:            # keep the receive queue short
                s.setblocking(False)
                try:
                    while True:
                        replies.append(s.recv(65536))
                except BlockingIOError:
                    pass
                s.setblocking(True)
        s.settimeout(2)
        try:
            while True:
                replies.append(s.recv(65536))
        except socket.timeout:
            pass
        self.assertGreater(len(replies), 900)
        for r in replies:
            self.assertEqual(r[0], 22)              # handshake record
            self.assertEqual(r[13], 3)              # hello_verify_request
            self.assertLessEqual(len(r), len(ch))
        # The same cookie from another port: not valid, another HVR.
        s2 = h.udp_socket()
        self.addCleanup(s2.close)
        s2.settimeout(5)
        s2.sendto(with_cookie(ch, hvr_cookie(replies[0])), ("127.0.0.1", self.p))
        self.assertEqual(s2.recv(2048)[13], 3)
        # Not a ClientHello: no answer at all, counted and logged.
        s2.sendto(b"\x17\xfe\xfd" + b"\0" * 60, ("127.0.0.1", self.p))
        s2.sendto(b"GET / HTTP/1.0\r\n\r\n", ("127.0.0.1", self.p))
        s2.settimeout(1)
        with self.assertRaises(socket.timeout):
            s2.recv(2048)
        # Counted: one line at once, the rest in the next line a second
        # later at most (they may come in one read or two).
        d.wait_event("dtls-drop", reason="not-client-hello")
        counted = lambda: sum(int(e["count"]) for e in
                              d.events("dtls-drop", reason="not-client-hello"))
        self.assertEqual(h.wait_until(lambda: counted() >= 2, 5) and counted(), 2)
        self.assertLessEqual(len(d.events("dtls-drop", reason="not-client-hello")), 2)
        self.assertEqual(d.children(), [])
        self.assertEqual(d.events("connect"), [])

    def test_low_source_port_dropped(self):
        if not h.is_root():
            self.skipTest("binding a port below 1024 needs root")
        d = self.start()
        ch = capture_hello()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 1019))
        s.settimeout(1)
        s.sendto(ch, ("127.0.0.1", self.p))
        with self.assertRaises(socket.timeout):
            s.recv(2048)
        d.wait_event("dtls-drop", reason="source-port")


class DtlsPrivileges(DtlsBase):
    def test_association_drops_privileges_and_dies_with_its_engine(self):
        """Started as root with daemon.user: the association's process runs
        as that user (its socket was bound by the engine, so a port below
        1024 works), and dies with its engine, which the master restarts."""
        import pwd
        if not h.is_root():
            self.skipTest("needs root")
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        low = [p for p in range(700, 1000) if h._port_free(p)]
        listener = {"port": low[0]} if low else {}
        d = self.start(listener=listener, daemon={"user": "nobody"})
        c = self.client()
        self.assertEqual(self.echo_line(c, b"as nobody\n"), b"as nobody\n")
        eng = d.engines("secho-dtls")
        self.assertEqual(len(eng), 1)
        kids = h.wait_until(lambda: [k for k in h.children(eng[0]) if h.pid_alive(k)], 10)
        self.assertEqual(len(kids), 1, "one association process")
        with open("/proc/%d/status" % kids[0]) as f:
            st = dict(line.split(":", 1) for line in f)
        self.assertEqual(st["Uid"].split(), [str(nobody.pw_uid)] * 4)
        self.assertEqual(st["Gid"].split(), [str(nobody.pw_gid)] * 4)
        os.kill(eng[0], signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(kids[0]), 10),
                        "the association outlived its engine")
        d.wait_for(r"secho-dtls %d killed by signal 9 \(Killed\); its 1 connection" % eng[0])
        self.assertTrue(h.wait_until(lambda: [e for e in d.engines("secho-dtls")
                                              if e != eng[0]], 15), "no new secho-dtls")
        c2 = self.client()
        self.assertEqual(self.echo_line(c2, b"again\n"), b"again\n")


class LossyRelay:
    """Forwards datagrams between one client and the server, dropping a
    share of them each way (a seeded generator: the same drops each run),
    and records the size of what the server sent."""

    def __init__(self, server_port, loss=0.2, seed=14):
        self.server = ("127.0.0.1", server_port)
        self.loss = loss
        self.rng = random.Random(seed)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.client = None
        self.sizes = []
        self.types = []         # content type of each server datagram
        self.dropped = [0, 0]
        self.passed = [0, 0]
        self.stopping = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.front, selectors.EVENT_READ, 0)
        sel.register(self.back, selectors.EVENT_READ, 1)
        while not self.stopping:
            for key, _ in sel.select(0.2):
                sock = key.fileobj
                try:
                    data, addr = sock.recvfrom(65536)
                except OSError:
                    continue
                way = key.data
                if way == 0:
                    self.client = addr
                else:
                    self.sizes.append(len(data))
                    self.types.append(data[0] if data else None)
                if self.rng.random() < self.loss:
                    self.dropped[way] += 1
                    continue
                self.passed[way] += 1
                if way == 0:
                    self.back.sendto(data, self.server)
                elif self.client:
                    self.front.sendto(data, self.client)
        sel.close()

    def stop(self):
        self.stopping = True
        self.t.join(5)
        self.front.close()
        self.back.close()


class DtlsLoss(DtlsBase):
    def test_handshake_and_echo_through_lossy_relay(self):
        # RSA: the server's first flight is larger than one datagram.
        d = self.start(tls={"certificate": self.rcert, "private_key": self.rkey},
                       limits={"handshake_timeout": 60})
        relay = LossyRelay(self.p)
        self.addCleanup(relay.stop)
        c = SClient(relay.port, ["-CAfile", self.rcert, "-mtu", "1200"])
        self.addCleanup(c.stop)
        got = b""
        deadline = time.monotonic() + 60
        while b"ping" not in got and time.monotonic() < deadline:
            c.send(b"ping\n")
            got += c.read(5, timeout=1.0)
        self.assertIn(b"ping", got, "no echo through the relay; dropped %r passed %r\n%s"
                      % (relay.dropped, relay.passed, d.tail()))
        self.assertGreater(sum(relay.dropped), 0)
        # The path MTU: no datagram from the server above 1200 - 28 bytes.
        self.assertLessEqual(max(relay.sizes), MTU - 28, relay.sizes)
        d.wait_event("connect", proto="dtls")


class DtlsPing(DtlsBase):
    def test_secho_ping_dtls(self):
        ping = os.environ.get("SECHO_PING_BIN")
        if not ping:
            self.skipTest("SECHO_PING_BIN is not set")
        d = self.start()
        p = subprocess.run([ping, "-S", "-u", "-c", "3", "-i", "0.1", "--ca", self.cert,
                            "127.0.0.1", str(self.p)], capture_output=True, timeout=60)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out + p.stderr.decode(errors="replace"))
        self.assertIn("(dtls)", out)
        self.assertIn("TLS: DTLSv1.2", out)
        self.assertIn("3 probes sent, 3 echoed", out)
        d.wait_event("close", proto="dtls", reason="eof")
        j = subprocess.run([ping, "-S", "-u", "-c", "2", "-i", "0", "-j", "--ca", self.cert,
                            "127.0.0.1", str(self.p)], capture_output=True, timeout=60)
        import json
        doc = json.loads(j.stdout)
        self.assertEqual(doc["proto"], "dtls")
        self.assertEqual(doc["echoed"], 2)
        self.assertEqual(doc["tls"]["version"], "DTLSv1.2")



def udp4_connected():
    """(local address, port, remote address, port) of each connected
    IPv4 UDP socket, from /proc/net/udp."""
    out = []
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] != "01":
                continue
            pair = []
            for hexaddr in fields[1:3]:
                a, port = hexaddr.split(":")
                pair += [socket.inet_ntoa(bytes.fromhex(a)[::-1]), int(port, 16)]
            out.append(tuple(pair))
    return out


def cpu_seconds(pid):
    """User + system time of pid so far (s)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DtlsRobustness(DtlsBase):
    def test_drain_with_counted_drops_does_not_spin(self):
        """A drop counted but not logged yet (the second within a second)
        when the engine is told to drain (a reload): the count is logged
        then, and the draining engine sleeps until its association ends --
        it used to poll with a zero time-out, at 100 % CPU."""
        d = self.start()
        c = self.client()
        self.assertEqual(self.echo_line(c, b"held\n"), b"held\n")
        old = d.engines("secho-dtls")
        self.assertEqual(len(old), 1)
        s = h.udp_socket()
        self.addCleanup(s.close)
        s.sendto(b"junk one", ("127.0.0.1", self.p))
        d.wait_event("dtls-drop", reason="not-client-hello")
        s.sendto(b"junk two", ("127.0.0.1", self.p))   # counted, not logged
        time.sleep(0.2)
        m = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=m, result="ok")
        counted = lambda: sum(int(e["count"]) for e in
                              d.events("dtls-drop", reason="not-client-hello"))
        self.assertTrue(h.wait_until(lambda: counted() == 2, 5),
                        "the second drop was not logged at the drain:\n" + d.tail())
        # The old engine drains: alive for its association, and asleep.
        self.assertTrue(h.pid_alive(old[0]))
        t0 = cpu_seconds(old[0])
        time.sleep(2)
        self.assertTrue(h.pid_alive(old[0]), "the old engine ended early")
        self.assertLess(cpu_seconds(old[0]) - t0, 0.5, "the draining engine spins")
        self.assertEqual(self.echo_line(c, b"still\n"), b"still\n")

    def test_port_is_not_shared(self):
        """The listener's SO_REUSEPORT admits the same user's sockets only,
        and secho binds the address alone first: another secho on the same
        dtls port fails to start (exit 71, the address named), and, as
        root, another user cannot bind it with SO_REUSEADDR or
        SO_REUSEPORT to take the ClientHellos."""
        d = self.start()
        cfg = self.tmp.write("second.cfg", h.config_text(
            [{"proto": "dtls", "address": "127.0.0.1", "port": self.p}],
            tls={"certificate": self.cert, "private_key": self.key}))
        r = h.run_secho(["-f", "-c", cfg], timeout=20)
        self.assertFalse(r.timed_out, "a second secho shares the dtls port")
        self.assertEqual(r.returncode, h.EX_OSERR, r.stderr)
        self.assertIn("127.0.0.1:%d" % self.p, r.stderr)
        if not h.is_root():
            return      # the rest needs another user
        code = ("import os, socket, sys\n"
                "os.setgid(65534); os.setuid(65534)\n"
                "bad = []\n"
                "for opt in (socket.SO_REUSEADDR, socket.SO_REUSEPORT):\n"
                "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "    s.setsockopt(socket.SOL_SOCKET, opt, 1)\n"
                "    try:\n"
                "        s.bind(('127.0.0.1', %d)); bad.append(opt)\n"
                "    except OSError as e:\n"
                "        assert e.errno == 98, e\n"
                "    s.close()\n"
                "sys.exit('bound with %%r' %% bad if bad else 0)\n" % self.p)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        c = self.client()
        self.assertEqual(self.echo_line(c, b"ours\n"), b"ours\n")

    def test_client_restarting_from_the_same_port(self):
        """RFC 6347, 4.2.8: a client that starts anew from the address and
        port of a live association (killed, no close_notify) gets its new
        handshake -- not silence until idle_timeout."""
        d = self.start(limits={"idle_timeout": 300})
        port = self.port()
        bind = ["-bind", "127.0.0.1:%d" % port]
        c = self.client(bind)
        self.assertEqual(self.echo_line(c, b"first life\n"), b"first life\n")
        c.stop()
        c2 = self.client(bind)
        self.assertEqual(self.echo_line(c2, b"second life\n"), b"second life\n",
                         d.tail())
        ev = d.wait_event("close", proto="dtls", peer="127.0.0.1:%d" % port)
        self.assertEqual(ev["reason"], "eof")
        self.assertEqual(len(d.events("connect", proto="dtls",
                                      peer="127.0.0.1:%d" % port)), 2)

    def test_an_engine_cookie_does_not_end_a_live_association(self):
        """A ClientHello with a valid cookie of the engine's, made for the
        same address and port before the association started (a late
        copy from an earlier life, or a replay), reaches the association's
        socket: it must not end it.  Only a cookie the association handed
        out itself ends it (test_client_restarting_from_the_same_port)."""
        if not h.is_root():
            self.skipTest("sending from a port held by s_client needs a raw socket")
        d = self.start(limits={"idle_timeout": 300})
        port = self.port()
        ch = capture_hello()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        s.settimeout(10)
        s.sendto(ch, ("127.0.0.1", self.p))
        cookie = hvr_cookie(s.recv(2048))
        s.close()
        self.assertIsNotNone(cookie)
        old = with_cookie(ch, cookie)
        c = self.client(["-bind", "127.0.0.1:%d" % port])
        self.assertEqual(self.echo_line(c, b"alive\n"), b"alive\n")
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        self.addCleanup(raw.close)
        udp = (port.to_bytes(2, "big") + self.p.to_bytes(2, "big")
               + (8 + len(old)).to_bytes(2, "big") + b"\0\0")
        raw.sendto(udp + old, ("127.0.0.1", 0))
        time.sleep(1)
        self.assertEqual(self.echo_line(c, b"still alive\n"), b"still alive\n")
        self.assertEqual(d.events("close", proto="dtls"), [])

    def test_wildcard_listeners(self):
        """0.0.0.0, :: (dual-stack) and ::1: each association's socket is
        bound to the address the client sent to (from its pktinfo)."""
        p4, p6, p1 = self.port(), self.port(), self.port()
        more = ([{"proto": "dtls", "address": "::", "port": p6},
                 {"proto": "dtls", "address": "::1", "port": p1}]
                if h.HAVE_IPV6 else [])
        d = self.start(listener={"address": "0.0.0.0", "port": p4}, more=more)
        c = SClient(p4, ["-CAfile", self.cert])
        self.addCleanup(c.stop)
        self.assertEqual(self.echo_line(c, b"any v4\n"), b"any v4\n")
        # The association's socket: 127.0.0.1:p4, connected to the client.
        peer = d.wait_event("connect", proto="dtls")["peer"]
        cport = int(peer.rsplit(":", 1)[1])
        self.assertIn(("127.0.0.1", p4, "127.0.0.1", cport), udp4_connected(),
                      "no socket bound to the address the client sent to")
        if not h.HAVE_IPV6:
            return
        for host in ("127.0.0.1", "::1"):
            c = SClient(p6, ["-CAfile", self.cert], host="[%s]" % host
                        if ":" in host else host)
            self.addCleanup(c.stop)
            line = ("via %s\n" % host).encode()
            self.assertEqual(self.echo_line(c, line), line, d.tail())
        # A specific IPv6 address: its listener is IPv6-only, and so must
        # be its associations' sockets (one SO_REUSEPORT group).
        c = SClient(p1, ["-CAfile", self.cert], host="[::1]")
        self.addCleanup(c.stop)
        self.assertEqual(self.echo_line(c, b"via ::1 only\n"), b"via ::1 only\n",
                         d.tail())

    def test_second_hello_of_a_live_peer_is_no_second_association(self):
        """A copy of the ClientHello with the cookie that waited in the
        listener's queue while the first was admitted is refused by the
        master, which knows the peer's association: a second socket
        connected to the same peer would take its datagrams."""
        d = self.start(limits={"udp_rate_per_host": 0, "handshake_timeout": 30})
        ch = capture_hello()
        s = h.udp_socket()
        self.addCleanup(s.close)
        s.settimeout(10)
        s.sendto(ch, ("127.0.0.1", self.p))
        cookie = hvr_cookie(s.recv(2048))
        self.assertIsNotNone(cookie)
        second = with_cookie(ch, cookie)
        eng = d.engines("secho-dtls")
        self.assertEqual(len(eng), 1)
        # The order, made certain: the engine asks about the first copy
        # while the master is stopped; the second waits in the listener's
        # queue while the engine is stopped; the master answers; the
        # engine reads the answer (the association's socket) first, then
        # the second copy, and asks again.
        stopped = []
        try:
            os.kill(d.pid, signal.SIGSTOP)
            stopped.append(d.pid)
            s.sendto(second, ("127.0.0.1", self.p))
            time.sleep(0.5)
            os.kill(eng[0], signal.SIGSTOP)
            stopped.append(eng[0])
            s.sendto(second, ("127.0.0.1", self.p))
            time.sleep(0.2)
            os.kill(d.pid, signal.SIGCONT)
            stopped.remove(d.pid)
            time.sleep(0.5)
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        os.kill(eng[0], signal.SIGCONT)
        me = "127.0.0.1:%d" % s.getsockname()[1]
        d.wait_event("connect", proto="dtls", peer=me)
        time.sleep(2)
        self.assertEqual(len(d.events("connect", proto="dtls", peer=me)), 1, d.tail())
        kids = [k for k in h.children(eng[0]) if h.pid_alive(k)]
        self.assertEqual(len(kids), 1, "one association process")

    def test_reload_from_udp_to_dtls_on_the_same_port(self):
        """secho.cfg(5): udp cannot become dtls on the same address in one
        reload -- the reload fails whole, the udp echo goes on; removed in
        one reload and added in the next, the dtls listener serves."""
        tls = {"certificate": self.cert, "private_key": self.key}
        p = self.port()
        udp = {"proto": "udp", "address": "127.0.0.1", "port": p}
        dtls = dict(udp, proto="dtls")
        keep = {"proto": "tcp", "address": "127.0.0.1", "port": self.port()}
        d = self.daemon([udp, keep], tls=tls)
        self.assertEqual(h.udp_echo("127.0.0.1", p, b"udp", tries=3)[0], b"udp")
        m = d.mark()
        d.rewrite([dtls, keep], tls=tls)
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=m, result="failed")
        self.assertEqual(h.udp_echo("127.0.0.1", p, b"still udp", tries=3)[0],
                         b"still udp")
        for listeners in ([keep], [dtls, keep]):
            m = d.mark()
            d.rewrite(listeners, tls=tls)
            d.signal(signal.SIGHUP)
            d.wait_event("reload", start=m, result="ok")
        self.p = p
        c = self.client()
        self.assertEqual(self.echo_line(c, b"now dtls\n"), b"now dtls\n")


    def test_reload_moves_or_readds_a_dtls_listener_on_its_port(self):
        """secho's own sockets on the port (the listener being moved, the
        associations of a removed listener) do not make the port "in use"
        at a reload: 127.0.0.1:P becomes 0.0.0.0:P, then is removed and
        added again while an association lives."""
        tls = {"certificate": self.cert, "private_key": self.key}
        d = self.start()
        c = self.client()
        self.assertEqual(self.echo_line(c, b"held\n"), b"held\n")
        keep = {"proto": "tcp", "address": "127.0.0.1", "port": self.port()}
        anyaddr = {"proto": "dtls", "address": "0.0.0.0", "port": self.p}
        for listeners in ([anyaddr], [keep], [anyaddr]):
            m = d.mark()
            d.rewrite(listeners, tls=tls)
            d.signal(signal.SIGHUP)
            ev = d.wait_event("reload", start=m)
            self.assertEqual(ev["result"], "ok", d.tail())
        self.assertEqual(self.echo_line(c, b"still held\n"), b"still held\n")
        c2 = self.client()
        self.assertEqual(self.echo_line(c2, b"new\n"), b"new\n")


if __name__ == "__main__":
    unittest.main()
