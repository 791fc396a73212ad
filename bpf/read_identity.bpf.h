/* SPDX-License-Identifier: GPL-2.0 */
/* Reading who a process is, in the kernel, at bind time: the executable's
 * path as the process's own root sees it, the argument vector, when it and
 * its parent started. Probe reads only (BPF_CORE_READ), so that every
 * program type of every attach mode on every kernel bindsnoop supports
 * (5.10+) may call it; it runs once per process and exec, not per bind.
 *
 * bpf_d_path is not allowed from these hooks: the path is a bounded walk of
 * dentries up to the task's root, crossing mounts where a dentry is its
 * mount's root, as d_path() does. Components go leaf first into the record
 * (each at its own offset, with its length), and user space joins them in
 * the right order: no variable-offset writes backwards. Like libbpf-tools'
 * helpers, this header knows no map and no global of the tool. */
#ifndef BINDSNOOP_READ_IDENTITY_BPF_H
#define BINDSNOOP_READ_IDENTITY_BPF_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bindsnoop.h"
#include "kernel_types.bpf.h"

/* Steps of the walk: a component or a mount crossing each. */
#define IDENTITY_WALK_STEPS (BINDSNOOP_PATH_DEPTH + 8)

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
	return (struct mount *)((__u8 *)mnt - bpf_core_field_offset(struct mount, mnt));
}

/* mm->exe_file's path, up to task->fs->root. The walk keeps its counts
 * (components, bytes) in the record, not in registers: the verifier tracks
 * neither there, so that the states of its steps stay alike (a count in a
 * register made each step's states differ and the walk too large to
 * verify). */
static __always_inline void read_executable(struct process_identity *id, struct task_struct *task)
{
	struct file *file = BPF_CORE_READ(task, mm, exe_file);
	struct dentry *dentry, *root_dentry, *parent;
	struct vfsmount *vfsmnt, *root_mnt;
	struct mount *mnt, *mnt_parent;

	id->path_depth = 0;
	id->path_bytes = 0;
	if (!file) {
		id->flags |= BINDSNOOP_ID_EXE_UNREAD;
		return;
	}
	if (BPF_CORE_READ(file, f_inode, i_nlink) == 0)
		id->flags |= BINDSNOOP_ID_EXE_DELETED;
	dentry = BPF_CORE_READ(file, f_path.dentry);
	vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	mnt = real_mount(vfsmnt);

	for (int step = 0; step < IDENTITY_WALK_STEPS; step++) {
		if (dentry == root_dentry && vfsmnt == root_mnt)
			return;
		if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
			/* The root of a mount: go on from where it is mounted. */
			mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			if (mnt_parent == mnt)  /* the namespace's root mount */
				return;
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = (struct vfsmount *)((__u8 *)mnt + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		parent = BPF_CORE_READ(dentry, d_parent);
		if (parent == dentry)
			return;
		__u32 depth = id->path_depth, off = id->path_bytes;
		if (depth >= BINDSNOOP_PATH_DEPTH || off >= BINDSNOOP_PATH_BYTES)
			break;
		long n = bpf_probe_read_kernel_str(&id->path_names[off & (BINDSNOOP_PATH_BYTES - 1)], BINDSNOOP_NAME_ROOM,
						   BPF_CORE_READ(dentry, d_name.name));
		if (n <= 0) {
			id->flags |= BINDSNOOP_ID_EXE_UNREAD;
			return;
		}
		id->name_len[depth & (BINDSNOOP_PATH_DEPTH - 1)] = n - 1;
		id->path_bytes = off + n;
		id->path_depth = depth + 1;
		dentry = parent;
	}
	id->flags |= BINDSNOOP_ID_EXE_CUT;
}

/* The argument area as the process left it (NUL after each argument). */
static __always_inline void read_arguments(struct process_identity *id, struct task_struct *task)
{
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;

	if (len > BINDSNOOP_ARGS_BYTES - 1) {
		len = BINDSNOOP_ARGS_BYTES - 1;
		id->flags |= BINDSNOOP_ID_ARGS_CUT;
	}
	barrier_var(len);
	len &= BINDSNOOP_ARGS_BYTES - 1;
	if (len && bpf_probe_read_user(id->args, len, (const void *)start)) {
		id->flags |= BINDSNOOP_ID_ARGS_UNREAD;
		len = 0;
	}
	id->args_len = len;
}

/* task: bpf_get_current_task(); start_ns: its group leader's start_boottime. */
static __always_inline void read_identity(struct process_identity *id, struct task_struct *task, __u32 tgid,
					  __u64 start_ns)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent, group_leader);

	id->start_ns = start_ns;
	id->pid = tgid;
	id->flags = 0;
	id->parent_pid = BPF_CORE_READ(parent, tgid);
	id->parent_start_ns = BPF_CORE_READ(parent, start_boottime);
	BPF_CORE_READ_STR_INTO(&id->parent_comm, parent, comm);
	/* The root it resolves paths from (a container's own): user space
	 * names its users from that root's /etc/passwd. */
	id->root_ino = BPF_CORE_READ(task, fs, root.dentry, d_inode, i_ino);
	id->root_dev = BPF_CORE_READ(task, fs, root.mnt, mnt_sb, s_dev);
	read_executable(id, task);
	read_arguments(id, task);
}

#endif
