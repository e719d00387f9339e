/* TCP and UDP over loopback between threads of one process: socket, bind to
 * an ephemeral port, listen, accept/accept4, connect (blocking and
 * non-blocking with EINPROGRESS), getsockname/getpeername, send/recv with
 * MSG_PEEK and MSG_WAITALL, sendmsg/recvmsg with iovecs, shutdown, socket
 * options, UDP sendto/recvfrom and sendmmsg/recvmmsg, SO_RCVTIMEO, a
 * blocking recv interrupted by a signal, error cases. */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &l) != 0)
		return -1;
	return ntohs(a.sin_port);
}

static int listener(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = loopback(0);
	if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0)
		return -1;
	return s;
}

/* The server thread: accept one connection, echo what arrives in upper
 * case until EOF, then send a trailer and close. */
static void *echo_server(void *arg)
{
	int ls = *(int *)arg;
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	int c = accept4(ls, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
	if (c < 0)
		return (void *)1L;
	char buf[4096];
	long total = 0;
	for (;;) {
		ssize_t n = recv(c, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z')
				buf[i] -= 32;
		if (send(c, buf, n, MSG_NOSIGNAL) != n)
			return (void *)2L;
		total += n;
	}
	char trailer[64];
	int tl = snprintf(trailer, sizeof trailer, "[%ld bytes]", total);
	send(c, trailer, tl, 0);
	close(c);
	return (void *)0L;
}

static void tcp_echo(void)
{
	int ls = listener();
	expect_ok(ls, "tcp listener");
	int port = port_of(ls);
	check(port > 0, "ephemeral port assigned");
	int val;
	socklen_t vl = sizeof val;
	check(getsockopt(ls, SOL_SOCKET, SO_ACCEPTCONN, &val, &vl) == 0 && val == 1, "SO_ACCEPTCONN on listener");
	vl = sizeof val;
	check(getsockopt(ls, SOL_SOCKET, SO_TYPE, &val, &vl) == 0 && val == SOCK_STREAM && vl == sizeof val, "SO_TYPE stream");
	vl = sizeof val;
	check(getsockopt(ls, SOL_SOCKET, SO_DOMAIN, &val, &vl) == 0 && val == AF_INET, "SO_DOMAIN inet");

	pthread_t th;
	pthread_create(&th, NULL, echo_server, &ls);

	int c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(port);
	expect_ok(connect(c, (struct sockaddr *)&a, sizeof a), "connect loopback");
	struct sockaddr_in pa;
	socklen_t pl = sizeof pa;
	check(getpeername(c, (struct sockaddr *)&pa, &pl) == 0 && pl == sizeof pa && ntohs(pa.sin_port) == port &&
		      pa.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	      "getpeername is the server");
	int one = 1;
	expect_ok(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "TCP_NODELAY set");
	vl = sizeof val;
	check(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &val, &vl) == 0 && val == 1, "TCP_NODELAY get");
	expect_ok(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one), "SO_KEEPALIVE set");
	vl = sizeof val;
	check(getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &val, &vl) == 0 && val == 1, "SO_KEEPALIVE get");
	struct linger lg = {1, 5}, lg2;
	expect_ok(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), "SO_LINGER set");
	socklen_t ll = sizeof lg2;
	check(getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff && lg2.l_linger == 5, "SO_LINGER get");
	lg.l_onoff = 0;
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	expect_err(setsockopt(c, SOL_SOCKET, 9999, &one, sizeof one), ENOPROTOOPT, "unknown option");
	expect_err(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, 2), EINVAL, "short optlen");

	const char *msg = "hello, tcp world";
	check(send(c, msg, strlen(msg), 0) == (ssize_t)strlen(msg), "send");
	char buf[256];
	ssize_t n = recv(c, buf, strlen(msg), MSG_WAITALL);
	check(n == (ssize_t)strlen(msg) && memcmp(buf, "HELLO, TCP WORLD", n) == 0, "recv MSG_WAITALL echo");

	/* writev/readv and sendmsg with three iovecs */
	struct iovec iov[3] = {{"abc", 3}, {"def", 3}, {"ghij", 4}};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 3;
	check(sendmsg(c, &mh, 0) == 10, "sendmsg 3 iovecs");
	char r1[4], r2[6];
	struct iovec riov[2] = {{r1, 4}, {r2, 6}};
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = riov;
	mh.msg_iovlen = 2;
	n = recvmsg(c, &mh, MSG_WAITALL);
	check(n == 10 && memcmp(r1, "ABCD", 4) == 0 && memcmp(r2, "EFGHIJ", 6) == 0 && mh.msg_flags == 0, "recvmsg scatter");

	/* MSG_PEEK leaves the data */
	send(c, "peek", 4, 0);
	n = recv(c, buf, 4, MSG_PEEK | MSG_WAITALL);
	check(n == 4 && memcmp(buf, "PEEK", 4) == 0, "MSG_PEEK sees data");
	n = recv(c, buf, 4, MSG_WAITALL);
	check(n == 4 && memcmp(buf, "PEEK", 4) == 0, "data still there after peek");

	/* a large transfer in both directions */
	static char big[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = 'a' + i % 26;
	size_t sent = 0, got = 0;
	while (got < sizeof big) {
		if (sent < sizeof big) {
			ssize_t w = send(c, big + sent, sizeof big - sent > 65536 ? 65536 : sizeof big - sent, 0);
			if (w <= 0)
				break;
			sent += w;
		}
		ssize_t r = recv(c, back + got, sizeof back - got, sent == sizeof big ? MSG_WAITALL : MSG_DONTWAIT);
		if (r > 0)
			got += r;
		else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
	}
	int same = got == sizeof big;
	for (size_t i = 0; same && i < sizeof big; i++)
		same = back[i] == 'A' + i % 26;
	check(same, "1 MiB echoed in upper case");

	expect_ok(shutdown(c, SHUT_WR), "shutdown SHUT_WR");
	n = recv(c, buf, sizeof buf - 1, MSG_WAITALL);
	buf[n > 0 ? n : 0] = 0;
	printf("trailer %s\n", buf);
	check(recv(c, buf, sizeof buf, 0) == 0, "EOF after trailer");
	void *rv;
	pthread_join(th, &rv);
	check(rv == NULL, "server thread result");
	expect_err(send(c, "x", 1, MSG_NOSIGNAL), EPIPE, "send after shutdown");
	close(c);
	close(ls);
}

