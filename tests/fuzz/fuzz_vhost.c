/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the vhost-user message handler: each input is a conversation, a sequence of
 * messages given to hy_vhost_handle() on one device whose workers are all DOWN (no process; every
 * worker call answers -ESRCH). After each input the device is reset, as the supervisor does when a
 * frontend goes away.
 *
 * Input, per message (at most MAX_MSGS per input):
 *   byte 0      request (0-255: every request, and unknown ones)
 *   byte 1      flags: bit 7 set = version 1 and bit 3 (NEED_REPLY) taken from the byte; bit 7
 *               clear = the low 4 bits as they are (bad versions included)
 *   byte 2      fds: bit 7 set = the number the request wants (SET_MEM_TABLE: nregions, up to 8;
 *               KICK/CALL/ERR: 1 unless NOFD; ADD_MEM_REG, SET_INFLIGHT_FD: 1), else (byte % 3);
 *               bit 6 picks a memfd (64 KiB) or an eventfd for the first fd, bit 5 for the others
 *   bytes 3-4   size (LE): bit 15 set = the size the request's payload wants, else (value % 513)
 *   payload     that many bytes of payload, zero-padded when the input runs out
 *
 * Checked after every message: the return value is one of 1, 0 or a negative errno; a reply is
 * well-formed; every fd handed in is either closed or held by the device, and the device holds
 * each fd once and only open ones. After the reset: no fd of the input is still open, and every
 * 1000 inputs the process's fd count must not have grown. Anything else is an abort.
 *
 * The handler and device code are included rather than linked so that they get the fuzzer's
 * coverage instrumentation (tests/fuzz/CMakeLists.txt builds only this file with it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "master/vhost.c"
#undef HY_LOG_COMPONENT
#include "master/device.c"

#define MAX_MSGS 64
#define MAX_FDS	 (MAX_MSGS * HY_VU_BASELINE_NREGIONS)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hy_topo_device cfg;
static struct hy_device dev;
static struct hy_vu_msg msg, reply;
static int created[MAX_FDS];
static unsigned ncreated;

/*
 * The eventfds and memfds open in the process: the only kinds this target hands to the handler.
 * Other fds come and go with libFuzzer and the sanitizers (the symbolizer keeps a pipe pair open
 * once a new function is reported), so they are not counted.
 */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, "anon_inode:[eventfd]") || !strncmp(target, "/memfd:", 7))
			n++;
	}
	closedir(d);
	return n;
}

/* What is open, for the report when the count grew. */
static void dump_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], target[256];
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

static bool is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static void init_once(void)
{
	char err[256];

	hy_log_init("fuzz", NULL, HY_LOG_ERR);
	hy_log_set_level(HY_LOG_ERR);
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, "fuzz");
	cfg.type = HY_BE_NULL;
	cfg.size = 1ull << 30;
	cfg.nqueues = 2;
	cfg.queue_size = 256;
	cfg.block_size = 512;
	cfg.writeback = true;
	cfg.discard = true;
	cfg.write_zeroes = true;
	cfg.queues[1].cpu = 1;
	if (hy_device_init(&dev, &cfg, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_vhost: %s\n", err);
		abort();
	}
}

/* The payload size the request wants, given the payload as decoded so far. */
static uint32_t natural_size(uint32_t request)
{
	switch (request) {
	case HY_VU_SET_FEATURES:
	case HY_VU_SET_PROTOCOL_FEATURES:
	case HY_VU_SET_VRING_NUM:
	case HY_VU_SET_VRING_BASE:
	case HY_VU_GET_VRING_BASE:
	case HY_VU_SET_VRING_KICK:
	case HY_VU_SET_VRING_CALL:
	case HY_VU_SET_VRING_ERR:
	case HY_VU_SET_VRING_ENABLE:
		return 8;
	case HY_VU_SET_VRING_ADDR:
		return sizeof(struct hy_vu_addr);
	case HY_VU_ADD_MEM_REG:
	case HY_VU_REM_MEM_REG:
		return sizeof(struct hy_vu_mem_single);
	case HY_VU_SET_MEM_TABLE:
		return (uint32_t)offsetof(struct hy_vu_memory, regions) +
		       (msg.payload.memory.nregions % (HY_VU_BASELINE_NREGIONS + 1)) *
			       (uint32_t)sizeof(struct hy_chan_region);
	case HY_VU_GET_INFLIGHT_FD:
	case HY_VU_SET_INFLIGHT_FD:
		return sizeof(struct hy_vu_inflight);
	case HY_VU_GET_CONFIG:
	case HY_VU_SET_CONFIG:
		return (uint32_t)offsetof(struct hy_vu_config, payload) +
		       (msg.payload.config.size % (HY_VU_CONFIG_MAX + 1));
	default:
		return 0;
	}
}

static unsigned natural_fds(uint32_t request)
{
	switch (request) {
	case HY_VU_SET_MEM_TABLE:
		return msg.payload.memory.nregions <= HY_VU_BASELINE_NREGIONS
			       ? msg.payload.memory.nregions
			       : 0;
	case HY_VU_SET_VRING_KICK:
	case HY_VU_SET_VRING_CALL:
	case HY_VU_SET_VRING_ERR:
		return msg.payload.u64 & HY_VU_VRING_NOFD ? 0 : 1;
	case HY_VU_ADD_MEM_REG:
	case HY_VU_SET_INFLIGHT_FD:
		return 1;
	default:
		return 0;
	}
}

