/* SPDX-License-Identifier: GPL-2.0 */
/* Reading the kernel: the socket behind a descriptor, the fields of a bound
 * socket, the task that binds. Two strategies where kernels differ: typed
 * loads through bpf_rdonly_cast pointers (Linux 6.2+, "_cast") and probe
 * reads in few, large copies ("_copy"); a helper holding both is a
 * dispatch on `direct`, a constant the compiler folds.
 *
 * Every helper call costs (on CPUs with return-thunk mitigations, each
 * return does), so the copies are large and the current task is read
 * through its BTF pointer with plain loads where the kernel allows it
 * (5.11+).
 *
 * Settings come in as parameters (by_field: field-by-field reads, the path
 * of a kernel whose layout does not fit the one-copy reads), as in
 * libbpf-tools' helpers: this header knows no map and no global of the tool. */
#ifndef BINDSNOOP_READ_KERNEL_BPF_H
#define BINDSNOOP_READ_KERNEL_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bindsnoop.h"
#include "kernel_types.bpf.h"

/* Linux 6.2+: a scalar kernel pointer as a typed one the program may load
 * from (an untrusted pointer: a bad one reads as zeroes, like a failed
 * probe read). The verifier inlines it: no call. Weak: the object loads
 * where it is missing, and user space picks the program that uses it only
 * where the kernel has it. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* ---- the socket ---- */

/* The head of struct sock_common, copied in one read: every field bindsnoop
 * wants from it lies there (at most ~90 bytes in). The union gives the copy
 * room for the kernel's offsets. */
#define SKC_HEAD 128

union skc_head {
	struct sock_common skc;
	__u8 bytes[SKC_HEAD];
};

static __always_inline bool skc_head_holds_all(bool by_field)
{
	/* skc_net is absent without CONFIG_NET_NS: its offset is only asked
	 * (and only relocated) where it exists. */
	return !by_field &&
	       bpf_core_field_offset(struct sock_common, skc_v6_rcv_saddr) + 16 <= SKC_HEAD &&
	       bpf_core_field_offset(struct sock_common, skc_bound_dev_if) + 4 <= SKC_HEAD &&
	       (!bpf_core_field_exists(struct sock_common, skc_net) ||
		bpf_core_field_offset(struct sock_common, skc_net) + 8 <= SKC_HEAD);
}

/* A socket as read once: its sock_common head (where the kernel's layout
 * lets one copy hold it) and its family. In the _cast program sk is a typed
 * pointer instead, read with plain loads, and head is unused. */
struct sock_view {
	struct sock *sk;
	union skc_head head;
	__u16 family;
};

/* Reads sk; true if it is an IPv4 or IPv6 socket. direct: sk is a typed
 * pointer (bpf_rdonly_cast), read in place, not copied. */
static __always_inline bool view_socket(struct sock *sk, struct sock_view *v, bool direct, bool by_field)
{
	v->sk = sk;
	v->family = AF_UNSPEC;
	if (!sk)
		return false;
	if (direct) {
		v->family = sk->__sk_common.skc_family;
	} else if (skc_head_holds_all(by_field)) {
		/* Through a struct sock_common pointer, so that CO-RE relocates
		 * against the kernel's sock_common, not our union. On a failed
		 * read the helper zeroes the copy: family 0, not ours. */
		struct sock_common *skc = &v->head.skc;

		bpf_probe_read_kernel(&v->head, sizeof(v->head), sk);
		v->family = skc->skc_family;
	} else {
		v->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	}
	return v->family == AF_INET || v->family == AF_INET6;
}

static __always_inline __u16 bound_port(struct sock_view *v, bool direct, bool by_field)
{
	struct sock_common *skc = &v->head.skc;

	if (direct)
		return v->sk->__sk_common.skc_num;
	if (skc_head_holds_all(by_field))
		return skc->skc_num;
	return BPF_CORE_READ(v->sk, __sk_common.skc_num);
}

/* IP_FREEBIND, IP_TRANSPARENT, IP_BIND_ADDRESS_NO_PORT: in inet_sock, past
 * struct sock, so read apart from the sock_common head. direct: inet is a
 * typed pointer the program loads from (bpf_rdonly_cast); else probe reads. */
