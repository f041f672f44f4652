"""Engines own their connections' processes (doc/DESIGN.md): secho-tcp
(exec'd, libc only) and secho-tls (a fork of the master) each fork, reap
and report on the processes of their protocol's connections over one
channel.  These tests check who is whose child, what happens when an
engine dies, is missing, or comes from another build, that no process
outlives the service, and that no process ever signals a pid that is not
its own unreaped child."""

import os
import re
import resource
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


def tls(port, **extra):
    d = {"proto": "tls", "address": "127.0.0.1", "port": port}
    d.update(extra)
    return d


def maps(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def ppid(pid):
    return int(h.proc_stat(pid)[3])


def engine_bin():
    return os.path.join(os.path.dirname(h.secho_bin()), "secho-tcp")


def echo_open(testcase, port, msg=b"hello"):
    s = h.tcp_connect("127.0.0.1", port)
    testcase.addCleanup(s.close)
    s.sendall(msg)
    testcase.assertEqual(h.recv_exact(s, len(msg)), msg)
    return s


def tls_open(testcase, ca, port, msg=b"tls"):
    t = h.tls_client_ctx(ca).wrap_socket(h.tcp_connect("127.0.0.1", port),
                                         server_hostname="localhost")
    testcase.addCleanup(t.close)
    t.sendall(msg)
    testcase.assertEqual(h.recv_exact(t, len(msg)), msg)
    return t


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n)) if hard != resource.RLIM_INFINITY else max(soft, n)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class Ownership(h.SechoTestCase):
    def test_each_connection_is_a_child_of_its_engine(self):
        """secho-tcp is the master's child, exec'd from secho-tcp and
        mapping no OpenSSL; a plain connection's process is secho-tcp's
        child (named secho, no OpenSSL either).  secho-tls is the master's
        child too, a fork of it; a TLS connection's process is its child.
        The master counts both as active."""
        ca, cert, key = h.repo_certs()
        p, pt = self.port(), self.port()
        d = self.daemon([tcp(p), tls(pt)], tls={"certificate": cert, "private_key": key})
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        self.assertEqual(len(eng), 1, h.children(d.pid))
        self.assertEqual(os.path.basename(os.readlink("/proc/%d/exe" % eng[0])), "secho-tcp")
        self.assertNotIn("libcrypto", maps(eng[0]))
        teng = h.wait_until(lambda: d.engines("secho-tls"), 10)
        self.assertEqual(len(teng), 1, h.children(d.pid))
        self.assertIn("libcrypto", maps(teng[0]))

        s = echo_open(self, p)
        t = tls_open(self, ca, pt)
        kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) == 2 else None, 10)
        self.assertTrue(kids, d.live_children())
        by_parent = {ppid(k): k for k in kids}
        self.assertEqual(sorted(by_parent), sorted([eng[0], teng[0]]))
        plain, secure = by_parent[eng[0]], by_parent[teng[0]]
        self.assertEqual(h.proc_comm(plain), "secho")
        self.assertNotIn("libcrypto", maps(plain))
        self.assertIn("libcrypto", maps(secure))
        self.assertEqual(h.stats(d).get("active"), "2")
        s.close()
        t.close()
        self.assertTrue(h.wait_until(lambda: h.stats(d).get("active") == "0", 10), d.tail())
        self.assertEqual(d.zombies(), [])

    def test_inherited_descriptors_go_nowhere(self):
        """A descriptor that whoever started secho left open (here a file
        and a socket) is closed at start: neither the master, an engine, a
        plain or TLS connection's process (from secho-tcp, or from the
        fork-mode engine) nor the UDP worker holds it."""
        ca, cert, key = h.repo_certs()
        leak_path = self.tmp.file("leaked-file")
        leak = open(leak_path, "w")
        self.addCleanup(leak.close)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock_link = "socket:[%d]" % os.fstat(sock.fileno()).st_ino

        def holders(pids):
            found = []
            for pid in pids:
                for fd in os.listdir("/proc/%d/fd" % pid):
                    try:
                        link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                    except FileNotFoundError:
                        continue
                    if link in (leak_path, sock_link):
                        found.append((pid, fd, link))
            return found

        for env in (None, {"SECHO_TCP_ENGINE": "none"}):
            p, pt, pu = self.port(), self.port(), self.port()
            d = self.daemon([tcp(p), tls(pt), {"proto": "udp", "address": "127.0.0.1", "port": pu}],
                            tls={"certificate": cert, "private_key": key}, env=env,
                            pass_fds=(leak.fileno(), sock.fileno()))
            self.assertEqual(len(holders([os.getpid()])), 2)
            s = echo_open(self, p)
            t = tls_open(self, ca, pt)
            kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) == 3
                                else None, 10)
            self.assertTrue(kids, "expected 2 connections' processes and the UDP worker: %r"
                            % d.live_children())
            procs = [d.pid] + kids + d.engines()
            self.assertEqual(len(procs), 6, procs)
            self.assertEqual(holders(procs), [])
            s.close()
            t.close()
            d.stop()

    def test_connections_do_not_hold_each_others_descriptors(self):
        """Behind PROXY each connection's process has a channel to its
        engine; a later connection's process holds none of the earlier
        ones' (nor the engine's own), only its socket and its channel."""
        p = self.port()
        d = self.daemon([tcp(p, proxy_protocol=True)])
        socks = []
        for i in range(5):
            s = h.tcp_connect("127.0.0.1", p)
            self.addCleanup(s.close)
            s.sendall(b"PROXY TCP4 192.0.2.%d 192.0.2.200 1000 7\r\nhi" % (i + 1))
            self.assertEqual(h.recv_exact(s, 2), b"hi")
            socks.append(s)
        kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) == 5 else None, 10)
        self.assertTrue(kids, d.live_children())
        for k in kids:
            fds = sorted(int(x) for x in os.listdir("/proc/%d/fd" % k))
            sockets = [fd for fd in fds if fd > 2 and
                       os.readlink("/proc/%d/fd/%d" % (k, fd)).startswith("socket:")]
            # its client socket and at most its syslog connection (no
            # /dev/log here); its PROXY channel is closed after the verdict
            self.assertLessEqual(len(sockets), 2, (k, fds))
            self.assertEqual([fd for fd in fds if fd >= 64], [], (k, fds))


