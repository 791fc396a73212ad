#!/usr/bin/env python3
"""Makes the churn of the release tests, then prints one JSON object that
says what bindsnoop's stream must show: each socket's inode, port and the
wall-clock times (ns) that bound its release line.

  plain:     a TCP listener and a UDP socket (IPv6), bound, then closed
  inherited: a TCP listener a forked child inherits; the parent closes it
             first ("parent_closed"), the child later ("child_closed"):
             the release comes at the child's close, not the parent's
  reuseport: two UDP sockets on one port (SO_REUSEPORT), closed one by one
  exec:      a socket kept across an exec (no CLOEXEC) and closed by the
             new program ("exec_closed")
  failed:    a bind that fails (EADDRINUSE): its socket has no release
  client:    a connected client socket (a port from connect, no bind): none

Usage: release-churn.py"""
import json
import os
import socket
import subprocess
import sys
import time


def now():
    return time.time_ns()


def ino(s):
    return os.fstat(s.fileno()).st_ino


out = {"pid": os.getpid()}

tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.bind(("127.0.0.1", 0))
tcp.listen(8)
udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.bind(("::1", 0))
out["plain"] = [{"inode": ino(s), "port": s.getsockname()[1], "proto": p} for s, p in ((tcp, "tcp"), (udp, "udp"))]
time.sleep(0.05)
tcp.close()
udp.close()
out["plain_closed"] = now()

shared = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
shared.bind(("127.0.0.1", 0))
shared.listen(8)
out["inherited"] = {"inode": ino(shared), "port": shared.getsockname()[1]}
read_end, write_end = os.pipe()
back_read, back_write = os.pipe()
child = os.fork()
if child == 0:
    os.close(write_end)
    os.read(read_end, 1)  # until the parent has closed its descriptor
    time.sleep(0.2)
    closed = now()
    shared.close()
    os.write(back_write, str(closed).encode())
    os._exit(0)
os.close(read_end)
os.close(back_write)
shared.close()
out["parent_closed"] = now()
os.write(write_end, b"x")
os.close(write_end)
os.waitpid(child, 0)
out["child_closed"] = int(os.read(back_read, 64))
out["child"] = child

group = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", group[0].getsockname()[1] if group else 0))
    group.append(s)
out["reuseport"] = [{"inode": ino(s), "port": s.getsockname()[1]} for s in group]
group[0].close()
out["reuseport_first_closed"] = now()
time.sleep(0.1)
group[1].close()

kept = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
kept.bind(("127.0.0.1", 0))
kept.set_inheritable(True)
out["exec"] = {"inode": ino(kept), "port": kept.getsockname()[1]}
execed = subprocess.Popen([sys.executable, "-c",
                           "import os, sys, time; time.sleep(0.2); t = time.time_ns(); os.close(int(sys.argv[1])); print(t)",
                           str(kept.fileno())], pass_fds=(kept.fileno(),), stdout=subprocess.PIPE, text=True)
kept.close()  # the new program holds the other descriptor: its close is the last
out["exec_parent_closed"] = now()
out["exec_closed"] = int(execed.communicate()[0])

holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
holder.bind(("127.0.0.1", 0))
holder.listen(8)
loser = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    loser.bind(("127.0.0.1", holder.getsockname()[1]))
    out["failed"] = None
except OSError:
    out["failed"] = {"inode": ino(loser), "port": holder.getsockname()[1]}
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(holder.getsockname())
out["client"] = {"inode": ino(client), "port": client.getsockname()[1]}
out["holder"] = {"inode": ino(holder), "port": holder.getsockname()[1]}
for s in (client, loser, holder):
    s.close()
out["done"] = now()
print(json.dumps(out), flush=True)
