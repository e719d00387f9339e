/* fcntl record locks between guest processes: F_SETLK/F_SETLKW/F_GETLK
 * between a parent and forked children (conflicts, the holder's pid,
 * merging and splitting, whence, release at exit and at close, a wait
 * ended by an unlock, EINTR, EDEADLK), and OFD locks (F_OFD_*), which
 * belong to the open file description. */
#include "proc.h"

#ifndef F_OFD_GETLK
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#define F_OFD_SETLKW 38
#endif

static int lk(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = whence;
	fl.l_start = start;
	fl.l_len = len;
	return fcntl(fd, cmd, &fl);
}

/* getlk asks about a lock of type over [start, start+len) and returns the
 * answer in *out. */
static int getlk(int fd, int cmd, short type, off_t start, off_t len, struct flock *out)
{
	memset(out, 0, sizeof *out);
	out->l_type = type;
	out->l_whence = SEEK_SET;
	out->l_start = start;
	out->l_len = len;
	return fcntl(fd, cmd, out);
}

static const char *ename(int e)
{
	return e == EDEADLK ? "EDEADLK" : errname(e);
}

static const char *tname(int t)
{
	return t == F_RDLCK ? "RD" : t == F_WRLCK ? "WR" : t == F_UNLCK ? "UN" : "?";
}

/* sync pipes: the child writes a byte when it reached a point. */
static int pfd[2], cfd[2];
static void tell(int fd) { char c = 1; if (write(fd, &c, 1) != 1) _exit(90); }
static void await(int fd) { char c; if (read(fd, &c, 1) != 1) _exit(91); }