static int new_fd(bool memfd)
{
	int fd = memfd ? memfd_create("fuzz", MFD_CLOEXEC) : eventfd(0, EFD_CLOEXEC);

	/* Room for an in-flight region of 2 queues of 256 (SET_INFLIGHT_FD checks the size). */
	if (fd < 0 || (memfd && ftruncate(fd, 65536) < 0))
		abort();
	created[ncreated++] = fd;
	return fd;
}

/* Each fd the device holds is open and held once. */
static void check_device_fds(void)
{
	int held[HY_CHAN_MAX_REGIONS + 3 * HY_MAX_QUEUES + 1];
	unsigned n = 0;

	if (dev.nregions > HY_CHAN_MAX_REGIONS)
		abort();
	if (dev.inflight.fd >= 0)
		held[n++] = dev.inflight.fd;
	for (unsigned i = 0; i < dev.nregions; i++)
		held[n++] = dev.region_fds[i];
	for (unsigned q = 0; q < HY_MAX_QUEUES; q++) {
		const int *v[3] = {&dev.vq[q].kick_fd, &dev.vq[q].call_fd, &dev.vq[q].err_fd};

		for (unsigned k = 0; k < 3; k++) {
			if (*v[k] < 0)
				continue;
			if (q >= cfg.nqueues)
				abort(); /* state for a vring that does not exist */
			held[n++] = *v[k];
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (!is_open(held[i]))
			abort(); /* the device holds a closed fd: a double close waits */
		for (unsigned j = i + 1; j < n; j++)
			if (held[i] == held[j])
				abort(); /* held twice: closed twice */
	}
}

static bool device_holds(int fd)
{
	if (dev.inflight.fd == fd)
		return true;
	for (unsigned i = 0; i < dev.nregions; i++)
		if (dev.region_fds[i] == fd)
			return true;
	for (unsigned q = 0; q < cfg.nqueues; q++)
		if (dev.vq[q].kick_fd == fd || dev.vq[q].call_fd == fd || dev.vq[q].err_fd == fd)
			return true;
	return false;
}

static void check_reply(int ret)
{
	if (ret != 1 && ret != 0 && (ret >= 0 || ret < -4095))
		abort();
	if (ret != 1)
		return;
	if (reply.request != msg.request || reply.flags != (HY_VU_VERSION | HY_VU_FLAG_REPLY) ||
	    reply.size > sizeof(reply.payload))
		abort();
	/* An fd that goes with the reply belongs to the device and is open. */
	if (dev.reply_fd >= 0 && (dev.reply_fd != dev.inflight.fd || !is_open(dev.reply_fd)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static unsigned long runs;
	static int base_fds = -1;
	size_t off = 0;

	if (!ready) {
		init_once();
		ready = true;
	}
	ncreated = 0;
	for (unsigned m = 0; m < MAX_MSGS && size - off >= 5; m++) {
		const uint8_t *h = data + off;
		uint16_t sz = (uint16_t)(h[3] | h[4] << 8);
		int fds[HY_VU_BASELINE_NREGIONS], given[HY_VU_BASELINE_NREGIONS];
		unsigned nfds;
		size_t avail;
		int ret;

		off += 5;
		memset(&msg, 0, sizeof(msg));
		msg.request = h[0];
		msg.flags =
			h[1] & 0x80 ? HY_VU_VERSION | (h[1] & HY_VU_FLAG_NEED_REPLY) : h[1] & 0xf;
		/* The payload first, so "natural" sizes can follow what it says. */
		avail = size - off < sizeof(msg.payload) ? size - off : sizeof(msg.payload);
		memcpy(msg.payload.raw, data + off, avail);
		msg.size = sz & 0x8000 ? natural_size(msg.request) : sz % (sizeof(msg.payload) + 1);
		if (msg.size < avail)
			memset(msg.payload.raw + msg.size, 0, sizeof(msg.payload) - msg.size);
		off += msg.size < avail ? msg.size : avail;
		nfds = h[2] & 0x80 ? natural_fds(msg.request) : h[2] % 3u;
		for (unsigned i = 0; i < nfds; i++)
			fds[i] = given[i] = new_fd(i ? h[2] & 0x20 : h[2] & 0x40);

		memset(&reply, 0xa5, sizeof(reply));
		ret = hy_vhost_handle(&dev, &msg, fds, nfds, &reply);
		check_reply(ret);
		for (unsigned i = 0; i < nfds; i++)
			if (is_open(given[i]) && !device_holds(given[i]))
				abort(); /* neither kept nor closed: leaked */
		check_device_fds();
		/* The supervisor drops the connection here. */
		if (ret == -EPROTO || dev.broken)
			break;
	}
	hy_device_reset(&dev);
	if (dev.nregions || dev.features || dev.protocol_features || dev.owner || dev.broken ||
	    dev.inflight.fd >= 0)
		abort();
	for (unsigned i = 0; i < ncreated; i++)
		if (is_open(created[i]))
			abort(); /* a reset left an fd of this conversation open */

	if (runs++ % 1000 == 0) {
		int n = count_fds();

		if (base_fds < 0)
			base_fds = n;
		else if (n > base_fds) {
			fprintf(stderr, "fuzz_vhost: %d fds open, %d at the start\n", n, base_fds);
			dump_fds();
			abort();
		}
	}
	return 0;
}
