/* SPDX-License-Identifier: MIT */
/*
 * master/vhost.c: the vhost-user backend message handler and its socket framing.
 *
 * The device is the real thing from hy_device_init() on the null backend, with every worker DOWN
 * (no process: hy_worker_call() answers -ESRCH), so each message runs exactly the code the master
 * runs, only no ring ever starts. The fds handed in are real eventfds and memfds; after each
 * message the test checks which ones the handler kept and that it closed the rest, and every test
 * ends by resetting the device and comparing the process's fd count with the one it started with.
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
#include <sys/time.h>
#include <unistd.h>

#include "master/device.h"
#include "master/vhost.h"
#include "shm/inflight.h"
#include "shm/log.h"

#define F_PROTOCOL_FEATURES (1ull << 30)
#define ACK		    (HY_VU_VERSION | HY_VU_FLAG_NEED_REPLY)
/* What QEMU's vhost-user-blk needs; Hydra may offer more (PROTO_ALL). */
#define PROTO_QEMU                                                                                 \
	(1ull << HY_VU_PROTOCOL_F_MQ | 1ull << HY_VU_PROTOCOL_F_REPLY_ACK |                        \
	 1ull << HY_VU_PROTOCOL_F_CONFIG | 1ull << HY_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS)
#define PROTO_ALL   hy_vhost_protocol_features()
#define MEM_SIZE(n) ((uint32_t)(offsetof(struct hy_vu_memory, regions) + (n)*32u))
#define CFG_HDR	    ((uint32_t)offsetof(struct hy_vu_config, payload))
#define CAPACITY    (1ull << 30)

static struct hy_topo_device cfg;
static struct hy_device dev;
static struct hy_vu_msg msg, reply;
static int base_fds;

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

static bool is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int new_efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	cr_assert(fd >= 0);
	return fd;
}

static int new_memfd(size_t size)
{
	int fd = memfd_create("test_vhost", MFD_CLOEXEC);

	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void setup_with(bool read_only, bool discard)
{
	char err[256];

	hy_log_init("test", NULL, HY_LOG_ERR);
	base_fds = count_fds();
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, "vtest");
	cfg.type = HY_BE_NULL;
	cfg.size = CAPACITY;
	cfg.nqueues = 2;
	cfg.queue_size = 256;
	cfg.block_size = 512;
	cfg.writeback = true;
	cfg.read_only = read_only;
	cfg.discard = discard;
	cfg.write_zeroes = true;
	cfg.queues[0].cpu = 0;
	cfg.queues[1].cpu = 1;
	cr_assert_eq(hy_device_init(&dev, &cfg, 0, err, sizeof(err)), 0, "%s", err);
	for (unsigned q = 0; q < HY_MAX_QUEUES; q++) {
		cr_assert_eq(dev.w[q].state, HY_W_DOWN);
		cr_assert_eq(dev.w[q].chan, -1);
	}
}

static void setup(void)
{
	setup_with(false, true);
}

static void teardown(void)
{
	hy_device_reset(&dev);
	hy_shm_dev_destroy(dev.shm);
}

TestSuite(vhost, .init = setup, .fini = teardown);

/* Forget the frontend and check that nothing it handed over is still open. */
static void assert_no_leak(void)
{
	hy_device_reset(&dev);
	cr_assert_eq(count_fds(), base_fds, "fds leaked: %d open, %d at the start", count_fds(),
		     base_fds);
}

static void prep(uint32_t request, uint32_t flags, uint32_t size)
{
	memset(&msg, 0, sizeof(msg));
	msg.request = request;
	msg.flags = flags;
	msg.size = size;
}

static int run(int *fds, unsigned nfds)
{
	memset(&reply, 0xa5, sizeof(reply));
	return hy_vhost_handle(&dev, &msg, fds, nfds, &reply);
}

static int send_u64(uint32_t request, uint32_t flags, uint64_t v)
{
	prep(request, flags, 8);
	msg.payload.u64 = v;
	return run(NULL, 0);
}

static int send_empty(uint32_t request, uint32_t flags)
{
	prep(request, flags, 0);
	return run(NULL, 0);
}

static int send_state(uint32_t request, uint32_t flags, uint32_t index, uint32_t num)
{
	prep(request, flags, sizeof(struct hy_vu_state));
	msg.payload.state.index = index;
	msg.payload.state.num = num;
	return run(NULL, 0);
}

/* SET_VRING_KICK / CALL / ERR with @fd (-1: the NOFD bit and no fd). */
static int send_vring_fd(uint32_t request, uint32_t flags, uint32_t index, int fd)
{
	int fds[1] = {fd};

	prep(request, flags, 8);
	msg.payload.u64 = index | (fd < 0 ? HY_VU_VRING_NOFD : 0);
	return run(fds, fd < 0 ? 0 : 1);
}

static int send_addr(uint32_t flags, uint32_t index)
{
	prep(HY_VU_SET_VRING_ADDR, flags, sizeof(struct hy_vu_addr));
	msg.payload.addr.index = index;
	msg.payload.addr.desc_user_addr = 0x7f0000001000ull + index * 0x10000;
	msg.payload.addr.avail_user_addr = 0x7f0000002000ull + index * 0x10000;
	msg.payload.addr.used_user_addr = 0x7f0000003000ull + index * 0x10000;
	return run(NULL, 0);
}

static struct hy_chan_region region(unsigned i)
{
	return (struct hy_chan_region){.gpa = (uint64_t)i << 20,
				       .size = 0x10000,
				       .uva = 0x7f0000000000ull + ((uint64_t)i << 20),
				       .mmap_offset = 0};
}

/* SET_MEM_TABLE of @n regions region(0..n) with fds @fds. */
static int send_mem_table(uint32_t flags, unsigned n, int *fds)
{
	prep(HY_VU_SET_MEM_TABLE, flags, MEM_SIZE(n));
	msg.payload.memory.nregions = n;
	for (unsigned i = 0; i < n && i < HY_VU_BASELINE_NREGIONS; i++)
		msg.payload.memory.regions[i] = region(i);
	return run(fds, n);
}

static int send_mem_single(uint32_t request, uint32_t flags, struct hy_chan_region r, int *fds,
			   unsigned nfds)
{
	prep(request, flags, sizeof(struct hy_vu_mem_single));
	msg.payload.mem.region = r;
	return run(fds, nfds);
}

static int get_config(uint32_t offset, uint32_t size)
{
	prep(HY_VU_GET_CONFIG, HY_VU_VERSION, CFG_HDR + size);
	msg.payload.config.offset = offset;
	msg.payload.config.size = size;
	return run(NULL, 0);
}

static int set_config(uint32_t flags, uint32_t offset, const void *data, uint32_t size)
{
	prep(HY_VU_SET_CONFIG, flags, CFG_HDR + size);
	msg.payload.config.offset = offset;
	msg.payload.config.size = size;
	memcpy(msg.payload.config.payload, data, size);
	return run(NULL, 0);
}

static void negotiate_reply_ack(void)
{
	cr_assert_eq(send_u64(HY_VU_SET_PROTOCOL_FEATURES, HY_VU_VERSION, PROTO_ALL), 0);
}

static void assert_reply_u64(uint32_t request, uint64_t v)
{
	cr_assert_eq(reply.request, request);
	cr_assert_eq(reply.flags, HY_VU_VERSION | HY_VU_FLAG_REPLY);
	cr_assert_eq(reply.size, 8);
	cr_assert_eq(reply.payload.u64, v, "reply 0x%llx, expected 0x%llx",
		     (unsigned long long)reply.payload.u64, (unsigned long long)v);
}

static void assert_acked(int ret, uint32_t request, bool ok)
{
	cr_assert_eq(ret, 1, "%s: no ack (%d)", hy_vhost_request_name(request), ret);
	cr_assert_eq(reply.request, request);
	cr_assert_eq(reply.flags, HY_VU_VERSION | HY_VU_FLAG_REPLY);
	cr_assert_eq(reply.size, 8);
	if (ok)
		cr_assert_eq(reply.payload.u64, 0, "%s: failed ack",
			     hy_vhost_request_name(request));
	else
		cr_assert_neq(reply.payload.u64, 0, "%s: ack says success",
			      hy_vhost_request_name(request));
}

static uint8_t cfg8(unsigned off)
{
	return reply.payload.config.payload[off];
}

static uint16_t cfg16(unsigned off)
{
	uint16_t v;

	memcpy(&v, reply.payload.config.payload + off, 2);
	return v;
}

static uint32_t cfg32(unsigned off)
{
	uint32_t v;

	memcpy(&v, reply.payload.config.payload + off, 4);
	return v;
}

static uint64_t cfg64(unsigned off)
{
	uint64_t v;

	memcpy(&v, reply.payload.config.payload + off, 8);
	return v;
}

/* ---- the happy path ---------------------------------------------------------------------- */

