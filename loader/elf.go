// Package loader parses and validates ELF executables and builds a new
// process image from them: segments, the interpreter, and the initial stack
// with argv, envp and the auxiliary vector.
package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ELF constants used here.
const (
	etExec = 2
	etDyn  = 3

	emX8664   = 62
	emAArch64 = 183

	ptLoad     = 1
	ptInterp   = 3
	ptPhdr     = 6
	ptGNUStack = 0x6474e551

	pfX = 1
	pfW = 2
	pfR = 4

	maxPhnum  = 512
	pathMax   = 4096
	userLimit = 0x7fff_ffff_f000
)

// Arch is a guest architecture.
type Arch int

// Guest architectures.
const (
	AMD64 Arch = iota + 1
	ARM64
)

func (a Arch) String() string {
	switch a {
	case AMD64:
		return "amd64"
	case ARM64:
		return "arm64"
	}
	return "unknown"
}

// ErrNotELF is returned for a file that is not an ELF at all.
var ErrNotELF = errors.New("not an ELF file")

// Segment is one PT_LOAD program header.
type Segment struct {
	Vaddr, Memsz   uint64
	Offset, Filesz uint64
	Align          uint64
	R, W, X        bool
}

// File is a validated ELF executable.
type File struct {
	Arch      Arch
	Dynamic   bool // ET_DYN: position independent, loaded at a base
	Entry     uint64
	Phoff     uint64
	Phnum     int
	PhdrAddr  uint64 // from PT_PHDR, or computed from the segments; 0 if unknown
	Segments  []Segment
	Interp    string
	ExecStack bool
	Size      int64
}

