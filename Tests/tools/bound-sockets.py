#!/usr/bin/env python3
"""A consumer of bindsnoop's stream, as a log store would be: rebuilds the
set of sockets bound now from the inventory at start (event.kind "state")
and the successful binds since, less the releases (event.action
"release", joined by bind.socket_id), and compares it with the kernel's own view
of one network namespace (ss, run inside it: TCP listening, UDP
unconnected). Prints what differs and exits 1 if anything does.

Usage: bound-sockets.py EVENTS.ndjson (--netns NAME | --pid PID)
  NAME: a namespace of `ip netns`; PID: a process in the namespace (a
  container's, from the host); its inode picks the stream's lines.
  TCP sockets the stream knows as bound but not listening are left out of
  the comparison (ss lists them only from Linux 6.8 on, with -B) and
  printed as "bound-only" for the caller to check."""
import argparse
import json
import os
import re
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("events")
where = ap.add_mutually_exclusive_group(required=True)
where.add_argument("--netns")
where.add_argument("--pid", type=int)
args = ap.parse_args()
if args.netns:
    inode = os.stat(f"/run/netns/{args.netns}").st_ino
    inside = ["ip", "netns", "exec", args.netns]
else:
    inode = os.stat(f"/proc/{args.pid}/ns/net").st_ino
    inside = ["nsenter", "-t", str(args.pid), "-n"]

# By socket id: (key, pid, holders); a release removes its socket.
sockets, bound_only, released = {}, {}, 0
for line in open(args.events, encoding="utf-8"):
    event = json.loads(line)
    bind, kind, action = event.get("bind", {}), event["event"]["kind"], event["event"]["action"]
    if bind.get("netns") != inode or "server" not in event:
        continue
    key = (event["network"]["transport"], event["server"]["ip"], event["server"]["port"])
    pid, socket_id = event["process"]["pid"], bind["socket_id"]
    if action == "release":
        released += 1
        sockets.pop(socket_id, None)
        bound_only.pop(socket_id, None)
    elif kind == "state":
        if event["network"]["transport"] == "tcp" and not bind["inventory"]["listening"]:
            bound_only[socket_id] = key + (pid,)
            continue
        sockets[socket_id] = (key, pid, bind["inventory"]["holders"])
    elif action == "bind" and event["event"].get("outcome") == "success":
        sockets.setdefault(socket_id, (key, pid, 1))
stream = {key: (pid, holders) for key, pid, holders in sockets.values()}

kernel = {}
for proto, flags in (("tcp", "-tlnp"), ("udp", "-ulnp")):
    out = subprocess.run(inside + ["ss", "-H", flags], check=True,
                         capture_output=True, text=True).stdout
    for row in out.splitlines():
        fields = row.split()
        local = fields[3]
        ip, port = local.rsplit(":", 1)
        ip = ip.strip("[]").split("%")[0]
        pids = sorted({int(p) for p in re.findall(r"pid=(\d+)", row)})
        kernel[(proto, ip, int(port))] = pids

differ = 0
for key in sorted(set(stream) | set(kernel)):
    if key not in kernel:
        print(f"only in the stream: {key} pid {stream[key][0]}")
        differ = 1
    elif key not in stream:
        print(f"only in the kernel: {key} pids {kernel[key]}")
        differ = 1
    elif stream[key][0] not in kernel[key] or stream[key][1] != len(kernel[key]):
        print(f"differs: {key}: stream pid {stream[key][0]}, holders {stream[key][1]}; kernel pids {kernel[key]}")
        differ = 1
    else:
        print(f"same: {key} pid {stream[key][0]} holders {stream[key][1]}")
for key in sorted(bound_only.values()):
    print(f"bound-only: {key[0]} {key[1]} {key[2]} pid {key[3]}")
print(f"releases: {released}")
sys.exit(differ)
