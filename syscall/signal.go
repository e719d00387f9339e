//go:build linux && amd64

package syscall

// Signal numbers whose default action is to ignore them.
var defaultIgnored = map[int]bool{SIGCHLD: true, SIGURG: true, SIGCONT: true, 28 /* SIGWINCH */ : true}

// Stop signals: job control is not modelled yet, so they are ignored.
var stopSignals = map[int]bool{SIGSTOP: true, 20: true, 21: true, 22: true}

const (
	sigDfl = 0
	sigIgn = 1
)

// sendSelf delivers sig to the calling thread's process. Default actions
// happen at once; a signal with a handler stays pending (handler delivery
// comes with the processes work).
func (t *Thread) sendSelf(sig int) int64 {
	if sig == 0 {
		return 0
	}
	if sig < 0 || sig > NSIG {
		return -EINVAL
	}
	act := t.proc.actions[sig-1]
	bit := uint64(1) << (sig - 1)
	switch {
	case sig == SIGKILL:
		t.die(sig)
	case act.handler == sigIgn, act.handler == sigDfl && (defaultIgnored[sig] || stopSignals[sig]):
	case t.sigmask&bit != 0 || act.handler != sigDfl:
		t.pending |= bit
	default:
		t.die(sig)
	}
	return 0
}

// checkPending acts on pending signals that became unblocked.
func (t *Thread) checkPending() {
	for sig := 1; sig <= NSIG && !t.done; sig++ {
		bit := uint64(1) << (sig - 1)
		if t.pending&bit == 0 || t.sigmask&bit != 0 {
			continue
		}
		act := t.proc.actions[sig-1]
		if act.handler == sigDfl {
			t.pending &^= bit
			t.sendSelf(sig)
		}
	}
}

func sysKill(t *Thread, a *[6]uint64) int64 {
	pid := int32(a[0])
	if pid != int32(t.proc.pid) && pid != 0 && pid != -1 && pid != -int32(t.proc.pgid) {
		return -ESRCH
	}
	return t.sendSelf(int(a[1]))
}

func sysTgkill(t *Thread, a *[6]uint64) int64 {
	if int32(a[0]) <= 0 || int32(a[1]) <= 0 {
		return -EINVAL
	}
	if int(a[0]) != t.proc.pid || int(a[1]) != t.tid {
		return -ESRCH
	}
	return t.sendSelf(int(a[2]))
}

func sysTkill(t *Thread, a *[6]uint64) int64 {
	if int32(a[0]) <= 0 {
		return -EINVAL
	}
	if int(a[0]) != t.tid {
		return -ESRCH
	}
	return t.sendSelf(int(a[1]))
}

func sysRtSigpending(t *Thread, a *[6]uint64) int64 {
	if a[1] > 8 {
		return -EINVAL
	}
	return t.putU64(a[0], t.pending&t.sigmask)
}
