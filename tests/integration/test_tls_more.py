"""Issue 13 end to end: several certificates (RSA + ECDSA), SNI, ALPN,
OCSP stapling, the key log, with real clients: `openssl s_client`,
`gnutls-cli`, Python's ssl, `tshark` (decrypts a capture with the key
log), `sslscan` and `testssl` (Debian package testssl.sh).

Certificates come from certs/gen.sh (a CA, an ECDSA and an RSA server
certificate, a client certificate) in a temporary directory, plus
certificates for SNI names signed by the same CA, and OCSP responses
made offline with `openssl ocsp` (shared/FACTS.md).
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import harness as h

C = None    # TempDir with the certificates


def openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def issue(name, cn, sans, key="ec"):
    """A server certificate for the DNS names sans, signed by the CA."""
    d = C.path
    if key == "ec":
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", name + ".key",
                cwd=d)
    else:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", name + ".key", cwd=d)
    C.write(name + ".ext", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,"
            "digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
            % ",".join("DNS:" + s for s in sans))
    openssl("req", "-new", "-key", name + ".key", "-subj", "/O=secho test/CN=" + cn,
            "-out", name + ".csr", cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "30", "-sha256", "-extfile", name + ".ext",
            "-out", name + ".pem", cwd=d)
    return C.file(name + ".pem"), C.file(name + ".key")


def ocsp_response(cert, out, status="V"):
    """A DER OCSP response for cert, signed by the CA: good (V) or revoked
    (R), valid 7 days."""
    d = C.path
    serial = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"],
                            capture_output=True, text=True, check=True).stdout
    serial = serial.strip().split("=", 1)[1]
    end = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    end = time.strftime("%y%m%d%H%M%SZ",
                        time.strptime(end.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z"))
    subj = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-nameopt",
                           "compat"], capture_output=True, text=True, check=True).stdout
    subj = subj.strip().split("=", 1)[1]
    rev = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() - 3600)) if status == "R" else ""
    idx = C.write("index-%s.txt" % os.path.basename(out), "%s\t%s\t%s\t%s\tunknown\t%s\n"
                  % (status, end, rev, serial, subj))
    C.write(os.path.basename(idx) + ".attr", "unique_subject = no\n")
    req = out + ".req"
    openssl("ocsp", "-issuer", "ca.pem", "-cert", cert, "-no_nonce", "-reqout", req, cwd=d)
    openssl("ocsp", "-index", idx, "-CA", "ca.pem", "-rsigner", "ca.pem", "-rkey", "ca.key",
            "-reqin", req, "-respout", out, "-ndays", "7", cwd=d)
    return out


def setUpModule():
    global C
    C = h.TempDir("secho-it-tls13-")
    subprocess.run(["sh", os.path.join(h.REPO, "certs", "gen.sh"), C.path], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    issue("echo", "echo.example.org", ["echo.example.org"])
    issue("wild", "*.example.net", ["*.example.net"], key="rsa")
    issue("other", "other.example.org", ["other.example.org"])
    ocsp_response(C.file("server.pem"), C.file("ec-good.der"))
    ocsp_response(C.file("server.pem"), C.file("ec-revoked.der"), "R")
    ocsp_response(C.file("server-rsa.pem"), C.file("rsa-good.der"))


def tearDownModule():
    if C:
        C.cleanup()


def sni_entries(**extra):
    e = [{"names": ["echo.example.org"], "certificate": C.file("echo.pem"),
          "private_key": C.file("echo.key")},
         {"names": ["*.example.net"], "certificate": C.file("wild.pem"),
          "private_key": C.file("wild.key")}]
    for k, v in extra.items():
        e[0][k] = v
    return e


def sni_text(entries):
    return "( " + ", ".join(h.cfg_value(e) for e in entries) + " )"


class Base(h.SechoTestCase):
    def start(self, tls=None, sni=None, limits=None, text_extra=""):
        """A tls listener with both default certificates (ECDSA first)."""
        self.p = self.port()
        t = {"certificate": [C.file("server.pem"), C.file("server-rsa.pem")],
             "private_key": [C.file("server.key"), C.file("server-rsa.key")]}
        t.update(tls or {})
        text = h.config_text([{"proto": "tls", "address": "127.0.0.1", "port": self.p}],
                             tls=t, limits=limits)
        if sni is not None:
            text = text.replace("tls = {\n", "tls = {\n  sni = %s;\n" % sni_text(sni), 1)
        d = self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": self.p}],
                        start=False, tls=t, limits=limits)
        d.rewrite(text=text)
        d.start()
        return d

    def s_client(self, args, data=b"hello\n", timeout=20):
        """One s_client run with -quiet off: its whole output (stdout +
        stderr), after sending data and reading the echo."""
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.p,
                              "-CAfile", C.file("ca.pem"), "-ign_eof"] + list(args),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        try:
            p.stdin.write(data)
            p.stdin.flush()
        except BrokenPipeError:
            pass
        line = data.decode().strip()
        out.wait_for("^%s$" % re.escape(line), timeout, stream="stdout")
        h.stop_popen(p)
        out.join()
        return out.text()

    def ctx(self, version=None):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(C.file("ca.pem"))
        if version:
            c.minimum_version = c.maximum_version = version
        return c

    def connect(self, ctx, name="localhost", session=None):
        raw = socket.create_connection(("127.0.0.1", self.p), timeout=h.IO_TIMEOUT)
        try:
            return ctx.wrap_socket(raw, server_hostname=name, session=session)
        except BaseException:
            raw.close()
            raise

    def pingpong(self, s, data=b"ping"):
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            b = s.recv(len(data) - len(got))
            if not b:
                break
            got += b
        self.assertEqual(got, data)


def peer_cn(s):
    for rdn in s.getpeercert()["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


class DualCertificates(Base):
    """One ECDSA and one RSA certificate: each client gets the one its
    signature algorithms (TLS 1.3) or cipher suites (TLS 1.2) accept."""

    def test_s_client_sigalgs_and_ciphers(self):
        d = self.start()
        cases = [(["-tls1_3", "-sigalgs", "ECDSA+SHA256"], "256 bit"),
                 (["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"], "2048 bit"),
                 (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], "256 bit"),
                 (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "2048 bit"),
                 (["-tls1_2", "-sigalgs", "RSA+SHA256"], "2048 bit")]
        for args, bits in cases:
            out = self.s_client(args + ["-servername", "localhost"])
            self.assertIn("Server public key is %s" % bits, out, (args, out))
            self.assertIn("Verify return code: 0 (ok)", out, args)
            self.assertNotIn("Can't use SSL_get_servername", out, args)
        self.assertTrue(h.wait_until(lambda: len(d.events("close")) == len(cases), 20), d.tail())

    def test_python_rsa_only_client(self):
        """An RSA-only TLS 1.2 client connects to the dual set-up."""
        self.start()
        c = self.ctx(ssl.TLSVersion.TLSv1_2)
        c.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
        with self.connect(c) as s:
            self.pingpong(s, b"rsa only")
            self.assertIn("RSA", s.cipher()[0])

    def test_two_of_one_key_type_is_a_config_error(self):
        path = self.tmp.write("two.cfg", h.config_text(
            [{"proto": "tls", "address": "127.0.0.1", "port": self.port()}],
            tls={"certificate": [C.file("server.pem"), C.file("echo.pem")],
                 "private_key": [C.file("server.key"), C.file("echo.key")]}))
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn("tls.certificate[1]: %s: a second ECDSA certificate" % C.file("echo.pem"),
                      r.stderr)


class Sni(Base):
    def test_s_client_names(self):
        d = self.start(sni=sni_entries())
        for name, cn in (("echo.example.org", "echo.example.org"),
                         ("ECHO.example.ORG", "echo.example.org"),
                         ("a.example.net", "*.example.net"),
                         ("localhost", "localhost")):
            mark = d.mark()
            out = self.s_client(["-servername", name, "-verify_hostname", name.lower(),
                                 "-tlsextdebug"])
            self.assertIn("CN = %s" % cn, out, out)
            self.assertIn("Verify return code: 0 (ok)", out, (name, out))
            # The server acknowledged the name (an empty server_name in its
            # hello; OpenSSL 3.0.19's s_client prints "Can't use
            # SSL_get_servername" only when it sent no name itself).
            self.assertIn('TLS server extension "server name" (id=0), len=0', out, name)
            self.assertNotIn("Can't use SSL_get_servername", out, name)
            e = d.wait_event("close", start=mark)
            self.assertEqual(e.get("sni"), name, e["_line"])
        # Too many labels for the wildcard: the default certificate.
        out = self.s_client(["-servername", "a.b.example.net"])
        self.assertIn("CN = localhost", out)
        # After a HelloRetryRequest (no key share the server takes), the
        # second hello asks for the same name: served by that entry.
        out = self.s_client(["-servername", "echo.example.org", "-groups", "P-521:X25519",
                             "-msg", "-tls1_3"])
        self.assertGreaterEqual(out.count("], ClientHello"), 2, "no HelloRetryRequest")
        self.assertIn("CN = echo.example.org", out)
        self.assertIn("Verify return code: 0 (ok)", out)

    def test_python_server_hostname_and_gnutls(self):
        d = self.start(sni=sni_entries())
        with self.connect(self.ctx(), "echo.example.org") as s:
            self.assertEqual(peer_cn(s), "echo.example.org")
            self.pingpong(s)
        with self.connect(self.ctx(), "www.example.net") as s:
            self.assertEqual(peer_cn(s), "*.example.net")
            self.pingpong(s)
        if not shutil.which("gnutls-cli"):
            self.skipTest("gnutls-cli not installed")
        p = subprocess.run(["gnutls-cli", "--x509cafile", C.file("ca.pem"), "-p", str(self.p),
                            "--sni-hostname", "echo.example.org",
                            "--verify-hostname", "echo.example.org", "127.0.0.1"],
                           input=b"from gnutls\n", capture_output=True, timeout=30)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertIn("from gnutls", p.stdout.decode(), out)
        self.assertIn("echo.example.org", out)
        self.assertIsNotNone(d.wait_event("close", sni="echo.example.org"))

    def test_strict_refuses_unknown_names(self):
        d = self.start(tls={"sni_strict": True}, sni=sni_entries())
        out = self.s_client(["-servername", "nobody.example.com"])
        self.assertIn("unrecognized name", out, out)
        e = d.wait_event("tls-error", error="unrecognized name")
        self.assertEqual(d.wait_event("close", peer=e["peer"])["reason"], "tls-error")
        # The default certificate's own names, the entries' and no name at all pass.
        for name in ("localhost", "echo.example.org", None):
            c = self.ctx()
            if name is None:
                c.check_hostname = False
            with self.connect(c, name) as s:
                self.pingpong(s)

    def test_another_client_ca_under_the_same_name_resumes_nothing(self):
        """verify_client = "require": a reload that puts another CA in
        the client_ca file (same name) must not let sessions made with
        the old CA's certificates resume without a certificate."""
        cafile = self.tmp.file("clients-ca.pem")
        shutil.copy(C.file("ca.pem"), cafile)
        d = self.start(tls={"client_ca": cafile, "verify_client": "require"})
        sessions = {}
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = self.ctx(v)
            c.load_cert_chain(C.file("client.pem"), C.file("client.key"))
            with self.connect(c) as s:
                self.pingpong(s)
                sessions[v] = (c, s.session)
            with self.connect(c, session=sessions[v][1]) as s:
                self.pingpong(s)
                self.assertTrue(s.session_reused)
        other = self.tmp.file("other-ca.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", other,
                        "-subj", "/CN=another CA", "-days", "2", "-out", cafile],
                       check=True, capture_output=True, timeout=60)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        # A resumed handshake sends no certificate; a full one sends the
        # old CA's, which the new one refuses.
        for v, (c, sess) in sessions.items():
            try:
                with self.connect(c, session=sess) as s:
                    s.sendall(b"x")
                    got = s.recv(1)
                    self.assertEqual(got, b"", "served on an old session (reused=%s)"
                                     % s.session_reused)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                pass

    def test_no_resumption_across_client_certificate_rules(self):
        """A session from the default certificates does not resume on an
        entry that requires a client certificate (another session ID
        context), and a refused client cannot get in that way."""
        d = self.start(sni=sni_entries(client_ca=C.file("ca.pem"), verify_client="require"))
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = self.ctx(v)
            with self.connect(c, "localhost") as s:
                self.pingpong(s)
                sess = s.session
            with self.connect(c, "localhost", sess) as s:
                self.pingpong(s)
                self.assertTrue(s.session_reused, "resumes where it was made")
            mark = d.mark()
            try:
                with self.connect(c, "echo.example.org", sess) as s:
                    s.sendall(b"x")
                    s.recv(1)
                    self.fail("served without a client certificate (reused=%s)"
                              % s.session_reused)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                pass
            d.wait_event("tls-error", start=mark)
            c.load_cert_chain(C.file("client.pem"), C.file("client.key"))
            with self.connect(c, "echo.example.org", sess) as s:
                self.pingpong(s)
                self.assertFalse(s.session_reused)
                peer = h.sock_addr_text(s.getsockname())
            e = d.wait_event("close", peer=peer)
            self.assertEqual(e.get("client_subject"), "CN=client-one,O=secho development")

    def test_reload_adds_an_entry(self):
        d = self.start(sni=sni_entries()[:1])
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.connect(self.ctx(), "other.example.org")   # the default one
        entries = sni_entries()[:1] + [{"names": ["other.example.org"],
                                        "certificate": C.file("other.pem"),
                                        "private_key": C.file("other.key")}]
        text = open(d.cfg).read().replace(sni_text(sni_entries()[:1]), sni_text(entries))
        d.rewrite(text=text)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        with self.connect(self.ctx(), "other.example.org") as s:
            self.assertEqual(peer_cn(s), "other.example.org")
            self.pingpong(s)


