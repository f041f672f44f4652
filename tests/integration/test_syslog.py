"""Delivery to a real syslog socket (SPEC: Logs, Configuration log.ident,
log.facility).  Needs root and unshare(1): /dev/log is faked in a private
mount namespace (see syslog_helper.py), so the host is not touched."""

import json
import os
import re
import shutil
import subprocess
import sys

import harness as h

LOG_LOCAL3 = 19 << 3
LOG_NOTICE = 5
LOG_INFO = 6
LINE_RE = re.compile(r"^<(\d+)>(.*?)(\S+)\[(\d+)\]: (.*)$", re.S)


def can_unshare():
    if not h.is_root():
        return "needs root (mount namespace with a fake /dev/log)"
    if not shutil.which("unshare") or not shutil.which("mount"):
        return "needs unshare(1) and mount(8) (util-linux, mount)"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return "unshare --mount not permitted here: %s" % r.stderr.strip()
    return None


class Syslog(h.SechoTestCase):
    def run_helper(self, cfg, port):
        out_json = self.tmp.file("result.json")
        cmd = ["unshare", "--mount", "--propagation", "private", sys.executable,
               os.path.join(h.HERE, "syslog_helper.py"), h.secho_bin(), cfg, str(port),
               self.tmp.path, out_json]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(h.stop_popen, p)
        out = h.Output(p)
        m = out.wait_for(r"SECHO_PID (\d+)", 30, stream="stdout")
        if m:
            secho_pid = int(m[1].group(1))
            self.addCleanup(h.kill_pid, secho_pid, 10)
        try:
            p.wait(90)
        except subprocess.TimeoutExpired:
            self.fail("syslog helper did not finish:\n" + out.text())
        out.join(5)
        self.assertEqual(p.returncode, 0, out.text())
        with open(out_json) as f:
            res = json.load(f)
        self.assertIsNone(res["error"], "helper failed: %s\n%s" % (res["error"], out.text()))
        return res

    def test_local3_ident(self):
        why = can_unshare()
        if why:
            self.skipTest(why)
        port = self.port()
        cfg = self.tmp.write("secho.cfg", h.config_text(
            [{"proto": "tcp", "address": "127.0.0.1", "port": port}],
            log={"ident": "sechotest", "facility": "local3", "level": "info", "stderr": False}))
        res = self.run_helper(cfg, port)
        grams = res["datagrams"]
        ctx = "datagrams received:\n%s\nsecho output:\n%s" % ("\n".join(grams), res["output"])
        self.assertTrue(res["echo_ok"], "no echo inside the namespace; " + ctx)
        self.assertEqual(res["status"], 0, ctx)
        self.assertEqual(res["output"], "", "nothing on stdout/stderr without -e")

        parsed = []
        for g in grams:
            m = LINE_RE.match(g.rstrip("\n\0"))
            self.assertIsNotNone(m, "not a syslog datagram: %r" % g)
            parsed.append((int(m.group(1)), m.group(3), int(m.group(4)), m.group(5)))

        master = res["pid"]

        def find(event):
            for pri, ident, pid, msg in parsed:
                ev = h.parse_event(msg)
                if ev and ev["_event"] == event:
                    return pri, ident, pid, msg, ev
            self.fail("no `%s` line in syslog; %s" % (event, ctx))

        pri, ident, pid, msg, ev = find("listening")
        self.assertEqual(pri, LOG_LOCAL3 + LOG_INFO, msg)
        self.assertEqual(ident, "sechotest")
        self.assertEqual(pid, master, "listening is logged by the master with its PID")
        self.assertTrue(msg.startswith("listening "), msg)

        pri, ident, pid, msg, ev = find("connect")
        self.assertEqual(pri, LOG_LOCAL3 + LOG_INFO, msg)        # 158
        self.assertEqual(ident, "sechotest")
        self.assertTrue(msg.startswith("connect proto=tcp "), msg)
        self.assertEqual(ev.get("peer"), res["client"])
        self.assertEqual(ev.get("listener"), "127.0.0.1:%d" % port)

        pri, ident, pid, msg, ev = find("close")
        self.assertEqual(pri, LOG_LOCAL3 + LOG_INFO, msg)
        self.assertEqual(ident, "sechotest")
        self.assertEqual(ev.get("peer"), res["client"])
        self.assertEqual(ev.get("bytes_in"), "11")
        self.assertEqual(ev.get("reason"), "eof")

        pri, ident, pid, msg, ev = find("shutdown")
        self.assertEqual(pri, LOG_LOCAL3 + LOG_NOTICE, msg)       # 157
        self.assertEqual(pid, master)
