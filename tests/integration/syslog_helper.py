"""Run secho against a fake /dev/log in a private mount namespace.

Usage (as root): unshare --mount --propagation private \
    python3 syslog_helper.py SECHO_BIN CFG PORT WORKDIR OUT_JSON

In the new mount namespace: bind-mount the real /dev to WORKDIR/realdev,
mount a tmpfs over /dev, put back null/zero/random/urandom (bind mounts of
the saved ones onto empty files), bind an AF_UNIX datagram socket at
/dev/log, start `secho -f -c CFG` (no -e), make one TCP echo connection to
127.0.0.1:PORT, stop secho with SIGTERM, and write what /dev/log received
to OUT_JSON.  Prints `SECHO_PID <pid>` as soon as secho runs, so the test
can kill it by PID if this helper is killed.  Mounts vanish with the
namespace."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def sh(*args):
    subprocess.run(list(args), check=True, timeout=30)


def main():
    secho, cfg, port, work, out_json = sys.argv[1:6]
    port = int(port)
    result = {"datagrams": [], "pid": None, "status": None, "output": "", "error": None}
    proc = None
    try:
        realdev = os.path.join(work, "realdev")
        os.makedirs(realdev, exist_ok=True)
        sh("mount", "--bind", "/dev", realdev)
        sh("mount", "-t", "tmpfs", "-o", "mode=755,size=1m", "tmpfs", "/dev")
        for name in ("null", "zero", "random", "urandom"):
            path = "/dev/" + name
            open(path, "w").close()
            sh("mount", "--bind", os.path.join(realdev, name), path)

        log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        log.bind("/dev/log")
        os.chmod("/dev/log", 0o666)
        log.settimeout(0.2)
        grams = result["datagrams"]
        stop = threading.Event()

        def collect():
            while not stop.is_set():
                try:
                    data = log.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                grams.append(data.decode("utf-8", "replace"))

        t = threading.Thread(target=collect, daemon=True)
        t.start()

        outfile = open(os.path.join(work, "secho.out"), "w+b")
        proc = subprocess.Popen([secho, "-f", "-c", cfg], stdin=subprocess.DEVNULL,
                                stdout=outfile, stderr=subprocess.STDOUT)
        result["pid"] = proc.pid
        print("SECHO_PID %d" % proc.pid, flush=True)

        # wait until it echoes (no log lines on stderr without -e)
        ok = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"syslog test")
                    s.shutdown(socket.SHUT_WR)
                    buf = b""
                    while True:
                        b = s.recv(100)
                        if not b:
                            break
                        buf += b
                    result["client"] = "%s:%d" % s.getsockname()[:2]
                    ok = buf == b"syslog test"
                    break
            except OSError:
                time.sleep(0.1)
        result["echo_ok"] = ok

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(" close " in g or ": close " in g for g in grams):
            time.sleep(0.1)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            result["status"] = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            result["status"] = proc.wait(10)
        time.sleep(0.5)
        stop.set()
        t.join(5)
        outfile.seek(0)
        result["output"] = outfile.read().decode("utf-8", "replace")
    except Exception as e:  # noqa: BLE001 - reported to the test
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        with open(out_json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
