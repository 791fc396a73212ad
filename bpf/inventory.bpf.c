// SPDX-License-Identifier: GPL-2.0
/* The inventory at start: a task_file iterator (5.8+) that writes one
 * struct inventory_socket per descriptor holding an IPv4/IPv6 socket with a
 * local port, for every task on the host, whatever its network namespace.
 * A program of its own object, loaded once after the tracing programs are
 * live and closed after its one pass, so that a kernel refusing it costs
 * the inventory only, never the tracing. */
#include "read_kernel.bpf.h"

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
	if (socket_of_file_copy(file, &sock, &view, false) != FD_INET_SOCKET)
		return 0;
	fill_socket(&record.event, &view, false, false);
	if (!record.event.bound_port || record.event.sock_type == 3 /* SOCK_RAW: its "port" is the protocol */)
		return 0;
	fill_task_btf(&record.event, task);
	record.event.start_ns = task->group_leader->start_boottime;
	record.event.exec_id = (__u32)task->self_exec_id;
	record.event.boot_ns = bpf_ktime_get_boot_ns();
	record.socket_inode = BPF_CORE_READ(file, f_inode, i_ino);
	sk = view.sk;
	record.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	record.fd = ctx->fd;
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
