"""Logging to standard error: -e, log.stderr, log.level (SPEC: Command line
-e, Configuration log, Logs).

Decision (SPEC + STYLE 4): in the foreground without -e and with
log.stderr = false, secho writes nothing on stdout or stderr while it runs
(systemd would otherwise get every line twice: from syslog and from
stderr); only fatal errors at start go to stderr."""

import os
import signal
import socket
import time

import harness as h


def tcp(port, **extra):
    d = {"proto": "tcp", "address": "127.0.0.1", "port": port}
    d.update(extra)
    return d


class Quiet(h.SechoTestCase):
    def test_foreground_without_e_is_silent(self):
        a, u = self.port(), self.port()
        d = self.daemon([tcp(a), {"proto": "udp", "address": "127.0.0.1", "port": u}],
                        log={"stderr": False, "level": "debug"}, args=("-f",), start=False)
        d.start(wait_listening=0)
        self.assertTrue(h.wait_tcp_echo("127.0.0.1", a), "daemon does not echo")
        got, _ = h.udp_echo("127.0.0.1", u, b"u", tries=3)
        self.assertEqual(got, b"u")
        d.signal(signal.SIGUSR1)
        d.rewrite([tcp(a)], log={"stderr": False, "level": "debug"})
        d.signal(signal.SIGHUP)
        time.sleep(1)
        self.assertTrue(h.try_echo("127.0.0.1", a))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(20), 0)
        d.out.join(5)
        self.assertEqual(d.out.text(), "", "output without -e and log.stderr = false")

    def test_fatal_error_still_on_stderr(self):
        p = self.port()
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", p))
        busy.listen(1)
        cfg = self.tmp.write("secho.cfg", h.config_text([tcp(p)], log={"stderr": False}))
        r = h.run_secho(["-f", "-c", cfg])
        self.assertEqual(r.returncode, h.EX_OSERR)
        self.assertIn("127.0.0.1:%d" % p, r.stderr)


class StderrSetting(h.SechoTestCase):
    def test_log_stderr_true_is_like_e(self):
        a = self.port()
        d = self.daemon([tcp(a)], log={"stderr": True}, args=("-f",))
        got, name = h.tcp_echo("127.0.0.1", a, b"abc")
        self.assertEqual(got, b"abc")
        d.wait_event("connect", peer=h.sock_addr_text(name))
        d.wait_event("close", peer=h.sock_addr_text(name), reason="eof")
        self.assertTrue(all(s == "stderr" for s, _ in d.out.lines if _.strip()),
                        "log lines go to stderr, not stdout")


class Levels(h.SechoTestCase):
    def test_level_warning(self):
        a, b = self.port(), self.port()
        d = self.daemon([tcp(a), tcp(b, allow=["192.0.2.1"])], log={"level": "warning"},
                        start=False)
        d.start(wait_listening=0)
        self.assertTrue(h.wait_tcp_echo("127.0.0.1", a))
        c = h.tcp_connect("127.0.0.1", b)
        with c:
            c.settimeout(10)
            try:
                c.recv(1)
            except OSError:
                pass
        d.wait_event("refused", reason="access")
        time.sleep(0.5)
        for ev in ("listening", "connect", "close"):
            self.assertEqual(d.events(ev), [], "info line `%s` logged at level warning" % ev)

    def test_level_notice(self):
        a = self.port()
        d = self.daemon([tcp(a)], log={"level": "notice"}, start=False)
        d.start(wait_listening=0)
        self.assertTrue(h.wait_tcp_echo("127.0.0.1", a))
        d.signal(signal.SIGHUP)
        d.wait_event("reload", result="ok")
        self.assertEqual(d.events("connect"), [])

    def test_reload_changes_level(self):
        a = self.port()
        d = self.daemon([tcp(a)], log={"level": "info"})
        d.rewrite([tcp(a)], log={"level": "warning"})
        mark = d.mark()
        d.signal(signal.SIGHUP)
        time.sleep(1.5)
        self.assertTrue(h.try_echo("127.0.0.1", a))
        time.sleep(0.5)
        self.assertEqual(d.events("connect", start=mark), [], "new level not applied on reload")


class Format(h.SechoTestCase):
    def test_event_lines_are_key_value(self):
        """Every line is `event key=value ...`; values with spaces are quoted
        (a failed reload and a killed UDP worker produce messages with spaces)."""
        a, u = self.port(), self.port()
        d = self.daemon([tcp(a), {"proto": "udp", "address": "127.0.0.1", "port": u}])
        self.assertTrue(h.try_echo("127.0.0.1", a))
        d.wait_event("close")
        d.rewrite(text='listeners = (\n  { proto = "tcp"; port = "not a port"; }\n);\n')
        mark = d.mark()
        d.signal(signal.SIGHUP)
        ev = d.wait_event("reload", start=mark, result="failed")
        self.assertIn(" ", ev.get("error", " "), "a readable error message")
        worker = h.wait_until(lambda: d.live_children(), 10)
        mark = d.mark()
        os.kill(worker[0], signal.SIGKILL)
        d.wait_for(r".", 10, start=mark)
        time.sleep(0.5)
        kv = r'[A-Za-z0-9_.-]+=("(?:[^"\\]|\\.)*"|[^"\s]*)'
        for line in d.lines():
            ev = h.parse_event(line)
            self.assertIsNotNone(ev, "line without a known event word: %r" % line)
            rest = line[line.find(ev["_event"]) + len(ev["_event"]):].strip()
            self.assertRegex(rest, r'^(%s(\s+|$))*$' % kv, line)