static void tcp_nonblocking(void)
{
	int ls = listener();
	int port = port_of(ls);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = loopback(port);
	int r = connect(c, (struct sockaddr *)&a, sizeof a);
	check(r == 0 || errno == EINPROGRESS, "non-blocking connect starts");
	struct pollfd p = {c, POLLOUT, 0};
	check(poll(&p, 1, 5000) == 1 && (p.revents & POLLOUT), "connect completes (POLLOUT)");
	int err = -1;
	socklen_t el = sizeof err;
	check(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0, "SO_ERROR 0");
	int s = accept(ls, NULL, NULL);
	expect_ok(s, "accept with NULL address");
	char b[8];
	expect_err(recv(c, b, sizeof b, 0), EAGAIN, "recv on empty non-blocking socket");
	expect_err(recv(s, b, sizeof b, MSG_DONTWAIT), EAGAIN, "recv MSG_DONTWAIT");
	int fl = fcntl(c, F_GETFL);
	check((fl & O_NONBLOCK) != 0, "F_GETFL shows O_NONBLOCK");

	/* accept on an empty non-blocking listener */
	int nl = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in z = loopback(0);
	bind(nl, (struct sockaddr *)&z, sizeof z);
	listen(nl, 1);
	expect_err(accept(nl, NULL, NULL), EAGAIN, "accept on empty non-blocking listener");
	close(nl);

	/* SO_RCVTIMEO ends a blocking recv with EAGAIN */
	struct timeval tv = {0, 50000};
	expect_ok(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), "SO_RCVTIMEO set");
	struct timeval tv2;
	socklen_t tl = sizeof tv2;
	check(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl) == 0 && tv2.tv_sec == 0 && tv2.tv_usec > 0, "SO_RCVTIMEO get");
	expect_err(recv(s, b, sizeof b, 0), EAGAIN, "recv times out");
	close(s);
	close(c);

	/* connection refused */
	int port2 = port_of(ls);
	close(ls);
	int d = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a2 = loopback(port2);
	expect_err(connect(d, (struct sockaddr *)&a2, sizeof a2), ECONNREFUSED == 111 ? 111 : ECONNREFUSED, "connect refused");
	close(d);
}

