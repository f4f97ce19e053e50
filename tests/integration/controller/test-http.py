#!/usr/bin/env python3
"""test-http.py: ballastd's HTTP surfaces against two real tiny guests (TCG):
  metrics:   /metrics passes `promtool check metrics` and each VM's actual and
             target equal query-vms on the control socket;
  api:       /api/v1/* is the control socket's JSON, GET only, and
             /api/v1/events carries a decision within 2 s;
  dashboard: headless Chromium lists every VM (--dump-dom);
  live:      in Chromium (DevTools protocol) a balloon change appears on the
             page within 2 s; a screenshot goes to the build's meson-logs/;
  bounds:    431 for oversized headers, 413 for a body, 100 clients at most,
             idle clients cut at the 10 s I/O timeout, slow ones at the 10 s
             request deadline;
  reload:    a changed http-listen is bound on reload, or, when it cannot
             be, the old address keeps serving.
Usage: test-http.py BUILD_ROOT SOURCE_ROOT (TAP on stdout)."""
import base64
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUILD, SRC = sys.argv[1], sys.argv[2]
BALLAST_VM = os.path.join(SRC, "tests", "vm", "ballast-vm")
MIB = 1 << 20
GUESTS = [("web1", 512, "idle"), ("db1", 512, "steady:150M")]
LIVE_DEADLINE_S = 2.0
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def die_with_parent():
    """A test killed by its timeout must not leave ballastd or Chromium behind."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Control:
    """A client of the control socket (QMP-shaped JSON lines)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, execute, **args):
        req = {"execute": execute}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                continue
            if "error" in msg:
                raise RuntimeError(f"{execute}: {msg['error']}")
            return msg["return"]