class Alpn(Base):
    def test_s_client(self):
        d = self.start(tls={"alpn": ["h2", "http/1.1"]})
        out = self.s_client(["-servername", "localhost", "-alpn", "http/1.1,h2"])
        self.assertIn("ALPN protocol: h2", out, "the server's first choice")
        self.assertEqual(d.wait_event("close").get("alpn"), "h2")
        out = self.s_client(["-alpn", "http/1.1"])
        self.assertIn("ALPN protocol: http/1.1", out)
        # No overlap: refused with no_application_protocol, said in words.
        mark = d.mark()
        out = self.s_client(["-alpn", "imap"])
        self.assertIn("no application protocol", out)
        e = d.wait_event("tls-error", start=mark)
        self.assertEqual(e["error"], "no application protocol", e["_line"])
        # A client without ALPN is served as before, with no alpn field.
        mark = d.mark()
        out = self.s_client([])
        self.assertIn("No ALPN negotiated", out)
        self.assertNotIn("alpn", d.wait_event("close", start=mark))

    def test_python_and_gnutls(self):
        d = self.start(tls={"alpn": ["h2", "http/1.1"]})
        c = self.ctx()
        c.set_alpn_protocols(["http/1.1", "h2"])
        with self.connect(c) as s:
            self.assertEqual(s.selected_alpn_protocol(), "h2")
            self.pingpong(s)
        c = self.ctx()
        c.set_alpn_protocols(["smtp"])
        with self.assertRaises((ssl.SSLError, ConnectionResetError)):
            with self.connect(c) as s:
                self.pingpong(s)
        d.wait_event("tls-error", error="no application protocol")
        if not shutil.which("gnutls-cli"):
            self.skipTest("gnutls-cli not installed")
        p = subprocess.run(["gnutls-cli", "--x509cafile", C.file("ca.pem"), "-p", str(self.p),
                            "--alpn", "http/1.1", "localhost"],
                           input=b"alpn via gnutls\n", capture_output=True, timeout=30)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertIn("alpn via gnutls", p.stdout.decode(), out)
        self.assertRegex(out, r"(?i)application protocol: http/1.1", out)

    def test_no_alpn_configured_ignores_the_clients(self):
        d = self.start()
        out = self.s_client(["-alpn", "h2"])
        self.assertIn("No ALPN negotiated", out)
        self.assertNotIn("alpn", d.wait_event("close"))


