/* Binds a TCP and a UDP socket to 0.0.0.0:PORT and prints "ok PORT" or
 * "err PORT" for each. With "hold" after the port: the TCP socket listens,
 * and both are held until a signal ends the process. Built static (gcc
 * -static) to run in a busybox image. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int port = atoi(argv[1]);
	int hold = argc > 2 && strcmp(argv[2], "hold") == 0;
	int types[2] = { SOCK_STREAM, SOCK_DGRAM };
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_INET, types[i], 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		int bound = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (bound && hold && types[i] == SOCK_STREAM)
			bound = listen(fd, 8) == 0;
		printf("%s %d\n", bound ? "ok" : "err", port);
	}
	fflush(stdout);
	if (hold)
		pause();
	return 0;
}
