/* scripts/release-cost: a release hook that does nothing (the floor of bindsnoop's). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup/sock_release")
int empty_sock_release(struct bpf_sock *ctx) { return 1; }

char LICENSE[] SEC("license") = "GPL";