class Ocsp(Base):
    def test_stapled_per_certificate(self):
        self.start(tls={"ocsp_response": [C.file("ec-good.der"), C.file("rsa-good.der")]})
        for args, bits in ((["-sigalgs", "ECDSA+SHA256"], "256"),
                           (["-sigalgs", "rsa_pss_rsae_sha256"], "2048")):
            out = self.s_client(["-status", "-servername", "localhost"] + args)
            self.assertIn("Server public key is %s bit" % bits, out)
            self.assertIn("OCSP Response Status: successful", out, out)
            self.assertIn("Cert Status: good", out)
        out = self.s_client(["-servername", "localhost"])     # did not ask
        self.assertNotIn("OCSP response:", out)

    def test_only_where_configured(self):
        self.start(tls={"ocsp_response": [C.file("ec-good.der"), ""]})
        out = self.s_client(["-status", "-sigalgs", "rsa_pss_rsae_sha256"])
        self.assertIn("OCSP response: no response sent", out, out)

    def test_wrong_certificate_warns(self):
        """-t and the start warn (not fail) about a response for another
        certificate."""
        path = self.tmp.write("w.cfg", h.config_text(
            [{"proto": "tls", "address": "127.0.0.1", "port": self.port()}],
            tls={"certificate": C.file("server-rsa.pem"), "private_key": C.file("server-rsa.key"),
                 "ocsp_response": C.file("ec-good.der")}))
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: ", r.stderr)
        self.assertIn("%s: the OCSP response is not for the certificate in %s"
                      % (C.file("ec-good.der"), C.file("server-rsa.pem")), r.stderr)
        junk = self.tmp.write("junk.der", "not DER\n")
        path = self.tmp.write("j.cfg", open(path).read().replace(C.file("ec-good.der"), junk))
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn("%s: not a DER OCSP response" % junk, r.stderr)

    def test_reload_rotates_the_response(self):
        live = self.tmp.file("live.der")
        shutil.copy(C.file("ec-good.der"), live)
        d = self.start(tls={"ocsp_response": [live, ""]})
        self.assertIn("Cert Status: good", self.s_client(["-status", "-sigalgs", "ECDSA+SHA256"]))
        shutil.copy(C.file("ec-revoked.der"), live + ".tmp")
        os.rename(live + ".tmp", live)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        out = self.s_client(["-status", "-sigalgs", "ECDSA+SHA256"])
        self.assertIn("Cert Status: revoked", out, out)
        # A broken file: the reload fails, the last good one stays.
        with open(live, "w") as f:
            f.write("garbage")
        mark = d.mark()
        d.signal(signal.SIGHUP)
        e = d.wait_event("reload", start=mark, result="failed")
        self.assertIn(live, e.get("error", ""))
        self.assertIn("Cert Status: revoked", self.s_client(["-status", "-sigalgs",
                                                              "ECDSA+SHA256"]))


