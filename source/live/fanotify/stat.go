package fanotify

import (
	"bytes"
	"strconv"
)

// parseStatPPID returns the parent pid from the contents of /proc/PID/stat:
// "pid (comm) state ppid ...". comm may hold spaces and ')', so the fields
// are counted from the last ')'.
func parseStatPPID(b []byte) (int64, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(f[1]), 10, 64)
	return v, err == nil
}