static volatile sig_atomic_t got_usr1;
static volatile int reader_ready;
static void on_usr1(int s) { (void)s; got_usr1 = 1; }

static void *blocked_reader(void *arg)
{
	int fd = *(int *)arg;
	char b[4];
	reader_ready = 1;
	ssize_t n = recv(fd, b, sizeof b, 0);
	return (void *)(long)(n < 0 ? -errno : n);
}

static void tcp_interrupt(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1; /* no SA_RESTART: the recv fails with EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pthread_t th;
	pthread_create(&th, NULL, blocked_reader, &sv[0]);
	while (!reader_ready)
		sched_yield();
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	pthread_kill(th, SIGUSR1);
	void *rv;
	pthread_join(th, &rv);
	check((long)rv == -EINTR && got_usr1, "blocking recv interrupted: EINTR (got %ld)", (long)rv);

	/* with SA_RESTART the recv goes on and gets the data */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	reader_ready = 0;
	got_usr1 = 0;
	pthread_create(&th, NULL, blocked_reader, &sv[0]);
	while (!reader_ready)
		sched_yield();
	nanosleep(&ts, NULL);
	pthread_kill(th, SIGUSR1);
	nanosleep(&ts, NULL);
	send(sv[1], "go", 2, 0);
	pthread_join(th, &rv);
	check((long)rv == 2 && got_usr1, "SA_RESTART recv restarted (got %ld)", (long)rv);
	close(sv[0]);
	close(sv[1]);
	signal(SIGUSR1, SIG_DFL);
}

