#include "iouring_bind.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IORING_OP_BIND_NUMBER 56 /* newer than the installed UAPI headers */

int bindgen_io_uring_bind(int fd, const void *addr, unsigned int addrlen)
{
	struct io_uring_params params;
	memset(&params, 0, sizeof(params));
	int ring = (int)syscall(__NR_io_uring_setup, 1, &params);
	if (ring < 0)
		return -errno;

	size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
	size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
	size_t sqes_size = params.sq_entries * sizeof(struct io_uring_sqe);
	char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
					 IORING_OFF_SQES);
	int result;
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		result = -ENOMEM;
		goto out;
	}

	unsigned *tail = (unsigned *)(sq + params.sq_off.tail);
	unsigned mask = *(unsigned *)(sq + params.sq_off.ring_mask);
	unsigned *array = (unsigned *)(sq + params.sq_off.array);
	struct io_uring_sqe *sqe = &sqes[0];
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_BIND_NUMBER;
	sqe->fd = fd;
	sqe->addr = (unsigned long)addr;
	sqe->off = addrlen; /* addr2 */
	array[*tail & mask] = 0;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);

	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
		result = -errno;
		goto out;
	}
	unsigned head = __atomic_load_n((unsigned *)(cq + params.cq_off.head), __ATOMIC_ACQUIRE);
	unsigned cq_mask = *(unsigned *)(cq + params.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
	result = cqes[head & cq_mask].res;
out:
	if (sq != MAP_FAILED)
		munmap(sq, sq_size);
	if (cq != MAP_FAILED)
		munmap(cq, cq_size);
	if (sqes != MAP_FAILED)
		munmap(sqes, sqes_size);
	close(ring);
	return result;
}
