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
#define NAME_MAX 256      // one component, with its NUL
#define PATH_BUF 4096     // bytes one walked path may use
// A path longer than PATH_BUF keeps its leaf end up to LEAF_BUF bytes; the
// rest of PATH_BUF is kept for its top: a gap marker, the component just
// below the mount root (the client drive on an xrdp mount) and the mount
// point's own path. The top is what the rule needs.
#define TOP_RESERVE 1280
#define LEAF_BUF (PATH_BUF - TOP_RESERVE)
// bpf_loop iterations per walk: one per component or mount crossing.
// After CLIMB_STEPS, a cut path stops looking for its mount root
// component by component and jumps to it (the drive name is then lost).
// Each step is a few pointer reads, so a walk costs at most ~1-2 ms, run
// in the exec'ing task, however deep the tree.
#define WALK_STEPS 16384
#define CLIMB_STEPS 12288
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
#define FLAG_SCRIPT 128            // path and fstype are the #! script's own file (script_file)

// event is the fixed header followed by data: the executable's path
// components from the leaf up, each NUL-terminated, then the working
// directory's the same way, then the execve path string with its NUL, then
// argv (NUL-separated). An empty component marks where a long path was
// cut. Only the used part is sent; header fields are naturally aligned so
// Go can decode them at fixed offsets.
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

// fput_fn is the address of the kernel's ____fput, set by the loader from
// /proc/kallsyms (0 when hidden). See script_file.
volatile const __u64 fput_fn = 0;

static __always_inline struct mount *real_mount(struct vfsmount *mnt)
{
	return (struct mount *)((char *)mnt - bpf_core_field_offset(struct mount, mnt));
}

// The walk's states: recording from the leaf up; climbing without
// recording to the root of the mount where recording ran out of room;
// recording the top (the component below that root and the mount point).
enum {
	W_RECORD,
	W_CLIMB,
	W_TOP,
};

struct walk {
	struct event *e;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *child; // W_CLIMB: the last dentry climbed past
	__u32 base;           // where this path starts in e->data
	__u32 off;            // bytes written from base
	__u32 depth;
	__u32 state;
	__u32 skipped; // components climbed past without recording
	__u32 done;
};

// put_name appends d's name. It returns 1 when the name does not fit under
// limit (nothing written), -1 when it cannot be read.
static __always_inline int put_name(struct walk *w, struct event *e, struct dentry *d, __u32 limit)
{
	__u32 len = BPF_CORE_READ(d, d_name.len);
	__u32 at = w->base + w->off;
	if (w->off + len + 1 > limit || at >= 2 * PATH_BUF)
		return 1;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long n = bpf_probe_read_kernel_str(&e->data[at & (2 * PATH_BUF - 1)], NAME_MAX, name);
	if (n <= 0)
		return -1;
	w->off += n;
	w->depth++;
	return 0;
}

// walk_step moves one dentry up the path. A dentry that is its mount's
// root hands over to the mount point in the parent mount; the walk ends at
// the namespace root. When the leaf part has used LEAF_BUF, the walk climbs
// on without recording to the root of the current mount, then writes a gap
// (an empty component), the component just below that root and the rest
// up to the namespace root: a deep path on an xrdp mount keeps
// .../thinclient_drives/<drive>/ whatever its depth. It runs under
// bpf_loop so the verifier checks it once rather than once per level.
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
		if (w->state == W_CLIMB) {
			w->state = W_TOP;
			if (w->skipped > 0) {
				__u32 at = w->base + w->off;
				if (w->off + 1 > PATH_BUF || at >= 2 * PATH_BUF)
					return 1;
				e->data[at & (2 * PATH_BUF - 1)] = 0;
				w->off++;
			}
			struct dentry *child = w->child;
			if (child && put_name(w, e, child, PATH_BUF) != 0)
				return 1;
		}
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
	if (w->state == W_CLIMB) {
		if (idx >= CLIMB_STEPS) {
			// Too deep to find the component below the root in
			// time: jump to the root, leaving the drive out.
			w->skipped++;
			w->child = 0;
			w->dentry = mnt_root;
			return 0;
		}
		if (w->child)
			w->skipped++;
		w->child = dentry;
		w->dentry = parent;
		return 0;
	}
	int r = put_name(w, e, dentry, w->state == W_RECORD ? LEAF_BUF : PATH_BUF);
	if (r > 0 && w->state == W_RECORD) {
		w->state = W_CLIMB; // this dentry again, climbing
		return 0;
	}
	if (r != 0) {
		if (r < 0)
			w->done = 1;
		return 1; // the top ran out of room: flagged as cut
	}
	w->dentry = parent;
	return 0;
}