class EngineDeath(h.SechoTestCase):
    def kill_under_load(self, d, port, comm, open_conn, try_one):
        """Hold 10 connections and run a client loop; SIGKILL the engine
        comm.  Its processes all end (no orphan, no zombie), the master
        says how many ended and restarts it, and service resumes."""
        eng = h.wait_until(lambda: d.engines(comm), 10)
        self.assertEqual(len(eng), 1)
        held = [open_conn() for _ in range(10)]
        kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) >= 10 else None, 10)
        self.assertTrue(kids, d.live_children())
        stop = threading.Event()
        results = []

        def loop():
            while not stop.is_set():
                results.append(try_one())
        th = threading.Thread(target=loop, daemon=True)
        th.start()
        self.addCleanup(stop.set)
        time.sleep(0.3)
        mark = d.mark()
        os.kill(eng[0], signal.SIGKILL)
        ev = d.wait_event("warning", 10, start=mark,
                          msg=lambda m: ("%s %d killed by signal 9" % (comm, eng[0])) in m)
        n = int(re.search(r"its (\d+) connection", ev["msg"]).group(1))
        self.assertGreaterEqual(n, 10, ev["msg"])
        self.assertTrue(h.wait_until(lambda: not [k for k in kids if h.pid_alive(k)], 10),
                        "connections' processes outlived their engine: %r"
                        % [k for k in kids if h.pid_alive(k)])
        new = h.wait_until(lambda: [x for x in d.engines(comm) if x != eng[0]], 10)
        self.assertTrue(new, "%s was not restarted:\n%s" % (comm, d.tail()))
        for s in held:
            self.assertIs(h.not_served(s, 10), True)
        k = len(results)
        self.assertTrue(h.wait_until(lambda: len(results) > k + 5 and all(results[-5:]), 20),
                        "service did not resume:\n" + d.tail())
        stop.set()
        th.join(20)
        self.assertTrue(h.wait_until(lambda: h.stats(d).get("active") == "0", 10),
                        h.stats(d)["_line"])
        self.assertTrue(h.wait_until(lambda: d.zombies() == [] and
                                     h.zombies(os.getpid()) == [], 10), d.zombies())
        # nothing of ours was left to PID 1
        orphans = [x for x in h.pids_with_arg(d.cfg) if x != d.pid and
                   ppid(x) == 1]
        self.assertEqual(orphans, [])

    def test_tcp_engine_killed_under_load(self):
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 100})
        self.kill_under_load(d, p, "secho-tcp", lambda: echo_open(self, p),
                             lambda: h.try_echo("127.0.0.1", p, b"loop", 5))

    def test_tls_engine_killed_under_load(self):
        ca, cert, key = h.repo_certs()
        p = self.port()
        d = self.daemon([tls(p)], tls={"certificate": cert, "private_key": key},
                        limits={"max_connections": 100})
        ctx = h.tls_client_ctx(ca)

        def one():
            try:
                return h.tls_echo(ctx, "127.0.0.1", p, b"loop", 5)[0] == b"loop"
            except (OSError, ValueError):
                return False
        self.kill_under_load(d, p, "secho-tls", lambda: tls_open(self, ca, p), one)

    def test_max_connections_counts_exactly_across_a_restart(self):
        """After its engine died, max_connections counts the new ones
        only: with a limit of 3, 3 are served and the 4th refused."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 3})
        a = echo_open(self, p)
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        self.assertTrue(eng, h.children(d.pid))
        mark = d.mark()
        os.kill(eng[0], signal.SIGKILL)
        d.wait_event("warning", 10, start=mark, msg=lambda m: "its 1 connection" in m)
        self.assertTrue(h.wait_until(lambda: [x for x in d.engines("secho-tcp")
                                              if x != eng[0]], 10))
        self.assertIs(h.not_served(a, 10), True)
        held = [echo_open(self, p, b"n%d" % i) for i in range(3)]
        extra = h.tcp_connect("127.0.0.1", p)
        with extra:
            self.assertIs(h.not_served(extra), True)
        d.wait_event("refused", start=mark, reason="max-connections")
        for s in held:
            s.sendall(b"ok")
            self.assertEqual(h.recv_exact(s, 2), b"ok")


class FallbacksAndVersions(h.SechoTestCase):
    def test_fork_mode_without_secho_tcp(self):
        """SECHO_TCP_ENGINE=none: the plain engine is a fork of the
        master (secho-tcp by name, OpenSSL mapped), and serves."""
        p = self.port()
        d = self.daemon([tcp(p)], env={"SECHO_TCP_ENGINE": "none"})
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        self.assertTrue(eng)
        self.assertEqual(os.readlink("/proc/%d/exe" % eng[0]),
                         os.readlink("/proc/%d/exe" % d.pid))
        s = echo_open(self, p)
        s.close()
        d.wait_event("close", proto="tcp", bytes_in="5", bytes_out="5")

    def test_missing_secho_tcp(self):
        """SECHO_TCP_ENGINE naming a missing file: a warning naming it,
        and the fork-mode engine serves."""
        p = self.port()
        missing = self.tmp.file("no-such-engine")
        d = self.daemon([tcp(p)], env={"SECHO_TCP_ENGINE": missing})
        d.wait_event("warning", msg=lambda m: ("no secho-tcp at " + missing) in m)
        for i in range(5):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"x%d" % i), d.tail())

    def test_secho_tcp_refuses_to_run_by_hand(self):
        r = subprocess.run([engine_bin()], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("started by secho(8) only", r.stderr)

    def test_secho_tcp_of_another_protocol_refuses_to_start(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(a.close)

        def fds():
            os.dup2(b.fileno(), 3)
        r = subprocess.run([engine_bin(), str(os.getpid()), "999"], preexec_fn=fds,
                           close_fds=False, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        b.close()
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("restart secho", r.stderr)

    def test_engine_from_another_build_gives_way_to_fork_mode(self):
        """A secho-tcp that speaks another protocol (an upgrade under a
        running master) exits 65; the master then serves plain TCP from
        a fork of its own instead of restarting it in a loop."""
        p = self.port()
        fake = self.tmp.file("secho-tcp")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'secho-tcp: protocol 999, secho speaks 2: restart secho' >&2\n"
                    "exit 65\n")
        os.chmod(fake, 0o755)
        d = self.daemon([tcp(p)], env={"SECHO_TCP_ENGINE": fake})
        d.wait_event("warning", 10, msg=lambda m: "exited with status 65" in m)
        for i in range(5):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"x%d" % i), d.tail())
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        self.assertTrue(eng, h.children(d.pid))
        self.assertEqual(os.readlink("/proc/%d/exe" % eng[0]),
                         os.readlink("/proc/%d/exe" % d.pid))


class Generations(h.SechoTestCase):
    def test_engines_follow_the_listeners(self):
        """Only UDP at start: no engine.  A SIGHUP that adds a plain TCP
        listener starts secho-tcp; one that adds a tls listener starts
        secho-tls; removing them drains and ends them."""
        ca, cert, key = h.repo_certs()
        pu, p, pt = self.port(), self.port(), self.port()
        udp = {"proto": "udp", "address": "127.0.0.1", "port": pu}
        d = self.daemon([udp], tls={"certificate": cert, "private_key": key})
        time.sleep(0.3)
        self.assertEqual(d.engines(), [])
        mark = d.mark()
        d.rewrite([udp, tcp(p), tls(pt)], tls={"certificate": cert, "private_key": key})
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        self.assertTrue(h.wait_until(lambda: len(d.engines()) == 2, 10), d.tail())
        self.assertTrue(h.try_echo("127.0.0.1", p))
        tls_open(self, ca, pt).close()
        mark = d.mark()
        d.rewrite([udp], tls={"certificate": cert, "private_key": key})
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        self.assertTrue(h.wait_until(lambda: d.engines() == [], 10), d.engines())
        self.assertEqual(d.events("warning", start=mark), [])

    def test_reload_renews_the_tls_engine_and_the_old_one_drains(self):
        """A reload starts a new secho-tls with the new contexts; the old
        one takes no new connection, keeps echoing the one it has, and
        ends when that one closes."""
        ca, cert, key = h.repo_certs()
        pt = self.port()
        d = self.daemon([tls(pt)], tls={"certificate": cert, "private_key": key})
        old = h.wait_until(lambda: d.engines("secho-tls"), 10)
        t = tls_open(self, ca, pt, b"before")
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        both = h.wait_until(lambda: d.engines("secho-tls") if len(d.engines("secho-tls")) == 2
                            else None, 10)
        self.assertTrue(both, d.engines())
        u = tls_open(self, ca, pt, b"after")
        kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) == 2 else None, 10)
        self.assertEqual(sorted(ppid(k) for k in kids), sorted(both))
        t.sendall(b"still")
        self.assertEqual(h.recv_exact(t, 5), b"still")
        self.assertIn(old[0], d.engines("secho-tls"))
        t.close()
        self.assertTrue(h.wait_until(lambda: old[0] not in d.engines("secho-tls"), 10),
                        "the old secho-tls did not end after its last connection")
        u.sendall(b"on")
        self.assertEqual(h.recv_exact(u, 2), b"on")
        self.assertEqual(d.events("warning", start=mark), [])

    def test_everything_ends_with_a_killed_master(self):
        """SIGKILL of the master: its engines and UDP worker die with it,
        and the engines' connections' processes with them; nothing is
        left (the UDP port is free again)."""
        ca, cert, key = h.repo_certs()
        p, pt, pu = self.port(), self.port(), self.port()
        d = self.daemon([tcp(p), tls(pt), {"proto": "udp", "address": "127.0.0.1", "port": pu}],
                        tls={"certificate": cert, "private_key": key})
        echo_open(self, p)
        tls_open(self, ca, pt)
        procs = h.wait_until(lambda: d.live_children() + d.engines()
                             if len(d.live_children()) == 3 else None, 10)
        self.assertEqual(len(procs), 5, procs)
        d.signal(signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: not [x for x in procs if h.pid_alive(x)], 10),
                        "outlived the master: %r" % [x for x in procs if h.pid_alive(x)])


class Shutdown(h.SechoTestCase):
    def test_sigterm_with_1000_open_connections(self):
        """1000 open connections (plain and TLS) at SIGTERM: every
        process ends soon after shutdown_timeout, each connection logs
        reason=shutdown, exit 0, and no process is left."""
        ca, cert, key = h.repo_certs()
        raise_nofile(4096)
        p, pt = self.port(), self.port()
        d = self.daemon([tcp(p), tls(pt)], tls={"certificate": cert, "private_key": key},
                        limits={"max_connections": 2000, "max_connections_per_host": 2000},
                        daemon={"shutdown_timeout": 2})
        socks = []
        for i in range(900):
            s = h.tcp_connect("127.0.0.1", p)
            s.sendall(b"x")
            socks.append(s)
        for i in range(100):
            socks.append(tls_open(self, ca, pt))
        for s in socks:
            self.addCleanup(s.close)
        for s in socks[:900]:
            self.assertEqual(h.recv_exact(s, 1), b"x")
        self.assertTrue(h.wait_until(lambda: h.stats(d).get("active") == "1000", 30),
                        h.stats(d)["_line"])
        procs = d.live_children() + d.engines()
        self.assertEqual(len(procs), 1002)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait_exit(60)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, d.tail())
        # 2 s to finish, then SIGTERM to 1000 processes: gone within 10 s
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 12, d.tail())
        self.assertEqual([x for x in procs if h.pid_alive(x)], [])
        self.assertEqual(h.pids_with_arg(d.cfg), [])
        for s in socks[:50]:
            self.assertIs(h.not_served(s, 10), True)


class Robustness(h.SechoTestCase):
    def test_messages_wait_for_a_stopped_engine_and_reach_it(self):
        """secho-tls stopped while 300 clients arrive: what the master
        could not hand over waits, in order, for that engine (also after
        secho-tcp was restarted beside it), every client is served once
        it runs again, and all are counted out when they close."""
        ca, cert, key = h.repo_certs()
        raise_nofile(4096)
        p, pt = self.port(), self.port()
        d = self.daemon([tcp(p), tls(pt)], tls={"certificate": cert, "private_key": key},
                        limits={"max_connections": 1000, "max_connections_per_host": 1000,
                                "handshake_timeout": 60})
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        self.assertTrue(eng, h.children(d.pid))
        os.kill(eng[0], signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: [x for x in d.engines("secho-tcp")
                                              if x != eng[0]], 10))
        teng = h.wait_until(lambda: d.engines("secho-tls"), 10)
        self.assertTrue(teng, h.children(d.pid))
        os.kill(teng[0], signal.SIGSTOP)
        self.addCleanup(lambda: h.pid_alive(teng[0]) and os.kill(teng[0], signal.SIGCONT))
        raws = []
        for i in range(300):
            r = h.tcp_connect("127.0.0.1", pt)
            self.addCleanup(r.close)
            raws.append(r)
        time.sleep(1)
        os.kill(teng[0], signal.SIGCONT)
        ctx = h.tls_client_ctx(ca)
        for i, r in enumerate(raws):
            t = ctx.wrap_socket(r, server_hostname="localhost")
            t.sendall(b"n%d" % i)
            self.assertEqual(h.recv_exact(t, len(b"n%d" % i), 30), b"n%d" % i)
            t.close()
        self.assertTrue(h.wait_until(lambda: h.stats(d).get("active") == "0", 30),
                        h.stats(d)["_line"])
        self.assertEqual([l for l in d.lines() if "restarting it" in l], [])
        self.assertTrue(h.try_echo("127.0.0.1", p))

    def test_sigterm_while_an_engine_is_stopped(self):
        """SIGTERM while secho-tls is stopped with connections waiting for
        it: the drain waits behind them; the master does not fail, and
        after the grace period everything ends."""
        ca, cert, key = h.repo_certs()
        pt = self.port()
        d = self.daemon([tls(pt)], tls={"certificate": cert, "private_key": key},
                        limits={"max_connections": 1000, "max_connections_per_host": 1000},
                        daemon={"shutdown_timeout": 1})
        teng = h.wait_until(lambda: d.engines("secho-tls"), 10)
        self.assertTrue(teng, h.children(d.pid))
        os.kill(teng[0], signal.SIGSTOP)
        self.addCleanup(lambda: h.pid_alive(teng[0]) and os.kill(teng[0], signal.SIGCONT))
        for i in range(300):
            r = h.tcp_connect("127.0.0.1", pt)
            self.addCleanup(r.close)
        time.sleep(1)
        d.signal(signal.SIGTERM)
        rc = d.wait_exit(30)
        self.assertEqual(rc, 0, d.tail())
        self.assertFalse(h.pid_alive(teng[0]))

    def test_reloads_under_a_connection_flood(self):
        """SIGHUP every 50 ms while clients connect as fast as they can:
        every reload is ok, the master keeps serving (under ASan: no use
        of the listener set a reload freed)."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 2000,
                                          "max_connections_per_host": 2000})
        stop = threading.Event()
        served = []

        def flood():
            while not stop.is_set():
                served.append(h.try_echo("127.0.0.1", p, b"f", 5))
        ths = [threading.Thread(target=flood, daemon=True) for _ in range(6)]
        for t in ths:
            t.start()
        self.addCleanup(stop.set)
        mark = d.mark()
        for i in range(40):
            d.signal(signal.SIGHUP)
            time.sleep(0.05)
        stop.set()
        for t in ths:
            t.join(20)
        self.assertTrue(d.alive(), d.tail())
        self.assertTrue(h.wait_until(lambda: len(d.events("reload", start=mark)) >= 1, 10))
        self.assertEqual(d.events("reload", start=mark, result="failed"), [])
        self.assertGreater(sum(served), 50)
        self.assertTrue(h.try_echo("127.0.0.1", p))

    def test_no_busy_loop_when_a_restart_is_no_longer_needed(self):
        """An engine that keeps dying gets a restart delay; when a reload
        then removes its listeners, nothing is due any more and the
        master sleeps (no CPU spent in a loop)."""
        p, pu = self.port(), self.port()
        udp = {"proto": "udp", "address": "127.0.0.1", "port": pu}
        d = self.daemon([tcp(p), udp])
        for _ in range(2):
            eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
            os.kill(eng[0], signal.SIGKILL)
            self.assertTrue(h.wait_until(lambda: eng[0] not in d.engines("secho-tcp"), 10))
            time.sleep(0.1)
        mark = d.mark()
        d.rewrite([udp])
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        c0 = h.cpu_seconds(d.pid)
        time.sleep(2)
        used = h.cpu_seconds(d.pid) - c0
        self.assertLess(used, 0.3, "the master used %.2f s of CPU in 2 s idle" % used)

    def test_a_failed_fork_does_not_give_up_secho_tcp(self):
        """One failed fork while secho-tcp is restarted (strace injects
        EAGAIN into the master's first clone) is tried again later with
        secho-tcp, not turned into fork mode for good."""
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed (make deps installs it)")
        p = self.port()
        d = self.daemon([tcp(p)])
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        self.assertTrue(eng, h.children(d.pid))
        err = self.tmp.file("strace.err")
        with open(err, "w") as ef:
            st = subprocess.Popen(["strace", "-o", os.devnull, "-p", str(d.pid), "-e",
                                   "trace=clone,clone3", "-e",
                                   "inject=clone,clone3:error=EAGAIN:when=1"],
                                  stdout=subprocess.DEVNULL, stderr=ef)
        self.addCleanup(h.kill_pid, st.pid)
        time.sleep(1)
        if st.poll() is not None:
            self.skipTest("strace cannot attach")
        os.kill(eng[0], signal.SIGKILL)
        new = h.wait_until(lambda: [x for x in d.engines("secho-tcp") if x != eng[0]], 20)
        self.assertTrue(new, d.tail())
        self.assertEqual(os.path.basename(os.readlink("/proc/%d/exe" % new[0])), "secho-tcp",
                         d.tail())
        self.assertTrue(h.try_echo("127.0.0.1", p))

    def test_large_access_lists(self):
        """A plain listener with 3000 deny entries serves (the master
        applies them); behind PROXY, where they travel with each
        connection, more than 2000 are a configuration error."""
        p = self.port()
        deny = ["10.%d.%d.0/24" % (i // 256, i % 256) for i in range(3000)]
        d = self.daemon([tcp(p, deny=deny)])
        for i in range(3):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"x%d" % i), d.tail())
        d.stop()
        bad = h.Secho(self.tmp, [tcp(p, deny=deny, proxy_protocol=True)], cfgname="bad.cfg")
        r = h.run_secho(["-t", "-c", bad.cfg])
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("with proxy_protocol, allow and deny hold 3000 entries; at most 2000",
                      r.stderr)


