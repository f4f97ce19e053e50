#!/usr/bin/env python3
"""fake-qemu.py: a QMP peer that looks to ballastd like a running QEMU with
a virtio-balloon: greeting, query-status, query-memory-size-summary,
qom-list/qom-get/qom-set of the balloon's guest stats, query-balloon and
balloon (which moves "actual" at once and sends BALLOON_CHANGE).

For tests of the operator surfaces that need a VM and its decisions but
not a real guest. Usage: fake-qemu.py SOCKET [RAM_MIB]. Runs until killed.
"""
import json
import os
import socket
import sys
import threading
import time

MIB = 1024 * 1024


class Vm:
    def __init__(self, ram):
        self.ram = ram
        self.actual = ram
        self.lock = threading.Lock()

    def answer(self, cmd, args):
        if cmd == "qmp_capabilities":
            return {}
        if cmd == "query-status":
            return {"status": "running", "running": True}
        if cmd == "query-memory-size-summary":
            return {"base-memory": self.ram, "plugged-memory": 0}
        if cmd == "qom-list":
            if args.get("path") == "/machine/peripheral-anon":
                return [{"name": "device[0]", "type": "child<virtio-balloon-pci>"}]
            return []
        if cmd == "qom-get" and args.get("property") in ("deflate-on-oom",
                                                         "free-page-reporting"):
            return False
        if cmd == "qom-get":
            with self.lock:
                used = self.actual // 2
                return {"last-update": int(time.time()),
                        "stats": {"stat-total-memory": self.actual,
                                  "stat-available-memory": self.actual - used,
                                  "stat-free-memory": self.actual - used,
                                  "stat-disk-caches": 0}}
        if cmd == "query-balloon":
            with self.lock:
                return {"actual": self.actual}
        if cmd == "balloon":
            with self.lock:
                self.actual = int(args["value"])
            return {}
        return {}


def serve(conn, vm):
    f = conn.makefile("rwb", buffering=0)

    def send(obj):
        f.write(json.dumps(obj).encode() + b"\r\n")

    send({"QMP": {"version": {"qemu": {"major": 8, "minor": 2, "micro": 0}, "package": ""},
                  "capabilities": []}})
    for line in f:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd, args = msg.get("execute"), msg.get("arguments") or {}
        reply = {"return": vm.answer(cmd, args)}
        if "id" in msg:
            reply["id"] = msg["id"]
        send(reply)
        if cmd == "balloon":
            now = time.time()
            send({"event": "BALLOON_CHANGE", "data": {"actual": vm.actual},
                  "timestamp": {"seconds": int(now), "microseconds": int(now % 1 * 1e6)}})


def exit_with_parent():
    """A test that fails must not leave this behind: go when the parent does."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    path = sys.argv[1]
    vm = Vm(int(sys.argv[2]) * MIB if len(sys.argv) > 2 else 2048 * MIB)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, vm), daemon=True).start()


if __name__ == "__main__":
    main()