/* What QEMU's vhost-user-blk sends from connect to a running device (QEMU 8.x, 2 queues). */
Test(vhost, qemu_sequence)
{
	uint64_t features;
	int mfd[2] = {new_memfd(0x10000), new_memfd(0x10000)}, mfds[2] = {mfd[0], mfd[1]};
	int kick[2], call[2];

	cr_assert_eq(send_empty(HY_VU_GET_FEATURES, HY_VU_VERSION), 1);
	cr_assert_eq(reply.size, 8);
	features = reply.payload.u64;
	assert_reply_u64(HY_VU_GET_FEATURES, hy_device_features(&dev));
	cr_assert(features & F_PROTOCOL_FEATURES);
	cr_assert(features & 1ull << 32, "VIRTIO_F_VERSION_1");
	cr_assert(features & 1ull << HY_VIRTIO_BLK_F_MQ);
	cr_assert(features & 1ull << HY_VIRTIO_BLK_F_CONFIG_WCE);
	cr_assert(features & 1ull << HY_VIRTIO_BLK_F_FLUSH);
	cr_assert(features & 1ull << HY_VIRTIO_BLK_F_DISCARD);
	cr_assert(features & 1ull << HY_VIRTIO_BLK_F_WRITE_ZEROES);
	cr_assert_not(features & 1ull << HY_VIRTIO_BLK_F_RO);

	cr_assert_eq(send_empty(HY_VU_GET_PROTOCOL_FEATURES, HY_VU_VERSION), 1);
	assert_reply_u64(HY_VU_GET_PROTOCOL_FEATURES, PROTO_ALL);
	cr_assert_eq(reply.payload.u64 & PROTO_QEMU, PROTO_QEMU);
	cr_assert_eq(send_u64(HY_VU_SET_PROTOCOL_FEATURES, HY_VU_VERSION, PROTO_ALL), 0);
	cr_assert_eq(dev.protocol_features, PROTO_ALL);

	cr_assert_eq(send_empty(HY_VU_GET_QUEUE_NUM, HY_VU_VERSION), 1);
	assert_reply_u64(HY_VU_GET_QUEUE_NUM, 2);
	cr_assert_eq(send_empty(HY_VU_GET_MAX_MEM_SLOTS, HY_VU_VERSION), 1);
	assert_reply_u64(HY_VU_GET_MAX_MEM_SLOTS, HY_CHAN_MAX_REGIONS);
	cr_assert_eq(send_empty(HY_VU_SET_OWNER, HY_VU_VERSION), 0);
	cr_assert(dev.owner);

	/* QEMU reads up to write_zeroes_may_unmap: 57 bytes. */
	cr_assert_eq(get_config(0, 57), 1);
	cr_assert_eq(reply.size, CFG_HDR + 57);
	cr_assert_eq(reply.payload.config.size, 57);
	cr_assert_eq(cfg64(0), CAPACITY / 512);
	cr_assert_eq(cfg8(32), 1);
	cr_assert_eq(cfg16(34), 2);

	cr_assert_eq(send_u64(HY_VU_SET_FEATURES, ACK, features), 1);
	assert_acked(1, HY_VU_SET_FEATURES, true);
	cr_assert_eq(dev.features, features);
	cr_assert(dev.features_set);

	assert_acked(send_mem_table(ACK, 2, mfds), HY_VU_SET_MEM_TABLE, true);
	cr_assert_eq(dev.nregions, 2);
	cr_assert_eq(dev.region_fds[0], mfd[0]);
	cr_assert_eq(dev.region_fds[1], mfd[1]);
	cr_assert(is_open(mfd[0]) && is_open(mfd[1]), "the table's fds are kept");
	cr_assert_eq(dev.regions[1].gpa, region(1).gpa);
	cr_assert_eq(dev.regions[1].uva, region(1).uva);

	for (unsigned q = 0; q < 2; q++) {
		kick[q] = new_efd();
		call[q] = new_efd();
		assert_acked(send_state(HY_VU_SET_VRING_NUM, ACK, q, 256), HY_VU_SET_VRING_NUM,
			     true);
		assert_acked(send_state(HY_VU_SET_VRING_BASE, ACK, q, 7 + q), HY_VU_SET_VRING_BASE,
			     true);
		assert_acked(send_addr(ACK, q), HY_VU_SET_VRING_ADDR, true);
		assert_acked(send_vring_fd(HY_VU_SET_VRING_KICK, ACK, q, kick[q]),
			     HY_VU_SET_VRING_KICK, true);
		assert_acked(send_vring_fd(HY_VU_SET_VRING_CALL, ACK, q, call[q]),
			     HY_VU_SET_VRING_CALL, true);
		cr_assert_not(dev.vq[q].enabled, "protocol features: rings start disabled");
		assert_acked(send_state(HY_VU_SET_VRING_ENABLE, ACK, q, 1), HY_VU_SET_VRING_ENABLE,
			     true);
	}
	for (unsigned q = 0; q < 2; q++) {
		struct hy_vq *vq = &dev.vq[q];

		cr_assert_eq(vq->num, 256);
		cr_assert_eq(vq->last_avail, 7 + q);
		cr_assert(vq->have_addr && vq->started && vq->enabled);
		cr_assert_not(vq->running, "no worker: nothing runs");
		cr_assert_eq(vq->addr.desc_uva, 0x7f0000001000ull + q * 0x10000);
		cr_assert_eq(vq->addr.avail_uva, 0x7f0000002000ull + q * 0x10000);
		cr_assert_eq(vq->addr.used_uva, 0x7f0000003000ull + q * 0x10000);
		cr_assert_eq(vq->kick_fd, kick[q]);
		cr_assert_eq(vq->call_fd, call[q]);
		cr_assert(is_open(kick[q]) && is_open(call[q]));
	}

	/* Stop: GET_VRING_BASE answers the base and drops the kick fd. */
	cr_assert_eq(send_state(HY_VU_GET_VRING_BASE, ACK, 1, 0), 1);
	cr_assert_eq(reply.request, HY_VU_GET_VRING_BASE);
	cr_assert_eq(reply.flags, HY_VU_VERSION | HY_VU_FLAG_REPLY);
	cr_assert_eq(reply.size, sizeof(struct hy_vu_state));
	cr_assert_eq(reply.payload.state.index, 1);
	cr_assert_eq(reply.payload.state.num, 8);
	cr_assert_not(dev.vq[1].started);
	cr_assert_eq(dev.vq[1].kick_fd, -1);
	cr_assert_not(is_open(kick[1]), "GET_VRING_BASE closes the kick fd");
	cr_assert(is_open(call[1]));
	assert_no_leak();
}

Test(vhost, features_follow_the_backend)
{
	uint64_t f;

	dev.info.discard = false;
	cr_assert_eq(send_empty(HY_VU_GET_FEATURES, HY_VU_VERSION), 1);
	f = reply.payload.u64;
	cr_assert_not(f & 1ull << HY_VIRTIO_BLK_F_DISCARD, "backend cannot discard");
	cr_assert(f & 1ull << HY_VIRTIO_BLK_F_WRITE_ZEROES);
	/* A feature that was not offered is refused. */
	cr_assert_eq(
		send_u64(HY_VU_SET_FEATURES, HY_VU_VERSION, f | 1ull << HY_VIRTIO_BLK_F_DISCARD),
		-EPROTO);
	cr_assert_not(dev.features_set);
	/* GET_FEATURES also accepts QEMU's older 8-byte form. */
	cr_assert_eq(send_u64(HY_VU_GET_FEATURES, HY_VU_VERSION, 0), 1);
	cr_assert_eq(reply.payload.u64, f);
}

static void setup_read_only(void)
{
	setup_with(true, true);
}

Test(vhost_ro, read_only_device_features, .init = setup_read_only, .fini = teardown)
{
	uint64_t f;

	cr_assert_eq(send_empty(HY_VU_GET_FEATURES, HY_VU_VERSION), 1);
	f = reply.payload.u64;
	cr_assert(f & 1ull << HY_VIRTIO_BLK_F_RO);
	cr_assert_not(f & 1ull << HY_VIRTIO_BLK_F_DISCARD);
	cr_assert_not(f & 1ull << HY_VIRTIO_BLK_F_WRITE_ZEROES);
	cr_assert_eq(send_u64(HY_VU_SET_FEATURES, HY_VU_VERSION, f), 0);
}

Test(vhost, features_without_protocol_features_enable_rings)
{
	uint64_t f = hy_device_features(&dev) & ~F_PROTOCOL_FEATURES;

	cr_assert_eq(send_u64(HY_VU_SET_FEATURES, HY_VU_VERSION, f), 0);
	cr_assert(dev.vq[0].enabled && dev.vq[1].enabled);
}

/* ---- configuration space ----------------------------------------------------------------- */

Test(vhost, get_config_layout)
{
	/* virtio 1.2, 5.2.4: byte offsets of the fields, independent of our struct. */
	cr_assert_eq(get_config(0, 60), 1);
	cr_assert_eq(reply.request, HY_VU_GET_CONFIG);
	cr_assert_eq(reply.flags, HY_VU_VERSION | HY_VU_FLAG_REPLY);
	cr_assert_eq(reply.size, CFG_HDR + 60);
	cr_assert_eq(reply.payload.config.offset, 0);
	cr_assert_eq(reply.payload.config.size, 60);
	cr_assert_eq(cfg64(0), CAPACITY / 512, "capacity");
	cr_assert_eq(cfg32(8), HY_BLK_SIZE_MAX, "size_max");
	cr_assert_eq(cfg32(12), 126, "seg_max: min(queue_size - 2, 126)");
	cr_assert_eq(cfg32(20), 512, "blk_size");
	cr_assert_eq(cfg8(32), 1, "writeback");
	cr_assert_eq(cfg16(34), 2, "num_queues");
	cr_assert_eq(cfg32(36), HY_BLK_MAX_DISCARD_SECT, "max_discard_sectors");
	cr_assert_eq(cfg32(40), 1, "max_discard_seg");
	cr_assert_eq(cfg32(44), 1, "discard_sector_alignment");
	cr_assert_eq(cfg32(48), HY_BLK_MAX_DISCARD_SECT, "max_write_zeroes_sectors");
	cr_assert_eq(cfg32(52), 1, "max_write_zeroes_seg");
	cr_assert_eq(cfg8(56), 1, "write_zeroes_may_unmap");
}

