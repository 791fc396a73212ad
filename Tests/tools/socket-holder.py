#!/usr/bin/env python3
"""Holds bound sockets for the inventory tests: makes each SPEC, prints one
JSON line describing them (pid, the sockets' protocol, family, address,
port, inode, whether they listen, and the pid of a child that inherited
them with --fork), then waits until its stdin closes and exits (the child
with it).

Usage: socket-holder.py [--fork] SPEC...
  SPEC: tcp4-listen | tcp6-listen | tcp4-bound | tcp6-bound | udp4 | udp6
        (bound to the loopback address, port chosen by the kernel)."""
import ctypes
import json
import os
import signal
import socket
import sys

specs = [a for a in sys.argv[1:] if not a.startswith("--")]
held, described = [], []
for spec in specs:
    proto, rest = spec[:3], spec[3:]
    family = socket.AF_INET6 if rest.startswith("6") else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    listening = rest.endswith("-listen")
    if listening:
        s.listen(8)
    held.append(s)
    described.append({"proto": proto, "family": 6 if family == socket.AF_INET6 else 4,
                      "ip": s.getsockname()[0], "port": s.getsockname()[1],
                      "inode": os.fstat(s.fileno()).st_ino, "listening": listening})
child = 0
if "--fork" in sys.argv:
    child = os.fork()
    if child == 0:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: gone with its parent
        signal.pause()  # holds the inherited descriptors until killed
        os._exit(0)
print(json.dumps({"pid": os.getpid(), "child": child, "sockets": described}), flush=True)
sys.stdin.read()
if child:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
