#!/usr/bin/env python3
"""Memory check of the secho master across SIGHUP reloads (issue 4).

    python3 tests/valgrind_reload.py [--bin build/secho] [--reloads 100]

Two runs of the master (`secho -f -e -c CFG`, listeners on loopback: tcp,
udp, and tls when this secho serves tls), each sent SIGHUP RELOADS times,
waiting for the `reload result=ok` line every time:

1. natively: VmRSS of the master (/proc/PID/status) after reload 10 and
   after the last one; the growth must stay below 1 MiB.  Measured without
   valgrind because under memcheck the process RSS is mostly valgrind's own
   (shadow memory, the 20 MB queue of freed blocks it keeps to catch
   use-after-free, translated code), which grows with any allocation
   activity whether or not the program leaks; natively it is exactly what
   an operator would see grow.  The valgrind-run RSS is printed for
   information only.
2. under `valgrind --leak-check=full --errors-for-leak-kinds=definite
   --error-exitcode=99 --trace-children=no`, then SIGTERM: the master must
   exit 0 (so no memcheck error and no definite leak), and its log must
   say `ERROR SUMMARY: 0 errors` and no `definitely lost`.  Forked
   children (connection children, UDP workers) also run under valgrind
   (fork is not exec); their reports are printed as notes, not judged.

Prints `PASS valgrind_reload: ...` and exits 0, or `FAIL valgrind_reload:
...` with the reasons and exits 1.  Takes about 1 minute on 2 cores.
"""

import argparse
import glob
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEADLINE_S = 170            # the whole check, both runs
RSS_LIMIT_KIB = 1024


def log(msg):
    print("valgrind_reload: " + msg, flush=True)


def free_port():
    for _ in range(500):
        port = random.randint(20000, 32000)
        ok = True
        for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, typ)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError("no free port")


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


class Daemon:
    """secho (maybe under valgrind) with its stderr read into lines."""

    def __init__(self, cmd):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)     # EOF marker
            self.cond.notify_all()

    def wait_for(self, regex, start, timeout):
        """Index of the first line >= start matching regex, or None."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    if self.lines[i] is None:
                        return None
                    if rx.search(self.lines[i]):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def count(self):
        with self.cond:
            return len(self.lines)

    def tail(self, n=30):
        with self.cond:
            return "\n".join("    " + l for l in self.lines[-n:] if l is not None)

    def stop(self, timeout):
        """SIGTERM by PID, wait; SIGKILL on timeout.  Returns the status or None."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None


def tls_available(secho, tmp, cert, key):
    cfg = os.path.join(tmp, "probe.cfg")
    with open(cfg, "w") as f:
        f.write('tls = { certificate = "%s"; private_key = "%s"; };\n'
                'listeners = ( { proto = "tls"; address = "127.0.0.1"; port = 7443; } );\n'
                % (cert, key))
    r = subprocess.run([secho, "-t", "-c", cfg], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return r.returncode == 0 and b"not supported" not in r.stdout


def write_config(path, ports, cert, key, with_tls):
    listeners = ['{ proto = "tcp"; address = "127.0.0.1"; port = %d; }' % ports["tcp"],
                 '{ proto = "udp"; address = "127.0.0.1"; port = %d; }' % ports["udp"]]
    text = 'log = { level = "info"; };\n'
    if with_tls:
        listeners.append('{ proto = "tls"; address = "127.0.0.1"; port = %d; }' % ports["tls"])
        rsa = cert.replace("server.pem", "server-rsa.pem")
        if os.path.isfile(rsa):
            # Issue 13's settings too, so that every reload builds and
            # frees them: two certificates, an sni entry, ALPN, a key log.
            rkey = key.replace("server.key", "server-rsa.key")
            text += ('tls = { certificate = [ "%s", "%s" ]; private_key = [ "%s", "%s" ];\n'
                     '  alpn = [ "h2", "http/1.1" ]; keylog_file = "%s";\n'
                     '  sni = ( { names = [ "echo.example.org", "*.example.net" ];\n'
                     '            certificate = "%s"; private_key = "%s"; } ); };\n'
                     % (cert, rsa, key, rkey, path + ".keys", rsa, rkey))
        else:
            text += 'tls = { certificate = "%s"; private_key = "%s"; };\n' % (cert, key)
    text += "listeners = (\n  " + ",\n  ".join(listeners) + "\n);\n"
    with open(path, "w") as f:
        f.write(text)


def exercise(ports, with_tls, ca):
    """One TCP echo, one UDP echo, one TLS echo: the daemon works."""
    problems = []
    try:
        with socket.create_connection(("127.0.0.1", ports["tcp"]), timeout=20) as s:
            s.sendall(b"tcp")
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                b = s.recv(100)
                if not b:
                    break
                got += b
            if got != b"tcp":
                problems.append("tcp echo returned %r" % got)
    except OSError as e:
        problems.append("tcp echo: %s" % e)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    try:
        for _ in range(10):
            u.sendto(b"udp", ("127.0.0.1", ports["udp"]))
            try:
                if u.recvfrom(100)[0] == b"udp":
                    break
            except socket.timeout:
                continue
        else:
            problems.append("no udp echo")
    finally:
        u.close()
    if with_tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca)
        try:
            with socket.create_connection(("127.0.0.1", ports["tls"]), timeout=30) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"tls")
                    if s.recv(100) != b"tls":
                        problems.append("tls echo wrong")
        except (OSError, ssl.SSLError) as e:
            problems.append("tls echo: %s" % e)
    return problems


