/* Event fds: timerfd (relative, absolute, periodic, gettime, disarm,
 * non-blocking EAGAIN, errors), eventfd (counter, semaphore, non-blocking,
 * overflow), signalfd (raise, sigqueue value, thread-directed, poll and
 * epoll readiness, mask update, errors), inotify (create, modify, move
 * with a shared cookie, delete, rm_watch's IN_IGNORED, errors), all of them
 * watched together by epoll. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

static void timerfd(void)
{
	int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	expect_ok(t, "timerfd_create monotonic");
	struct itimerspec its = {{0, 0}, {0, 150 * 1000 * 1000}}, cur;
	expect_ok(timerfd_settime(t, 0, &its, NULL), "arm 150 ms one-shot");
	check(timerfd_gettime(t, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 &&
		      cur.it_value.tv_nsec <= 150 * 1000 * 1000 && cur.it_interval.tv_nsec == 0,
	      "gettime shows time left");
	uint64_t n = 0;
	check(read(t, &n, sizeof n) == 8 && n == 1, "blocking read: one expiration");
	check(timerfd_gettime(t, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0, "disarmed after firing");

	/* periodic */
	its.it_interval.tv_nsec = 10 * 1000 * 1000;
	its.it_value.tv_nsec = 10 * 1000 * 1000;
	timerfd_settime(t, 0, &its, NULL);
	struct timespec ts = {0, 75 * 1000 * 1000};
	nanosleep(&ts, NULL);
	check(read(t, &n, sizeof n) == 8 && n >= 5, "periodic: several expirations in one read");
	struct itimerspec old;
	struct itimerspec zero = {{0, 0}, {0, 0}};
	check(timerfd_settime(t, 0, &zero, &old) == 0 && old.it_interval.tv_nsec == 10 * 1000 * 1000, "disarm returns old interval");

	/* absolute, realtime, non-blocking */
	int r = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	expect_err(read(r, &n, sizeof n), EAGAIN, "unarmed non-blocking read");
	struct timespec now;
	/* the system call, not the vDSO: this checks timerfd, not the vDSO's clock */
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &now);
	struct itimerspec abs = {{0, 0}, {now.tv_sec, now.tv_nsec}};
	abs.it_value.tv_nsec += 30 * 1000 * 1000;
	if (abs.it_value.tv_nsec >= 1000000000) {
		abs.it_value.tv_sec++;
		abs.it_value.tv_nsec -= 1000000000;
	}
	expect_ok(timerfd_settime(r, TFD_TIMER_ABSTIME, &abs, NULL), "arm absolute realtime");
	struct pollfd p = {r, POLLIN, 0};
	check(poll(&p, 1, 5000) == 1 && p.revents == POLLIN, "poll sees expiration");
	check(read(r, &n, sizeof n) == 8 && n == 1, "absolute timer fired once");
	/* an absolute time in the past fires at once */
	abs.it_value.tv_sec = 1;
	abs.it_value.tv_nsec = 0;
	timerfd_settime(r, TFD_TIMER_ABSTIME, &abs, NULL);
	check(read(r, &n, sizeof n) == 8 && n == 1, "past absolute time fires at once");
	expect_err(read(r, &n, 4), EINVAL, "short read");
	close(r);
	close(t);

	expect_err(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL, "timerfd on a cpu clock");
	expect_err(timerfd_create(CLOCK_MONOTONIC, 0x1000), EINVAL, "timerfd bad flags");
	int f = open(".", O_RDONLY);
	expect_err(timerfd_settime(f, 0, &its, NULL), EINVAL, "settime on a non-timerfd");
	close(f);
	t = timerfd_create(CLOCK_MONOTONIC, 0);
	its.it_value.tv_nsec = 1000000000;
	expect_err(timerfd_settime(t, 0, &its, NULL), EINVAL, "settime nsec out of range");
	expect_err(timerfd_settime(t, 99, &zero, NULL), EINVAL, "settime bad flags");
	close(t);
}

static void eventfd_(void)
{
	int e = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t v = 0;
	check(read(e, &v, 8) == 8 && v == 3, "eventfd initial value");
	expect_err(read(e, &v, 8), EAGAIN, "eventfd empty");
	v = 5;
	write(e, &v, 8);
	v = 7;
	write(e, &v, 8);
	check(read(e, &v, 8) == 8 && v == 12, "eventfd sums writes");
	v = UINT64_MAX;
	expect_err(write(e, &v, 8), EINVAL, "eventfd write of all ones");
	v = UINT64_MAX - 1;
	check(write(e, &v, 8) == 8, "eventfd write max");
	v = 1;
	expect_err(write(e, &v, 8), EAGAIN, "eventfd overflow would block");
	close(e);
	int s = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	check(read(s, &v, 8) == 8 && v == 1 && read(s, &v, 8) == 8 && v == 1, "semaphore reads one at a time");
	expect_err(read(s, &v, 8), EAGAIN, "semaphore empty");
	close(s);
	expect_err(eventfd(0, 0x10), EINVAL, "eventfd bad flags");
}

static void *tkill_self(void *arg)
{
	(void)arg;
	return NULL;
}

