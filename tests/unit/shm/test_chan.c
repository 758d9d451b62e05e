/* SPDX-License-Identifier: MIT */
/*
 * shm/chan.c: fixed-size messages with fds over a SOCK_SEQPACKET socketpair, as between the master
 * and a worker. What matters besides the round trip: a message of the wrong size is refused and
 * the fds it carried are closed, never handed out and never leaked.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/chan.h"
#include "shm/log.h"

static int sv[2] = {-1, -1};
static int rfds[HY_CHAN_MAX_FDS];
static unsigned rn;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int new_efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	cr_assert(fd >= 0);
	return fd;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	cr_assert_eq(fstat(a, &sa), 0);
	cr_assert_eq(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void setup(void)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown(void)
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

TestSuite(chan, .init = setup, .fini = teardown);

Test(chan, command_round_trip)
{
	static struct hy_cmd out, in;
	int fds[3] = {new_efd(), memfd_create("chan", MFD_CLOEXEC), new_efd()};

	memset(&out, 0, sizeof(out));
	out.type = HY_CMD_MEM_SET;
	out.seq = 42;
	out.nregions = 2;
	out.nfds = 3;
	out.regions[1].gpa = 0x100000000ull;
	out.regions[1].size = 1 << 20;
	out.vring.num = 256;
	cr_assert_eq(hy_chan_send(sv[0], &out, sizeof(out), fds, 3), 0);
	memset(&in, 0xa5, sizeof(in));
	memset(rfds, 0x5a, sizeof(rfds));
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 1000), 0);
	cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0);
	cr_assert_eq(rn, 3);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert(same_file(rfds[i], fds[i]), "fd %u arrives in its place", i);
		cr_assert_neq(rfds[i], fds[i], "a new descriptor, not the sender's");
		cr_assert(fcntl(rfds[i], F_GETFD) & FD_CLOEXEC, "received fds are close-on-exec");
	}
	for (unsigned i = 3; i < HY_CHAN_MAX_FDS; i++)
		cr_assert_eq(rfds[i], -1, "unused slot %u is -1", i);
	for (unsigned i = 0; i < 3; i++) {
		close(rfds[i]);
		close(fds[i]);
	}
}

Test(chan, reply_without_fds)
{
	struct hy_reply out = {.seq = 7, .result = -EINVAL, .value = 0xdeadbeefcafeull}, in;

	cr_assert_eq(hy_chan_send(sv[1], &out, sizeof(out), NULL, 0), 0);
	cr_assert_eq(hy_chan_recv(sv[0], &in, sizeof(in), rfds, &rn, 0), 0, "timeout 0 polls");
	cr_assert_eq(rn, 0);
	cr_assert_eq(in.seq, 7);
	cr_assert_eq(in.result, -EINVAL);
	cr_assert_eq(in.value, 0xdeadbeefcafeull);
	cr_assert_eq(rfds[0], -1);
}

Test(chan, messages_stay_separate)
{
	struct hy_reply a = {.seq = 1}, b = {.seq = 2}, in;
	int e = new_efd();

	cr_assert_eq(hy_chan_send(sv[0], &a, sizeof(a), &e, 1), 0);
	cr_assert_eq(hy_chan_send(sv[0], &b, sizeof(b), NULL, 0), 0);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), 0);
	cr_assert_eq(in.seq, 1);
	cr_assert_eq(rn, 1);
	close(rfds[0]);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), 0);
	cr_assert_eq(in.seq, 2);
	cr_assert_eq(rn, 0, "the first message's fd does not come again");
	close(e);
}

Test(chan, max_fds)
{
	struct hy_reply out = {.seq = 3}, in;
	int fds[HY_CHAN_MAX_FDS], base;

	for (unsigned i = 0; i < HY_CHAN_MAX_FDS; i++)
		fds[i] = new_efd();
	cr_assert_eq(hy_chan_send(sv[0], &out, sizeof(out), fds, HY_CHAN_MAX_FDS), 0);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), 0);
	cr_assert_eq(rn, HY_CHAN_MAX_FDS);
	cr_assert(same_file(rfds[63], fds[63]));
	for (unsigned i = 0; i < HY_CHAN_MAX_FDS; i++)
		close(rfds[i]);

	/* One more is refused at the sender. */
	base = count_fds();
	cr_assert_eq(hy_chan_send(sv[0], &out, sizeof(out), fds, HY_CHAN_MAX_FDS + 1), -EINVAL);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 0), -EAGAIN,
		     "nothing was sent");
	cr_assert_eq(count_fds(), base);
	for (unsigned i = 0; i < HY_CHAN_MAX_FDS; i++)
		close(fds[i]);
}

