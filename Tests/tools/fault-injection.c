/* LD_PRELOAD'ed into bindsnoop by FaultInjectionTests: the call named by
 * FAULT_INJECT fails (signalfd: EMFILE, fsync: EIO, libbpf's
 * ring_buffer__new: ENOMEM); every other call goes to the real one. For the
 * failures the host will not produce on demand. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int failing(const char *call)
{
	const char *fault = getenv("FAULT_INJECT");

	return fault && strcmp(fault, call) == 0;
}

int signalfd(int fd, const sigset_t *mask, int flags)
{
	int (*real)(int, const sigset_t *, int) = (int (*)(int, const sigset_t *, int))dlsym(RTLD_NEXT, "signalfd");

	if (failing("signalfd")) {
		errno = EMFILE;
		return -1;
	}
	return real(fd, mask, flags);
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	if (failing("fsync")) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

/* libbpf's: struct ring_buffer *ring_buffer__new(int, ring_buffer_sample_fn, void *, const struct ring_buffer_opts *) */
void *ring_buffer__new(int map_fd, void *sample_cb, void *ctx, const void *opts)
{
	void *(*real)(int, void *, void *, const void *) =
		(void *(*)(int, void *, void *, const void *))dlsym(RTLD_NEXT, "ring_buffer__new");

	if (failing("ring_buffer__new")) {
		errno = ENOMEM;
		return NULL;
	}
	return real(map_fd, sample_cb, ctx, opts);
}
