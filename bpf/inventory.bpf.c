// SPDX-License-Identifier: GPL-2.0
/* The inventory at start: a task_file iterator (5.8+) that writes one
 * struct inventory_socket per descriptor holding an IPv4/IPv6 socket with a
 * local port, for every task on the host, whatever its network namespace.
 * A program of its own object, loaded once after the tracing programs are
 * live and closed after its one pass, so that a kernel refusing it costs
 * the inventory only, never the tracing. */
#include "read_kernel.bpf.h"
#include "reported.bpf.h"

/* The filters of the tracing programs (--pid, --uid, --port, --outcome),
 * set by user space before load: a socket the inventory lists is kept in
 * `reported` for its release only if a holder passes them, with the owner
 * user space names (the holder that started first, the lowest pid on a tie). */
const volatile struct bindsnoop_config config = {
	.uid = (__u32)-1,
};

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

/* What user space lists (Inventory.isBound): a server's socket, not a client's. */
static __always_inline bool is_bound(__u16 type, __u8 state)
{
	return state == 7 /* TCP_CLOSE */ || (type == 1 /* SOCK_STREAM */ && state == 10 /* TCP_LISTEN */);
}

static __always_inline bool passes_filters(const struct bind_event *e)
{
	if (config.pid && e->pid != config.pid)
		return false;
	if (config.uid != (__u32)-1 && e->uid != config.uid)
		return false;
	if (config.outcome == BINDSNOOP_OUTCOME_FAILURE)
		return false;
	if (!config.port_count)
		return true;
	for (int i = 0; i < BINDSNOOP_MAX_PORTS && i < config.port_count; i++) {
		if (config.ports[i] == e->bound_port)
			return true;
	}
	return false;
}

/* Keeps the socket for its release, with this holder as its owner unless an
 * earlier one is kept (or a bind record, which came through the hooks). */
static __always_inline void keep(const struct bind_event *e)
{
	__u64 inode = e->socket_inode;
	struct bind_event *kept = bpf_map_lookup_elem(&reported, &inode);

	if (kept && (kept->probe || kept->start_ns < e->start_ns || (kept->start_ns == e->start_ns && kept->pid <= e->pid)))
		return;
	track(e);
}

SEC("iter/task_file")
int inventory_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct inventory_socket record = {};
	struct sock_view view;
	struct socket *sock;
	struct sock *sk;

	if (!task || !file)
		return 0;
	if (socket_of_file_copy(file, &sock, &record.event.socket_inode, &view, false) != FD_INET_SOCKET)
		return 0;
	fill_socket(&record.event, &view, false, false);
	if (!record.event.bound_port || record.event.sock_type == 3 /* SOCK_RAW: its "port" is the protocol */)
		return 0;
	fill_task_btf(&record.event, task);
	record.event.start_ns = task->group_leader->start_boottime;
	record.event.exec_id = (__u32)task->self_exec_id;
	record.event.boot_ns = bpf_ktime_get_boot_ns();
	sk = view.sk;
	record.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	record.fd = ctx->fd;
	/* The iterator holds the file while this runs: a close meanwhile
	 * releases the socket after it is kept, so its release is reported. */
	if (is_bound(record.event.sock_type, record.state) && passes_filters(&record.event))
		keep(&record.event);
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
