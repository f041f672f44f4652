"""secho-ping, the echo client (SPEC: "The client: secho-ping"; issue 12).

Against a real secho (TCP, UDP, TLS 1.2 and 1.3, client certificates,
-N, --resume, -m, -j, -q, SIGINT), against third-party echo servers
(xinetd's internal echo, socat PIPE, ncat --exec /bin/cat, stunnel in
front of a plain echo), against small misbehaving servers written here
(corrupting, dropping, slow, late, closing mid-echo, silent, echoing
byte by byte), and in monitoring mode (OK, WARNING, CRITICAL, UNKNOWN,
--cert-days).  PingReview holds a test per finding of the code review
(idle-closed connections, stale UDP echoes, a byte too few or too many,
...), some with a preloaded library that makes a rare moment happen every
time.  Loopback only, random free ports; every process started here is
stopped by its PID (or its own process group)."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

import harness as h

PING_TIMEOUT = 120        # s for one secho-ping run (the machine may be loaded)

PROBE_RE = r"^(\d+) bytes from (\S+): seq=(\d+) time=(\d+\.\d{3}) ms"
STATS_RE = (r"^(\d+) probes sent, (\d+) echoed, (\d+) lost, (\d+) corrupted, "
            r"([\d.]+)% loss, time (\d+) ms$")
RTT_RE = r"^rtt min/avg/max/mdev = (\d+\.\d{3})/(\d+\.\d{3})/(\d+\.\d{3})/(\d+\.\d{3}) ms$"
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: ")


def ping_bin():
    path = os.environ.get("SECHO_PING_BIN", "build/secho-ping")
    if not os.path.isabs(path):
        path = os.path.join(h.REPO, path)
    return path


class Run:
    """A finished secho-ping run: rc, out, err, elapsed (s)."""

    def __init__(self, rc, out, err, elapsed, raw=b""):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed
        self.raw = raw          # stdout as bytes

    def lines(self):
        return self.out.splitlines()

    def stats(self):
        """(sent, echoed, lost, corrupted, loss, time_ms) of the summary."""
        for line in self.lines():
            m = re.match(STATS_RE, line)
            if m:
                g = m.groups()
                return (int(g[0]), int(g[1]), int(g[2]), int(g[3]), float(g[4]), int(g[5]))
        raise AssertionError("no statistics line in:\n%s\nstderr:\n%s" % (self.out, self.err))

    def probes(self):
        return [re.match(PROBE_RE, l) for l in self.lines() if re.match(PROBE_RE, l)]

    def __str__(self):
        return "rc=%s after %.2fs\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.elapsed, self.out, self.err)


class PingCase(h.SechoTestCase):
    """Runs secho-ping; starts and stops helper servers."""

    def setUp(self):
        super().setUp()
        if not os.access(ping_bin(), os.X_OK):
            self.fail("secho-ping binary %s not found (make build/secho-ping, "
                      "or set SECHO_PING_BIN)" % ping_bin())

    def ping(self, *args, timeout=PING_TIMEOUT, env=None, preexec_fn=None):
        cmd = [ping_bin()] + [str(a) for a in args]
        t0 = time.monotonic()
        if env is not None:
            env = dict(os.environ, **env)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, env=env,
                             preexec_fn=preexec_fn)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            out, err = p.communicate(timeout=10)
            self.fail("secho-ping %s did not end within %ds:\n%s" % (args, timeout, out.decode()))
        r = Run(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                time.monotonic() - t0, out)
        m = SANITIZER.search(r.err)
        if m:
            self.fail("sanitizer report from secho-ping:\n" + r.err[max(0, m.start() - 200):][:3000])
        return r

    def start_proc(self, cmd, **kw):
        """A helper server in its own process group, stopped in cleanup."""
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True, **kw)
        self.addCleanup(self._stop_group, p)
        return p

    @staticmethod
    def _stop_group(p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)   # the group we created: p and its forks
            except ProcessLookupError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        else:
            try:
                os.killpg(p.pid, signal.SIGKILL)    # forks left behind
            except (ProcessLookupError, PermissionError):
                pass
        if p.stderr:
            p.stderr.close()

    def wait_tcp(self, port, proc=None):
        ok = h.wait_until(lambda: (proc is not None and proc.poll() is not None)
                          or not h.tcp_refused("127.0.0.1", port), 20)
        if proc is not None and proc.poll() is not None:
            self.fail("server %s exited: %s" % (proc.args, proc.stderr.read().decode()))
        self.assertTrue(ok, "nothing listens on TCP %d" % port)

    def wait_udp(self, port, proc=None):
        ok = h.wait_until(lambda: h.listening_inode(port, "udp"), 20)
        if proc is not None and proc.poll() is not None:
            self.fail("server %s exited: %s" % (proc.args, proc.stderr.read().decode()))
        self.assertTrue(ok, "nothing listens on UDP %d" % port)

    def need(self, *progs):
        for prog in progs:
            if shutil.which(prog) is None:
                self.skipTest("%s is not installed (make deps installs it)" % prog)

    def assert_all_echoed(self, r, n):
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(r.stats()[:4], (n, n, 0, 0), str(r))


class SechoServer(PingCase):
    """A secho with TCP, UDP and TLS listeners."""

    def start_secho(self, tls=None, listener_tls=None, limits=None):
        self.ca, self.cert, self.key = h.repo_certs()
        self.p = self.port()
        self.ptls = self.port()
        t = {"certificate": self.cert, "private_key": self.key}
        t.update(tls or {})
        tls_l = {"proto": "tls", "address": "127.0.0.1", "port": self.ptls}
        if listener_tls:
            tls_l["tls"] = listener_tls
        lst = [{"proto": "tcp", "address": "127.0.0.1", "port": self.p},
               {"proto": "udp", "address": "127.0.0.1", "port": self.p},
               tls_l]
        if h.HAVE_IPV6:
            lst.append({"proto": "tcp", "address": "::1", "port": self.p})
        lim = {"udp_rate_per_host": 0}
        lim.update(limits or {})
        self.d = self.daemon(lst, tls=t, limits=lim)
        return self.d


class PingSecho(SechoServer):
    def test_tcp_output_as_spec(self):
        self.start_secho()
        r = self.ping("-c", 3, "-i", 0.1, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 3)
        lines = r.lines()
        self.assertEqual(lines[0], "SECHO-PING 127.0.0.1:%d (tcp): 64 bytes per probe" % self.p)
        for i, m in enumerate(r.probes(), 1):
            self.assertEqual((m.group(1), m.group(2), m.group(3)), ("64", "127.0.0.1:%d" % self.p, str(i)))
        self.assertEqual(len(r.probes()), 3)
        self.assertEqual(lines[4], "--- 127.0.0.1:%d secho-ping statistics ---" % self.p)
        self.assertRegex(lines[5], STATS_RE)
        m = re.match(RTT_RE, lines[6])
        self.assertIsNotNone(m, str(r))
        mn, avg, mx, _ = (float(x) for x in m.groups())
        self.assertTrue(0 < mn <= avg <= mx, str(r))
        self.assertGreaterEqual(r.stats()[5], 200)     # two intervals of 0.1 s
        self.assertEqual(len(lines), 7)
        # one connection for all probes, 3 x 64 bytes each way
        close = self.d.wait_event("close", proto="tcp")
        self.assertEqual((close["bytes_in"], close["bytes_out"]), ("192", "192"))
        self.assertEqual(len(self.d.events("connect", proto="tcp")), 1)

    @unittest.skipUnless(h.HAVE_IPV6, "no IPv6 on loopback")
    def test_tcp_ipv6(self):
        self.start_secho()
        r = self.ping("-6", "-c", 2, "-i", 0, "::1", self.p)
        self.assert_all_echoed(r, 2)
        self.assertIn("SECHO-PING [::1]:%d (tcp)" % self.p, r.out)
        self.assertIn("64 bytes from [::1]:%d: seq=1" % self.p, r.out)

    def test_tcp_large_payload_reassembled(self):
        self.start_secho()
        r = self.ping("-c", 3, "-i", 0, "-s", 1000000, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 3)
        self.assertIn("1000000 bytes from", r.out)

    def test_udp_sizes(self):
        self.start_secho()
        for size in (64, 1400, 65507):
            r = self.ping("-u", "-c", 3, "-i", 0.05, "-s", size, "127.0.0.1", self.p)
            self.assert_all_echoed(r, 3)
            self.assertIn("SECHO-PING 127.0.0.1:%d (udp): %d bytes per probe" % (self.p, size), r.out)
            self.assertEqual([m.group(1) for m in r.probes()], [str(size)] * 3)

    def test_udp_too_large_is_usage_error(self):
        r = self.ping("-u", "-s", 65508, "127.0.0.1", 7)
        self.assertEqual(r.rc, 64, str(r))
        self.assertIn("65507", r.err)
        self.assertEqual(r.out, "")

    def tls_run(self, version, name):
        mark = self.d.mark()
        r = self.ping("-S", "--ca", self.ca, "--tls-version", version, "-c", 2, "-i", 0.05,
                      "localhost", self.ptls)
        self.assert_all_echoed(r, 2)
        lines = r.lines()
        self.assertEqual(lines[0], "SECHO-PING localhost at 127.0.0.1:%d (tls): 64 bytes per probe" % self.ptls)
        self.assertRegex(lines[1], r"^TLS: %s \S+, certificate CN=localhost,O=secho development "
                                   r"\(expires \d{4}-\d\d-\d\d, in \d+ days\), verified$" % re.escape(name))
        close = self.d.wait_event("close", proto="tls", start=mark)
        self.assertEqual(close["tls_version"], name)
        self.assertIn(" %s, " % close["cipher"], lines[1])
        return r

    def test_tls12_and_tls13(self):
        self.start_secho()
        self.tls_run("1.3", "TLSv1.3")
        self.tls_run("1.2", "TLSv1.2")

    def test_tls_ip_literal_checked_as_address(self):
        self.start_secho()
        r = self.ping("-S", "--ca", self.ca, "-c", 1, "127.0.0.1", self.ptls)
        self.assert_all_echoed(r, 1)        # the certificate has IP:127.0.0.1
        r = self.ping("-S", "--ca", self.ca, "--sni", "other.example", "-c", 1, "127.0.0.1", self.ptls)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("certificate verify failed: hostname mismatch", r.err)

    def test_tls_verify_failures_in_words(self):
        self.start_secho()
        # the development CA is not in the system store
        r = self.ping("-S", "-c", 1, "localhost", self.ptls)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "
                      "unable to get local issuer certificate" % self.ptls, r.err)
        # --insecure: explicit, and it says so
        r = self.ping("-S", "--insecure", "-c", 1, "localhost", self.ptls)
        self.assert_all_echoed(r, 1)
        self.assertIn("--insecure", r.err)
        self.assertRegex(r.out, r"(?m)^TLS: .*, not verified$")

    def test_tls_self_signed(self):
        cert, key = h.make_cert(self.tmp, "self")
        p = self.port()
        self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": p}],
                    tls={"certificate": cert, "private_key": key})
        r = self.ping("-S", "-c", 1, "localhost", p)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("certificate verify failed: self-signed certificate", r.err)
        r = self.ping("-S", "--ca", cert, "-c", 1, "localhost", p)
        self.assert_all_echoed(r, 1)

    def test_client_certificate(self):
        ca, _, _ = h.repo_certs()
        self.start_secho(tls={"client_ca": ca, "verify_client": "require"})
        ccert = os.path.join(h.REPO, "certs", "client.pem")
        ckey = os.path.join(h.REPO, "certs", "client.key")
        r = self.ping("-S", "--ca", self.ca, "--cert", ccert, "--key", ckey, "-c", 2, "-i", 0,
                      "localhost", self.ptls)
        self.assert_all_echoed(r, 2)
        close = self.d.wait_event("close", proto="tls")
        self.assertEqual(close["client_subject"], "CN=client-one,O=secho development")
        # refused without one: TLS 1.3 says so only at the first read
        for version, words in (("1.3", "certificate required"), ("1.2", "handshake failure")):
            r = self.ping("-S", "--ca", self.ca, "--tls-version", version, "-c", 2, "localhost", self.ptls)
            self.assertEqual(r.rc, 2, str(r))
            self.assertIn(words, r.err)
            self.assertIn("--cert", r.err)       # the hint
            self.assertNotRegex(r.out, r"probes sent")

    def test_new_connection_per_probe(self):
        self.start_secho()
        r = self.ping("-N", "-c", 3, "-i", 0, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 3)
        for line in r.lines()[1:4]:
            self.assertRegex(line, PROBE_RE + r" connect=\d+\.\d{3} ms$")
        h.wait_until(lambda: len(self.d.events("close", proto="tcp")) >= 3, 20)
        self.assertEqual(len(self.d.events("connect", proto="tcp")), 3)
        r = self.ping("-S", "-N", "--ca", self.ca, "-c", 2, "-i", 0, "localhost", self.ptls)
        self.assert_all_echoed(r, 2)
        for line in r.lines()[2:4]:
            self.assertRegex(line, PROBE_RE + r" connect=\d+\.\d{3} ms handshake=\d+\.\d{3} ms$")

    def resume_run(self, version):
        r = self.ping("-S", "-N", "--resume", "--ca", self.ca, "--tls-version", version,
                      "-c", 4, "-i", 0, "localhost", self.ptls)
        self.assert_all_echoed(r, 4)
        tail = [l.rsplit(" ms ", 1)[1] for l in r.lines() if re.match(PROBE_RE, l)]
        return r, tail

    def test_resume(self):
        self.start_secho()
        for version in ("1.3", "1.2"):
            r, tail = self.resume_run(version)
            self.assertEqual(tail, ["new session", "resumed", "resumed", "resumed"], str(r))
            j = json.loads(self.ping("-S", "-N", "--resume", "--ca", self.ca, "--tls-version",
                                     version, "-c", 3, "-i", 0, "-j", "localhost", self.ptls).out)
            self.assertEqual(j["tls"]["resumed"], 2)
        # negative control: a server without tickets resumes nothing
        self.d.stop()
        self.start_secho(tls={"session_tickets": False})
        r, tail = self.resume_run("1.3")
        self.assertEqual(tail, ["new session"] * 4, str(r))

    def test_message(self):
        self.start_secho()
        r = self.ping("-m", "hello secho", "-c", 2, "-i", 0, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 2)
        self.assertEqual([l for l in r.lines() if l.startswith("Received: ")],
                         ["Received: hello secho"] * 2)
        close = self.d.wait_event("close", proto="tcp")
        self.assertEqual(close["bytes_in"], "22")        # no newline added
        r = self.ping("-u", "-m", "über udp", "-c", 1, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 1)
        self.assertIn("Received: über udp\n", r.out)

    def test_json(self):
        self.start_secho()
        r = self.ping("-S", "--ca", self.ca, "-j", "-c", 3, "-i", 0, "localhost", self.ptls)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(len(r.lines()), 1)
        j = json.loads(r.out)
        self.assertEqual(set(j), {"host", "port", "proto", "sent", "echoed", "lost", "corrupted",
                                  "loss_percent", "rtt_ms", "tls"})
        self.assertEqual((j["host"], j["port"], j["proto"]), ("localhost", self.ptls, "tls"))
        self.assertEqual((j["sent"], j["echoed"], j["lost"], j["corrupted"], j["loss_percent"]),
                         (3, 3, 0, 0, 0))
        self.assertEqual(set(j["rtt_ms"]), {"min", "avg", "max", "mdev"})
        self.assertTrue(0 < j["rtt_ms"]["min"] <= j["rtt_ms"]["avg"] <= j["rtt_ms"]["max"])
        self.assertEqual(set(j["tls"]), {"version", "cipher", "verified", "resumed", "alpn",
                                         "subject", "not_after"})
        self.assertEqual(j["tls"]["verified"], True)
        self.assertEqual(j["tls"]["alpn"], None)
        self.assertEqual(j["tls"]["subject"], "CN=localhost,O=secho development")
        self.assertRegex(j["tls"]["not_after"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # nothing echoed: rtt_ms is null (a UDP port where nobody listens)
        r = self.ping("-u", "-j", "-c", 2, "-i", 0, "-W", 0.3, "127.0.0.1", self.port())
        self.assertEqual(r.rc, 1, str(r))
        j = json.loads(r.out)
        self.assertEqual((j["proto"], j["sent"], j["lost"], j["rtt_ms"]), ("udp", 2, 2, None))
        self.assertNotIn("tls", j)

    def test_quiet(self):
        self.start_secho()
        r = self.ping("-q", "-c", 3, "-i", 0, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 3)
        self.assertEqual(r.probes(), [])
        self.assertEqual(len(r.lines()), 4)     # header and the summary

    def test_sigint_ends_with_statistics(self):
        self.start_secho()
        p = subprocess.Popen([ping_bin(), "-i", "0.1", "127.0.0.1", str(self.p)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        self.assertIsNotNone(out.wait_for(r"seq=3 ", 30), out.text())
        p.send_signal(signal.SIGINT)
        p.wait(20)
        out.join(5)
        r = Run(p.returncode, out.text("stdout"), out.text("stderr"), 0)
        self.assertEqual(r.rc, 0, str(r))
        sent, echoed, lost, corrupted, _, _ = r.stats()
        self.assertGreaterEqual(sent, 3)
        self.assertEqual((echoed, lost, corrupted), (sent, 0, 0))
        self.assertRegex(r.out, "(?m)" + RTT_RE)

    def test_alpn_offered(self):
        # a TLS echo with ALPN in Python (this secho has no tls.alpn yet)
        import ssl
        ca, cert, key = h.repo_certs()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["echo", "h2"])

        def handler(c, srv):
            c.settimeout(10)
            try:
                t = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError):
                return
            while True:
                b = recv_some(t, srv)
                if not b:
                    return
                t.sendall(b)
        s = FaultServer(handler)
        self.addCleanup(s.stop)
        r = self.ping("-S", "--ca", ca, "--alpn", "h2,http/1.1", "-c", 1, "-j", "localhost", s.port)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(json.loads(r.out)["tls"]["alpn"], "h2")
        r = self.ping("-S", "--ca", ca, "--alpn", "h2", "-c", 1, "localhost", s.port)
        self.assertRegex(r.out, r"(?m)^TLS: TLSv1\.3 \S+ ALPN h2, certificate ")
        # no protocol in common: this server goes on without ALPN
        r = self.ping("-S", "--ca", ca, "--alpn", "imap", "-c", 1, "-j", "localhost", s.port)
        self.assertEqual(r.rc, 0, str(r))
        self.assertIsNone(json.loads(r.out)["tls"]["alpn"])


class PingErrors(PingCase):
    def test_cannot_run(self):
        r = self.ping("-c", 1, "nosuch.invalid")
        self.assertEqual(r.rc, 2, str(r))
        self.assertRegex(r.err, r"^secho-ping: cannot resolve nosuch\.invalid: ")
        port = self.port()
        r = self.ping("-c", 1, "127.0.0.1", port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertEqual(r.err, "secho-ping: cannot connect to 127.0.0.1:%d: connection refused\n" % port)
        r = self.ping("-S", "-c", 1, "127.0.0.1", port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("connection refused", r.err)

    def test_dtls_without_server(self):
        """-S -u is DTLS (issue 14): nothing listening is a failure to
        run (2), CRITICAL in monitoring mode."""
        port = self.port()
        r = self.ping("-S", "-u", "-c", 1, "-W", "1", "127.0.0.1", port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("TLS handshake with 127.0.0.1:%d failed" % port, r.err)
        r = self.ping("-S", "-u", "-W", "1", "--warning", "1,1", "127.0.0.1", port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertRegex(r.out, r"^SECHO-PING CRITICAL - ")

    def test_usage_errors(self):
        for args in (["-4", "-6", "h"], ["-s", "9", "-m", "x", "h"], ["--ca", "f", "h"],
                     ["-S", "--resume", "h"], ["-c", "0", "h"], ["h", "99999"], []):
            r = self.ping(*args)
            self.assertEqual(r.rc, 64, "%s: %s" % (args, r))
            self.assertTrue(r.err.startswith("secho-ping: "), r.err)
            self.assertEqual(r.out, "")
        r = self.ping("-h")
        self.assertEqual(r.rc, 0)
        self.assertIn("usage: secho-ping", r.out)


# ---------------------------------------------------------------------------
# Third-party echo servers

class PingThirdParty(PingCase):
    def test_xinetd_internal_echo(self):
        self.need("xinetd")
        port = self.port()
        conf = self.tmp.write("xinetd.conf", """