// walk_path appends the components of the path to e->data at base, from
// the leaf up, and returns the bytes used (at most PATH_BUF). The
// executable, the working directory and a script share it, so all cross
// mounts the same way. A path with a gap, or cut short at the top, sets
// truncated in e->flags.
static __always_inline __u32 walk_path(struct event *e, __u32 base, struct dentry *dentry,
				       struct vfsmount *vfsmnt, __u32 *depth, __u32 truncated)
{
	struct walk w = {
		.e = e,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = real_mount(vfsmnt),
		.base = base,
		.state = W_RECORD,
	};
	bpf_loop(WALK_STEPS, walk_step, &w, 0);
	if (!w.done || w.skipped > 0)
		e->flags |= truncated;
	*depth = w.depth;
	return w.off;
}

// fill_fstype writes the type of the filesystem mounted at vfsmnt as
// mountinfo spells it: FUSE filesystems are told apart by their subtype
// ("fuse.xrdp-chansrv").
static __always_inline void fill_fstype(char *fstype, struct vfsmount *vfsmnt)
{
	struct super_block *sb = BPF_CORE_READ(vfsmnt, mnt_sb);
	const char *tname = BPF_CORE_READ(sb, s_type, name);
	const char *subtype = BPF_CORE_READ(sb, s_subtype);
	long n = bpf_probe_read_kernel_str(fstype, FSTYPE_LEN, tname);
	if (subtype && n > 0 && n < FSTYPE_LEN - 1) {
		__u32 at = n - 1;
		fstype[at & (FSTYPE_LEN - 1)] = '.';
		at++;
		bpf_probe_read_kernel_str(&fstype[at & (FSTYPE_LEN / 2 - 1)], FSTYPE_LEN / 2, subtype);
	}
}

struct fput_walk {
	struct callback_head *cb;
	struct callback_head *found;
};

static long fput_step(__u32 idx, void *arg)
{
	struct fput_walk *w = arg;
	struct callback_head *cb = w->cb;
	if (!cb)
		return 1;
	if ((__u64)BPF_CORE_READ(cb, func) == fput_fn)
		w->found = cb; // keep going: the oldest is the script
	w->cb = BPF_CORE_READ(cb, next);
	return 0;
}

// script_file finds the file of the #! script (or binfmt_misc binary) an
// interpreted exec started with. exec_binprm drops its last reference
// before the tracepoint, but in a task that reference's release is
// deferred: fput queues the file's ____fput on the task's task_works, run
// on the way back to user space. So the file, its dentry and its mount are
// still alive here, and the queue holds them. The oldest ____fput queued
// is the script's: nothing else in execve drops a last file reference
// before exec_binprm, and later ones (close-on-exec descriptors) are
// pushed in front of it. Not found (NULL) when fput_fn is unknown, the
// queue is longer than the walk, or the release was not deferred (a
// kernel thread's exec).
static __always_inline struct file *script_file(struct task_struct *task)
{
	if (!fput_fn)
		return 0;
	struct fput_walk w = {.cb = BPF_CORE_READ(task, task_works)};
	bpf_loop(64, fput_step, &w, 0);
	if (!w.found)
		return 0;
	return (struct file *)((char *)w.found - bpf_core_field_offset(struct file, f_task_work));
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

	// The kernel replaces bprm->interp, which starts as the same pointer
	// as bprm->filename, when an interpreter takes over.
	const char *filename = BPF_CORE_READ(bprm, filename);
	const char *interp = BPF_CORE_READ(bprm, interp);
	if (interp != filename)
		e->flags |= FLAG_INTERP;

	// For a #! script (or binfmt_misc) bprm->file is the interpreter by
	// now; name the script by its own file when it can still be found.
	struct file *file = BPF_CORE_READ(bprm, file);
	if (interp != filename) {
		struct file *script = script_file(task);
		if (script) {
			file = script;
			e->flags |= FLAG_SCRIPT;
		}
	}
	if (file) {
		struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
		struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
		fill_fstype(e->fstype, vfsmnt);
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
		if (base > PATH_BUF)
			base = PATH_BUF;
		e->cwd_len = walk_path(e, base, pwd_dentry, pwd_mnt, &depth, FLAG_CWD_TRUNCATED);
	} else {
		e->flags |= FLAG_NO_CWD;
	}

	// The path string execve was given: when script_file fails it is, with
	// the cwd, all that names a #! script.
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
