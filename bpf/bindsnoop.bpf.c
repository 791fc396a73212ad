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

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct files_struct *files;
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

/* When the last wake-up was allowed (bpf_ktime_get_ns). Racy across CPUs
 * by design: a lost update only means one wake-up more or less. */
__u64 last_wakeup_ns;

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

static __always_inline bool is_inet(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return family == AF_INET || family == AF_INET6;
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
 * struct sock, so read apart from the sock_common head. */
static __always_inline __u8 inet_options(struct sock *sk)
{
	__u8 opts = 0;

	if (bpf_core_field_exists(((struct inet_sock *)sk)->inet_flags)) {
		unsigned long flags = BPF_CORE_READ((struct inet_sock *)sk, inet_flags);

		if (flags & (1UL << INET_FLAGS_FREEBIND))
			opts |= BINDSNOOP_OPT_FREEBIND;
		if (flags & (1UL << INET_FLAGS_TRANSPARENT))
			opts |= BINDSNOOP_OPT_TRANSPARENT;
		if (flags & (1UL << INET_FLAGS_BIND_ADDRESS_NO_PORT))
			opts |= BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT;
	} else {
		struct inet_sock___pre66 *old = (void *)sk;

		if (BPF_CORE_READ_BITFIELD_PROBED(old, freebind))
			opts |= BINDSNOOP_OPT_FREEBIND;
		if (BPF_CORE_READ_BITFIELD_PROBED(old, transparent))
			opts |= BINDSNOOP_OPT_TRANSPARENT;
		if (BPF_CORE_READ_BITFIELD_PROBED(old, bind_address_no_port))
			opts |= BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT;
	}
	return opts;
}

/* Waking the reader costs the binding task (and the host) far more than
 * writing the record: under a bind storm, wake it at most once per
 * interval, or when the buffer is filling; the reader polls on its own
 * timer meanwhile. Flags 0 lets the kernel wake a reader that has caught up. */
static __always_inline __u64 wakeup_flags(void)
{
	__u64 now;

	if (!config.wakeup_interval_ns)
		return 0;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= config.wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	now = bpf_ktime_get_ns();
	if (now - last_wakeup_ns < config.wakeup_interval_ns)
		return BPF_RB_NO_WAKEUP;
	last_wakeup_ns = now;
	return 0;
}

/* The head of struct sock_common, copied in one read: every field bindsnoop
 * wants from it lies there (at most ~90 bytes in), and one
 * bpf_probe_read_kernel costs what a dozen field reads together cost one
 * by one. The union gives the copy room for the kernel's offsets. */
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

/* Fields of the bound socket, into the record. */
static __always_inline void fill_socket(struct bind_event *e, struct sock *sk)
{
	struct net *net = NULL;

	__builtin_memset(e->bound_addr, 0, sizeof(e->bound_addr));
	if (skc_head_holds_all()) {
		union skc_head head;
		/* Through a struct sock_common pointer, so that CO-RE relocates
		 * against the kernel's sock_common, not our union. */
		struct sock_common *skc = &head.skc;

		bpf_probe_read_kernel(&head, sizeof(head), sk);
		e->family = skc->skc_family;
		e->bound_port = skc->skc_num;
		e->bound_dev_if = skc->skc_bound_dev_if;
		if (bpf_core_field_exists(sk->__sk_common.skc_net.net))
			net = skc->skc_net.net;
		if (e->family == AF_INET6)
			__builtin_memcpy(e->bound_addr, skc->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		else
			__builtin_memcpy(e->bound_addr, &skc->skc_rcv_saddr, 4);
		if (BPF_CORE_READ_BITFIELD(skc, skc_reuse))
			e->options |= BINDSNOOP_OPT_REUSEADDR;
		if (BPF_CORE_READ_BITFIELD(skc, skc_reuseport))
			e->options |= BINDSNOOP_OPT_REUSEPORT;
	} else {
		e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
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
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sock_type = BPF_CORE_READ(sk, sk_type);
	e->options |= inet_options(sk);
}

/* Parent and process name. bpf_get_current_task_btf() (5.11+) gives a
 * typed pointer the program may read directly; before, one helper call per
 * field. */
static __always_inline void fill_task(struct bind_event *e)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();

		e->ppid = task->real_parent->tgid;
		bpf_probe_read_kernel_str(e->process_comm, sizeof(e->process_comm), task->group_leader->comm);
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		e->ppid = BPF_CORE_READ(task, real_parent, tgid);
		BPF_CORE_READ_STR_INTO(&e->process_comm, task, group_leader, comm);
	}
}

static __always_inline void emit(const struct pending_bind *p, int ret, __u8 probe)
{
	struct socket *sock = p->sock;  /* not BPF_CORE_READ(p->sock): pending_bind is ours, not the kernel's */
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u16 requested_family = 0, requested_port = 0;
	struct bind_event *e;

	if (!sk || !outcome_selected(ret))
		return;
	if (p->len >= 4) {
		requested_family = *(__u16 *)p->addr;
		requested_port = bpf_ntohs(*(__u16 *)(p->addr + 2));
	}
	/* The port filter needs the bound port before a record is reserved. */
	if (config.port_count && !port_selected(requested_port, BPF_CORE_READ(sk, __sk_common.skc_num)))
		return;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->ret = ret;
	e->options = 0;
	fill_socket(e, sk);
	fill_task(e);
	e->requested_family = requested_family;
	e->requested_port = requested_port;
	e->requested_len = p->len;
	e->probe = probe;

	__builtin_memset(e->requested_addr, 0, sizeof(e->requested_addr));
	if (requested_family == AF_INET6 && p->len >= 24)
		__builtin_memcpy(e->requested_addr, p->addr + 8, 16);
	else if (p->len >= 8)
		__builtin_memcpy(e->requested_addr, p->addr + 4, 4);

	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, wakeup_flags());
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
	emit(p, ret, probe);
	bpf_map_delete_elem(&pending, &tid);
}

