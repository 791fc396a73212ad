/* scripts/cgroup-hook-floor: programs that do nothing (the floor of the cgroup mode). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup/bind4")
int empty_bind4(struct bpf_sock_addr *ctx) { return 1; }

SEC("cgroup/post_bind4")
int empty_post_bind4(struct bpf_sock *ctx) { return 1; }

char LICENSE[] SEC("license") = "GPL";