class Fixture:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ballast-http-it-")
        self.qmp_dir = os.path.join(self.dir, "qmp")
        os.mkdir(self.qmp_dir)
        self.sock = os.path.join(self.dir, "control.sock")
        self.log = os.path.join(self.dir, "ballastd.log")
        self.conf = os.path.join(self.dir, "ballast.conf")
        with open(self.conf, "w") as f:
            f.write(f"[daemon]\ncontrol-socket={self.sock}\nqmp-dir={self.qmp_dir}\n"
                    "http-listen=127.0.0.1:0\n[host]\nmode=density\n[ksm]\nmode=observe\n")
        self.daemon = None
        self.guest_pids = []

    def start(self):
        logf = open(self.log, "w")
        self.daemon = subprocess.Popen(
            [os.path.join(BUILD, "controller", "ballastd"), "--config", self.conf],
            stdout=logf, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.time() + 10
        self.base = None
        while time.time() < deadline and self.base is None:
            m = re.search(r"http: dashboard and metrics on (http://\S+/)", open(self.log).read())
            if m and os.path.exists(self.sock):
                self.base = m.group(1)
            time.sleep(0.1)
        assert self.base, "ballastd did not start: " + open(self.log).read()
        self.ctl = Control(self.sock)
        env = dict(os.environ, BALLAST_VM_ACCEL=os.environ.get("BALLAST_VM_ACCEL", "tcg"))
        boots = [subprocess.Popen([BALLAST_VM, "start", name, self.qmp_dir, str(mem), work],
                                  stdout=subprocess.PIPE, env=env)
                 for name, mem, work in GUESTS]
        for b in boots:
            out, _ = b.communicate(timeout=300)
            assert b.returncode == 0, "a guest did not boot"
            self.guest_pids.append(out.decode().strip())

    def stop(self):
        for pid in self.guest_pids:
            subprocess.run([BALLAST_VM, "stop", pid], check=False)
        if self.daemon and self.daemon.poll() is None:
            self.daemon.terminate()
            self.daemon.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)

    def wait_active(self, timeout_s=120):
        """Until every guest is active with a target (a decision was made)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            vms = {v["name"]: v for v in self.ctl.cmd("query-vms")}
            if all(n in vms and vms[n]["state"] == "active" and vms[n]["target_bytes"] is not None
                   for n, _, _ in GUESTS):
                return vms
            time.sleep(0.5)
        raise AssertionError(f"guests not active: {self.ctl.cmd('query-vms')}")

    def get(self, path, method="GET"):
        req = urllib.request.Request(self.base + path.lstrip("/"), method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()


SAMPLE = re.compile(r'^(\w+)\{vm="((?:[^"\\]|\\.)*)"\} (\S+)$')


def vm_samples(text, name):
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and m.group(1) == name:
            out[m.group(2)] = float(m.group(3))
    return out


def check_metrics(fx):
    # actual moves while the balloon moves: compare a scrape bracketed by two
    # equal query-vms answers.
    for attempt in range(40):
        before = {v["name"]: v for v in fx.ctl.cmd("query-vms")}
        status, headers, text = fx.get("/metrics")
        after = {v["name"]: v for v in fx.ctl.cmd("query-vms")}
        if before == after:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("query-vms never stood still for one scrape")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers["Content-Type"]
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing (Debian package prometheus, scripts/packages.txt)"
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
    diag("promtool check metrics: exit %d %s" % (p.returncode, (p.stdout + p.stderr).decode().strip()))
    assert p.returncode == 0, "promtool rejected /metrics"
    actual = vm_samples(text, "ballast_vm_actual_bytes")
    target = vm_samples(text, "ballast_vm_target_bytes")
    assert set(actual) == set(after), f"VMs in /metrics {sorted(actual)} vs query-vms {sorted(after)}"
    for name, vm in after.items():
        diag(f"{name}: actual {actual[name] / MIB:.1f} MiB target {target[name] / MIB:.1f} MiB")
        assert actual[name] == vm["actual_bytes"], (name, actual[name], vm["actual_bytes"])
        assert target[name] == vm["target_bytes"], (name, target[name], vm["target_bytes"])
        assert f'ballast_vm_state{{vm="{name}",state="active"}} 1' in text
    for family in ("ballast_tick_duration_seconds_count", "ballast_host_budget_bytes",
                   "ballast_ksm_saved_bytes", "ballast_vm_qemu_pss_bytes", "ballast_build_info"):
        assert re.search("^" + family + r"[ {]", text, re.M), family + " missing"


def sse_events(fx, timeout_s):
    """Yields (event, data) from /api/v1/events until timeout_s passes."""
    host, port = re.match(r"http://([^:/]+):(\d+)/", fx.base).groups()
    s = socket.create_connection((host, int(port)), timeout=timeout_s)
    s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    end, buf = time.time() + timeout_s, b""
    try:
        while time.time() < end:
            s.settimeout(max(0.05, end - time.time()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            for m in re.finditer(rb"event: (\S+)\ndata: ([^\n]*)\n\n", buf):
                yield m.group(1).decode(), json.loads(m.group(2))
            buf = buf[buf.rfind(b"\n\n") + 2:] if b"\n\n" in buf else buf
    finally:
        s.close()


def shrink_one(fx, name):
    """Lowers VM `name`'s max below its target: the next decision must follow."""
    vm = next(v for v in fx.ctl.cmd("query-vms") if v["name"] == name)
    # Less than one inflate step (a tenth of RAM), so one decision gets there.
    new_max_mib = max(vm["target_bytes"] - 40 * MIB, 160 * MIB) // MIB
    fx.ctl.cmd("set-policy", name=name, max=f"{new_max_mib}M")
    return new_max_mib * MIB


def check_api(fx):
    status, headers, body = fx.get("/api/v1/vms")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert sorted(v["name"] for v in json.loads(body)) == sorted(
        v["name"] for v in fx.ctl.cmd("query-vms"))
    assert json.loads(fx.get("/api/v1/status")[2])["version"] == fx.ctl.cmd("query-status")["version"]
    assert json.loads(fx.get("/api/v1/ksm")[2])["mode"] == "observe"
    assert len(json.loads(fx.get("/api/v1/decisions?limit=3")[2])) <= 3
    assert fx.get("/api/v1/decisions?limit=x")[0] == 400
    assert fx.get("/api/v1/vms/nosuch")[0] == 404
    assert fx.get("/metrics", method="POST")[0] == 405
    # A decision reaches the stream within 2 s.
    events = sse_events(fx, 10)
    first = next(events)
    assert first[0] == "snapshot", first
    t0 = time.time()
    new_max = shrink_one(fx, "db1")
    for event, msg in events:
        d = msg.get("data", {})
        if event == "BALLAST_DECISION" and d["vm"] == "db1" and d["new_target_bytes"] <= new_max:
            dt = time.time() - t0
            diag(f"decision on the stream after {dt * 1000:.0f} ms: {msg['data']}")
            assert dt <= LIVE_DEADLINE_S
            return
    raise AssertionError("no BALLAST_DECISION on /api/v1/events")


