/* SPDX-License-Identifier: MIT */
/*
 * worker/blk.c: virtio-blk request parsing (virtio 1.2, 5.2.6) against a fake backend that records
 * what it is asked to do. Chains are built by hand from local buffers, laid out the ways a driver
 * may lay them out (2.7.4 Message Framing): header and status in their own buffers, or sharing one
 * with the data, or split across several.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "shm/log.h"
#include "shm/virtio_blk.h"
#include "worker/blk.h"

#define CAPACITY (1ull << 20) /* 2048 sectors */
#define SECTORS	 (CAPACITY >> 9)
#define SERIAL	 "hydra-0123456789abcd" /* exactly 20 bytes */

/* The fake backend: what it was given, and what it answers. */
static struct {
	int ret; /* submit()'s return: 0 queued, 1 done (io->res = res), -errno refused */
	int res; /* io->res when ret == 1 */
	unsigned calls;
	struct hy_io io;    /* a copy of the last io */
	uint8_t data[8192]; /* the last io's iovecs, gathered */
	size_t data_len;
} fake;

static int fake_submit(struct hy_backend *be, struct hy_io *io)
{
	fake.calls++;
	fake.io = *io;
	fake.data_len = 0;
	for (unsigned i = 0; i < io->iovcnt; i++) {
		cr_assert_leq(fake.data_len + io->iov[i].iov_len, sizeof(fake.data));
		memcpy(fake.data + fake.data_len, io->iov[i].iov_base, io->iov[i].iov_len);
		fake.data_len += io->iov[i].iov_len;
	}
	if (fake.ret == 1)
		io->res = fake.res;
	return fake.ret;
}

static const struct hy_backend_ops fake_ops = {.name = "fake", .submit = fake_submit};

static struct hy_topo_device cfg;
static struct hy_backend_info info;
static struct hy_backend be;
static struct hy_shm_dev *shm;
static struct hy_shm_stats *st;
static struct hy_blk blk;
static struct hy_req req;

/* Guest buffers. */
static uint8_t g_hdr[64], g_data[8192], g_data2[8192], g_status[8];

static void setup(void)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	memset(&fake, 0, sizeof(fake));
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.name, "vtest");
	strcpy(cfg.serial, SERIAL);
	cfg.nqueues = 1;
	cfg.queue_size = 256;
	cfg.block_size = 512;
	cfg.writeback = true;
	cfg.discard = true;
	cfg.write_zeroes = true;
	info = (struct hy_backend_info){
		.capacity = CAPACITY, .discard = true, .write_zeroes = true, .ram_fd = -1};
	be = (struct hy_backend){.ops = &fake_ops, .dev = &cfg, .info = &info, .depth = 256};
	shm = hy_shm_dev_create("vtest", 1);
	cr_assert_not_null(shm);
	shm->writeback = 1;
	st = &shm->q[0].stats;
	blk = (struct hy_blk){.dev = &cfg, .info = &info, .shm = shm, .stats = st, .be = &be};
	memset(&req, 0, sizeof(req));
	memset(g_hdr, 0, sizeof(g_hdr));
	memset(g_status, 0xee, sizeof(g_status));
	for (size_t i = 0; i < sizeof(g_data); i++) {
		g_data[i] = (uint8_t)(i * 7 + 1);
		g_data2[i] = (uint8_t)(i * 13 + 5);
	}
}

static void teardown(void)
{
	hy_shm_dev_destroy(shm);
}

TestSuite(blk, .init = setup, .fini = teardown);

/* ---- chain building ---------------------------------------------------------------------- */

static void chain_reset(void)
{
	memset(&req, 0, sizeof(req));
	req.chain.head = 5;
}

static void add_out(void *p, size_t len)
{
	struct hy_chain *c = &req.chain;

	cr_assert_eq(c->n_in, 0, "readable buffers come first");
	c->iov[c->n_out].iov_base = p;
	c->iov[c->n_out].iov_len = len;
	c->n_out++;
	c->out_len += (uint32_t)len;
}

static void add_in(void *p, size_t len)
{
	struct hy_chain *c = &req.chain;

	c->iov[c->n_out + c->n_in].iov_base = p;
	c->iov[c->n_out + c->n_in].iov_len = len;
	c->n_in++;
	c->in_len += (uint32_t)len;
}

