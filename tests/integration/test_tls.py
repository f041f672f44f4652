"""TLS echo (SPEC: Behaviour/TLS, Configuration tls, Logs close/tls-error).

Clients: Python's ssl module and `openssl s_client`.  Certificates are
self-signed test certificates made per test class with openssl(1)."""

import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import harness as h

CLIENT_SUBJ = "/O=Secho Test/CN=client-one"
CLIENT_RFC2253 = "CN=client-one,O=Secho Test"


class TlsBase(h.SechoTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir = h.TempDir("secho-it-certs-")
        cls.cert, cls.key = h.make_cert(cls.certdir, "server")
        cls.cert2, cls.key2 = h.make_cert(cls.certdir, "server2", cn="second")
        cls.ccert, cls.ckey = h.make_cert(cls.certdir, "client", subj=CLIENT_SUBJ, san=False)
        cls.other_ccert, cls.other_ckey = h.make_cert(cls.certdir, "stranger",
                                                      subj="/CN=stranger", san=False)

    @classmethod
    def tearDownClass(cls):
        cls.certdir.cleanup()

    def start(self, tls=None, listener=None, limits=None, **kw):
        self.p = self.port()
        t = {"certificate": self.cert, "private_key": self.key}
        t.update(tls or {})
        lst = {"proto": "tls", "address": "127.0.0.1", "port": self.p}
        lst.update(listener or {})
        return self.daemon([lst], tls=t, limits=limits, **kw)

    def ctx(self, cafile=None, maxv=None, minv=None, cert=None, key=None):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(cafile or self.cert)
        c.check_hostname = True
        if maxv:
            c.maximum_version = maxv
        if minv:
            c.minimum_version = minv
        if cert:
            c.load_cert_chain(cert, key)
        return c

    def connect(self, ctx, port=None, session=None, timeout=20):
        raw = socket.create_connection(("127.0.0.1", port or self.p), timeout=timeout)
        try:
            return ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        except Exception:
            raw.close()
            raise

    def echo(self, s, data):
        s.sendall(data)
        buf = b""
        while len(buf) < len(data):
            b = s.recv(len(data) - len(buf))
            if not b:
                break
            buf += b
        return buf


class TlsEcho(TlsBase):
    def test_tls13_echo_and_close_notify(self):
        d = self.start()
        s = self.connect(self.ctx())
        try:
            self.assertEqual(s.version(), "TLSv1.3")
            peer = h.sock_addr_text(s.getsockname())
            self.assertEqual(self.echo(s, b"hello tls"), b"hello tls")
            cipher = s.cipher()[0]
            # our close_notify is answered with close_notify (unwrap waits for it)
            plain = s.unwrap()
            plain.close()
        finally:
            s.close()
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e.get("proto"), "tls")
        self.assertEqual(e.get("reason"), "eof")
        self.assertEqual(e.get("tls_version"), "TLSv1.3")
        self.assertEqual(e.get("cipher"), cipher)
        self.assertEqual((e.get("bytes_in"), e.get("bytes_out")), ("9", "9"))
        self.assertNotIn("client_subject", e)
        c = d.wait_event("connect", peer=peer)
        self.assertEqual(c.get("proto"), "tls")

    def test_tls12_echo(self):
        d = self.start()
        s = self.connect(self.ctx(maxv=ssl.TLSVersion.TLSv1_2))
        with s:
            self.assertEqual(s.version(), "TLSv1.2")
            peer = h.sock_addr_text(s.getsockname())
            self.assertEqual(self.echo(s, b"twelve"), b"twelve")
            cipher = s.cipher()[0]
            s.unwrap().close()
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e.get("tls_version"), "TLSv1.2")
        self.assertEqual(e.get("cipher"), cipher)

    def test_bulk_1mib(self):
        """More than 128 KiB in flight in both directions (where socat and
        ncat stall)."""
        self.start()
        s = self.connect(self.ctx())
        with s:
            data = os.urandom(1 << 20)
            # one thread, non-blocking: write chunks and read whatever comes
            got = bytearray()
            view = memoryview(data)
            s.setblocking(False)
            pos = 0
            deadline = time.monotonic() + 60
            sel = selectors.DefaultSelector()
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while len(got) < len(data) and time.monotonic() < deadline:
                for key, ev in sel.select(1):
                    if ev & selectors.EVENT_READ or s.pending():
                        try:
                            while True:
                                b = s.recv(65536)
                                if not b:
                                    break
                                got += b
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            pass
                    if ev & selectors.EVENT_WRITE and pos < len(data):
                        try:
                            pos += s.send(view[pos:pos + 65536])
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                            pass
                if pos >= len(data):
                    sel.modify(s, selectors.EVENT_READ)
            sel.close()
            self.assertEqual(len(got), len(data))
            self.assertTrue(bytes(got) == data)

    def test_openssl_s_client(self):
        self.start()
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.p,
                              "-quiet", "-CAfile", self.cert, "-verify_return_error",
                              "-servername", "localhost"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        p.stdin.write(b"hello s_client\n")
        p.stdin.flush()
        r = out.wait_for(r"^hello s_client$", 20, stream="stdout")
        self.assertIsNotNone(r, "no echo; s_client said:\n" + out.text())

    def test_garbage_is_tls_error(self):
        d = self.start()
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(15)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        e = d.wait_event("tls-error", peer=peer)
        self.assertTrue(e.get("error"), "tls-error has a readable error: " + e["_line"])
        c = d.wait_event("close", peer=peer)
        self.assertEqual(c.get("reason"), "tls-error")
        self.assertGreater(c["_index"], e["_index"], "tls-error comes before close")
        self.assertTrue(d.alive())

    def test_handshake_timeout(self):
        d = self.start(limits={"handshake_timeout": 1})
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            t0 = time.monotonic()
            s.settimeout(15)
            try:
                self.assertEqual(s.recv(10), b"")
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(d.wait_event("close", peer=peer).get("reason"), "handshake-timeout")

    def test_stats_tls_total(self):
        d = self.start()
        for _ in range(2):
            s = self.connect(self.ctx())
            with s:
                self.assertEqual(self.echo(s, b"x"), b"x")
        h.wait_until(lambda: len(d.events("close")) >= 2 and not d.children(), 10)
        mark = d.mark()
        d.signal(signal.SIGUSR1)
        ev = d.wait_event("stats", start=mark)
        self.assertEqual(ev.get("tls_total"), "2", ev["_line"])
        self.assertEqual(ev.get("tcp_total"), "0", ev["_line"])


