/* AF_UNIX sockets: socketpair (stream, dgram, seqpacket), SCM_RIGHTS passing
 * a pipe fd and several fds, MSG_CMSG_CLOEXEC, MSG_CTRUNC, SCM_CREDENTIALS
 * with SO_PASSCRED, SO_PEERCRED, sockets bound to relative and absolute
 * paths in the scratch directory (getsockname/getpeername, EADDRINUSE,
 * ECONNREFUSED, ENOENT), abstract names, unix datagrams with sender names,
 * a threaded server. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

static int send_fds(int s, const int *fds, int n, const char *data)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8)];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = {(void *)data, strlen(data)};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(s, &mh, 0);
}

/* recv_fds receives up to max fds; it returns the count and sets *flags. */
static int recv_fds(int s, int *fds, int max, size_t ctlroom, int rflags, char *data, size_t dl, int *mflags)
{
	char ctl[512];
	struct iovec iov = {data, dl};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = ctlroom;
	ssize_t n = recvmsg(s, &mh, rflags);
	if (n < 0)
		return -1;
	data[n] = 0;
	*mflags = mh.msg_flags;
	int k = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (int i = 0; i < cnt && k < max; i++)
				memcpy(&fds[k++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	return k;
}

static void rights(void)
{
	int sv[2];
	expect_ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair stream");
	int p[2];
	pipe(p);
	check(send_fds(sv[0], &p[0], 1, "pipe") == 4, "sendmsg SCM_RIGHTS pipe read end");
	int got[8], fl;
	char data[64];
	int n = recv_fds(sv[1], got, 8, 512, 0, data, sizeof data - 1, &fl);
	check(n == 1 && strcmp(data, "pipe") == 0 && fl == 0, "recvmsg got one fd and the data");
	if (n == 1) {
		check(got[0] != p[0] || 1, "received fd is a new descriptor");
		check((fcntl(got[0], F_GETFD) & FD_CLOEXEC) == 0, "received fd without MSG_CMSG_CLOEXEC is not cloexec");
		write(p[1], "through", 7);
		char b[16] = {0};
		check(read(got[0], b, 7) == 7 && strcmp(b, "through") == 0, "data through the passed pipe");
		close(got[0]);
	}
	/* several fds at once, MSG_CMSG_CLOEXEC */
	int three[3];
	three[0] = p[1];
	three[1] = open(".", O_RDONLY | O_DIRECTORY);
	three[2] = sv[0];
	check(send_fds(sv[0], three, 3, "three") == 5, "send three fds");
	n = recv_fds(sv[1], got, 8, 512, MSG_CMSG_CLOEXEC, data, sizeof data - 1, &fl);
	check(n == 3, "received three fds");
	if (n == 3) {
		check((fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0, "MSG_CMSG_CLOEXEC sets FD_CLOEXEC");
		struct stat st;
		check(fstat(got[1], &st) == 0 && S_ISDIR(st.st_mode), "passed directory fd is a directory");
		check(fstat(got[2], &st) == 0 && S_ISSOCK(st.st_mode), "passed socket fd is a socket");
		check(write(got[0], "x", 1) == 1, "passed pipe write end writes");
		for (int i = 0; i < 3; i++)
			close(got[i]);
	}
	close(three[1]);
	/* too little control room: MSG_CTRUNC */
	int more[3] = {p[1], p[1], p[1]};
	send_fds(sv[0], more, 3, "ct");
	n = recv_fds(sv[1], got, 8, CMSG_SPACE(sizeof(int)), 0, data, sizeof data - 1, &fl);
	check(n == 2 && (fl & MSG_CTRUNC), "short control buffer: two of three fds and MSG_CTRUNC (%d)", n);
	for (int i = 0; i < n; i++)
		close(got[i]);
	/* bad fd in SCM_RIGHTS */
	int bad = 9999;
	errno = 0;
	expect_err(send_fds(sv[0], &bad, 1, "bad"), EBADF, "SCM_RIGHTS with a bad fd");
	close(p[1]);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

static void creds(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct ucred uc;
	socklen_t ul = sizeof uc;
	check(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0 && ul == sizeof uc && uc.pid == getpid() &&
		      uc.uid == getuid() && uc.gid == getgid(),
	      "SO_PEERCRED is this process");
	int one = 1;
	expect_ok(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), "SO_PASSCRED");
	/* explicit credentials */
	char ctl[CMSG_SPACE(sizeof(struct ucred))];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = {"c", 1};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof ctl;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
	struct ucred me = {getpid(), getuid(), getgid()};
	memcpy(CMSG_DATA(c), &me, sizeof me);
	check(sendmsg(sv[0], &mh, 0) == 1, "sendmsg SCM_CREDENTIALS");
	char rctl[256], d;
	struct iovec riov = {&d, 1};
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &riov;
	mh.msg_iovlen = 1;
	mh.msg_control = rctl;
	mh.msg_controllen = sizeof rctl;
	int found = 0;
	if (recvmsg(sv[1], &mh, 0) == 1) {
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred r;
				memcpy(&r, CMSG_DATA(c), sizeof r);
				found = r.pid == getpid() && r.uid == getuid() && r.gid == getgid();
			}
		}
	}
	check(found, "received SCM_CREDENTIALS match");
	/* implicit credentials with SO_PASSCRED */
	write(sv[0], "i", 1);
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &riov;
	mh.msg_iovlen = 1;
	mh.msg_control = rctl;
	mh.msg_controllen = sizeof rctl;
	found = 0;
	if (recvmsg(sv[1], &mh, 0) == 1) {
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred r;
				memcpy(&r, CMSG_DATA(c), sizeof r);
				found = r.pid == getpid() && r.uid == getuid();
			}
	}
	check(found, "implicit credentials with SO_PASSCRED");
	close(sv[0]);
	close(sv[1]);
}