static void put_hdr(void *p, uint32_t type, uint64_t sector)
{
	struct hy_virtio_blk_outhdr h = {.type = type, .ioprio = 0, .sector = sector};

	memcpy(p, &h, sizeof(h));
}

static void put_seg(void *p, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct hy_virtio_blk_discard_write_zeroes s = {
		.sector = sector, .num_sectors = num, .flags = flags};

	memcpy(p, &s, sizeof(s));
}

/* The most common shape: header | data | status, each in its own buffer. */
static void simple(uint32_t type, uint64_t sector, size_t len)
{
	chain_reset();
	put_hdr(g_hdr, type, sector);
	add_out(g_hdr, 16);
	if (type == HY_VIRTIO_BLK_T_OUT && len)
		add_out(g_data, len);
	else if (len)
		add_in(g_data, len);
	add_in(g_status, 1);
}

static unsigned calls_before; /* backend calls before the last start() */

static int start(void)
{
	calls_before = fake.calls;
	return hy_blk_start(&blk, &req);
}

/* The request completed here, with @status and @used_len, without the backend. */
static void assert_done(int ret, uint8_t status, uint32_t used_len)
{
	cr_assert_eq(ret, 1, "the request completes at once");
	cr_assert_not_null(req.status);
	cr_assert_eq(*req.status, status, "status %u, expected %u", *req.status, status);
	cr_assert_eq(req.used_len, used_len, "used_len %u, expected %u", req.used_len, used_len);
}

static void assert_refused(int ret, uint8_t status)
{
	assert_done(ret, status, 1);
	cr_assert_eq(fake.calls, calls_before,
		     "the backend saw a request that should have been refused");
}

/* ---- reads and writes -------------------------------------------------------------------- */

Test(blk, read_separate_buffers)
{
	simple(HY_VIRTIO_BLK_T_IN, 8, 4096);
	cr_assert_eq(start(), 0, "queued at the backend");
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(fake.io.op, HY_IO_READ);
	cr_assert_eq(fake.io.offset, 8 * 512);
	cr_assert_eq(fake.io.len, 4096);
	cr_assert_eq(fake.io.iovcnt, 1);
	cr_assert_eq(fake.io.iov[0].iov_base, g_data);
	cr_assert_eq(fake.io.iov[0].iov_len, 4096);
	cr_assert_not(fake.io.dsync);
	cr_assert_eq(req.status, &g_status[0]);
	cr_assert_eq(g_status[0], 0xee, "no status before completion");
	cr_assert_eq(req.used_len, 4096 + 1, "data and status");
	cr_assert_eq(st->requests, 1);
	cr_assert_eq(st->reads, 1);
	cr_assert_eq(st->inflight, 1);

	req.io.res = 0;
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_status[0], HY_VIRTIO_BLK_S_OK);
	cr_assert_eq(req.used_len, 4097);
	cr_assert_eq(st->read_bytes, 4096);
	cr_assert_eq(st->io_errors, 0);
	cr_assert_eq(g_status[1], 0xee, "one byte of status");
}

Test(blk, read_data_and_status_in_one_buffer)
{
	chain_reset();
	put_hdr(g_hdr, HY_VIRTIO_BLK_T_IN, 0);
	add_out(g_hdr, 16);
	add_in(g_data, 1024 + 1);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.iovcnt, 1);
	cr_assert_eq(fake.io.iov[0].iov_base, g_data);
	cr_assert_eq(fake.io.iov[0].iov_len, 1024, "the status byte is not data");
	cr_assert_eq(fake.io.len, 1024);
	cr_assert_eq(req.status, &g_data[1024]);
	cr_assert_eq(req.used_len, 1025);
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_data[1024], HY_VIRTIO_BLK_S_OK);
}

Test(blk, read_scattered)
{
	chain_reset();
	put_hdr(g_hdr, HY_VIRTIO_BLK_T_IN, 100);
	add_out(g_hdr, 16);
	add_in(g_data, 512);
	add_in(g_data2, 1024);
	add_in(g_data + 4096, 511);
	add_in(g_status, 2); /* last data byte, then status */
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.len, 2048);
	cr_assert_eq(fake.io.iovcnt, 4);
	cr_assert_eq(fake.io.iov[2].iov_len, 511);
	cr_assert_eq(fake.io.iov[3].iov_base, g_status);
	cr_assert_eq(fake.io.iov[3].iov_len, 1);
	cr_assert_eq(req.status, &g_status[1]);
	cr_assert_eq(req.used_len, 2049);
	cr_assert_eq(fake.io.offset, 100 * 512);
}