class KeyLog(Base):
    def one(self, version, data):
        c = self.ctx(version)
        with self.connect(c) as s:
            self.pingpong(s, data)
            s.unwrap().close()

    def test_only_a_private_regular_file(self):
        """The master is root: a key log path that is a symbolic link
        (it could point anywhere), a FIFO (it would block the master) or
        a file others may read is refused; the reload fails, the master
        keeps serving and answers at once."""
        keys = self.tmp.file("keys.log")
        d = self.start(tls={"keylog_file": keys})
        target = self.tmp.file("victim")
        with open(target, "w") as f:
            f.write("x\n")
        for make, why in ((lambda: os.symlink(target, keys), "symbolic link"),
                          (lambda: os.mkfifo(keys, 0o600), "not a regular file"),
                          (lambda: (open(keys, "w").close(), os.chmod(keys, 0o644)),
                           "readable by it only")):
            os.unlink(keys)
            make()
            mark = d.mark()
            d.signal(signal.SIGHUP)
            ev = d.wait_event("reload", 10, start=mark)
            self.assertEqual(ev["result"], "failed", ev["_line"])
            self.assertIn(why, ev["error"])
            with self.connect(self.ctx()) as s:
                self.pingpong(s)
        with open(target) as f:
            self.assertEqual(f.read(), "x\n")

    def test_capture_decrypts_to_the_echo(self):
        if not shutil.which("tshark"):
            self.skipTest("tshark not installed (make deps installs it)")
        keys = self.tmp.file("keys.log")
        d = self.start(tls={"keylog_file": keys})
        self.assertEqual(d.wait_event("keylog")["file"], keys)
        self.assertEqual(os.stat(keys).st_mode & 0o777, 0o600)
        cap = self.tmp.file("cap.pcapng")
        p = subprocess.Popen(["tshark", "-i", "lo", "-f", "tcp port %d" % self.p, "-w", cap],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        # "Capturing on" comes before the capture does: wait for this.
        self.assertIsNotNone(out.wait_for("Capture started", 60), out.text())
        time.sleep(0.5)
        msgs = {ssl.TLSVersion.TLSv1_3: b"thirteen-" + os.urandom(6).hex().encode(),
                ssl.TLSVersion.TLSv1_2: b"twelve-" + os.urandom(6).hex().encode()}
        for v, data in msgs.items():
            self.one(v, data)
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        p.wait(30)
        dump = lambda *o: subprocess.run(
            ["tshark", "-r", cap, "-d", "tcp.port==%d,tls" % self.p] + list(o) + ["-Y", "data", "-T", "fields", "-e", "data.data"],
            capture_output=True, text=True, timeout=120).stdout
        plain = [bytes.fromhex(x) for x in dump("-o", "tls.keylog_file:" + keys).split()]
        for data in msgs.values():
            # Both ways: the client's bytes and their echo.
            self.assertEqual(plain.count(data), 2, (data, plain))
        self.assertEqual(dump().split(), [], "nothing decrypts without the key log")
        with open(keys) as f:
            lines = f.read().splitlines()
        labels = {ln.split()[0] for ln in lines}
        self.assertIn("CLIENT_RANDOM", labels)              # TLS 1.2
        self.assertIn("CLIENT_TRAFFIC_SECRET_0", labels)    # TLS 1.3
        for ln in lines:
            self.assertRegex(ln, r"^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}$")

    def test_whole_lines_from_concurrent_connections(self):
        keys = self.tmp.file("k.log")
        d = self.start(tls={"keylog_file": keys})
        socks = [self.connect(self.ctx()) for _ in range(20)]
        for s in socks:
            self.pingpong(s)
            s.close()
        self.assertTrue(h.wait_until(lambda: len(d.events("close")) == 20, 20))
        with open(keys) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 20 * 5)    # 5 secrets per TLS 1.3 connection
        for ln in lines:
            self.assertRegex(ln, r"^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}$")
        # A reload says it again; the file is opened anew.
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        self.assertEqual(d.wait_event("keylog", start=mark)["file"], keys)
        # Only the TLS engine and its connections hold it.
        def holds(pid):
            try:    # the secho-tls before the reload may end meanwhile
                return any(os.path.realpath("/proc/%d/fd/%s" % (pid, fd)) == keys
                           for fd in os.listdir("/proc/%d/fd" % pid))
            except OSError:
                return False
        held = [pid for pid in [d.pid] + d.children() + sum(
            (h.children(k) for k in d.children()), []) if holds(pid)]
        self.assertIn(d.pid, held)
        for pid in held:
            self.assertIn(h.proc_comm(pid), ("secho", "secho-tls"), pid)

    def test_only_tls_processes_hold_the_file(self):
        """The master, secho-tls and its connections hold the key log;
        secho-tcp, its connections and the UDP worker do not."""
        keys = self.tmp.file("k2.log")
        tcp, udp, self.p = self.port(), self.port(), self.port()
        d = self.daemon([{"proto": "tcp", "address": "127.0.0.1", "port": tcp},
                         {"proto": "udp", "address": "127.0.0.1", "port": udp},
                         {"proto": "tls", "address": "127.0.0.1", "port": self.p}],
                        tls={"certificate": C.file("server.pem"),
                             "private_key": C.file("server.key"), "keylog_file": keys})
        plain = h.tcp_connect("127.0.0.1", tcp)
        self.addCleanup(plain.close)
        self.pingpong(plain, b"plain")
        s = self.connect(self.ctx())
        self.addCleanup(s.close)
        self.pingpong(s, b"tls")

        def holds(pid):
            try:
                return any(os.path.realpath("/proc/%d/fd/%s" % (pid, fd)) == keys
                           for fd in os.listdir("/proc/%d/fd" % pid))
            except OSError:
                return False
        procs = {d.pid: "master"}
        for k in h.children(d.pid):
            procs[k] = h.proc_comm(k)
            for g in h.children(k):
                procs[g] = "conn of " + h.proc_comm(k)
        kinds = {v for v in procs.values()}
        for want in ("secho-tls", "secho-tcp", "conn of secho-tls", "conn of secho-tcp"):
            self.assertIn(want, kinds, procs)
        held = {procs[p] for p in procs if holds(p)}
        self.assertEqual(held, {"master", "secho-tls", "conn of secho-tls"}, procs)
        self.assertTrue(any(v not in ("master", "secho-tls", "secho-tcp") and
                            not v.startswith("conn") for v in kinds), "a UDP worker: %s" % procs)

    def test_unwritable_is_a_start_error(self):
        d = self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": self.port()}],
                        start=False, tls={"certificate": C.file("server.pem"),
                                          "private_key": C.file("server.key"),
                                          "keylog_file": "/nonexistent/dir/keys"})
        r = h.run_secho(["-f", "-c", d.cfg])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn("tls.keylog_file: /nonexistent/dir/keys", r.stderr)
        r = h.run_secho(["-t", "-c", d.cfg])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)