// Parse reads and validates the ELF headers of an executable of size bytes.
// Every error names what is wrong.
func Parse(r io.ReaderAt, size int64) (*File, error) {
	var eh [64]byte
	if n, _ := r.ReadAt(eh[:], 0); n < 4 || string(eh[:4]) != "\x7fELF" {
		return nil, ErrNotELF
	}
	if size < 64 {
		return nil, fmt.Errorf("truncated ELF header (%d bytes)", size)
	}
	if n, err := r.ReadAt(eh[:], 0); n < 64 {
		return nil, fmt.Errorf("read ELF header: %w", err)
	}
	switch eh[4] {
	case 2:
	case 1:
		return nil, errors.New("32-bit ELF is not supported")
	default:
		return nil, fmt.Errorf("bad ELF class %d", eh[4])
	}
	if eh[5] != 1 {
		return nil, errors.New("big-endian ELF is not supported")
	}
	if eh[6] != 1 {
		return nil, fmt.Errorf("bad ELF version %d", eh[6])
	}
	le := binary.LittleEndian
	f := &File{Size: size}
	switch typ := le.Uint16(eh[16:]); typ {
	case etExec:
	case etDyn:
		f.Dynamic = true
	default:
		return nil, fmt.Errorf("ELF type %d is not an executable", typ)
	}
	switch m := le.Uint16(eh[18:]); m {
	case emX8664:
		f.Arch = AMD64
	case emAArch64:
		f.Arch = ARM64
	default:
		return nil, fmt.Errorf("ELF machine %d is not amd64 or arm64", m)
	}
	f.Entry = le.Uint64(eh[24:])
	f.Phoff = le.Uint64(eh[32:])
	phentsize := le.Uint16(eh[54:])
	f.Phnum = int(le.Uint16(eh[56:]))
	if phentsize != 56 {
		return nil, fmt.Errorf("bad program header size %d", phentsize)
	}
	if f.Phnum == 0 || f.Phnum > maxPhnum {
		return nil, fmt.Errorf("bad program header count %d", f.Phnum)
	}
	phsize := uint64(f.Phnum) * 56
	if f.Phoff > uint64(size) || phsize > uint64(size)-f.Phoff {
		return nil, fmt.Errorf("program headers (offset %#x, %d bytes) lie outside the %d-byte file", f.Phoff, phsize, size)
	}
	ph := make([]byte, phsize)
	if _, err := r.ReadAt(ph, int64(f.Phoff)); err != nil {
		return nil, fmt.Errorf("read program headers: %w", err)
	}
	var phdrVaddr uint64
	hasPhdr := false
	for i := 0; i < f.Phnum; i++ {
		p := ph[i*56:]
		typ := le.Uint32(p[0:])
		flags := le.Uint32(p[4:])
		off, vaddr := le.Uint64(p[8:]), le.Uint64(p[16:])
		filesz, memsz, align := le.Uint64(p[32:]), le.Uint64(p[40:]), le.Uint64(p[48:])
		switch typ {
		case ptLoad:
			if filesz > memsz {
				return nil, fmt.Errorf("segment %d: file size %#x exceeds memory size %#x", i, filesz, memsz)
			}
			if off > uint64(size) || filesz > uint64(size)-off {
				return nil, fmt.Errorf("segment %d (offset %#x, %#x bytes) lies outside the %d-byte file", i, off, filesz, size)
			}
			if memsz == 0 {
				continue
			}
			if vaddr+memsz < vaddr || vaddr+memsz > userLimit {
				return nil, fmt.Errorf("segment %d at %#x+%#x is outside user space", i, vaddr, memsz)
			}
			if align > 1 && align&(align-1) != 0 {
				return nil, fmt.Errorf("segment %d: alignment %#x is not a power of two", i, align)
			}
			if (vaddr-off)%4096 != 0 {
				return nil, fmt.Errorf("segment %d: address %#x and offset %#x disagree modulo the page size", i, vaddr, off)
			}
			for j, s := range f.Segments {
				if vaddr < s.Vaddr+s.Memsz && s.Vaddr < vaddr+memsz {
					return nil, fmt.Errorf("segments %d and %d overlap", j, i)
				}
			}
			f.Segments = append(f.Segments, Segment{Vaddr: vaddr, Memsz: memsz, Offset: off, Filesz: filesz, Align: align,
				R: flags&pfR != 0, W: flags&pfW != 0, X: flags&pfX != 0})
		case ptInterp:
			if f.Interp != "" {
				return nil, errors.New("more than one PT_INTERP")
			}
			if filesz < 2 || filesz > pathMax || off > uint64(size) || filesz > uint64(size)-off {
				return nil, fmt.Errorf("bad PT_INTERP (offset %#x, %d bytes)", off, filesz)
			}
			b := make([]byte, filesz)
			if _, err := r.ReadAt(b, int64(off)); err != nil {
				return nil, fmt.Errorf("read PT_INTERP: %w", err)
			}
			if b[filesz-1] != 0 || indexByte(b[:filesz-1], 0) >= 0 {
				return nil, errors.New("PT_INTERP is not a NUL-terminated path")
			}
			f.Interp = string(b[:filesz-1])
		case ptPhdr:
			phdrVaddr, hasPhdr = vaddr, true
		case ptGNUStack:
			f.ExecStack = flags&pfX != 0
		}
	}
	if len(f.Segments) == 0 {
		return nil, errors.New("no loadable segments")
	}
	entryOK := false
	for _, s := range f.Segments {
		if s.X && f.Entry >= s.Vaddr && f.Entry < s.Vaddr+s.Memsz {
			entryOK = true
		}
		if !hasPhdr && f.Phoff >= s.Offset && f.Phoff+phsize <= s.Offset+s.Filesz {
			phdrVaddr, hasPhdr = s.Vaddr+(f.Phoff-s.Offset), true
		}
	}
	if !entryOK {
		return nil, fmt.Errorf("entry point %#x is not in an executable segment", f.Entry)
	}
	if hasPhdr {
		f.PhdrAddr = phdrVaddr
	}
	return f, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// Span is the page-aligned extent of the loadable segments.
func (f *File) Span() (lo, hi uint64) {
	lo = ^uint64(0)
	for _, s := range f.Segments {
		lo = min(lo, s.Vaddr&^4095)
		hi = max(hi, (s.Vaddr+s.Memsz+4095)&^4095)
	}
	return lo, hi
}

// MaxAlign is the largest segment alignment (at least the page size).
func (f *File) MaxAlign() uint64 {
	a := uint64(4096)
	for _, s := range f.Segments {
		a = max(a, s.Align)
	}
	return a
}
