"""TLS end to end with real clients and the development certificates
(SPEC: Behaviour/TLS, Signals/SIGHUP, Logs close/tls-error/reload; issue 3).

Certificates come from certs/gen.sh itself (a CA, a server certificate and
a CA-signed client certificate), made into temporary directories: set A
serves, set B is what a reload rotates to.  Clients: `openssl s_client`,
`gnutls-cli`, Python's ssl, and `sslscan` when installed.
"""

import hashlib
import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import time

import harness as h

SUBJECT = "CN=client-one,O=secho development"
A = B = None        # certificate sets: TempDir with ca.pem, server.pem, ...


def setUpModule():
    global A, B
    A = h.TempDir("secho-it-certs-a-")
    B = h.TempDir("secho-it-certs-b-")
    for t in (A, B):
        subprocess.run(["sh", os.path.join(h.REPO, "certs", "gen.sh"), t.path],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)


def tearDownModule():
    for t in (A, B):
        if t:
            t.cleanup()


def der_fingerprint(pem_path):
    with open(pem_path) as f:
        text = f.read()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(text[:end] + "\n")).hexdigest()


def expired_cert(tmp):
    """A self-signed certificate valid only in January 2020 (openssl ca
    can set both dates)."""
    d = tmp.file("oldca")
    os.mkdir(d)
    with open(os.path.join(d, "index.txt"), "w"):
        pass
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
                "serial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n"
                "[p]\ncommonName = supplied\n")
    run = lambda args: subprocess.run(args, cwd=d, check=True, timeout=60,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run(["openssl", "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-keyout", "old.key", "-subj", "/CN=localhost",
         "-out", "old.csr"])
    run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "old.key",
         "-in", "old.csr", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
         "-out", "old.pem"])
    return os.path.join(d, "old.pem"), os.path.join(d, "old.key")


class TlsBase(h.SechoTestCase):
    def start(self, tls=None, limits=None, cert=None, key=None):
        self.p = self.port()
        t = {"certificate": cert or A.file("server.pem"),
             "private_key": key or A.file("server.key")}
        t.update(tls or {})
        return self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": self.p}],
                           tls=t, limits=limits)

    def ctx(self, maxv=None, minv=None, cert=None, key=None, cafile=None):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(cafile or A.file("ca.pem"))
        if maxv:
            c.maximum_version = maxv
        if minv:
            c.minimum_version = minv
        if cert:
            c.load_cert_chain(cert, key)
        return c

    def connect(self, ctx, session=None, timeout=h.IO_TIMEOUT):
        raw = socket.create_connection(("127.0.0.1", self.p), timeout=timeout)
        try:
            return ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        except BaseException:
            raw.close()
            raise

    def pingpong(self, s, data):
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            b = s.recv(len(data) - len(got))
            if not b:
                break
            got += b
        self.assertEqual(got, data)

    def bulk_echo(self, s, data):
        """Send data while reading the echo, on one thread: an SSL object
        must not be used by two threads at once."""
        got = bytearray()
        view = memoryview(data)
        pos = 0
        s.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        deadline = time.monotonic() + 60
        try:
            while len(got) < len(data) and time.monotonic() < deadline:
                sel.select(1)
                while True:         # drain records, SSL may buffer more
                    try:
                        b = s.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    if not b:
                        raise AssertionError("EOF after %d bytes" % len(got))
                    got += b
                if pos < len(data):
                    try:
                        pos += s.send(view[pos:pos + 65536])
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                    if pos >= len(data):
                        sel.modify(s, selectors.EVENT_READ)
        finally:
            sel.close()
            s.setblocking(True)
            s.settimeout(h.IO_TIMEOUT)
        return bytes(got)

    def refused(self, ctx):
        """The handshake fails (TLS 1.3: a refused client certificate shows
        at the first read).  Returns the client's error."""
        try:
            s = self.connect(ctx)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            return e
        with s:
            try:
                s.sendall(b"hi")
                got = s.recv(10)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
                return e
        self.fail("the connection was served (got %r)" % got)

    def tls_error_then_close(self, d, start, needle):
        """A `tls-error` whose error contains needle, then `close
        reason=tls-error` for the same peer."""
        e = d.wait_event("tls-error", start=start, error=lambda v: needle in v)
        c = d.wait_event("close", start=start, peer=e["peer"])
        self.assertEqual(c.get("reason"), "tls-error", c["_line"])
        self.assertGreater(c["_index"], e["_index"])
        return e

    def s_client(self, args=(), ca=None):
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.p,
                              "-CAfile", ca or A.file("ca.pem"), "-verify_return_error",
                              "-servername", "localhost"] + list(args),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        return p, h.Output(p)