static void signalfd_(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int s = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
	expect_ok(s, "signalfd create");
	struct signalfd_siginfo si;
	expect_err(read(s, &si, sizeof si), EAGAIN, "nothing pending");
	struct pollfd p = {s, POLLIN, 0};
	check(poll(&p, 1, 0) == 0, "poll: not readable");
	raise(SIGUSR1);
	check(poll(&p, 1, 1000) == 1 && p.revents == POLLIN, "poll: readable after raise");
	check(read(s, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1 && si.ssi_code == SI_TKILL &&
		      si.ssi_pid == (uint32_t)getpid() && si.ssi_uid == getuid(),
	      "read SIGUSR1 from raise (signo, SI_TKILL, pid, uid)");
	sigset_t pend;
	sigpending(&pend);
	check(!sigismember(&pend, SIGUSR1), "no longer pending");

	union sigval val = {.sival_int = 4242};
	sigqueue(getpid(), SIGRTMIN, val);
	sigqueue(getpid(), SIGRTMIN, (union sigval){.sival_int = 4343});
	struct signalfd_siginfo two[2];
	ssize_t n = read(s, two, sizeof two);
	check(n == 2 * sizeof si && two[0].ssi_signo == (uint32_t)SIGRTMIN && two[0].ssi_code == SI_QUEUE &&
		      two[0].ssi_int == 4242 && two[1].ssi_int == 4343,
	      "two queued real-time signals with values in one read");

	/* epoll */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xfeedface12345678ULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	struct epoll_event out;
	check(epoll_wait(ep, &out, 1, 0) == 0, "epoll: nothing yet");
	kill(getpid(), SIGUSR2);
	check(epoll_wait(ep, &out, 1, 1000) == 1 && out.data.u64 == 0xfeedface12345678ULL, "epoll sees SIGUSR2");
	check(read(s, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2 && si.ssi_code == SI_USER, "read SIGUSR2 from kill (SI_USER)");

	/* mask update: SIGUSR2 no longer goes to the signalfd */
	sigset_t only1;
	sigemptyset(&only1);
	sigaddset(&only1, SIGUSR1);
	check(signalfd(s, &only1, 0) == s, "signalfd mask update returns the fd");
	raise(SIGUSR2);
	expect_err(read(s, &si, sizeof si), EAGAIN, "SIGUSR2 not read after mask update");
	sigpending(&pend);
	check(sigismember(&pend, SIGUSR2), "SIGUSR2 stays pending");
	struct timespec zero = {0, 0};
	siginfo_t info;
	check(sigtimedwait(&m, &info, &zero) == SIGUSR2, "sigtimedwait takes it");

	/* a signal to one thread */
	pthread_t th;
	pthread_create(&th, NULL, tkill_self, NULL);
	pthread_join(th, NULL);
	pthread_kill(pthread_self(), SIGUSR1);
	check(read(s, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1 && si.ssi_code == SI_TKILL, "thread-directed signal read");

	int f = open(".", O_RDONLY);
	expect_err(signalfd(f, &m, 0), EINVAL, "signalfd on a non-signalfd fd");
	close(f);
	expect_err(syscall(SYS_signalfd4, -1, &m, 4, 0), EINVAL, "signalfd4 bad size");
	expect_err(signalfd(-1, &m, 0x10), EINVAL, "signalfd bad flags");
	close(ep);
	close(s);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
}

static void inotify(void)
{
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	expect_ok(in, "inotify_init1");
	mkdir("watched", 0755);
	int wd = inotify_add_watch(in, "watched", IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE);
	expect_ok(wd, "add watch on a directory");
	char buf[4096];
	expect_err(read(in, buf, sizeof buf), EAGAIN, "no events yet");
	int fd = open("watched/a.txt", O_CREAT | O_WRONLY, 0644);
	write(fd, "x", 1);
	close(fd);
	rename("watched/a.txt", "watched/b.txt");
	unlink("watched/b.txt");
	struct pollfd p = {in, POLLIN, 0};
	check(poll(&p, 1, 1000) == 1, "poll: events ready");
	ssize_t n = read(in, buf, sizeof buf);
	uint32_t cookie_from = 0, cookie_to = 0;
	for (char *q = buf; q < buf + n;) {
		struct inotify_event *e = (struct inotify_event *)q;
		printf("event wd_ok=%d", e->wd == wd);
		if (e->mask & IN_CREATE)
			printf(" CREATE");
		if (e->mask & IN_MODIFY)
			printf(" MODIFY");
		if (e->mask & IN_CLOSE_WRITE)
			printf(" CLOSE_WRITE");
		if (e->mask & IN_MOVED_FROM) {
			printf(" MOVED_FROM");
			cookie_from = e->cookie;
		}
		if (e->mask & IN_MOVED_TO) {
			printf(" MOVED_TO");
			cookie_to = e->cookie;
		}
		if (e->mask & IN_DELETE)
			printf(" DELETE");
		printf(" %s\n", e->len ? e->name : "");
		q += sizeof *e + e->len;
	}
	check(cookie_from != 0 && cookie_from == cookie_to, "rename pair shares a cookie");
	expect_ok(inotify_rm_watch(in, wd), "rm_watch");
	n = read(in, buf, sizeof buf);
	check(n >= (ssize_t)sizeof(struct inotify_event) && (((struct inotify_event *)buf)->mask & IN_IGNORED), "IN_IGNORED after rm_watch");
	expect_err(inotify_rm_watch(in, wd), EINVAL, "rm_watch twice");
	expect_err(inotify_add_watch(in, "missing", IN_CREATE), ENOENT, "watch a missing path");
	expect_err(inotify_add_watch(in, "watched", 0), EINVAL, "watch with an empty mask");
	write_file("file", "", 0);
	expect_err(inotify_add_watch(in, "file", IN_CREATE | IN_ONLYDIR), ENOTDIR, "IN_ONLYDIR on a file");
	symlink("watched", "wlink");
	check(inotify_add_watch(in, "wlink", IN_CREATE | IN_DONT_FOLLOW) >= 0, "IN_DONT_FOLLOW watches the link");
	close(in);
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	timerfd();
	eventfd_();
	signalfd_();
	inotify();
	return finish();
}
