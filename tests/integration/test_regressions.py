"""Regression tests for the eight defects found in a reading of f885142
(issue 11).  Each drives the daemon from the outside only (ports, logs,
signals, strace fault injection), so each also runs against a binary of
that commit, where it fails: SECHO_BIN=old/secho python3
tests/integration/run.py test_regressions."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness as h


def tcp(port, **extra):
    d = {"proto": "tcp", "address": "127.0.0.1", "port": port}
    d.update(extra)
    return d


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for k in h.children(todo.pop()):
            out.append(k)
            todo.append(k)
    return out


def socket_owner(client):
    """The pid that holds the server side of client's TCP connection."""
    port = client.getsockname()[1]
    inodes = set()
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(fn) as f:
            next(f)
            for line in f:
                parts = line.split()
                if int(parts[2].rsplit(":", 1)[1], 16) == port:
                    inodes.add("socket:[%s]" % parts[9])
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % d):
                if os.readlink("/proc/%s/fd/%s" % (d, fd)) in inodes:
                    return int(d)
        except OSError:
            continue
    return None


SIGNAL_CALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
                "pidfd_send_signal")
LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)\)\s+=\s+(-?\d+)")
SIGNAL = re.compile(r"^(\d+)\s+(%s)\((-?\d+)" % "|".join(SIGNAL_CALLS))


def check_signals(trace_text, seed):
    """Every signal sent in the strace -f output went to a child the
    sender created itself (clone/fork) and had not reaped yet.  seed maps
    pid -> its children that exist before the trace.  Returns the
    violations."""
    kids = {p: set(c) for p, c in seed.items()}
    bad = []
    for line in trace_text.splitlines():
        m = SIGNAL.match(line)
        if m:  # checked when made, finished or not
            if int(m.group(3)) not in kids.get(int(m.group(1)), set()):
                bad.append(line)
            continue
        m = LINE.match(line)
        if not m:
            continue
        pid, call, rv = int(m.group(1)), m.group(2) or m.group(3), int(m.group(5))
        if call in ("clone", "clone3", "fork", "vfork") and rv > 0:
            kids.setdefault(pid, set()).add(rv)
        elif call in ("wait4", "waitid") and rv > 0:
            kids.setdefault(pid, set()).discard(rv)
    return bad


class Strace:
    """strace attached to pids with fault injection; detached in cleanup."""

    def __init__(self, testcase, pids, args):
        if shutil.which("strace") is None:
            testcase.skipTest("strace is not installed (make deps installs it)")
        self.err = testcase.tmp.file("strace-%d.err" % pids[0])
        cmd = ["strace", "-o", os.devnull] + args
        for p in pids:
            cmd += ["-p", str(p)]
        with open(self.err, "w") as ef:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=ef)
        testcase.addCleanup(self.stop)

        def attached():
            with open(self.err) as f:
                return f.read().count("attached") >= len(pids) or self.proc.poll() is not None
        if not h.wait_until(attached, 10) or self.proc.poll() is not None:
            with open(self.err) as f:
                testcase.skipTest("strace cannot attach: " + f.read().strip())

    def stop(self):
        h.kill_pid(self.proc.pid)


