#!/usr/bin/env python3
"""qmp-client.py: drives ballastd's control socket the way qemu.qmp does.

qemu.qmp's protocol writes each command as JSON with no newline after it,
reads the greeting's QMP.version.qemu, negotiates, and matches replies to
commands by "id" (of any JSON type). This is that client, on asyncio alone,
so the test needs no package from PyPI. Usage: qmp-client.py SOCKET.
Exits 0 when every check holds; prints what failed otherwise.
"""
import asyncio
import json
import sys


class Client:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.decoder = json.JSONDecoder()
        self.buf = ""

    async def recv(self):
        """The next JSON message; the server frames with newlines, but a
        client like qemu.qmp does not rely on them (it splits objects)."""
        while True:
            text = self.buf.lstrip()
            if text:
                try:
                    msg, end = self.decoder.raw_decode(text)
                    self.buf = text[end:]
                    return msg
                except json.JSONDecodeError:
                    pass
            chunk = await asyncio.wait_for(self.reader.read(4096), 5)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk.decode()

    def send(self, msg):
        # No newline, as qemu.qmp's _send does.
        self.writer.write(json.dumps(msg).encode())

    async def execute(self, command, arguments=None, msg_id=None):
        msg = {"execute": command}
        if arguments is not None:
            msg["arguments"] = arguments
        if msg_id is not None:
            msg["id"] = msg_id
        self.send(msg)
        await self.writer.drain()
        while True:
            reply = await self.recv()
            if "event" not in reply:
                return reply


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def main(path):
    reader, writer = await asyncio.open_unix_connection(path)
    c = Client(reader, writer)
    greeting = await c.recv()
    qemu = greeting["QMP"]["version"]["qemu"]
    check(all(isinstance(qemu[k], int) for k in ("major", "minor", "micro")), "version.qemu")
    check(greeting["QMP"]["version"]["package"].startswith("ballast "), "version.package")
    check("ballast" in greeting["QMP"]["version"], "ballast's own version beside qemu's")

    r = await c.execute("qmp_capabilities", msg_id="neg")
    check(r == {"return": {}, "id": "neg"}, f"qmp_capabilities: {r}")

    # ids of every JSON type come back as sent
    for msg_id in (7, "str", [1, "two"], {"seq": 3, "tag": None}, None, 2.5, True):
        r = await c.execute("query-status", msg_id=msg_id)
        check(r.get("id") == msg_id and "return" in r, f"id {msg_id!r}: {r}")

    r = await c.execute("query-version", msg_id=1)
    check(r["return"]["qemu"] == qemu, f"query-version: {r}")
    r = await c.execute("query-commands", msg_id=2)
    names = {x["name"] for x in r["return"]}
    for n in ("qmp_capabilities", "query-commands", "query-version", "query-vms", "kick"):
        check(n in names, f"query-commands lacks {n}")

    r = await c.execute("no-such-command", msg_id=3)
    check(r["error"]["class"] == "CommandNotFound" and r["error"]["desc"], f"error shape: {r}")
    check(r["id"] == 3, "id on an error")
    r = await c.execute("query-vm", {"name": "nosuch"}, msg_id=4)
    check(r["error"]["class"] == "DeviceNotFound", f"DeviceNotFound: {r}")

    # Two commands in one write, no separator: two replies, in order.
    writer.write(b'{"execute":"query-version","id":"a"}{"execute":"query-ksm","id":"b"}')
    await writer.drain()
    first, second = await c.recv(), await c.recv()
    check(first["id"] == "a" and second["id"] == "b", f"back to back: {first} {second}")
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except Exception as e:  # report, exit non-zero
        print(f"qmp-client: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print("qmp-client: ok")