class RealClients(TlsBase):
    """Three independent clients, TLS 1.2 and 1.3 each."""

    def check_s_client(self, flag, version):
        d = self.start()
        p, out = self.s_client(["-quiet", flag])
        lines = [b"line one from s_client\n", b"\tsecond line: Q and R are data here\n"]
        for ln in lines:
            p.stdin.write(ln)
            p.stdin.flush()
        for ln in lines:
            self.assertIsNotNone(out.wait_for("^" + ln.decode().strip("\n") + "$", 20,
                                              stream="stdout"),
                                 "no echo of %r; s_client said:\n%s" % (ln, out.text()))
        h.stop_popen(p)
        e = d.wait_event("close", tls_version=version)
        self.assertEqual(e["bytes_in"], str(sum(map(len, lines))), e["_line"])
        self.assertEqual(e["bytes_in"], e["bytes_out"])

    def test_s_client_tls13(self):
        self.check_s_client("-tls1_3", "TLSv1.3")

    def test_s_client_tls12(self):
        self.check_s_client("-tls1_2", "TLSv1.2")

    def check_gnutls(self, prio, version):
        if not shutil.which("gnutls-cli"):
            self.skipTest("gnutls-cli not installed (package gnutls-bin; make deps)")
        d = self.start()
        p = subprocess.Popen(["gnutls-cli", "--x509cafile", A.file("ca.pem"),
                              "--priority", prio, "-p", str(self.p), "127.0.0.1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        p.stdin.write(b"hello from gnutls\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^hello from gnutls$", 20, stream="stdout"),
                             "no echo; gnutls-cli said:\n" + out.text())
        # End of input: gnutls-cli sends close_notify, ours comes back.
        p.stdin.close()
        p.wait(20)
        e = d.wait_event("close", tls_version=version)
        self.assertEqual(e["reason"], "eof", e["_line"])
        self.assertEqual(e["bytes_out"], "18")

    def test_gnutls_tls13(self):
        self.check_gnutls("NORMAL:-VERS-ALL:+VERS-TLS1.3", "TLSv1.3")

    def test_gnutls_tls12(self):
        self.check_gnutls("NORMAL:-VERS-ALL:+VERS-TLS1.2", "TLSv1.2")

    def check_python(self, version, name):
        d = self.start()
        s = self.connect(self.ctx(maxv=version, minv=version))
        with s:
            self.assertEqual(s.version(), name)
            self.assertIsNone(s.compression())
            peer = h.sock_addr_text(s.getsockname())
            data = os.urandom(1 << 20)
            got = self.bulk_echo(s, data)
            self.assertEqual(len(got), len(data))
            self.assertTrue(got == data, "echoed bytes differ")
            # unwrap() sends close_notify and waits for the server's
            plain = s.unwrap()
            plain.close()
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e["reason"], "eof", e["_line"])
        self.assertEqual(e["bytes_in"], str(1 << 20))
        self.assertEqual(e["bytes_out"], str(1 << 20))
        self.assertEqual(e["tls_version"], name)

    def test_python_1mib_tls13(self):
        self.check_python(ssl.TLSVersion.TLSv1_3, "TLSv1.3")

    def test_python_1mib_tls12(self):
        self.check_python(ssl.TLSVersion.TLSv1_2, "TLSv1.2")


