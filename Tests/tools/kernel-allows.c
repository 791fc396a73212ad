/* Which of bindsnoop's attach modes this kernel allows, found without
 * bindsnoop: each mode's smallest program (kernel-allows.bpf.o) loaded and
 * attached on its own with libbpf. The kernel matrix derives the host's
 * expectations from it. Prints one line per mode: "MODE yes" or
 * "MODE no STAGE: ERROR", then "hooks-beside-tracepoint yes|no": whether
 * cgroup programs may call bpf_task_pt_regs (what bindsnoop needs to run
 * its cgroup hooks beside the tracepoint).
 * Usage: kernel-allows OBJECT CGROUP2_DIR */
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int quiet(enum libbpf_print_level level, const char *format, va_list args)
{
	return 0;
}

static void try_mode(const char *path, const char *mode, const char *program, int cgroup)
{
	struct bpf_object *object = bpf_object__open_file(path, NULL);
	struct bpf_program *p, *wanted = NULL;
	struct bpf_link *link;
	int err;

	if (!object) {
		printf("%s no open: %s\n", mode, strerror(errno));
		return;
	}
	bpf_object__for_each_program(p, object) {
		bool match = strcmp(bpf_program__name(p), program) == 0;

		bpf_program__set_autoload(p, match);
		if (match)
			wanted = p;
	}
	err = bpf_object__load(object);
	if (err) {
		printf("%s no load: %s\n", mode, strerror(-err));
	} else {
		link = cgroup >= 0 ? bpf_program__attach_cgroup(wanted, cgroup) : bpf_program__attach(wanted);
		if (!link)
			printf("%s no attach: %s\n", mode, strerror(errno));
		else
			printf("%s yes\n", mode);
		bpf_link__destroy(link);
	}
	bpf_object__close(object);
}

int main(int argc, char **argv)
{
	int cgroup;

	if (argc != 3) {
		fprintf(stderr, "usage: kernel-allows OBJECT CGROUP2_DIR\n");
		return 2;
	}
	libbpf_set_print(quiet);
	try_mode(argv[1], "fentry", "fentry_minimal", -1);
	try_mode(argv[1], "kprobe", "kprobe_minimal", -1);
	try_mode(argv[1], "tracepoint", "tracepoint_minimal", -1);
	cgroup = open(argv[2], O_RDONLY | O_DIRECTORY);
	if (cgroup < 0)
		printf("cgroup no open %s: %s\n", argv[2], strerror(errno));
	else
		try_mode(argv[1], "cgroup", "cgroup_minimal", cgroup);
	printf("hooks-beside-tracepoint %s\n",
	       libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_FUNC_task_pt_regs, NULL) == 1 ? "yes" : "no");
	return 0;
}