static __always_inline __u8 inet_options(void *inet, bool direct)
{
	__u8 opts = 0;

	if (bpf_core_field_exists(((struct inet_sock *)inet)->inet_flags)) {
		unsigned long flags = direct ? ((struct inet_sock *)inet)->inet_flags
					     : BPF_CORE_READ((struct inet_sock *)inet, inet_flags);

		if (flags & (1UL << INET_FLAGS_FREEBIND))
			opts |= BINDSNOOP_OPT_FREEBIND;
		if (flags & (1UL << INET_FLAGS_TRANSPARENT))
			opts |= BINDSNOOP_OPT_TRANSPARENT;
		if (flags & (1UL << INET_FLAGS_BIND_ADDRESS_NO_PORT))
			opts |= BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT;
	} else {
		struct inet_sock___pre66 *old = inet;

		if (direct ? BPF_CORE_READ_BITFIELD(old, freebind) : BPF_CORE_READ_BITFIELD_PROBED(old, freebind))
			opts |= BINDSNOOP_OPT_FREEBIND;
		if (direct ? BPF_CORE_READ_BITFIELD(old, transparent) : BPF_CORE_READ_BITFIELD_PROBED(old, transparent))
			opts |= BINDSNOOP_OPT_TRANSPARENT;
		if (direct ? BPF_CORE_READ_BITFIELD(old, bind_address_no_port)
			   : BPF_CORE_READ_BITFIELD_PROBED(old, bind_address_no_port))
			opts |= BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT;
	}
	return opts;
}

/* sk_type and sk_protocol: two u16 side by side in struct sock (in either
 * order), read with one copy where they are. */
static __always_inline void read_type_protocol(struct bind_event *e, struct sock *sk, bool by_field)
{
	__u32 type_at = bpf_core_field_offset(struct sock, sk_type);
	__u32 protocol_at = bpf_core_field_offset(struct sock, sk_protocol);
	__u32 first = type_at < protocol_at ? type_at : protocol_at;
	__u16 both[2];

	if (!by_field && bpf_core_field_size(struct sock, sk_type) == 2 &&
	    bpf_core_field_size(struct sock, sk_protocol) == 2 &&
	    (type_at == protocol_at + 2 || protocol_at == type_at + 2)) {
		bpf_probe_read_kernel(both, sizeof(both), (__u8 *)sk + first);
		e->sock_type = both[type_at == first ? 0 : 1];
		e->protocol = both[protocol_at == first ? 0 : 1];
	} else {
		e->protocol = BPF_CORE_READ(sk, sk_protocol);
		e->sock_type = BPF_CORE_READ(sk, sk_type);
	}
}

/* The sock_common fields, from a pointer the program may load from: the
 * stack copy, or the kernel's own through bpf_rdonly_cast. Returns skc_net. */
static __always_inline struct net *fill_common(struct bind_event *e, struct sock_common *skc)
{
	struct net *net = NULL;

	e->bound_port = skc->skc_num;
	e->bound_dev_if = skc->skc_bound_dev_if;
	if (bpf_core_field_exists(skc->skc_net.net))
		net = skc->skc_net.net;
	if (e->family == AF_INET6)
		__builtin_memcpy(e->bound_addr, skc->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
	else
		__builtin_memcpy(e->bound_addr, &skc->skc_rcv_saddr, 4);
	if (BPF_CORE_READ_BITFIELD(skc, skc_reuse))
		e->options |= BINDSNOOP_OPT_REUSEADDR;
	if (BPF_CORE_READ_BITFIELD(skc, skc_reuseport))
		e->options |= BINDSNOOP_OPT_REUSEPORT;
	return net;
}

/* The bound socket's address, port, device, namespace, type, protocol and
 * options, read through the typed pointer v->sk. */
static __always_inline void fill_socket_cast(struct bind_event *e, struct sock_view *v)
{
	struct sock *sk = v->sk;
	struct net *net = fill_common(e, &sk->__sk_common);

	e->netns = net ? net->ns.inum : 0;
	e->protocol = sk->sk_protocol;
	e->sock_type = sk->sk_type;
	e->options |= inet_options(bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct inet_sock)), true);
}