defaults
{
	instances	= UNLIMITED
	per_source	= UNLIMITED
	log_on_success	=
	log_on_failure	=
}
service echo
{
	type		= INTERNAL UNLISTED
	id		= echo-stream
	socket_type	= stream
	protocol	= tcp
	port		= %d
	bind		= 127.0.0.1
	user		= root
	wait		= no
}
service echo
{
	type		= INTERNAL UNLISTED
	id		= echo-dgram
	socket_type	= dgram
	protocol	= udp
	port		= %d
	bind		= 127.0.0.1
	user		= root
	wait		= yes
}
""" % (port, port))
        p = self.start_proc(["xinetd", "-dontfork", "-f", conf, "-pidfile", self.tmp.file("xinetd.pid")])
        self.wait_tcp(port, p)
        self.wait_udp(port, p)
        r = self.ping("-c", 3, "-i", 0.05, "127.0.0.1", port)
        self.assert_all_echoed(r, 3)
        r = self.ping("-u", "-c", 3, "-i", 0.2, "127.0.0.1", port)
        self.assert_all_echoed(r, 3)
        # xinetd cuts datagrams at 2 KiB: told as corruption at byte 2049
        r = self.ping("-u", "-c", 1, "-s", 4000, "127.0.0.1", port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("CORRUPTED", r.out)
        self.assertEqual(r.stats()[:4], (1, 0, 0, 1))

    def test_socat_pipe(self):
        self.need("socat")
        port = self.port()
        p = self.start_proc(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port, "PIPE"])
        q = self.start_proc(["socat", "UDP-RECVFROM:%d,bind=127.0.0.1,fork" % port, "PIPE"])
        self.wait_tcp(port, p)
        self.wait_udp(port, q)
        self.assert_all_echoed(self.ping("-c", 3, "-i", 0, "127.0.0.1", port), 3)
        self.assert_all_echoed(self.ping("-N", "-c", 2, "-i", 0, "127.0.0.1", port), 2)
        self.assert_all_echoed(self.ping("-u", "-c", 3, "-i", 0.05, "127.0.0.1", port), 3)

    def test_ncat_exec_cat(self):
        self.need("ncat")
        port = self.port()
        p = self.start_proc(["ncat", "-l", "127.0.0.1", str(port), "--keep-open", "--exec", "/bin/cat"])
        self.wait_tcp(port, p)
        self.assert_all_echoed(self.ping("-c", 3, "-i", 0, "127.0.0.1", port), 3)
        self.assert_all_echoed(self.ping("-m", "ncat", "-N", "-c", 2, "-i", 0, "127.0.0.1", port), 2)

    def test_stunnel_in_front_of_plain_echo(self):
        self.need("stunnel4", "socat")
        ca, cert, key = h.repo_certs()
        back, front = self.port(), self.port()
        b = self.start_proc(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % back, "PIPE"])
        conf = self.tmp.write("stunnel.conf", "foreground = yes\npid =\ndebug = 3\n"
                              "[echo]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                              "cert = %s\nkey = %s\n" % (front, back, cert, key))
        s = self.start_proc(["stunnel4", conf])
        self.wait_tcp(back, b)
        self.wait_tcp(front, s)
        r = self.ping("-S", "--ca", ca, "-c", 3, "-i", 0, "localhost", front)
        self.assert_all_echoed(r, 3)
        self.assertRegex(r.out, r"(?m)^TLS: TLSv1\.3 .*, verified$")
        r = self.ping("-S", "--ca", ca, "-N", "--resume", "-c", 3, "-i", 0, "localhost", front)
        self.assert_all_echoed(r, 3)


# ---------------------------------------------------------------------------
# Misbehaving servers

class FaultServer:
    """A loopback TCP or UDP server in a thread; handler(sock, server) per
    connection (TCP) or handler(sock, server) once (UDP).  stop() closes
    everything and joins the threads."""

    def __init__(self, handler, udp=False):
        self.handler = handler
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", h.free_port()))
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.threads = []
        if udp:
            self._spawn(self.handler, self.sock)
        else:
            self.sock.listen(16)
            self._spawn(self._accept)

    def _spawn(self, fn, *args):
        t = threading.Thread(target=self._guard, args=(fn,) + args, daemon=True)
        t.start()
        self.threads.append(t)

    def _guard(self, fn, *args):
        try:
            if args:
                fn(args[0], self)
            else:
                fn()
        except OSError:
            pass

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(c)
            self._spawn(self.handler, c)

    def stop(self):
        self.stopping.set()
        for s in [self.sock] + self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(10)


def recv_some(sock, server, n=65536):
    """recv that gives up when the server stops (b'' then)."""
    sock.settimeout(0.2)
    while not server.stopping.is_set():
        try:
            return sock.recv(n)
        except socket.timeout:
            continue
    return b""


def recvfrom_some(sock, server):
    sock.settimeout(0.2)
    while not server.stopping.is_set():
        try:
            return sock.recvfrom(70000)
        except socket.timeout:
            continue
    return None, None


class PingFaults(PingCase):
    def serve(self, handler, udp=False):
        s = FaultServer(handler, udp)
        self.addCleanup(s.stop)
        return s

    def test_corrupted_byte_tcp(self):
        def handler(c, srv):
            seen = 0
            while True:
                b = bytearray(recv_some(c, srv))
                if not b:
                    return
                pos = 64 + 20 - seen           # byte 21 of the second probe
                if 0 <= pos < len(b):
                    b[pos] ^= 0x5a
                seen += len(b)
                c.sendall(b)
        s = self.serve(handler)
        r = self.ping("-c", 3, "-i", 0.05, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (3, 2, 0, 1), str(r))
        self.assertRegex(r.out, r"(?m)^64 bytes from 127\.0\.0\.1:\d+: seq=2 time=\d+\.\d{3} ms "
                                r"CORRUPTED at byte 21 \(sent 0x[0-9a-f]{2}, got 0x[0-9a-f]{2}\)$")

    def test_corrupted_byte_udp(self):
        def handler(sock, srv):
            n = 0
            while True:
                data, addr = recvfrom_some(sock, srv)
                if data is None:
                    return
                n += 1
                if n == 2:
                    data = data[:30] + bytes([data[30] ^ 1]) + data[31:]
                sock.sendto(data, addr)
        s = self.serve(handler, udp=True)
        r = self.ping("-u", "-c", 3, "-i", 0.05, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (3, 2, 0, 1), str(r))
        self.assertIn("seq=2", [l for l in r.lines() if "CORRUPTED at byte 31" in l][0])

    def test_drops_every_other_datagram(self):
        def handler(sock, srv):
            n = 0
            while True:
                data, addr = recvfrom_some(sock, srv)
                if data is None:
                    return
                n += 1
                if n % 2 == 1:
                    sock.sendto(data, addr)
        s = self.serve(handler, udp=True)
        r = self.ping("-u", "-c", 4, "-i", 0, "-W", 0.3, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:5], (4, 2, 2, 0, 50.0), str(r))
        self.assertRegex(r.out, r"(?m)^no echo from 127\.0\.0\.1:\d+: seq=2 lost \(no echo within 0\.3 s\)$")

    def test_late_echo_is_not_corruption(self):
        def udp_handler(sock, srv):
            first = True
            while True:
                data, addr = recvfrom_some(sock, srv)
                if data is None:
                    return
                if first:                     # the first echo comes 0.6 s late
                    first = False
                    threading.Timer(0.6, lambda d=data, a=addr: sock.sendto(d, a)).start()
                else:
                    sock.sendto(data, addr)

        def tcp_handler(c, srv):
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                if srv.first:
                    srv.first = False
                    time.sleep(0.6)
                c.sendall(b)
        # TCP: the late echo is read when it came before the next probe
        # (-i 1); the connection then goes on
        for udp, handler, iv in ((True, udp_handler, 0.5), (False, tcp_handler, 1)):
            s = self.serve(handler, udp=udp)
            s.first = True
            args = ["-u"] if udp else []
            r = self.ping(*args, "-c", 3, "-i", iv, "-W", 0.3, "127.0.0.1", s.port)
            self.assertEqual(r.rc, 1, str(r))
            self.assertEqual(r.stats()[:4], (3, 2, 1, 0), str(r))
            self.assertRegex(r.out, r"(?m)^64 bytes from 127\.0\.0\.1:\d+: seq=1 late, already counted as lost$")
        self.assertEqual(len(s.conns), 1)
        # not yet there when the next probe is due (-i 0.5): a new
        # connection carries it, rather than a connection that may be dead
        s = self.serve(tcp_handler)
        s.first = True
        r = self.ping("-c", 3, "-i", 0.5, "-W", 0.3, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (3, 2, 1, 0), str(r))
        self.assertNotIn("late", r.out)
        self.assertEqual(len(s.conns), 2)

    def test_reassembles_byte_by_byte(self):
        def handler(c, srv):
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                for i in range(len(b)):
                    c.sendall(b[i:i + 1])
                    if i % 16 == 0:
                        time.sleep(0.002)
        s = self.serve(handler)
        r = self.ping("-c", 3, "-i", 0, "-s", 200, "127.0.0.1", s.port)
        self.assert_all_echoed(r, 3)

    def test_closes_mid_echo(self):
        def handler(c, srv):
            n = 0
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                n += 1
                if n == 2 and not srv.halved:
                    srv.halved = True
                    c.sendall(b[:32])
                    c.close()
                    return
                c.sendall(b)
        s = self.serve(handler)
        s.halved = False
        r = self.ping("-c", 3, "-i", 0.05, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (3, 2, 1, 0), str(r))
        self.assertRegex(r.out, r"(?m)^no echo from 127\.0\.0\.1:\d+: seq=2 lost \(connection closed by "
                                r"the server after 32 of 64 bytes\)$")
        self.assertRegex(r.out, r"(?m)^64 bytes from 127\.0\.0\.1:\d+: seq=3 ")   # reconnected

    def test_reset_or_closed_at_once_cannot_run(self):
        def reset(c, srv):
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()

        def close(c, srv):
            c.close()
        for handler in (reset, close):
            s = self.serve(handler)
            r = self.ping("-c", 2, "127.0.0.1", s.port)
            self.assertEqual(r.rc, 2, str(r))
            # a reset that beats the end of connect() is told there
            self.assertRegex(r.err, r"^secho-ping: (127\.0\.0\.1:%d did not echo the first probe|"
                                    r"cannot connect to 127\.0\.0\.1:%d): connection (reset|closed) "
                                    r"by the server" % (s.port, s.port))
            self.assertNotIn("probes sent", r.out)
        # after a first echo, a reset is a lost probe (exit 1), not the end
        def reset_second(c, srv):
            b = recv_some(c, srv)
            c.sendall(b)
            recv_some(c, srv)
            reset(c, srv)
        s = self.serve(reset_second)
        r = self.ping("-c", 2, "-i", 0, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (2, 1, 1, 0), str(r))
        self.assertIn("seq=2 lost (connection reset by the server after 0 of 64 bytes)", r.out)

    def test_never_answers_w_respected(self):
        def handler(c, srv):
            while recv_some(c, srv):
                pass
        s = self.serve(handler)
        r = self.ping("-c", 3, "-i", 0, "-W", 0.4, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (3, 0, 3, 0), str(r))
        self.assertIn("lost (no echo within 0.4 s)", r.out)
        # three waits of 0.4 s, with room for a loaded machine
        self.assertTrue(1.1 <= r.elapsed < 15, str(r))
        self.assertNotRegex(r.out, r"rtt min")

        u = self.serve(lambda sock, srv: recvfrom_some(sock, srv) and None, udp=True)
        r = self.ping("-u", "-c", 2, "-i", 0, "-W", 0.3, "127.0.0.1", u.port)
        self.assertEqual(r.stats()[:4], (2, 0, 2, 0), str(r))
        self.assertTrue(0.5 <= r.elapsed < 15, str(r))


# ---------------------------------------------------------------------------
# Monitoring mode

MON_RE = (r"^SECHO-PING (OK|WARNING|CRITICAL|UNKNOWN) - (\S+) (tcp|udp|tls): rtt (\d+\.\d{3}) ms, "
          r"loss (\S+)%(.*)\|rtt=(\d+\.\d{3})ms;([\d.]*);([\d.]*);0 loss=(\S+)%;([\d.]*);([\d.]*);0;100(.*)$")


class PingMonitoring(SechoServer):
    def test_ok(self):
        self.start_secho()
        r = self.ping("--warning", "100,20%", "--critical", "500,60%", "127.0.0.1", self.p)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(len(r.lines()), 1, str(r))
        m = re.match(MON_RE, r.out.rstrip("\n"))
        self.assertIsNotNone(m, str(r))
        self.assertEqual(m.group(1, 2, 3, 5), ("OK", "127.0.0.1:%d" % self.p, "tcp", "0"))
        self.assertEqual(m.group(4), m.group(7))
        self.assertEqual(m.group(8, 9, 10, 11, 12), ("100", "500", "0", "20", "60"))
        # default COUNT 5, interval 0.2
        close = self.d.wait_event("close", proto="tcp")
        self.assertEqual(close["bytes_in"], str(5 * 64))
        self.assertGreaterEqual(r.elapsed, 0.75)

    def test_warning_slow_echo(self):
        def handler(c, srv):
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                time.sleep(0.15)
                c.sendall(b)
        s = FaultServer(handler)
        self.addCleanup(s.stop)
        r = self.ping("--warning", "100,20%", "--critical", "5000,60%", "-c", 3, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertRegex(r.out, r"^SECHO-PING WARNING - 127\.0\.0\.1:%d tcp: rtt 1\d\d\.\d{3} ms" % s.port)

    def test_critical(self):
        port = self.port()
        r = self.ping("--warning", "100,20%", "--critical", "500,60%", "127.0.0.1", port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertEqual(r.out, "SECHO-PING CRITICAL - 127.0.0.1:%d tcp: cannot connect to "
                                "127.0.0.1:%d: connection refused\n" % (port, port))
        # all lost (UDP port where nobody listens)
        r = self.ping("-u", "-W", 0.3, "--warning", "100,20%", "--critical", "500,60%", "127.0.0.1", port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertRegex(r.out, r"^SECHO-PING CRITICAL - 127\.0\.0\.1:%d udp: no echo, loss 100%%\|rtt=U;" % port)

    def test_unknown(self):
        for args in (["--warning", "fast", "h"], ["--critical", "100", "h"],
                     ["--warning", "500,20%", "--critical", "100,60%", "h"],
                     ["-j", "--warning", "1,1", "h"], ["--warning", "1,1", "-x", "h"]):
            r = self.ping(*args)
            self.assertEqual(r.rc, 3, "%s: %s" % (args, r))
            self.assertTrue(r.out.startswith("SECHO-PING UNKNOWN - "), str(r))
            self.assertEqual(len(r.lines()), 1)
            self.assertTrue(r.err.startswith("secho-ping: "), str(r))
        r = self.ping("--warning", "fast", "h")
        self.assertIn("malformed --warning threshold \"fast\"", r.out)

    def test_cert_days(self):
        # a certificate made now that expires in 2 days (its own CA)
        cert, key = h.make_cert(self.tmp, "short")
        p = self.port()
        self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": p}],
                    tls={"certificate": cert, "private_key": key})
        for days, rc, state in (("30,7", 2, "CRITICAL"), ("30,1", 1, "WARNING"), ("1", 0, "OK")):
            r = self.ping("-S", "--ca", cert, "--cert-days", days, "-i", 0, "localhost", p)
            self.assertEqual(r.rc, rc, "%s: %s" % (days, r))
            self.assertRegex(r.out, r"^SECHO-PING %s - 127\.0\.0\.1:%d tls: rtt \d+\.\d{3} ms, loss 0%%, "
                                    r"certificate expires \d{4}-\d\d-\d\d, in (1 day|2 days)\|.* cert_days=[\d.]+;"
                                    % (state, p))


# ---------------------------------------------------------------------------
# Review of secho-ping (findings 1-10 and the smaller points): each test
# failed before its fix.

# A preloaded library that makes the rare moments happen every time:
#   int-sleep   SIGINT just before the wait between two probes starts
#   int-wait    SIGINT just before the first wait for an echo starts
#   ssl-new     SSL_new() fails
#   udp-replay  from the second datagram sent on, every recv() on a UDP
#               socket gives a copy of the first one (a flood of late echoes)
SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int raised;

static int
mode(const char *m)
{
	const char *e = getenv("SECHO_PING_SHIM");

	return e != NULL && strcmp(e, m) == 0;
}

static void
maybe_raise(int sleep_call, int pollin)
{
	if (raised)
		return;
	if ((sleep_call && mode("int-sleep")) || (pollin && mode("int-wait"))) {
		raised = 1;
		raise(SIGINT);
	}
}

int
poll(struct pollfd *fds, nfds_t n, int ms)
{
	int (*real)(struct pollfd *, nfds_t, int) = dlsym(RTLD_NEXT, "poll");

	maybe_raise(n == 0, n == 1 && (fds[0].events & POLLIN));
	return real(fds, n, ms);
}

int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
    const sigset_t *mask)
{
	int (*real)(struct pollfd *, nfds_t, const struct timespec *,
	    const sigset_t *) = dlsym(RTLD_NEXT, "ppoll");

	maybe_raise(n == 0, n == 1 && (fds[0].events & POLLIN));
	return real(fds, n, ts, mask);
}

int
clock_nanosleep(clockid_t c, int flags, const struct timespec *t,
    struct timespec *rem)
{
	int (*real)(clockid_t, int, const struct timespec *, struct timespec *) =
	    dlsym(RTLD_NEXT, "clock_nanosleep");

	maybe_raise(1, 0);
	return real(c, flags, t, rem);
}

void *
SSL_new(void *ctx)
{
	void *(*real)(void *) = dlsym(RTLD_NEXT, "SSL_new");

	return mode("ssl-new") ? NULL : real(ctx);
}

static char first[65536];
static ssize_t first_len = -1;
static int dgrams_sent;

static int
is_dgram(int fd)
{
	int t = 0;
	socklen_t l = sizeof(t);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) == 0 && t == SOCK_DGRAM;
}

ssize_t
send(int fd, const void *b, size_t n, int flags)
{
	ssize_t (*real)(int, const void *, size_t, int) = dlsym(RTLD_NEXT, "send");

	if (mode("udp-replay") && is_dgram(fd)) {
		if (first_len < 0 && n <= sizeof(first)) {
			memcpy(first, b, n);
			first_len = (ssize_t)n;
		}
		dgrams_sent++;
	}
	return real(fd, b, n, flags);
}

static ssize_t
replay(int fd, void *b, size_t n)
{
	if (!mode("udp-replay") || dgrams_sent < 2 || first_len < 0 || !is_dgram(fd))
		return -2;
	memcpy(b, first, (size_t)first_len < n ? (size_t)first_len : n);
	return first_len;
}

ssize_t
recv(int fd, void *b, size_t n, int flags)
{
	ssize_t (*real)(int, void *, size_t, int) = dlsym(RTLD_NEXT, "recv");
	ssize_t k = replay(fd, b, n);

	return k != -2 ? k : real(fd, b, n, flags);
}

ssize_t
__recv_chk(int fd, void *b, size_t n, size_t bn, int flags)
{
	return recv(fd, b, n, flags);
}
"""