static void udp(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = loopback(0);
	expect_ok(bind(s, (struct sockaddr *)&a, sizeof a), "udp bind");
	int port = port_of(s);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = loopback(port);
	check(sendto(c, "dgram1", 6, 0, (struct sockaddr *)&to, sizeof to) == 6, "sendto");
	char buf[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	check(n == 6 && memcmp(buf, "dgram1", 6) == 0 && fl == sizeof from && from.sin_port == htons(port_of(c)),
	      "recvfrom gets datagram and sender");
	/* truncation */
	sendto(c, "0123456789", 10, 0, (struct sockaddr *)&to, sizeof to);
	n = recv(s, buf, 4, MSG_TRUNC);
	check(n == 10, "MSG_TRUNC reports full length");
	sendto(c, "0123456789", 10, 0, (struct sockaddr *)&to, sizeof to);
	struct iovec iov = {buf, 4};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	n = recvmsg(s, &mh, 0);
	check(n == 4 && (mh.msg_flags & MSG_TRUNC), "recvmsg sets MSG_TRUNC");

	/* connected UDP and AF_UNSPEC disconnect */
	expect_ok(connect(c, (struct sockaddr *)&to, sizeof to), "udp connect");
	check(send(c, "conn", 4, 0) == 4, "send on connected udp");
	n = recv(s, buf, sizeof buf, 0);
	check(n == 4 && memcmp(buf, "conn", 4) == 0, "recv connected datagram");
	struct sockaddr un;
	memset(&un, 0, sizeof un);
	un.sa_family = AF_UNSPEC;
	expect_ok(connect(c, &un, sizeof un), "connect AF_UNSPEC");
	expect_err(send(c, "x", 1, 0), EDESTADDRREQ, "send after disconnect");

	/* sendmmsg / recvmmsg */
	struct mmsghdr mm[3];
	struct iovec iv[3];
	const char *parts[3] = {"one", "two!", "three"};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		iv[i].iov_base = (void *)parts[i];
		iv[i].iov_len = strlen(parts[i]);
		mm[i].msg_hdr.msg_iov = &iv[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &to;
		mm[i].msg_hdr.msg_namelen = sizeof to;
	}
	check(sendmmsg(c, mm, 3, 0) == 3 && mm[0].msg_len == 3 && mm[2].msg_len == 5, "sendmmsg 3");
	char rb[3][16];
	struct mmsghdr rm[3];
	struct iovec riv[3];
	memset(rm, 0, sizeof rm);
	for (int i = 0; i < 3; i++) {
		riv[i].iov_base = rb[i];
		riv[i].iov_len = sizeof rb[i];
		rm[i].msg_hdr.msg_iov = &riv[i];
		rm[i].msg_hdr.msg_iovlen = 1;
	}
	int got = recvmmsg(s, rm, 3, MSG_WAITFORONE, NULL);
	/* all three are queued on loopback by now */
	check(got >= 1, "recvmmsg gets at least one");
	while (got < 3) {
		int k = recvmmsg(s, rm + got, 3 - got, 0, NULL);
		if (k <= 0)
			break;
		got += k;
	}
	check(got == 3 && rm[0].msg_len == 3 && memcmp(rb[1], "two!", 4) == 0 && rm[2].msg_len == 5, "recvmmsg all three");
	close(c);
	close(s);
}

static void ipv6(void)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0) {
		printf("ok ipv6 unavailable (skipped)\n");
		return;
	}
	int one = 1, val = 0;
	socklen_t vl = sizeof val;
	setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	check(getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &val, &vl) == 0 && val == 1, "IPV6_V6ONLY");
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
		printf("ok ipv6 loopback unavailable (skipped)\n");
		close(s);
		return;
	}
	listen(s, 1);
	socklen_t al = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &al);
	check(al == sizeof a && a.sin6_family == AF_INET6 && a.sin6_port != 0, "ipv6 getsockname");
	int c = socket(AF_INET6, SOCK_STREAM, 0);
	expect_ok(connect(c, (struct sockaddr *)&a, sizeof a), "ipv6 connect");
	struct sockaddr_in6 pa;
	socklen_t pl = sizeof pa;
	int d = accept(s, (struct sockaddr *)&pa, &pl);
	check(d >= 0 && pl == sizeof pa && IN6_IS_ADDR_LOOPBACK(&pa.sin6_addr), "ipv6 accept peer is ::1");
	write(c, "six", 3);
	char b[4];
	check(read(d, b, 3) == 3 && memcmp(b, "six", 3) == 0, "ipv6 read/write");
	close(d);
	close(c);
	close(s);
}

static void errors(void)
{
	expect_err(socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT, "socket bad family");
	expect_err(socket(AF_INET, 77, 0), EINVAL, "socket bad type");
	expect_err(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT, "socket tcp with udp proto");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = loopback(1);
	expect_err(bind(s, (struct sockaddr *)&a, 4), EINVAL, "bind short addrlen");
	expect_err(connect(-1, (struct sockaddr *)&a, sizeof a), EBADF, "connect bad fd");
	int fd = open(".", O_RDONLY);
	expect_err(listen(fd, 1), ENOTSOCK, "listen on a directory");
	close(fd);
	char b[4];
	expect_err(recv(s, b, 4, 0), ENOTCONN, "recv unconnected");
	expect_err(getpeername(s, (struct sockaddr *)&a, &(socklen_t){sizeof a}), ENOTCONN, "getpeername unconnected");
	expect_err(shutdown(s, 7), EINVAL, "shutdown bad how");
	expect_err(getsockname(s, (struct sockaddr *)1, &(socklen_t){sizeof a}), EFAULT, "getsockname bad pointer");
	close(s);
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tcp_echo();
	tcp_nonblocking();
	tcp_interrupt();
	udp();
	ipv6();
	errors();
	return finish();
}