Test(blk, write_separate_buffers)
{
	simple(HY_VIRTIO_BLK_T_OUT, 16, 2048);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.op, HY_IO_WRITE);
	cr_assert_eq(fake.io.offset, 16 * 512);
	cr_assert_eq(fake.io.len, 2048);
	cr_assert_eq(fake.data_len, 2048);
	cr_assert_eq(memcmp(fake.data, g_data, 2048), 0);
	cr_assert_not(fake.io.dsync, "write-back: no dsync");
	cr_assert_eq(req.used_len, 1, "a write returns only the status");
	cr_assert_eq(req.status, &g_status[0]);
	cr_assert_eq(st->writes, 1);
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_status[0], HY_VIRTIO_BLK_S_OK);
	cr_assert_eq(st->write_bytes, 2048);
	cr_assert_eq(st->read_bytes, 0);
}

Test(blk, write_header_and_data_in_one_buffer)
{
	chain_reset();
	put_hdr(g_data, HY_VIRTIO_BLK_T_OUT, 1);
	add_out(g_data, 16 + 1024);
	add_in(g_status, 1);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.iovcnt, 1);
	cr_assert_eq(fake.io.iov[0].iov_base, g_data + 16);
	cr_assert_eq(fake.io.len, 1024);
	cr_assert_eq(memcmp(fake.data, g_data + 16, 1024), 0);
	cr_assert_eq(fake.io.offset, 512);
}

Test(blk, header_split_across_buffers)
{
	/* 10 + 6 bytes of header, the second buffer running on into the data. */
	uint8_t h[16];

	chain_reset();
	put_hdr(h, HY_VIRTIO_BLK_T_OUT, 3);
	memcpy(g_hdr, h, 10);
	memcpy(g_data, h + 10, 6);
	add_out(g_hdr, 10);
	add_out(g_data, 6 + 512);
	add_out(g_data2, 512);
	add_in(g_status, 1);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.op, HY_IO_WRITE);
	cr_assert_eq(fake.io.offset, 3 * 512);
	cr_assert_eq(fake.io.len, 1024);
	cr_assert_eq(fake.io.iovcnt, 2);
	cr_assert_eq(fake.io.iov[0].iov_base, g_data + 6);
	cr_assert_eq(fake.io.iov[0].iov_len, 512);
	cr_assert_eq(memcmp(fake.data + 512, g_data2, 512), 0);
}

Test(blk, write_through_sets_dsync)
{
	shm->writeback = 0;
	simple(HY_VIRTIO_BLK_T_OUT, 0, 512);
	cr_assert_eq(start(), 0);
	cr_assert(fake.io.dsync, "write-through: every write is durable");
	/* Reads never need it. */
	simple(HY_VIRTIO_BLK_T_IN, 0, 512);
	cr_assert_eq(start(), 0);
	cr_assert_not(fake.io.dsync);
	shm->writeback = 1;
	simple(HY_VIRTIO_BLK_T_OUT, 0, 512);
	cr_assert_eq(start(), 0);
	cr_assert_not(fake.io.dsync);
}

Test(blk, last_sector)
{
	simple(HY_VIRTIO_BLK_T_IN, SECTORS - 1, 512);
	cr_assert_eq(start(), 0);
	simple(HY_VIRTIO_BLK_T_OUT, SECTORS - 8, 4096);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.offset, CAPACITY - 4096);
	cr_assert_eq(fake.calls, 2);
}

Test(blk, out_of_range)
{
	static const struct {
		uint64_t sector;
		size_t len;
	} bad[] = {
		{SECTORS, 512},		 {SECTORS - 1, 1024},
		{SECTORS - 7, 4096},	 {SECTORS + 1, 512},
		{1ull << 55, 512}, /* sector << 9 would wrap to 0 */
		{(1ull << 55) + 1, 512}, {~0ull, 512},
		{~0ull - 7, 4096}, /* sector + 8 wraps */
		{~0ull >> 9, 512},
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		simple(HY_VIRTIO_BLK_T_IN, bad[i].sector, bad[i].len);
		assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
		simple(HY_VIRTIO_BLK_T_OUT, bad[i].sector, bad[i].len);
		assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
	}
	cr_assert_eq(st->io_errors, 2 * sizeof(bad) / sizeof(bad[0]));
}