/* A peer that sends more fds than any message may carry: none of them may stay open. */
Test(chan, too_many_fds_from_the_peer)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 100)];
		struct cmsghdr align;
	} u;
	struct hy_reply out = {.seq = 9}, in;
	struct iovec iov = {.iov_base = &out, .iov_len = sizeof(out)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	int fds[100], base, ret;

	memset(&u, 0, sizeof(u));
	for (unsigned i = 0; i < 100; i++)
		fds[i] = new_efd();
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * 100);
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	cr_assert_eq(sendmsg(sv[0], &mh, 0), (ssize_t)sizeof(out));
	for (unsigned i = 0; i < 100; i++)
		close(fds[i]);
	base = count_fds();
	ret = hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100);
	cr_assert_eq(ret, -EPROTO, "a truncated fd list is a broken message");
	cr_assert_eq(rn, 0);
	cr_assert_eq(count_fds(), base);
}

Test(chan, wrong_size_closes_fds)
{
	struct hy_reply small = {.seq = 5}, in;
	static struct hy_cmd big, cin;
	int e[2] = {new_efd(), new_efd()}, base;

	/* Too short. */
	cr_assert_eq(hy_chan_send(sv[0], &small, sizeof(small), e, 2), 0);
	base = count_fds();
	memset(rfds, 0x5a, sizeof(rfds));
	cr_assert_eq(hy_chan_recv(sv[1], &cin, sizeof(cin), rfds, &rn, 100), -EPROTO);
	cr_assert_eq(rn, 0);
	cr_assert_eq(rfds[0], -1, "no fd is handed out");
	cr_assert_eq(rfds[1], -1);
	cr_assert_eq(count_fds(), base, "the fds that came with it are closed");

	/* Too long: a datagram is never split, so the rest is gone and so are its fds. */
	memset(&big, 0, sizeof(big));
	cr_assert_eq(hy_chan_send(sv[0], &big, sizeof(big), e, 2), 0);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), -EPROTO);
	cr_assert_eq(rn, 0);
	cr_assert_eq(count_fds(), base);
	/* The channel is still usable afterwards. */
	cr_assert_eq(hy_chan_send(sv[0], &small, sizeof(small), NULL, 0), 0);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), 0);
	cr_assert_eq(in.seq, 5);

	close(e[0]);
	close(e[1]);
}

/*
 * A zero-length datagram is legal on SOCK_SEQPACKET and may carry SCM_RIGHTS; recvmsg() then
 * returns 0 exactly as it does at end of file, but the kernel has already installed the fds.
 * Whatever the verdict (broken message or closed peer), those fds must be closed.
 */
Test(chan, empty_message_with_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = u.buf, .iov_len = 0};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct hy_reply in;
	struct cmsghdr *c;
	int e[2] = {new_efd(), new_efd()}, base, ret;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(e));
	memcpy(CMSG_DATA(c), e, sizeof(e));
	cr_assert_eq(sendmsg(sv[0], &mh, 0), 0);
	close(e[0]);
	close(e[1]);
	base = count_fds();
	ret = hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100);
	cr_assert(ret == -EPROTO || ret == -ECONNRESET, "an empty message returned %d", ret);
	cr_assert_eq(rn, 0);
	cr_assert_eq(count_fds(), base, "%d fds leaked by an empty message", count_fds() - base);
}

Test(chan, timeout)
{
	struct hy_reply in;
	uint64_t t0 = hy_now_ns(), dt;

	memset(rfds, 0x5a, sizeof(rfds));
	rn = 99;
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 50), -EAGAIN);
	dt = hy_now_ns() - t0;
	cr_assert_geq(dt, 40000000ull, "returned after %llu ns", (unsigned long long)dt);
	cr_assert_lt(dt, 5000000000ull);
	cr_assert_eq(rn, 0);
	cr_assert_eq(rfds[0], -1);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 0), -EAGAIN);
}

Test(chan, peer_closed)
{
	struct hy_reply in, out = {.seq = 1};

	close(sv[0]);
	sv[0] = -1;
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 1000), -ECONNRESET);
	cr_assert_eq(rn, 0);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, -1), -ECONNRESET,
		     "waiting forever on a closed peer returns at once");
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 0), -ECONNRESET);
	cr_assert_eq(hy_chan_send(sv[1], &out, sizeof(out), NULL, 0), -EPIPE,
		     "no SIGPIPE, an error");
}

Test(chan, queued_message_before_close)
{
	struct hy_reply in, out = {.seq = 11};

	cr_assert_eq(hy_chan_send(sv[0], &out, sizeof(out), NULL, 0), 0);
	close(sv[0]);
	sv[0] = -1;
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), 0,
		     "what was sent before the close is still delivered");
	cr_assert_eq(in.seq, 11);
	cr_assert_eq(hy_chan_recv(sv[1], &in, sizeof(in), rfds, &rn, 100), -ECONNRESET);
}

Test(chan, bad_socket)
{
	struct hy_reply in = {0};

	cr_assert_eq(hy_chan_send(-1, &in, sizeof(in), NULL, 0), -EBADF);
	cr_assert_lt(hy_chan_recv(-1, &in, sizeof(in), rfds, &rn, 0), 0);
	cr_assert_eq(rn, 0);
}
