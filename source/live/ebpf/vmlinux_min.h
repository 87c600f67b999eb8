/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmlinux_min.h declares only the kernel types and fields exec.bpf.c reads.
 * preserve_access_index makes every access a CO-RE relocation, so field
 * offsets are fixed up against the running kernel's BTF at load time and the
 * layouts below need not match any kernel. Written by hand instead of a full
 * bpftool-generated vmlinux.h to keep the repository small and the
 * generation independent of the build host's kernel.
 */
#ifndef VMLINUX_MIN_H
#define VMLINUX_MIN_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;
typedef unsigned int uid_t;
typedef _Bool bool;

enum {
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

#define offsetof(TYPE, MEMBER) ((unsigned long)&((TYPE *)0)->MEMBER)

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

struct qstr {
	union {
		struct {
			__u32 hash;
			__u32 len;
		};
		__u64 hash_len;
	};
	const unsigned char *name;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
};

struct file_system_type {
	const char *name;
};

struct super_block {
	struct file_system_type *s_type;
	const char *s_subtype;
};

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct callback_head {
	struct callback_head *next;
	void (*func)(struct callback_head *head);
};

struct file {
	struct path f_path;
	struct callback_head f_task_work;
};

typedef struct {
	uid_t val;
} kuid_t;

struct cred {
	kuid_t uid;
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};

struct fs_struct {
	struct path pwd;
};

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	const struct cred *cred;
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct callback_head *task_works;
};

struct linux_binprm {
	struct file *file;
	const char *filename;
	const char *interp;
};

#pragma clang attribute pop

#endif
