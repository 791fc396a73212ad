/* libbpf for Swift: the library headers, the shared event record, and
 * static inline wrappers for what Swift cannot import (macros, va_list). */
#ifndef BINDSNOOP_SHIM_H
#define BINDSNOOP_SHIM_H

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <malloc.h>
#include <string.h>
#include "../../bpf/bindsnoop.h"

/* The self-check slot a program of bindsnoop.bpf.c marks (the C side's
 * list, BINDSNOOP_SELF_CHECKED_PROGRAMS); -1 for a program with none. */
static inline int bindsnoop_program_slot(const char *program)
{
#define BINDSNOOP_SLOT_MATCH(name) if (strcmp(program, #name) == 0) return BINDSNOOP_SEEN_##name;
	BINDSNOOP_SELF_CHECKED_PROGRAMS(BINDSNOOP_SLOT_MATCH)
#undef BINDSNOOP_SLOT_MATCH
	return -1;
}

/* libbpf's messages (warnings and the verifier's log; not debug), kept
 * whatever the verbosity, so that a refused program is explained in the
 * verifier's own words. The last BINDSNOOP_LOG_SIZE bytes. */
#define BINDSNOOP_LOG_SIZE 65536
struct bindsnoop_log {
	char buffer[BINDSNOOP_LOG_SIZE];
	size_t length;
	int verbosity;
};

/* One per process: a function's static (Swift does not emit a header's
 * file-scope statics). */
static inline struct bindsnoop_log *bindsnoop_log(void)
{
	static struct bindsnoop_log log;
	return &log;
}

static inline void bindsnoop_log_keep(const char *format, va_list args)
{
	struct bindsnoop_log *log = bindsnoop_log();
	size_t room = BINDSNOOP_LOG_SIZE - log->length;
	va_list copy;
	int n;

	va_copy(copy, args);
	n = vsnprintf(log->buffer + log->length, room, format, copy);
	va_end(copy);
	if (n < 0)
		return;
	if ((size_t)n < room) {
		log->length += (size_t)n;
		return;
	}
	/* Too long for what is left: this message alone, its tail if need be. */
	char *whole = malloc((size_t)n + 1);
	if (!whole)
		return;
	va_copy(copy, args);
	vsnprintf(whole, (size_t)n + 1, format, copy);
	va_end(copy);
	size_t keep = (size_t)n < BINDSNOOP_LOG_SIZE ? (size_t)n : BINDSNOOP_LOG_SIZE - 1;
	memcpy(log->buffer, whole + (size_t)n - keep, keep);
	log->length = keep;
	free(whole);
}

static inline int bindsnoop_libbpf_print(enum libbpf_print_level level, const char *format, va_list args)
{
	if (level != LIBBPF_DEBUG)
		bindsnoop_log_keep(format, args);
	int verbosity = bindsnoop_log()->verbosity;

	if (verbosity >= 2 || (verbosity == 1 && level != LIBBPF_DEBUG))
		return vfprintf(stderr, format, args);
	return 0;
}

/* 0: quiet (bindsnoop explains failures itself), 1: warnings and info,
 * the verifier log included, 2: everything. */
static inline void bindsnoop_set_libbpf_verbosity(int verbose)
{
	bindsnoop_log()->verbosity = verbose;
	libbpf_set_print(bindsnoop_libbpf_print);
}

/* What libbpf said since the last call, as a C string; then forgets it. */
static inline const char *bindsnoop_libbpf_log_take(void)
{
	struct bindsnoop_log *log = bindsnoop_log();

	log->buffer[log->length < BINDSNOOP_LOG_SIZE ? log->length : BINDSNOOP_LOG_SIZE - 1] = 0;
	log->length = 0;
	return log->buffer;
}

static inline struct bpf_object *bindsnoop_open_object(const void *bytes, size_t size, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	return bpf_object__open_mem(bytes, size, &opts);
}

/* glibc declares these only under _GNU_SOURCE. */
#include <sys/types.h>
extern int setresuid(uid_t ruid, uid_t euid, uid_t suid);
extern int setresgid(gid_t rgid, gid_t egid, gid_t sgid);

static inline int bindsnoop_setresuid(uid_t uid) { return setresuid(uid, uid, uid); }
static inline int bindsnoop_setresgid(gid_t gid) { return setresgid(gid, gid, gid); }

/* A file below a process's root (`rootfd`, its /proc/PID/root), resolved
 * as that process would resolve it: `..` and absolute symlinks stay inside
 * the root, magic links are refused (Linux 5.6+: openat2). Non-blocking, so
 * that a FIFO planted there cannot hold the reader. -1 and errno if not. */
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

