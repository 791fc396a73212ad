#ifndef IOURING_BIND_H
#define IOURING_BIND_H

/* bind() submitted through io_uring (IORING_OP_BIND, Linux 6.11+), with raw
 * system calls: returns 0 or a negative errno. */
int bindgen_io_uring_bind(int fd, const void *addr, unsigned int addrlen);

#endif
