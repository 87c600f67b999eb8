// Package evidence reads the program behind a live detection while it
// runs, hashes it (SHA-256) and, when asked, keeps a private copy named by
// its hash.
//
// Why: a program run from \\tsclient\c or an xrdp thinclient_drives mount
// lives on the attacker's machine. When the RDP session ends it is gone,
// and live sources (eBPF, fanotify, ETW, the Event Log's 4688) carry no
// hash. The moment the process runs is the one moment the file can be
// read.
//
// Why it is built this way: the file sits on a share the attacker serves.
// A FUSE or RDP read can hang in the kernel forever, the file can change
// while it is read, be a FIFO or device, a symbolic link out of the mount
// or a sparse 100 GB file. So:
//
//   - A Collector has a bounded queue and Config.Concurrency workers.
//     Submit never blocks and never runs the callback itself; every
//     request is settled (done called once) by its deadline, Config.Timeout
//     after Submit, however long the read takes. Detections therefore wait
//     for evidence at most that long, and never for each other beyond the
//     worker count.
//   - Open and read run on a goroutine of their own. When the deadline
//     passes the request is settled TimedOut, the worker moves on to the
//     next request, and the goroutine, stuck in the kernel, is counted in
//     Counters.Hung until the kernel lets it go (the client disconnects,
//     the mount goes away). At most 4*Concurrency reads may be stuck at
//     once; past that, requests fail at once with an error saying so, so a
//     hostile client cannot grow memory without bound.
//   - Linux: /proc/<pid>/exe is read first (it still reaches the file after
//     a rename, an unlink or a moved mount), when it is the program the
//     detection names; otherwise the reported path, resolved without
//     following any symbolic link (openat2 RESOLVE_NO_SYMLINKS, or a walk
//     with O_NOFOLLOW on every component where openat2 is missing) and
//     opened O_PATH first: a FIFO or device is never opened, only a regular
//     file is read. At most MaxFileBytes+1 bytes are read whatever the size
//     says; fstat before and after (size, mtime, ctime) and a short read
//     tell a file that changed while read: its hash is of what was read,
//     and Result.Changed says so.
//   - Linux, a FUSE mount without allow_other (xrdp's): root may not enter
//     it, not even through /proc/<pid>/exe, and may not fstat a descriptor
//     passed to it. The read is then done by a short-lived copy of this
//     binary running as the mount's owner (from mountinfo), with the same
//     rules, streaming state and content back on pipes; it is killed when
//     its request is settled, so such a read never stays stuck here.
//   - Windows: the NT path the kernel reports is turned into a Win32 one
//     (WindowsPath) and opened with CreateFile and
//     FILE_FLAG_OPEN_REPARSE_POINT (a final reparse point is not
//     followed); only a disk file that is neither a directory nor a
//     reparse point is read. Windows has no /proc/<pid>/exe; the path is
//     all there is.
//   - Copies (Config.Dir): the directory is private (package privdir: 0700
//     and refused when another user owns it or others can write it;
//     Windows SYSTEM and Administrators). One read pass feeds the hash and
//     a temporary file (0600, O_EXCL); the temporary file is synced and
//     renamed to the lower-case hex SHA-256, no extension, never
//     executable, with a JSON sidecar <sha256>.json. One copy per distinct
//     hash: a copy already kept is not rewritten, its sidecar keeps the
//     first sighting, and its modification time is set to the latest one.
//     The directory is bounded by MaxDirBytes (copies and sidecars):
//     copies least recently seen go first. Temporary files left by a crash
//     are removed when the Collector starts.
package evidence