class Refusals(TlsBase):
    def test_tls11_refused_and_logged(self):
        d = self.start()
        c = self.ctx(maxv=ssl.TLSVersion.TLSv1_1, minv=ssl.TLSVersion.TLSv1)
        c.set_ciphers("DEFAULT:@SECLEVEL=0")   # or the client refuses by itself
        self.refused(c)
        self.tls_error_then_close(d, 0, "unsupported protocol")

    def test_min_protocol_tls13_refuses_tls12(self):
        d = self.start(tls={"min_protocol": "TLSv1.3"})
        self.refused(self.ctx(maxv=ssl.TLSVersion.TLSv1_2))
        self.tls_error_then_close(d, 0, "unsupported protocol")
        with self.connect(self.ctx()) as s:
            self.assertEqual(s.version(), "TLSv1.3")
            self.pingpong(s, b"thirteen")

    def test_plaintext_refused_listener_keeps_serving(self):
        d = self.start()
        for probe in (b"hello, plain text\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
            mark = d.mark()
            s = h.tcp_connect("127.0.0.1", self.p)
            with s:
                peer = h.sock_addr_text(s.getsockname())
                s.sendall(probe)
                try:
                    data = h.recv_all(s, 15)
                except ConnectionResetError:
                    data = b""
                self.assertNotIn(probe, data, "plaintext echoed on the TLS port")
            e = d.wait_event("tls-error", start=mark, peer=peer)
            self.assertTrue(any(w in e["error"] for w in
                                ("wrong version number", "http request", "unknown protocol")),
                            e["_line"])
            self.assertEqual(d.wait_event("close", start=mark, peer=peer)["reason"], "tls-error")
        with self.connect(self.ctx()) as s:
            self.pingpong(s, b"still serving")
        self.assertTrue(d.alive())

    def test_handshake_timeout_partial_hello(self):
        """Half a ClientHello does not extend the handshake deadline."""
        d = self.start(limits={"handshake_timeout": 1})
        s = h.tcp_connect("127.0.0.1", self.p)
        with s:
            peer = h.sock_addr_text(s.getsockname())
            t0 = time.monotonic()
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
            try:
                self.assertEqual(h.recv_all(s, 15), b"")
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - t0, 8)
        e = d.wait_event("close", peer=peer)
        self.assertEqual(e["reason"], "handshake-timeout", e["_line"])
        self.assertGreaterEqual(int(e["duration_ms"]), 900)


class ClientCertificates(TlsBase):
    def mtls(self, verify="require"):
        return self.start(tls={"client_ca": A.file("ca.pem"), "verify_client": verify})

    def test_require_ca_signed_served_and_logged(self):
        d = self.mtls()
        for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            c = self.ctx(maxv=v, cert=A.file("client.pem"), key=A.file("client.key"))
            with self.connect(c) as s:
                peer = h.sock_addr_text(s.getsockname())
                self.pingpong(s, b"with a certificate")
                s.unwrap().close()
            e = d.wait_event("close", peer=peer)
            self.assertEqual(e.get("client_subject"), SUBJECT, e["_line"])
            self.assertEqual(e["tls_version"], name)
            self.assertEqual(e["reason"], "eof")

    def test_require_s_client_with_cert(self):
        d = self.mtls()
        p, out = self.s_client(["-quiet", "-cert", A.file("client.pem"),
                                "-key", A.file("client.key")])
        p.stdin.write(b"mtls via s_client\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^mtls via s_client$", 20, stream="stdout"),
                             out.text())
        h.stop_popen(p)
        self.assertEqual(d.wait_event("close", client_subject=SUBJECT)["tls_version"],
                         "TLSv1.3")

    def test_require_refuses_no_certificate(self):
        d = self.mtls()
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            mark = d.mark()
            self.refused(self.ctx(maxv=v))
            self.tls_error_then_close(d, mark, "peer did not return a certificate")

    def test_require_refuses_self_signed(self):
        d = self.mtls()
        cert, key = h.make_cert(self.tmp, "selfsigned", subj="/O=secho development/CN=client-one",
                                san=False)
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            mark = d.mark()
            self.refused(self.ctx(maxv=v, cert=cert, key=key))
            e = self.tls_error_then_close(d, mark, "certificate verify failed")
            self.assertIn("self-signed", e["error"])

    def test_require_refuses_other_ca(self):
        """A client certificate from another CA (set B) is not trusted."""
        d = self.mtls()
        self.refused(self.ctx(cert=B.file("client.pem"), key=B.file("client.key")))
        self.tls_error_then_close(d, 0, "certificate verify failed")

    def test_optional(self):
        d = self.mtls("optional")
        with self.connect(self.ctx()) as s:
            peer = h.sock_addr_text(s.getsockname())
            self.pingpong(s, b"anonymous")
        self.assertNotIn("client_subject", d.wait_event("close", peer=peer))
        with self.connect(self.ctx(cert=A.file("client.pem"), key=A.file("client.key"))) as s:
            peer = h.sock_addr_text(s.getsockname())
            self.pingpong(s, b"named")
        self.assertEqual(d.wait_event("close", peer=peer).get("client_subject"), SUBJECT)
        mark = d.mark()
        self.refused(self.ctx(cert=B.file("client.pem"), key=B.file("client.key")))
        self.tls_error_then_close(d, mark, "certificate verify failed")