def reload_loop(d, n, per_reload_timeout, deadline, sample_at):
    """Send SIGHUP n times, each after the previous `reload result=ok`.
    Returns (problems, {k: VmRSS KiB after reload k})."""
    rss = {}
    for k in range(1, n + 1):
        mark = d.count()
        os.kill(d.proc.pid, signal.SIGHUP)
        left = min(per_reload_timeout, deadline - time.monotonic())
        i = d.wait_for(r"\breload result=", mark, max(left, 1))
        if i is None:
            return ["no reload line for reload %d within %.0fs:\n%s" % (k, left, d.tail())], rss
        line = d.lines[i]
        if "result=ok" not in line:
            return ["reload %d: %s" % (k, line)], rss
        if k in sample_at:
            time.sleep(0.3)
            rss[k] = vmrss_kib(d.proc.pid)
    return [], rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("SECHO_BIN", os.path.join(REPO, "build", "secho")))
    ap.add_argument("--reloads", type=int, default=100)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    secho = os.path.abspath(args.bin)
    t_start = time.monotonic()
    deadline = t_start + DEADLINE_S
    failures = []

    if not os.access(secho, os.X_OK):
        print("FAIL valgrind_reload: %s not found (make build/secho)" % secho)
        return 1
    valgrind = shutil.which("valgrind")
    if not valgrind:
        print("FAIL valgrind_reload: valgrind not installed (Debian package valgrind, "
              "in scripts/deps.sh)")
        return 1

    tmp = tempfile.mkdtemp(prefix="secho-vg-")
    os.chmod(tmp, 0o755)
    daemons = []
    try:
        certs = os.path.join(REPO, "certs")
        ca, cert, key = (os.path.join(certs, n) for n in ("ca.pem", "server.pem", "server.key"))
        if not all(os.path.isfile(p) for p in (ca, cert, key)):
            subprocess.run(["sh", os.path.join(certs, "gen.sh"), certs], check=True,
                           stdout=subprocess.DEVNULL, timeout=120)
        with_tls = tls_available(secho, tmp, cert, key)
        ports = {"tcp": free_port(), "udp": free_port(), "tls": free_port()}
        cfg = os.path.join(tmp, "secho.cfg")
        write_config(cfg, ports, cert, key, with_tls)
        log("listeners tcp/udp%s on 127.0.0.1, %d reloads per run"
            % ("/tls" if with_tls else " (tls not supported by this secho: left out)",
               args.reloads))
        n_listen = 3 if with_tls else 2
        sample_at = {min(10, args.reloads), args.reloads}

        # -- run 1: native, RSS growth
        d = Daemon([secho, "-f", "-e", "-c", cfg])
        daemons.append(d)
        i = d.wait_for(r"\blistening\b", 0, 20)
        for _ in range(n_listen - 1):
            i = None if i is None else d.wait_for(r"\blistening\b", i + 1, 20)
        if i is None:
            failures.append("native run: secho did not start:\n" + d.tail())
        else:
            failures += ["native run: " + p for p in exercise(ports, with_tls, ca)]
            probs, rss = reload_loop(d, args.reloads, 30, deadline, sample_at)
            failures += ["native run: " + p for p in probs]
            failures += ["native run, after the reloads: " + p for p in exercise(ports, with_tls, ca)]
            if not probs:
                a, b = rss[min(sample_at)], rss[max(sample_at)]
                log("native VmRSS after reload %d: %d KiB, after reload %d: %d KiB (growth %+d KiB)"
                    % (min(sample_at), a, max(sample_at), b, b - a))
                if b - a >= RSS_LIMIT_KIB:
                    failures.append("master VmRSS grew by %d KiB from reload %d to %d (limit %d KiB)"
                                    % (b - a, min(sample_at), max(sample_at), RSS_LIMIT_KIB))
        st = d.stop(30)
        if st != 0:
            failures.append("native run: exit status %s after SIGTERM:\n%s" % (st, d.tail()))

        # -- run 2: under valgrind
        vglog = os.path.join(tmp, "vg.%p.log")
        cmd = [valgrind, "--leak-check=full", "--errors-for-leak-kinds=definite",
               "--error-exitcode=99", "--trace-children=no", "--num-callers=30",
               "--log-file=" + vglog, secho, "-f", "-e", "-c", cfg]
        d = Daemon(cmd)
        daemons.append(d)
        vg_pid = d.proc.pid
        i = d.wait_for(r"\blistening\b", 0, 90)
        for _ in range(n_listen - 1):
            i = None if i is None else d.wait_for(r"\blistening\b", i + 1, 60)
        if i is None:
            failures.append("valgrind run: secho did not start:\n" + d.tail())
        else:
            failures += ["valgrind run: " + p for p in exercise(ports, with_tls, ca)]
            probs, rss = reload_loop(d, args.reloads, 60, deadline, sample_at)
            failures += ["valgrind run: " + p for p in probs]
            failures += ["valgrind run, after the reloads: " + p
                         for p in exercise(ports, with_tls, ca)]
            if not probs:
                a, b = rss[min(sample_at)], rss[max(sample_at)]
                log("under valgrind (information only) VmRSS after reload %d: %d KiB, "
                    "after reload %d: %d KiB (growth %+d KiB)"
                    % (min(sample_at), a, max(sample_at), b, b - a))
        st = d.stop(90)
        master_log = os.path.join(tmp, "vg.%d.log" % vg_pid)
        text = ""
        try:
            with open(master_log) as f:
                text = f.read()
        except OSError:
            failures.append("no valgrind log %s" % master_log)
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        lost = re.search(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks", text)
        log("valgrind: master exit status %s, %s, %s"
            % (st, m.group(0) if m else "no ERROR SUMMARY",
               lost.group(0) if lost else "definitely lost: 0 bytes"))
        if st != 0:
            failures.append("valgrind run: master exit status %s (99 = memcheck errors or "
                            "definite leaks)" % st)
        if not m or m.group(1) != "0":
            failures.append("valgrind: %s" % (m.group(0) if m else "no ERROR SUMMARY in the log"))
        if lost and lost.group(1) != "0":
            failures.append("valgrind: " + lost.group(0))
        if failures and text:
            print("---- valgrind log of the master (%s) ----" % master_log)
            print(text[-12000:])
        # children: notes only
        notes = 0
        for path in sorted(glob.glob(os.path.join(tmp, "vg.*.log"))):
            if path == master_log:
                continue
            with open(path) as f:
                t = f.read()
            mm = re.search(r"ERROR SUMMARY: (\d+) errors", t)
            if mm and mm.group(1) != "0":
                notes += 1
                if notes <= 3:
                    log("note: a forked child (%s) reports %s" % (os.path.basename(path), mm.group(0)))
        if notes > 3:
            log("note: %d forked children report errors in all" % notes)
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.stop(10)
        if args.keep:
            log("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    took = time.monotonic() - t_start
    if time.monotonic() > deadline:
        failures.append("took %.0fs (limit %ds)" % (took, DEADLINE_S))
    if failures:
        print("FAIL valgrind_reload (%.0fs):\n  - %s" % (took, "\n  - ".join(failures)))
        return 1
    print("PASS valgrind_reload: %d reloads natively and under valgrind, no memcheck error, "
          "no definite leak, RSS growth below %d KiB (%.0fs)" % (args.reloads, RSS_LIMIT_KIB, took))
    return 0


if __name__ == "__main__":
    sys.exit(main())
