"""Configuration errors at a real start (`secho -f -c bad.cfg`): exit 78 and
`bad.cfg:LINE: message` with the line of the mistake; a port in use: exit
71 naming the address (SPEC: Command line, exit status; Configuration)."""

import os
import socket

import harness as h

LISTENER = '{ proto = "tcp"; address = "127.0.0.1"; port = PORT; }'


class ConfigErrors(h.SechoTestCase):
    def start_bad(self, text, name="bad.cfg"):
        port = self.port()
        text = text.replace("PORT", str(port))
        cfg = self.tmp.write(name, text)
        r = h.run_secho(["-f", "-c", cfg], timeout=20)
        if r.timed_out:
            self.fail("secho started with an invalid configuration:\n" + text)
        r.text = text
        r.cfg = cfg
        r.port = port
        return r

    def assert_config_error(self, text, needle, nth=1, mentions=(), name="bad.cfg"):
        """Start with text; expect exit 78 and `name:LINE` where LINE is the
        line holding needle, and every string of mentions in the message."""
        r = self.start_bad(text, name)
        line = h.line_of(r.text.replace("PORT", str(r.port)), needle, nth)
        msg = "config:\n%s\nstderr:\n%s" % (r.text, r.stderr)
        self.assertEqual(r.returncode, h.EX_CONFIG, msg)
        self.assertIn("%s:%d" % (name, line), r.stderr, msg)
        for m in mentions:
            self.assertIn(m, r.stderr, msg)
        return r

    # -- syntax

    def test_syntax_error(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlimits = {\n  idle_timeout = ;\n};\n'
            'listeners = ( %s );\n' % LISTENER, "idle_timeout")

    def test_syntax_error_in_listeners(self):
        self.assert_config_error(
            'listeners = (\n  %s,\n  { proto = "udp"; address = "127.0.0.1"; port = PORT @ }\n);\n'
            % LISTENER, "@")

    # -- unknown settings

    def test_unknown_top_level(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nfrobnicate = 1;\nlisteners = ( %s );\n' % LISTENER,
            "frobnicate", mentions=("frobnicate",))

    def test_unknown_in_group(self):
        self.assert_config_error(
            'limits = {\n  idle_timeout = 5;\n  max_conections = 5;\n};\n'
            'listeners = ( %s );\n' % LISTENER,
            "max_conections", mentions=("max_conections",))

    def test_unknown_in_listener(self):
        self.assert_config_error(
            'limits = {\n  idle_timeout = 5;\n};\nlisteners = (\n'
            '  { proto = "tcp"; address = "127.0.0.1"; port = PORT; backlog = 5; }\n);\n',
            "backlog", mentions=("backlog",))

    def test_unknown_in_tls(self):
        self.assert_config_error(
            'tls = {\n  min_protocol = "TLSv1.2";\n  certificat = "/x.pem";\n};\n'
            'listeners = ( %s );\n' % LISTENER,
            "certificat =", mentions=("certificat",))

    # -- wrong types

    def test_wrong_type_int(self):
        self.assert_config_error(
            'limits = {\n  max_connections = 10;\n  idle_timeout = "ten";\n};\n'
            'listeners = ( %s );\n' % LISTENER, "idle_timeout")

    def test_wrong_type_bool(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n  stderr = "yes";\n};\nlisteners = ( %s );\n' % LISTENER,
            "stderr")

    def test_wrong_type_port_string(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "tcp"; address = "127.0.0.1"; port = "PORT"; }\n);\n', "port =")

    def test_wrong_type_group(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlimits = 5;\nlisteners = ( %s );\n' % LISTENER,
            "limits")

    # -- out of range

    def test_port_too_big(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "tcp"; address = "127.0.0.1"; port = 70000; }\n);\n', "70000")

    def test_port_zero(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "udp"; address = "127.0.0.1"; port = 0; }\n);\n', "port = 0")

    def test_max_connections_zero(self):
        self.assert_config_error(
            'limits = {\n  idle_timeout = 5;\n  max_connections = 0;\n};\n'
            'listeners = ( %s );\n' % LISTENER, "max_connections")

    def test_negative_idle_timeout(self):
        self.assert_config_error(
            'limits = {\n  max_connections = 5;\n  idle_timeout = -1;\n};\n'
            'listeners = ( %s );\n' % LISTENER, "idle_timeout")

    def test_negative_udp_rate(self):
        self.assert_config_error(
            'limits = {\n  max_connections = 5;\n  udp_rate_per_host = -5;\n};\n'
            'listeners = ( %s );\n' % LISTENER, "udp_rate_per_host")

    def test_negative_shutdown_timeout(self):
        self.assert_config_error(
            'daemon = {\n  shutdown_timeout = -1;\n};\nlisteners = ( %s );\n' % LISTENER,
            "shutdown_timeout")

    # -- bad enums

    def test_bad_level(self):
        self.assert_config_error(
            'log = {\n  ident = "x";\n  level = "loud";\n};\nlisteners = ( %s );\n' % LISTENER,
            "loud")

    def test_bad_facility(self):
        self.assert_config_error(
            'log = {\n  ident = "x";\n  facility = "local9";\n};\nlisteners = ( %s );\n' % LISTENER,
            "local9")

    def test_bad_proto(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n  %s,\n'
            '  { proto = "sctp"; address = "127.0.0.1"; port = PORT; }\n);\n' % LISTENER,
            "sctp")

    def test_bad_verify_client(self):
        self.assert_config_error(
            'tls = {\n  min_protocol = "TLSv1.2";\n  verify_client = "sometimes";\n};\n'
            'listeners = ( %s );\n' % LISTENER, "sometimes")

    def test_bad_min_protocol(self):
        self.assert_config_error(
            'tls = {\n  verify_client = "none";\n  min_protocol = "SSLv3";\n};\n'
            'listeners = ( %s );\n' % LISTENER, "SSLv3")

    # -- addresses and access lists

    def test_bad_ipv4_address(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "tcp"; address = "127.0.0.999"; port = PORT; }\n);\n', "127.0.0.999")

    def test_bad_ipv6_address(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n  %s,\n'
            '  { proto = "udp"; address = "::gg::1"; port = PORT; }\n);\n' % LISTENER, "::gg::1")

    def test_bad_cidr_prefix(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "tcp"; address = "127.0.0.1"; port = PORT; allow = [ "10.0.0.0/33" ]; }\n);\n',
            "10.0.0.0/33")

    def test_bad_cidr_text(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "tcp"; address = "127.0.0.1"; port = PORT; allow = [ "127.0.0.1", "banana" ]; }\n);\n',
            "banana")

    def test_bad_cidr_v6_in_deny(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n'
            '  { proto = "udp"; address = "127.0.0.1"; port = PORT; deny = [ "::1/129" ]; }\n);\n',
            "::1/129")

    # -- listeners

    def test_duplicate_listener(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n  %s,\n'
            '  { proto = "udp"; address = "127.0.0.1"; port = PORT; },\n  %s\n);\n'
            % (LISTENER, LISTENER), LISTENER.split("PORT")[0], nth=2)

    def test_empty_listeners(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = ( );\n', "listeners")

    def test_no_listeners(self):
        r = self.start_bad('log = {\n  level = "info";\n};\n')
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn("bad.cfg", r.stderr)
        self.assertIn("listeners", r.stderr)

    def test_tls_without_certificate(self):
        self.assert_config_error(
            'log = {\n  level = "info";\n};\nlisteners = (\n  %s,\n'
            '  { proto = "tls"; address = "127.0.0.1"; port = PORT; }\n);\n' % LISTENER,
            '"tls"')

    def test_tls_certificate_missing_file(self):
        missing = self.tmp.file("no-such-cert.pem")
        r = self.start_bad(
            'tls = {\n  certificate = "%s";\n  private_key = "%s";\n};\n'
            'listeners = ( { proto = "tls"; address = "127.0.0.1"; port = PORT; } );\n'
            % (missing, self.tmp.file("no-such-key.pem")))
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn(missing, r.stderr, "the message names the path")

    def test_tls_key_mismatch(self):
        cert, _ = h.make_cert(self.tmp, "a")
        _, key = h.make_cert(self.tmp, "b")
        r = self.start_bad(
            'tls = {\n  certificate = "%s";\n  private_key = "%s";\n};\n'
            'listeners = ( { proto = "tls"; address = "127.0.0.1"; port = PORT; } );\n'
            % (cert, key))
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertTrue(cert in r.stderr or key in r.stderr, r.stderr)

    def test_missing_config_file(self):
        path = self.tmp.file("does-not-exist.cfg")
        r = h.run_secho(["-f", "-c", path], timeout=20)
        self.assertFalse(r.timed_out, "secho started without a configuration file")
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn(path, r.stderr)

    def test_unreadable_is_not_a_directory(self):
        r = h.run_secho(["-f", "-c", self.tmp.path], timeout=20)
        self.assertFalse(r.timed_out)
        self.assertEqual(r.returncode, h.EX_CONFIG, r.stderr)
        self.assertIn(self.tmp.path, r.stderr)


class PortInUse(h.SechoTestCase):
    def run_with_busy(self, proto, fam, addr):
        port = self.port()
        typ = socket.SOCK_STREAM if proto in ("tcp", "tls") else socket.SOCK_DGRAM
        busy = socket.socket(fam, typ)
        self.addCleanup(busy.close)
        busy.bind((addr, port))
        if typ == socket.SOCK_STREAM:
            busy.listen(5)
        other = self.port()
        cfg = self.tmp.write("busy.cfg", h.config_text(
            [{"proto": "tcp", "address": "127.0.0.1", "port": other},
             {"proto": proto, "address": addr, "port": port}]))
        r = h.run_secho(["-f", "-c", cfg], timeout=20)
        self.assertFalse(r.timed_out, "secho started although %s %s:%d is in use" % (proto, addr, port))
        self.assertEqual(r.returncode, h.EX_OSERR, r.stderr)
        self.assertIn(h.fmt_addr(addr, port), r.stderr)
        # nothing left listening on the other port
        self.assertTrue(h.wait_until(lambda: h.tcp_refused("127.0.0.1", other, 2), 5))

    def test_tcp_port_in_use(self):
        self.run_with_busy("tcp", socket.AF_INET, "127.0.0.1")

    def test_udp_port_in_use(self):
        self.run_with_busy("udp", socket.AF_INET, "127.0.0.1")

    def test_tcp6_port_in_use(self):
        if not h.HAVE_IPV6:
            self.skipTest("no IPv6 on loopback")
        self.run_with_busy("tcp", socket.AF_INET6, "::1")