def chromium(*args, timeout=180):
    profile = tempfile.mkdtemp(prefix="ballast-chromium-")
    try:
        return subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, timeout=timeout, preexec_fn=die_with_parent)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def check_dashboard(fx):
    assert shutil.which("chromium"), "chromium missing (scripts/packages.txt)"
    names = [v["name"] for v in fx.ctl.cmd("query-vms")]
    t0 = time.time()
    p = chromium("--virtual-time-budget=5000", "--dump-dom", fx.base)
    dom = p.stdout.decode()
    diag(f"--dump-dom: {len(dom)} bytes in {time.time() - t0:.1f} s")
    rows = re.findall(r'<tr data-vm="([^"]*)"', dom)
    assert sorted(rows) == sorted(names), f"rows {rows} vs VMs {names}"
    live = re.search(r'id="b-live">([^<]*)<', dom)
    diag(f"connection badge: {live.group(1) if live else '?'}")


class DevTools:
    """Just enough of the DevTools protocol over a WebSocket (RFC 6455)."""

    def __init__(self, url):
        host, port, path = re.match(r"ws://([^:/]+):(\d+)(/.*)", url).groups()
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id = 0

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("DevTools closed")
            data += chunk
        return data

    def _recv_message(self):
        payload = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._recv_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._recv_exact(8), "big")
            payload += self._recv_exact(n)
            if b0 & 0x80:
                return json.loads(payload)

    def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        while True:
            reply = self._recv_message()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]


def screenshot(dt, session):
    """The live page at 1280x800 (--screenshot would wait for a load that a
    page with an open event stream never finishes)."""
    dt.call("Emulation.setDeviceMetricsOverride", session, width=1280, height=800,
            deviceScaleFactor=1, mobile=False)
    time.sleep(1.5)  # a snapshot at the new size
    png = base64.b64decode(dt.call("Page.captureScreenshot", session, format="png")["data"])
    shot = os.path.join(BUILD, "meson-logs", "dashboard.png")
    with open(shot, "wb") as f:
        f.write(png)
    assert len(png) > 10000, "empty screenshot"
    diag(f"screenshot: {shot} ({len(png)} bytes)")


def check_live(fx):
    profile = tempfile.mkdtemp(prefix="ballast-chromium-")
    proc = subprocess.Popen(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=die_with_parent)
    try:
        url = None
        deadline = time.time() + 120
        while url is None and time.time() < deadline:
            line = proc.stderr.readline().decode()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            url = m.group(1) if m else None
        assert url, "Chromium did not offer DevTools"
        dt = DevTools(url)
        target = dt.call("Target.createTarget", url=fx.base)["targetId"]
        session = dt.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

        def rows():
            expr = ("JSON.stringify({live: document.getElementById('b-live').textContent, rows: "
                    "[...document.querySelectorAll('tr[data-vm]')].map(r => [r.dataset.vm, "
                    "r.dataset.target])})")
            res = dt.call("Runtime.evaluate", session, expression=expr, returnByValue=True)
            value = res["result"].get("value")  # absent while the page loads
            return json.loads(value) if value else {"live": "", "rows": []}

        deadline = time.time() + 60
        while time.time() < deadline:
            page = rows()
            if page["live"] == "live" and len(page["rows"]) == len(GUESTS):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"page never showed the VMs live: {page}")
        old = dict(rows()["rows"])["web1"]
        t0 = time.time()
        new_max = shrink_one(fx, "web1")
        while time.time() - t0 < 10:
            now = dict(rows()["rows"])["web1"]
            if now != "null" and int(now) <= new_max:
                elapsed = time.time() - t0
                diag(f"web1 target on the page {int(old) // MIB} -> {int(now) // MIB} MiB "
                     f"after {elapsed * 1000:.0f} ms")
                assert elapsed <= LIVE_DEADLINE_S, "the change took longer than 2 s"
                screenshot(dt, session)
                return
            time.sleep(0.05)
        raise AssertionError("the balloon change never appeared on the page")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def raw(fx, request, timeout_s=5):
    """Sends raw bytes; returns what comes back until EOF (or the timeout)."""
    host, port = re.match(r"http://([^:/]+):(\d+)/", fx.base).groups()
    s = socket.create_connection((host, int(port)), timeout=timeout_s)
    data = b""
    try:
        s.sendall(request)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        s.close()
    return data


