/* SPDX-License-Identifier: GPL-2.0 */
/* The sockets bindsnoop reported (a successful bind record, or a line of
 * the inventory at start), kept until their release: shared by
 * bindsnoop.bpf.c, which fills it at each reported bind and empties it in
 * the release hook, and inventory.bpf.c, whose copy of the map user space
 * points at the same map (bpf_map__reuse_fd) before load. */
#ifndef BINDSNOOP_REPORTED_BPF_H
#define BINDSNOOP_REPORTED_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bindsnoop.h"

/* By socket inode, the record the socket was reported with. Preallocated
 * (tracing programs write it: run-time allocation is not safe there) and
 * bounded: user space sets the size (release.max_sockets). Full, a socket
 * is not kept and `untracked` counts it: it will have no release record. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* user space sets the real size */
	__type(key, __u64);
	__type(value, struct bind_event);
} reported SEC(".maps");

/* Reported sockets that found no room in `reported`. Mapped by user space,
 * which reports it in band (no bpf(2) call: after --user too). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} untracked SEC(".maps");

static __always_inline void count_untracked(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&untracked, &zero);

	if (n)
		__atomic_fetch_add(n, 1, __ATOMIC_RELAXED); /* relaxed: the plain locked add every kernel takes */
}

/* Keeps a reported socket's record (e: on the stack or a map value) for
 * its release; a failure (the map full) is counted. */
static __always_inline void track(const struct bind_event *e)
{
	__u64 inode = e->socket_inode;

	if (!inode || bpf_map_update_elem(&reported, &inode, e, BPF_ANY))
		count_untracked();
}

#endif
