#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# test/harness/ra-sender.py - a router on the cloud side of the real-NetworkManager harness:
# sends ICMPv6 Router Advertisements (RFC 4861 4.2) to all nodes (ff02::1) on each interface
# named, every INTERVAL seconds, from the interface's link-local address. No prefix and no
# M/O flags: NetworkManager (ipv6.method auto) learns only a default router (fe80::...), as on
# a cloud whose metadata names no IPv6 router. Started by realnm.sh with REALNM_RA=1.
#
#   ra-sender.py IFACE...
import socket
import struct
import sys
import time

INTERVAL = 1.0
ROUTER_LIFETIME = 1800  # seconds
ALL_NODES = "ff02::1"


def advertisement(mac: bytes) -> bytes:
    # type 134, code 0, checksum 0 (the kernel fills it in on ICMPv6 raw sockets),
    # cur hop limit 64, flags 0, router lifetime, reachable time 0, retrans timer 0
    header = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, ROUTER_LIFETIME, 0, 0)
    # option 1: source link-layer address (length in units of 8 octets)
    return header + (struct.pack("!BB", 1, 1) + mac if len(mac) == 6 else b"")


def open_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)  # RFC 4861: hop limit 255
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    return sock


def mac_of(ifname: str) -> bytes:
    with open(f"/sys/class/net/{ifname}/address", encoding="ascii") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))


def main() -> None:
    links = [(name, open_socket(name), advertisement(mac_of(name))) for name in sys.argv[1:]]
    if not links:
        sys.exit("usage: ra-sender.py IFACE...")
    while True:
        for name, sock, packet in links:
            try:
                sock.sendto(packet, (ALL_NODES, 0, 0, socket.if_nametoindex(name)))
            except OSError as error:  # no link-local address yet (DAD), or the peer is down
                print(f"ra-sender: {name}: {error}", file=sys.stderr, flush=True)
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
