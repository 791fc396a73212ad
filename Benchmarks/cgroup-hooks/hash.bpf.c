/* scripts/cgroup-hook-floor: the cgroup mode's hand-over today: a 120-byte record in a hash map by socket cookie, claimed and deleted by the post-bind hook. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct rec { char bytes[120]; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct rec);
} requested SEC(".maps");

SEC("cgroup/bind4")
int hash_bind4(struct bpf_sock_addr *ctx)
{
	struct rec r = {};
	__u64 cookie = bpf_get_socket_cookie(ctx);
	r.bytes[0] = 1;
	bpf_map_update_elem(&requested, &cookie, &r, BPF_ANY);
	return 1;
}

SEC("cgroup/post_bind4")
int hash_post_bind4(struct bpf_sock *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	if (bpf_map_lookup_elem(&requested, &cookie))
		bpf_map_delete_elem(&requested, &cookie);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
