package mm

import (
	"fmt"

	"github.com/elfuse/elfuse/arch/amd64"
)

// SetBrk moves the program break; it returns the new break, or the old one
// when the request cannot be met (as Linux does).
func (as *AddressSpace) setBrkL(newBrk uint64) uint64 {
	if newBrk < as.BrkStart {
		return as.Brk
	}
	oldEnd := pageUp(as.Brk)
	newEnd := pageUp(newBrk)
	switch {
	case newEnd > oldEnd:
		if !as.isFree(oldEnd, newEnd) {
			return as.Brk
		}
		if v := as.findL(oldEnd - 1); v != nil && v.Name == "[heap]" && v.End == oldEnd {
			v.End = newEnd
			if err := as.populate(v, oldEnd, newEnd); err != nil {
				v.End = oldEnd
				as.clearRange(oldEnd, newEnd)
				return as.Brk
			}
		} else if err := as.mapL(VMA{Start: oldEnd, End: newEnd, Prot: ProtRead | ProtWrite, Name: "[heap]"}); err != nil {
			return as.Brk
		}
	case newEnd < oldEnd:
		as.unmapL(newEnd, oldEnd)
	}
	as.Brk = newBrk
	return newBrk
}

func pageUp(v uint64) uint64 { return (v + PageSize - 1) &^ (PageSize - 1) }

// Remap implements mremap: resize the mapping at old (oldLen bytes) to
// newLen, in place if it can, else moved to dst (when fixed) or to a free
// range (when mayMove). It returns the new address.
func (as *AddressSpace) remapL(old, oldLen, newLen uint64, mayMove, fixed bool, dst uint64) (uint64, error) {
	v := as.findL(old)
	if v == nil || old+oldLen > v.End {
		return 0, fmt.Errorf("mm: mremap of unmapped %#x: %w", old, ErrFault)
	}
	defer as.merge()
	if !fixed && newLen <= oldLen {
		as.unmapL(old+newLen, old+oldLen)
		return old, nil
	}
	if !fixed && old+oldLen == v.End && as.isFree(v.End, old+newLen) && old+newLen <= UserLimit {
		oldEnd := v.End
		v.End = old + newLen
		if v.Lazy || v.Prot == 0 {
			return old, nil
		}
		return old, as.populate(v, oldEnd, v.End)
	}
	if !mayMove {
		return 0, ErrNoMemory
	}
	if !fixed {
		var ok bool
		// Keep the offset within a 2 MiB page so huge entries can move whole.
		dst, ok = as.freeRangeL(0, newLen+2*HugeSize)
		if !ok {
			return 0, ErrNoMemory
		}
		dst = (dst+HugeSize-1)&^(HugeSize-1) + old&(HugeSize-1)
	} else {
		as.unmapL(dst, dst+newLen)
	}
	as.split(old)
	as.split(old + oldLen)
	moved := *as.findL(old)
	moveLen := oldLen
	if newLen < oldLen {
		moveLen = newLen
	}
	if err := as.moveEntries(old, dst, moveLen); err != nil {
		return 0, err
	}
	as.unmapL(old, old+oldLen)
	moved.Start, moved.End = dst, dst+newLen
	if moved.File != nil {
		// Offset of the first page is unchanged.
	}
	as.insert(&moved)
	if newLen > moveLen && !moved.Lazy && moved.Prot != 0 {
		return dst, as.populate(as.findL(dst), dst+moveLen, dst+newLen)
	}
	return dst, nil
}

// moveEntries moves the frames mapped at [src, src+n) to dst.
func (as *AddressSpace) moveEntries(src, dst, n uint64) error {
	for off := uint64(0); off < n; {
		va := src + off
		e, l := as.pt.lookup(va)
		switch l {
		case 0:
			if ml := as.pt.missingLevel(va); ml == 1 {
				if e&addrMask != 0 {
					if err := as.pt.set(dst+off, 1, e); err != nil {
						return err
					}
					if err := as.pt.set(va, 1, 0); err != nil {
						return err
					}
				}
				off += PageSize
			} else {
				off = nextBoundary(va, ml) - src
			}
		case 2:
			if va%HugeSize == 0 && (dst+off)%HugeSize == 0 && n-off >= HugeSize && as.hugeFree(dst+off) {
				if err := as.pt.set(dst+off, 2, e); err != nil {
					return err
				}
				if err := as.pt.set(va, 2, 0); err != nil {
					return err
				}
				off += HugeSize
				continue
			}
			if err := as.pt.splitHuge(va); err != nil {
				return err
			}
		case 1:
			if err := as.pt.set(dst+off, 1, e&^amd64.PTEHuge); err != nil {
				return err
			}
			if err := as.pt.set(va, 1, 0); err != nil {
				return err
			}
			off += PageSize
		}
	}
	return nil
}