Test(blk, length_not_whole_sectors)
{
	static const size_t bad[] = {1, 511, 513, 1000, 4095};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		simple(HY_VIRTIO_BLK_T_IN, 0, bad[i]);
		assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
		cr_assert_eq(req.used_len, 1, "a refused read wrote no data");
		simple(HY_VIRTIO_BLK_T_OUT, 0, bad[i]);
		assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
	}
}

Test(blk, zero_length_transfers)
{
	simple(HY_VIRTIO_BLK_T_IN, 0, 0);
	assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.status, &g_status[0]);
	simple(HY_VIRTIO_BLK_T_OUT, 0, 0);
	assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
}

Test(blk, read_only_device)
{
	uint8_t seg[16];

	cfg.read_only = true;
	simple(HY_VIRTIO_BLK_T_OUT, 0, 512);
	assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
	for (uint32_t type = HY_VIRTIO_BLK_T_DISCARD; type <= HY_VIRTIO_BLK_T_WRITE_ZEROES;
	     type += 2) {
		chain_reset();
		put_hdr(g_hdr, type, 0);
		put_seg(seg, 0, 8, 0);
		add_out(g_hdr, 16);
		add_out(seg, 16);
		add_in(g_status, 1);
		assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
	}
	/* Reads and flushes still work. */
	simple(HY_VIRTIO_BLK_T_IN, 0, 512);
	cr_assert_eq(start(), 0);
	simple(HY_VIRTIO_BLK_T_FLUSH, 0, 0);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.op, HY_IO_FLUSH);
	cr_assert_eq(st->io_errors, 3);
}

/* ---- malformed chains -------------------------------------------------------------------- */

Test(blk, no_writable_byte)
{
	chain_reset();
	put_hdr(g_hdr, HY_VIRTIO_BLK_T_OUT, 0);
	add_out(g_hdr, 16);
	add_out(g_data, 512);
	cr_assert_eq(start(), 1);
	cr_assert_null(req.status, "there is nowhere to write a status");
	cr_assert_eq(req.used_len, 0);
	cr_assert_eq(fake.calls, 0);
	cr_assert_eq(st->bad_chains, 1);

	chain_reset();
	cr_assert_eq(start(), 1, "an empty chain");
	cr_assert_null(req.status);
	cr_assert_eq(req.used_len, 0);
}

Test(blk, short_header)
{
	static const size_t lens[] = {0, 1, 8, 15};

	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		chain_reset();
		put_hdr(g_hdr, HY_VIRTIO_BLK_T_IN, 0);
		if (lens[i])
			add_out(g_hdr, lens[i]);
		add_in(g_data, 513);
		assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
		cr_assert_eq(req.status, &g_data[512]);
	}
	/* 16 bytes in two pieces that add up to less. */
	chain_reset();
	add_out(g_hdr, 8);
	add_out(g_hdr + 8, 7);
	add_in(g_status, 1);
	assert_refused(start(), HY_VIRTIO_BLK_S_IOERR);
	cr_assert_eq(st->io_errors, 5);
}

Test(blk, unknown_types)
{
	static const uint32_t types[] = {2,
					 3,
					 5,
					 HY_VIRTIO_BLK_T_GET_LIFETIME,
					 HY_VIRTIO_BLK_T_SECURE_ERASE,
					 0x80000000u,
					 0xffffffffu};

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		simple(types[i], 0, 512);
		req.chain.iov[1].iov_len = 64; /* writable data, then the status */
		req.chain.in_len = 65;
		add_in(g_status, 1);
		assert_refused(start(), HY_VIRTIO_BLK_S_UNSUPP);
		cr_assert_eq(req.status, &g_status[0]);
	}
	cr_assert_eq(st->unsupported, sizeof(types) / sizeof(types[0]));
}

/* ---- flush and GET_ID -------------------------------------------------------------------- */

