"""systemd notification (SPEC: Behaviour/systemd): READY=1 once listening,
RELOADING=1 / READY=1 around a reload, STOPPING=1 on SIGTERM."""

import signal
import socket

import harness as h


class Notify(h.SechoTestCase):
    def recv_state(self, sock, want, timeout=15):
        """Messages until one has the line `want`; returns all of them."""
        sock.settimeout(timeout)
        got = []
        while True:
            try:
                msg = sock.recv(4096).decode("utf-8", "replace")
            except socket.timeout:
                self.fail("no %s on NOTIFY_SOCKET; got %r" % (want, got))
            got.append(msg)
            if want in msg.split("\n"):
                return got

    def test_notify_socket(self):
        path = self.tmp.file("notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(path)
        a = self.port()
        d = self.daemon([{"proto": "tcp", "address": "127.0.0.1", "port": a}],
                        env={"NOTIFY_SOCKET": path}, start=False)
        d.start()
        self.recv_state(ns, "READY=1")
        self.assertTrue(h.try_echo("127.0.0.1", a), "READY=1 sent before it listens")

        d.signal(signal.SIGHUP)
        msgs = self.recv_state(ns, "RELOADING=1")
        if not any("READY=1" in m.split("\n") for m in msgs[-1:]):
            self.recv_state(ns, "READY=1")
        d.wait_event("reload", result="ok")

        d.signal(signal.SIGTERM)
        self.recv_state(ns, "STOPPING=1")
        self.assertEqual(d.wait_exit(20), 0)

    def test_ready_after_listening(self):
        """READY=1 comes only once every listener is open."""
        path = self.tmp.file("notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(path)
        a, u = self.port(), self.port()
        d = self.daemon([{"proto": "tcp", "address": "127.0.0.1", "port": a},
                         {"proto": "udp", "address": "127.0.0.1", "port": u}],
                        env={"NOTIFY_SOCKET": path}, start=False)
        d.start(wait_listening=0)
        self.recv_state(ns, "READY=1")
        # at READY=1 both listeners accept at once (no retry)
        self.assertTrue(h.try_echo("127.0.0.1", a))
        got, _ = h.udp_echo("127.0.0.1", u, b"r", timeout=10)
        self.assertEqual(got, b"r")
