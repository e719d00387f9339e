package amd64

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// VDSOImage returns a copy of the vDSO's ELF image (one page).
func VDSOImage() []byte {
	p := make([]byte, 4096)
	copy(p, vdsoImage)
	return p
}

// VvarClock is the calibration the vDSO reads (vdso/vdso.h).
type VvarClock struct {
	TSCBase  uint64
	Mult     uint64 // ns per TSC tick, as a 32.32 fixed-point number
	RealBase int64
	MonoBase int64
	BootBase int64
}

// WriteVvar publishes c in the vvar page under its sequence lock; valid
// false makes the vDSO use system calls.
func WriteVvar(page []byte, c VvarClock, valid bool) {
	seq := (*uint32)(unsafe.Pointer(&page[0]))
	atomic.AddUint32(seq, 1)
	v := uint32(0)
	if valid {
		v = 1
	}
	binary.LittleEndian.PutUint32(page[4:], v)
	binary.LittleEndian.PutUint64(page[8:], c.TSCBase)
	binary.LittleEndian.PutUint64(page[16:], c.Mult)
	binary.LittleEndian.PutUint64(page[24:], uint64(c.RealBase))
	binary.LittleEndian.PutUint64(page[32:], uint64(c.MonoBase))
	binary.LittleEndian.PutUint64(page[40:], uint64(c.BootBase))
	atomic.AddUint32(seq, 1)
}
