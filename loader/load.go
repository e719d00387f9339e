package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/elfuse/elfuse/mm"
)

// Image layout choices (Linux's with address randomisation off).
const (
	PIEBase   = 0x5555_5555_4000
	StackTop  = 0x7fff_ffff_f000
	StackSize = 8 << 20
	// StackPrefault is the part of the stack mapped at exec.
	StackPrefault = 64 << 10
	VDSOBase      = 0x7fff_f7ff_c000
)

// Auxiliary vector keys.
const (
	atNull        = 0
	atPhdr        = 3
	atPhent       = 4
	atPhnum       = 5
	atPagesz      = 6
	atBase        = 7
	atFlags       = 8
	atEntry       = 9
	atUID         = 11
	atEUID        = 12
	atGID         = 13
	atEGID        = 14
	atPlatform    = 15
	atHWCap       = 16
	atClkTck      = 17
	atSecure      = 23
	atRandom      = 25
	atHWCap2      = 26
	atExecFn      = 31
	atSysinfoEHdr = 33
	atMinSigStkSz = 51
)

// Exe is an opened executable.
type Exe struct {
	File *os.File
	ELF  *File
}

// Name implements mm.Backing.
func (e *Exe) Name() string { return e.File.Name() }

// ReadAt implements mm.Backing.
func (e *Exe) ReadAt(b []byte, off int64) (int, error) { return e.File.ReadAt(b, off) }

// Open opens and validates the executable at path.
func Open(path string) (*Exe, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, errors.New("is a directory")
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, errors.New("not a regular file")
	}
	ef, err := Parse(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Exe{File: f, ELF: ef}, nil
}

// Close closes the file.
func (e *Exe) Close() error { return e.File.Close() }

// Params are the inputs of a new process image beyond its files.
type Params struct {
	Argv, Envp           []string
	ExecFn               string
	UID, EUID, GID, EGID uint32
	Secure               bool
	HWCap                uint64
	HWCap2               uint64
	Platform             string
	Random               [16]byte
	VDSO                 uint64 // AT_SYSINFO_EHDR, 0 for none
	MinSigStk            uint64
}

// Image is a loaded process image.
type Image struct {
	Entry      uint64 // where the first instruction runs (the interpreter's entry if any)
	SP         uint64
	Base       uint64 // load bias of the executable
	InterpBase uint64
	Brk        uint64
	// ArgStart, ArgEnd, EnvStart and EnvEnd delimit the argument and
	// environment strings on the stack (what /proc/PID/cmdline and environ
	// read, as Linux's mm->arg_start and friends).
	ArgStart, ArgEnd, EnvStart, EnvEnd uint64
}

