//go:build linux && amd64

package syscall

import (
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv/kvm"
	"github.com/elfuse/elfuse/loader"
	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// vdso is the sandbox's vDSO: one code frame and one data (vvar) frame
// mapped into every process, and the clock calibration the host keeps in it.
type vdso struct {
	code, data uint64 // physical frames
	clock      amd64.VvarClock
	valid      bool
	calMono    int64  // host CLOCK_MONOTONIC of the last calibration
	calTSC     uint64 // guest TSC then
	next       time.Time
}

func (sb *Sandbox) setupVDSO() error {
	code, err := sb.phys.Alloc(false)
	if err != nil {
		return err
	}
	copy(sb.phys.Page(code), amd64.VDSOImage())
	data, err := sb.phys.Alloc(false)
	if err != nil {
		return err
	}
	sb.vdso = &vdso{code: code, data: data}
	return nil
}

// mapVDSO maps the vDSO into a process and returns its address.
func (sb *Sandbox) mapVDSO(as *mm.AddressSpace) (uint64, error) {
	if err := as.MapFrame(loader.VDSOBase-mm.PageSize, sb.vdso.data, mm.ProtRead, "[vvar]"); err != nil {
		return 0, err
	}
	if err := as.MapFrame(loader.VDSOBase, sb.vdso.code, mm.ProtRead|mm.ProtExec, "[vdso]"); err != nil {
		return 0, err
	}
	return loader.VDSOBase, nil
}

func clockNS(id int32) int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(id, &ts)
	return ts.Nano()
}

// calibrate ties the guest TSC, read on cpu, to the host clocks and
// publishes the result for the vDSO. The rate comes from KVM at first and
// from measurement once a second has passed; CLOCK_MONOTONIC never steps back.
func (sb *Sandbox) calibrate(cpu *kvm.VCPU) {
	v := sb.vdso
	// The clocks are read before the TSC, so the vDSO may lag the host's
	// clocks by the read's few microseconds but never runs ahead of them:
	// a system call after a vDSO read never sees an earlier time. The read
	// is retried when something (a preemption) made it slow.
	var tsc uint64
	var err error
	var real, boot, mono int64
	for try := 0; try < 5; try++ {
		real = clockNS(unix.CLOCK_REALTIME)
		boot = clockNS(unix.CLOCK_BOOTTIME)
		mono = clockNS(unix.CLOCK_MONOTONIC)
		tsc, err = cpu.ReadTSC()
		if err != nil || clockNS(unix.CLOCK_MONOTONIC)-mono < 50000 {
			break
		}
	}
	if err != nil {
		amd64.WriteVvar(sb.phys.Page(v.data), v.clock, false)
		return
	}
	// KVM states the TSC rate to the kHz, better than a measurement over
	// a second could; only without it is the rate measured, over 10 s.
	freq := float64(cpu.TSCFrequency())
	if freq == 0 && v.calMono != 0 && mono-v.calMono > 1e10 && tsc > v.calTSC {
		freq = float64(tsc-v.calTSC) * 1e9 / float64(mono-v.calMono)
	}
	if freq <= 0 {
		amd64.WriteVvar(sb.phys.Page(v.data), v.clock, false)
		return
	}
	c := amd64.VvarClock{TSCBase: tsc, Mult: uint64(1e9 * 4294967296 / freq), RealBase: real, MonoBase: mono, BootBase: boot}
	if v.valid {
		// What the old calibration says now must not be ahead of the new one.
		d := int64((uint64(tsc-v.clock.TSCBase) >> 16) * (v.clock.Mult >> 16))
		if old := v.clock.MonoBase + d; old > c.MonoBase {
			c.BootBase += old - c.MonoBase
			c.MonoBase = old
		}
	}
	if v.calMono == 0 {
		v.calMono, v.calTSC = mono, tsc
	}
	v.clock, v.valid = c, true
	amd64.WriteVvar(sb.phys.Page(v.data), c, true)
	v.next = time.Now().Add(time.Second)
}