Test(blk, flush)
{
	simple(HY_VIRTIO_BLK_T_FLUSH, 12345, 0);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.op, HY_IO_FLUSH);
	cr_assert_eq(req.used_len, 1);
	cr_assert_eq(st->flushes, 1);
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_status[0], HY_VIRTIO_BLK_S_OK);
	cr_assert_eq(st->write_bytes, 0);
}

Test(blk, get_id)
{
	uint8_t id[32];

	memset(id, 0xcc, sizeof(id));
	chain_reset();
	put_hdr(g_hdr, HY_VIRTIO_BLK_T_GET_ID, 0);
	add_out(g_hdr, 16);
	add_in(id, 20);
	add_in(g_status, 1);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 21);
	cr_assert_eq(memcmp(id, SERIAL, 20), 0, "20 bytes, no NUL");
	cr_assert_eq(id[20], 0xcc);
	cr_assert_eq(st->get_ids, 1);

	/* A shorter buffer gets what fits. */
	memset(id, 0xcc, sizeof(id));
	chain_reset();
	add_out(g_hdr, 16);
	add_in(id, 9);
	add_in(g_status, 1);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 10);
	cr_assert_eq(memcmp(id, SERIAL, 9), 0);
	cr_assert_eq(id[9], 0xcc);

	/* A longer one: 20 bytes and no more; the status still goes last. */
	memset(id, 0xcc, sizeof(id));
	chain_reset();
	add_out(g_hdr, 16);
	add_in(id, 32);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 21);
	cr_assert_eq(req.status, &id[31]);
	cr_assert_eq(id[20], 0xcc);

	/* A short serial is NUL-padded to 20. */
	strcpy(cfg.serial, "abc");
	memset(id, 0xcc, sizeof(id));
	chain_reset();
	add_out(g_hdr, 16);
	add_in(id, 21);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 21);
	cr_assert_eq(memcmp(id, "abc", 3), 0);
	for (unsigned i = 3; i < 20; i++)
		cr_assert_eq(id[i], 0, "byte %u", i);

	/* No room at all: an empty id. */
	chain_reset();
	add_out(g_hdr, 16);
	add_in(g_status, 1);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(fake.calls, 0, "GET_ID never reaches the backend");
}

/* ---- discard and write-zeroes ------------------------------------------------------------ */

static int discard_wz(uint32_t type, const void *segs, size_t len)
{
	static uint8_t buf[64];

	chain_reset();
	put_hdr(g_hdr, type, 999); /* the header's sector means nothing here */
	memcpy(buf, segs, len);
	add_out(g_hdr, 16);
	if (len)
		add_out(buf, len);
	add_in(g_status, 1);
	return start();
}

static int one_seg(uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint8_t seg[16];

	put_seg(seg, sector, num, flags);
	return discard_wz(type, seg, 16);
}

Test(blk, discard)
{
	cr_assert_eq(one_seg(HY_VIRTIO_BLK_T_DISCARD, 8, 16, 0), 0);
	cr_assert_eq(fake.io.op, HY_IO_DISCARD);
	cr_assert_eq(fake.io.offset, 8 * 512);
	cr_assert_eq(fake.io.len, 16 * 512);
	cr_assert_not(fake.io.unmap);
	cr_assert_eq(fake.io.iovcnt, 0);
	cr_assert_eq(req.used_len, 1);
	cr_assert_eq(st->discards, 1);
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_status[0], HY_VIRTIO_BLK_S_OK);

	/* The whole disk is fine. */
	cr_assert_eq(one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, SECTORS, 0), 0);

	/* Segment in the header's buffer. */
	chain_reset();
	put_hdr(g_data, HY_VIRTIO_BLK_T_DISCARD, 0);
	put_seg(g_data + 16, 4, 4, 0);
	add_out(g_data, 32);
	add_in(g_status, 1);
	cr_assert_eq(start(), 0);
	cr_assert_eq(fake.io.offset, 4 * 512);
	cr_assert_eq(fake.io.len, 4 * 512);
}

Test(blk, discard_flags)
{
	/* 5.2.6.2: discard with the unmap flag is UNSUPP; unknown flags are UNSUPP. */
	assert_refused(one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, 8, HY_VIRTIO_BLK_WZ_F_UNMAP),
		       HY_VIRTIO_BLK_S_UNSUPP);
	assert_refused(one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, 8, 2), HY_VIRTIO_BLK_S_UNSUPP);
	assert_refused(one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, 8, 0x80000000u), HY_VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(st->unsupported, 3);
}