static inline int bindsnoop_open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* A directory to resolve below (openat2), not to read: O_PATH, which glibc
 * declares only under _GNU_SOURCE. */
#ifndef O_PATH
#define O_PATH 010000000
#endif

static inline int bindsnoop_open_path(const char *path)
{
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Whether the running kernel's BTF has a function (a kfunc) of this name. */
#include <bpf/btf.h>

static inline int bindsnoop_kernel_has_function(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int found;

	if (!btf)
		return 0;
	found = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
	btf__free(btf);
	return found;
}

/* The offset of a global variable in a data section (".rodata") of an
 * opened object, from its BTF; -1 if the section or the variable is not
 * there, or the variable is not `size` bytes. */
static inline long bindsnoop_datasec_variable_offset(struct bpf_object *obj, const char *section, const char *name,
						     size_t size)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *datasec;
	const struct btf_var_secinfo *var;
	int id, i;

	if (!btf)
		return -1;
	id = btf__find_by_name_kind(btf, section, BTF_KIND_DATASEC);
	if (id <= 0)
		return -1;
	datasec = btf__type_by_id(btf, id);
	var = btf_var_secinfos(datasec);
	for (i = 0; i < btf_vlen(datasec); i++, var++) {
		const struct btf_type *t = btf__type_by_id(btf, var->type);

		if (t && strcmp(btf__name_by_offset(btf, t->name_off), name) == 0)
			return var->size == size ? (long)var->offset : -1;
	}
	return -1;
}

/* Returns freed heap memory to the kernel (glibc keeps it otherwise). */
static inline void bindsnoop_release_free_memory(void)
{
	malloc_trim(0);
}

/* prctl(2) is variadic, which Swift does not import. */
static inline int bindsnoop_prctl(int option, unsigned long arg)
{
	return prctl(option, arg, 0UL, 0UL, 0UL);
}

/* A counter the kernel updates in shared memory: read it once, now. */
static inline __u64 bindsnoop_read_u64(const void *p)
{
	return __atomic_load_n((const __u64 *)p, __ATOMIC_RELAXED);
}

static inline __u32 bindsnoop_read_u32(const void *p)
{
	return __atomic_load_n((const __u32 *)p, __ATOMIC_RELAXED);
}

static inline void bindsnoop_write_u32(void *p, __u32 value)
{
	__atomic_store_n((__u32 *)p, value, __ATOMIC_RELAXED);
}

/* A BPF ring buffer's unread bytes, from its consumer and producer pages
 * mapped read-only (the positions are 64-bit counters the kernel and libbpf
 * advance). */
static inline __u64 bindsnoop_ring_unread(const void *consumer_page, const void *producer_page)
{
	__u64 consumer = __atomic_load_n((const __u64 *)consumer_page, __ATOMIC_ACQUIRE);
	__u64 producer = __atomic_load_n((const __u64 *)producer_page, __ATOMIC_ACQUIRE);
	return producer > consumer ? producer - consumer : 0;
}

/* A program's run count and run time (kernel.bpf_stats_enabled=1); -1 if
 * the kernel will not say (before 6.5, after --user dropped privileges). */
static inline int bindsnoop_program_stats(int fd, __u64 *runs, __u64 *nanoseconds)
{
	struct bpf_prog_info info = {};
	__u32 length = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &length))
		return -1;
	*runs = info.run_cnt;
	*nanoseconds = info.run_time_ns;
	return 0;
}

/* The cgroup v2 directory whose id is id (its kernfs node id: what the
 * kernel program records), opened through a descriptor of the hierarchy's
 * mount: open_by_handle_at(2) with a kernfs file handle, as the kernel's
 * own tools do. Needs CAP_DAC_READ_SEARCH; -1 and errno on failure
 * (ESTALE: no such cgroup now). syscall(2): glibc declares
 * open_by_handle_at and struct file_handle only under _GNU_SOURCE. */
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>

static inline int bindsnoop_open_cgroup(int mount_fd, __u64 id)
{
	struct {
		unsigned int handle_bytes;
		int handle_type;
		__u64 id;
	} handle = { sizeof(__u64), 0xfe /* FILEID_KERNFS */, id };

	return (int)syscall(SYS_open_by_handle_at, mount_fd, &handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Runs a program once in the calling thread (BPF_PROG_TEST_RUN, no input). */
static inline int bindsnoop_test_run(int program_fd)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	return bpf_prog_test_run_opts(program_fd, &opts);
}

#endif
