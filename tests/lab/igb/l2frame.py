#!/usr/bin/env python3
"""Raw Ethernet frames for the igb lab test.

send IFACE DST SRC VLANS MARK COUNT   send COUNT frames of EtherType 0x88b5
                                      carrying MARK, with the 802.1Q tags in
                                      VLANS (comma list, outer first; '-' none)
recv IFACE MARK SECONDS READY SENT    after binding, create the file READY;
                                      print one line per MARK frame received
                                      until SECONDS after the file SENT
                                      appears (the sender is done): "src=MAC
                                      tags=T1,T2" (the tag the driver stripped
                                      first, then the tags still in the frame;
                                      '-' for none). Fails when SENT has not
                                      appeared after SENT_LIMIT s.

The receiver's window starts when the sender is done, not when the
receiver is: in a lab slowed down by its neighbours, the sender's own
start (a Python under emulation) once took longer than a fixed window.
"""
import os
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
MARK_TYPE = 0x88B5
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
AUXDATA = struct.Struct("=IIIHHHH")
SENT_LIMIT = 120


def mac_bytes(text):
    raw = bytes.fromhex(text.replace(":", ""))
    if len(raw) != 6:
        sys.exit(f"l2frame: '{text}' is not a MAC address")
    return raw


def vlan_list(text):
    if text == "-":
        return []
    vlans = [int(v) for v in text.split(",")]
    if any(v < 1 or v > 4094 for v in vlans):
        sys.exit(f"l2frame: VLAN ids must be 1-4094, not '{text}'")
    return vlans


def send(ifname, dst, src, vlans, mark, count):
    frame = mac_bytes(dst) + mac_bytes(src)
    for vid in vlan_list(vlans):
        frame += struct.pack("!HH", ETH_P_8021Q, vid)
    frame += struct.pack("!H", MARK_TYPE) + mark.encode().ljust(46, b"\0")
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        for _ in range(int(count)):
            sock.send(frame)
            time.sleep(0.05)


def parse(frame, aux_tag):
    """The source MAC and tags of a MARK frame, or None for any other frame."""
    tags = [aux_tag] if aux_tag is not None else []
    off = 12
    while len(frame) >= off + 4 and struct.unpack_from("!H", frame, off)[0] == ETH_P_8021Q:
        tags.append(struct.unpack_from("!H", frame, off + 2)[0] & 0xFFF)
        off += 4
    if len(frame) < off + 2 or struct.unpack_from("!H", frame, off)[0] != MARK_TYPE:
        return None
    return frame[6:12], tags, frame[off + 2:]


def recv(ifname, mark, seconds, ready, sent):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.bind((ifname, 0))
    with open(ready, "w", encoding="ascii"):
        pass
    start = time.monotonic()
    deadline = None  # SECONDS after SENT appears
    want = mark.encode()
    while deadline is None or time.monotonic() < deadline:
        if deadline is None and os.path.exists(sent):
            deadline = time.monotonic() + float(seconds)
        if deadline is None and time.monotonic() - start > SENT_LIMIT:
            sys.exit(f"l2frame: the sender was not done ({sent}) after {SENT_LIMIT} s")
        sock.settimeout(0.2)
        try:
            frame, ancdata, _, addr = sock.recvmsg(4096, socket.CMSG_SPACE(AUXDATA.size))
        except TimeoutError:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        aux_tag = None
        for level, kind, data in ancdata:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= AUXDATA.size:
                status, _, _, _, _, tci, _ = AUXDATA.unpack_from(data)
                if status & TP_STATUS_VLAN_VALID:
                    aux_tag = tci & 0xFFF
        parsed = parse(frame, aux_tag)
        if parsed is None or not parsed[2].startswith(want):
            continue
        src, tags, _ = parsed
        print(f"src={src.hex(':')} tags={','.join(map(str, tags)) or '-'}", flush=True)


def main(argv):
    if len(argv) == 7 and argv[0] == "send":
        send(*argv[1:])
    elif len(argv) == 6 and argv[0] == "recv":
        recv(*argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