class Scanners(Base):
    def test_sslscan(self):
        if not shutil.which("sslscan"):
            self.skipTest("sslscan not installed")
        self.start(tls={"ocsp_response": [C.file("ec-good.der"), C.file("rsa-good.der")]})
        r = subprocess.run(["sslscan", "--no-colour", "--ocsp", "127.0.0.1:%d" % self.p],
                           capture_output=True, timeout=300, text=True)
        out = r.stdout
        for proto in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
            self.assertRegex(out, r"(?m)^%s\s+disabled" % proto.replace(".", r"\."), out)
        suites = [ln.split() for ln in out.splitlines() if ln.startswith(("Accepted", "Preferred"))]
        names = [f[4] for f in suites]
        self.assertTrue(any("ECDHE-RSA" in n for n in names), "the RSA certificate: " + out)
        self.assertTrue(any("ECDHE-ECDSA" in n for n in names), "the ECDSA one: " + out)
        for f in suites:
            for weak in ("RC4", "DES", "NULL", "EXP", "MD5", "ADH", "AECDH", "anon", "CBC"):
                self.assertNotIn(weak, f[4], f)
        self.assertIn("OCSP Response Status: successful", out, out)

    def test_testssl(self):
        """testssl (one run, ~40 s): no weak protocol or cipher, both
        certificates seen, OCSP stapling offered for each."""
        if not shutil.which("testssl"):
            self.skipTest("testssl not installed (package testssl.sh; make deps)")
        self.start(tls={"ocsp_response": [C.file("ec-good.der"), C.file("rsa-good.der")]})
        js = self.tmp.file("testssl.json")
        subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off",
                        "--add-ca", C.file("ca.pem"), "-p", "-S", "-s",
                        "--jsonfile-pretty", js, "127.0.0.1:%d" % self.p],
                       capture_output=True, timeout=600)
        with open(js) as f:
            res = json.load(f)["scanResult"][0]
        protos = {f["id"]: f for f in res["protocols"]}
        for pid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertIn("not offered", protos[pid]["finding"], protos[pid])
        for pid in ("TLS1_2", "TLS1_3"):
            self.assertTrue(protos[pid]["finding"].startswith("offered"), protos[pid])
        for f in res["ciphers"]:
            if f["id"] == "cipherlist_STRONG":
                self.assertEqual(f["finding"], "offered")
            else:
                self.assertIn("not offered", f["finding"], f)
                self.assertIn(f["severity"], ("OK", "INFO"), f)
        defaults = res["serverDefaults"]
        self.assertEqual([f["finding"] for f in defaults if f["id"] == "cert_numbers"], ["2"])
        stapling = [f["finding"] for f in defaults if f["id"].startswith("OCSP_stapling")]
        self.assertEqual(stapling, ["offered", "offered"], defaults)