// Load maps exe (and interp, when not nil) into as and builds the stack.
func Load(as *mm.AddressSpace, exe, interp *Exe, p *Params) (*Image, error) {
	img := &Image{}
	var err error
	bias := uint64(0)
	if exe.ELF.Dynamic {
		lo, _ := exe.ELF.Span()
		bias = alignUp(PIEBase, exe.ELF.MaxAlign()) - lo
	}
	end, err := mapSegments(as, exe, bias)
	if err != nil {
		return nil, err
	}
	img.Base = bias
	img.Brk = end
	img.Entry = exe.ELF.Entry + bias
	if interp != nil {
		lo, hi := interp.ELF.Span()
		base, ok := as.FreeRange(0, hi-lo+interp.ELF.MaxAlign())
		if !ok {
			return nil, fmt.Errorf("no room for the interpreter")
		}
		base = alignUp(base, interp.ELF.MaxAlign())
		ibias := base - lo
		if !interp.ELF.Dynamic {
			ibias = 0
		}
		if _, err := mapSegments(as, interp, ibias); err != nil {
			return nil, fmt.Errorf("interpreter: %w", err)
		}
		img.InterpBase = ibias
		img.Entry = interp.ELF.Entry + ibias
	}
	as.BrkStart, as.Brk = img.Brk, img.Brk
	// The stack gets frames as it is touched, but for its top, which every
	// program uses at once (a fault costs a VM exit).
	if err := as.Map(mm.VMA{Start: StackTop - StackSize, End: StackTop, Prot: mm.ProtRead | mm.ProtWrite, Name: "[stack]", GrowsDn: true, Lazy: true}); err != nil {
		return nil, fmt.Errorf("map stack: %w", err)
	}
	if err := as.Prefault(StackTop-StackPrefault, StackTop); err != nil {
		return nil, fmt.Errorf("map stack: %w", err)
	}
	phdr := exe.ELF.PhdrAddr
	if phdr != 0 {
		phdr += bias
	}
	img.SP, err = buildStack(as, p, img, []uint64{
		atPhdr, phdr, atPhent, 56, atPhnum, uint64(exe.ELF.Phnum), atPagesz, mm.PageSize,
		atBase, img.InterpBase, atFlags, 0, atEntry, exe.ELF.Entry + bias,
		atUID, uint64(p.UID), atEUID, uint64(p.EUID), atGID, uint64(p.GID), atEGID, uint64(p.EGID),
		atSecure, b2u(p.Secure), atHWCap, p.HWCap, atHWCap2, p.HWCap2, atClkTck, 100,
		atMinSigStkSz, p.MinSigStk,
	})
	if err != nil {
		return nil, fmt.Errorf("build stack: %w", err)
	}
	return img, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func segProt(s Segment) mm.Prot {
	var p mm.Prot
	if s.R {
		p |= mm.ProtRead
	}
	if s.W {
		p |= mm.ProtWrite
	}
	if s.X {
		p |= mm.ProtExec
	}
	return p
}

// mapSegments maps the PT_LOAD segments at bias and returns the page-aligned
// end of the highest one (the start of the heap).
func mapSegments(as *mm.AddressSpace, exe *Exe, bias uint64) (uint64, error) {
	var end uint64
	for _, s := range exe.ELF.Segments {
		start := (s.Vaddr + bias) &^ (mm.PageSize - 1)
		fileEnd := s.Vaddr + bias + s.Filesz
		memEnd := alignUp(s.Vaddr+bias+s.Memsz, mm.PageSize)
		prot := segProt(s)
		fileMapEnd := alignUp(fileEnd, mm.PageSize)
		if s.Filesz > 0 {
			off := s.Offset - (s.Vaddr + bias - start)
			if err := as.Map(mm.VMA{Start: start, End: fileMapEnd, Prot: prot, File: exe, Offset: off, Copy: true}); err != nil {
				return 0, fmt.Errorf("map segment at %#x: %w", start, err)
			}
			// The file page holding the end of the data continues as bss.
			if tail := fileMapEnd - fileEnd; tail > 0 && s.Memsz > s.Filesz {
				if err := as.Poke(fileEnd, make([]byte, tail)); err != nil {
					return 0, err
				}
			}
		} else {
			fileMapEnd = start
		}
		if memEnd > fileMapEnd {
			if err := as.Map(mm.VMA{Start: fileMapEnd, End: memEnd, Prot: prot}); err != nil {
				return 0, fmt.Errorf("map bss at %#x: %w", fileMapEnd, err)
			}
		}
		end = max(end, memEnd)
	}
	return end, nil
}

// buildStack writes strings, auxv, envp, argv and argc below StackTop and
// returns the initial stack pointer.
func buildStack(as *mm.AddressSpace, p *Params, img *Image, aux []uint64) (uint64, error) {
	sp := uint64(StackTop)
	push := func(b []byte) (uint64, error) {
		sp -= uint64(len(b))
		return sp, as.Write(sp, b)
	}
	pushStr := func(s string) (uint64, error) { return push(append([]byte(s), 0)) }
	execfn, err := pushStr(p.ExecFn)
	if err != nil {
		return 0, err
	}
	envp := make([]uint64, len(p.Envp))
	for i := len(p.Envp) - 1; i >= 0; i-- {
		if envp[i], err = pushStr(p.Envp[i]); err != nil {
			return 0, err
		}
	}
	argv := make([]uint64, len(p.Argv))
	for i := len(p.Argv) - 1; i >= 0; i-- {
		if argv[i], err = pushStr(p.Argv[i]); err != nil {
			return 0, err
		}
	}
	// The strings lie argv first, then envp, then execfn, upwards.
	img.ArgStart, img.ArgEnd, img.EnvEnd = sp, sp, execfn
	if len(argv) > 0 {
		img.ArgStart = argv[0]
	}
	img.EnvStart = execfn
	if len(envp) > 0 {
		img.EnvStart = envp[0]
	}
	img.ArgEnd = img.EnvStart
	platform, err := pushStr(p.Platform)
	if err != nil {
		return 0, err
	}
	random, err := push(p.Random[:])
	if err != nil {
		return 0, err
	}
	aux = append(aux, atPlatform, platform, atRandom, random, atExecFn, execfn)
	if p.VDSO != 0 {
		aux = append(aux, atSysinfoEHdr, p.VDSO)
	}
	aux = append(aux, atNull, 0)
	words := 1 + len(argv) + 1 + len(envp) + 1 + len(aux)
	sp &^= 15
	if words%2 == 1 {
		sp -= 8
	}
	sp -= uint64(words) * 8
	buf := make([]byte, 0, words*8)
	put := func(v uint64) { buf = binary.LittleEndian.AppendUint64(buf, v) }
	put(uint64(len(argv)))
	for _, a := range argv {
		put(a)
	}
	put(0)
	for _, e := range envp {
		put(e)
	}
	put(0)
	for _, a := range aux {
		put(a)
	}
	return sp, as.Write(sp, buf)
}

// Size implements mm.Backing.
func (e *Exe) Size() (int64, error) { return e.ELF.Size, nil }

// HostFD implements mm.Backing: the guest reads an executable's own pages
// (mapped privately, copied when written).
func (e *Exe) HostFD() int { return int(e.File.Fd()) }

// Writable implements mm.Backing.
func (e *Exe) Writable() bool { return false }
