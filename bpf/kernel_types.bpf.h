/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel's types as bindsnoop reads them, only the fields it reads,
 * declared with preserve_access_index so that libbpf relocates them
 * against the running kernel's BTF (CO-RE); no vmlinux.h. Version shims
 * (inet_sock___pre66) carry the kernel version they stand for. */
#ifndef BINDSNOOP_KERNEL_TYPES_BPF_H
#define BINDSNOOP_KERNEL_TYPES_BPF_H

#include <linux/types.h>

#define AF_UNSPEC 0
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000

struct in6_addr {
	union {
		__u8 u6_addr8[16];
	} in6_u;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct sock_common {
	unsigned short skc_family;
	volatile unsigned char skc_state;
	__u32 skc_rcv_saddr;
	unsigned short skc_num;
	int skc_bound_dev_if;
	unsigned char skc_reuse : 4;
	unsigned char skc_reuseport : 1;
	possible_net_t skc_net;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
	__u16 sk_protocol;
	struct socket *sk_socket;
} __attribute__((preserve_access_index));

/* Linux 6.6 and later: IP_FREEBIND and friends are bits of inet_flags. */
struct inet_sock {
	unsigned long inet_flags;
} __attribute__((preserve_access_index));

/* Bit numbers of the anonymous enum in include/net/inet_sock.h (6.6+);
 * an anonymous enum cannot be relocated, and these have not moved since. */
#define INET_FLAGS_FREEBIND 11
#define INET_FLAGS_TRANSPARENT 15
#define INET_FLAGS_BIND_ADDRESS_NO_PORT 18

/* Before Linux 6.6: one-bit fields of inet_sock. */
struct inet_sock___pre66 {
	__u8 freebind : 1;
	__u8 transparent : 1;
	__u8 bind_address_no_port : 1;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned int i_nlink;
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct super_block {
	__u32 s_dev;
} __attribute__((preserve_access_index));

/* A path's walk up to the task's root: dentries, and mounts where a
 * dentry is its mount's root (struct mount, which embeds the vfsmount,
 * from fs/mount.h). */
struct qstr {
	__u32 len;
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
} __attribute__((preserve_access_index));

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path root;
} __attribute__((preserve_access_index));

/* The kernel allocates a socket and its inode together: SOCKET_I(). */
struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct file *exe_file;
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} __attribute__((preserve_access_index)) kuid_t;

typedef struct {
	__u32 val;
} __attribute__((preserve_access_index)) kgid_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
} __attribute__((preserve_access_index));

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	__u64 start_boottime;
	__u64 self_exec_id;
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct files_struct *files;
	const struct cred *cred;
	struct css_set *cgroups;
	char comm[16];
} __attribute__((preserve_access_index));

/* x86-64 only: the system call arguments as the kernel saved them, by the
 * kernel's field names so that CO-RE matches its struct pt_regs (the uapi
 * header calls them rdi, rsi, rdx). bindsnoop builds for x86-64 alone. */
struct pt_regs___kernel {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

/* Layout of the syscalls:sys_{enter,exit}_bind tracepoint records. */
struct syscall_enter_ctx {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	long id;
	long ret;
};

#endif
