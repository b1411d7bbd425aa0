#!/usr/bin/env python3
"""The one Python client of the evr control protocol (docs/control.md; the
contract is ctl/protocol.h): evr-vmm's, evr-vswitch's and evrd's sockets.
Every test and benchmark imports it; scripts without Python code call it:

    python3 tools/lib/evrctl.py SOCKET OP [FIELD=VALUE ...]

prints the reply line as the server sent it and exits 0 when it says ok,
1 when it is an error, 2 when the socket cannot be reached or the hello is
refused. A VALUE that parses as JSON is sent as that (3, true, ["a"]);
anything else as a string.

    import evrctl
    with evrctl.Client("/run/evr/vm-a.sock") as c:
        c.call(op="pause")                # the reply, or raises evrctl.Error
        c.request(op="stats")             # the reply envelope as it is
"""

import json
import socket
import sys

PROTOCOL = 1  # CTL_PROTOCOL_VERSION of ctl/protocol.h


class Error(Exception):
    """A reply with "ok": false: code is the errno name ("EINVAL"), message
    the server's text naming the field."""

    def __init__(self, reply):
        err = reply.get("error") or {}
        self.code = err.get("code", "EIO")
        self.message = err.get("message", "the server gave no reason")
        self.reply = reply
        super().__init__(f"{self.code}: {self.message}")


class Client:
    """One connection: connects, says hello (self.hello is its reply), then
    one request at a time."""

    def __init__(self, path, timeout=None):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.hello = self.call(op="hello", protocol=PROTOCOL)

    def send_line(self, text):
        """Sends text as one line and returns the reply line (str, without
        its newline); for tests of the framing and for the command line."""
        self.sock.sendall(text.encode() + b"\n")
        return self.read_line()

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{self.path}: the server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def request(self, **req):
        """Sends req ({"op": ..., fields...}); returns the reply envelope."""
        return json.loads(self.send_line(json.dumps(req, separators=(",", ":"))))

    def call(self, **req):
        """As request(), but raises Error unless the reply says ok."""
        reply = self.request(**req)
        if reply.get("ok") is not True:
            raise Error(reply)
        return reply

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[3:]):
        print("usage: evrctl.py SOCKET OP [FIELD=VALUE ...]", file=sys.stderr)
        return 2
    req = {"op": argv[2]}
    for a in argv[3:]:
        k, v = a.split("=", 1)
        req[k] = _value(v)
    try:
        with Client(argv[1]) as c:
            line = c.send_line(json.dumps(req, separators=(",", ":")))
    except (OSError, Error) as e:
        print(f"evrctl: {argv[1]}: {e}", file=sys.stderr)
        return 2
    print(line)
    return 0 if json.loads(line).get("ok") is True else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
