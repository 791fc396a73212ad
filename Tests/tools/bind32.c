/* A 32-bit program's binds (built by the tests with gcc -m32): two TCP
 * binds to 127.0.0.1:PORT, the first socket kept open so the second fails
 * with EADDRINUSE. Prints "ok PORT" or "err ERRNO" per bind, like bindgen. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if (argc != 2)
		return 2;
	addr.sin_port = htons(atoi(argv[1]));
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			printf("ok %d\n", ntohs(addr.sin_port));
		else
			printf("err %d\n", errno);
	}
	return 0;
}
