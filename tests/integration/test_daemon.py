"""Daemon mode (without -f): detach, pidfile, /dev/null, cwd /, new session
(SPEC: Command line -f, Configuration daemon.pidfile, Behaviour/Daemon mode).

This process becomes a child subreaper, so the detached daemon is
re-parented to it (PID 1 here does not reap); every daemon is killed by
PID in cleanup (its PID from the pidfile or from /proc, matched by the
unique temporary config path)."""

import os
import signal
import subprocess
import time

import harness as h


def tcp(port):
    return {"proto": "tcp", "address": "127.0.0.1", "port": port}


class DaemonMode(h.SechoTestCase):
    @classmethod
    def setUpClass(cls):
        h.set_subreaper()

    def setUp(self):
        super().setUp()
        self.addCleanup(h.reap_adopted)

    def start_detached(self, cfg, extra_args=(), timeout=20):
        """Run `secho [extra] -c cfg` (no -f), not in a new session, output to
        files (a daemon keeping a pipe open must not hang the test).
        Returns (exit status or None, stdout, stderr)."""
        self.addCleanup(self.kill_daemons, cfg)
        out = open(self.tmp.file("starter.out"), "w+b")
        err = open(self.tmp.file("starter.err"), "w+b")
        self.addCleanup(out.close)
        self.addCleanup(err.close)
        p = subprocess.Popen([h.secho_bin()] + list(extra_args) + ["-c", cfg],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            status = p.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
            h.kill_pid(p.pid, 5)
            p.wait(10)
        out.seek(0)
        err.seek(0)
        return (status, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), p.pid)

    def kill_daemons(self, cfg):
        for pid in h.pids_with_arg(cfg):
            h.kill_pid(pid, 20)

    def read_pidfile(self, path, timeout=10):
        def get():
            try:
                with open(path) as f:
                    txt = f.read()
                return int(txt.strip()) if txt.endswith("\n") or txt.strip() else None
            except (OSError, ValueError):
                return None
        return h.wait_until(get, timeout)

    def test_daemon_mode(self):
        port = self.port()
        pidfile = self.tmp.file("run/secho.pid")
        os.mkdir(self.tmp.file("run"))
        cfg = self.tmp.write("secho.cfg", h.config_text(
            [tcp(port)], daemon={"pidfile": pidfile}))
        t0 = time.monotonic()
        status, out, err, starter = self.start_detached(cfg)
        self.assertEqual(status, 0, "the starting command exits 0: %s %s" % (out, err))
        self.assertLess(time.monotonic() - t0, 15)

        pid = self.read_pidfile(pidfile)
        self.assertIsNotNone(pid, "pidfile %s not written" % pidfile)
        with open(pidfile) as f:
            self.assertRegex(f.read(), r"^\d+\n$", "pidfile holds the PID and a newline")
        self.assertNotEqual(pid, starter)
        self.assertTrue(h.pid_alive(pid), "the PID in the pidfile is not running")
        self.assertIn(pid, h.pids_with_arg(cfg))

        st = h.proc_stat(pid)
        self.assertEqual(int(st[6]), 0, "daemon has a controlling terminal (tty_nr)")
        self.assertNotEqual(int(st[5]), os.getsid(0), "daemon still in the test's session")
        self.assertNotEqual(int(st[4]), os.getpgid(0), "daemon still in the test's process group")
        self.assertEqual(os.readlink("/proc/%d/cwd" % pid), "/", "cwd is /")
        for fd in (0, 1, 2):
            self.assertEqual(os.readlink("/proc/%d/fd/%d" % (pid, fd)), "/dev/null",
                             "fd %d is not /dev/null" % fd)

        self.assertTrue(h.wait_tcp_echo("127.0.0.1", port), "the daemon does not echo")
        got, _ = h.tcp_echo("127.0.0.1", port, b"daemonized echo")
        self.assertEqual(got, b"daemonized echo")

        # SIGTERM: gone, pidfile removed, nothing left
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(pid), 20), "daemon did not exit")
        h.reap(pid)
        self.assertTrue(h.wait_until(lambda: not os.path.exists(pidfile), 5), "pidfile not removed")
        self.assertEqual([p for p in h.pids_with_arg(cfg) if h.pid_alive(p)], [],
                         "processes of the daemon left")
        self.assertTrue(h.tcp_refused("127.0.0.1", port))

    def test_second_instance_refused(self):
        port1, port2 = self.port(), self.port()
        pidfile = self.tmp.file("secho.pid")
        cfg1 = self.tmp.write("one.cfg", h.config_text([tcp(port1)], daemon={"pidfile": pidfile}))
        cfg2 = self.tmp.write("two.cfg", h.config_text([tcp(port2)], daemon={"pidfile": pidfile}))
        status, out, err, _ = self.start_detached(cfg1)
        self.assertEqual(status, 0, err)
        pid = self.read_pidfile(pidfile)
        self.assertTrue(pid and h.pid_alive(pid))
        self.assertTrue(h.wait_tcp_echo("127.0.0.1", port1))

        status2, out2, err2, _ = self.start_detached(cfg2)
        self.assertIsNotNone(status2, "second instance did not exit")
        self.assertNotEqual(status2, 0, "a second instance with the same pidfile started")
        self.assertIn(pidfile, err2, "the message names the pidfile")
        time.sleep(0.5)
        self.assertEqual([p for p in h.pids_with_arg(cfg2) if h.pid_alive(p)], [],
                         "the second instance is running")
        self.assertTrue(h.tcp_refused("127.0.0.1", port2))
        self.assertEqual(self.read_pidfile(pidfile), pid, "the first instance's pidfile was changed")
        self.assertTrue(h.pid_alive(pid))
        self.assertTrue(h.try_echo("127.0.0.1", port1))

        # the same in the foreground
        r = h.run_secho(["-f", "-e", "-c", cfg2], timeout=20)
        self.assertFalse(r.timed_out, "a second foreground instance started")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(pidfile, r.stderr)
        self.assertEqual(self.read_pidfile(pidfile), pid)

    def test_stale_pidfile(self):
        """A pidfile left by a killed daemon (its PID not running) does not
        stop a new start."""
        port = self.port()
        pidfile = self.tmp.file("secho.pid")
        # a PID that is surely not running: a reaped child of ours
        p = subprocess.Popen(["true"])
        p.wait()
        with open(pidfile, "w") as f:
            f.write("%d\n" % p.pid)
        cfg = self.tmp.write("secho.cfg", h.config_text([tcp(port)], daemon={"pidfile": pidfile}))
        status, out, err, _ = self.start_detached(cfg)
        self.assertEqual(status, 0, err)
        pid = h.wait_until(lambda: (self.read_pidfile(pidfile, 1) or 0) != p.pid and
                           self.read_pidfile(pidfile, 1), 10)
        self.assertTrue(pid and h.pid_alive(pid))
        self.assertTrue(h.wait_tcp_echo("127.0.0.1", port))

    def test_startup_error_reported_before_detaching(self):
        """Errors at start reach the starting command's stderr and exit status."""
        import socket
        port, busy_port = self.port(), self.port()
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", busy_port))
        busy.listen(1)
        cfg = self.tmp.write("busy.cfg", h.config_text(
            [tcp(port), tcp(busy_port)], daemon={"pidfile": self.tmp.file("secho.pid")}))
        status, out, err, _ = self.start_detached(cfg)
        self.assertEqual(status, h.EX_OSERR, err)
        self.assertIn("127.0.0.1:%d" % busy_port, err)
        time.sleep(0.5)
        self.assertEqual([p for p in h.pids_with_arg(cfg) if h.pid_alive(p)], [])
        self.assertFalse(os.path.exists(self.tmp.file("secho.pid")))

        text = 'limits = {\n  idle_timeout = "x";\n};\nlisteners = ( { proto = "tcp"; address = "127.0.0.1"; port = %d; } );\n' % port
        cfg = self.tmp.write("bad.cfg", text)
        status, out, err, _ = self.start_detached(cfg)
        self.assertEqual(status, h.EX_CONFIG, err)
        self.assertIn("bad.cfg:2", err)
