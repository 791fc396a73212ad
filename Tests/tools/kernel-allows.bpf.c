/* The smallest program of each attach mode bindsnoop has, for
 * kernel-allows.c: what the kernel accepts, asked without bindsnoop. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("fexit/inet_bind")
int fentry_minimal(void *ctx)
{
	return 0;
}

SEC("kprobe/inet_bind")
int kprobe_minimal(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tracepoint_minimal(void *ctx)
{
	return 0;
}

SEC("cgroup/bind4")
int cgroup_minimal(struct bpf_sock_addr *ctx)
{
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