class Defects(h.SechoTestCase):
    def test_1_failed_reload_keeps_every_listener(self):
        """A reload that turns tcp on P into tls on P and adds tcp on a
        port another process holds fails, and P still serves as before
        (it was closed to make room for the tls socket)."""
        ca, cert, key = h.repo_certs()
        p, q = self.port(), self.port()
        other = socket.socket()
        self.addCleanup(other.close)
        other.bind(("127.0.0.1", q))
        other.listen(1)
        d = self.daemon([tcp(p)], tls={"certificate": cert, "private_key": key})
        self.assertTrue(h.try_echo("127.0.0.1", p))
        mark = d.mark()
        d.rewrite([{"proto": "tls", "address": "127.0.0.1", "port": p}, tcp(q)],
                  tls={"certificate": cert, "private_key": key})
        d.signal(signal.SIGHUP)
        ev = d.wait_event("reload", start=mark)
        self.assertEqual(ev["result"], "failed", d.tail())
        self.assertIn("127.0.0.1:%d" % q, ev["error"])
        for i in range(3):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"still tcp %d" % i),
                            "the old listener stopped serving:\n" + d.tail())

    def test_2_3_only_own_unreaped_children_are_signalled(self):
        """strace follows every secho process through PROXY connections
        (verdicts, a refusal), a TLS connection, a reload and a shutdown
        that ends held connections: each kill() goes to a child of the
        caller's own that it has not reaped -- no pid learned from another
        process, none reaped and maybe reused (defects 2 and 3: SIGUSR2
        verdicts to pids the spawner named)."""
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed (make deps installs it)")
        ca, cert, key = h.repo_certs()
        p, pt, pu = self.port(), self.port(), self.port()
        d = self.daemon([tcp(p, proxy_protocol=True),
                         {"proto": "tls", "address": "127.0.0.1", "port": pt},
                         {"proto": "udp", "address": "127.0.0.1", "port": pu}],
                        tls={"certificate": cert, "private_key": key},
                        limits={"max_connections_per_host": 1},
                        daemon={"shutdown_timeout": 1},
                        # LeakSanitizer cannot work under ptrace
                        env={"ASAN_OPTIONS": "detect_leaks=0"})
        time.sleep(1.0)  # every helper started
        procs = sorted([d.pid] + descendants(d.pid))
        seed = {x: set(h.children(x)) for x in procs}
        out = self.tmp.file("strace.out")
        err = self.tmp.file("strace.err")
        args = ["strace", "-f", "-qq", "-o", out, "-e",
                "trace=" + ",".join(SIGNAL_CALLS + ("clone", "clone3", "fork", "vfork",
                                                   "wait4", "waitid"))]
        for x in procs:
            args += ["-p", str(x)]
        with open(err, "w") as ef:
            st = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=ef)
        self.addCleanup(h.kill_pid, st.pid)
        time.sleep(1.0)
        if st.poll() is not None:
            with open(err) as f:
                self.skipTest("strace cannot attach: " + f.read().strip())

        held = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(held.close)
        held.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.9 1000 7\r\nheld")
        self.assertEqual(h.recv_exact(held, 4, 20), b"held")
        # same host again: over the per-host limit, refused by verdict
        s = h.tcp_connect("127.0.0.1", p)
        with s:
            s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.9 1001 7\r\nno")
            self.assertIs(h.not_served(s, 20), True)
        for i in range(3):
            s = h.tcp_connect("127.0.0.1", p)
            with s:
                s.sendall(b"PROXY TCP4 192.0.2.%d 192.0.2.9 1000 7\r\nok" % (10 + i))
                self.assertEqual(h.recv_exact(s, 2, 20), b"ok")
        t = h.tls_client_ctx(ca).wrap_socket(h.tcp_connect("127.0.0.1", pt),
                                             server_hostname="localhost")
        self.addCleanup(t.close)
        t.sendall(b"tls")
        self.assertEqual(h.recv_exact(t, 3, 20), b"tls")
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", 30, start=mark, result="ok")
        held2 = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(held2.close)
        held2.sendall(b"PROXY TCP4 192.0.2.2 192.0.2.9 1000 7\r\nheld")
        self.assertEqual(h.recv_exact(held2, 4, 20), b"held")
        self.assertEqual(d.stop(60), 0, d.tail())
        st.wait(30)
        with open(out) as f:
            text = f.read()
        self.assertIn("kill(", text, "no signal was traced at all:\n" + text[-3000:])
        self.assertEqual(check_signals(text, seed), [], "seed %r\n%s" % (seed, text[-6000:]))

    def test_the_checker_sees_a_stranger_signalled(self):
        """The check above can fail: a kill() of a pid the caller did not
        create, or of one it has reaped, is reported."""
        trace = "\n".join([
            "100 clone(child_stack=NULL, flags=SIGCHLD) = 200",
            "200 clone(child_stack=NULL, flags=SIGCHLD) = 300",
            "100 kill(200, SIGTERM) = 0",
            "100 kill(300, SIGUSR2) = 0",
            "100 wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], WNOHANG, NULL) = 200",
            "100 kill(200, SIGTERM) = -1 ESRCH (No such process)",
        ])
        bad = check_signals(trace, {})
        self.assertEqual(len(bad), 2, bad)
        self.assertIn("kill(300", bad[0])
        self.assertIn("kill(200", bad[1])

    def test_4_a_failed_event_loop_ends_everything_and_exits_non_zero(self):
        """poll() fails in the master's loop (strace injects ENOMEM): it
        says why, ends every process it started, and exits non-zero."""
        p, pu = self.port(), self.port()
        d = self.daemon([tcp(p), {"proto": "udp", "address": "127.0.0.1", "port": pu}])
        s = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(s.close)
        s.sendall(b"held")
        self.assertEqual(h.recv_exact(s, 4), b"held")
        procs = h.wait_until(lambda: descendants(d.pid) if len(descendants(d.pid)) >= 3
                             else None, 10)
        self.assertTrue(procs, descendants(d.pid))
        Strace(self, [d.pid], ["-e", "trace=poll,ppoll",
                               "-e", "inject=poll,ppoll:error=ENOMEM"])
        d.signal(signal.SIGUSR1)	# a turn of the loop
        rc = d.wait_exit(30)
        self.assertIsNotNone(rc, "the master did not exit:\n" + d.tail())
        self.assertNotEqual(rc, 0, d.tail())
        self.assertTrue(any("poll" in l for l in d.lines()), d.tail())
        self.assertTrue(h.wait_until(lambda: not [x for x in procs if h.pid_alive(x)], 10),
                        "left running: %r" % [x for x in procs if h.pid_alive(x)])
        self.assertIs(h.not_served(s, 10), True)

    def test_5_no_verdict_on_a_proxy_peer_fails_closed(self):
        """The master does not answer about a PROXY peer (stopped): the
        connection is not served -- it ends by handshake_timeout -- and
        its process still ends at once on SIGTERM while it waits."""
        p = self.port()
        d = self.daemon([tcp(p, proxy_protocol=True)], limits={"handshake_timeout": 4})
        # accepted and handed over before the master stops
        a = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(a.close)
        t_accept = time.monotonic()
        self.assertTrue(h.wait_until(lambda: socket_owner(a), 10))
        b = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(b.close)
        owner = h.wait_until(lambda: socket_owner(b), 10)
        self.assertTrue(owner)
        os.kill(d.pid, signal.SIGSTOP)
        self.addCleanup(lambda: d.alive() and os.kill(d.pid, signal.SIGCONT))

        b.sendall(b"PROXY TCP4 192.0.2.2 192.0.2.9 1000 7\r\nwaiting")
        time.sleep(0.5)
        t0 = time.monotonic()
        os.kill(owner, signal.SIGTERM)
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(owner), 10))
        self.assertLess(time.monotonic() - t0, 1.5, "SIGTERM waited for the verdict")
        self.assertIs(h.not_served(b, 5), True)

        a.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.9 1000 7\r\nserve me?")
        a.settimeout(12)
        try:
            got = a.recv(100)
        except (ConnectionResetError, socket.timeout):
            got = b""
        took = time.monotonic() - t_accept
        self.assertEqual(got, b"", "served without the master's verdict")
        self.assertLess(took, 10, "held for %.1f s" % took)
        os.kill(d.pid, signal.SIGCONT)
        ev = d.wait_event("close", 10, peer="192.0.2.1:1000")
        self.assertEqual(ev["reason"], "handshake-timeout")

    def test_6_proxy_header_and_tls_handshake_share_one_budget(self):
        """handshake_timeout bounds the PROXY header and the TLS
        handshake together: a header sent after 3 s of 4, then a stalled
        handshake, is closed 4 s after accept, not 3 + 4."""
        ca, cert, key = h.repo_certs()
        p = self.port()
        d = self.daemon([{"proto": "tls", "address": "127.0.0.1", "port": p,
                          "proxy_protocol": True}],
                        tls={"certificate": cert, "private_key": key},
                        limits={"handshake_timeout": 4})
        s = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        time.sleep(3)
        s.sendall(b"PROXY TCP4 192.0.2.7 192.0.2.9 1000 7\r\n")
        s.settimeout(15)
        try:
            got = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            got = b""
        took = time.monotonic() - t0
        self.assertEqual(got, b"")
        self.assertLess(took, 6, "closed after %.1f s" % took)
        ev = d.wait_event("close", 10, peer="192.0.2.7:1000")
        self.assertEqual(ev["reason"], "handshake-timeout")
        self.assertLess(int(ev["duration_ms"]), 6000, ev)

    def test_7_udp_worker_kept_when_its_successor_cannot_start(self):
        """A reload whose new UDP worker cannot be forked (strace makes
        every fork of the master fail) leaves the old worker serving:
        no datagram goes unanswered."""
        pu = self.port()
        d = self.daemon([{"proto": "udp", "address": "127.0.0.1", "port": pu}])
        worker = h.wait_until(lambda: h.children(d.pid), 10)
        self.assertEqual(len(worker), 1)
        self.assertTrue(h.udp_echo("127.0.0.1", pu, b"before", tries=3))
        Strace(self, [d.pid], ["-e", "trace=clone,clone3,fork,vfork",
                               "-e", "inject=clone,clone3,fork,vfork:error=EAGAIN"])
        sock = h.udp_socket()
        self.addCleanup(sock.close)
        sock.settimeout(0.5)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        lost = 0
        for i in range(40):
            sock.sendto(b"n%d" % i, ("127.0.0.1", pu))
            try:
                got, _ = sock.recvfrom(100)
                if got != b"n%d" % i:
                    lost += 1
            except socket.timeout:
                lost += 1
            time.sleep(0.05)
        d.wait_event("reload", start=mark, result="ok")
        self.assertEqual(lost, 0, "datagrams lost around the reload:\n" + d.tail())
        self.assertTrue(h.pid_alive(worker[0]), "the old worker was stopped")

    def test_8_process_creation_failures_are_logged_at_a_bounded_rate(self):
        """When the process of a connection cannot be created (strace
        makes fork fail with EAGAIN), each client is closed at once and
        the warnings come at most 20 a second, the rest counted in
        suppressed=N on the next line."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 1000,
                                          "max_connections_per_host": 1000})
        self.assertTrue(h.try_echo("127.0.0.1", p))
        forkers = h.wait_until(lambda: [k for k in h.children(d.pid)
                                        if (h.proc_comm(k) or "").startswith("secho-")], 10)
        self.assertTrue(forkers, h.children(d.pid))
        Strace(self, forkers, ["-f", "-e", "trace=clone,clone3,fork,vfork",
                               "-e", "inject=clone,clone3,fork,vfork:error=EAGAIN"])
        mark = d.mark()
        t0 = time.monotonic()
        clients = [h.tcp_connect("127.0.0.1", p) for _ in range(142)]
        for c in clients:
            self.addCleanup(c.close)
            c.sendall(b"x")
        for c in clients:
            self.assertIs(h.not_served(c, 10), True)
        burst = time.monotonic() - t0
        time.sleep(1.2)
        last = h.tcp_connect("127.0.0.1", p)
        with last:
            self.assertIs(h.not_served(last, 10), True)
        time.sleep(0.5)
        lines = [l for l in d.lines(mark) if "not-served" in l or "could not create" in l
                 or "fork" in l]
        allowed = 20 * (int(burst) + 2) + 1
        self.assertLessEqual(len(lines), allowed, "\n".join(lines[-5:]))
        evs = d.events("not-served", start=mark)
        self.assertTrue(evs, d.tail())
        total = len(evs) + sum(int(e.get("suppressed", "0")) for e in evs)
        self.assertEqual(total, 143, [e.get("suppressed") for e in evs])
        self.assertIn("Resource temporarily unavailable", evs[0]["error"])
