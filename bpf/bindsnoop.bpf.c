// SPDX-License-Identifier: GPL-2.0
/* bindsnoop: every IPv4/IPv6 bind(), successful or not. One object, one set
 * of maps; user space loads the programs of one attach mode only:
 *
 *   fentry:     fexit_inet_bind, fexit_inet6_bind: arguments and result at once
 *   kprobe:     kprobe_inet{,6}_bind store the call per thread,
 *               kretprobe_inet{,6}_bind report it
 *   tracepoint: one program at sys_exit_bind that reads the arguments back
 *               from the saved registers (5.15+): tracepoint_sys_exit_bind_cast
 *               reads the socket through bpf_rdonly_cast (6.2+),
 *               tracepoint_sys_exit_bind_regs through probe reads; before 5.15
 *               the pair tracepoint_sys_enter_bind (resolves the fd, stores the
 *               call per thread) + tracepoint_sys_exit_bind_pair (reports it)
 *   cgroup:     cgroup_bind{4,6} (inside inet_bind, before any check) store
 *               the request by socket cookie; cgroup_post_bind{4,6} (after
 *               the port is taken) report it as a success. What no post-bind
 *               hook claims, user space reports as failed (errno unknown).
 *               Runs only inside bind: no cost to other system calls.
 *               In tracepoint mode, where the kernel allows it, the same four
 *               programs run beside the tracepoint and report only the binds
 *               that did not come through the 64-bit bind(2) system call
 *               (io_uring, 32-bit programs, the kernel).
 *
 * In every mode, where cgroup v2 is mounted: cgroup_sock_release at the
 * cgroup v2 root (5.9+; inside inet_release, at a socket's last close)
 * reports the release of each socket a bind record or the inventory
 * reported (the `reported` map, by socket inode); a lookup that misses is
 * all it costs any other socket.
 *
 * Kernel types are in kernel_types.bpf.h (CO-RE, no vmlinux.h), the reads
 * of sockets and tasks in read_kernel.bpf.h; this file holds the maps, the
 * filters and the programs. Kernel/KernelContract.swift names what user
 * space finds here (programs, maps, the config variable). x86-64 only:
 * the saved registers are read by their x86-64 names. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bindsnoop.h"
#include "kernel_types.bpf.h"
#include "read_kernel.bpf.h"
#include "read_identity.bpf.h"

#define SOCKADDR_MAX 28 /* sizeof(struct sockaddr_in6) */
#define SOCKADDR_ROOM 32 /* the next power of two, so that len & 31 always fits */

struct pending_bind {
	struct socket *sock;
	__u16 len;
	__u8 addr[SOCKADDR_ROOM];
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending_bind);
} pending SEC(".maps");

#include "reported.bpf.h"

/* A bind record's copy on its way into `reported` (see emit). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bind_event);
} reported_scratch SEC(".maps");


/* cgroup mode: requests the post-bind hook has not claimed, by socket
 * cookie, as the record to send (ret BINDSNOOP_RET_NOT_BOUND). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct bind_event);
} requested SEC(".maps");

/* Processes whose identity (struct process_identity) was sent: by tgid,
 * the start time and the exec count (self_exec_id) it had then, so that a
 * reused pid or an exec sends it again. LRU: a process forgotten here is
 * sent again at its next bind, which user space takes as a fresh copy. */
struct identity_key_value {
	__u64 start_ns;
	__u64 exec_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct identity_key_value);
} identities_sent SEC(".maps");

/* The self-check's slots (enum bindsnoop_self_check_slot): 1 once the
 * program has run for one of bindsnoop's own binds. Mapped by user space,
 * which clears them before each periodic check (no bpf(2) call, so the
 * check goes on after --user). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BINDSNOOP_SEEN_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
} self_checks SEC(".maps");

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

/* The thread that makes the self-check binds, as bpf_get_current_pid_tgid()
 * sees it: outside any pid namespace bindsnoop runs in (a container's pids
 * are not the kernel's), so the thread tells the kernel by running `whoami`
 * itself (BPF_PROG_TEST_RUN runs it in the caller's context). 0: nobody. */
__u64 self_pid_tgid;

SEC("raw_tp")
int whoami(void *ctx)
{
	self_pid_tgid = bpf_get_current_pid_tgid();
	return 0;
}

#include "shared_path.bpf.h"

