/* SPDX-License-Identifier: GPL-2.0 */
/* The path every attach mode shares: the filters, the loss counter, the
 * self-check, the wake-up policy and the record itself. A part of
 * bindsnoop.bpf.c, included there after its maps and its `config`, which it
 * uses by name (the reads of the kernel, which know neither, are in
 * read_kernel.bpf.h). Every program reads bpf_get_current_pid_tgid() once
 * and passes it down. */
#ifndef BINDSNOOP_SHARED_PATH_BPF_H
#define BINDSNOOP_SHARED_PATH_BPF_H

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
static __always_inline bool is_self_check(__u32 slot, __u64 pid_tgid)
{
	__u32 *seen;

	if (!self_pid_tgid || pid_tgid != self_pid_tgid)
		return false;
	seen = bpf_map_lookup_elem(&self_checks, &slot);
	if (seen)
		*seen = 1;
	return true;
}

static __always_inline bool task_selected(__u64 pid_tgid)
{
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

/* The identity of the current process, read now and put on the ring
 * buffer: remembered as sent only once it is there (a record that found no
 * room is tried again at the next bind; the bind record itself tells user
 * space the process's start, so that a missing identity is never taken
 * from another process). A global function: the verifier checks it once,
 * on its own, and not again for each state of the caller (its bounded
 * walk of a path, inlined, multiplied the bind programs' states past the
 * verifier's limit). Its arguments are scalars, as kernels before 5.12
 * require. */
__noinline int send_identity(__u32 tgid, __u64 start_ns, __u64 exec_id, __u64 now)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct identity_key_value sent = { .start_ns = start_ns, .exec_id = exec_id };
	struct process_identity *id = bpf_ringbuf_reserve(&events, sizeof(*id), 0);

	if (!id)
		return 0;
	read_identity(id, task, tgid, start_ns);
	id->exec_id = (__u32)exec_id;
	bpf_ringbuf_submit(id, wakeup_flags(now));
	bpf_map_update_elem(&identities_sent, &tgid, &sent, BPF_ANY);
	return 1;
}

/* Before the first bind record of a process, and after each exec (which
 * counts up self_exec_id): its identity. What every bind pays is this
 * check: two loads (or reads) and one lookup. task: current_task_btf(), or
 * NULL where the kernel has no typed task. The record gets the process's
 * start and exec count: user space takes the identity of exactly that
 * process and exec (a failed bind that cgroup mode reports a second later
 * keeps the program it was made by). */
static __always_inline __u64 identify(struct task_struct *task, __u32 tgid, __u64 now, __u32 *exec_count)
{
	struct identity_key_value *known;
	__u64 start_ns, exec_id;

	if (task) {
		start_ns = task->group_leader->start_boottime;
		exec_id = task->self_exec_id;
	} else {
		task = (struct task_struct *)bpf_get_current_task();
		start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
		exec_id = BPF_CORE_READ(task, self_exec_id);
	}
	known = bpf_map_lookup_elem(&identities_sent, &tgid);
	if (!known || known->start_ns != start_ns || known->exec_id != exec_id)
		send_identity(tgid, start_ns, exec_id, now);
	*exec_count = (__u32)exec_id;
	return start_ns;
}

/* One record for a bind() on the IPv4/IPv6 socket in v; task is
 * current_task_btf(); direct: v->sk is a typed pointer (bpf_rdonly_cast). */
static __always_inline void emit(__u64 pid_tgid, struct sock_view *v, const struct pending_bind *p, __u64 inode,
				 int ret, __u8 probe, struct task_struct *task, bool direct)
{
	__u16 requested_family = 0, requested_port = 0;
	struct bind_event *e;
	__u64 now, start_ns;
	__u32 exec_id;

	if (!outcome_selected(ret))
		return;
	if (p->len >= 4) {
		requested_family = *(__u16 *)p->addr;
		requested_port = bpf_ntohs(*(__u16 *)(p->addr + 2));
	}
	/* The port filter needs the bound port before a record is reserved. */
	if (config.port_count && !port_selected(requested_port, bound_port(v, direct, config.field_by_field)))
		return;

	now = bpf_ktime_get_boot_ns();
	start_ns = identify(task, pid_tgid >> 32, now, &exec_id);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	e->boot_ns = now;
	e->ret = ret;
	e->options = 0;
	fill_socket(e, v, direct, config.field_by_field);
	fill_task(e, task, pid_tgid);
	e->start_ns = start_ns;
	e->exec_id = exec_id;
	e->requested_family = requested_family;
	e->requested_port = requested_port;
	e->requested_len = p->len;
	e->probe = probe;
	e->socket_inode = inode;

	__builtin_memset(e->requested_addr, 0, sizeof(e->requested_addr));
	if (requested_family == AF_INET6 && p->len >= 24)
		__builtin_memcpy(e->requested_addr, p->addr + 8, 16);
	else if (p->len >= 8)
		__builtin_memcpy(e->requested_addr, p->addr + 4, 4);

	if (ret == 0) {
		/* Kept for the release hook: from a copy in a per-CPU map value
		 * (the kernel takes no ring-buffer memory as a map value before
		 * 5.19-ish, and the stack has no room for another record beside
		 * send_identity's frame: 512 bytes in all). */
		__u32 zero = 0;
		struct bind_event *kept = bpf_map_lookup_elem(&reported_scratch, &zero);

		if (kept)
			__builtin_memcpy(kept, e, sizeof(*kept));
		bpf_ringbuf_submit(e, wakeup_flags(now));
		if (kept)
			track(kept);
		else
			count_untracked();
		return;
	}
	bpf_ringbuf_submit(e, wakeup_flags(e->boot_ns));
}

/* The socket's sk at return, read now: bind() may have been the first to
 * see it (or a failed one, the last). */
static __always_inline void emit_for(__u64 pid_tgid, struct socket *sock, const struct pending_bind *p, int ret,
				     __u8 probe)
{
	struct sock_view v;

	if (view_socket(BPF_CORE_READ(sock, sk), &v, false, config.field_by_field))
		emit(pid_tgid, &v, p, socket_inode_number(sock), ret, probe, current_task_btf(), false);
}

static __always_inline void remember(__u64 pid_tgid, struct socket *sock, const void *addr, int addr_len, bool user)
{
	__u32 tid = (__u32)pid_tgid;
	struct pending_bind p = { .sock = sock };

	capture_request(&p, addr, addr_len, user);
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count_lost();
}

static __always_inline void report(__u64 pid_tgid, int ret, __u8 probe)
{
	__u32 tid = (__u32)pid_tgid;
	struct pending_bind *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p)
		return;
	emit_for(pid_tgid, p->sock, p, ret, probe);
	bpf_map_delete_elem(&pending, &tid);
}

#endif