Test(vhost, get_config_partial_reads)
{
	cr_assert_eq(get_config(32, 1), 1);
	cr_assert_eq(reply.size, CFG_HDR + 1);
	cr_assert_eq(reply.payload.config.offset, 32);
	cr_assert_eq(cfg8(0), 1);

	cr_assert_eq(get_config(34, 2), 1);
	cr_assert_eq(cfg16(0), 2);

	cr_assert_eq(get_config(20, 4), 1);
	cr_assert_eq(cfg32(0), 512);

	cr_assert_eq(get_config(4, 8), 1, "straddles capacity and size_max");
	cr_assert_eq(cfg32(0), (uint32_t)((CAPACITY / 512) >> 32));
	cr_assert_eq(cfg32(4), HY_BLK_SIZE_MAX);

	/* Beyond the 60 bytes of layout: zeroes, not whatever follows our struct. */
	cr_assert_eq(get_config(56, 8), 1);
	cr_assert_eq(cfg8(0), 1);
	for (unsigned i = 1; i < 8; i++)
		cr_assert_eq(cfg8(i), 0, "byte %u", 56 + i);
	cr_assert_eq(get_config(200, 56), 1);
	for (unsigned i = 0; i < 56; i++)
		cr_assert_eq(cfg8(i), 0);

	/* The largest and the emptiest ranges allowed. */
	cr_assert_eq(get_config(0, 256), 1);
	cr_assert_eq(reply.size, CFG_HDR + 256);
	for (unsigned i = 60; i < 256; i++)
		cr_assert_eq(cfg8(i), 0);
	cr_assert_eq(get_config(256, 0), 1);
	cr_assert_eq(reply.size, CFG_HDR);
	cr_assert_eq(get_config(0, 0), 1);
	cr_assert_eq(reply.size, CFG_HDR);
}

Test(vhost, get_config_rejects_bad_ranges)
{
	int fd = new_efd(), fds[1] = {fd};

	cr_assert_eq(get_config(200, 57), -EPROTO, "offset + size > 256");
	cr_assert_eq(get_config(257, 0), -EPROTO);
	cr_assert_eq(get_config(0, 257), -EPROTO);
	cr_assert_eq(get_config(0xffffffffu, 1), -EPROTO, "offset + size wraps");
	cr_assert_eq(get_config(1, 0xffffffffu), -EPROTO);

	prep(HY_VU_GET_CONFIG, HY_VU_VERSION, CFG_HDR + 57);
	msg.payload.config.size = 60;
	cr_assert_eq(run(NULL, 0), -EPROTO, "payload size and config size disagree");
	prep(HY_VU_GET_CONFIG, HY_VU_VERSION, 8);
	cr_assert_eq(run(NULL, 0), -EPROTO, "shorter than the config header");
	prep(HY_VU_GET_CONFIG, HY_VU_VERSION, 0);
	cr_assert_eq(run(NULL, 0), -EPROTO);

	prep(HY_VU_GET_CONFIG, HY_VU_VERSION, CFG_HDR + 4);
	msg.payload.config.size = 4;
	cr_assert_eq(run(fds, 1), -EPROTO, "GET_CONFIG carries no fd");
	cr_assert_not(is_open(fd));
	assert_no_leak();
}

Test(vhost, set_config_writeback)
{
	uint8_t zero = 0, one = 1, seven = 7, two[2] = {0, 0};

	negotiate_reply_ack();
	cr_assert_eq(dev.shm->writeback, 1);
	assert_acked(set_config(ACK, 32, &zero, 1), HY_VU_SET_CONFIG, true);
	cr_assert_eq(dev.shm->writeback, 0, "write-through now");
	cr_assert_eq(get_config(32, 1), 1);
	cr_assert_eq(cfg8(0), 0);
	cr_assert_eq(get_config(0, 60), 1);
	cr_assert_eq(cfg8(32), 0);

	assert_acked(set_config(ACK, 32, &seven, 1), HY_VU_SET_CONFIG, true);
	cr_assert_eq(dev.shm->writeback, 1, "any non-zero byte means write-back");
	cr_assert_eq(get_config(32, 1), 1);
	cr_assert_eq(cfg8(0), 1);

	/* Every other byte is read-only. */
	assert_acked(set_config(ACK, 0, &one, 1), HY_VU_SET_CONFIG, false);
	assert_acked(set_config(ACK, 33, &zero, 1), HY_VU_SET_CONFIG, false);
	assert_acked(set_config(ACK, 34, two, 2), HY_VU_SET_CONFIG, false);
	assert_acked(set_config(ACK, 32, two, 2), HY_VU_SET_CONFIG, false);
	assert_acked(set_config(ACK, 31, two, 2), HY_VU_SET_CONFIG, false);
	cr_assert_eq(dev.shm->writeback, 1, "refused writes change nothing");
	cr_assert_eq(get_config(0, 8), 1);
	cr_assert_eq(cfg64(0), CAPACITY / 512);
	cr_assert_eq(set_config(HY_VU_VERSION, 0, &one, 1), 0, "no ack asked, none sent");

	/* A reset goes back to the topology's mode. */
	cr_assert_eq(set_config(HY_VU_VERSION, 32, &zero, 1), 0);
	cr_assert_eq(dev.shm->writeback, 0);
	hy_device_reset(&dev);
	cr_assert_eq(dev.shm->writeback, 1);
	cr_assert_eq(get_config(32, 1), 1);
	cr_assert_eq(cfg8(0), 1);
}

Test(vhost, set_config_malformed)
{
	int fd = new_efd(), fds[1] = {fd};

	prep(HY_VU_SET_CONFIG, HY_VU_VERSION, CFG_HDR + 2);
	msg.payload.config.offset = 32;
	msg.payload.config.size = 1;
	cr_assert_eq(run(NULL, 0), -EPROTO);
	prep(HY_VU_SET_CONFIG, HY_VU_VERSION, 4);
	cr_assert_eq(run(NULL, 0), -EPROTO);
	prep(HY_VU_SET_CONFIG, HY_VU_VERSION, CFG_HDR + 1);
	msg.payload.config.offset = 32;
	msg.payload.config.size = 1;
	cr_assert_eq(run(fds, 1), -EPROTO);
	cr_assert_not(is_open(fd));
	cr_assert_eq(dev.shm->writeback, 1);
	assert_no_leak();
}

/* ---- REPLY_ACK and versions -------------------------------------------------------------- */

Test(vhost, reply_ack_semantics)
{
	int ret;

	/* Not negotiated: NEED_REPLY is ignored, success or failure. */
	cr_assert_eq(send_state(HY_VU_SET_VRING_NUM, ACK, 0, 128), 0);
	cr_assert_eq(send_empty(99, ACK), 0, "unknown request, no REPLY_ACK: silence");
	/* Whether the message that turns REPLY_ACK on is acked itself is left open by the spec;
	 * QEMU never asks. If it answers, it must be a success. */
	ret = send_u64(HY_VU_SET_PROTOCOL_FEATURES, ACK, PROTO_ALL);
	cr_assert(ret == 0 || ret == 1);
	if (ret == 1)
		assert_acked(ret, HY_VU_SET_PROTOCOL_FEATURES, true);
	cr_assert_eq(dev.protocol_features, PROTO_ALL);

	/* Negotiated: the flag asks for a u64, zero on success. */
	assert_acked(send_state(HY_VU_SET_VRING_NUM, ACK, 0, 64), HY_VU_SET_VRING_NUM, true);
	cr_assert_eq(dev.vq[0].num, 64);
	cr_assert_eq(send_state(HY_VU_SET_VRING_NUM, HY_VU_VERSION, 0, 32), 0, "no flag, no reply");
	cr_assert_eq(dev.vq[0].num, 32);
	assert_acked(send_empty(99, ACK), 99, false);
	cr_assert_eq(send_empty(99, HY_VU_VERSION), 0);

	/* A message with its own reply gets that reply, not an ack. */
	cr_assert_eq(send_empty(HY_VU_GET_QUEUE_NUM, ACK), 1);
	assert_reply_u64(HY_VU_GET_QUEUE_NUM, 2);

	/* The REPLY flag from the frontend changes nothing. */
	cr_assert_eq(send_state(HY_VU_SET_VRING_NUM, HY_VU_VERSION | HY_VU_FLAG_REPLY, 0, 16), 0);
	cr_assert_eq(dev.vq[0].num, 16);
}

Test(vhost, wrong_version_is_a_protocol_error)
{
	static const uint32_t bad[] = {0, 2, 3, HY_VU_FLAG_NEED_REPLY, 2 | HY_VU_FLAG_NEED_REPLY};

	negotiate_reply_ack();
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = new_efd(), fds[1] = {fd};

		prep(HY_VU_SET_VRING_CALL, bad[i], 8);
		msg.payload.u64 = 0;
		cr_assert_eq(run(fds, 1), -EPROTO, "flags 0x%x", bad[i]);
		cr_assert_not(is_open(fd), "flags 0x%x: fd left open", bad[i]);
		cr_assert_eq(dev.vq[0].call_fd, -1);
	}
	cr_assert_eq(send_empty(HY_VU_GET_FEATURES, 0), -EPROTO);
	assert_no_leak();
}