/* ---- fentry mode ---- */
static __always_inline int on_fexit(__u32 slot, struct socket *sock, const void *uaddr, int addr_len, int ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pending_bind p = { .sock = sock };

	if (is_self_check(slot, pid_tgid) || !task_selected(pid_tgid) || !outcome_selected(ret))
		return 0;
	capture_request(&p, uaddr, addr_len, false);
	emit_for(pid_tgid, sock, &p, ret, BINDSNOOP_PROBE_FENTRY);
	return 0;
}

SEC("fexit/inet_bind")
int BPF_PROG(fexit_inet_bind, struct socket *sock, void *uaddr, int addr_len, int ret)
{
	return on_fexit(BINDSNOOP_SEEN_fexit_inet_bind, sock, uaddr, addr_len, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_inet6_bind, struct socket *sock, void *uaddr, int addr_len, int ret)
{
	return on_fexit(BINDSNOOP_SEEN_fexit_inet6_bind, sock, uaddr, addr_len, ret);
}

/* The smallest fexit program: loaded alone when fentry mode fails, to tell
 * a kernel that refuses BPF trampolines from one that refuses the above. */
SEC("fexit/inet_bind")
int BPF_PROG(fentry_minimal)
{
	return 0;
}

/* ---- kprobe mode ---- */
static __always_inline int on_kprobe(__u32 slot, struct socket *sock, const void *uaddr, int addr_len)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_self_check(slot, pid_tgid) && task_selected(pid_tgid))
		remember(pid_tgid, sock, uaddr, addr_len, false);
	return 0;
}

static __always_inline int on_kretprobe(__u32 slot, int ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_self_check(slot, pid_tgid))
		report(pid_tgid, ret, BINDSNOOP_PROBE_KPROBE);
	return 0;
}

SEC("kprobe/inet_bind")
int BPF_KPROBE(kprobe_inet_bind, struct socket *sock, void *uaddr, int addr_len)
{
	return on_kprobe(BINDSNOOP_SEEN_kprobe_inet_bind, sock, uaddr, addr_len);
}

SEC("kprobe/inet6_bind")
int BPF_KPROBE(kprobe_inet6_bind, struct socket *sock, void *uaddr, int addr_len)
{
	return on_kprobe(BINDSNOOP_SEEN_kprobe_inet6_bind, sock, uaddr, addr_len);
}

SEC("kretprobe/inet_bind")
int BPF_KRETPROBE(kretprobe_inet_bind, int ret)
{
	return on_kretprobe(BINDSNOOP_SEEN_kretprobe_inet_bind, ret);
}

SEC("kretprobe/inet6_bind")
int BPF_KRETPROBE(kretprobe_inet6_bind, int ret)
{
	return on_kretprobe(BINDSNOOP_SEEN_kretprobe_inet6_bind, ret);
}

/* ---- tracepoint mode ---- */
/* Linux 5.15+: one program at exit, the arguments read back from the saved
 * registers (bpf_task_pt_regs) instead of a map entry written at entry;
 * half the programs, no map traffic. User space picks it when the kernel
 * has the helper (the _cast one on 6.2+, which has bpf_rdonly_cast), and
 * the entry + exit pair below otherwise. */
