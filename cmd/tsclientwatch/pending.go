package main

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// pendingInMemory is how many detections scan holds in memory while it
// reads; more go to a temporary file. Detections are rare, but a log can
// be built to hold millions, and they wait for attribution until every
// input is read. A variable so tests can lower it.
var pendingInMemory = 10_000

// pending holds scan's detections, in the order found, until every input
// is read and they can be attributed and written.
type pending struct {
	dir  string // where the spool file goes; "" is os.TempDir()
	mem  []detector.Detection
	file *os.File
	bw   *bufio.Writer
	enc  *gob.Encoder
	n    int
	// unattributed counts detections that name a logon or session but
	// no client: what an attribution pass could tell more about.
	unattributed int
}

// add keeps a copy of d.
func (p *pending) add(d *detector.Detection) error {
	p.n++
	if (d.LogonID != 0 || d.SessionID.Known()) && d.ClientName == "" && d.ClientAddress == "" {
		p.unattributed++
	}
	if len(p.mem) < pendingInMemory {
		p.mem = append(p.mem, *d)
		return nil
	}
	if p.file == nil {
		f, err := os.CreateTemp(p.dir, "tsclientwatch-detections-*.gob")
		if err != nil {
			return fmt.Errorf("hold detections beyond %d in a temporary file: %w", pendingInMemory, err)
		}
		// Unlinked at close whatever happens; nothing else opens it.
		p.file, p.bw = f, bufio.NewWriterSize(f, 1<<16)
		p.enc = gob.NewEncoder(p.bw)
	}
	if err := p.enc.Encode(d); err != nil {
		return fmt.Errorf("hold detections in %s: %w", p.file.Name(), err)
	}
	return nil
}

// each calls fn with every detection in the order they were added; fn may
// change the detection (attribution) before writing it.
func (p *pending) each(fn func(*detector.Detection) error) error {
	for i := range p.mem {
		if err := fn(&p.mem[i]); err != nil {
			return err
		}
	}
	if p.file == nil {
		return nil
	}
	if err := p.bw.Flush(); err != nil {
		return fmt.Errorf("hold detections in %s: %w", p.file.Name(), err)
	}
	if _, err := p.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read back %s: %w", p.file.Name(), err)
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(p.file, 1<<16))
	for {
		var d detector.Detection
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read back %s: %w", p.file.Name(), err)
		}
		if err := fn(&d); err != nil {
			return err
		}
	}
}

// close removes the spool file, if any.
func (p *pending) close() {
	if p.file != nil {
		p.file.Close()
		os.Remove(p.file.Name())
		p.file = nil
	}
	p.mem = nil
}
