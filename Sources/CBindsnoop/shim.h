/* libbpf for Swift: the library headers, the shared event record, and
 * static inline wrappers for what Swift cannot import (macros, va_list). */
#ifndef BINDSNOOP_SHIM_H
#define BINDSNOOP_SHIM_H

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <net/if.h>
#include "../../bpf/bindsnoop.h"

static inline int bindsnoop_libbpf_print_warnings(enum libbpf_print_level level, const char *format, va_list args)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, format, args);
}

static inline int bindsnoop_libbpf_print_all(enum libbpf_print_level level, const char *format, va_list args)
{
	return vfprintf(stderr, format, args);
}

static inline int bindsnoop_libbpf_print_none(enum libbpf_print_level level, const char *format, va_list args)
{
	return 0;
}

/* 0: quiet (bindsnoop explains failures itself), 1: warnings and info,
 * 2: everything, the verifier log included. */
static inline void bindsnoop_set_libbpf_verbosity(int verbose)
{
	libbpf_set_print(verbose >= 2 ? bindsnoop_libbpf_print_all
			 : verbose == 1 ? bindsnoop_libbpf_print_warnings
			 : bindsnoop_libbpf_print_none);
}

static inline struct bpf_object *bindsnoop_open_object(const void *bytes, size_t size, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	return bpf_object__open_mem(bytes, size, &opts);
}



/* struct epoll_event is packed on x86_64, which Swift does not import
 * faithfully: wrap the two calls used. */
static inline int bindsnoop_epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static inline int bindsnoop_epoll_wait(int epfd, uint64_t *tags, int max, int timeout_ms)
{
	struct epoll_event events[8];
	int n;

	if (max > 8)
		max = 8;
	n = epoll_wait(epfd, events, max, timeout_ms);
	for (int i = 0; i < n; i++)
		tags[i] = events[i].data.u64;
	return n;
}

#endif
