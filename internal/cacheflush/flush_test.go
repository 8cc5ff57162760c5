package cacheflush

import (
	"testing"
)

// TestFloat32sKeepsValues flushes slices of every length and alignment in a
// buffer and checks that no value changes and nothing outside is touched
// (a flush writes lines back; it must never drop a dirty line's data).
func TestFloat32sKeepsValues(t *testing.T) {
	buf := make([]float32, 1024)
	for i := range buf {
		buf[i] = float32(i)
	}
	for off := 0; off < 20; off++ {
		for n := 0; n < 200; n += 7 {
			s := buf[off : off+n]
			for i := range s {
				s[i] += 0.5 // dirty the lines first
			}
			Float32s(s)
			for i := range buf {
				want := float32(i)
				if i >= off && i < off+n {
					want += 0.5
				}
				if buf[i] != want {
					t.Fatalf("off %d n %d: buf[%d] = %v, want %v", off, n, i, buf[i], want)
				}
			}
			for i := range s {
				s[i] -= 0.5
			}
		}
	}
	Float32s(nil)
}