def check_bounds(fx):
    """Header and body limits, the client cap and the request deadline."""
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw(fx, big).startswith(b"HTTP/1.1 431"), "no 431 for 20 kB of headers"
    body = b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    assert raw(fx, body).startswith(b"HTTP/1.1 413"), "a GET with a body was served"
    host, port = re.match(r"http://([^:/]+):(\d+)/", fx.base).groups()
    idle = [socket.create_connection((host, int(port))) for _ in range(105)]
    time.sleep(1)
    refused = 0
    for s in idle:
        s.settimeout(0.05)
        try:
            refused += s.recv(1) == b""
        except socket.timeout:
            pass
        except OSError:
            refused += 1
    diag(f"105 idle connections: {refused} closed at once")
    assert 5 <= refused <= 6, "the cap of 100 clients did not hold"
    # The idle ones send nothing: each is cut by the 10 s I/O stall timeout.
    t0 = time.time()
    for s in idle:
        s.settimeout(15)
        try:
            s.recv(1)
        except OSError:
            pass
        s.close()
    diag(f"idle connections cut after {time.time() - t0:.1f} s")
    assert time.time() - t0 < 14, "idle connections were not cut"
    # The server notices the last closes on its next loop turns (and a
    # browser from the earlier checks may take a moment to let go).
    deadline = time.time() + 5
    while True:
        status, _, text = fx.get("/metrics")
        if (status == 200 and "ballast_http_clients 1\n" in text) or time.time() > deadline:
            break
        time.sleep(0.2)
    clients = re.search(r"^ballast_http_clients (\d+)$", text, re.M)
    assert status == 200 and clients and clients.group(1) == "1", \
        f"connections were not released ({clients.group(1) if clients else '?'} still counted)"
    # A slow client that keeps sending header lines is cut all the same.
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    t0 = time.time()
    try:
        while time.time() - t0 < 25:
            s.sendall(b"X-Slow: 1\r\n")
            time.sleep(1)
    except OSError:
        pass
    s.close()
    diag(f"slow client cut after {time.time() - t0:.1f} s")
    assert time.time() - t0 < 14, "a slow client was not cut at the request deadline"


def check_reload(fx):
    """A new address on reload: bound if it can be, else the old one stays."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    old_base = fx.base
    with open(fx.conf) as f:
        conf = f.read()
    with open(fx.conf, "w") as f:
        f.write(conf.replace("http-listen=127.0.0.1:0", f"http-listen=127.0.0.1:{busy}"))
    fx.ctl.cmd("reload-config")
    assert fx.get("/api/v1/status")[0] == 200, "the old address stopped answering"
    log = open(fx.log).read()
    assert f"http-listen: Error binding to address 127.0.0.1:{busy}" in log, log[-2000:]
    assert "HTTP stays on 127.0.0.1:0" in log
    blocker.close()
    fx.ctl.cmd("reload-config")
    fx.base = f"http://127.0.0.1:{busy}/"
    assert fx.get("/api/v1/status")[0] == 200, "the new address does not answer"
    try:
        urllib.request.urlopen(old_base + "api/v1/status", timeout=5)
        raise AssertionError("the old address still answers")
    except urllib.error.URLError:
        pass


def main():
    checks = [check_metrics, check_api, check_dashboard, check_live, check_bounds, check_reload]
    print(f"1..{len(checks)}", flush=True)
    image = os.environ.get("BALLAST_VM_IMAGE", os.path.join(BUILD, "vm"))
    if not os.path.exists(os.path.join(image, "initrd.img")):
        verdict = "not ok" if os.geteuid() == 0 else "ok"
        for i, c in enumerate(checks, 1):
            print(f"{verdict} {i} {c.__name__} # SKIP guest image missing in {image}", flush=True)
        return 1 if os.geteuid() == 0 else 0
    fx = Fixture()
    failed = 0
    try:
        fx.start()
        fx.wait_active()
        for i, check in enumerate(checks, 1):
            try:
                check(fx)
                print(f"ok {i} {check.__name__}", flush=True)
            except Exception as e:  # one check failing must not hide the others
                failed += 1
                diag(f"{type(e).__name__}: {e}")
                print(f"not ok {i} {check.__name__}", flush=True)
    finally:
        if failed:
            diag("ballastd log:\n" + open(fx.log).read()[-4000:])
        fx.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
