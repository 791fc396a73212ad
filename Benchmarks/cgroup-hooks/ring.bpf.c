/* scripts/cgroup-hook-floor: the hand-over through the ring buffer instead (request and claim records; a 256 MiB ring that is not read holds every run). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct rec { __u64 cookie; char bytes[120]; };
struct claim { __u64 cookie; __u32 addr[4]; __u16 port; __u16 pad[3]; };
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 20);
} events SEC(".maps");

SEC("cgroup/bind4")
int ring_bind4(struct bpf_sock_addr *ctx)
{
	struct rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r)
		return 1;
	r->cookie = bpf_get_socket_cookie(ctx);
	r->bytes[0] = 1;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 1;
}

SEC("cgroup/post_bind4")
int ring_post_bind4(struct bpf_sock *ctx)
{
	struct claim *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
	if (!c)
		return 1;
	c->cookie = bpf_get_socket_cookie(ctx);
	c->addr[0] = ctx->src_ip4;
	c->port = ctx->src_port;
	bpf_ringbuf_submit(c, BPF_RB_NO_WAKEUP);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