/* The same from the copy view_socket made, field by field where the
 * kernel's layout does not fit one copy. */
static __always_inline void fill_socket_copy(struct bind_event *e, struct sock_view *v, bool by_field)
{
	struct sock *sk = v->sk;
	struct net *net = NULL;

	if (skc_head_holds_all(by_field)) {
		net = fill_common(e, &v->head.skc);
	} else {
		e->bound_port = BPF_CORE_READ(sk, __sk_common.skc_num);
		e->bound_dev_if = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
		if (bpf_core_field_exists(sk->__sk_common.skc_net.net))
			net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
		if (e->family == AF_INET6)
			BPF_CORE_READ_INTO(&e->bound_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		else
			BPF_CORE_READ_INTO((__u32 *)e->bound_addr, sk, __sk_common.skc_rcv_saddr);
		if (BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuse))
			e->options |= BINDSNOOP_OPT_REUSEADDR;
		if (BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuseport))
			e->options |= BINDSNOOP_OPT_REUSEPORT;
	}
	e->netns = net ? BPF_CORE_READ(net, ns.inum) : 0;
	read_type_protocol(e, sk, by_field);
	e->options |= inet_options(sk, false);
}

static __always_inline void fill_socket(struct bind_event *e, struct sock_view *v, bool direct, bool by_field)
{
	e->family = v->family;
	__builtin_memset(e->bound_addr, 0, sizeof(e->bound_addr));
	if (direct)
		fill_socket_cast(e, v);
	else
		fill_socket_copy(e, v, by_field);
}

/* ---- the task ---- */

/* bpf_get_current_task_btf() (5.11+) gives a typed pointer the program reads
 * with plain loads (the same values the pid, uid, cgroup and comm helpers
 * return, without a call each); NULL before. */
static __always_inline struct task_struct *current_task_btf(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return bpf_get_current_task_btf();
	return NULL;
}

/* Who is binding, from the typed task pointer. */
static __always_inline void fill_task_btf(struct bind_event *e, struct task_struct *task)
{
	const struct cred *cred = task->cred;

	e->pid = task->tgid;
	e->tid = task->pid;
	e->uid = cred->uid.val;
	e->gid = cred->gid.val;
	e->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	e->ppid = task->real_parent->tgid;
	__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
	__builtin_memcpy(e->process_comm, task->group_leader->comm, sizeof(e->process_comm));
}

/* Who is binding, through helpers (before 5.11); pid_tgid: the program's
 * bpf_get_current_pid_tgid(). */
static __always_inline void fill_task_helpers(struct bind_event *e, __u64 pid_tgid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->process_comm, task, group_leader, comm);
}

/* task: current_task_btf(), NULL where the kernel has no typed task. */
static __always_inline void fill_task(struct bind_event *e, struct task_struct *task, __u64 pid_tgid)
{
	if (task)
		fill_task_btf(e, task);
	else
		fill_task_helpers(e, pid_tgid);
}

/* ---- a descriptor's socket (tracepoint mode) ---- */

enum fd_lookup {
	FD_INET_SOCKET,
	FD_OTHER_SOCKET, /* AF_UNIX, AF_NETLINK...: not ours */
	FD_NOT_A_SOCKET, /* no file, or not a socket */
};

/* The file, socket and sock through bpf_rdonly_cast pointers, with plain loads. */
static __always_inline enum fd_lookup socket_of_file_cast(struct file *file, struct socket **sockp, __u64 *inode,
							  struct sock_view *v)
{
	struct socket *sock;

	file = bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return FD_NOT_A_SOCKET;
	sock = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
	if (!view_socket(sock->sk, v, true, false))
		return FD_OTHER_SOCKET;
	*sockp = sock;
	*inode = file->f_inode->i_ino;
	return FD_INET_SOCKET;
}

/* From a socket's sk field to its inode's i_mode: one copy tells whether
 * the inode is a socket's and, if so, which sock it holds. */
#define SOCKET_SPAN 192

static __always_inline __u32 socket_sk_at(void)
{
	return bpf_core_field_offset(struct socket_alloc, socket.sk);
}