Test(vhost, broken_device_refuses_everything)
{
	int fd = new_efd(), fds[1] = {fd};

	dev.broken = true;
	cr_assert_eq(send_empty(HY_VU_GET_FEATURES, HY_VU_VERSION), -EPROTO);
	prep(HY_VU_SET_VRING_KICK, HY_VU_VERSION, 8);
	cr_assert_eq(run(fds, 1), -EPROTO);
	/* The handler may have taken the fd into the vring; a reset must release it. */
	hy_device_reset(&dev);
	cr_assert_not(dev.broken);
	cr_assert_not(is_open(fd));
	assert_no_leak();
}

Test(vhost, unknown_requests_are_refused_not_fatal)
{
	static const uint32_t reqs[] = {0,    HY_VU_SET_LOG_BASE, HY_VU_SET_LOG_FD, 19, 39,
					1000, 0xffffffffu};

	negotiate_reply_ack();
	for (unsigned i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		int fd = new_efd(), fds[1] = {fd};

		prep(reqs[i], ACK, 8);
		assert_acked(run(fds, 1), reqs[i], false);
		cr_assert_not(is_open(fd), "request %u kept its fd", reqs[i]);
		prep(reqs[i], HY_VU_VERSION, 0);
		cr_assert_eq(run(NULL, 0), 0);
	}
	cr_assert_not(dev.broken);
	assert_no_leak();
}

Test(vhost, request_names)
{
	cr_assert_str_eq(hy_vhost_request_name(HY_VU_SET_MEM_TABLE), "SET_MEM_TABLE");
	cr_assert_str_eq(hy_vhost_request_name(HY_VU_REM_MEM_REG), "REM_MEM_REG");
	cr_assert_str_eq(hy_vhost_request_name(0), "unknown");
	cr_assert_str_eq(hy_vhost_request_name(19), "unknown");
	cr_assert_str_eq(hy_vhost_request_name(39), "SET_STATUS"); /* named, though not served */
	cr_assert_str_eq(hy_vhost_request_name(0xffffffffu), "unknown");
}

/* ---- message shape ----------------------------------------------------------------------- */

struct shape {
	uint32_t request;
	uint32_t size; /* a wrong one */
	unsigned nfds; /* the right number */
};

Test(vhost, wrong_payload_size)
{
	static const struct shape cases[] = {
		{HY_VU_GET_FEATURES, 4, 0},
		{HY_VU_GET_FEATURES, 16, 0},
		{HY_VU_SET_FEATURES, 0, 0},
		{HY_VU_SET_FEATURES, 4, 0},
		{HY_VU_SET_FEATURES, 16, 0},
		{HY_VU_SET_OWNER, 4, 0},
		{HY_VU_RESET_OWNER, 12, 0},
		{HY_VU_GET_PROTOCOL_FEATURES, 1, 0},
		{HY_VU_SET_PROTOCOL_FEATURES, 0, 0},
		{HY_VU_SET_PROTOCOL_FEATURES, 7, 0},
		{HY_VU_GET_QUEUE_NUM, 4, 0},
		{HY_VU_GET_MAX_MEM_SLOTS, 9, 0},
		{HY_VU_SET_VRING_NUM, 0, 0},
		{HY_VU_SET_VRING_NUM, 4, 0},
		{HY_VU_SET_VRING_NUM, 12, 0},
		{HY_VU_SET_VRING_BASE, 4, 0},
		{HY_VU_SET_VRING_BASE, 16, 0},
		{HY_VU_GET_VRING_BASE, 0, 0},
		{HY_VU_GET_VRING_BASE, 12, 0},
		{HY_VU_SET_VRING_ENABLE, 4, 0},
		{HY_VU_SET_VRING_ENABLE, 16, 0},
		{HY_VU_SET_VRING_ADDR, 8, 0},
		{HY_VU_SET_VRING_ADDR, 32, 0},
		{HY_VU_SET_VRING_ADDR, 48, 0},
		{HY_VU_SET_VRING_KICK, 0, 1},
		{HY_VU_SET_VRING_KICK, 4, 1},
		{HY_VU_SET_VRING_KICK, 16, 1},
		{HY_VU_SET_VRING_CALL, 4, 1},
		{HY_VU_SET_VRING_CALL, 16, 1},
		{HY_VU_SET_VRING_ERR, 0, 1},
		{HY_VU_ADD_MEM_REG, 8, 1},
		{HY_VU_ADD_MEM_REG, 32, 1},
		{HY_VU_ADD_MEM_REG, 48, 1},
		{HY_VU_REM_MEM_REG, 32, 0},
		{HY_VU_REM_MEM_REG, 48, 1},
		{HY_VU_SET_MEM_TABLE, 0, 0},
		{HY_VU_SET_MEM_TABLE, 4, 0},
		{HY_VU_SET_MEM_TABLE, MEM_SIZE(1) + 8, 1},
		{HY_VU_SET_MEM_TABLE, MEM_SIZE(1) - 1, 1},
	};

	negotiate_reply_ack();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct shape *c = &cases[i];
		int fd = c->nfds ? new_memfd(0x10000) : -1, fds[1] = {fd};

		prep(c->request, ACK, c->size);
		/* Everything else about the message is right. */
		if (c->request == HY_VU_SET_VRING_NUM || c->request == HY_VU_SET_VRING_ENABLE)
			msg.payload.state.num = 128;
		if (c->request == HY_VU_SET_MEM_TABLE)
			msg.payload.memory.nregions = 1;
		msg.payload.memory.regions[0] = region(0);
		if (c->request == HY_VU_ADD_MEM_REG || c->request == HY_VU_REM_MEM_REG)
			msg.payload.mem.region = region(0);
		cr_assert_eq(run(fds, c->nfds), -EPROTO, "%s with a %u-byte payload",
			     hy_vhost_request_name(c->request), c->size);
		if (fd >= 0)
			cr_assert_not(is_open(fd), "%s with a %u-byte payload kept its fd",
				      hy_vhost_request_name(c->request), c->size);
	}
	cr_assert_eq(dev.nregions, 0);
	for (unsigned q = 0; q < 2; q++) {
		cr_assert_eq(dev.vq[q].num, 0);
		cr_assert_eq(dev.vq[q].kick_fd, -1);
		cr_assert_eq(dev.vq[q].call_fd, -1);
		cr_assert_eq(dev.vq[q].err_fd, -1);
	}
	assert_no_leak();
}

Test(vhost, wrong_fd_count)
{
	static const struct shape cases[] = {
		{HY_VU_GET_FEATURES, 0, 1},
		{HY_VU_SET_FEATURES, 8, 1},
		{HY_VU_SET_OWNER, 0, 1},
		{HY_VU_RESET_OWNER, 0, 2},
		{HY_VU_GET_PROTOCOL_FEATURES, 0, 1},
		{HY_VU_SET_PROTOCOL_FEATURES, 8, 1},
		{HY_VU_GET_QUEUE_NUM, 0, 1},
		{HY_VU_GET_MAX_MEM_SLOTS, 0, 1},
		{HY_VU_SET_VRING_NUM, 8, 1},
		{HY_VU_SET_VRING_BASE, 8, 1},
		{HY_VU_GET_VRING_BASE, 8, 1},
		{HY_VU_SET_VRING_ENABLE, 8, 1},
		{HY_VU_SET_VRING_ADDR, 40, 1},
		{HY_VU_SET_VRING_KICK, 8, 0},
		{HY_VU_SET_VRING_KICK, 8, 2},
		{HY_VU_SET_VRING_CALL, 8, 0},
		{HY_VU_SET_VRING_CALL, 8, 2},
		{HY_VU_SET_VRING_ERR, 8, 3},
		{HY_VU_ADD_MEM_REG, 40, 0},
		{HY_VU_ADD_MEM_REG, 40, 2},
		{HY_VU_REM_MEM_REG, 40, 2},
		{HY_VU_GET_CONFIG, CFG_HDR + 4, 1},
		{HY_VU_SET_CONFIG, CFG_HDR + 1, 2},
	};

	negotiate_reply_ack();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct shape *c = &cases[i];
		int fd[3], fds[3];

		for (unsigned k = 0; k < c->nfds; k++)
			fds[k] = fd[k] = k ? new_efd() : new_memfd(0x10000);
		prep(c->request, ACK, c->size);
		msg.payload.state.num = 128;
		if (c->request == HY_VU_ADD_MEM_REG || c->request == HY_VU_REM_MEM_REG)
			msg.payload.mem.region = region(0);
		if (c->request == HY_VU_GET_CONFIG) {
			msg.payload.config.size = 4;
		} else if (c->request == HY_VU_SET_CONFIG) {
			msg.payload.config.offset = 32;
			msg.payload.config.size = 1;
		}
		cr_assert_eq(run(fds, c->nfds), -EPROTO, "%s with %u fds",
			     hy_vhost_request_name(c->request), c->nfds);
		for (unsigned k = 0; k < c->nfds; k++)
			cr_assert_not(is_open(fd[k]), "%s with %u fds: fd %u left open",
				      hy_vhost_request_name(c->request), c->nfds, k);
	}
	cr_assert_eq(dev.nregions, 0);
	assert_no_leak();
}

Test(vhost, nofd_flag_with_an_fd)
{
	int fd = new_efd(), fds[1] = {fd};

	prep(HY_VU_SET_VRING_CALL, HY_VU_VERSION, 8);
	msg.payload.u64 = HY_VU_VRING_NOFD;
	cr_assert_eq(run(fds, 1), -EPROTO);
	cr_assert_not(is_open(fd));
	cr_assert_eq(dev.vq[0].call_fd, -1);
	assert_no_leak();
}