class TlsProtocols(TlsBase):
    def test_min_protocol_tls13(self):
        d = self.start(tls={"min_protocol": "TLSv1.3"})
        with self.assertRaises((ssl.SSLError, OSError)):
            s = self.connect(self.ctx(maxv=ssl.TLSVersion.TLSv1_2))
            s.close()
        d.wait_event("tls-error")
        d.wait_event("close", reason="tls-error")
        s = self.connect(self.ctx())
        with s:
            self.assertEqual(s.version(), "TLSv1.3")

    def test_tls11_refused(self):
        self.start()
        c = self.ctx(maxv=ssl.TLSVersion.TLSv1_1, minv=ssl.TLSVersion.TLSv1)
        c.set_ciphers("DEFAULT:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, OSError)):
            s = self.connect(c)
            s.close()

    def test_resumption_tls13(self):
        self.check_resumption(None, True)

    def test_resumption_tls12(self):
        self.check_resumption(ssl.TLSVersion.TLSv1_2, True)

    def test_no_resumption_without_tickets(self):
        self.check_resumption(None, False, {"session_tickets": False})

    def check_resumption(self, maxv, expect, tls=None):
        self.start(tls=tls)
        c = self.ctx(maxv=maxv)
        s = self.connect(c)
        with s:
            self.assertEqual(self.echo(s, b"first"), b"first")   # ticket arrives
            sess = s.session
        reused = []
        for i in range(2):      # each connection is a different process
            s = self.connect(c, session=sess)
            with s:
                self.assertEqual(self.echo(s, b"again"), b"again")
                reused.append(s.session_reused)
        self.assertEqual(reused, [expect, expect])

    def test_per_listener_certificate(self):
        p2 = self.port()
        self.p = self.port()
        self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": self.p},
                     {"proto": "tls", "address": "127.0.0.1", "port": p2,
                      "tls": {"certificate": self.cert2, "private_key": self.key2}}],
                    tls={"certificate": self.cert, "private_key": self.key})
        s = self.connect(self.ctx())
        with s:
            self.assertEqual(self.echo(s, b"one"), b"one")
        s = self.connect(self.ctx(cafile=self.cert2), port=p2)
        with s:
            self.assertEqual(self.echo(s, b"two"), b"two")
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.connect(self.ctx(cafile=self.cert), port=p2).close()

    def test_reload_certificate(self):
        live_cert = self.tmp.file("live.crt")
        live_key = self.tmp.file("live.key")
        shutil.copy(self.cert, live_cert)
        shutil.copy(self.key, live_key)
        d = self.start(tls={"certificate": live_cert, "private_key": live_key})
        self.connect(self.ctx(cafile=self.cert)).close()
        shutil.copy(self.cert2, live_cert)
        shutil.copy(self.key2, live_key)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        s = self.connect(self.ctx(cafile=self.cert2))
        with s:
            self.assertEqual(self.echo(s, b"new cert"), b"new cert")

    def test_reload_bad_key_keeps_old(self):
        live_cert = self.tmp.file("live.crt")
        shutil.copy(self.cert, live_cert)
        d = self.start(tls={"certificate": live_cert})
        shutil.copy(self.cert2, live_cert)   # no longer matches the key
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="failed")
        s = self.connect(self.ctx(cafile=self.cert))
        with s:
            self.assertEqual(self.echo(s, b"old cert"), b"old cert")


