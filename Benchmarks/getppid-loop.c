/* Mean cost of syscall(SYS_getppid) over 5 M calls, in ns: the tax an attached tracer puts on unrelated system calls (scripts/syscall-tax). */
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void){struct timespec a,b;long n=5000000;clock_gettime(CLOCK_MONOTONIC,&a);for(long i=0;i<n;i++)syscall(SYS_getppid);clock_gettime(CLOCK_MONOTONIC,&b);printf("%.1f\n",((b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec))/n);return 0;}