Test(blk, write_zeroes)
{
	cr_assert_eq(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 1, 2, 0), 0);
	cr_assert_eq(fake.io.op, HY_IO_WRITE_ZEROES);
	cr_assert_eq(fake.io.offset, 512);
	cr_assert_eq(fake.io.len, 1024);
	cr_assert_not(fake.io.unmap);
	cr_assert_eq(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 1, 2, HY_VIRTIO_BLK_WZ_F_UNMAP), 0);
	cr_assert(fake.io.unmap, "write-zeroes may unmap");
	cr_assert_eq(st->write_zeroes, 2);

	assert_refused(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), HY_VIRTIO_BLK_S_UNSUPP);
	assert_refused(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 3), HY_VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(fake.calls, 2);
}

Test(blk, discard_wz_ranges)
{
	for (uint32_t type = HY_VIRTIO_BLK_T_DISCARD; type <= HY_VIRTIO_BLK_T_WRITE_ZEROES;
	     type += 2) {
		assert_refused(one_seg(type, 0, 0, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, SECTORS, 1, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, SECTORS - 1, 2, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, 0, SECTORS + 1, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, ~0ull, 1, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, ~0ull - 7, 16, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, 1ull << 55, 1, 0), HY_VIRTIO_BLK_S_IOERR);
		assert_refused(one_seg(type, 0, 0xffffffffu, 0), HY_VIRTIO_BLK_S_IOERR);
	}
}

Test(blk, discard_wz_segment_count)
{
	uint8_t segs[48];

	put_seg(segs, 0, 8, 0);
	put_seg(segs + 16, 16, 8, 0);
	put_seg(segs + 32, 32, 8, 0);
	for (uint32_t type = HY_VIRTIO_BLK_T_DISCARD; type <= HY_VIRTIO_BLK_T_WRITE_ZEROES;
	     type += 2) {
		/* We offer max_discard_seg = max_write_zeroes_seg = 1. */
		assert_refused(discard_wz(type, segs, 32), HY_VIRTIO_BLK_S_UNSUPP);
		assert_refused(discard_wz(type, segs, 48), HY_VIRTIO_BLK_S_UNSUPP);
		assert_refused(discard_wz(type, segs, 8), HY_VIRTIO_BLK_S_UNSUPP);
		assert_refused(discard_wz(type, segs, 17), HY_VIRTIO_BLK_S_UNSUPP);
		assert_refused(discard_wz(type, segs, 0), HY_VIRTIO_BLK_S_UNSUPP);
	}
}

Test(blk, discard_wz_not_offered)
{
	cfg.discard = false;
	assert_refused(one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, 8, 0), HY_VIRTIO_BLK_S_UNSUPP);
	cfg.discard = true;
	info.discard = false;
	assert_refused(one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, 8, 0), HY_VIRTIO_BLK_S_UNSUPP);
	cr_assert_eq(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), 0, "write-zeroes still is");
	cfg.write_zeroes = false;
	assert_refused(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), HY_VIRTIO_BLK_S_UNSUPP);
	cfg.write_zeroes = true;
	info.write_zeroes = false;
	assert_refused(one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), HY_VIRTIO_BLK_S_UNSUPP);
}

/* ---- the backend's answers --------------------------------------------------------------- */

Test(blk, backend_completes_at_once)
{
	fake.ret = 1;
	fake.res = 0;
	simple(HY_VIRTIO_BLK_T_IN, 0, 1024);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 1025);
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(st->read_bytes, 1024);
	cr_assert_eq(st->inflight, 0, "nothing stays in flight");

	simple(HY_VIRTIO_BLK_T_OUT, 0, 512);
	assert_done(start(), HY_VIRTIO_BLK_S_OK, 1);
	cr_assert_eq(st->write_bytes, 512);

	fake.res = -EIO;
	simple(HY_VIRTIO_BLK_T_IN, 0, 1024);
	assert_done(start(), HY_VIRTIO_BLK_S_IOERR, 1);
	cr_assert_eq(st->read_bytes, 1024, "failed reads move no bytes");
	cr_assert_eq(st->io_errors, 1);
}