class TlsClientCerts(TlsBase):
    def handshake_fails(self, ctx):
        """True when the connection fails in the handshake (TLS 1.3: the
        server's alert arrives at the first read)."""
        try:
            s = self.connect(ctx)
        except (ssl.SSLError, ConnectionResetError):
            return True
        with s:
            try:
                s.sendall(b"hi")
                return s.recv(10) != b"hi"
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                return True

    def test_require(self):
        d = self.start(tls={"client_ca": self.ccert, "verify_client": "require"})
        self.assertTrue(self.handshake_fails(self.ctx()), "served without a client certificate")
        d.wait_event("tls-error")
        self.assertTrue(self.handshake_fails(self.ctx(cert=self.other_ccert, key=self.other_ckey)),
                        "served with an untrusted client certificate")
        s = self.connect(self.ctx(cert=self.ccert, key=self.ckey))
        with s:
            peer = h.sock_addr_text(s.getsockname())
            self.assertEqual(self.echo(s, b"with cert"), b"with cert")
            s.unwrap().close()
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e.get("client_subject"), CLIENT_RFC2253)
        self.assertEqual(e.get("reason"), "eof")

    def test_optional(self):
        d = self.start(tls={"client_ca": self.ccert, "verify_client": "optional"})
        s = self.connect(self.ctx())
        with s:
            peer = h.sock_addr_text(s.getsockname())
            self.assertEqual(self.echo(s, b"anon"), b"anon")
        self.assertNotIn("client_subject", d.wait_event("close", peer=peer))
        s = self.connect(self.ctx(cert=self.ccert, key=self.ckey))
        with s:
            peer = h.sock_addr_text(s.getsockname())
            self.assertEqual(self.echo(s, b"named"), b"named")
        self.assertEqual(d.wait_event("close", peer=peer).get("client_subject"), CLIENT_RFC2253)