/* ---- vrings ------------------------------------------------------------------------------ */

Test(vhost, vring_index_out_of_range)
{
	static const uint32_t state_reqs[] = {HY_VU_SET_VRING_NUM, HY_VU_SET_VRING_BASE,
					      HY_VU_GET_VRING_BASE, HY_VU_SET_VRING_ENABLE};
	static const uint32_t fd_reqs[] = {HY_VU_SET_VRING_KICK, HY_VU_SET_VRING_CALL,
					   HY_VU_SET_VRING_ERR};
	static const uint32_t bad_index[] = {2, 3, 63, 64, 255, 0x10000, 0xffffffffu};

	for (unsigned i = 0; i < sizeof(state_reqs) / sizeof(state_reqs[0]); i++)
		for (unsigned k = 0; k < sizeof(bad_index) / sizeof(bad_index[0]); k++)
			cr_assert_eq(send_state(state_reqs[i], HY_VU_VERSION, bad_index[k], 128),
				     -EPROTO, "%s for vring %u",
				     hy_vhost_request_name(state_reqs[i]), bad_index[k]);
	for (unsigned k = 0; k < sizeof(bad_index) / sizeof(bad_index[0]); k++)
		cr_assert_eq(send_addr(HY_VU_VERSION, bad_index[k]), -EPROTO);
	for (unsigned i = 0; i < sizeof(fd_reqs) / sizeof(fd_reqs[0]); i++) {
		for (unsigned idx = 2; idx < 256; idx += 51) {
			int fd = new_efd();

			cr_assert_eq(send_vring_fd(fd_reqs[i], HY_VU_VERSION, idx, fd), -EPROTO,
				     "%s for vring %u", hy_vhost_request_name(fd_reqs[i]), idx);
			cr_assert_not(is_open(fd));
		}
		cr_assert_eq(send_vring_fd(fd_reqs[i], HY_VU_VERSION, 2, -1), -EPROTO);
	}
	for (unsigned q = 2; q < HY_MAX_QUEUES; q++) {
		cr_assert_eq(dev.vq[q].num, 0);
		cr_assert_eq(dev.vq[q].kick_fd, -1);
	}
	assert_no_leak();
}

Test(vhost, vring_num)
{
	static const uint32_t bad[] = {0, 3, 6, 255, 257, 384, 512, 32768, 65536, 0x80000000u};
	static const uint32_t good[] = {1, 2, 4, 128, 256};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(send_state(HY_VU_SET_VRING_NUM, HY_VU_VERSION, 1, bad[i]), -EPROTO,
			     "size %u", bad[i]);
		cr_assert_eq(dev.vq[1].num, 0);
	}
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(send_state(HY_VU_SET_VRING_NUM, HY_VU_VERSION, 1, good[i]), 0,
			     "size %u", good[i]);
		cr_assert_eq(dev.vq[1].num, good[i]);
	}
	cr_assert_eq(dev.vq[0].num, 0);
}

Test(vhost, vring_base)
{
	cr_assert_eq(send_state(HY_VU_SET_VRING_BASE, HY_VU_VERSION, 0, 0x10000), -EPROTO);
	cr_assert_eq(send_state(HY_VU_SET_VRING_BASE, HY_VU_VERSION, 0, 0xffffffffu), -EPROTO);
	cr_assert_eq(dev.vq[0].last_avail, 0);
	cr_assert_eq(send_state(HY_VU_SET_VRING_BASE, HY_VU_VERSION, 0, 0xffff), 0);
	cr_assert_eq(send_state(HY_VU_SET_VRING_BASE, HY_VU_VERSION, 1, 1234), 0);
	cr_assert_eq(send_state(HY_VU_GET_VRING_BASE, HY_VU_VERSION, 0, 0), 1);
	cr_assert_eq(reply.payload.state.index, 0);
	cr_assert_eq(reply.payload.state.num, 0xffff);
	cr_assert_eq(send_state(HY_VU_GET_VRING_BASE, HY_VU_VERSION, 1, 99), 1);
	cr_assert_eq(reply.payload.state.index, 1);
	cr_assert_eq(reply.payload.state.num, 1234);
}

Test(vhost, vring_enable_toggles)
{
	cr_assert_eq(send_state(HY_VU_SET_VRING_ENABLE, HY_VU_VERSION, 1, 1), 0);
	cr_assert(dev.vq[1].enabled);
	cr_assert_not(dev.vq[0].enabled);
	cr_assert_eq(send_state(HY_VU_SET_VRING_ENABLE, HY_VU_VERSION, 1, 0), 0);
	cr_assert_not(dev.vq[1].enabled);
	cr_assert_eq(send_state(HY_VU_SET_VRING_ENABLE, HY_VU_VERSION, 0, 42), 0);
	cr_assert(dev.vq[0].enabled);
}

Test(vhost, vring_fds_are_replaced)
{
	int k1 = new_efd(), k2 = new_efd(), c1 = new_efd(), c2 = new_efd();
	int e1 = new_efd(), e2 = new_efd();

	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_KICK, HY_VU_VERSION, 0, k1), 0);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_CALL, HY_VU_VERSION, 0, c1), 0);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_ERR, HY_VU_VERSION, 0, e1), 0);
	cr_assert(dev.vq[0].started);
	cr_assert_eq(dev.vq[0].err_fd, e1);

	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_KICK, HY_VU_VERSION, 0, k2), 0);
	cr_assert_not(is_open(k1), "the old kick fd is closed");
	cr_assert_eq(dev.vq[0].kick_fd, k2);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_CALL, HY_VU_VERSION, 0, c2), 0);
	cr_assert_not(is_open(c1));
	cr_assert_eq(dev.vq[0].call_fd, c2);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_ERR, HY_VU_VERSION, 0, e2), 0);
	cr_assert_not(is_open(e1));

	/* NOFD: "no call fd" and "no err fd" drop the old ones. */
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_CALL, HY_VU_VERSION, 0, -1), 0);
	cr_assert_not(is_open(c2));
	cr_assert_eq(dev.vq[0].call_fd, -1);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_ERR, HY_VU_VERSION, 0, -1), 0);
	cr_assert_not(is_open(e2));
	cr_assert(is_open(k2));
	cr_assert_eq(dev.vq[1].kick_fd, -1, "vring 1 untouched");
	assert_no_leak();
}

Test(vhost, kick_without_fd_is_polling_mode)
{
	int k = new_efd();

	negotiate_reply_ack();
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_KICK, ACK, 0, k), 1);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_KICK, ACK, 0, -1), -EPROTO);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_KICK, ACK, 1, -1), -EPROTO);
	cr_assert_not(dev.vq[1].started);
	assert_no_leak();
}

/* ---- features ---------------------------------------------------------------------------- */

Test(vhost, set_features_never_offered)
{
	uint64_t offered = hy_device_features(&dev);
	static const uint64_t bad[] = {1ull << 0,  1ull << HY_VIRTIO_BLK_F_RO,
				       1ull << 4,  1ull << 33,
				       1ull << 34, 1ull << 63,
				       ~0ull};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(send_u64(HY_VU_SET_FEATURES, HY_VU_VERSION, offered | bad[i]), -EPROTO,
			     "bits 0x%llx", (unsigned long long)bad[i]);
		cr_assert_not(dev.features_set);
	}
	cr_assert_eq(send_u64(HY_VU_SET_FEATURES, HY_VU_VERSION, 0), 0, "a subset is fine");
	cr_assert(dev.features_set);
	cr_assert_eq(send_u64(HY_VU_SET_FEATURES, HY_VU_VERSION, offered), 0);
	cr_assert_eq(dev.features, offered);
}

Test(vhost, set_protocol_features_never_offered)
{
	static const uint64_t bad[] = {1ull << 1,  1ull << 2,  1ull << 4,  1ull << 10,
				       1ull << 12, 1ull << 16, 1ull << 63, ~0ull};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!(bad[i] & ~PROTO_ALL))
			continue; /* offered by now */
		cr_assert_eq(
			send_u64(HY_VU_SET_PROTOCOL_FEATURES, HY_VU_VERSION, PROTO_ALL | bad[i]),
			-EPROTO, "bits 0x%llx", (unsigned long long)bad[i]);
	}
	cr_assert_eq(dev.protocol_features, 0);
	cr_assert_eq(send_u64(HY_VU_SET_PROTOCOL_FEATURES, HY_VU_VERSION,
			      1ull << HY_VU_PROTOCOL_F_REPLY_ACK),
		     0);
	cr_assert_eq(dev.protocol_features, 1ull << HY_VU_PROTOCOL_F_REPLY_ACK);
}

/* ---- memory ------------------------------------------------------------------------------ */

Test(vhost, set_mem_table_replaces_the_old_one)
{
	int a = new_memfd(0x10000), b = new_memfd(0x10000), c = new_memfd(0x10000);
	int fds2[2] = {a, b}, fds1[1] = {c};

	cr_assert_eq(send_mem_table(HY_VU_VERSION, 2, fds2), 0);
	cr_assert_eq(fds2[0], -1, "taken fds are marked as taken");
	cr_assert_eq(send_mem_table(HY_VU_VERSION, 1, fds1), 0);
	cr_assert_eq(dev.nregions, 1);
	cr_assert_eq(dev.region_fds[0], c);
	cr_assert_not(is_open(a), "the old table's fds are closed");
	cr_assert_not(is_open(b));
	cr_assert(is_open(c));
	assert_no_leak();
	cr_assert_not(is_open(c), "reset drops the table");
}

