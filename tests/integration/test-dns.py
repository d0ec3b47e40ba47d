#!/usr/bin/env python3
"""A DNS server for the network tests: answers A queries for the names it
is given (NAME=ADDRESS...) on ADDR:PORT (UDP), NXDOMAIN for others, no
records for other types.  Prints "ready" once it listens.

    test-dns.py ADDR PORT NAME=ADDRESS..."""
import socket
import struct
import sys


def question(msg):
    labels, i = [], 12
    while msg[i]:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    qtype, _ = struct.unpack("!HH", msg[i + 1:i + 5])
    return ".".join(labels), qtype, msg[12:i + 5]


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    names = dict(a.split("=", 1) for a in sys.argv[3:])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        msg, peer = s.recvfrom(512)
        if len(msg) < 17:
            continue
        name, qtype, q = question(msg)
        known = name in names
        answers = b""
        if known and qtype == 1:
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(names[name])
        flags = 0x8180 if known else 0x8183
        head = struct.pack("!HHHHHH", struct.unpack("!H", msg[:2])[0], flags, 1,
                           1 if answers else 0, 0, 0)
        s.sendto(head + q + answers, peer)


main()
