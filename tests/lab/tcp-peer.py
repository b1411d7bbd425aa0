#!/usr/bin/env python3
"""The test host's end of a lab test's TCP transfers to and from a guest.

    tcp-peer.py sink PORT            # report each connection's bytes and MD5
    tcp-peer.py send HOST PORT FILE  # send FILE to HOST:PORT

The sink serves each connection in a thread of its own, so that one stalled
transfer does not hold up the ones after it (docs/lab.md, "TCP on the lab's
e1000e pair"), and prints one line per connection:

    sink got BYTES md5 HEX
    sink: connection failed after BYTES bytes: ERROR

Both ends give up after 180 s without progress: a stall is reported, never
waited out.
"""

import hashlib
import socket
import sys
import threading

STALL_S = 180


def serve(conn):
    conn.settimeout(STALL_S)
    n, digest = 0, hashlib.md5()
    try:
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            n += len(b)
            digest.update(b)
    except OSError as e:
        print("sink: connection failed after", n, "bytes:", e, flush=True)
        return
    finally:
        conn.close()
    print("sink got", n, "md5", digest.hexdigest(), flush=True)


def sink(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    while True:
        threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()


def send(host, port, path):
    with open(path, "rb") as f:
        data = f.read()
    with socket.create_connection((host, port), timeout=STALL_S) as c:
        c.sendall(data)
    print("sent", len(data), flush=True)


def port_arg(text):
    if not text.isdigit() or not 0 < int(text) < 65536:
        sys.exit(f"tcp-peer.py: port {text!r} is not a number in 1-65535")
    return int(text)


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "sink":
        sink(port_arg(args[1]))
    elif len(args) == 4 and args[0] == "send":
        send(args[1], port_arg(args[2]), args[3])
    else:
        sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main()