Test(blk, backend_refuses)
{
	fake.ret = -EIO;
	simple(HY_VIRTIO_BLK_T_IN, 0, 4096);
	assert_done(start(), HY_VIRTIO_BLK_S_IOERR, 1);
	cr_assert_eq(fake.calls, 1);
	cr_assert_eq(req.io.res, -EIO);
	cr_assert_eq(st->io_errors, 1);
	cr_assert_eq(st->read_bytes, 0);
	cr_assert_eq(st->inflight, 0);

	fake.ret = -ENOMEM;
	simple(HY_VIRTIO_BLK_T_OUT, 0, 4096);
	assert_done(start(), HY_VIRTIO_BLK_S_IOERR, 1);
	fake.ret = -EAGAIN;
	simple(HY_VIRTIO_BLK_T_FLUSH, 0, 0);
	assert_done(start(), HY_VIRTIO_BLK_S_IOERR, 1);
	cr_assert_eq(st->io_errors, 3);
}

Test(blk, backend_fails_later)
{
	simple(HY_VIRTIO_BLK_T_IN, 0, 4096);
	cr_assert_eq(start(), 0);
	cr_assert_eq(req.used_len, 4097);
	req.io.res = -EIO;
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_status[0], HY_VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.used_len, 1, "a failed read returns no data");
	cr_assert_eq(st->read_bytes, 0);
	cr_assert_eq(st->io_errors, 1);

	simple(HY_VIRTIO_BLK_T_OUT, 0, 4096);
	cr_assert_eq(start(), 0);
	req.io.res = -ENOSPC;
	hy_blk_finish(&blk, &req);
	cr_assert_eq(g_status[0], HY_VIRTIO_BLK_S_IOERR);
	cr_assert_eq(req.used_len, 1);
	cr_assert_eq(st->write_bytes, 0);
	cr_assert_eq(st->io_errors, 2);
}

Test(blk, request_state_is_reset)
{
	/* A request slot is reused: nothing from the last request may leak into the next. */
	simple(HY_VIRTIO_BLK_T_IN, 0, 4096);
	cr_assert_eq(start(), 0);
	req.io.res = -EIO;
	req.chain.n_out = 1;
	req.chain.n_in = 1;
	req.chain.out_len = 16;
	req.chain.in_len = 1;
	req.chain.iov[1].iov_base = g_status;
	req.chain.iov[1].iov_len = 1;
	put_hdr(g_hdr, HY_VIRTIO_BLK_T_FLUSH, 0);
	cr_assert_eq(start(), 0);
	cr_assert_eq(req.io.res, 0);
	cr_assert_eq(req.io.len, 0);
	cr_assert_eq(req.used_len, 1);
	cr_assert_eq(req.bytes, 0);
}

Test(blk, stats)
{
	uint8_t id[20];

	simple(HY_VIRTIO_BLK_T_IN, 0, 512);
	start();
	hy_blk_finish(&blk, &req);
	simple(HY_VIRTIO_BLK_T_OUT, 0, 1024);
	start();
	hy_blk_finish(&blk, &req);
	simple(HY_VIRTIO_BLK_T_FLUSH, 0, 0);
	start();
	one_seg(HY_VIRTIO_BLK_T_DISCARD, 0, 1, 0);
	one_seg(HY_VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0);
	chain_reset();
	put_hdr(g_hdr, HY_VIRTIO_BLK_T_GET_ID, 0);
	add_out(g_hdr, 16);
	add_in(id, 20);
	add_in(g_status, 1);
	start();
	simple(77, 0, 0);
	start();
	simple(HY_VIRTIO_BLK_T_IN, SECTORS, 512);
	start();

	cr_assert_eq(st->requests, 8);
	cr_assert_eq(st->reads, 2);
	cr_assert_eq(st->writes, 1);
	cr_assert_eq(st->flushes, 1);
	cr_assert_eq(st->discards, 1);
	cr_assert_eq(st->write_zeroes, 1);
	cr_assert_eq(st->get_ids, 1);
	cr_assert_eq(st->unsupported, 1);
	cr_assert_eq(st->io_errors, 1);
	cr_assert_eq(st->read_bytes, 512);
	cr_assert_eq(st->write_bytes, 1024);
	cr_assert_eq(st->inflight, 5, "queued requests (decremented by the worker loop)");
}
