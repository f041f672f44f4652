"""Helpers for the secho end-to-end tests (Python 3 standard library only).

What is here:
  - free_port(): a random high loopback port free for TCP and UDP, v4 and v6
  - config_text() / write_config(): libconfig text for a test configuration
  - Secho: one daemon process started as `secho -f -e -c CFG`, its stdout
    and stderr read by threads into a list of lines, wait_for(regex),
    events(name), stop() (SIGTERM, then SIGKILL, always by PID)
  - run_secho(): run the binary to completion (CLI and startup errors)
  - /proc helpers: children(), proc_state(), zombies(), listening inodes
  - parse_event(): `event key=value ...` log line -> dict
  - echo helpers for TCP and UDP

Every process a test starts is stopped by PID in tearDown/cleanup.
Timeouts are generous (the machine may be loaded); every loop is bounded.
"""

import ctypes
import errno
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Generous timeouts (seconds).
START_TIMEOUT = 20
STOP_TIMEOUT = 30
IO_TIMEOUT = 20

EVENT_WORDS = (
    "listening", "connect", "close", "refused", "udp", "udp-drop", "reload",
    "stats", "shutdown", "tls-error", "error", "warning", "notice",
    "not-served", "engine", "keylog", "dtls-drop",
)

# Exit codes (sysexits).
EX_OK = 0
EX_USAGE = 64
EX_OSERR = 71
EX_CONFIG = 78


def secho_bin():
    """Absolute path of the binary under test (SECHO_BIN, default build/secho)."""
    path = os.environ.get("SECHO_BIN", "build/secho")
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    return path


def require_bin(testcase):
    path = secho_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        testcase.fail("secho binary %s not found or not executable "
                      "(build it with `make build/secho`, or set SECHO_BIN)" % path)
    return path


def is_root():
    return os.geteuid() == 0


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


HAVE_IPV6 = have_ipv6()

# ---------------------------------------------------------------------------
# Ports

_handed_out = set()
_port_lock = threading.Lock()


def _port_free(port):
    """True when port can be bound for TCP and UDP on all v4 and v6 addresses."""
    specs = []
    if HAVE_IPV6:
        specs = [(socket.AF_INET6, socket.SOCK_STREAM, "::"),
                 (socket.AF_INET6, socket.SOCK_DGRAM, "::")]
    specs += [(socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0"),
              (socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0")]
    for fam, typ, addr in specs:
        s = socket.socket(fam, typ)
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    """A random port in 20000..32000 (below the ephemeral range, so client
    sockets do not collide with it), free for TCP and UDP on v4 and v6,
    never handed out twice by this process."""
    with _port_lock:
        for _ in range(500):
            port = random.randint(20000, 32000)
            if port in _handed_out or port == 2049:
                continue
            if _port_free(port):
                _handed_out.add(port)
                return port
    raise RuntimeError("no free port found")


# ---------------------------------------------------------------------------
# Configuration


def cfg_value(v):
    """A Python value as libconfig text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(cfg_value(x) for x in v) + " ]"
    if isinstance(v, dict):
        return "{ " + " ".join("%s = %s;" % (k, cfg_value(x)) for k, x in v.items()) + " }"
    raise TypeError(v)


def config_text(listeners, daemon=None, log=None, limits=None, tls=None):
    """libconfig text.  listeners: list of dicts (proto, address, port, ...),
    one listener per line; the groups: dicts of settings, one per line."""
    out = []
    for name, group in (("daemon", daemon), ("log", log), ("limits", limits), ("tls", tls)):
        if group is None:
            continue
        out.append("%s = {" % name)
        for k, v in group.items():
            out.append("  %s = %s;" % (k, cfg_value(v)))
        out.append("};")
    out.append("listeners = (")
    items = []
    for lst in listeners:
        items.append("  { " + " ".join("%s = %s;" % (k, cfg_value(v)) for k, v in lst.items()) + " }")
    out.append(",\n".join(items))
    out.append(");")
    return "\n".join(out) + "\n"


def line_of(text, needle, nth=1):
    """1-based line number of the nth line of text containing needle."""
    seen = 0
    for i, line in enumerate(text.split("\n"), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise ValueError("%r not in config text" % needle)


class TempDir:
    def __init__(self, prefix="secho-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o755)

    def file(self, name):
        return os.path.join(self.path, name)

    def write(self, name, text, mode=0o644):
        p = self.file(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def make_cert(tmp, name="server", cn="localhost", key_type="ec", subj=None, san=True):
    """A self-signed certificate and key in tmp; returns (cert, key) paths.
    The certificate is its own CA (use it as cafile / client_ca)."""
    cert = tmp.file(name + ".crt")
    key = tmp.file(name + ".key")
    if key_type == "ec":
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        newkey = ["-newkey", "rsa:2048"]
    ext = ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"] if san else []
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2"] + newkey +
                   ["-keyout", key, "-out", cert, "-subj", subj or ("/CN=" + cn)] + ext,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    return cert, key


# ---------------------------------------------------------------------------
# Log lines

_KV_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(v):
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
        out = []
        i = 0
        while i < len(v):
            c = v[i]
            if c == "\\" and i + 1 < len(v):
                n = v[i + 1]
                if n == "x" and i + 3 < len(v) + 0 and re.match(r"[0-9a-fA-F]{2}", v[i + 2:i + 4]):
                    out.append(chr(int(v[i + 2:i + 4], 16)))
                    i += 4
                    continue
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(n, n))
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return v


def parse_event(line):
    """`[prefix] event key=value key="quoted value" ...` -> dict with the
    fields plus '_event' and '_line', or None when no known event word.
    The prefix (time stamp, `secho[PID]:`) is skipped: the event is the
    first whitespace-separated token that is a known event word and is
    followed by key=value fields or the end of the line."""
    for m in _EVENT_RE.finditer(line):
        rest = line[m.end(1):]
        first = rest.split(None, 1)
        if first and "=" not in first[0]:
            continue
        ev = {"_event": m.group(1), "_line": line}
        p = 0
        while p < len(rest):
            km = _KV_RE.match(rest, p)
            if not km or km.end() == p:
                break
            ev[km.group(1)] = _unquote(km.group(2))
            p = km.end()
        return ev
    return None


_EVENT_RE = re.compile(r"(?:^|(?<=\s))(%s)(?=\s|$)" % "|".join(
    re.escape(w) for w in sorted(EVENT_WORDS, key=len, reverse=True)))


def fmt_addr(host, port):
    """Address text as secho writes it: 1.2.3.4:5 or [::1]:5; v4-mapped as v4."""
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def sock_addr_text(sockname):
    return fmt_addr(sockname[0], sockname[1])


# ---------------------------------------------------------------------------
# /proc


def proc_stat(pid):
    """Fields of /proc/PID/stat as a list (field 0 = pid, 1 = comm, 2 = state,
    3 = ppid, 4 = pgrp, 5 = session, 6 = tty_nr ...), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    r = data.rfind(")")
    head = data[:r + 1]
    pid_s, comm = head.split(" (", 1)
    return [pid_s, comm[:-1]] + data[r + 2:].split()


def proc_state(pid):
    st = proc_stat(pid)
    return st[2] if st else None


def pid_alive(pid):
    """True when pid exists and is not a zombie."""
    s = proc_state(pid)
    return s is not None and s not in ("Z", "X")


def children(pid):
    """PIDs of the children of pid (any state)."""
    kids = set()
    found = False
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
                found = True
            except OSError:
                pass
    except OSError:
        pass
    if found:
        return sorted(kids)
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and int(st[3]) == pid:
                kids.add(int(d))
    return sorted(kids)


def proc_comm(pid):
    """The command name of pid (/proc/PID/comm), or None."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


# The engines: the processes that fork, own and reap the connections'.
ENGINE_COMMS = ("secho-tcp", "secho-tls", "secho-dtls")


def zombies(pid):
    return [c for c in children(pid) if proc_state(c) == "Z"]


def live_children(pid):
    return [c for c in children(pid) if pid_alive(c)]


def pids_with_arg(arg):
    """PIDs whose command line contains the exact argument arg (we use the
    unique temporary config path, so only our own daemons match)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if arg.encode() in args and int(d) != os.getpid():
            out.append(int(d))
    return out


def listening_inode(port, proto="tcp"):
    """Socket inodes bound to port (TCP LISTEN sockets, or UDP sockets)."""
    inodes = set()
    for fn in ("/proc/net/%s" % proto, "/proc/net/%s6" % proto):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state, inode = parts[1], parts[3], parts[9]
                    lport = int(local.rsplit(":", 1)[1], 16)
                    if lport != port:
                        continue
                    if proto == "tcp" and state != "0A":
                        continue
                    inodes.add(int(inode))
        except OSError:
            pass
    return inodes


def wait_until(pred, timeout=IO_TIMEOUT, interval=0.05):
    """Poll pred() until it returns something true; returns it or None."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def kill_pid(pid, timeout=STOP_TIMEOUT):
    """SIGTERM pid, wait until gone (or zombie), then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if wait_until(lambda: not pid_alive(pid), timeout):
        reap(pid)
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_until(lambda: not pid_alive(pid), 10)
    reap(pid)


def reap(pid):
    """waitpid pid when it is our (possibly adopted) zombie child."""
    st = proc_stat(pid)
    if st and st[2] == "Z" and int(st[3]) == os.getpid() and pid not in _popen_pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


_popen_pids = set()


def reap_adopted():
    """Reap zombies adopted by this process (as a child subreaper) that no
    Popen object owns."""
    for c in children(os.getpid()):
        reap(c)


PR_SET_CHILD_SUBREAPER = 36


def set_subreaper():
    """Make this process the reaper of its orphaned descendants (daemon tests:
    PID 1 here does not reap)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


# ---------------------------------------------------------------------------
# Processes


class Output:
    """Lines read from a process's stdout and stderr by two threads."""

    def __init__(self, proc):
        self.lines = []          # (stream, text) in arrival order
        self.cond = threading.Condition()
        self.threads = []
        self.open_streams = 0
        for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            if stream is None:
                continue
            self.open_streams += 1
            t = threading.Thread(target=self._reader, args=(name, stream), daemon=True)
            t.start()
            self.threads.append(t)

    def _reader(self, name, stream):
        try:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.cond:
                    self.lines.append((name, text))
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self.cond:
                self.open_streams -= 1
                self.cond.notify_all()

    def count(self):
        with self.cond:
            return len(self.lines)

    def text(self, stream=None):
        with self.cond:
            return "\n".join(t for s, t in self.lines if stream is None or s == stream)

    def snapshot(self, start=0, stream=None):
        with self.cond:
            return [t for s, t in self.lines[start:] if stream is None or s == stream]

    def wait_for(self, regex, timeout=IO_TIMEOUT, start=0, stream=None):
        """First line at index >= start matching regex (re.search); returns
        (index, match) or None on timeout."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    s, t = self.lines[i]
                    if stream is None or s == stream:
                        m = rx.search(t)
                        if m:
                            return i, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.open_streams == 0 and i >= len(self.lines)):
                    return None
                self.cond.wait(min(left, 0.5))

    def join(self, timeout=10):
        for t in self.threads:
            t.join(timeout)


def run_secho(args, timeout=30, env=None, stdin=subprocess.DEVNULL):
    """Run secho with args to completion.  Returns CompletedProcess with
    text stdout/stderr.  A process still running at timeout (for instance
    a daemon that should have refused to start) is killed by PID and the
    result has returncode None and .timed_out = True."""
    cmd = [secho_bin()] + list(args)
    p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, start_new_session=True)
    _popen_pids.add(p.pid)
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_pid(p.pid, 5)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = b"", b""
    finally:
        _popen_pids.discard(p.pid)
    res = subprocess.CompletedProcess(cmd, None if timed_out else p.returncode,
                                      out.decode("utf-8", "replace"),
                                      err.decode("utf-8", "replace"))
    res.timed_out = timed_out
    return res


class Secho:
    """One secho daemon in the foreground.

        d = Secho(tmp, listeners=[...], limits={...})   # writes secho.cfg
        d.start()            # waits for one `listening` line per listener
        ...
        d.stop()             # SIGTERM, wait, SIGKILL; returns exit status
    """

    def __init__(self, tmp, listeners=None, daemon=None, log=None, limits=None,
                 tls=None, text=None, args=("-f", "-e"), pidfile=True,
                 cfgname="secho.cfg", env=None, pass_fds=()):
        self.tmp = tmp
        self.env = env
        self.pass_fds = tuple(pass_fds)
        self.args = list(args)
        self.cfg = tmp.file(cfgname)
        self.pidfile = None
        daemon = dict(daemon or {})
        if pidfile and text is None and "pidfile" not in daemon:
            daemon["pidfile"] = tmp.file("secho.pid")
        self.pidfile = daemon.get("pidfile")
        self.listeners = list(listeners or [])
        if text is None:
            text = config_text(self.listeners, daemon=daemon or None, log=log,
                               limits=limits, tls=tls)
        self.text = text
        tmp.write(cfgname, text)
        self.proc = None
        self.out = None
        self.seen_children = set()

    # -- lifecycle

    def rewrite(self, listeners=None, text=None, **groups):
        """Write a new configuration (for SIGHUP)."""
        if text is None:
            daemon = dict(groups.pop("daemon", None) or {})
            if self.pidfile and "pidfile" not in daemon:
                daemon["pidfile"] = self.pidfile
            text = config_text(listeners, daemon=daemon, **groups)
            self.listeners = list(listeners)
        self.text = text
        tmp_path = self.cfg + ".new"
        with open(tmp_path, "w") as f:
            f.write(text)
        os.rename(tmp_path, self.cfg)

    def start(self, wait_listening=None, timeout=START_TIMEOUT):
        """Start `secho ARGS -c CFG`; wait for wait_listening `listening`
        lines (default: one per listener).  Fails the test with the output
        when the daemon exits or does not get there in time."""
        cmd = [secho_bin()] + self.args + ["-c", self.cfg]
        env = None
        if self.env:
            env = dict(os.environ)
            env.update(self.env)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, env=env,
                                     pass_fds=self.pass_fds)
        _popen_pids.add(self.proc.pid)
        self.out = Output(self.proc)
        n = len(self.listeners) if wait_listening is None else wait_listening
        deadline = time.monotonic() + timeout
        while len(self.events("listening")) < n:
            if self.proc.poll() is not None:
                self.out.join(2)
                raise AssertionError("secho exited with status %s during startup:\n%s"
                                     % (self.proc.returncode, self.tail()))
            if time.monotonic() > deadline:
                raise AssertionError("secho did not log %d listening lines within %ds:\n%s"
                                     % (n, timeout, self.tail()))
            self.out.wait_for(r"\blistening\b", 0.2, start=max(0, self.out.count()))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait, SIGKILL fallback; also kills leftovers (processes
        whose command line has our config path).  Returns the exit status
        (None when it had to be killed)."""
        if self.proc is None:
            return None
        status = self.proc.poll()
        if status is None:
            self.track_children()
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                status = None
        _popen_pids.discard(self.proc.pid)
        self.kill_leftovers()
        if self.out:
            self.out.join(5)
        return status

    def kill_leftovers(self):
        for pid in pids_with_arg(self.cfg):
            kill_pid(pid, 5)
        for pid in list(self.seen_children):
            reap(pid)

    # -- output

    def lines(self, start=0):
        return self.out.snapshot(start)

    def mark(self):
        """Index of the next line (to wait for lines after an action)."""
        return self.out.count()

    def wait_for(self, regex, timeout=IO_TIMEOUT, start=0):
        """Return the match of the first line (index >= start) matching
        regex; fails the test with the log tail on timeout."""
        r = self.out.wait_for(regex, timeout, start)
        if r is None:
            raise AssertionError("no line matching %r within %ss; output:\n%s"
                                 % (regex, timeout, self.tail()))
        return r[1]

    def wait_event(self, name, timeout=IO_TIMEOUT, start=0, **fields):
        """First event `name` (index >= start) whose fields include all of
        fields (values compared as strings; a callable is a predicate)."""
        deadline = time.monotonic() + timeout
        i = start
        while True:
            r = self.out.wait_for(r"(^|\s)%s(\s|$)" % re.escape(name),
                                  max(0.0, deadline - time.monotonic()), i)
            if r is None:
                raise AssertionError("no `%s` event with %r within %ss; output:\n%s"
                                     % (name, fields, timeout, self.tail()))
            idx, m = r
            ev = parse_event(m.string)
            if ev and ev["_event"] == name and _fields_match(ev, fields):
                ev["_index"] = idx
                return ev
            i = idx + 1

    def events(self, name=None, start=0, **fields):
        out = []
        for i, line in enumerate(self.lines(start)):
            ev = parse_event(line)
            if ev and (name is None or ev["_event"] == name) and _fields_match(ev, fields):
                ev["_index"] = start + i
                out.append(ev)
        return out

    def tail(self, n=60):
        if self.out is None:
            return "(not started)"
        lines = self.out.snapshot()
        return "\n".join("    " + l for l in lines[-n:]) or "    (no output)"

    # -- processes

    def children(self):
        """The processes that serve: each connection's (a child of an
        engine) and the UDP workers (children of the master), in any
        state; not the engines themselves."""
        kids = []
        for k in children(self.pid):
            if proc_comm(k) in ENGINE_COMMS:
                kids.extend(children(k))
            else:
                kids.append(k)
        self.seen_children.update(kids)
        return kids

    def engines(self, comm=None):
        """PIDs of the live engines (children of the master named
        secho-tcp or secho-tls, or only comm)."""
        names = (comm,) if comm else ENGINE_COMMS
        return [k for k in children(self.pid)
                if proc_comm(k) in names and pid_alive(k)]

    def live_children(self):
        kids = [c for c in self.children() if pid_alive(c)]
        return kids

    def track_children(self):
        return self.children()

    def zombies(self):
        """Zombies among the master's children and the engines'."""
        z = zombies(self.pid)
        for e in self.engines():
            z.extend(zombies(e))
        return z


def _fields_match(ev, fields):
    for k, v in fields.items():
        if k not in ev:
            return False
        if callable(v):
            if not v(ev[k]):
                return False
        elif ev[k] != str(v):
            return False
    return True


class SechoTestCase(unittest.TestCase):
    """Base class: a temp dir per test, daemons stopped in cleanup."""

    maxDiff = 4000

    def setUp(self):
        require_bin(self)
        self.tmp = TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(reap_adopted)
        self._daemons = []

    def daemon(self, listeners=None, start=True, **kw):
        d = Secho(self.tmp, listeners=listeners, **kw)
        self._daemons.append(d)
        # cleanups run last-in first-out: stop first, then look at what
        # the daemon and its children printed
        self.addCleanup(self._no_sanitizer_report, d)
        self.addCleanup(d.stop)
        if start:
            d.start()
        return d

    def port(self):
        return free_port()

    SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: ")

    def _no_sanitizer_report(self, d):
        """With make check SANITIZE=1, any ASan/UBSan/LSan report of the
        master or of a child fails the test that caused it."""
        text = d.out.text() if d.out else ""
        m = self.SANITIZER_REPORT.search(text)
        if m:
            start = max(0, m.start() - 200)
            self.fail("sanitizer report from the daemon:\n" + text[start:start + 3000])


# ---------------------------------------------------------------------------
# Clients


def tcp_connect(host, port, timeout=IO_TIMEOUT):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_exact(s, n, timeout=IO_TIMEOUT):
    s.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_all(s, timeout=IO_TIMEOUT):
    """Read until EOF (b'')."""
    s.settimeout(timeout)
    buf = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk


def tcp_echo(host, port, data, timeout=IO_TIMEOUT):
    """Connect, send data in a thread while reading, half-close, read to
    EOF.  Returns (received bytes, client sockname)."""
    s = tcp_connect(host, port, timeout)
    try:
        name = s.getsockname()
        err = []

        def sender():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                err.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        got = recv_all(s, timeout)
        t.join(timeout)
        if err:
            raise err[0]
        return got, name
    finally:
        s.close()


def tcp_refused(host, port, timeout=5):
    """True when a TCP connect to host:port is refused."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def udp_socket(host="127.0.0.1", bind=None):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    if bind is not None:
        s.bind(bind)
    return s


def udp_echo(host, port, data, timeout=5, tries=1, sock=None):
    """Send one datagram, return (reply, source address) or (None, None)."""
    s = sock or udp_socket(host)
    try:
        s.settimeout(timeout)
        for _ in range(tries):
            s.sendto(data, (host, port))
            try:
                while True:
                    got, src = s.recvfrom(70000)
                    if got == data or tries == 1:
                        return got, src
            except socket.timeout:
                continue
        return None, None
    finally:
        if sock is None:
            s.close()


def wait_tcp_echo(host, port, timeout=IO_TIMEOUT):
    """Poll until a TCP echo round trip works (daemon mode: no log lines)."""
    def ok():
        try:
            got, _ = tcp_echo(host, port, b"ping", timeout=3)
            return got == b"ping"
        except OSError:
            return False
    return wait_until(ok, timeout, 0.1)


def not_served(s, timeout=10):
    """True when the connection s is closed by the server without echoing
    (EOF or reset); False when anything comes back; None on timeout (the
    connection was neither served nor closed)."""
    s.settimeout(timeout)
    try:
        s.sendall(b"x")
        got = s.recv(10)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return None
    return got == b""


def stats(d, timeout=10):
    """SIGUSR1, and the `stats` line it brings."""
    mark = d.mark()
    d.signal(signal.SIGUSR1)
    return d.wait_event("stats", timeout, start=mark)


def try_echo(host, port, data=b"ping", timeout=5):
    """True when a TCP echo round trip of data works (errors are False)."""
    try:
        got, _ = tcp_echo(host, port, data, timeout=timeout)
        return got == data
    except OSError:
        return False


def stop_popen(p, timeout=10):
    """Stop a helper client process (socat, nc, openssl) by its PID."""
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout)
    for f in (p.stdin, p.stdout, p.stderr):
        try:
            if f:
                f.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Operations helpers (test_ops.py, test_haproxy.py)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of pid in seconds (from /proc/PID/stat), or None."""
    st = proc_stat(pid)
    if st is None:
        return None
    # fields 14 and 15 of stat(5) (1-based): utime, stime
    return (int(st[13]) + int(st[14])) / float(CLK_TCK)


def proc_status(pid):
    """/proc/PID/status as {key: [words]}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def open_fds(pid):
    """Descriptor numbers open in pid."""
    return sorted(int(x) for x in os.listdir("/proc/%d/fd" % pid))


def nofile_limits(pid):
    """(soft, hard) RLIMIT_NOFILE of pid as strings (from /proc/PID/limits)."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return parts[3], parts[4]
    raise RuntimeError("no Max open files in /proc/%d/limits" % pid)


def repo_certs():
    """(ca, cert, key): absolute paths of the development certificates in
    certs/ of the repo, generated with certs/gen.sh when missing."""
    d = os.path.join(REPO, "certs")
    ca, cert, key = (os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key"))
    if not all(os.path.isfile(p) and os.path.getsize(p) for p in (ca, cert, key)):
        subprocess.run(["sh", os.path.join(REPO, "certs", "gen.sh"), d], check=True,
                       stdout=subprocess.DEVNULL, timeout=120)
    return ca, cert, key


def skip_unless_tls(testcase, tmp, cert, key):
    """Skip when this secho does not serve tls listeners yet (it says
    "not supported yet" for them)."""
    text = config_text([{"proto": "tls", "address": "127.0.0.1", "port": 7443}],
                       tls={"certificate": cert, "private_key": key})
    cfg = tmp.write("tls-probe.cfg", text)
    r = run_secho(["-t", "-c", cfg], timeout=30)
    if "not supported yet" in (r.stdout + r.stderr):
        testcase.skipTest("TLS is not built yet: secho says %r"
                          % (r.stdout + r.stderr).strip().splitlines()[0])


def tls_client_ctx(cafile):
    """A Python ssl client context that verifies the server against cafile."""
    import ssl
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(cafile)
    c.check_hostname = True
    return c


def tls_echo(ctx, host, port, data, timeout=IO_TIMEOUT, server_hostname="localhost"):
    """TLS round trip through ctx: send data, read it back, close.
    Returns (received bytes, client sockname, tls version)."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        name = raw.getsockname()
        s = ctx.wrap_socket(raw, server_hostname=server_hostname)
        try:
            s.sendall(data)
            got = recv_exact(s, len(data), timeout)
            version = s.version()
            try:
                s.unwrap()
            except OSError:
                pass
            return got, name, version
        finally:
            s.close()
    finally:
        raw.close()


def tcp_port_free_on(host, port):
    """True when a TCP socket can bind host:port."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()