Test(vhost, set_mem_table_rejections)
{
	struct hy_chan_region bad[] = {
		{.gpa = 0, .size = 0, .uva = 0x7f0000000000ull},
		{.gpa = ~0ull - 0xfff, .size = 0x2000, .uva = 0x7f0000000000ull},
		{.gpa = 0, .size = 0x2000, .uva = ~0ull - 0xfff},
		{.gpa = 0, .size = 0x2000, .uva = 0x7f0000000000ull, .mmap_offset = ~0ull},
		{.gpa = 0, .size = ~0ull, .uva = 1},
	};
	int keep[2] = {new_memfd(0x10000), new_memfd(0x10000)}, kfds[2] = {keep[0], keep[1]};
	int fd[HY_VU_BASELINE_NREGIONS + 1], fds[HY_VU_BASELINE_NREGIONS + 1];

	negotiate_reply_ack();
	assert_acked(send_mem_table(ACK, 2, kfds), HY_VU_SET_MEM_TABLE, true);

	/* Nine regions: more than SET_MEM_TABLE can carry. */
	for (unsigned i = 0; i < 9; i++)
		fds[i] = fd[i] = new_memfd(0x1000);
	prep(HY_VU_SET_MEM_TABLE, ACK, MEM_SIZE(9));
	msg.payload.memory.nregions = 9;
	for (unsigned i = 0; i < 9; i++) {
		struct hy_chan_region r = region(i);

		/* The ninth lies past regions[]: write it through the raw view of the union. */
		memcpy(msg.payload.raw + MEM_SIZE(i), &r, sizeof(r));
	}
	cr_assert_eq(run(fds, 9), -EPROTO);
	for (unsigned i = 0; i < 9; i++)
		cr_assert_not(is_open(fd[i]), "fd %u of 9", i);

	/* nregions says 2, the payload holds 1, 2 fds. */
	for (unsigned i = 0; i < 2; i++)
		fds[i] = fd[i] = new_memfd(0x1000);
	prep(HY_VU_SET_MEM_TABLE, ACK, MEM_SIZE(1));
	msg.payload.memory.nregions = 2;
	msg.payload.memory.regions[0] = region(0);
	msg.payload.memory.regions[1] = region(1);
	cr_assert_eq(run(fds, 2), -EPROTO);
	cr_assert_not(is_open(fd[0]) || is_open(fd[1]));

	/* 2 regions, 1 fd; and 1 region, 2 fds. */
	fds[0] = fd[0] = new_memfd(0x1000);
	prep(HY_VU_SET_MEM_TABLE, ACK, MEM_SIZE(2));
	msg.payload.memory.nregions = 2;
	msg.payload.memory.regions[0] = region(0);
	msg.payload.memory.regions[1] = region(1);
	cr_assert_eq(run(fds, 1), -EPROTO);
	cr_assert_not(is_open(fd[0]));
	for (unsigned i = 0; i < 2; i++)
		fds[i] = fd[i] = new_memfd(0x1000);
	prep(HY_VU_SET_MEM_TABLE, ACK, MEM_SIZE(1));
	msg.payload.memory.nregions = 1;
	msg.payload.memory.regions[0] = region(0);
	cr_assert_eq(run(fds, 2), -EPROTO);
	cr_assert_not(is_open(fd[0]) || is_open(fd[1]));

	/* Empty and wrapping regions, in either slot. */
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (unsigned slot = 0; slot < 2; slot++) {
			fds[0] = fd[0] = new_memfd(0x1000);
			fds[1] = fd[1] = new_memfd(0x1000);
			prep(HY_VU_SET_MEM_TABLE, ACK, MEM_SIZE(2));
			msg.payload.memory.nregions = 2;
			msg.payload.memory.regions[0] = region(4);
			msg.payload.memory.regions[1] = region(5);
			msg.payload.memory.regions[slot] = bad[i];
			cr_assert_eq(run(fds, 2), -EPROTO, "bad region %u in slot %u", i, slot);
			cr_assert_not(is_open(fd[0]) || is_open(fd[1]), "bad region %u", i);
		}
	}

	/* Nothing of that touched the table in force. */
	cr_assert_eq(dev.nregions, 2);
	cr_assert_eq(dev.region_fds[0], keep[0]);
	cr_assert_eq(dev.region_fds[1], keep[1]);
	cr_assert(is_open(keep[0]) && is_open(keep[1]));
	cr_assert_eq(dev.regions[1].gpa, region(1).gpa);
	assert_no_leak();
}

Test(vhost, add_and_remove_regions)
{
	int a = new_memfd(0x10000), b = new_memfd(0x10000), c = new_memfd(0x10000);
	int fa[1] = {a}, fb[1] = {b}, fc[1] = {c}, extra = new_memfd(0x1000), fe[1] = {extra};
	struct hy_chan_region other = region(1);

	negotiate_reply_ack();
	assert_acked(send_mem_single(HY_VU_ADD_MEM_REG, ACK, region(0), fa, 1), HY_VU_ADD_MEM_REG,
		     true);
	assert_acked(send_mem_single(HY_VU_ADD_MEM_REG, ACK, region(1), fb, 1), HY_VU_ADD_MEM_REG,
		     true);
	assert_acked(send_mem_single(HY_VU_ADD_MEM_REG, ACK, region(2), fc, 1), HY_VU_ADD_MEM_REG,
		     true);
	cr_assert_eq(dev.nregions, 3);
	cr_assert(is_open(a) && is_open(b) && is_open(c));

	/* Remove the first: its fd closes, the last moves into its slot. QEMU may send the fd. */
	assert_acked(send_mem_single(HY_VU_REM_MEM_REG, ACK, region(0), fe, 1), HY_VU_REM_MEM_REG,
		     true);
	cr_assert_not(is_open(extra), "the fd REM_MEM_REG came with is not kept");
	cr_assert_not(is_open(a));
	cr_assert_eq(dev.nregions, 2);
	cr_assert(is_open(b) && is_open(c));
	for (unsigned i = 0; i < dev.nregions; i++)
		cr_assert_neq(dev.regions[i].gpa, region(0).gpa);

	/* A region we do not have: refused, not fatal. */
	assert_acked(send_mem_single(HY_VU_REM_MEM_REG, ACK, region(0), NULL, 0), HY_VU_REM_MEM_REG,
		     false);
	other.size = 0x20000;
	assert_acked(send_mem_single(HY_VU_REM_MEM_REG, ACK, other, NULL, 0), HY_VU_REM_MEM_REG,
		     false);
	cr_assert_eq(send_mem_single(HY_VU_REM_MEM_REG, HY_VU_VERSION, region(7), NULL, 0), 0);
	cr_assert_eq(dev.nregions, 2);

	assert_acked(send_mem_single(HY_VU_REM_MEM_REG, ACK, region(2), NULL, 0), HY_VU_REM_MEM_REG,
		     true);
	assert_acked(send_mem_single(HY_VU_REM_MEM_REG, ACK, region(1), NULL, 0), HY_VU_REM_MEM_REG,
		     true);
	cr_assert_eq(dev.nregions, 0);
	cr_assert_not(is_open(b) || is_open(c));
	assert_no_leak();
}

Test(vhost, add_mem_reg_rejections)
{
	struct hy_chan_region empty = region(0), wrap = region(0);
	int fd, fds[1];

	empty.size = 0;
	wrap.gpa = ~0ull - 0x100;
	fds[0] = fd = new_memfd(0x1000);
	cr_assert_eq(send_mem_single(HY_VU_ADD_MEM_REG, HY_VU_VERSION, empty, fds, 1), -EPROTO);
	cr_assert_not(is_open(fd));
	fds[0] = fd = new_memfd(0x1000);
	cr_assert_eq(send_mem_single(HY_VU_ADD_MEM_REG, HY_VU_VERSION, wrap, fds, 1), -EPROTO);
	cr_assert_not(is_open(fd));
	cr_assert_eq(dev.nregions, 0);
	assert_no_leak();
}

Test(vhost, add_mem_reg_beyond_max_slots)
{
	int fd, fds[1];

	for (unsigned i = 0; i < HY_CHAN_MAX_REGIONS; i++) {
		fds[0] = fd = new_memfd(0x1000);
		cr_assert_eq(send_mem_single(HY_VU_ADD_MEM_REG, HY_VU_VERSION, region(i), fds, 1),
			     0, "region %u", i);
		cr_assert(is_open(fd));
	}
	cr_assert_eq(dev.nregions, HY_CHAN_MAX_REGIONS);
	fds[0] = fd = new_memfd(0x1000);
	cr_assert_eq(send_mem_single(HY_VU_ADD_MEM_REG, HY_VU_VERSION, region(HY_CHAN_MAX_REGIONS),
				     fds, 1),
		     -EPROTO);
	cr_assert_not(is_open(fd));
	cr_assert_eq(dev.nregions, HY_CHAN_MAX_REGIONS);
	/* SET_MEM_TABLE replaces all 64 at once. */
	fds[0] = fd = new_memfd(0x1000);
	cr_assert_eq(send_mem_table(HY_VU_VERSION, 1, fds), 0);
	cr_assert_eq(dev.nregions, 1);
	cr_assert_eq(count_fds(), base_fds + 1);
	assert_no_leak();
}

