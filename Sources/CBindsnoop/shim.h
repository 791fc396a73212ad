/* libbpf for Swift: the library headers, the shared event record, and
 * static inline wrappers for what Swift cannot import (macros, va_list). */
#ifndef BINDSNOOP_SHIM_H
#define BINDSNOOP_SHIM_H

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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

#endif