/* ---- fentry mode ---- */
static __always_inline int on_fexit(struct socket *sock, const void *uaddr, int addr_len, int ret)
{
	struct pending_bind p = { .sock = sock };

	if (!task_selected())
		return 0;
	capture_request(&p, uaddr, addr_len, false);
	emit(&p, ret, BINDSNOOP_PROBE_FENTRY);
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

/* The socket behind descriptor fd of the current task, given its fd table. */
static __always_inline enum fd_lookup socket_in_table(struct file **fds, unsigned int max_fds, int fd,
						      struct socket **out)
{
	struct file *file;
	struct socket *sock;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return FD_NOT_A_SOCKET;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return FD_NOT_A_SOCKET;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return FD_NOT_A_SOCKET;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || !is_inet(BPF_CORE_READ(sock, sk)))
		return FD_OTHER_SOCKET;
	*out = sock;
	return FD_INET_SOCKET;
}

static __always_inline struct socket *socket_of_fd(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct socket *sock = NULL;

	socket_in_table(BPF_CORE_READ(fdt, fd), BPF_CORE_READ(fdt, max_fds), fd, &sock);
	return sock;
}

/* Linux 5.15+: one program at exit, the arguments read back from the saved
 * registers (bpf_task_pt_regs) instead of a map entry written at entry;
 * half the programs, no map traffic. User space picks it when the kernel
 * has the helper, and the entry + exit pair below otherwise. */
SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_regs(struct syscall_exit_ctx *ctx)
{
	struct task_struct *task;
	struct pt_regs___kernel *regs;
	struct fdtable *fdt;
	struct pending_bind p = {};

	if (!task_selected())
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs___kernel *)bpf_task_pt_regs(task);
	fdt = task->files->fdt;
	switch (socket_in_table(fdt->fd, fdt->max_fds, (int)regs->di, &p.sock)) {
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
	emit(&p, (int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_bind")
int tracepoint_sys_enter_bind(struct syscall_enter_ctx *ctx)
{
	struct socket *sock;

	if (!task_selected())
		return 0;
	sock = socket_of_fd((int)ctx->args[0]);
	if (sock)
		remember(sock, (const void *)ctx->args[1], (int)ctx->args[2], true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind(struct syscall_exit_ctx *ctx)
{
	report((int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT);
	return 0;
}
