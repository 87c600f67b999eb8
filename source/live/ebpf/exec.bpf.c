//go:build ignore

// SPDX-License-Identifier: Apache-2.0
//
// exec.bpf.c reports every successful execve: pid, parent pid, uid, the
// executable's path as the kernel resolved it (walked from the struct file,
// so relative execs and symlinks come out absolute), the working directory
// (walked the same way), the path string execve was given, whether an
// interpreter (#! script, binfmt_misc) took over, the filesystem type and
// the first bytes of argv. Built by bpf2go (see gen.go); the generated
// object is committed so Go builds need no clang.

#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Sizes shared with record.go; change both together. Paths need bpf_loop
// (Linux 5.17).
#define MAX_DEPTH 64      // path components walked; deeper paths are flagged truncated
#define NAME_MAX 256      // one component, with its NUL
#define PATH_BUF 4096     // all components of one walked path
#define FNAME_MAX 4096    // the execve path string, with its NUL (the kernel's PATH_MAX)
#define ARGV_MAX 1024     // bytes of argv kept
#define FSTYPE_LEN 32
// Both walked paths (executable, then working directory) start below
// 2*PATH_BUF; the slack of NAME_MAX lets the verifier see that a component
// read at any masked offset stays inside the buffer.
#define WALK_MAX (2 * PATH_BUF + NAME_MAX)

#define FLAG_PATH_TRUNCATED 1
#define FLAG_ARGV_TRUNCATED 2
#define FLAG_NO_FILE 4
#define FLAG_INTERP 8              // bprm->interp was replaced: a #! script or binfmt_misc
#define FLAG_CWD_TRUNCATED 16
#define FLAG_NO_CWD 32
#define FLAG_FILENAME_TRUNCATED 64