static volatile int alarms;
static void on_alrm(int s) { (void)s; alarms++; }

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	char buf[200];
	memset(buf, 'x', sizeof buf);
	check(fd >= 0 && write(fd, buf, sizeof buf) == sizeof buf, "file of 200 bytes");
	struct flock fl;

	/* Argument errors. */
	errno = 0;
	expect_err(lk(fd, F_SETLK, 7, SEEK_SET, 0, 1), EINVAL, "F_SETLK bad type");
	expect_err(lk(fd, F_SETLK, F_WRLCK, 9, 0, 1), EINVAL, "F_SETLK bad whence");
	expect_err(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, -5, 1), EINVAL, "F_SETLK negative start");
	expect_err(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 2, -5), EINVAL, "F_SETLK length before 0");
	expect_err(getlk(fd, F_GETLK, F_UNLCK, 0, 1, &fl), EINVAL, "F_GETLK with F_UNLCK");
	expect_err(lk(99, F_SETLK, F_WRLCK, SEEK_SET, 0, 1), EBADF, "F_SETLK bad fd");
	int ro = open("f", O_RDONLY), wo = open("f", O_WRONLY);
	expect_err(lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1), EBADF, "write lock on a read-only fd");
	expect_err(lk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1), EBADF, "read lock on a write-only fd");
	check(getlk(ro, F_GETLK, F_WRLCK, 0, 1, &fl) == 0 && fl.l_type == F_UNLCK, "F_GETLK on a read-only fd for a write lock: none");
	close(ro);
	close(wo);

	/* Own locks never conflict; a lock of the same process replaces. */
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10) == 0, "write lock [0,10)");
	check(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 5, 10) == 0, "read lock [5,15) over own write lock");
	check(getlk(fd, F_GETLK, F_WRLCK, 0, 100, &fl) == 0 && fl.l_type == F_UNLCK, "F_GETLK sees no conflict with own locks");

	pipe(pfd);
	pipe(cfd);
	pid_t parent = getpid();
	pid_t c = xfork();
	if (c == 0) {
		check(getlk(fd, F_GETLK, F_WRLCK, 0, 100, &fl) == 0, "child F_GETLK");
		check(fl.l_type == F_WRLCK && fl.l_start == 0 && fl.l_len == 5 && fl.l_whence == SEEK_SET,
		      "child sees parent's write lock [0,5): %s %ld %ld", tname(fl.l_type), (long)fl.l_start, (long)fl.l_len);
		check(fl.l_pid == parent, "the holder is the parent");
		check(getlk(fd, F_GETLK, F_RDLCK, 5, 100, &fl) == 0 && fl.l_type == F_UNLCK, "read lock over [5,105) would not conflict");
		check(getlk(fd, F_GETLK, F_WRLCK, 8, 2, &fl) == 0 && fl.l_type == F_RDLCK && fl.l_start == 5 && fl.l_len == 10 &&
		      fl.l_pid == parent, "write lock over [8,10) meets the read lock [5,15): %s %ld %ld", tname(fl.l_type),
		      (long)fl.l_start, (long)fl.l_len);
		errno = 0;
		expect_err(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1), EAGAIN, "child F_SETLK on the parent's range");
		check(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 6, 4) == 0, "child shares a read lock [6,10)");
		check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, 10) == 0, "child write lock [20,30)");
		check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 30, 10) == 0, "child write lock [30,40) (merges)");
		tell(cfd[1]);
		await(pfd[0]);
		child_exit(0);
	}
	await(cfd[0]);
	check(getlk(fd, F_GETLK, F_WRLCK, 16, 100, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_start == 20 && fl.l_len == 20,
	      "parent sees the child's merged lock [20,40): %s %ld %ld", tname(fl.l_type), (long)fl.l_start, (long)fl.l_len);
	check(fl.l_pid == c, "the holder is the child");
	expect_err(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 25, 1), EAGAIN, "parent F_SETLK on the child's range");
	expect_err(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 7, 1), EAGAIN, "parent cannot upgrade over the child's read lock");
	tell(pfd[1]);
	expect_status(c, "exit 0", "child");
	/* The child's exit released its locks. */
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, 20) == 0, "after the child's exit its range is free");
	check(lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0) == 0, "unlock everything");

	/* Splitting, whence, negative lengths. */
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 30) == 0 && lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 10, 10) == 0,
	      "lock [0,30), unlock [10,20)");
	lseek(fd, 100, SEEK_SET);
	check(lk(fd, F_SETLK, F_RDLCK, SEEK_CUR, -10, 5) == 0, "SEEK_CUR lock [90,95)");
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_END, -20, -10) == 0, "SEEK_END lock with negative length [170,180)");
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 190, 0) == 0, "lock to EOF from 190");
	c = xfork();
	if (c == 0) {
		off_t at = 0;
		for (int i = 0; i < 6; i++) {
			if (getlk(fd, F_GETLK, F_WRLCK, at, 0, &fl) != 0 || fl.l_type == F_UNLCK) {
				printf("ok no more locks after %ld\n", (long)at);
				break;
			}
			check(fl.l_pid == parent, "held by the parent");
			printf("ok lock %s start %ld len %ld\n", tname(fl.l_type), (long)fl.l_start, (long)fl.l_len);
			if (fl.l_len == 0)
				break;
			at = fl.l_start + fl.l_len;
		}
		child_exit(0);
	}
	expect_status(c, "exit 0", "lister child");
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

	/* F_SETLKW waits until the holder unlocks. */
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0, "parent locks byte 0");
	c = xfork();
	if (c == 0) {
		tell(cfd[1]);
		long t0 = now_ms();
		int rc = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
		check(rc == 0, "child F_SETLKW got the lock after the unlock");
		check(now_ms() - t0 >= 50, "child waited");
		child_exit(0);
	}
	await(cfd[0]);
	sleep_ms(150);
	int urc = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
	expect_status(c, "exit 0", "waiting child");
	check(urc == 0, "parent unlocked byte 0");

	/* A signal ends the wait: EINTR without SA_RESTART. */
	c = xfork();
	if (c == 0) {
		check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0, "child locks byte 0");
		tell(cfd[1]);
		await(pfd[0]);
		child_exit(0);
	}
	await(cfd[0]);
	set_handler(SIGALRM, on_alrm, 0);
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	expect_err(lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1), EINTR, "F_SETLKW interrupted by SIGALRM");
	check(alarms == 1, "the handler ran");
	tell(pfd[1]);
	expect_status(c, "exit 0", "holding child");

	/* Deadlock: the child holds B and waits for A; the parent, holding A,
	 * asking for B would wait for ever. */
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0, "parent locks A");
	c = xfork();
	if (c == 0) {
		check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1) == 0, "child locks B");
		tell(cfd[1]);
		check(lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1) == 0, "child gets A once the parent lets it go");
		child_exit(0);
	}
	await(cfd[0]);
	sleep_ms(150);
	errno = 0;
	int rc = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1);
	check(rc == -1 && errno == EDEADLK, "parent F_SETLKW on B: %s", rc == 0 ? "locked" : ename(errno));
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
	expect_status(c, "exit 0", "deadlock child");

	/* Closing any fd of the file drops the process's locks. */
	int fd2 = open("f", O_RDONLY);
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0, "parent locks byte 0 again");
	c = xfork();
	if (c == 0) {
		expect_err(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1), EAGAIN, "child: byte 0 held");
		tell(cfd[1]);
		await(pfd[0]);
		check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0, "child: free after the parent closed another fd");
		child_exit(0);
	}
	await(cfd[0]);
	close(fd2);
	tell(pfd[1]);
	expect_status(c, "exit 0", "close child");

	/* OFD locks belong to the open file description. */
	int a = open("f", O_RDWR), b = open("f", O_RDWR);
	check(lk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10) == 0, "OFD write lock [0,10) on a");
	errno = 0;
	expect_err(lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1), EAGAIN, "OFD lock on b conflicts with a's");
	check(getlk(b, F_OFD_GETLK, F_RDLCK, 0, 0, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == -1 && fl.l_len == 10,
	      "F_OFD_GETLK reports a's lock with pid -1");
	check(getlk(b, F_GETLK, F_RDLCK, 0, 0, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == -1,
	      "F_GETLK from the same process conflicts with the OFD lock");
	expect_err(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 1), EAGAIN, "POSIX lock of the same process conflicts too");
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_RDLCK;
	fl.l_len = 1;
	fl.l_pid = 5;
	expect_err(fcntl(b, F_OFD_SETLK, &fl), EINVAL, "F_OFD_SETLK with l_pid set");
	int dupa = dup(a);
	c = xfork();
	if (c == 0) {
		/* The child's copy of a shares the description: same owner. */
		check(lk(a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 20) == 0, "child extends the OFD lock through inherited a");
		child_exit(0);
	}
	expect_status(c, "exit 0", "OFD child");
	check(getlk(b, F_OFD_GETLK, F_WRLCK, 15, 1, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_len == 20,
	      "the child's change shows: len %ld", (long)fl.l_len);
	close(a);
	expect_err(lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 1), EAGAIN, "still held through the dup");
	close(dupa);
	check(lk(b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 1) == 0, "free once the description is closed");
	/* A POSIX lock seen through F_OFD_GETLK names its process. */
	check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 100, 1) == 0, "POSIX lock at 100");
	check(getlk(b, F_OFD_GETLK, F_WRLCK, 100, 1, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == getpid(),
	      "F_OFD_GETLK names the POSIX holder");
	/* F_OFD_SETLKW waits for a child's POSIX lock to go with the child. */
	c = xfork();
	if (c == 0) {
		lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
		check(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 150, 1) == 0, "child locks 150");
		tell(cfd[1]);
		sleep_ms(100);
		child_exit(0);
	}
	await(cfd[0]);
	check(lk(b, F_OFD_SETLKW, F_WRLCK, SEEK_SET, 150, 1) == 0, "F_OFD_SETLKW got 150 after the child ended");
	expect_status(c, "exit 0", "POSIX child");
	close(b);
	close(fd);
	return finish();
}
