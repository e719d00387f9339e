package mm

import (
	"errors"

	"github.com/elfuse/elfuse/arch/amd64"
)

// ErrFault is a guest address that cannot be accessed (EFAULT).
var ErrFault = errors.New("bad guest address")

// page returns host memory from va to the end of its page, after checking
// that user mode may access it (write access if write) and faulting in
// lazy pages as the guest would.
func (as *AddressSpace) page(va uint64, write bool) ([]byte, error) {
	if va >= UserLimit || as.released {
		return nil, ErrFault
	}
	for try := 0; try < 2; try++ {
		e, l := as.pt.lookup(va)
		if l != 0 && e&amd64.PTEUser != 0 && (!write || e&amd64.PTEWrite != 0) {
			var pa uint64
			if l == 2 {
				pa = e&addrMask + va&(HugeSize-1)
			} else {
				pa = e&addrMask + va&(PageSize-1)
			}
			end := (va | (PageSize - 1)) + 1
			return as.phys.mem[pa : pa+(end-va)], nil
		}
		if !as.faultL(va, write, false) {
			return nil, ErrFault
		}
	}
	return nil, ErrFault
}

// Read copies guest memory at va into buf.
func (as *AddressSpace) readL(va uint64, buf []byte) error {
	for len(buf) > 0 {
		p, err := as.page(va, false)
		if err != nil {
			return err
		}
		n := copy(buf, p)
		buf = buf[n:]
		va += uint64(n)
	}
	return nil
}

// Write copies buf into guest memory at va.
func (as *AddressSpace) writeL(va uint64, buf []byte) error {
	for len(buf) > 0 {
		p, err := as.page(va, true)
		if err != nil {
			return err
		}
		n := copy(p, buf)
		buf = buf[n:]
		va += uint64(n)
	}
	return nil
}

// Zero clears n bytes of guest memory at va.
func (as *AddressSpace) zeroL(va, n uint64) error {
	for n > 0 {
		p, err := as.page(va, true)
		if err != nil {
			return err
		}
		if uint64(len(p)) > n {
			p = p[:n]
		}
		clear(p)
		n -= uint64(len(p))
		va += uint64(len(p))
	}
	return nil
}

// Slices returns host memory covering guest [va, va+n) as one slice per
// page run, for vectored host I/O straight into guest memory.
func (as *AddressSpace) slicesL(va, n uint64, write bool, out [][]byte) ([][]byte, error) {
	for n > 0 {
		p, err := as.page(va, write)
		if err != nil {
			return out, err
		}
		if uint64(len(p)) > n {
			p = p[:n]
		}
		out = append(out, p)
		n -= uint64(len(p))
		va += uint64(len(p))
	}
	return out, nil
}

// ReadString reads a NUL-terminated string of at most max bytes.
func (as *AddressSpace) readStringL(va uint64, max int) (string, error) {
	var b []byte
	for len(b) < max {
		p, err := as.page(va, false)
		if err != nil {
			return "", err
		}
		for i, c := range p {
			if c == 0 {
				return string(append(b, p[:i]...)), nil
			}
			if len(b)+i >= max {
				break
			}
		}
		b = append(b, p...)
		va += uint64(len(p))
	}
	return "", errors.New("string too long")
}

// ReadU64 reads a little-endian 64-bit word.
func (as *AddressSpace) readU64L(va uint64) (uint64, error) {
	var b [8]byte
	if err := as.readL(va, b[:]); err != nil {
		return 0, err
	}
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56, nil
}

// WriteU64 writes a little-endian 64-bit word.
func (as *AddressSpace) writeU64L(va, v uint64) error {
	b := [8]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24), byte(v >> 32), byte(v >> 40), byte(v >> 48), byte(v >> 56)}
	return as.writeL(va, b[:])
}

// Poke writes buf at va with the kernel's rights: the pages must be mapped
// but need not be writable by the guest (used to build process images).
func (as *AddressSpace) pokeL(va uint64, buf []byte) error {
	for len(buf) > 0 {
		e, l := as.pt.lookup(va)
		if l == 0 {
			if !as.faultL(va, false, false) {
				return ErrFault
			}
			continue
		}
		if e&amd64.PTECow != 0 {
			// Shared with another process or a file: this one's copy.
			v := as.findL(va)
			if v == nil || !as.breakCOW(va, v) {
				return ErrFault
			}
			continue
		}
		var pa uint64
		if l == 2 {
			pa = e&addrMask + va&(HugeSize-1)
		} else {
			pa = e&addrMask + va&(PageSize-1)
		}
		end := (va | (PageSize - 1)) + 1
		n := copy(as.phys.mem[pa:pa+(end-va)], buf)
		buf = buf[n:]
		va += uint64(n)
	}
	return nil
}

// WriteU32 writes a little-endian 32-bit word.
func (as *AddressSpace) writeU32L(va uint64, v uint32) error {
	b := [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	return as.writeL(va, b[:])
}