static void *accept_one(void *arg)
{
	int ls = *(int *)arg;
	struct sockaddr_un peer;
	socklen_t pl = sizeof peer;
	int c = accept(ls, (struct sockaddr *)&peer, &pl);
	if (c < 0)
		return (void *)1L;
	/* the client is unnamed: only the family comes back */
	long bad = pl != sizeof(sa_family_t);
	char b[32];
	ssize_t n = read(c, b, sizeof b);
	if (n > 0)
		write(c, b, n);
	close(c);
	return (void *)bad;
}

static void paths(const char *dir)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, "rel.sock");
	expect_ok(bind(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path) + 1),
		  "bind relative path");
	struct stat st;
	check(stat("rel.sock", &st) == 0 && S_ISSOCK(st.st_mode), "socket file exists");
	struct sockaddr_un g;
	socklen_t gl = sizeof g;
	check(getsockname(s, (struct sockaddr *)&g, &gl) == 0 && strcmp(g.sun_path, "rel.sock") == 0 &&
		      gl == offsetof(struct sockaddr_un, sun_path) + strlen("rel.sock") + 1,
	      "getsockname gives the bound name");
	listen(s, 4);
	int s2 = socket(AF_UNIX, SOCK_STREAM, 0);
	expect_err(bind(s2, (struct sockaddr *)&a, sizeof a), EADDRINUSE, "bind existing path");
	close(s2);

	pthread_t th;
	pthread_create(&th, NULL, accept_one, &s);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un abs;
	memset(&abs, 0, sizeof abs);
	abs.sun_family = AF_UNIX;
	snprintf(abs.sun_path, sizeof abs.sun_path, "%s/rel.sock", dir);
	expect_ok(connect(c, (struct sockaddr *)&abs, sizeof abs), "connect by absolute path");
	gl = sizeof g;
	check(getpeername(c, (struct sockaddr *)&g, &gl) == 0 && strcmp(g.sun_path, "rel.sock") == 0, "getpeername is the server's name");
	gl = sizeof g;
	check(getsockname(c, (struct sockaddr *)&g, &gl) == 0 && gl == sizeof(sa_family_t), "client is unnamed");
	write(c, "ping", 4);
	char b[8] = {0};
	check(read(c, b, sizeof b) == 4 && strcmp(b, "ping") == 0, "echo over a path socket");
	void *rv;
	pthread_join(th, &rv);
	check(rv == NULL, "server saw an unnamed peer");
	close(c);
	close(s);
	unlink("rel.sock");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	expect_err(connect(c, (struct sockaddr *)&a, sizeof a), ENOENT, "connect to a removed path");
	write_file("plain", "x", 1);
	strcpy(a.sun_path, "plain");
	expect_err(connect(c, (struct sockaddr *)&a, sizeof a), ECONNREFUSED, "connect to a regular file");
	close(c);

	/* a symbolic link to a socket */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(a.sun_path, "target.sock");
	bind(s, (struct sockaddr *)&a, sizeof a);
	listen(s, 1);
	symlink("target.sock", "link.sock");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(a.sun_path, "link.sock");
	expect_ok(connect(c, (struct sockaddr *)&a, sizeof a), "connect through a symlink");
	close(c);
	close(s);
}

