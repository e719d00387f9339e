package syscall

// Linux errno values (the same on every Linux architecture elfuse serves).
const (
	EPERM        = 1
	ENOENT       = 2
	ESRCH        = 3
	EINTR        = 4
	EIO          = 5
	ENXIO        = 6
	E2BIG        = 7
	ENOEXEC      = 8
	EBADF        = 9
	ECHILD       = 10
	EAGAIN       = 11
	ENOMEM       = 12
	EACCES       = 13
	EFAULT       = 14
	EBUSY        = 16
	EEXIST       = 17
	ENOTDIR      = 20
	EISDIR       = 21
	EINVAL       = 22
	ENFILE       = 23
	EMFILE       = 24
	ENOTTY       = 25
	ESPIPE       = 29
	EROFS        = 30
	ERANGE       = 34
	ENAMETOOLONG = 36
	ENOSYS       = 38
	ENOTEMPTY    = 39
	ELOOP        = 40
)

// Linux open flags (amd64 values).
const (
	oAccMode   = 3
	oCreat     = 0o100
	oExcl      = 0o200
	oNoctty    = 0o400
	oTrunc     = 0o1000
	oAppend    = 0o2000
	oNonblock  = 0o4000
	oDsync     = 0o10000
	oAsync     = 0o20000
	oDirect    = 0o40000
	oLargefile = 0o100000
	oDirectory = 0o200000
	oNofollow  = 0o400000
	oNoatime   = 0o1000000
	oCloexec   = 0o2000000
	oSync      = 0o4010000
	oPath      = 0o10000000
	oTmpfile   = 0o20200000
)

// Linux *at flags and special values.
const (
	atFDCWD           = -100
	atSymlinkNofollow = 0x100
	atRemovedir       = 0x200
	atSymlinkFollow   = 0x400
	atEaccess         = 0x200
	atEmptyPath       = 0x1000
	atNoAutomount     = 0x800
	atStatxSyncType   = 0x6000
)

// Linux mmap values.
const (
	protRead      = 1
	protWrite     = 2
	protExec      = 4
	protGrowsDown = 0x01000000
	protGrowsUp   = 0x02000000

	mapShared         = 0x01
	mapPrivate        = 0x02
	mapSharedValidate = 0x03
	mapType           = 0x0f
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapGrowsDown      = 0x0100
	mapDenyWrite      = 0x0800
	mapExecutable     = 0x1000
	mapLocked         = 0x2000
	mapNoreserve      = 0x4000
	mapPopulate       = 0x8000
	mapNonblock       = 0x10000
	mapStack          = 0x20000
	mapHugetlb        = 0x40000
	mapSync           = 0x80000
	mapFixedNoreplace = 0x100000

	mremapMaymove   = 1
	mremapFixed     = 2
	mremapDontunmap = 4

	madvNormal     = 0
	madvRandom     = 1
	madvSequential = 2
	madvWillneed   = 3
	madvDontneed   = 4
	madvFree       = 8
)

// Linux signal numbers.
const (
	SIGHUP   = 1
	SIGINT   = 2
	SIGQUIT  = 3
	SIGILL   = 4
	SIGTRAP  = 5
	SIGABRT  = 6
	SIGBUS   = 7
	SIGFPE   = 8
	SIGKILL  = 9
	SIGUSR1  = 10
	SIGSEGV  = 11
	SIGUSR2  = 12
	SIGPIPE  = 13
	SIGALRM  = 14
	SIGTERM  = 15
	SIGCHLD  = 17
	SIGCONT  = 18
	SIGSTOP  = 19
	SIGTSTP  = 20
	SIGTTIN  = 21
	SIGURG   = 23
	SIGWINCH = 28
	NSIG     = 64
)
