/* The one definition of the record the kernel hands to user space, and of
 * the settings user space hands to the kernel before load. Shared by
 * bpf/bindsnoop.bpf.c and the Swift decoder (through the CBindsnoop module). */
#ifndef BINDSNOOP_H
#define BINDSNOOP_H

#include <linux/types.h>

#define BINDSNOOP_COMM_LEN 16
#define BINDSNOOP_MAX_PORTS 64

/* How the event was observed (bind.probe). */
enum bindsnoop_probe {
	BINDSNOOP_PROBE_FENTRY = 1,
	BINDSNOOP_PROBE_KPROBE = 2,
	BINDSNOOP_PROBE_TRACEPOINT = 3,
	BINDSNOOP_PROBE_CGROUP = 4,
};

/* bind_event.ret in cgroup mode, where the call's own result is never seen:
 * the bind reached inet_bind but the post-bind hook did not run (it failed;
 * errno unknown), or a port-0 bind under IP_BIND_ADDRESS_NO_PORT, which
 * runs no post-bind hook either way (outcome unknown). Positive: never a
 * real return value. */
enum bindsnoop_unseen_result {
	BINDSNOOP_RET_NOT_BOUND = 1,
	BINDSNOOP_RET_UNKNOWN = 2,
	/* Not bound, but the filters (port, outcome) want it only if it binds:
	 * user space drops it unclaimed. */
	BINDSNOOP_RET_NOT_BOUND_UNWANTED = 3,
};

/* Socket options in effect after the call (bind.options). */
enum bindsnoop_option {
	BINDSNOOP_OPT_FREEBIND = 1 << 0,
	BINDSNOOP_OPT_TRANSPARENT = 1 << 1,
	BINDSNOOP_OPT_BIND_ADDRESS_NO_PORT = 1 << 2,
	BINDSNOOP_OPT_REUSEADDR = 1 << 3,
	BINDSNOOP_OPT_REUSEPORT = 1 << 4,
};

/* The liveness self-check: after attaching, bindsnoop's starting thread
 * binds UDP sockets (IPv4 and IPv6, port 0) until every attached program
 * has marked its slot in the self_checks map; those binds are never
 * reported. One slot per program, named after it: a program marks
 * BINDSNOOP_SEEN_<its own name>. This list is the C side's; user space's
 * table of programs (Kernel/KernelProgram.swift) takes each program's slot
 * from it (bindsnoop_program_slot in shim.h), and KernelContractTests pins
 * both to the object. */
#define BINDSNOOP_SELF_CHECKED_PROGRAMS(X)                                                   \
	X(fexit_inet_bind) X(fexit_inet6_bind)                                                \
	X(kprobe_inet_bind) X(kprobe_inet6_bind) X(kretprobe_inet_bind) X(kretprobe_inet6_bind) \
	X(tracepoint_sys_exit_bind_cast) X(tracepoint_sys_exit_bind_regs)                     \
	X(tracepoint_sys_enter_bind) X(tracepoint_sys_exit_bind_pair)                         \
	X(cgroup_bind4) X(cgroup_bind6) X(cgroup_post_bind4) X(cgroup_post_bind6)                 \
	X(cgroup_sock_release)

#define BINDSNOOP_SLOT_ENUMERATOR(program) BINDSNOOP_SEEN_##program,
enum bindsnoop_self_check_slot {
	BINDSNOOP_SELF_CHECKED_PROGRAMS(BINDSNOOP_SLOT_ENUMERATOR)
	BINDSNOOP_SEEN_SLOTS,
};
#undef BINDSNOOP_SLOT_ENUMERATOR

enum bindsnoop_outcome_filter {
	BINDSNOOP_OUTCOME_ALL = 0,
	BINDSNOOP_OUTCOME_SUCCESS = 1,
	BINDSNOOP_OUTCOME_FAILURE = 2,
};

struct bind_event {
	__u64 boot_ns;          /* bpf_ktime_get_boot_ns() at return */
	__u64 cgroup_id;        /* cgroup v2 id of the binding task */
	__u64 start_ns;         /* the process's start (group leader's start_boottime) */
	__u64 socket_inode;     /* the socket's inode (its id): ss's ino, /proc/PID/fd's socket:[N]; 0 if unread */
	__u32 pid;              /* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 netns;            /* network namespace inode of the socket */
	__u32 exec_id;          /* the process's exec count (self_exec_id): which identity is its */
	__s32 ret;              /* 0 or -errno */
	__s32 bound_dev_if;     /* SO_BINDTODEVICE index, 0 if none */
	__u16 family;           /* socket family: AF_INET or AF_INET6 */
	__u16 protocol;         /* sk_protocol (IPPROTO_*) */
	__u16 sock_type;        /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 bound_port;       /* host order, after the call */
	__u16 requested_family; /* family field of the caller's sockaddr */
	__u16 requested_port;   /* host order */
	__u16 requested_len;    /* bytes of the caller's sockaddr captured */
	__u8 options;           /* enum bindsnoop_option bits */
	__u8 probe;             /* enum bindsnoop_probe */
	__u8 requested_addr[16];
	__u8 bound_addr[16];
	char comm[BINDSNOOP_COMM_LEN];        /* thread */
	char process_comm[BINDSNOOP_COMM_LEN]; /* thread group leader */
};