static __always_inline __u32 inode_mode_at(void)
{
	return bpf_core_field_offset(struct socket_alloc, vfs_inode) + bpf_core_field_offset(struct inode, i_mode);
}

static __always_inline __u32 inode_number_at(void)
{
	return bpf_core_field_offset(struct socket_alloc, vfs_inode) + bpf_core_field_offset(struct inode, i_ino);
}

static __always_inline bool socket_span_holds_all(bool by_field)
{
	return !by_field && socket_sk_at() + 8 <= inode_mode_at() && inode_mode_at() + 2 - socket_sk_at() <= SOCKET_SPAN &&
	       inode_number_at() > socket_sk_at() && inode_number_at() + 8 - socket_sk_at() <= SOCKET_SPAN;
}

/* The inode number of a socket (its id), through probe reads. */
static __always_inline __u64 socket_inode_number(struct socket *sock)
{
	return sock ? BPF_CORE_READ((struct socket_alloc *)sock, vfs_inode.i_ino) : 0;
}

/* The same from a sock: its socket's (sk_socket), 0 for a sock without one.
 * direct: sk is a typed pointer (bpf_rdonly_cast), read with plain loads. */
static __always_inline __u64 sock_inode_number(struct sock *sk, bool direct)
{
	struct socket_alloc *socket;

	if (!direct)
		return socket_inode_number(BPF_CORE_READ(sk, sk_socket));
	socket = bpf_rdonly_cast(sk->sk_socket, bpf_core_type_id_kernel(struct socket_alloc));
	return socket->vfs_inode.i_ino;
}

/* The same through probe reads: the inode (a socket's is allocated with it:
 * SOCKET_I()), then its mode and sk in one copy where the layout allows. */
static __always_inline enum fd_lookup socket_of_file_copy(struct file *file, struct socket **sockp, __u64 *number,
							  struct sock_view *v, bool by_field)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct socket *sock;
	struct sock *sk;
	__u64 ino;
	__u16 mode;

	if (!inode)
		return FD_NOT_A_SOCKET;
	sock = (struct socket *)((__u8 *)inode - bpf_core_field_offset(struct socket_alloc, vfs_inode));
	if (socket_span_holds_all(by_field)) {
		__u8 span[SOCKET_SPAN];
		__u32 mode_in_span = inode_mode_at() - socket_sk_at();
		__u32 ino_in_span = inode_number_at() - socket_sk_at();

		if (bpf_probe_read_kernel(span, sizeof(span), (__u8 *)sock + socket_sk_at()))
			return FD_NOT_A_SOCKET;
		barrier_var(mode_in_span); /* one offset, added to the stack pointer once */
		barrier_var(ino_in_span);
		mode = *(__u16 *)(span + mode_in_span);
		ino = *(__u64 *)(span + ino_in_span);
		sk = *(struct sock **)span;
	} else {
		mode = BPF_CORE_READ(inode, i_mode);
		sk = NULL;
		ino = 0;
		if ((mode & S_IFMT) == S_IFSOCK) {
			sk = BPF_CORE_READ(sock, sk);
			ino = BPF_CORE_READ(inode, i_ino);
		}
	}
	if ((mode & S_IFMT) != S_IFSOCK)
		return FD_NOT_A_SOCKET;
	if (!view_socket(sk, v, false, by_field))
		return FD_OTHER_SOCKET;
	*sockp = sock;
	*number = ino;
	return FD_INET_SOCKET;
}

/* The socket behind descriptor fd of the current task, given its fd table:
 * into *sockp, and its sock read into v. Reading the table's slot takes a
 * helper in every strategy (an array of pointers, indexed by a variable). */
static __always_inline enum fd_lookup socket_in_table(struct file **fds, unsigned int max_fds, int fd,
						      struct socket **sockp, __u64 *inode, struct sock_view *v, bool direct,
						      bool by_field)
{
	struct file *file;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return FD_NOT_A_SOCKET;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return FD_NOT_A_SOCKET;
	return direct ? socket_of_file_cast(file, sockp, inode, v) : socket_of_file_copy(file, sockp, inode, v, by_field);
}

#endif
