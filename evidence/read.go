package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// fileState is what fstat says about an open file, compared before and
// after reading to tell a file that changed meanwhile.
type fileState struct {
	size        int64
	mod, change int64  // modification and status change times, ns
	kind        string // "" for a regular file, else what it is ("FIFO")
	dev, ino    uint64
}

// notRegularError says the path is, or passes through, something that is
// not a regular file: it is never read.
type notRegularError struct {
	path, what string
	msg        string // the whole message, when set (the owner reader's)
}

func (e *notRegularError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("%s is %s, not a regular file: not read", e.path, e.what)
}

// errNotKept marks a copy left out on purpose (larger than the
// directory's bound): the file was hashed, and nothing failed.
var errNotKept = errors.New("copy not kept")

// errAbandoned stops a read whose request was settled meanwhile.
var errAbandoned = errors.New("abandoned")

// source is an opened program: read at most once to its end, stat before
// and after.
type source interface {
	io.Reader
	from() string // what was opened, for errors and the sidecar
	stat() (fileState, error)
	Close() error
}

// localFile is a program this process opened itself.
type localFile struct {
	*os.File
	name string
}

func (l localFile) from() string             { return l.name }
func (l localFile) stat() (fileState, error) { return statFile(l.File) }

// openSource opens r's program here, or, where this process may not
// enter the program's filesystem, through a reader running as its owner
// (Linux: a FUSE mount without allow_other).
func openSource(r *request) (source, error) {
	f, from, err := openExecutable(r.PID, r.Path)
	if err == nil {
		return localFile{f, from}, nil
	}
	return openAsOwner(r, err)
}

// gathered is what a read leaves for the copy: the synced temporary file
// holding exactly the hashed bytes, and where they came from.
type gathered struct {
	tmpPath  string // "" when no copy is being made
	copyErr  error  // why no copy is being made, when one was wanted
	from     string // what was opened: "/proc/<pid>/exe -> ..." or the path
	fileSize int64  // fstat size before reading
	readAt   time.Time
}

// discard removes the temporary copy, if any.
func (g *gathered) discard() {
	if g.tmpPath != "" {
		os.Remove(g.tmpPath)
		g.tmpPath = ""
	}
}

// gather opens r's program, checks it, and reads at most MaxFileBytes+1
// bytes of it in one pass into the hash and, when copies are kept, a
// temporary file. It may block in the kernel for as long as the file's
// filesystem likes; its caller runs it on a goroutine of its own.
func (c *Collector) gather(r *request) (Result, *gathered) {
	g := &gathered{}
	f, err := openSource(r)
	if err != nil {
		var nr *notRegularError
		if errors.As(err, &nr) {
			return Result{Outcome: NotRegular, Err: err}, g
		}
		return Result{Outcome: Failed, Err: err}, g
	}
	defer f.Close()
	from := f.from()
	g.from = from
	before, err := f.stat()
	if err != nil {
		return Result{Outcome: Failed, Err: fmt.Errorf("stat %s: %w", from, err)}, g
	}
	if before.kind != "" {
		return Result{Outcome: NotRegular, Err: &notRegularError{path: from, what: before.kind}}, g
	}
	r.size.Store(before.size)
	g.fileSize = before.size
	maxBytes := c.cfg.MaxFileBytes
	if before.size > maxBytes {
		return Result{Outcome: TooLarge, Size: before.size, Err: fmt.Errorf(
			"%s is %d bytes, more than evidence.max_file_bytes (%d): neither hashed nor copied", from, before.size, maxBytes)}, g
	}
	if r.aborted() {
		return Result{Outcome: Failed, Err: errAbandoned}, g
	}
	var tmp *os.File
	if c.dir != nil {
		if before.size > c.dir.max {
			g.copyErr = fmt.Errorf("%s: %w: %d bytes is more than evidence.max_dir_bytes (%d)", from, errNotKept, before.size, c.dir.max)
		} else if tmp, err = c.dir.temp(); err != nil {
			g.copyErr = fmt.Errorf("keep a copy of %s: %w", from, err)
		} else {
			g.tmpPath = tmp.Name()
		}
	}
	dropCopy := func(err error) {
		g.copyErr = fmt.Errorf("keep a copy of %s in %s: %w", from, c.dir.path, err)
		tmp.Close()
		g.discard()
		tmp = nil
	}

	h := sha256.New()
	bufp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bufp)
	var n int64
	var readErr error
	for limit := maxBytes + 1; n < limit; {
		buf := *bufp
		if rest := limit - n; rest < int64(len(buf)) {
			buf = buf[:rest]
		}
		k, err := f.Read(buf)
		if k > 0 {
			h.Write(buf[:k])
			if tmp != nil {
				if _, werr := tmp.Write(buf[:k]); werr != nil {
					dropCopy(werr) // disk full: the hash goes on
				}
			}
			n += int64(k)
			if c.onChunk != nil {
				c.onChunk(r.Path, n)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if r.aborted() {
			readErr = errAbandoned
			break
		}
	}
	after, statErr := f.stat()
	changed := statErr != nil || n != before.size || after.size != before.size ||
		after.mod != before.mod || after.change != before.change
	if readErr != nil {
		if tmp != nil {
			tmp.Close()
			g.discard()
		}
		return Result{Outcome: Failed, Size: before.size, Err: fmt.Errorf("read %s: %w", from, readErr)}, g
	}
	if n > maxBytes {
		if tmp != nil {
			tmp.Close()
			g.discard()
		}
		return Result{Outcome: TooLarge, Size: max(n, after.size), Changed: true, Err: fmt.Errorf(
			"%s grew past evidence.max_file_bytes (%d) while it was read: neither hashed nor copied", from, maxBytes)}, g
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			dropCopy(err)
		} else if err := tmp.Close(); err != nil {
			tmp = nil
			g.copyErr = fmt.Errorf("keep a copy of %s in %s: %w", from, c.dir.path, err)
			g.discard()
		}
	}
	g.readAt = time.Now()
	return Result{Outcome: Hashed, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Changed: changed}, g
}