static void abstract(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	char name[64];
	/* a name unique to this run, but printed only as a relation */
	int len = snprintf(name, sizeof name, "elfuse-diff-%d-%p", getpid(), (void *)&a);
	memcpy(a.sun_path + 1, name, len);
	socklen_t al = offsetof(struct sockaddr_un, sun_path) + 1 + len;
	expect_ok(bind(s, (struct sockaddr *)&a, al), "bind abstract name");
	struct sockaddr_un g;
	socklen_t gl = sizeof g;
	check(getsockname(s, (struct sockaddr *)&g, &gl) == 0 && gl == al && g.sun_path[0] == 0 &&
		      memcmp(g.sun_path + 1, name, len) == 0,
	      "getsockname abstract name and length");
	int c = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un ca = a;
	ca.sun_path[1] ^= 1; /* a different abstract name for the sender */
	expect_ok(bind(c, (struct sockaddr *)&ca, al), "bind sender abstract name");
	check(sendto(c, "abs", 3, 0, (struct sockaddr *)&a, al) == 3, "sendto abstract");
	char b[8];
	struct sockaddr_un from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
	check(n == 3 && fl == al && from.sun_path[0] == 0 && from.sun_path[1] == ca.sun_path[1], "recvfrom abstract sender");
	close(c);
	close(s);
}

static void pairs(void)
{
	int sv[2];
	expect_ok(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), "socketpair seqpacket");
	send(sv[0], "first", 5, 0);
	send(sv[0], "second", 6, 0);
	char b[32];
	check(recv(sv[1], b, sizeof b, 0) == 5, "seqpacket keeps boundaries (1)");
	check(recv(sv[1], b, sizeof b, 0) == 6, "seqpacket keeps boundaries (2)");
	int type;
	socklen_t tl = sizeof type;
	check(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_SEQPACKET, "SO_TYPE seqpacket");
	close(sv[0]);
	check(recv(sv[1], b, sizeof b, 0) == 0, "EOF when the peer closes");
	close(sv[1]);

	expect_ok(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), "socketpair dgram nonblock");
	expect_err(recv(sv[0], b, sizeof b, 0), EAGAIN, "empty dgram pair");
	struct pollfd p[2] = {{sv[0], POLLIN, 0}, {sv[1], POLLOUT, 0}};
	check(poll(p, 2, 0) == 1 && p[1].revents == POLLOUT, "poll: writable, not readable");
	send(sv[1], "d", 1, 0);
	check(poll(p, 1, 1000) == 1 && p[0].revents == POLLIN, "poll: readable after send");
	close(sv[0]);
	close(sv[1]);
	expect_err(socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP, "socketpair AF_INET");
}

int main(int argc, char **argv)
{
	const char *dir = scratch(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rights();
	creds();
	paths(dir);
	abstract();
	pairs();
	return finish();
}
