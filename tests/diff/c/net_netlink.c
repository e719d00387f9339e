/* AF_NETLINK NETLINK_ROUTE: getifaddrs (the libc's netlink dumps of links
 * and addresses) and a raw RTM_GETLINK dump read with recvmsg; only the
 * loopback interface is printed, so the output does not depend on the
 * machine's network. */
#include "common.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#if __has_include(<linux/rtnetlink.h>)
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#else
/* musl-gcc has no kernel headers: the few netlink definitions used here. */
#define NETLINK_ROUTE 0
#define NLM_F_REQUEST 1
#define NLM_F_DUMP 0x300
#define NLMSG_ERROR 2
#define NLMSG_DONE 3
#define RTM_NEWLINK 16
#define RTM_GETLINK 18
#define IFLA_IFNAME 3
struct sockaddr_nl { unsigned short nl_family, nl_pad; unsigned nl_pid, nl_groups; };
struct nlmsghdr { unsigned nlmsg_len; unsigned short nlmsg_type, nlmsg_flags; unsigned nlmsg_seq, nlmsg_pid; };
struct ifinfomsg { unsigned char ifi_family, pad; unsigned short ifi_type; int ifi_index; unsigned ifi_flags, ifi_change; };
struct rtattr { unsigned short rta_len, rta_type; };
#define NLMSG_ALIGN(len) (((len) + 3) & ~3)
#define NLMSG_HDRLEN ((int)NLMSG_ALIGN(sizeof(struct nlmsghdr)))
#define NLMSG_LENGTH(len) ((len) + NLMSG_HDRLEN)
#define NLMSG_DATA(h) ((void *)((char *)(h) + NLMSG_HDRLEN))
#define NLMSG_NEXT(h, len) ((len) -= NLMSG_ALIGN((h)->nlmsg_len), (struct nlmsghdr *)((char *)(h) + NLMSG_ALIGN((h)->nlmsg_len)))
#define NLMSG_OK(h, len) ((len) >= (int)sizeof(struct nlmsghdr) && (h)->nlmsg_len >= sizeof(struct nlmsghdr) && (h)->nlmsg_len <= (unsigned)(len))
#define RTA_ALIGN(len) (((len) + 3) & ~3)
#define RTA_OK(rta, len) ((len) >= (int)sizeof(struct rtattr) && (rta)->rta_len >= sizeof(struct rtattr) && (rta)->rta_len <= (len))
#define RTA_NEXT(rta, len) ((len) -= RTA_ALIGN((rta)->rta_len), (struct rtattr *)((char *)(rta) + RTA_ALIGN((rta)->rta_len)))
#define RTA_DATA(rta) ((void *)((char *)(rta) + RTA_ALIGN(sizeof(struct rtattr))))
#define IFLA_RTA(r) ((struct rtattr *)((char *)(r) + NLMSG_ALIGN(sizeof(struct ifinfomsg))))
#endif
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

static void ifaddrs(void)
{
	struct ifaddrs *ifa = NULL;
	expect_ok(getifaddrs(&ifa), "getifaddrs");
	int lo4 = 0, lo_flags = 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, "lo") != 0 || !i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
			struct sockaddr_in *m = (struct sockaddr_in *)i->ifa_netmask;
			char buf[32];
			inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
			printf("lo inet %s", buf);
			if (m) {
				inet_ntop(AF_INET, &m->sin_addr, buf, sizeof buf);
				printf(" netmask %s", buf);
			}
			printf("\n");
			lo4 = 1;
			lo_flags = i->ifa_flags;
		}
	}
	check(lo4, "lo has an IPv4 address");
	check((lo_flags & IFF_LOOPBACK) && (lo_flags & IFF_UP), "lo is up and loopback");
	freeifaddrs(ifa);
}

static void raw_dump(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	expect_ok(s, "netlink socket");
	struct sockaddr_nl sa;
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	expect_ok(bind(s, (struct sockaddr *)&sa, sizeof sa), "netlink bind");
	socklen_t sl = sizeof sa;
	check(getsockname(s, (struct sockaddr *)&sa, &sl) == 0 && sl == sizeof sa && sa.nl_family == AF_NETLINK,
	      "netlink getsockname");
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 42;
	req.i.ifi_family = AF_UNSPEC;
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	check(sendto(s, &req, sizeof req, 0, (struct sockaddr *)&k, sizeof k) == sizeof req, "send RTM_GETLINK dump");
	static char buf[1 << 16];
	int done = 0, seen_lo = 0, seq_ok = 1, from_kernel = 1;
	while (!done) {
		struct iovec iov = {buf, sizeof buf};
		struct sockaddr_nl from;
		struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
		int n = (int)recvmsg(s, &mh, 0);
		if (n <= 0)
			break;
		if (mh.msg_namelen != sizeof from || from.nl_pid != 0)
			from_kernel = 0;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 42)
				seq_ok = 0;
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (h->nlmsg_type != RTM_NEWLINK)
				continue;
			struct ifinfomsg *ifi = NLMSG_DATA(h);
			int len = h->nlmsg_len - NLMSG_LENGTH(sizeof *ifi);
			for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
				if (rta->rta_type == IFLA_IFNAME && strcmp(RTA_DATA(rta), "lo") == 0) {
					seen_lo = 1;
					printf("lo index %d loopback %d\n", ifi->ifi_index, !!(ifi->ifi_flags & IFF_LOOPBACK));
				}
			}
		}
	}
	check(done, "dump ends with NLMSG_DONE");
	check(seen_lo, "dump lists lo");
	check(seq_ok, "replies carry our sequence number");
	check(from_kernel, "replies come from the kernel (nl_pid 0)");
	close(s);
	expect_err(socket(AF_NETLINK, SOCK_RAW, 31), EPROTONOSUPPORT, "unsupported netlink protocol");
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ifaddrs();
	raw_dump();
	return finish();
}
