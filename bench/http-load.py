#!/usr/bin/env python3
"""http-load.py: does /metrics load slow the tick? Runs ballastd on real tiny
guests and compares its tick duration (the ballast_tick_duration_seconds
histogram) over a quiet window, a window with CLIENTS HTTP clients each
polling /metrics every PERIOD ms, and a quiet window again. Prints a
Markdown table. A benchmark, not a test: run it by hand (as root, after
scripts/build.sh and tests/vm/build-image.sh build):
    bench/http-load.py [--guests 3] [--clients 50] [--period-ms 100] [--window-s 60]
"""
import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BALLASTD = os.path.join(TOP, "build", "controller", "ballastd")
BALLAST_VM = os.path.join(TOP, "tests", "vm", "ballast-vm")


def scrape(host, port):
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return text


def tick_hist(text):
    """(count, sum, {le: cumulative}) of the tick histogram."""
    count = float(re.search(r"^ballast_tick_duration_seconds_count (\S+)", text, re.M).group(1))
    total = float(re.search(r"^ballast_tick_duration_seconds_sum (\S+)", text, re.M).group(1))
    buckets = {le: float(v) for le, v in
               re.findall(r'^ballast_tick_duration_seconds_bucket\{le="([^"]+)"\} (\S+)', text, re.M)}
    return count, total, buckets


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def window(host, port, seconds, pid):
    c0, s0, b0 = tick_hist(scrape(host, port))
    cpu0 = cpu_s(pid)
    time.sleep(seconds)
    cpu1 = cpu_s(pid)
    c1, s1, b1 = tick_hist(scrape(host, port))
    n = c1 - c0
    mean_ms = 1000 * (s1 - s0) / n if n else float("nan")

    def quantile(q):
        for le in b1:  # in ascending order as exposed
            if n and (b1[le] - b0[le]) >= q * n:
                return le
        return "?"
    return {"ticks": int(n), "mean_ms": mean_ms, "p50_le": quantile(0.5), "p99_le": quantile(0.99),
            "cpu_pct": 100 * (cpu1 - cpu0) / seconds}


def poller(host, port, period_s, stop, stats):
    c = http.client.HTTPConnection(host, port, timeout=10)
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            c.request("GET", "/metrics")
            c.getresponse().read()
            stats.append(time.monotonic() - t0)
        except (OSError, http.client.HTTPException):
            stats.append(None)
            c.close()
            c = http.client.HTTPConnection(host, port, timeout=10)
        time.sleep(max(0.0, period_s - (time.monotonic() - t0)))
    c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guests", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--period-ms", type=int, default=100)
    ap.add_argument("--window-s", type=int, default=60)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ballast-http-bench-")
    qmp = os.path.join(tmp, "qmp")
    os.mkdir(qmp)
    conf = os.path.join(tmp, "ballast.conf")
    log = os.path.join(tmp, "ballastd.log")
    with open(conf, "w") as f:
        f.write(f"[daemon]\ncontrol-socket={tmp}/control.sock\nqmp-dir={qmp}\n"
                "http-listen=127.0.0.1:0\n[host]\nmode=density\n[ksm]\nmode=observe\n")
    daemon = subprocess.Popen([BALLASTD, "--config", conf], stdout=open(log, "w"),
                              stderr=subprocess.STDOUT)
    pids = []
    try:
        port = None
        for _ in range(100):
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", open(log).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.1)
        assert port, "ballastd did not start"
        host = "127.0.0.1"
        boots = [subprocess.Popen([BALLAST_VM, "start", f"g{i}", qmp, "512", "steady:100M"],
                                  stdout=subprocess.PIPE) for i in range(args.guests)]
        pids = [b.communicate()[0].decode().strip() for b in boots]
        # The pollers stand for scrapers on other machines: their own CPU
        # must not be what slows the tick, so they run at the lowest priority.
        os.nice(19)
        print(f"# {args.guests} guests up; settling 30 s", file=sys.stderr)
        time.sleep(30)

        rows = [("idle", window(host, port, args.window_s, daemon.pid))]
        stop, stats = threading.Event(), []
        threads = [threading.Thread(target=poller,
                                    args=(host, port, args.period_ms / 1000, stop, stats))
                   for _ in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(2)
        stats.clear()
        rows.append((f"{args.clients} clients / {args.period_ms} ms", window(host, port, args.window_s, daemon.pid)))
        stop.set()
        for t in threads:
            t.join()
        ok = sorted(s for s in stats if s is not None)
        failed = sum(1 for s in stats if s is None)
        time.sleep(2)
        rows.append(("idle again", window(host, port, args.window_s, daemon.pid)))

        print(f"{args.guests} guests (TCG), {os.cpu_count()} CPUs, windows of {args.window_s} s\n")
        print("| phase | ticks | mean tick | p50 bucket | p99 bucket | ballastd CPU |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, r in rows:
            print(f"| {name} | {r['ticks']} | {r['mean_ms']:.3f} ms | ≤ {r['p50_le']} s "
                  f"| ≤ {r['p99_le']} s | {r['cpu_pct']:.1f} % |")
        if ok:
            print(f"\n/metrics under load: {len(ok)} scrapes ({len(ok) / args.window_s:.0f}/s), "
                  f"{failed} failed; latency p50 {1000 * ok[len(ok) // 2]:.1f} ms, "
                  f"p99 {1000 * ok[int(len(ok) * 0.99)]:.1f} ms")
    finally:
        for pid in pids:
            subprocess.run([BALLAST_VM, "stop", pid], check=False)
        daemon.terminate()
        daemon.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
