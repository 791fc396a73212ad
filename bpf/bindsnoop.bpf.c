// SPDX-License-Identifier: GPL-2.0
/* bindsnoop: every IPv4/IPv6 bind(), successful or not, in one of three
 * attach modes. User space enables the programs of one mode only.
 *
 *   fentry:     fexit on inet_bind/inet6_bind (arguments and result at once)
 *   kprobe:     kprobe stores the call per thread, kretprobe reports it
 *   tracepoint: sys_enter_bind resolves the fd to its socket and stores the
 *               call per thread, sys_exit_bind reports it
 *
 * No vmlinux.h: the few kernel fields read here are declared below with
 * preserve_access_index, so libbpf relocates them against the running
 * kernel's BTF (CO-RE). */
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bindsnoop.h"

#define AF_UNSPEC 0
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCKADDR_MAX 28 /* sizeof(struct sockaddr_in6) */
#define SOCKADDR_ROOM 32 /* the next power of two, so that len & 31 always fits */

/* ---- kernel types, only the fields read here ---- */
struct in6_addr {
	union {
		__u8 u6_addr8[16];
	} in6_u;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct sock_common {
	unsigned short skc_family;
	__u32 skc_rcv_saddr;
	unsigned short skc_num;
	int skc_bound_dev_if;
	unsigned char skc_reuse : 4;
	unsigned char skc_reuseport : 1;
	possible_net_t skc_net;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

/* Linux 6.6 and later: IP_FREEBIND and friends are bits of inet_flags. */
struct inet_sock {
	unsigned long inet_flags;
} __attribute__((preserve_access_index));

/* Bit numbers of the anonymous enum in include/net/inet_sock.h (6.6+);
 * an anonymous enum cannot be relocated, and these have not moved since. */
#define INET_FLAGS_FREEBIND 11
#define INET_FLAGS_TRANSPARENT 15
#define INET_FLAGS_BIND_ADDRESS_NO_PORT 18

/* Before Linux 6.6: one-bit fields of inet_sock. */
struct inet_sock___pre66 {
	__u8 freebind : 1;
	__u8 transparent : 1;
	__u8 bind_address_no_port : 1;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

/* The kernel allocates a socket and its inode together: SOCKET_I(). */
struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} __attribute__((preserve_access_index)) kuid_t;

typedef struct {
	__u32 val;
} __attribute__((preserve_access_index)) kgid_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
} __attribute__((preserve_access_index));

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct files_struct *files;
	const struct cred *cred;
	struct css_set *cgroups;
	char comm[16];
} __attribute__((preserve_access_index));

/* x86-64 system call arguments as the kernel saved them, by the kernel's
 * field names so that CO-RE matches its struct pt_regs (the uapi header
 * calls them rdi, rsi, rdx). */
struct pt_regs___kernel {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
} __attribute__((preserve_access_index));

/* Layout of the syscalls:sys_{enter,exit}_bind tracepoint records. */
struct syscall_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	long id;
	long ret;
};

/* ---- maps and settings ---- */
const volatile struct bindsnoop_config config = {
	.uid = (__u32)-1,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* user space sets the real size */
} events SEC(".maps");

/* Events that could not be delivered: ring buffer full, or no room to
 * remember a call in flight. User space maps it and reports it in-band: a
 * read of shared memory, no bpf(2) call, so it keeps working after
 * bindsnoop drops its privileges. Touched only when an event is lost. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct pending_bind {
	struct socket *sock;
	__u16 len;
	__u8 addr[SOCKADDR_ROOM];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending_bind);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_filter SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

/* When the last wake-up was allowed (bpf_ktime_get_boot_ns), and the bytes
 * of records written since. Racy across CPUs by design: a lost update only
 * means one wake-up more or less. */
__u64 last_wakeup_ns;
__u64 bytes_since_wakeup;

/* ---- the shared path ---- */
static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline bool task_selected(void)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (config.pid && (pid_tgid >> 32) != config.pid)
		return false;
	if (config.uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != config.uid)
		return false;
	if (config.filter_cgroup && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
		return false;
	return true;
}