class ConfigErrors(Base):
    def test_shared_file_reported_once(self):
        """Two tls listeners share the global group's missing certificate:
        -t and a start say so once."""
        missing = self.tmp.file("gone.pem")
        text = h.config_text([{"proto": "tls", "address": "127.0.0.1", "port": self.port()},
                              {"proto": "tls", "address": "::1", "port": self.port()}],
                             tls={"certificate": missing, "private_key": C.file("server.key")})
        path = self.tmp.write("shared.cfg", text)
        for args in (["-t"], ["-f"]):
            r = h.run_secho(args + ["-c", path])
            self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
            self.assertEqual(r.stderr.count("%s: No such file or directory" % missing), 1,
                             r.stderr)
        # Warnings too: an expired response for a shared certificate.
        text = h.config_text([{"proto": "tls", "address": "127.0.0.1", "port": self.port()},
                              {"proto": "tls", "address": "::1", "port": self.port()}],
                             tls={"certificate": C.file("server-rsa.pem"),
                                  "private_key": C.file("server-rsa.key"),
                                  "ocsp_response": C.file("ec-good.der")})
        path = self.tmp.write("shared2.cfg", text)
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("is not for the certificate"), 1, r.stderr)

    def test_did_you_mean(self):
        text = h.config_text([{"proto": "tcp", "address": "127.0.0.1", "port": self.port()}],
                             limits={"idle_timout": 5})
        r = h.run_secho(["-t", "-c", self.tmp.write("dym.cfg", text)])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn('unknown setting "limits.idle_timout"; did you mean "idle_timeout"?',
                      r.stderr)