static __always_inline int on_sys_exit(__u32 slot, struct syscall_exit_ctx *ctx, bool direct)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct pt_regs___kernel *regs;
	struct fdtable *fdt;
	struct pending_bind p = {};
	struct sock_view v;
	__u64 inode = 0;

	/* The outcome is known before the descriptor is looked up: no walk for a
	 * bind that is not wanted. */
	if (is_self_check(slot, pid_tgid) || !task_selected(pid_tgid) || !outcome_selected((int)ctx->ret))
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs___kernel *)bpf_task_pt_regs(task);
	fdt = task->files->fdt;
	switch (socket_in_table(fdt->fd, fdt->max_fds, (int)regs->di, &p.sock, &inode, &v, direct, config.field_by_field)) {
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
	emit(pid_tgid, &v, &p, inode, (int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT, task, direct);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_regs(struct syscall_exit_ctx *ctx)
{
	return on_sys_exit(BINDSNOOP_SEEN_tracepoint_sys_exit_bind_regs, ctx, false);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_cast(struct syscall_exit_ctx *ctx)
{
	return on_sys_exit(BINDSNOOP_SEEN_tracepoint_sys_exit_bind_cast, ctx, true);
}

/* Before 5.15: the entry remembers the socket and the caller's sockaddr. */
SEC("tracepoint/syscalls/sys_enter_bind")
int tracepoint_sys_enter_bind(struct syscall_enter_ctx *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct fdtable *fdt;
	struct socket *sock;
	struct sock_view v;
	__u64 inode;

	if (is_self_check(BINDSNOOP_SEEN_tracepoint_sys_enter_bind, pid_tgid) || !task_selected(pid_tgid))
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	fdt = BPF_CORE_READ(task, files, fdt);
	if (socket_in_table(BPF_CORE_READ(fdt, fd), BPF_CORE_READ(fdt, max_fds), (int)ctx->args[0], &sock, &inode, &v,
			    false, config.field_by_field) == FD_INET_SOCKET)
		remember(pid_tgid, sock, (const void *)ctx->args[1], (int)ctx->args[2], true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_pair(struct syscall_exit_ctx *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_self_check(BINDSNOOP_SEEN_tracepoint_sys_exit_bind_pair, pid_tgid))
		report(pid_tgid, (int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT);
	return 0;
}

/* ---- cgroup mode ---- */
/* The struct sock behind a cgroup program's socket, as a plain address for
 * probe reads: the verifier allows no arithmetic on its socket pointers, so
 * the pointer goes through the stack into a scalar. */
static __always_inline struct sock *kernel_sock(void *sk)
{
	__u64 addr = 0;

	bpf_probe_read_kernel(&addr, sizeof(addr), &sk);
	return (struct sock *)addr;
}

static __always_inline void submit_copy(const struct bind_event *record)
{
	struct bind_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost();
		return;
	}
	__builtin_memcpy(e, record, sizeof(*e));
	bpf_ringbuf_submit(e, wakeup_flags(e->boot_ns));
}

/* The x86-64 bind(2) system call, which the tracepoint reports. A 32-bit
 * program's bind is socketcall (102) or i386 bind (361); an io_uring bind
 * runs under io_uring_enter or in an io-wq worker. */
#define NR_BIND_X86_64 49

static __always_inline bool in_bind_syscall(void)
{
	struct pt_regs___kernel *regs = (struct pt_regs___kernel *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return regs->orig_ax == NR_BIND_X86_64;
}

/* Every cgroup program allows the call (returns 1): bindsnoop only watches. */
static __always_inline int on_cgroup_bind(__u32 slot, struct bpf_sock_addr *ctx, bool v6)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct bind_event e = {};
	struct sock_view v;
	__u64 cookie;

	if (is_self_check(slot, pid_tgid))
		return 1;
	if (config.cgroup_skips_bind_syscall && in_bind_syscall())
		return 1;
	if (!task_selected(pid_tgid))
		return 1;
	e.boot_ns = bpf_ktime_get_boot_ns();
	if (config.cgroup_direct) {
		fill_task_btf(&e, bpf_get_current_task_btf());
		e.start_ns = identify(bpf_get_current_task_btf(), e.pid, e.boot_ns, &e.exec_id);
	} else {
		fill_task_helpers(&e, pid_tgid);
		e.start_ns = identify(NULL, e.pid, e.boot_ns, &e.exec_id);
	}
	e.probe = BINDSNOOP_PROBE_CGROUP;
	e.requested_family = ctx->user_family;
	e.requested_port = bpf_ntohs((__u16)ctx->user_port);
	if (v6) {
		e.requested_len = 28; /* sizeof(struct sockaddr_in6): the hook sees no length */
		__builtin_memcpy(e.requested_addr, (__u32[4]){ ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
							      ctx->user_ip6[3] }, 16);
	} else {
		e.requested_len = 16; /* sizeof(struct sockaddr_in) */
		__builtin_memcpy(e.requested_addr, (__u32[1]){ ctx->user_ip4 }, 4);
	}
	if (config.cgroup_direct) {
		if (!view_socket(bpf_rdonly_cast(kernel_sock(ctx->sk), bpf_core_type_id_kernel(struct sock)), &v, true, false))
			return 1;
		fill_socket(&e, &v, true, false);
		e.socket_inode = sock_inode_number(v.sk, true);
	} else {
		if (!view_socket(kernel_sock(ctx->sk), &v, false, config.field_by_field))
			return 1;
		fill_socket(&e, &v, false, config.field_by_field);
		e.socket_inode = sock_inode_number(v.sk, false);
	}
	e.bound_port = 0;
	__builtin_memset(e.bound_addr, 0, sizeof(e.bound_addr));
	if (e.requested_port == 0 && (e.options & BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT)) {
		/* No post-bind hook runs for this one, bound or not. */
		e.ret = BINDSNOOP_RET_UNKNOWN;
		if (config.outcome == BINDSNOOP_OUTCOME_ALL && port_selected(0, 0))  /* neither outcome is known */
			submit_copy(&e);
		return 1;
	}
	/* A requested port other than 0 is the port it binds, if it binds. */
	if (e.requested_port && !port_selected(e.requested_port, 0))
		return 1;
	e.ret = outcome_selected(BINDSNOOP_RET_NOT_BOUND) && port_selected(e.requested_port, 0)
			? BINDSNOOP_RET_NOT_BOUND
			: BINDSNOOP_RET_NOT_BOUND_UNWANTED;
	cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_update_elem(&requested, &cookie, &e, BPF_ANY))
		count_lost();
	return 1;
}

/* The request, now bound: the address and port from the hook's context (the
 * rest was read at the request; bind() changes neither options nor device). */
static __always_inline int on_cgroup_post_bind(__u32 slot, struct bpf_sock *ctx, bool v6)
{
	struct bind_event *e;
	__u64 cookie;

	if (is_self_check(slot, bpf_get_current_pid_tgid()))
		return 1;
	if (config.cgroup_skips_bind_syscall && in_bind_syscall())
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	e = bpf_map_lookup_elem(&requested, &cookie);
	if (!e)
		return 1;
	if (outcome_selected(0) && port_selected(e->requested_port, ctx->src_port)) {
		/* The entry, bound now, is the record: sent, and kept as reported
		 * (it is deleted from `requested` below). */
		e->ret = 0;
		e->boot_ns = bpf_ktime_get_boot_ns();
		e->bound_port = ctx->src_port;
		if (v6)
			__builtin_memcpy(e->bound_addr, (__u32[4]){ ctx->src_ip6[0], ctx->src_ip6[1], ctx->src_ip6[2],
								   ctx->src_ip6[3] }, 16);
		else
			__builtin_memcpy(e->bound_addr, (__u32[1]){ ctx->src_ip4 }, 4);
		if (bpf_ringbuf_output(&events, e, sizeof(*e), wakeup_flags(e->boot_ns)))
			count_lost();
		else
			track(e);
	}
	bpf_map_delete_elem(&requested, &cookie);
	return 1;
}

SEC("cgroup/bind4")
int cgroup_bind4(struct bpf_sock_addr *ctx)
{
	return on_cgroup_bind(BINDSNOOP_SEEN_cgroup_bind4, ctx, false);
}

SEC("cgroup/bind6")
int cgroup_bind6(struct bpf_sock_addr *ctx)
{
	return on_cgroup_bind(BINDSNOOP_SEEN_cgroup_bind6, ctx, true);
}

SEC("cgroup/post_bind4")
int cgroup_post_bind4(struct bpf_sock *ctx)
{
	return on_cgroup_post_bind(BINDSNOOP_SEEN_cgroup_post_bind4, ctx, false);
}

SEC("cgroup/post_bind6")
int cgroup_post_bind6(struct bpf_sock *ctx)
{
	return on_cgroup_post_bind(BINDSNOOP_SEEN_cgroup_post_bind6, ctx, true);
}

/* ---- the release, in every mode ---- */
/* At the last close of an IPv4/IPv6 socket (inet_release), before the
 * protocol's close: for a socket bindsnoop reported, its record and the
 * time, once. The entry is checked against the socket before it is
 * believed: an inode number could come back for another socket (32 bits,
 * get_next_ino) if a release was ever missed. A port given back before the
 * close (a UDP socket disconnected after an automatic port) is still this
 * socket's release. */
SEC("cgroup/sock_release")
int cgroup_sock_release(struct bpf_sock *ctx)
{
	struct release_event *out;
	struct bind_event *e;
	struct sock *sk;
	__u64 inode;
	__u16 port;

	if (is_self_check(BINDSNOOP_SEEN_cgroup_sock_release, bpf_get_current_pid_tgid()))
		return 1;
	if (config.cgroup_direct) {
		/* The context is the struct sock itself: cast, no probe read. */
		sk = bpf_rdonly_cast(ctx, bpf_core_type_id_kernel(struct sock));
		inode = sock_inode_number(sk, true);
	} else {
		sk = kernel_sock(ctx);
		inode = sock_inode_number(sk, false);
	}
	e = bpf_map_lookup_elem(&reported, &inode);
	if (!e)
		return 1;
	port = config.cgroup_direct ? sk->__sk_common.skc_num : BPF_CORE_READ(sk, __sk_common.skc_num);
	if (port == e->bound_port || port == 0) {
		out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
		if (out) {
			__builtin_memcpy(&out->event, e, sizeof(out->event));
			out->released_ns = bpf_ktime_get_boot_ns();
			bpf_ringbuf_submit(out, wakeup_flags(out->released_ns));
		} else {
			count_lost();
		}
	}
	bpf_map_delete_elem(&reported, &inode);
	return 1;
}