Test(vhost, reset_owner_forgets_everything)
{
	int m = new_memfd(0x10000), k = new_efd(), c = new_efd(), e = new_efd();
	int mfds[1] = {m}, ret;

	negotiate_reply_ack();
	cr_assert_eq(send_empty(HY_VU_SET_OWNER, HY_VU_VERSION), 0);
	cr_assert_eq(send_mem_table(HY_VU_VERSION, 1, mfds), 0);
	cr_assert_eq(send_state(HY_VU_SET_VRING_NUM, HY_VU_VERSION, 1, 128), 0);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_KICK, HY_VU_VERSION, 1, k), 0);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_CALL, HY_VU_VERSION, 1, c), 0);
	cr_assert_eq(send_vring_fd(HY_VU_SET_VRING_ERR, HY_VU_VERSION, 0, e), 0);
	ret = send_empty(HY_VU_RESET_OWNER, ACK);
	cr_assert(ret == 0 || ret == 1);
	if (ret == 1)
		assert_acked(ret, HY_VU_RESET_OWNER, true);
	cr_assert_not(is_open(m) || is_open(k) || is_open(c) || is_open(e));
	cr_assert_eq(dev.nregions, 0);
	cr_assert_eq(dev.vq[1].num, 0);
	cr_assert_not(dev.owner);
	cr_assert_eq(dev.protocol_features, 0);
	cr_assert_eq(count_fds(), base_fds);
}

/* ---- in-flight tracking (vhost-user spec, "Inflight I/O tracking") ----------------------- */

#define INFLIGHT_SIZE ((uint32_t)sizeof(struct hy_vu_inflight))

static int send_inflight(uint32_t request, uint32_t size, uint64_t mmap_size, uint64_t offset,
			 uint16_t nq, uint16_t qs, int *fds, unsigned nfds)
{
	prep(request, HY_VU_VERSION, size);
	msg.payload.inflight.mmap_size = mmap_size;
	msg.payload.inflight.mmap_offset = offset;
	msg.payload.inflight.num_queues = nq;
	msg.payload.inflight.queue_size = qs;
	return run(fds, nfds);
}

static off_t fd_size(int fd)
{
	struct stat sb;

	cr_assert_eq(fstat(fd, &sb), 0);
	return sb.st_size;
}

Test(vhost, get_inflight_fd)
{
	uint64_t want = 2 * hy_inflight_queue_size(256);
	int first;

	cr_assert(PROTO_ALL & 1ull << HY_VU_PROTOCOL_F_INFLIGHT_SHMFD);
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 2, 256, NULL, 0), 1);
	cr_assert_eq(reply.request, HY_VU_GET_INFLIGHT_FD);
	cr_assert_eq(reply.flags, HY_VU_VERSION | HY_VU_FLAG_REPLY);
	cr_assert_eq(reply.size, INFLIGHT_SIZE);
	cr_assert_eq(reply.payload.inflight.mmap_size, want);
	cr_assert_eq(reply.payload.inflight.mmap_offset, 0);
	cr_assert_eq(reply.payload.inflight.num_queues, 2);
	cr_assert_eq(reply.payload.inflight.queue_size, 256);
	cr_assert(is_open(dev.reply_fd), "the reply carries the region");
	cr_assert_eq(dev.reply_fd, dev.inflight.fd, "owned by the device, not by the caller");
	cr_assert_geq((uint64_t)fd_size(dev.reply_fd), want);
	first = dev.inflight.fd;

	/* The spec's 20-byte form, and a second request that replaces the first region. */
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, 20, 0, 0, 1, 128, NULL, 0), 1);
	cr_assert_eq(reply.size, 20);
	cr_assert_eq(reply.payload.inflight.mmap_size, hy_inflight_queue_size(128));
	cr_assert(is_open(dev.inflight.fd));
	if (dev.inflight.fd != first)
		cr_assert_not(is_open(first), "the old region is closed");

	/* A message without a reply fd does not leave the last one there. */
	cr_assert_eq(send_empty(HY_VU_GET_QUEUE_NUM, HY_VU_VERSION), 1);
	cr_assert_eq(dev.reply_fd, -1);
	assert_no_leak();
}

Test(vhost, get_inflight_fd_rejections)
{
	int fd = new_efd(), fds[1] = {fd};

	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 2, 256, fds, 1),
		     -EPROTO, "GET carries no fd");
	cr_assert_not(is_open(fd));
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, 16, 0, 0, 2, 256, NULL, 0), -EPROTO);
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, 19, 0, 0, 2, 256, NULL, 0), -EPROTO);
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, 25, 0, 0, 2, 256, NULL, 0), -EPROTO);
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, 0, 0, 0, 2, 256, NULL, 0), -EPROTO);
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 0, 256, NULL, 0),
		     -EPROTO, "no queues");
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 3, 256, NULL, 0),
		     -EPROTO, "more queues than the device has");
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 2, 0, NULL, 0),
		     -EPROTO);
	cr_assert_eq(send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 2, 512, NULL, 0),
		     -EPROTO, "larger queues than queue_size");
	cr_assert_eq(
		send_inflight(HY_VU_GET_INFLIGHT_FD, INFLIGHT_SIZE, 0, 0, 0xffff, 0xffff, NULL, 0),
		-EPROTO);
	cr_assert_eq(dev.inflight.fd, -1);
	assert_no_leak();
}

Test(vhost, set_inflight_fd)
{
	uint64_t need = 2 * hy_inflight_queue_size(256);
	int fd = new_memfd(need + 4096), fds[1] = {fd};

	cr_assert_eq(
		send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 4096, 2, 256, fds, 1), 0);
	cr_assert_eq(dev.inflight.fd, fd, "the frontend's region is kept");
	cr_assert(is_open(fd));
	cr_assert_eq(dev.inflight.mmap_size, need);
	cr_assert_eq(dev.inflight.mmap_offset, 4096);
	cr_assert(dev.inflight.from_frontend);
	assert_no_leak();
	cr_assert_not(is_open(fd), "a reset drops it");
}

Test(vhost, set_inflight_fd_rejections)
{
	uint64_t need = 2 * hy_inflight_queue_size(256);
	int fd, fds[2], keep = new_memfd(need), kfds[1] = {keep};

	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 0, 2, 256, kfds, 1),
		     0);

	fds[0] = fd = new_memfd(need - 1);
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 0, 2, 256, fds, 1),
		     -EPROTO, "the fd is smaller than the region");
	cr_assert_not(is_open(fd));
	fds[0] = fd = new_memfd(need);
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 1, 2, 256, fds, 1),
		     -EPROTO, "the offset pushes it past the end");
	cr_assert_not(is_open(fd));
	fds[0] = fd = new_memfd(need);
	cr_assert_eq(
		send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need - 64, 0, 2, 256, fds, 1),
		-EPROTO, "the region is too small for its queues");
	cr_assert_not(is_open(fd));
	fds[0] = fd = new_memfd(need);
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, ~0ull - 8, 2, 256,
				   fds, 1),
		     -EPROTO, "offset + size wraps");
	cr_assert_not(is_open(fd));
	fds[0] = fd = new_memfd(need);
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 0, 3, 256, fds, 1),
		     -EPROTO);
	cr_assert_not(is_open(fd));
	fds[0] = fd = new_efd();
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 0, 2, 256, fds, 1),
		     -EPROTO, "an eventfd has no size");
	cr_assert_not(is_open(fd));
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 0, 2, 256, NULL, 0),
		     -EPROTO, "no fd");
	fds[0] = fd = new_memfd(need);
	fds[1] = new_efd();
	cr_assert_eq(send_inflight(HY_VU_SET_INFLIGHT_FD, INFLIGHT_SIZE, need, 0, 2, 256, fds, 2),
		     -EPROTO, "two fds");
	cr_assert_not(is_open(fd));
	cr_assert_eq(dev.inflight.fd, keep, "refused regions change nothing");
	cr_assert(is_open(keep));
	assert_no_leak();
}

/* ---- the socket -------------------------------------------------------------------------- */