class DyingTogetherUnprivileged(h.SechoTestCase):
    def test_processes_that_dropped_privileges_still_die_with_their_parent(self):
        """With daemon.user set, a connection's process and a UDP worker
        change user, which clears the kernel's parent-death signal: they
        set it again, so a held connection ends with its SIGKILLed engine
        and the UDP worker with a SIGKILLed master (its port free)."""
        if not h.is_root():
            self.skipTest("needs root to change user")
        p, pu = self.port(), self.port()
        udp = {"proto": "udp", "address": "127.0.0.1", "port": pu}
        d = self.daemon([tcp(p), udp], daemon={"user": "nobody", "group": "nogroup"})
        s = echo_open(self, p, b"held")
        eng = h.wait_until(lambda: d.engines("secho-tcp"), 10)
        kids = h.wait_until(lambda: [k for k in h.children(eng[0]) if h.pid_alive(k)], 10)
        self.assertTrue(kids)
        self.assertEqual(h.proc_status(kids[0])["Uid"][0], str(pwd_uid("nobody")))
        os.kill(eng[0], signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(kids[0]), 10),
                        "the connection's process outlived its engine")
        self.assertIs(h.not_served(s, 10), True)
        worker = [k for k in h.children(d.pid) if h.proc_comm(k) not in h.ENGINE_COMMS]
        self.assertEqual(len(worker), 1, worker)
        d.signal(signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(worker[0]), 10),
                        "the UDP worker outlived the master")


def pwd_uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid
