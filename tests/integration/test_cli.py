"""Command line: -h, -V, usage errors, -t (SPEC: Command line)."""

import os
import re
import subprocess

import harness as h


def makefile_version():
    try:
        with open(os.path.join(h.REPO, "Makefile")) as f:
            for line in f:
                m = re.match(r"\s*VERSION\s*[:?]?=\s*(\S+)", line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return None


def openssl_runtime_version():
    """'3.0.22' from `openssl version` (same libssl3 the daemon runs with)."""
    try:
        out = subprocess.run(["openssl", "version"], capture_output=True, text=True,
                             timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"OpenSSL (\d+\.\d+\.\d+)", out)
    return m.group(1) if m else None


class Help(h.SechoTestCase):
    def test_help_short(self):
        r = h.run_secho(["-h"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?i)usage", "usage goes to stdout when asked for")
        for opt in ("-c", "-f", "-e", "-t", "-V", "-h"):
            self.assertIn(opt, r.stdout)

    def test_help_long(self):
        r = h.run_secho(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?i)usage")


class Version(h.SechoTestCase):
    def check_version(self, opt):
        r = h.run_secho([opt])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertRegex(out, r"(?m)^secho \d+\.\d+\.\d+\b", out)
        ver = makefile_version()
        if ver:
            self.assertRegex(out, r"(?m)^secho %s\b" % re.escape(ver),
                             "version differs from the Makefile's VERSION")
        self.assertIn("OpenSSL", out)
        ossl = openssl_runtime_version()
        if ossl:
            self.assertIn(ossl, out, "not the OpenSSL version it runs with")
        self.assertRegex(out, r"(?i)libconfig\D{0,20}\d+\.\d+", out)

    def test_version_short(self):
        self.check_version("-V")

    def test_version_long(self):
        self.check_version("--version")


class Usage(h.SechoTestCase):
    def test_unknown_option(self):
        r = h.run_secho(["-Z"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stdout + r.stderr)
        self.assertNotEqual(r.stderr.strip(), "", "a usage error says something on stderr")

    def test_unknown_long_option(self):
        r = h.run_secho(["--no-such-option"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stdout + r.stderr)

    def test_missing_argument(self):
        r = h.run_secho(["-c"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stdout + r.stderr)

    def test_extra_operand(self):
        r = h.run_secho(["-t", "-c", "/nonexistent.cfg", "extra"])
        self.assertEqual(r.returncode, h.EX_USAGE, r.stdout + r.stderr)


class Check(h.SechoTestCase):
    def test_check_valid(self):
        port = self.port()
        cfg = self.tmp.write("good.cfg", h.config_text(
            [{"proto": "tcp", "address": "127.0.0.1", "port": port},
             {"proto": "udp", "address": "127.0.0.1", "port": port}],
            log={"level": "debug"}, limits={"idle_timeout": 5}))
        r = h.run_secho(["-t", "-c", cfg])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("secho: configuration %s is valid" % cfg, r.stdout + r.stderr)
        # -t does not start anything
        self.assertTrue(h.tcp_refused("127.0.0.1", port))

    def test_check_long_option_and_tls(self):
        port = self.port()
        cert, key = h.make_cert(self.tmp)
        cfg = self.tmp.write("good.cfg", h.config_text(
            [{"proto": "tls", "address": "127.0.0.1", "port": port}],
            tls={"certificate": cert, "private_key": key}))
        r = h.run_secho(["--check", "--config", cfg])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("secho: configuration %s is valid" % cfg, r.stdout + r.stderr)

    def test_check_invalid(self):
        port = self.port()
        text = ("log = {\n  level = \"info\";\n};\n"
                "limits = {\n  idle_timeout = \"long\";\n};\n"
                "listeners = ( { proto = \"tcp\"; address = \"127.0.0.1\"; port = %d; } );\n"
                % port)
        cfg = self.tmp.write("bad.cfg", text)
        r = h.run_secho(["-t", "-c", cfg])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stdout + r.stderr)
        self.assertIn("bad.cfg:%d" % h.line_of(text, "idle_timeout"), r.stderr)
        self.assertNotIn("is valid", r.stdout + r.stderr)

    def test_check_key_mismatch(self):
        """-t loads certificates and keys and checks that they match."""
        port = self.port()
        cert, _ = h.make_cert(self.tmp, "one")
        _, key2 = h.make_cert(self.tmp, "two")
        cfg = self.tmp.write("bad.cfg", h.config_text(
            [{"proto": "tls", "address": "127.0.0.1", "port": port}],
            tls={"certificate": cert, "private_key": key2}))
        r = h.run_secho(["-t", "-c", cfg])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stdout + r.stderr)
        self.assertTrue(cert in r.stderr or key2 in r.stderr,
                        "message names the certificate or key: " + r.stderr)

    def test_check_missing_file(self):
        path = self.tmp.file("absent.cfg")
        r = h.run_secho(["-t", "-c", path])
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stdout + r.stderr)
        self.assertIn(path, r.stderr)