/* The identity of a process, sent on the ring buffer before the first bind
 * record of each process and exec (a record of its own size: user space
 * tells the two kinds apart by length). Read in the kernel at bind time, so
 * that a process that binds and exits at once still has it. */
#define BINDSNOOP_PATH_DEPTH 32      /* path components kept, leaf first */
#define BINDSNOOP_PATH_BYTES 2048    /* components stop once this much is used */
#define BINDSNOOP_NAME_ROOM 256      /* NAME_MAX + 1: one component */
#define BINDSNOOP_ARGS_BYTES 4096    /* the argument area: at most this less one byte */

enum bindsnoop_identity_flags {
	BINDSNOOP_ID_EXE_CUT = 1 << 0,      /* the path has more components than kept */
	BINDSNOOP_ID_EXE_DELETED = 1 << 1,  /* the executable's file has no link left */
	BINDSNOOP_ID_EXE_UNREAD = 1 << 2,   /* no executable (a kernel thread) or not readable */
	BINDSNOOP_ID_ARGS_CUT = 1 << 3,     /* the argument area is longer than kept */
	BINDSNOOP_ID_ARGS_UNREAD = 1 << 4,  /* the process's memory could not be read now */
};

struct process_identity {
	__u64 start_ns;          /* start_boottime of the process (group leader) */
	__u64 parent_start_ns;   /* the same of the parent process (real_parent's leader) */
	__u64 root_ino;          /* the process's root directory (fs->root): inode number */
	__u32 root_dev;          /* and its superblock's s_dev (the kernel's MKDEV encoding) */
	__u32 exec_id;           /* self_exec_id when it was read (as in bind_event) */
	__u32 reserved0;
	__u32 pid;               /* tgid */
	__u32 parent_pid;
	__u32 flags;             /* enum bindsnoop_identity_flags */
	__u16 path_depth;        /* components in path_names */
	__u16 path_bytes;        /* bytes of path_names used */
	__u16 args_len;          /* bytes in args */
	__u16 reserved;
	__u16 name_len[BINDSNOOP_PATH_DEPTH]; /* each component's length, leaf first */
	char parent_comm[BINDSNOOP_COMM_LEN];
	char path_names[BINDSNOOP_PATH_BYTES + BINDSNOOP_NAME_ROOM]; /* components, NUL after each */
	char args[BINDSNOOP_ARGS_BYTES]; /* mm->arg_start.., NUL after each argument */
};

/* The inventory at start (bpf/inventory.bpf.c, a task_file iterator): one
 * record per descriptor that holds a bound IPv4/IPv6 socket, in every
 * network namespace. The bind_event part as a bind would fill it (ret 0,
 * nothing requested, probe 0, boot_ns when it was read); several records
 * share a socket_inode when several descriptors or processes hold it. */
struct inventory_socket {
	struct bind_event event;
	__u32 fd;
	__u8 state;             /* skc_state: TCP_LISTEN (10), TCP_CLOSE (7), ... */
	__u8 reserved[3];
};

/* A reported socket given back: the release hook (cgroup/sock_release,
 * at the last close of a socket that a bind record or the inventory
 * reported) sends the record it was reported with, as the kernel kept it
 * in the `reported` map (event.boot_ns: when it was reported; event.probe:
 * 0 if the inventory reported it), and when it was released. A size of its
 * own on the ring buffer. */
struct release_event {
	struct bind_event event;
	__u64 released_ns;      /* bpf_ktime_get_boot_ns() in the release hook */
};

/* Filters set by user space before load; the verifier prunes what is off. */
struct bindsnoop_config {
	__u32 pid;              /* 0: any */
	__u32 uid;              /* (__u32)-1: any */
	__u8 filter_cgroup;
	__u8 outcome;           /* enum bindsnoop_outcome_filter */
	/* Tracepoint mode with the cgroup hooks beside it: they leave the
	 * 64-bit bind(2) system call to the tracepoint. */
	__u8 cgroup_skips_bind_syscall;
	/* The cgroup hooks read the socket and the task through typed pointers
	 * (bpf_rdonly_cast, bpf_get_current_task_btf: 6.2+), not probe reads. */
	__u8 cgroup_direct;
	__u16 port_count;       /* 0: any port */
	__u16 ports[BINDSNOOP_MAX_PORTS];
	/* Wake-ups: a reader that has caught up is woken at once, but at most
	 * once per wakeup_interval_ns; in between, events wait for the reader's
	 * own timer (the same interval) unless wakeup_bytes were written since
	 * the last wake-up. */
	__u64 wakeup_interval_ns;
	__u64 wakeup_bytes;
	/* Tests: read sockets field by field, as where a kernel's layout does
	 * not fit the one-copy reads (no matrix kernel has such a layout). */
	__u8 field_by_field;
};

#endif
