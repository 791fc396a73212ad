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

#define SOCKADDR_MAX 28 /* sizeof(struct sockaddr_in6) */
#define SOCKADDR_ROOM 32 /* the next power of two, so that len & 31 always fits */

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

/* cgroup mode: requests the post-bind hook has not claimed, by socket
 * cookie, as the record to send (ret BINDSNOOP_RET_NOT_BOUND). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct bind_event);
} requested SEC(".maps");

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

/* ---- the shared path ---- */
/* An atomic add whose result is not read: relaxed, clang emits the plain
 * locked add that every kernel takes, where __sync_fetch_and_add (with
 * -mcpu=v3) emits a fetching atomic, which kernels before 5.12 refuse
 * ("BPF_STX uses reserved fields"). */
static __always_inline void counter_add(__u64 *counter, __u64 n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		counter_add(n, 1);
}

/* One of bindsnoop's self-check binds: the program marks its slot and
 * reports nothing. Before every filter: the check is about the hook. */
static __always_inline bool is_self_check(__u32 slot)
{
	__u32 *seen;

	if (!self_pid_tgid || bpf_get_current_pid_tgid() != self_pid_tgid)
		return false;
	seen = bpf_map_lookup_elem(&self_checks, &slot);
	if (seen)
		*seen = 1;
	return true;
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
	counter_add(&bytes_since_wakeup, sizeof(struct bind_event));
	if (bytes_since_wakeup < config.wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	bytes_since_wakeup = 0;
	return BPF_RB_FORCE_WAKEUP;
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
	if (is_self_check(BINDSNOOP_SEEN_FEXIT4))
		return 0;
	return on_fexit(sock, uaddr, addr_len, ret);
}

SEC("fexit/inet6_bind")
int BPF_PROG(fexit_inet6_bind, struct socket *sock, void *uaddr, int addr_len, int ret)
{
	if (is_self_check(BINDSNOOP_SEEN_FEXIT6))
		return 0;
	return on_fexit(sock, uaddr, addr_len, ret);
}

/* The smallest fexit program: loaded alone when fentry mode fails, to tell
 * a kernel that refuses BPF trampolines from one that refuses the above. */
SEC("fexit/inet_bind")
int BPF_PROG(fentry_minimal)
{
	return 0;
}

/* ---- kprobe mode ---- */
SEC("kprobe/inet_bind")
int BPF_KPROBE(kprobe_inet_bind, struct socket *sock, void *uaddr, int addr_len)
{
	if (is_self_check(BINDSNOOP_SEEN_KPROBE4))
		return 0;
	if (task_selected())
		remember(sock, uaddr, addr_len, false);
	return 0;
}

SEC("kprobe/inet6_bind")
int BPF_KPROBE(kprobe_inet6_bind, struct socket *sock, void *uaddr, int addr_len)
{
	if (is_self_check(BINDSNOOP_SEEN_KPROBE6))
		return 0;
	if (task_selected())
		remember(sock, uaddr, addr_len, false);
	return 0;
}

SEC("kretprobe/inet_bind")
int BPF_KRETPROBE(kretprobe_inet_bind, int ret)
{
	if (is_self_check(BINDSNOOP_SEEN_KRETPROBE4))
		return 0;
	report(ret, BINDSNOOP_PROBE_KPROBE);
	return 0;
}

SEC("kretprobe/inet6_bind")
int BPF_KRETPROBE(kretprobe_inet6_bind, int ret)
{
	if (is_self_check(BINDSNOOP_SEEN_KRETPROBE6))
		return 0;
	report(ret, BINDSNOOP_PROBE_KPROBE);
	return 0;
}

/* ---- tracepoint mode ---- */
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

	if (is_self_check(BINDSNOOP_SEEN_TRACEPOINT_EXIT) || !task_selected())
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

	if (is_self_check(BINDSNOOP_SEEN_TRACEPOINT_ENTER) || !task_selected())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	fdt = BPF_CORE_READ(task, files, fdt);
	if (socket_in_table(BPF_CORE_READ(fdt, fd), BPF_CORE_READ(fdt, max_fds), (int)ctx->args[0], &sock, &v,
			    false) == FD_INET_SOCKET)
		remember(sock, (const void *)ctx->args[1], (int)ctx->args[2], true);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_sys_exit_bind_pair(struct syscall_exit_ctx *ctx)
{
	if (is_self_check(BINDSNOOP_SEEN_TRACEPOINT_EXIT))
		return 0;
	report((int)ctx->ret, BINDSNOOP_PROBE_TRACEPOINT);
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
static __always_inline int on_cgroup_bind(struct bpf_sock_addr *ctx, bool v6)
{
	struct bind_event e = {};
	struct sock_view v;
	__u64 cookie;

	if (is_self_check(v6 ? BINDSNOOP_SEEN_CGROUP_BIND6 : BINDSNOOP_SEEN_CGROUP_BIND4))
		return 1;
	if (config.cgroup_skips_bind_syscall && in_bind_syscall())
		return 1;
	if (!task_selected())
		return 1;
	if (config.cgroup_direct)
		fill_task_btf(&e, bpf_get_current_task_btf());
	else
		fill_task_helpers(&e);
	e.boot_ns = bpf_ktime_get_boot_ns();
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
		if (!view_socket(bpf_rdonly_cast(kernel_sock(ctx->sk), bpf_core_type_id_kernel(struct sock)), &v, true))
			return 1;
		fill_socket(&e, &v, true);
	} else {
		if (!view_socket(kernel_sock(ctx->sk), &v, false))
			return 1;
		fill_socket(&e, &v, false);
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
static __always_inline int on_cgroup_post_bind(struct bpf_sock *ctx, bool v6)
{
	struct bind_event *e, *out;
	__u64 cookie;

	if (is_self_check(v6 ? BINDSNOOP_SEEN_CGROUP_POST_BIND6 : BINDSNOOP_SEEN_CGROUP_POST_BIND4))
		return 1;
	if (config.cgroup_skips_bind_syscall && in_bind_syscall())
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	e = bpf_map_lookup_elem(&requested, &cookie);
	if (!e)
		return 1;
	if (outcome_selected(0) && port_selected(e->requested_port, ctx->src_port)) {
		out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
		if (out) {
			__builtin_memcpy(out, e, sizeof(*out));
			out->ret = 0;
			out->boot_ns = bpf_ktime_get_boot_ns();
			out->bound_port = ctx->src_port;
			if (v6)
				__builtin_memcpy(out->bound_addr, (__u32[4]){ ctx->src_ip6[0], ctx->src_ip6[1], ctx->src_ip6[2],
									     ctx->src_ip6[3] }, 16);
			else
				__builtin_memcpy(out->bound_addr, (__u32[1]){ ctx->src_ip4 }, 4);
			bpf_ringbuf_submit(out, wakeup_flags(out->boot_ns));
		} else {
			count_lost();
		}
	}
	bpf_map_delete_elem(&requested, &cookie);
	return 1;
}

SEC("cgroup/bind4")
int cgroup_bind4(struct bpf_sock_addr *ctx)
{
	return on_cgroup_bind(ctx, false);
}

SEC("cgroup/bind6")
int cgroup_bind6(struct bpf_sock_addr *ctx)
{
	return on_cgroup_bind(ctx, true);
}

SEC("cgroup/post_bind4")
int cgroup_post_bind4(struct bpf_sock *ctx)
{
	return on_cgroup_post_bind(ctx, false);
}

SEC("cgroup/post_bind6")
int cgroup_post_bind6(struct bpf_sock *ctx)
{
	return on_cgroup_post_bind(ctx, true);
}