class PingReview(SechoServer):
    def serve(self, handler, udp=False):
        s = FaultServer(handler, udp)
        self.addCleanup(s.stop)
        return s

    def shim(self):
        """Build the preloaded library (once per test); its env."""
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            self.skipTest("no C compiler for the preloaded library")
        src = self.tmp.write("shim.c", SHIM_C)
        so = self.tmp.file("shim.so")
        subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"], check=True,
                       timeout=120)
        # a sanitized secho-ping wants its runtime first; the shim comes first here
        asan = os.environ.get("ASAN_OPTIONS", "")
        return {"LD_PRELOAD": so,
                "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}

    # -- 1. a connection the server closed while idle costs no probe

    def test_idle_closed_connection_costs_no_probe(self):
        def handler(c, srv):         # closes after 0.3 s without data
            c.settimeout(0.3)
            while True:
                try:
                    b = c.recv(65536)
                except (socket.timeout, OSError):
                    c.close()
                    return
                if not b:
                    return
                c.sendall(b)
        s = self.serve(handler)
        r = self.ping("-c", 3, "-i", 0.6, "127.0.0.1", s.port)
        self.assert_all_echoed(r, 3)
        self.assertEqual(len(s.conns), 3, str(r))

    def test_secho_idle_timeout_costs_no_probe(self):
        self.start_secho(limits={"idle_timeout": 1})
        r = self.ping("-c", 3, "-i", 1.5, "127.0.0.1", self.p)
        self.assert_all_echoed(r, 3)
        self.assertEqual(len(self.d.events("connect", proto="tcp")), 3)
        # TLS, in monitoring mode: OK, not WARNING
        r = self.ping("-S", "--ca", self.ca, "--warning", "1000,20%", "-c", 3, "-i", 1.5,
                      "localhost", self.ptls)
        self.assertEqual(r.rc, 0, str(r))
        self.assertRegex(r.out, r"^SECHO-PING OK - 127\.0\.0\.1:%d tls: rtt [\d.]+ ms, loss 0%%" % self.ptls)

    # -- 2. UDP: a stale datagram is not the current probe's echo

    def test_udp_stale_echo_not_taken_for_the_next(self):
        def handler(sock, srv):     # echo 1 comes 0.6 s late, echo 2 never
            n = 0
            while True:
                data, addr = recvfrom_some(sock, srv)
                if data is None:
                    return
                n += 1
                if n == 1:
                    threading.Timer(0.6, lambda d=data, a=addr: sock.sendto(d, a)).start()
                elif n != 2:
                    sock.sendto(data, addr)
        for args in (["-m", "hello"], ["-s", 4]):
            s = self.serve(handler, udp=True)
            r = self.ping("-u", *args, "-c", 3, "-i", 1, "-W", 0.3, "127.0.0.1", s.port)
            self.assertEqual(r.rc, 1, str(r))
            self.assertEqual(r.stats()[:4], (3, 1, 2, 0), "%s: %s" % (args, r))
            self.assertRegex(r.out, r"(?m)^no echo from 127\.0\.0\.1:\d+: seq=2 lost ")
            self.assertRegex(r.out, r"(?m)^\d bytes from 127\.0\.0\.1:\d+: late echo of an "
                                    r"earlier probe$")

    def test_udp_duplicate_says_dup(self):
        def handler(sock, srv):
            while True:
                data, addr = recvfrom_some(sock, srv)
                if data is None:
                    return
                sock.sendto(data, addr)
                sock.sendto(data, addr)
        s = self.serve(handler, udp=True)
        r = self.ping("-u", "-c", 3, "-i", 0.2, "127.0.0.1", s.port)
        self.assert_all_echoed(r, 3)
        self.assertRegex(r.out, r"(?m)^64 bytes from 127\.0\.0\.1:\d+: seq=1 \(DUP!\)$")
        self.assertNotIn("already counted as lost", r.out)

    # -- 3. TLS 1.3 refusing our (missing) certificate, with a large probe

    def test_client_certificate_refused_large_probe(self):
        ca, _, _ = h.repo_certs()
        self.start_secho(tls={"client_ca": ca, "verify_client": "require"})
        r = self.ping("-S", "--ca", self.ca, "--tls-version", "1.3", "-s", 200000, "-c", 2,
                      "localhost", self.ptls)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("certificate required", r.err)
        self.assertIn("--cert", r.err)

    def test_client_certificate_asked_then_reset_gives_the_hint(self):
        # a server that asks for a certificate, then resets without an alert
        import ssl
        ca, cert, key = h.repo_certs()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL

        def handler(c, srv):
            c.settimeout(10)
            try:
                t = ctx.wrap_socket(c, server_side=True)
                recv_some(t, srv)
            except (ssl.SSLError, OSError):
                return
            t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            t.close()
        s = self.serve(handler)
        r = self.ping("-S", "--ca", ca, "-c", 1, "localhost", s.port)
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("did not echo the first probe: connection reset by the server (the server "
                      "asked for a client certificate: give one with --cert and --key)", r.err)

    # -- 4. a byte too few or too many costs one probe, not the connection

    def test_dropped_byte_costs_one_probe(self):
        def handler(c, srv):
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                if not srv.done:
                    srv.done = True
                    b = b[:10] + b[11:]
                c.sendall(b)
        s = self.serve(handler)
        s.done = False
        r = self.ping("-c", 5, "-i", 0, "-W", 0.3, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (5, 4, 1, 0), str(r))
        self.assertIn("seq=1 lost (63 of 64 bytes within 0.3 s)", r.out)

    def test_extra_byte_is_corruption_and_costs_one_probe(self):
        def handler(c, srv):
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                if not srv.done:
                    srv.done = True
                    b += b"!"
                c.sendall(b)
        s = self.serve(handler)
        s.done = False
        r = self.ping("-m", "hello", "-c", 4, "-i", 0, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (4, 3, 0, 1), str(r))
        self.assertRegex(r.out, r"(?m)^6 bytes from 127\.0\.0\.1:\d+: seq=1 time=\d+\.\d{3} ms "
                                r"CORRUPTED: 6 bytes came back for 5 sent$")
        self.assertEqual([l for l in r.lines() if l.startswith("Received: ")],
                         ["Received: hello!"] + ["Received: hello"] * 3)
        # the same over TLS (the byte in the echo's record)
        import ssl
        ca, cert, key = h.repo_certs()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

        def tls_handler(c, srv):
            c.settimeout(10)
            try:
                t = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError):
                return
            handler(t, srv)
        s = self.serve(tls_handler)
        s.done = False
        r = self.ping("-S", "--ca", ca, "-c", 4, "-i", 0, "localhost", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (4, 3, 0, 1), str(r))
        self.assertRegex(r.out, r"(?m)^65 bytes from 127\.0\.0\.1:\d+: seq=1 time=\d+\.\d{3} ms "
                                r"CORRUPTED: 65 bytes came back for 64 sent$")

    # -- 5. the certificate subject in JSON is valid UTF-8, however long

    def test_json_subject_long_utf8(self):
        # printed last RDN first (RFC 2253): the 511-byte cut falls inside an "é"
        ous = ["é" * 60] * 4 + ["xé" + "é" * 59]
        subj = "/CN=localhost/O=x" + "".join("/OU=" + o for o in ous)
        full = ",".join("OU=" + o for o in reversed(ous)) + ",O=x,CN=localhost"
        self.assertEqual(full.encode()[511] & 0xC0, 0x80)
        cert, key = self.tmp.file("utf8.crt"), self.tmp.file("utf8.key")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-utf8", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-keyout", key, "-out", cert,
                        "-subj", subj, "-addext", "subjectAltName=DNS:localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        p = self.port()
        self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": p}],
                    tls={"certificate": cert, "private_key": key})
        r = self.ping("-S", "--ca", cert, "-j", "-c", 1, "localhost", p)
        self.assertEqual(r.rc, 0, str(r))
        j = json.loads(r.raw.decode("utf-8"))          # strict: valid UTF-8
        self.assertEqual(j["tls"]["subject"], full.encode()[:510].decode())
        r = self.ping("-S", "--ca", cert, "-c", 1, "localhost", p)
        self.assertEqual(r.rc, 0, str(r))
        r.raw.decode("utf-8")
        self.assertIn("certificate %s (expires" % full.encode()[:510].decode(), r.out)

    # -- 6. SIGINT just before a wait ends it at once

    def test_sigint_before_the_sleep(self):
        self.start_secho()
        r = self.ping("-c", 3, "-i", 5, "127.0.0.1", self.p, env=self.shim() | {"SECHO_PING_SHIM": "int-sleep"})
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual(r.stats()[:4], (1, 1, 0, 0), str(r))
        self.assertLess(r.elapsed, 3, str(r))

    def test_sigint_before_the_echo_wait(self):
        s = self.serve(lambda c, srv: [None for _ in iter(lambda: recv_some(c, srv), b"")])
        r = self.ping("-c", 1, "-W", 5, "127.0.0.1", s.port,
                      env=self.shim() | {"SECHO_PING_SHIM": "int-wait"})
        self.assertEqual(r.stats()[:4], (0, 0, 0, 0), str(r))   # the interrupted probe is not counted
        self.assertLess(r.elapsed, 3, str(r))

    # -- 7. a probe lost on a silent connection: the next one gets a new one

    def test_silent_connection_is_replaced(self):
        def handler(c, srv):         # the first connection echoes one probe, then nothing
            srv.n += 1
            mute = srv.n == 1
            echoed = 0
            while True:
                b = recv_some(c, srv)
                if not b:
                    return
                if mute and echoed >= 64:
                    continue
                echoed += len(b)
                c.sendall(b)
        s = self.serve(handler)
        s.n = 0
        r = self.ping("-c", 4, "-i", 0, "-W", 0.3, "127.0.0.1", s.port)
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (4, 3, 1, 0), str(r))
        self.assertIn("seq=2 lost (no echo within 0.3 s)", r.out)
        self.assertEqual(s.n, 2, str(r))

    # -- 8. a flood of late UDP echoes does not hold a probe past -W

    def test_udp_late_flood_bounded_by_w(self):
        self.start_secho()
        r = self.ping("-u", "-q", "-c", 2, "-i", 0, "-W", 0.3, "127.0.0.1", self.p, timeout=20,
                      env=self.shim() | {"SECHO_PING_SHIM": "udp-replay"})
        self.assertEqual(r.rc, 1, str(r))
        self.assertEqual(r.stats()[:4], (2, 1, 1, 0), str(r))
        self.assertLess(r.elapsed, 10, str(r))

    # -- 10. SIGINT while a write to standard output blocks cuts nothing

    def test_sigint_while_stdout_blocks(self):
        self.start_secho()
        p = subprocess.Popen([ping_bin(), "-i", "0", "127.0.0.1", str(self.p)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(h.stop_popen, p)
        time.sleep(0.5)             # the pipe is full long before: secho-ping blocks in write
        p.send_signal(signal.SIGINT)
        time.sleep(0.2)
        out, err = p.communicate(timeout=30)
        r = Run(p.returncode, out.decode(), err.decode(), 0, out)
        self.assertEqual(r.rc, 0, str(r)[-2000:])
        seqs = [int(m.group(3)) for m in r.probes()]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), r.out[-2000:])
        self.assertEqual(r.stats()[0], len(seqs), r.out[-2000:])

    # -- smaller points

    def test_ssl_new_failure_in_words(self):
        s = self.serve(lambda c, srv: [None for _ in iter(lambda: recv_some(c, srv), b"")])
        r = self.ping("-S", "--insecure", "-c", 1, "127.0.0.1", s.port,
                      env=self.shim() | {"SECHO_PING_SHIM": "ssl-new"})
        self.assertEqual(r.rc, 2, str(r))
        self.assertIn("TLS handshake with 127.0.0.1:%d failed: cannot set up TLS" % s.port, r.err)

    def test_monitoring_line_when_probes_cannot_be_set_up(self):
        if b"__asan_init" in open(ping_bin(), "rb").read():
            self.skipTest("an address-space limit and ASan do not mix")
        import resource

        def small():                # room to start, not for 3 x 16 MiB
            resource.setrlimit(resource.RLIMIT_AS, (32 << 20, 32 << 20))
        r = self.ping("--warning", "1,1", "-s", 16777216, "127.0.0.1", self.port(), preexec_fn=small)
        self.assertEqual(r.rc, 3, str(r))
        self.assertEqual(r.out, "SECHO-PING UNKNOWN - out of memory for 16777216-byte probes\n")

    def test_usage_not_monitoring(self):
        # "--warning" is -m's TEXT here: a usage error (no HOST), not UNKNOWN
        r = self.ping("-m", "--warning")
        self.assertEqual(r.rc, 64, str(r))
        self.assertEqual(r.out, "")
        r = self.ping("--resume=1", "h")
        self.assertEqual(r.rc, 64, str(r))
        self.assertIn("--resume takes no argument", r.err)