static void socketpair_stream(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void set_rcvtimeo(int s, long ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

/* The frontend's side: @len bytes with @nfds fds in one sendmsg. */
static void raw_send(int s, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 128)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	cr_assert_leq(nfds, 128);
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	cr_assert_eq(sendmsg(s, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* The bytes that go on the wire: from the request field on (see struct hy_vu_msg). */
static const void *wire(const struct hy_vu_msg *m)
{
	return (const uint8_t *)m + offsetof(struct hy_vu_msg, request);
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	cr_assert_eq(fstat(a, &sa), 0);
	cr_assert_eq(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

Test(vhost_sock, message_with_fds)
{
	struct hy_vu_msg out = {0}, in;
	int sv[2], m0 = new_memfd(0x1000), m1 = new_memfd(0x1000), sfds[2] = {m0, m1};
	int rfds[HY_CHAN_MAX_FDS];
	unsigned n = 99;

	hy_log_init("test", NULL, HY_LOG_ERR);
	socketpair_stream(sv);
	out.request = HY_VU_SET_MEM_TABLE;
	out.flags = ACK;
	out.size = MEM_SIZE(2);
	out.payload.memory.nregions = 2;
	out.payload.memory.regions[0] = region(0);
	out.payload.memory.regions[1] = region(1);
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE + out.size, sfds, 2);
	memset(&in, 0xa5, sizeof(in));
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(in.request, HY_VU_SET_MEM_TABLE);
	cr_assert_eq(in.flags, ACK);
	cr_assert_eq(in.size, MEM_SIZE(2));
	cr_assert_eq(memcmp(&in.payload, &out.payload, out.size), 0);
	cr_assert(same_file(rfds[0], m0) && same_file(rfds[1], m1), "fds arrive in order");
	cr_assert(fcntl(rfds[0], F_GETFD) & FD_CLOEXEC, "received fds are close-on-exec");
	close(rfds[0]);
	close(rfds[1]);

	/* Header and payload in separate writes, no fds. */
	out.request = HY_VU_SET_VRING_NUM;
	out.flags = HY_VU_VERSION;
	out.size = 8;
	out.payload.state.index = 1;
	out.payload.state.num = 256;
	cr_assert_eq(write(sv[0], wire(&out), HY_VU_HDR_SIZE), HY_VU_HDR_SIZE);
	cr_assert_eq(write(sv[0], &out.payload, 8), 8);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(in.size, 8);
	cr_assert_eq(in.payload.state.num, 256);

	/* A header-only message. */
	out.request = HY_VU_GET_FEATURES;
	out.size = 0;
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE, NULL, 0);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), 0);
	cr_assert_eq(in.request, HY_VU_GET_FEATURES);
	cr_assert_eq(in.size, 0);

	close(sv[0]);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -ECONNRESET);
	cr_assert_eq(n, 0);
	close(sv[1]);
	close(m0);
	close(m1);
}

Test(vhost_sock, truncated_header_then_close)
{
	int sv[2], e = new_efd(), base, rfds[HY_CHAN_MAX_FDS];
	uint32_t hdr[3] = {HY_VU_GET_FEATURES, HY_VU_VERSION, 0};
	struct hy_vu_msg in;
	unsigned n = 99;

	hy_log_init("test", NULL, HY_LOG_ERR);
	socketpair_stream(sv);
	raw_send(sv[0], hdr, 6, &e, 1);
	close(sv[0]);
	close(e);
	base = count_fds();
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -EPROTO);
	cr_assert_eq(n, 0);
	cr_assert_eq(count_fds(), base, "the fd that came with the half header is closed");
	close(sv[1]);
}

Test(vhost_sock, payload_larger_than_the_union)
{
	int sv[2], e = new_efd(), base, rfds[HY_CHAN_MAX_FDS];
	struct hy_vu_msg out = {0}, in;
	unsigned n = 99;

	hy_log_init("test", NULL, HY_LOG_ERR);
	socketpair_stream(sv);
	out.request = HY_VU_SET_MEM_TABLE;
	out.flags = HY_VU_VERSION;
	out.size = sizeof(out.payload) + 1;
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE + sizeof(out.payload), &e, 1);
	close(e);
	base = count_fds();
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -EPROTO);
	cr_assert_eq(n, 0);
	cr_assert_eq(count_fds(), base, "the fd is closed");

	/* Exactly the union is fine. */
	close(sv[0]);
	close(sv[1]);
	socketpair_stream(sv);
	out.size = sizeof(out.payload);
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE + sizeof(out.payload), NULL, 0);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), 0);
	cr_assert_eq(in.size, sizeof(in.payload));
	out.size = 0xffffffffu;
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE, NULL, 0);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -EPROTO);
	close(sv[0]);
	close(sv[1]);
}

Test(vhost_sock, payload_cut_short)
{
	int sv[2], e = new_efd(), base, rfds[HY_CHAN_MAX_FDS];
	struct hy_vu_msg out = {0}, in;
	unsigned n = 99;
	uint64_t t0;

	hy_log_init("test", NULL, HY_LOG_ERR);
	socketpair_stream(sv);
	set_rcvtimeo(sv[1], 100);
	out.request = HY_VU_SET_VRING_ADDR;
	out.flags = HY_VU_VERSION;
	out.size = sizeof(struct hy_vu_addr);
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE + 8, &e, 1);
	close(e);
	base = count_fds();
	t0 = hy_now_ns();
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -EPROTO,
		     "the frontend stopped mid-payload");
	cr_assert_lt(hy_now_ns() - t0, 5000000000ull, "the receive timeout bounds the wait");
	cr_assert_eq(n, 0);
	cr_assert_eq(count_fds(), base);

	/* Cut short by a close. */
	e = new_efd();
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE + 8, &e, 1);
	close(e);
	close(sv[0]);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -EPROTO);
	cr_assert_eq(count_fds(), base - 1);
	close(sv[1]);
}

Test(vhost_sock, nothing_to_read_times_out)
{
	int sv[2], rfds[HY_CHAN_MAX_FDS];
	struct hy_vu_msg in;
	unsigned n = 99;

	socketpair_stream(sv);
	set_rcvtimeo(sv[1], 50);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), -EAGAIN);
	cr_assert_eq(n, 0);
	close(sv[0]);
	close(sv[1]);
}

Test(vhost_sock, too_many_fds)
{
	int sv[2], e[80], base, rfds[HY_CHAN_MAX_FDS];
	uint32_t hdr[3] = {HY_VU_GET_FEATURES, HY_VU_VERSION, 0};
	struct hy_vu_msg in;
	unsigned n = 99;
	int ret;

	hy_log_init("test", NULL, HY_LOG_ERR);
	socketpair_stream(sv);
	for (unsigned i = 0; i < 80; i++)
		e[i] = new_efd();
	raw_send(sv[0], hdr, sizeof(hdr), e, 80);
	for (unsigned i = 0; i < 80; i++)
		close(e[i]);
	base = count_fds();
	ret = hy_vhost_recv(sv[1], &in, rfds, &n);
	/* More fds than any message carries: refused, and none may stay open. */
	cr_assert_eq(ret, -EPROTO);
	cr_assert_eq(n, 0);
	cr_assert_eq(count_fds(), base);
	close(sv[0]);
	close(sv[1]);
}

Test(vhost_sock, send_reply)
{
	int sv[2];
	struct hy_vu_msg r = {0};
	uint8_t buf[64];

	socketpair_stream(sv);
	r.request = HY_VU_GET_FEATURES;
	r.flags = HY_VU_VERSION | HY_VU_FLAG_REPLY;
	r.size = 8;
	r.payload.u64 = 0x1122334455667788ull;
	cr_assert_eq(hy_vhost_send(sv[1], &r, -1), 0);
	cr_assert_eq(read(sv[0], buf, sizeof(buf)), 20);
	cr_assert_eq(memcmp(buf, wire(&r), 20), 0);
	cr_assert_eq(((uint32_t *)buf)[0], HY_VU_GET_FEATURES);
	cr_assert_eq(((uint32_t *)buf)[2], 8);

	r.size = 0;
	cr_assert_eq(hy_vhost_send(sv[1], &r, -1), 0);
	cr_assert_eq(read(sv[0], buf, sizeof(buf)), 12);
	close(sv[0]);
	cr_assert_eq(hy_vhost_send(sv[1], &r, -1), -EPIPE, "no SIGPIPE, an error");
	close(sv[1]);
}

/* GET_INFLIGHT_FD's reply carries the region's fd. */
Test(vhost_sock, send_reply_with_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	uint8_t buf[64];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct hy_vu_msg r = {0};
	struct cmsghdr *c;
	int sv[2], fd = new_memfd(4096), got;

	socketpair_stream(sv);
	r.request = HY_VU_GET_INFLIGHT_FD;
	r.flags = HY_VU_VERSION | HY_VU_FLAG_REPLY;
	r.size = sizeof(struct hy_vu_inflight);
	r.payload.inflight.mmap_size = 4096;
	cr_assert_eq(hy_vhost_send(sv[1], &r, fd), 0);
	cr_assert(is_open(fd), "the sender keeps its fd");
	cr_assert_eq(recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC), HY_VU_HDR_SIZE + (ssize_t)r.size);
	cr_assert_eq(memcmp(buf, wire(&r), HY_VU_HDR_SIZE + r.size), 0);
	c = CMSG_FIRSTHDR(&mh);
	cr_assert_not_null(c);
	cr_assert_eq(c->cmsg_type, SCM_RIGHTS);
	memcpy(&got, CMSG_DATA(c), sizeof(int));
	cr_assert(same_file(got, fd));
	close(got);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* recv -> handle -> send, as the supervisor does it. */
Test(vhost_sock, round_trip, .init = setup, .fini = teardown)
{
	int sv[2], rfds[HY_CHAN_MAX_FDS], k = new_efd();
	struct hy_vu_msg out = {0}, in;
	unsigned n;
	uint8_t buf[64];
	uint64_t v;

	socketpair_stream(sv);
	out.request = HY_VU_GET_FEATURES;
	out.flags = HY_VU_VERSION;
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE, NULL, 0);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), 0);
	cr_assert_eq(hy_vhost_handle(&dev, &in, rfds, n, &reply), 1);
	cr_assert_eq(hy_vhost_send(sv[1], &reply, dev.reply_fd), 0);
	cr_assert_eq(read(sv[0], buf, sizeof(buf)), 20);
	memcpy(&v, buf + 12, 8);
	cr_assert_eq(v, hy_device_features(&dev));

	out.request = HY_VU_SET_VRING_KICK;
	out.size = 8;
	out.payload.u64 = 1;
	raw_send(sv[0], wire(&out), HY_VU_HDR_SIZE + 8, &k, 1);
	cr_assert_eq(hy_vhost_recv(sv[1], &in, rfds, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(hy_vhost_handle(&dev, &in, rfds, n, &reply), 0);
	cr_assert(same_file(dev.vq[1].kick_fd, k));
	close(k);
	cr_assert(dev.vq[1].started);
	close(sv[0]);
	close(sv[1]);
	assert_no_leak();
}