static __always_inline bool outcome_selected(int ret)
{
	if (config.outcome == BINDSNOOP_OUTCOME_SUCCESS)
		return ret == 0;
	if (config.outcome == BINDSNOOP_OUTCOME_FAILURE)
		return ret != 0;
	return true;
}

static __always_inline bool port_selected(__u16 requested, __u16 bound)
{
	if (!config.port_count)
		return true;
	for (int i = 0; i < BINDSNOOP_MAX_PORTS && i < config.port_count; i++) {
		if (config.ports[i] == requested || config.ports[i] == bound)
			return true;
	}
	return false;
}

/* Copies the caller's sockaddr, as much of it as a sockaddr_in6 holds. */
static __always_inline void capture_request(struct pending_bind *p, const void *addr,
					    int addr_len, bool user)
{
	__u32 len = addr_len < 0 ? 0 : addr_len;

	if (len > SOCKADDR_MAX)
		len = SOCKADDR_MAX;
	p->len = len;
	/* The compiler knows len <= 28 and would drop the mask; the verifier
	 * needs it to bound the size whatever the register held above 32 bits. */
	barrier_var(len);
	len &= SOCKADDR_ROOM - 1;
	if (user)
		bpf_probe_read_user(p->addr, len, addr);
	else
		bpf_probe_read_kernel(p->addr, len, addr);
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

/* Waking the reader costs the binding task (and the host) far more than
 * writing the record: under a bind storm, wake it at most once per
 * interval, or when wakeup_bytes were written since the last wake-up (the
 * buffer holds at most that much unread: the reader may have polled
 * meanwhile); the reader polls on its own timer in between. Flags 0 lets
 * the kernel wake a reader that has caught up. now is the record's own
 * timestamp, and no ring buffer query: no helper call here. */
static __always_inline __u64 wakeup_flags(__u64 now)
{
	if (!config.wakeup_interval_ns)
		return 0;
	if (now - last_wakeup_ns >= config.wakeup_interval_ns) {
		last_wakeup_ns = now;
		bytes_since_wakeup = 0;
		return 0;
	}
	if (__sync_fetch_and_add(&bytes_since_wakeup, sizeof(struct bind_event)) + sizeof(struct bind_event) <
	    config.wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	bytes_since_wakeup = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* Every helper call costs (on CPUs with return-thunk mitigations, each
 * return does), so the path below reads kernel memory in few, larger
 * copies, and reads the current task through its BTF pointer with plain
 * loads where the kernel allows it (5.11+). */

/* The head of struct sock_common, copied in one read: every field bindsnoop
 * wants from it lies there (at most ~90 bytes in). The union gives the copy
 * room for the kernel's offsets. */
#define SKC_HEAD 128

union skc_head {
	struct sock_common skc;
	__u8 bytes[SKC_HEAD];
};

static __always_inline bool skc_head_holds_all(void)
{
	/* skc_net is absent without CONFIG_NET_NS: its offset is only asked
	 * (and only relocated) where it exists. */
	return bpf_core_field_offset(struct sock_common, skc_v6_rcv_saddr) + 16 <= SKC_HEAD &&
	       bpf_core_field_offset(struct sock_common, skc_bound_dev_if) + 4 <= SKC_HEAD &&
	       (!bpf_core_field_exists(struct sock_common, skc_net) ||
		bpf_core_field_offset(struct sock_common, skc_net) + 8 <= SKC_HEAD);
}

/* A socket as read once: its sock_common head (where the kernel's layout
 * lets one copy hold it) and its family. In the bpf_rdonly_cast program sk
 * is a typed pointer instead, read with plain loads, and head is unused. */
struct sock_view {
	struct sock *sk;
	union skc_head head;
	__u16 family;
};

/* Linux 6.2+: a scalar kernel pointer as a typed one the program may load
 * from (an untrusted pointer: a bad one reads as zeroes, like a failed
 * probe read). The verifier inlines it: no call. Weak: the object loads
 * where it is missing, and user space picks the program that uses it only
 * where the kernel has it. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* Reads sk; true if it is an IPv4 or IPv6 socket. direct: sk is a typed
 * pointer (bpf_rdonly_cast), read in place, not copied. */
static __always_inline bool view_socket(struct sock *sk, struct sock_view *v, bool direct)
{
	v->sk = sk;
	v->family = AF_UNSPEC;
	if (!sk)
		return false;
	if (direct) {
		v->family = sk->__sk_common.skc_family;
	} else if (skc_head_holds_all()) {
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

static __always_inline __u16 bound_port(struct sock_view *v, bool direct)
{
	struct sock_common *skc = &v->head.skc;

	if (direct)
		return v->sk->__sk_common.skc_num;
	if (skc_head_holds_all())
		return skc->skc_num;
	return BPF_CORE_READ(v->sk, __sk_common.skc_num);
}

/* sk_type and sk_protocol: two u16 side by side in struct sock (in either
 * order), read with one copy where they are. */
static __always_inline void read_type_protocol(struct bind_event *e, struct sock *sk)
{
	__u32 type_at = bpf_core_field_offset(struct sock, sk_type);
	__u32 protocol_at = bpf_core_field_offset(struct sock, sk_protocol);
	__u32 first = type_at < protocol_at ? type_at : protocol_at;
	__u16 both[2];

	if (bpf_core_field_size(struct sock, sk_type) == 2 && bpf_core_field_size(struct sock, sk_protocol) == 2 &&
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

/* Fields of the bound socket, into the record. */
static __always_inline void fill_socket(struct bind_event *e, struct sock_view *v, bool direct)
{
	struct sock *sk = v->sk;
	struct net *net = NULL;

	e->family = v->family;
	__builtin_memset(e->bound_addr, 0, sizeof(e->bound_addr));
	if (direct) {
		net = fill_common(e, &sk->__sk_common);
		e->netns = net ? net->ns.inum : 0;
		e->protocol = sk->sk_protocol;
		e->sock_type = sk->sk_type;
		e->options |= inet_options(bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct inet_sock)), true);
		return;
	}
	if (skc_head_holds_all()) {
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
	read_type_protocol(e, sk);
	e->options |= inet_options(sk, false);
}

/* Who is binding. bpf_get_current_task_btf() (5.11+) gives a typed pointer
 * the program reads with plain loads (the same values the pid, uid, cgroup
 * and comm helpers return, without a call each); before, helpers. */
static __always_inline struct task_struct *current_task_btf(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return bpf_get_current_task_btf();
	return NULL;
}

/* task: current_task_btf(). */
static __always_inline void fill_task(struct bind_event *e, struct task_struct *task)
{
	if (task) {
		const struct cred *cred = task->cred;

		e->pid = task->tgid;
		e->tid = task->pid;
		e->uid = cred->uid.val;
		e->gid = cred->gid.val;
		e->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
		e->ppid = task->real_parent->tgid;
		__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));
		__builtin_memcpy(e->process_comm, task->group_leader->comm, sizeof(e->process_comm));
	} else {
		task = (struct task_struct *)bpf_get_current_task();
		__u64 pid_tgid = bpf_get_current_pid_tgid();
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
}

/* One record for a bind() on the IPv4/IPv6 socket in v; task is
 * current_task_btf(); direct: v->sk is a typed pointer (bpf_rdonly_cast). */
static __always_inline void emit(struct sock_view *v, const struct pending_bind *p, int ret, __u8 probe,
				 struct task_struct *task, bool direct)
{
	__u16 requested_family = 0, requested_port = 0;
	struct bind_event *e;

	if (!outcome_selected(ret))
		return;
	if (p->len >= 4) {
		requested_family = *(__u16 *)p->addr;
		requested_port = bpf_ntohs(*(__u16 *)(p->addr + 2));
	}
	/* The port filter needs the bound port before a record is reserved. */
	if (config.port_count && !port_selected(requested_port, bound_port(v, direct)))
		return;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->ret = ret;
	e->options = 0;
	fill_socket(e, v, direct);
	fill_task(e, task);
	e->requested_family = requested_family;
	e->requested_port = requested_port;
	e->requested_len = p->len;
	e->probe = probe;

	__builtin_memset(e->requested_addr, 0, sizeof(e->requested_addr));
	if (requested_family == AF_INET6 && p->len >= 24)
		__builtin_memcpy(e->requested_addr, p->addr + 8, 16);
	else if (p->len >= 8)
		__builtin_memcpy(e->requested_addr, p->addr + 4, 4);

	bpf_ringbuf_submit(e, wakeup_flags(e->boot_ns));
}

/* The socket's sk at return, read now: bind() may have been the first to
 * see it (or a failed one, the last). */
static __always_inline void emit_for(struct socket *sock, const struct pending_bind *p, int ret, __u8 probe)
{
	struct sock_view v;

	if (view_socket(BPF_CORE_READ(sock, sk), &v, false))
		emit(&v, p, ret, probe, current_task_btf(), false);
}

static __always_inline void remember(struct socket *sock, const void *addr, int addr_len, bool user)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_bind p = { .sock = sock };

	capture_request(&p, addr, addr_len, user);
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count_lost();
}

static __always_inline void report(int ret, __u8 probe)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_bind *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p)
		return;
	emit_for(p->sock, p, ret, probe);
	bpf_map_delete_elem(&pending, &tid);
}

/* ---- fentry mode ---- */
static __always_inline int on_fexit(struct socket *sock, const void *uaddr, int addr_len, int ret)
{
	struct pending_bind p = { .sock = sock };

	if (!task_selected())
		return 0;
	capture_request(&p, uaddr, addr_len, false);
	emit_for(sock, &p, ret, BINDSNOOP_PROBE_FENTRY);
	return 0;
}

SEC("fexit/inet_bind")
int BPF_PROG(fexit_inet_bind, struct socket *sock, void *uaddr, int addr_len, int ret)
{
	return on_fexit(sock, uaddr, addr_len, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_inet6_bind, struct socket *sock, void *uaddr, int addr_len, int ret)
{
	return on_fexit(sock, uaddr, addr_len, ret);
}

/* ---- kprobe mode ---- */
SEC("kprobe/inet_bind")
int BPF_KPROBE(kprobe_inet_bind, struct socket *sock, void *uaddr, int addr_len)
{
	if (task_selected())
		remember(sock, uaddr, addr_len, false);
	return 0;
}

SEC("kprobe/inet6_bind")
int BPF_KPROBE(kprobe_inet6_bind, struct socket *sock, void *uaddr, int addr_len)
{
	if (task_selected())
		remember(sock, uaddr, addr_len, false);
	return 0;
}

SEC("kretprobe/inet_bind")
int BPF_KRETPROBE(kretprobe_inet_bind, int ret)
{
	report(ret, BINDSNOOP_PROBE_KPROBE);
	return 0;
}

SEC("kretprobe/inet6_bind")
int BPF_KRETPROBE(kretprobe_inet6_bind, int ret)
{
	report(ret, BINDSNOOP_PROBE_KPROBE);
	return 0;
}

/* ---- tracepoint mode ---- */
enum fd_lookup {
	FD_INET_SOCKET,
	FD_OTHER_SOCKET, /* AF_UNIX, AF_NETLINK...: not ours */
	FD_NOT_A_SOCKET, /* no file, or not a socket */
};

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

static __always_inline bool socket_span_holds_all(void)
{
	return socket_sk_at() + 8 <= inode_mode_at() && inode_mode_at() + 2 - socket_sk_at() <= SOCKET_SPAN;
}

/* The socket behind descriptor fd of the current task, given its fd table:
 * into *sockp, and its sock read into v. direct (6.2+): the file, socket
 * and sock are read through bpf_rdonly_cast pointers with plain loads,
 * where the copies below each take a helper call; only the table's slot
 * needs a probe read (an array of pointers, indexed by a variable). */
static __always_inline enum fd_lookup socket_in_table(struct file **fds, unsigned int max_fds, int fd,
						      struct socket **sockp, struct sock_view *v, bool direct)
{
	struct file *file;
	struct inode *inode;
	struct socket *sock;
	struct sock *sk;
	__u16 mode;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return FD_NOT_A_SOCKET;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return FD_NOT_A_SOCKET;
	if (direct) {
		file = bpf_rdonly_cast(file, bpf_core_type_id_kernel(struct file));
		if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
			return FD_NOT_A_SOCKET;
		sock = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct socket));
		if (!view_socket(sock->sk, v, true))
			return FD_OTHER_SOCKET;
		*sockp = sock;
		return FD_INET_SOCKET;
	}
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return FD_NOT_A_SOCKET;
	sock = (struct socket *)((__u8 *)inode - bpf_core_field_offset(struct socket_alloc, vfs_inode));
	if (socket_span_holds_all()) {
		__u8 span[SOCKET_SPAN];
		__u32 mode_in_span = inode_mode_at() - socket_sk_at();

		if (bpf_probe_read_kernel(span, sizeof(span), (__u8 *)sock + socket_sk_at()))
			return FD_NOT_A_SOCKET;
		barrier_var(mode_in_span); /* one offset, added to the stack pointer once */
		mode = *(__u16 *)(span + mode_in_span);
		sk = *(struct sock **)span;
	} else {
		mode = BPF_CORE_READ(inode, i_mode);
		sk = NULL;
		if ((mode & S_IFMT) == S_IFSOCK)
			sk = BPF_CORE_READ(sock, sk);
	}
	if ((mode & S_IFMT) != S_IFSOCK)
		return FD_NOT_A_SOCKET;
	if (!view_socket(sk, v, false))
		return FD_OTHER_SOCKET;
	*sockp = sock;
	return FD_INET_SOCKET;
}

/* Linux 5.15+: one program at exit, the arguments read back from the saved
 * registers (bpf_task_pt_regs) instead of a map entry written at entry;
 * half the programs, no map traffic. User space picks it when the kernel
 * has the helper (the _cast one on 6.2+, which has bpf_rdonly_cast), and
 * the entry + exit pair below otherwise. */
static __always_inline int on_sys_exit(struct syscall_exit_ctx *ctx, bool direct)
{
	struct task_struct *task;
	struct pt_regs___kernel *regs;
	struct fdtable *fdt;
	struct pending_bind p = {};
	struct sock_view v;

	if (!task_selected())
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs___kernel *)bpf_task_pt_regs(task);
	fdt = task->files->fdt;
	switch (socket_in_table(fdt->fd, fdt->max_fds, (int)regs->di, &p.sock, &v, direct)) {
	case FD_INET_SOCKET:
		break;
	case FD_NOT_A_SOCKET:
		/* A successful bind() on what is no socket now: another thread
		 * closed or replaced the descriptor meanwhile. Say so. */
		if (ctx->ret == 0)
			count_lost();
		return 0;
	default:
		return 0;
	}
	capture_request(&p, (const void *)regs->si, (int)regs->dx, true);
	emit(&v, &p, (int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT, task, direct);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_regs(struct syscall_exit_ctx *ctx)
{
	return on_sys_exit(ctx, false);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_cast(struct syscall_exit_ctx *ctx)
{
	return on_sys_exit(ctx, true);
}

/* Before 5.15: the entry remembers the socket and the caller's sockaddr. */
SEC("tracepoint/syscalls/sys_enter_bind")
int tracepoint_sys_enter_bind(struct syscall_enter_ctx *ctx)
{
	struct task_struct *task;
	struct fdtable *fdt;
	struct socket *sock;
	struct sock_view v;

	if (!task_selected())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	fdt = BPF_CORE_READ(task, files, fdt);
	if (socket_in_table(BPF_CORE_READ(fdt, fd), BPF_CORE_READ(fdt, max_fds), (int)ctx->args[0], &sock, &v,
			    false) == FD_INET_SOCKET)
		remember(sock, (const void *)ctx->args[1], (int)ctx->args[2], true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind(struct syscall_exit_ctx *ctx)
{
	report((int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT);
	return 0;
}
