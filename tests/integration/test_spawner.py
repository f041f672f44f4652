"""The plain TCP spawner (secho-spawn, spawn.h): plain TCP connection
children come from a small libc-only helper through clone(CLONE_PARENT),
so they are the master's children without OpenSSL in their address
space; TLS children still come from the master.  The master restarts a
dead spawner and forks plain children itself meanwhile (or when there is
no spawner at all), with every count right."""

import os
import signal
import socket
import ssl
import subprocess
import time

import harness as h


def tcp(port, **extra):
    d = {"proto": "tcp", "address": "127.0.0.1", "port": port}
    d.update(extra)
    return d


def maps(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def ppid(pid):
    return int(h.proc_stat(pid)[3])


def spawn_bin():
    return os.path.join(os.path.dirname(h.secho_bin()), "secho-spawn")


def echo_open(testcase, port, msg=b"hello"):
    s = h.tcp_connect("127.0.0.1", port)
    testcase.addCleanup(s.close)
    s.sendall(msg)
    testcase.assertEqual(h.recv_exact(s, len(msg)), msg)
    return s


class Spawner(h.SechoTestCase):
    def one_child(self, d):
        kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) == 1
                            else None, 10)
        self.assertTrue(kids, "expected one connection child: %r\n%s"
                        % (d.live_children(), d.tail()))
        return kids[0]

    def test_plain_children_come_from_the_spawner_without_openssl(self):
        """One secho-spawn runs beside the master, as its child, mapping
        neither libssl nor libcrypto; a plain TCP connection's process is
        the master's child (it counts, reaps and signals it), maps no
        OpenSSL either, and is named secho; a TLS connection's process
        still comes from the master, OpenSSL and all."""
        ca, cert, key = h.repo_certs()
        p, pt = self.port(), self.port()
        d = self.daemon([tcp(p), {"proto": "tls", "address": "127.0.0.1", "port": pt}],
                        tls={"certificate": cert, "private_key": key})
        self.assertIn("libcrypto", maps(d.pid))
        sp = h.wait_until(lambda: d.spawner(), 10)
        self.assertTrue(sp, "no secho-spawn child of the master: %r" % h.children(d.pid))
        self.assertEqual(len(sp), 1, sp)
        self.assertEqual(os.path.basename(os.readlink("/proc/%d/exe" % sp[0])), "secho-spawn")
        self.assertNotIn("libssl", maps(sp[0]))
        self.assertNotIn("libcrypto", maps(sp[0]))

        s = echo_open(self, p)
        kid = self.one_child(d)
        self.assertEqual(ppid(kid), d.pid, "the connection child is not the master's")
        self.assertEqual(h.proc_comm(kid), "secho")
        m = maps(kid)
        self.assertNotIn("libssl", m)
        self.assertNotIn("libcrypto", m)
        s.close()
        d.wait_event("close", proto="tcp", bytes_in="5", bytes_out="5")
        self.assertTrue(h.wait_until(lambda: not d.children(), 10), d.children())

        ctx = h.tls_client_ctx(ca)
        raw = h.tcp_connect("127.0.0.1", pt)
        t = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(t.close)
        t.sendall(b"tls")
        self.assertEqual(h.recv_exact(t, 3), b"tls")
        kid = self.one_child(d)
        self.assertEqual(ppid(kid), d.pid)
        self.assertIn("libcrypto", maps(kid))

    def test_inherited_descriptors_go_nowhere(self):
        """A descriptor that whoever started secho left open (here a file
        and a socket) is closed at start: neither the master nor the
        spawner, a plain or TLS connection's process, a master-forked
        plain one or the UDP worker holds it."""
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

        for env in (None, {"SECHO_SPAWN": "none"}):
            p, pt, pu = self.port(), self.port(), self.port()
            d = self.daemon([tcp(p), {"proto": "tls", "address": "127.0.0.1", "port": pt},
                             {"proto": "udp", "address": "127.0.0.1", "port": pu}],
                            tls={"certificate": cert, "private_key": key}, env=env,
                            pass_fds=(leak.fileno(), sock.fileno()))
            # the test's own view: the child did get them
            self.assertEqual(len(holders([os.getpid()])), 2)
            s = echo_open(self, p)
            t = h.tls_client_ctx(ca).wrap_socket(h.tcp_connect("127.0.0.1", pt),
                                                 server_hostname="localhost")
            self.addCleanup(t.close)
            t.sendall(b"tls")
            self.assertEqual(h.recv_exact(t, 3), b"tls")
            kids = h.wait_until(lambda: d.live_children() if len(d.live_children()) == 3
                                else None, 10)
            self.assertTrue(kids, "expected 2 connection children and the UDP worker: %r"
                            % d.live_children())
            procs = [d.pid] + kids + (d.spawner() if env is None else [])
            self.assertEqual(len(procs), 5 if env is None else 4, procs)
            self.assertEqual(holders(procs), [])
            s.close()
            t.close()
            d.stop()

    def test_spawner_killed_connections_served_counts_right(self):
        """SIGKILL of secho-spawn: an open connection keeps echoing, the
        master says so and restarts it, every new connection is served in
        the meantime, and max_connections still counts exactly."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 3})
        old = h.wait_until(lambda: d.spawner(), 10)
        self.assertTrue(old, "no spawner")
        a = echo_open(self, p, b"before")
        mark = d.mark()
        os.kill(old[0], signal.SIGKILL)
        ev = d.wait_event("warning", 10, start=mark,
                          msg=lambda m: "secho-spawn killed by signal 9" in m)
        self.assertTrue(ev)
        for i in range(20):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"during %d" % i),
                            "not served after the spawner died:\n" + d.tail())
            # the child may outlive the echo a little; the limit counts it
            self.assertTrue(h.wait_until(lambda: len(d.live_children()) == 1, 10),
                            d.live_children())
        a.sendall(b"still")
        self.assertEqual(h.recv_exact(a, 5), b"still")
        new = h.wait_until(lambda: [x for x in d.spawner() if x != old[0]], 10)
        self.assertTrue(new, "secho-spawn was not restarted:\n" + d.tail())
        # all 20 short connections ended: only a is active
        self.assertTrue(h.wait_until(lambda: len(d.events("close", start=mark)) >= 20, 10))
        self.assertTrue(h.wait_until(lambda: h.stats(d).get("active") == "1", 10),
                        h.stats(d)["_line"])
        b = echo_open(self, p, b"b")
        c = echo_open(self, p, b"c")
        extra = h.tcp_connect("127.0.0.1", p)
        with extra:
            self.assertIs(h.not_served(extra), True,
                          "a 4th connection was served with max_connections 3")
        d.wait_event("refused", reason="max-connections")
        for s in (a, b, c):
            s.sendall(b"ok")
            self.assertEqual(h.recv_exact(s, 2), b"ok")

    def kill_spawner_at_its_answer(self, d):
        """strace makes the spawner's next send (its answer naming a child)
        kill it: it dies after creating the child, before naming it."""
        import shutil
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed (make deps installs it)")
        sp = h.wait_until(lambda: d.spawner(), 10)
        self.assertTrue(sp, "no spawner")
        err = self.tmp.file("strace.err")
        with open(err, "w") as ef:
            st = subprocess.Popen(["strace", "-p", str(sp[0]), "-e", "trace=sendto",
                                   "-e", "inject=sendto:signal=SIGKILL", "-o", os.devnull],
                                  stdout=subprocess.DEVNULL, stderr=ef)
        self.addCleanup(h.kill_pid, st.pid)
        def attached():
            with open(err) as f:
                return "attached" in f.read() or st.poll() is not None
        self.assertTrue(h.wait_until(attached, 10), "strace did not attach in 10 s")
        if st.poll() is not None:
            with open(err) as f:
                self.skipTest("strace cannot attach to the spawner: " + f.read().strip())
        return sp[0]

    def test_spawner_dead_before_naming_its_child(self):
        """The spawner dies between creating a connection's child and
        naming it: the master finds that child, says so, and counts it
        (max_connections holds with it; active goes back to 0 when it
        ends); a shutdown waits for it and then stops it, as any other."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 1},
                        daemon={"shutdown_timeout": 1})
        self.kill_spawner_at_its_answer(d)
        mark = d.mark()
        a = echo_open(self, p, b"served anyway")
        ev = d.wait_event("warning", 10, start=mark,
                          msg=lambda m: "died before naming child" in m)
        self.assertTrue(ev, d.tail())
        kid = int(ev["msg"].split("naming child ")[1].split(";")[0])
        self.assertEqual(ppid(kid), d.pid)
        self.assertIn(kid, d.live_children())
        self.assertEqual(h.stats(d).get("active"), "1", d.tail())
        extra = h.tcp_connect("127.0.0.1", p)
        with extra:
            self.assertIs(h.not_served(extra), True,
                          "a 2nd connection was served with max_connections 1")
        a.sendall(b"again")
        self.assertEqual(h.recv_exact(a, 5), b"again")
        a.close()
        self.assertTrue(h.wait_until(lambda: h.stats(d).get("active") == "0", 10),
                        d.tail())
        self.assertTrue(h.try_echo("127.0.0.1", p, b"next"), d.tail())

        # once more, and stop the daemon while that child serves
        self.assertTrue(h.wait_until(lambda: d.spawner(), 10), "spawner not restarted")
        self.kill_spawner_at_its_answer(d)
        mark = d.mark()
        b = echo_open(self, p, b"held")
        ev = d.wait_event("warning", 10, start=mark,
                          msg=lambda m: "died before naming child" in m)
        kid = int(ev["msg"].split("naming child ")[1].split(";")[0])
        self.assertEqual(d.stop(), 0)
        self.assertTrue(d.events("close", start=mark, reason="shutdown"), d.tail())
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(kid), 10),
                        "child %d outlived the master" % kid)
        b.close()

    def test_without_spawner_the_master_forks(self):
        """SECHO_SPAWN=none: no spawner; the master forks plain children
        itself (they map OpenSSL), and everything is served and logged."""
        p = self.port()
        d = self.daemon([tcp(p)], env={"SECHO_SPAWN": "none"})
        s = echo_open(self, p)
        kid = self.one_child(d)
        self.assertEqual(d.spawner(), [])
        self.assertIn("libcrypto", maps(kid))
        s.close()
        d.wait_event("close", proto="tcp", bytes_in="5", bytes_out="5")

    def test_missing_helper_the_master_forks(self):
        """SECHO_SPAWN naming a file that is not there: a warning naming
        it, no spawner, connections served by the master's own children."""
        p = self.port()
        missing = self.tmp.file("no-such-helper")
        d = self.daemon([tcp(p)], env={"SECHO_SPAWN": missing})
        d.wait_event("warning", msg=lambda m: ("no secho-spawn at " + missing) in m)
        for i in range(5):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"x%d" % i), d.tail())
        self.assertEqual(d.spawner(), [])

    def test_spawner_started_by_reload_and_gone_with_the_master(self):
        """Only UDP at start: no spawner; a SIGHUP that adds a plain TCP
        listener starts it; it leaves with the master, also when the
        master is killed with SIGKILL."""
        pu, p = self.port(), self.port()
        d = self.daemon([{"proto": "udp", "address": "127.0.0.1", "port": pu}])
        time.sleep(0.3)
        self.assertEqual(d.spawner(), [])
        mark = d.mark()
        d.rewrite([{"proto": "udp", "address": "127.0.0.1", "port": pu}, tcp(p)])
        d.signal(signal.SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        sp = h.wait_until(lambda: d.spawner(), 10)
        self.assertTrue(sp, "no spawner after adding a tcp listener:\n" + d.tail())
        self.assertTrue(h.try_echo("127.0.0.1", p))
        kid_sp = sp[0]
        d.signal(signal.SIGKILL)
        self.assertTrue(h.wait_until(lambda: not h.pid_alive(kid_sp), 10),
                        "secho-spawn outlived the master")

    def test_helper_refuses_to_run_by_hand(self):
        """secho-spawn is not a command: run by hand it says so, exit 64."""
        r = subprocess.run([spawn_bin()], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("started by secho(8) only", r.stderr)

    def test_stuck_spawner_is_killed_and_replaced(self):
        """A spawner that stops answering (SIGSTOP) holds a client for 3 s
        at most: the master kills it, counts the connection lost, closes
        it, serves everyone else meanwhile and starts a new spawner."""
        p = self.port()
        d = self.daemon([tcp(p)], limits={"max_connections": 2})
        old = h.wait_until(lambda: d.spawner(), 10)
        self.assertTrue(old)
        os.kill(old[0], signal.SIGSTOP)
        self.addCleanup(lambda: h.pid_alive(old[0]) and os.kill(old[0], signal.SIGCONT))
        mark = d.mark()
        c = h.tcp_connect("127.0.0.1", p)
        self.addCleanup(c.close)
        c.sendall(b"held")
        d.wait_event("warning", 15, start=mark,
                     msg=lambda m: "has not answered for 3000 ms" in m)
        d.wait_event("warning", 10, start=mark,
                     msg=lambda m: "took 1 connection(s) and did not serve them" in m)
        c.settimeout(10)
        try:
            got = c.recv(10)
        except ConnectionResetError:
            got = b""
        self.assertEqual(got, b"", "the lost client was not closed")
        for i in range(5):
            self.assertTrue(h.try_echo("127.0.0.1", p, b"next %d" % i), d.tail())
            self.assertTrue(h.wait_until(lambda: not d.live_children(), 10))
        self.assertTrue(h.wait_until(lambda: [x for x in d.spawner() if x != old[0]], 10),
                        "no new spawner:\n" + d.tail())
        self.assertEqual(h.stats(d).get("active"), "0")

    def test_helper_of_another_protocol_refuses_to_start(self):
        """secho-spawn from another build (an upgrade under a running
        master) exits 65 at once instead of misreading requests."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c, e = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(a.close)
        self.addCleanup(c.close)

        def fds():
            os.dup2(b.fileno(), 3)
            os.dup2(e.fileno(), 4)
        r = subprocess.run([spawn_bin(), str(os.getpid()), "999"], preexec_fn=fds, close_fds=False,
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10)
        b.close()
        e.close()
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("restart secho", r.stderr)