class Resumption(TlsBase):
    """Every connection is another child process; tickets still resume."""

    def one(self, d, ctx, session=None):
        """A connection with an echo; returns (session, reused, child pid)."""
        self.assertTrue(h.wait_until(lambda: not d.live_children(), 10),
                        "previous child still running")
        with self.connect(ctx, session=session) as s:
            self.pingpong(s, b"ticket please")   # TLS 1.3: the ticket arrives
            kids = d.live_children()
            self.assertEqual(len(kids), 1, kids)
            return s.session, s.session_reused, kids[0]

    def check(self, version, tickets=True):
        d = self.start(tls={"session_tickets": tickets})
        c = self.ctx(maxv=version, minv=version)
        sess, reused, pid1 = self.one(d, c)
        self.assertFalse(reused)
        _, reused2, pid2 = self.one(d, c, sess)
        _, reused3, pid3 = self.one(d, c, sess)
        self.assertEqual(len({pid1, pid2, pid3}), 3, "one process per connection")
        self.assertEqual([reused2, reused3], [tickets, tickets])

    def test_tls13(self):
        self.check(ssl.TLSVersion.TLSv1_3)

    def test_tls12(self):
        self.check(ssl.TLSVersion.TLSv1_2)

    def test_no_resumption_without_tickets_tls12(self):
        self.check(ssl.TLSVersion.TLSv1_2, False)

    def test_no_resumption_without_tickets_tls13(self):
        self.check(ssl.TLSVersion.TLSv1_3, False)

    def test_tls13_single_use_ticket_chain(self):
        """Each ticket used once (RFC 8446 C.4): every resumed TLS 1.3
        handshake brings a fresh ticket, so a chain of 5 connections, each
        served by a different process, resumes every time (issue 13)."""
        d = self.start()
        c = self.ctx(maxv=ssl.TLSVersion.TLSv1_3, minv=ssl.TLSVersion.TLSv1_3)
        sess, reused, pid = self.one(d, c)
        self.assertFalse(reused)
        pids, used = {pid}, {sess.id}
        for i in range(5):
            nxt, reused, pid = self.one(d, c, sess)
            self.assertTrue(reused, "connection %d of the chain not resumed" % (i + 1))
            # OpenSSL names a TLS 1.3 session by the hash of its ticket.
            self.assertNotIn(nxt.id, used, "connection %d got no new ticket" % (i + 1))
            used.add(nxt.id)
            pids.add(pid)
            sess = nxt
        self.assertEqual(len(pids), 6, "one process per connection")

    def test_s_client_resumed_gets_new_ticket(self):
        """s_client -sess_in -msg: one NewSessionTicket on resumption."""
        self.start()
        sess = self.tmp.file("chain.sess")
        p, out = self.s_client(["-ign_eof", "-sess_out", sess])
        p.stdin.write(b"first\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^first$", 20, stream="stdout"), out.text())
        h.wait_until(lambda: os.path.exists(sess) and os.path.getsize(sess) > 0, 10)
        h.stop_popen(p)
        p, out = self.s_client(["-ign_eof", "-msg", "-sess_in", sess])
        p.stdin.write(b"second\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^second$", 20, stream="stdout"), out.text())
        self.assertIn("Reused, TLSv1.3", out.text())
        self.assertGreaterEqual(out.text().count("NewSessionTicket"), 1, out.text())
        h.stop_popen(p)

    def test_s_client_sess_in(self):
        """openssl s_client agrees: -sess_out, then -sess_in is Reused."""
        self.start()
        sess = self.tmp.file("s_client.sess")
        p, out = self.s_client(["-ign_eof", "-sess_out", sess])
        p.stdin.write(b"first\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^first$", 20, stream="stdout"), out.text())
        h.wait_until(lambda: os.path.exists(sess) and os.path.getsize(sess) > 0, 10)
        h.stop_popen(p)
        p, out = self.s_client(["-ign_eof", "-sess_in", sess])
        p.stdin.write(b"second\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^second$", 20, stream="stdout"), out.text())
        self.assertIn("Reused, TLSv1.3", out.text())
        h.stop_popen(p)


class Reload(TlsBase):
    def test_certificate_rotation(self):
        live_cert, live_key = self.tmp.file("live.pem"), self.tmp.file("live.key")
        shutil.copy(A.file("server.pem"), live_cert)
        shutil.copy(A.file("server.key"), live_key)
        both = self.tmp.file("both-ca.pem")
        with open(both, "w") as f:
            for t in (A, B):
                with open(t.file("ca.pem")) as g:
                    f.write(g.read())
        fp_a, fp_b = der_fingerprint(A.file("server.pem")), der_fingerprint(B.file("server.pem"))
        self.assertNotEqual(fp_a, fp_b)
        fp = lambda s: hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

        d = self.start(cert=live_cert, key=live_key)
        c = self.ctx(cafile=both, maxv=ssl.TLSVersion.TLSv1_2)
        old = self.connect(c)
        self.addCleanup(old.close)
        self.assertEqual(fp(old), fp_a)
        self.pingpong(old, b"before the reload")
        sess = old.session

        # The ACME client drops new files in place; secho gets SIGHUP.
        for src, dst in ((B.file("server.pem"), live_cert), (B.file("server.key"), live_key)):
            shutil.copy(src, dst + ".tmp")
            os.rename(dst + ".tmp", dst)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        with self.connect(c) as s:
            self.assertEqual(fp(s), fp_b, "a new connection sees the new certificate")
            self.pingpong(s, b"after the reload")
        self.pingpong(old, b"the old connection goes on")
        self.assertEqual(fp(old), fp_a)
        # A ticket from before the reload (key rotated then) still resumes.
        with self.connect(c, session=sess) as s:
            self.assertTrue(s.session_reused)

        # A broken certificate: reload fails, the last good one stays.
        with open(live_cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        mark = d.mark()
        d.signal(signal.SIGHUP)
        e = d.wait_event("reload", start=mark, result="failed")
        self.assertIn(live_cert, e.get("error", ""), e["_line"])
        with self.connect(c) as s:
            self.assertEqual(fp(s), fp_b)
            self.pingpong(s, b"kept the good one")

        # A key that does not match: the same.
        shutil.copy(A.file("server.pem"), live_cert)   # with B's key
        mark = d.mark()
        d.signal(signal.SIGHUP)
        e = d.wait_event("reload", start=mark, result="failed")
        self.assertIn("does not match", e.get("error", ""), e["_line"])
        with self.connect(c) as s:
            self.assertEqual(fp(s), fp_b)

        self.pingpong(old, b"still undisturbed")
        old.unwrap().close()
        self.assertTrue(d.alive())


class Check(TlsBase):
    def cfg(self, cert, key, **tls):
        port = self.port()
        t = {"certificate": cert, "private_key": key}
        t.update(tls)
        text = h.config_text([{"proto": "tls", "address": "127.0.0.1", "port": port}], tls=t)
        return self.tmp.write("check.cfg", text), text

    def test_mismatched_key_exits_78_naming_the_file(self):
        path, text = self.cfg(A.file("server.pem"), A.file("client.key"))
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stdout + r.stderr)
        self.assertIn("%s:%d: " % (path, h.line_of(text, "private_key")), r.stderr)
        self.assertIn(A.file("client.key"), r.stderr)
        self.assertIn("does not match", r.stderr)
        self.assertNotIn("is valid", r.stdout)

    def test_missing_certificate_in_words(self):
        missing = self.tmp.file("gone.pem")
        path, text = self.cfg(missing, A.file("server.key"))
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn("%s:%d: %s: No such file or directory"
                      % (path, h.line_of(text, "certificate"), missing), r.stderr)

    def test_bad_cipher_list(self):
        path, _ = self.cfg(A.file("server.pem"), A.file("server.key"), ciphers="NO-SUCH-CIPHER")
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn("tls.ciphers", r.stderr)

    def test_expired_certificate_is_a_warning(self):
        cert, key = expired_cert(self.tmp)
        path, _ = self.cfg(cert, key)
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("is valid", r.stdout)
        self.assertIn("expired", r.stderr)
        self.assertIn(cert, r.stderr)

    def test_dev_config_is_valid(self):
        """conf/secho-dev.cfg (what `make run` serves) with certs/ made."""
        subprocess.run(["sh", "certs/gen.sh", "certs"], cwd=h.REPO, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
        r = h.run_secho(["-t", "-c", os.path.join(h.REPO, "conf", "secho-dev.cfg")])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Policy(TlsBase):
    """What a TLS scanner checks, against the default configuration."""

    def test_weak_things_refused(self):
        d = self.start()
        # protocols below TLS 1.2
        for flag in ("-tls1", "-tls1_1"):
            r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.p,
                                flag, "-cipher", "DEFAULT:@SECLEVEL=0"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, flag)
        self.assertTrue(h.wait_until(
            lambda: len(d.events("tls-error", error="unsupported protocol")) >= 2, 10),
            d.tail())
        # TLS 1.2 suites: no CBC, no RSA key exchange, no 3DES/RC4/NULL/anon
        tried = 0
        for cipher in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                       "AES128-GCM-SHA256", "AES128-SHA", "DES-CBC3-SHA", "RC4-SHA",
                       "NULL-SHA", "ECDHE-ECDSA-NULL-SHA", "AECDH-AES128-SHA", "ADH-AES128-SHA"):
            mark = d.mark()
            r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.p,
                                "-tls1_2", "-cipher", cipher + ":@SECLEVEL=0"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            if b"no cipher match" in r.stderr:
                continue        # this OpenSSL cannot even offer it
            tried += 1
            self.assertNotEqual(r.returncode, 0, cipher)
            d.wait_event("tls-error", start=mark, error="no shared cipher")
        self.assertGreaterEqual(tried, 4)

    def test_renegotiation_refused_no_compression(self):
        self.start()
        p, out = self.s_client(["-tls1_2"])
        p.stdin.write(b"hello\n")
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("^hello$", 20, stream="stdout"), out.text())
        self.assertIn("Compression: NONE", out.text())
        p.stdin.write(b"R\n")       # s_client command: renegotiate
        p.stdin.flush()
        self.assertIsNotNone(out.wait_for("RENEGOTIATING", 20), out.text())
        try:
            p.stdin.write(b"after\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass
        p.wait(20)
        self.assertIsNone(out.wait_for("^after$", 2, stream="stdout"),
                          "renegotiation went through:\n" + out.text())
        self.assertIn("no renegotiation", out.text())

    def test_sslscan(self):
        if not shutil.which("sslscan"):
            self.skipTest("sslscan not installed")
        self.start()
        r = subprocess.run(["sslscan", "--no-colour", "127.0.0.1:%d" % self.p],
                           capture_output=True, timeout=300, text=True)
        out = r.stdout
        for proto, state in (("SSLv2", "disabled"), ("SSLv3", "disabled"),
                             ("TLSv1.0", "disabled"), ("TLSv1.1", "disabled"),
                             ("TLSv1.2", "enabled"), ("TLSv1.3", "enabled")):
            self.assertRegex(out, r"(?m)^%s\s+%s" % (proto.replace(".", r"\."), state), out)
        self.assertIn("Session renegotiation not supported", out)
        self.assertTrue("Compression disabled" in out or
                        "does not support compression" in out, out)
        suites = [ln.split() for ln in out.splitlines()
                  if ln.startswith(("Accepted", "Preferred"))]
        self.assertTrue(suites, out)
        for f in suites:
            proto, name = f[1], f[4]
            self.assertIn(proto, ("TLSv1.2", "TLSv1.3"), f)
            for weak in ("RC4", "DES", "NULL", "EXP", "MD5", "ADH", "AECDH", "anon", "PSK"):
                self.assertNotIn(weak, name, f)
            if proto == "TLSv1.2":
                self.assertTrue(name.startswith("ECDHE-") and
                                ("GCM" in name or "CHACHA20" in name), f)
