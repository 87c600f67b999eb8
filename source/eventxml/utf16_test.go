package eventxml

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"unicode/utf16"
)

// TestUTF16Reader checks the transcoder and utf16Units against the
// standard library on random text mixing ASCII runs (the fast paths),
// other BMP characters, surrogate pairs and lone surrogates, in both byte
// orders and in whole and one-byte reads.
func TestUTF16Reader(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 300; round++ {
		var units []uint16
		for len(units) < rng.IntN(3000) {
			switch rng.IntN(10) {
			case 0:
				units = append(units, uint16(0x80+rng.IntN(0xD800-0x80)))
			case 1:
				units = append(units, utf16.Encode([]rune{rune(0x10000 + rng.IntN(0xFFFFF))})...)
			case 2:
				units = append(units, uint16(0xD800+rng.IntN(0x800))) // lone surrogate
			case 3:
				units = append(units, uint16(0x80+rng.IntN(0x80))) // Latin-1: high byte zero
			default:
				for n := rng.IntN(40); n > 0; n-- {
					units = append(units, uint16(rng.IntN(0x80)))
				}
			}
		}
		want := []byte(string(utf16.Decode(units)))
		for _, be := range []bool{false, true} {
			raw := make([]byte, 0, 2*len(units)+1)
			for _, u := range units {
				if be {
					raw = append(raw, byte(u>>8), byte(u))
				} else {
					raw = append(raw, byte(u), byte(u>>8))
				}
			}
			odd := rng.IntN(2) == 0
			if odd {
				raw = append(raw, 'x') // a trailing odd byte becomes U+FFFD
			}
			w := want
			if odd {
				w = append(append([]byte(nil), want...), "\uFFFD"...)
			}
			for _, r := range []io.Reader{bytes.NewReader(raw), iotest.OneByteReader(bytes.NewReader(raw))} {
				got, err := io.ReadAll(newUTF16Reader(r, be))
				if err != nil || !bytes.Equal(got, w) {
					t.Fatalf("round %d be=%v: err %v, got %q\nwant %q", round, be, err, got, w)
				}
			}
		}
		if got, wantN := utf16Units(want), int64(len(utf16.Encode([]rune(string(want))))); got != wantN {
			t.Fatalf("round %d: utf16Units = %d, want %d", round, got, wantN)
		}
	}
}