// event is the fixed header followed by data: the executable's path
// components from the leaf up, each NUL-terminated, then the working
// directory's the same way, then the execve path string with its NUL, then
// argv (NUL-separated). Only the used part is sent; header fields are
// naturally aligned so Go can decode them at fixed offsets.
struct event {
	__u64 ktime_ns;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 flags;
	__u32 path_len;
	__u32 argv_len;
	__u32 depth;
	__u32 cwd_len;
	__u32 filename_len;
	__u32 _pad;
	char fstype[FSTYPE_LEN];
	char comm[16];
	char data[WALK_MAX + FNAME_MAX + ARGV_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

// scratch holds the event being built: it is too large for the 512-byte
// BPF stack.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

// lost counts events the ring buffer had no room for, per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
	return (struct mount *)((char *)mnt - bpf_core_field_offset(struct mount, mnt));
}

struct walk {
	struct event *e;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 base; // where this path starts in e->data
	__u32 off;  // bytes written from base
	__u32 depth;
	__u32 done;
};

// walk_step moves one dentry up the path, appending its name to e->data.
// A dentry that is its mount's root hands over to the mount point in the
// parent mount; the walk ends at the namespace root. It runs under bpf_loop
// so the verifier checks it once rather than once per level.
static long walk_step(__u32 idx, void *arg)
{
	struct walk *w = arg;
	// Copy the walk state to locals: BPF_CORE_READ(w->x, ...) would make
	// the access to struct walk itself a CO-RE relocation, which the
	// kernel's BTF cannot satisfy.
	struct event *e = w->e;
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		if (dentry != mnt_root || mnt_parent == mnt) {
			w->done = 1; // the filesystem or namespace root
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	__u32 at = w->base + w->off;
	if (w->off >= PATH_BUF || at >= 2 * PATH_BUF)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(&e->data[at & (2 * PATH_BUF - 1)], NAME_MAX, name);
	if (n <= 0) {
		w->done = 1;
		return 1;
	}
	w->off += n;
	w->depth++;
	w->dentry = parent;
	return 0;
}

// walk_path appends the components of the path to e->data at base, from
// the leaf up, and returns the bytes used. The executable and the working
// directory share it, so both cross mounts the same way. A path cut short
// by a bound sets truncated in e->flags.
static __always_inline __u32 walk_path(struct event *e, __u32 base, struct dentry *dentry,
				       struct vfsmount *vfsmnt, __u32 *depth, __u32 truncated)
{
	struct walk w = {
		.e = e,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = real_mount(vfsmnt),
		.base = base,
	};
	// Mount crossings take a step each, hence twice the depth.
	bpf_loop(2 * MAX_DEPTH, walk_step, &w, 0);
	if (!w.done)
		e->flags |= truncated;
	*depth = w.depth;
	return w.off;
}

static __always_inline int handle_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;

	e->ktime_ns = bpf_ktime_get_boot_ns();
	e->pid = BPF_CORE_READ(task, tgid);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	e->flags = 0;
	e->depth = 0;
	e->path_len = 0;
	e->cwd_len = 0;
	e->filename_len = 0;
	e->argv_len = 0;
	e->fstype[0] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	struct file *file = BPF_CORE_READ(bprm, file);
	if (file) {
		struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
		struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
		struct super_block *sb = BPF_CORE_READ(vfsmnt, mnt_sb);
		const char *tname = BPF_CORE_READ(sb, s_type, name);
		const char *subtype = BPF_CORE_READ(sb, s_subtype);
		long n = bpf_probe_read_kernel_str(e->fstype, FSTYPE_LEN, tname);
		// FUSE filesystems are told apart by their subtype, as
		// /proc/self/mountinfo shows them ("fuse.xrdp-chansrv").
		if (subtype && n > 0 && n < FSTYPE_LEN - 1) {
			__u32 at = n - 1;
			e->fstype[at & (FSTYPE_LEN - 1)] = '.';
			at++;
			bpf_probe_read_kernel_str(&e->fstype[at & (FSTYPE_LEN / 2 - 1)], FSTYPE_LEN / 2, subtype);
		}
		e->path_len = walk_path(e, 0, dentry, vfsmnt, &e->depth, FLAG_PATH_TRUNCATED);
	} else {
		e->flags |= FLAG_NO_FILE;
	}

	// The working directory: a relative execve path (./run.sh) is
	// resolved against it, and it is reported as the process's cwd.
	struct vfsmount *pwd_mnt = BPF_CORE_READ(task, fs, pwd.mnt);
	struct dentry *pwd_dentry = BPF_CORE_READ(task, fs, pwd.dentry);
	if (pwd_mnt && pwd_dentry) {
		__u32 depth;
		__u32 base = e->path_len;
		if (base > PATH_BUF + NAME_MAX)
			base = PATH_BUF + NAME_MAX;
		e->cwd_len = walk_path(e, base, pwd_dentry, pwd_mnt, &depth, FLAG_CWD_TRUNCATED);
	} else {
		e->flags |= FLAG_NO_CWD;
	}

	// The path string execve was given. For a #! script bprm->file is
	// the interpreter by now and the script's struct file is gone, so
	// this string (with the cwd) is all that names the script. The kernel
	// replaces bprm->interp, which starts as the same pointer, when an
	// interpreter takes over.
	const char *filename = BPF_CORE_READ(bprm, filename);
	const char *interp = BPF_CORE_READ(bprm, interp);
	if (interp != filename)
		e->flags |= FLAG_INTERP;
	__u64 at = (__u64)e->path_len + e->cwd_len;
	if (at > WALK_MAX)
		at = WALK_MAX;
	barrier_var(at); // see argv below
	long fn = bpf_probe_read_kernel_str(&e->data[at], FNAME_MAX, filename);
	if (fn > 0) {
		if (fn == FNAME_MAX)
			e->flags |= FLAG_FILENAME_TRUNCATED;
		e->filename_len = fn;
	}

	// At this tracepoint the new image's mm is in place, so argv is the
	// new program's.
	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	__u32 alen = 0;
	if (arg_end > arg_start) {
		unsigned long want = arg_end - arg_start;
		alen = ARGV_MAX;
		if (want > ARGV_MAX)
			e->flags |= FLAG_ARGV_TRUNCATED;
		else
			alen = want;
		// Re-bound both for the verifier: data has room for both
		// walked paths, the largest execve path and ARGV_MAX.
		__u64 argv_at = (__u64)e->path_len + e->cwd_len + e->filename_len;
		if (argv_at > WALK_MAX + FNAME_MAX)
			argv_at = WALK_MAX + FNAME_MAX;
		// 64-bit and behind a barrier: otherwise clang bounds a
		// zero-extended copy and indexes with the original, which the
		// verifier rejects as unbounded.
		barrier_var(argv_at);
		if (alen > ARGV_MAX)
			alen = ARGV_MAX;
		if (bpf_probe_read_user(&e->data[argv_at], alen, (void *)arg_start) < 0)
			alen = 0;
	}
	e->argv_len = alen;

	__u64 size = offsetof(struct event, data) + e->path_len + e->cwd_len + e->filename_len + alen;
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, 0) < 0) {
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			*n += 1;
	}
	return 0;
}

// BTF-enabled tracepoint: preferred, needs no tracefs.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(p, bprm);
}

// Raw tracepoint: the fallback when tp_btf cannot attach. Same arguments,
// read from the untyped context.
SEC("raw_tracepoint/sched_process_exec")
int exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return handle_exec((struct task_struct *)ctx->args[0], (struct linux_binprm *)ctx->args[2]);
}
