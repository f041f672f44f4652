"""Privileges (SPEC: Behaviour/Privileges): started as root with
daemon.user set, the master stays root, every child and UDP worker runs as
user/group with supplementary groups cleared, chrooted when set; a missing
user is refused at start with 71."""

import os
import pwd
import socket

import harness as h


def status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


class Privileges(h.SechoTestCase):
    def setUp(self):
        super().setUp()
        if not h.is_root():
            self.skipTest("needs root")
        try:
            self.nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")

    def check_dropped(self, pid, uid, gid):
        st = status_fields(pid)
        self.assertEqual(st["Uid"], [str(uid)] * 4, "real/effective/saved/fs uid of %d" % pid)
        self.assertEqual(st["Gid"], [str(gid)] * 4, "gids of %d" % pid)
        self.assertIn(st.get("Groups", []), ([], [str(gid)]), "supplementary groups kept")

    def test_children_drop_to_user(self):
        a, u = self.port(), self.port()
        d = self.daemon([{"proto": "tcp", "address": "127.0.0.1", "port": a},
                         {"proto": "udp", "address": "127.0.0.1", "port": u}],
                        daemon={"user": "nobody"})
        got, _ = h.udp_echo("127.0.0.1", u, b"u", tries=3)
        self.assertEqual(got, b"u")
        s = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(s.close)
        s.sendall(b"x")
        self.assertEqual(h.recv_exact(s, 1), b"x")
        kids = h.wait_until(lambda: len(d.live_children()) >= 2 and d.live_children(), 10)
        self.assertEqual(len(kids or []), 2, "a UDP worker and a connection child")
        for k in kids:
            self.check_dropped(k, self.nobody.pw_uid, self.nobody.pw_gid)
        self.assertEqual(status_fields(d.pid)["Uid"][1], "0", "the master keeps root")
        # a reload as root still works (binding, reading keys)
        b = self.port()
        d.rewrite([{"proto": "tcp", "address": "127.0.0.1", "port": a},
                   {"proto": "udp", "address": "127.0.0.1", "port": u},
                   {"proto": "tcp", "address": "127.0.0.1", "port": b}],
                  daemon={"user": "nobody"})
        mark = d.mark()
        d.signal(__import__("signal").SIGHUP)
        d.wait_event("reload", start=mark, result="ok")
        self.assertTrue(h.wait_until(lambda: h.try_echo("127.0.0.1", b), 10))

    def test_group_setting(self):
        a = self.port()
        d = self.daemon([{"proto": "tcp", "address": "127.0.0.1", "port": a}],
                        daemon={"user": "nobody", "group": "daemon"})
        s = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(s.close)
        s.sendall(b"x")
        self.assertEqual(h.recv_exact(s, 1), b"x")
        kids = h.wait_until(lambda: d.live_children(), 10)
        import grp
        self.check_dropped(kids[0], self.nobody.pw_uid, grp.getgrnam("daemon").gr_gid)

    def test_chroot(self):
        a = self.port()
        root = self.tmp.file("jail")
        os.mkdir(root)
        d = self.daemon([{"proto": "tcp", "address": "127.0.0.1", "port": a}],
                        daemon={"user": "nobody", "chroot": root})
        s = h.tcp_connect("127.0.0.1", a)
        self.addCleanup(s.close)
        s.sendall(b"jailed")
        self.assertEqual(h.recv_exact(s, 6), b"jailed")
        kids = h.wait_until(lambda: d.live_children(), 10)
        self.assertEqual(os.readlink("/proc/%d/root" % kids[0]), root)
        self.assertEqual(os.readlink("/proc/%d/root" % d.pid), "/")
        self.check_dropped(kids[0], self.nobody.pw_uid, self.nobody.pw_gid)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(h.recv_all(s), b"")
        self.assertEqual(d.wait_event("close", reason="eof").get("bytes_in"), "6")

    def test_missing_user(self):
        a = self.port()
        text = h.config_text([{"proto": "tcp", "address": "127.0.0.1", "port": a}],
                             daemon={"user": "no-such-user-secho"})
        cfg = self.tmp.write("secho.cfg", text)
        r = h.run_secho(["-f", "-c", cfg], timeout=20)
        self.assertFalse(r.timed_out, "started with a missing user")
        self.assertEqual(r.returncode, h.EX_OSERR, r.stderr)
        self.assertIn("no-such-user-secho", r.stderr)
