/* SCM_RIGHTS between two guest processes (fork): the parent sends a
 * regular file, the write end of a pipe and one end of a socketpair over
 * an AF_UNIX socketpair; the child reads the file through its copy (the
 * file offset is shared with the parent's descriptor), writes into the pipe
 * and the passed socket, and sends back the read end of a pipe of its own
 * that it then closes (the data in it survives); then the child connects to
 * a socket the parent listens on at a path, and passes a file it opened
 * O_RDWR, which the parent writes through. A datagram socketpair carries two
 * fds in one message with MSG_CMSG_CLOEXEC. The parent prints only after the
 * child has exited, so the order of lines is fixed. */
#include "proc.h"

#include <sys/socket.h>
#include <sys/un.h>

static int send_fds(int sock, const int *fds, int n, const char *tag)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = {(void *)tag, strlen(tag)};
	struct msghdr mh = {0};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return (int)sendmsg(sock, &mh, 0);
}

/* recv_fds receives up to max fds and the tag; returns the number of fds. */
static int recv_fds(int sock, int *fds, int max, char *tag, size_t taglen, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = {tag, taglen - 1};
	struct msghdr mh = {0};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof cbuf;
	ssize_t r = recvmsg(sock, &mh, flags);
	if (r < 0)
		return -1;
	tag[r] = 0;
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && n < max; i++)
			memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	return n;
}

static int read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	return (int)n;
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	write_file("data", "0123456789abcdef", 16);
	write_file("data2", "..........", 10);
	int sv[2], dsv[2], s2[2], p[2];
	expect_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair stream");
	expect_ok(socketpair(AF_UNIX, SOCK_DGRAM, 0, dsv), "socketpair dgram");
	expect_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, s2), "socketpair to pass");
	expect_ok(pipe(p), "pipe");
	int ffd = open("data", O_RDONLY);
	expect_ok(ffd, "open data");
	int lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strcpy(sun.sun_path, "ctl.sock");
	expect_ok(bind(lsock, (struct sockaddr *)&sun, sizeof sun), "bind ctl.sock");
	expect_ok(listen(lsock, 1), "listen");

	pid_t pid = xfork();
	if (pid == 0) {
		/* Child: quiet until the end; its checks show in its exit status.
		 * It drops what it inherited, so that only passed fds remain. */
		close(p[0]);
		close(p[1]);
		close(s2[0]);
		close(s2[1]);
		close(ffd);
		close(lsock);
		int fds[8];
		char tag[64];
		int n = recv_fds(sv[1], fds, 8, tag, sizeof tag, 0);
		if (n != 3 || strcmp(tag, "three") != 0)
			_exit(10);
		char buf[8] = {0};
		if (read(fds[0], buf, 4) != 4 || memcmp(buf, "0123", 4) != 0)
			_exit(11);
		if (write(fds[1], "hello from child", 16) != 16)
			_exit(12);
		if (write(fds[2], "via passed socket", 17) != 17)
			_exit(13);
		close(fds[0]);
		close(fds[1]);
		close(fds[2]);
		int cp[2];
		pipe(cp);
		write(cp[1], "child pipe data", 15);
		if (send_fds(sv[1], &cp[0], 1, "back") < 0)
			_exit(14);
		close(cp[0]);
		close(cp[1]);
		/* Through the listening socket at a path. */
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&sun, sizeof sun) != 0)
			_exit(15);
		int rw = open("data2", O_RDWR);
		if (send_fds(c, &rw, 1, "rw") < 0)
			_exit(16);
		close(rw);
		/* Two fds in one datagram. */
		int two[2] = {dup(0), dup(1)};
		if (send_fds(dsv[1], two, 2, "dgram") < 0)
			_exit(17);
		/* Wait for the parent to finish with the path socket. */
		char x;
		read(c, &x, 1);
		_exit(0);
	}
	int fds[8];
	char tag[64];
	int nsent = send_fds(sv[0], (int[]){ffd, p[1], s2[1]}, 3, "three");
	close(p[1]);
	close(s2[1]);
	int nback = recv_fds(sv[0], fds, 8, tag, sizeof tag, 0);
	int backfd = nback == 1 ? fds[0] : -1;
	char bbuf[64] = {0}, pbuf[64] = {0}, sbuf[64] = {0}, fbuf[8] = {0};
	int bn = backfd >= 0 ? read_all(backfd, bbuf, sizeof bbuf) : -1;
	int pn = read_all(p[0], pbuf, sizeof pbuf);
	int sn = (int)read(s2[0], sbuf, sizeof sbuf - 1);
	int fn = (int)read(ffd, fbuf, 4);

	int conn = accept(lsock, NULL, NULL);
	char rtag[64];
	int nrw = recv_fds(conn, fds, 8, rtag, sizeof rtag, 0);
	int wr = -1;
	if (nrw == 1) {
		wr = (int)pwrite(fds[0], "WRITTEN", 7, 2);
		close(fds[0]);
	}
	char dtag[64];
	int dfds[8];
	int nd = recv_fds(dsv[0], dfds, 8, dtag, sizeof dtag, MSG_CMSG_CLOEXEC);
	int cloexec_ok = nd == 2 && (fcntl(dfds[0], F_GETFD) & FD_CLOEXEC) && (fcntl(dfds[1], F_GETFD) & FD_CLOEXEC);
	write(conn, "x", 1);
	int st = xwait(pid, 0);

	check(nsent == 5, "sent three fds with a 5-byte tag");
	check(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: received 3 fds, read, wrote, sent back (%s)", statusstr(st));
	check(nback == 1 && strcmp(tag, "back") == 0, "received one fd back from the child");
	check(bn == 15 && strcmp(bbuf, "child pipe data") == 0, "the child's pipe kept its data after the child closed it: %s", bbuf);
	check(pn == 16 && strcmp(pbuf, "hello from child") == 0, "the child wrote into our pipe through the passed fd: %s", pbuf);
	check(sn == 17 && strcmp(sbuf, "via passed socket") == 0, "the child wrote through the passed socket: %s", sbuf);
	check(fn == 4 && memcmp(fbuf, "4567", 4) == 0, "file offset shared with the child's copy: read %.4s", fbuf);
	check(nrw == 1 && strcmp(rtag, "rw") == 0 && wr == 7, "fd passed over a path socket; wrote through it");
	char d2[16] = {0};
	int d2fd = open("data2", O_RDONLY);
	read(d2fd, d2, 10);
	check(strcmp(d2, "..WRITTEN.") == 0, "data2 now %s", d2);
	check(nd == 2 && strcmp(dtag, "dgram") == 0, "two fds in one datagram");
	check(cloexec_ok, "MSG_CMSG_CLOEXEC set close-on-exec on both");
	struct stat a, b;
	fstat(1, &a);
	check(nd == 2 && fstat(dfds[1], &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev, "the second is our stdout");
	unlink("ctl.sock");
	return finish();
}
