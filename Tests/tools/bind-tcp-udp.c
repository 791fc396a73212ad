/* Binds a TCP and a UDP socket to 0.0.0.0:PORT and prints "ok PORT" or
 * "err PORT" for each. Built static (gcc -static) to run in a busybox image. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int port = atoi(argv[1]);
	int types[2] = { SOCK_STREAM, SOCK_DGRAM };
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_INET, types[i], 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		printf("%s %d\n", bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? "ok" : "err", port);
	}
	return 0;
}
