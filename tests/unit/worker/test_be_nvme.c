/* SPDX-License-Identifier: MIT */
/*
 * worker/be_nvme.c against the software NVMe controller of the nvme/ tests (tests/unit/nvme/
 * model.c), set up the way the master and a worker do it:
 *
 *   - guest memory is two memfd regions, gpa-contiguous (region 0 at gpa 0, 1 GiB and sparse;
 *     region 1 right after it at gpa 0x40000000, with an mmap_offset), each mapped twice: once by
 *     the "master", whose mapping goes into the model's IOVA table at iova_base + gpa (VFIO
 *     MAP_DMA in master/nvme_dev.c), once by the worker's own table (hy_mem_add()), which is
 *     where the requests' iovecs point. The two regions are not neighbours in either mapping, so
 *     an address computed from the wrong mapping, or from host rather than guest-physical
 *     offsets, moves the wrong bytes;
 *   - the queue pair lives in MAP_SHARED memory with a bounce buffer behind it, is described by
 *     hy_nvme_ctrl_qpair_cfg() and created with hy_nvme_ctrl_create_ioq() before the backend
 *     opens (master/nvme_dev.c, queue_alloc() and queue_create());
 *   - the backend is chosen by hy_backend_bind() and driven through its ops as worker/worker.c
 *     does: submit, flush once per batch, reap.
 *
 * Data is always checked against the model namespace's RAM, and every test ends by checking
 * that the model saw no protocol violation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../nvme/fixture.h"
#include "worker/be_nvme.c"
#include "worker/mem.h"

#define IOVA_BASE  0x100000000ull /* HY_NVME_GUEST_IOVA_BASE: guest physical 0 */
#define R0_GPA	   0x0ull
#define R0_SIZE	   0x40000000ull /* 1 GiB, sparse */
#define R1_GPA	   0x40000000ull /* directly after region 0 in guest-physical space */
#define R1_SIZE	   (16ull << 20)
#define R1_OFF	   (1ull << 20) /* region 1 starts 1 MiB into its fd */
#define BOUNCE_LEN (256u << 10)
#define KIB	   1024ull
#define MIB	   (1024ull * 1024)
#define MAX_IOS	   256

struct env_opts {
	uint8_t mdts;	     /* the model's MDTS; 0 = 4 (64 KiB per command) */
	unsigned lbads;	     /* namespace block size: 9 (512 B, NSID 1) or 12 (4 KiB, NSID 2) */
	bool no_vwc;	     /* the controller has no volatile write cache */
	uint16_t depth;	     /* NVMe queue entries; 0 = 64 */
	uint32_t vring;	     /* be->depth, requests in flight at most; 0 = 64 */
	uint32_t timeout_ms; /* per command; 0 = 30000 */
	uint32_t bounce_len; /* 0 = BOUNCE_LEN */
	uint32_t sgls;	     /* the model's SGLS: 0 = no SGLs (everything odd bounces) */
};

static struct hy_mem gm; /* the worker's memory table */
static int gfd[2] = {-1, -1};
static uint8_t *mview[2]; /* the master's mappings (what the device reaches) */
static size_t mview_len[2];
static struct hy_nvme_ns ns;
static struct hy_nvme_be_queue bq;
static struct hy_backend_info info;
static struct hy_topo_device dev;
static struct hy_backend be;
static uint8_t *qmem;
static size_t qlen;
static uint64_t qiova;
static uint8_t *nsdata; /* the namespace's RAM in the model */
static unsigned bs;	/* block size */

/* What reap() handed back, in order. */
static struct hy_io *got[MAX_IOS];
static unsigned ngot;
static unsigned reaped; /* sum of reap()'s return values */

static void on_io(void *arg, struct hy_io *io)
{
	cr_assert_eq(arg, &ngot);
	cr_assert_lt(ngot, MAX_IOS);
	got[ngot++] = io;
}

/* The worker's pointer to guest-physical @gpa. */
static uint8_t *G(uint64_t gpa, uint64_t len)
{
	uint8_t *p = hy_mem_gpa(&gm, gpa, len);

	cr_assert_not_null(p, "gpa 0x%llx + %llu is not in one region", (unsigned long long)gpa,
			   (unsigned long long)len);
	return p;
}

/* One guest memory region: the fd, the master's mapping in the IOMMU, the worker's table. */
static void region(unsigned i, uint64_t gpa, uint64_t size, uint64_t off)
{
	struct hy_chan_region d = {.gpa = gpa,
				   .size = size,
				   .uva = 0x7f0000000000ull - gpa - size,
				   .mmap_offset = off};

	gfd[i] = memfd_create("guest", MFD_CLOEXEC);
	cr_assert_geq(gfd[i], 0);
	cr_assert_eq(ftruncate(gfd[i], (off_t)(off + size)), 0);
	mview_len[i] = off + size;
	mview[i] = mmap(NULL, mview_len[i], PROT_READ | PROT_WRITE, MAP_SHARED, gfd[i], 0);
	cr_assert_neq(mview[i], MAP_FAILED);
	cr_assert_eq(model_dma_ops.map(m, mview[i] + off, size, IOVA_BASE + gpa), 0);
	cr_assert_eq(hy_mem_add(&gm, &d, gfd[i]), 0);
}

static void up(struct env_opts o)
{
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_qpair_mem mem;
	struct hy_nvme_ioq_desc d = {.qid = 1};
	uint32_t nsid;

	if (!o.mdts)
		o.mdts = 4;
	if (!o.lbads)
		o.lbads = 9;
	if (!o.depth)
		o.depth = 64;
	if (!o.vring)
		o.vring = 64;
	if (!o.bounce_len)
		o.bounce_len = BOUNCE_LEN;

	hy_log_init("test", NULL, HY_LOG_ERR);
	m = model_new();
	m->idc.mdts = o.mdts;
	if (o.no_vwc)
		m->idc.vwc = 0;
	m->idc.sgls = o.sgls;
	model_ns_add(m, 4096, 12, 0); /* NSID 2: 16 MiB of 4 KiB blocks */
	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_eq(ctrl.info.max_xfer, 4096u << o.mdts);
	nsid = o.lbads == 12 ? 2 : 1;
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, nsid, &ns), 0);
	cr_assert_eq(ns.lba_shift, o.lbads);
	nsdata = m->ns[nsid - 1].data;
	bs = 1u << ns.lba_shift;

	/* Guest memory: gpa-contiguous regions whose mappings do not continue each other. */
	hy_mem_init(&gm);
	region(1, R1_GPA, R1_SIZE, R1_OFF);
	region(0, R0_GPA, R0_SIZE, 0);
	gm.iova_base = IOVA_BASE;
	cr_assert_neq(G(R1_GPA, 1), G(R1_GPA - 1, 1) + 1, "regions adjacent in the worker");
	cr_assert_neq(G(0, 1), mview[0], "the worker has its own mapping");

	/* The queue pair and its bounce buffer, as master/nvme_dev.c queue_alloc() makes them. */
	cr_assert_eq(hy_nvme_qpair_layout(o.depth, ctrl.info.max_xfer, &l), 0);
	qlen = (l.size + o.bounce_len + 4095) & ~(size_t)4095;
	qmem = mmap(NULL, qlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(qmem, MAP_FAILED);
	cr_assert_eq(hy_nvme_iova_alloc(&ctrl.iova, qlen, &qiova), 0);
	cr_assert_eq(ctrl.dma->map(ctrl.dma_priv, qmem, qlen, qiova), 0);
	mem.sq = qmem + l.sq_off;
	mem.sq_iova = qiova + l.sq_off;
	mem.cq = qmem + l.cq_off;
	mem.cq_iova = qiova + l.cq_off;
	mem.prp = qmem + l.prp_off;
	mem.prp_iova = qiova + l.prp_off;
	hy_nvme_ctrl_qpair_cfg(&ctrl, 1, o.depth, &mem, &bq.cfg);
	bq.cfg.timeout_ms = o.timeout_ms ? o.timeout_ms : 30000;
	bq.bounce = qmem + l.size;
	bq.bounce_iova = qiova + l.size;
	bq.bounce_len = o.bounce_len;
	memset(mem.cq, 0, (size_t)o.depth * sizeof(struct hy_nvme_cqe));
	d.depth = o.depth;
	d.sq_iova = mem.sq_iova;
	d.cq_iova = mem.cq_iova;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &d), 0);

	info.capacity = ns.nsze << ns.lba_shift;
	info.block_size = bs;
	info.discard = ns.dsm;
	info.write_zeroes = ns.write_zeroes;
	info.ram_fd = -1;
	info.nvme_ns = ns;
	info.nvme_q = &bq;
	snprintf(dev.name, sizeof(dev.name), "vda");
	dev.type = HY_BE_NVME;
	dev.nsid = nsid;
	dev.queue_size = o.vring;
	dev.nqueues = 1;

	hy_backend_bind(&be, &dev, &info, o.vring, 0, &gm);
	cr_assert_str_eq(be.ops->name, "nvme");
	cr_assert_eq(be.ops->open(&be), 0);
	cr_assert_eq(be.ops->event_fd(&be), -1);
	ngot = reaped = 0;
}

static void teardown(void)
{
	if (be.priv)
		be.ops->close(&be);
	if (qmem) {
		if (m->sq[1].exists)
			hy_nvme_ctrl_delete_ioq(&ctrl, 1);
		ctrl.dma->unmap(ctrl.dma_priv, qiova, qlen);
		hy_nvme_iova_free(&ctrl.iova, qiova, qlen);
		munmap(qmem, qlen);
		qmem = NULL;
	}
	for (unsigned i = 0; i < 2; i++) {
		if (!mview[i])
			continue;
		munmap(mview[i], mview_len[i]);
		mview[i] = NULL;
		close(gfd[i]);
		gfd[i] = -1;
	}
	hy_mem_clear(&gm);
	fx_down();
}

TestSuite(be_nvme, .fini = teardown);

/* ---- helpers ---- */

static void pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u;

		p[i] = (uint8_t)(x >> 24 ^ x >> 11 ^ seed);
	}
}

/* A request's buffer: iovecs into guest memory. */
struct buf {
	struct iovec iov[HY_CHAIN_MAX_IOV];
	unsigned n;
	size_t len;
};

static void piece(struct buf *b, uint64_t gpa, size_t len)
{
	cr_assert_lt(b->n, HY_CHAIN_MAX_IOV);
	b->iov[b->n].iov_base = G(gpa, len);
	b->iov[b->n].iov_len = len;
	b->n++;
	b->len += len;
}

/* Fill every piece of @b with the next bytes of one pattern; returns the flat copy. */
static uint8_t *fill(struct buf *b, uint32_t seed)
{
	uint8_t *flat = malloc(b->len);
	size_t off = 0;

	cr_assert_not_null(flat);
	pattern(flat, b->len, seed);
	for (unsigned i = 0; i < b->n; i++) {
		memcpy(b->iov[i].iov_base, flat + off, b->iov[i].iov_len);
		off += b->iov[i].iov_len;
	}
	return flat;
}

/* @b's contents equal @flat? */
static bool same(const struct buf *b, const uint8_t *flat)
{
	size_t off = 0;

	for (unsigned i = 0; i < b->n; i++) {
		if (memcmp(b->iov[i].iov_base, flat + off, b->iov[i].iov_len))
			return false;
		off += b->iov[i].iov_len;
	}
	return true;
}

static struct hy_io mkio(enum hy_io_op op, uint64_t off, uint64_t len, struct buf *b)
{
	struct hy_io io = {.op = op, .offset = off, .len = len, .res = 12345};

	if (b) {
		io.iov = b->iov;
		io.iovcnt = b->n;
	}
	return io;
}

/* Ring the doorbell, then reap until @n ios came back in all (bounded). */
static void run(unsigned n)
{
	cr_assert_eq(be.ops->flush(&be), 0);
	for (int i = 0; i < 100000 && ngot < n; i++) {
		int r = be.ops->reap(&be, on_io, &ngot);

		cr_assert_geq(r, 0, "reap: %d", r);
		reaped += (unsigned)r;
	}
	cr_assert_eq(ngot, n, "%u of %u ios came back", ngot, n);
	cr_assert_eq(reaped, ngot, "reap() counts what it hands back");
}

/* Submit one io that goes to the device, wait for it; returns io->res. */
static int do_io(struct hy_io *io)
{
	unsigned before = ngot;

	int ret = be.ops->submit(&be, io);

	cr_assert_eq(ret, 0, "submit: %d", ret);
	run(before + 1);
	cr_assert_eq(got[before], io);
	return io->res;
}

/* Submissions that must not reach the device: nothing is queued, nothing comes back. */
static void nothing_reached_the_device(unsigned io_cmds)
{
	unsigned before = ngot;

	cr_assert_eq(be.ops->flush(&be), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(be.ops->reap(&be, on_io, &ngot), 0);
	cr_assert_eq(ngot, before);
	cr_assert_eq(m->io_cmds, io_cmds, "the model saw %u commands", m->io_cmds - io_cmds);
}

static const struct hy_nvme_sqe *sqe_last(unsigned back)
{
	cr_assert_gt(m->nlog, back);
	cr_assert_leq(m->nlog, MODEL_LOG);
	return &m->log[m->nlog - 1 - back];
}

static uint64_t sqe_slba(const struct hy_nvme_sqe *e)
{
	return (uint64_t)e->cdw11 << 32 | e->cdw10;
}

static bool in_bounce(uint64_t iova)
{
	return iova >= bq.bounce_iova && iova < bq.bounce_iova + bq.bounce_len;
}

static void clean(void)
{
	cr_assert_eq(m->dma_faults, 0, "the device touched unmapped memory");
	fx_model_clean();
}

/* Write @b to byte @off, check the namespace, read it back into @r, check that. */
static void roundtrip(struct buf *w, struct buf *r, uint64_t off, uint32_t seed)
{
	uint8_t *flat = fill(w, seed);
	struct hy_io io = mkio(HY_IO_WRITE, off, w->len, w);

	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(memcmp(nsdata + off, flat, w->len), 0, "the namespace holds what was written");
	for (unsigned i = 0; i < r->n; i++)
		memset(r->iov[i].iov_base, 0xee, r->iov[i].iov_len);
	io = mkio(HY_IO_READ, off, r->len, r);
	cr_assert_eq(do_io(&io), 0);
	cr_assert(same(r, flat), "the read brought the namespace's bytes");
	free(flat);
}

/* ---- data ---- */

static void rw_4k_and_1m(unsigned lbads)
{
	struct buf w = {0}, r = {0}, w2 = {0}, r2 = {0};
	unsigned cmds;

	up((struct env_opts){.lbads = lbads});
	piece(&w, 0x10000, 4096);
	piece(&r, 0x20000, 4096);
	roundtrip(&w, &r, 0x3000, 1);
	cr_assert_eq(sqe_last(0)->opc, HY_NVME_CMD_READ);
	cr_assert_eq(sqe_last(0)->prp1, IOVA_BASE + 0x20000, "zero copy: PRP1 is the guest buffer");
	cr_assert_eq(sqe_slba(sqe_last(0)), 0x3000 >> lbads);
	cr_assert_eq(sqe_last(0)->cdw12 & 0xffff, (4096 >> lbads) - 1);
	cr_assert_eq(sqe_last(1)->opc, HY_NVME_CMD_WRITE);
	cr_assert_eq(sqe_last(1)->prp1, IOVA_BASE + 0x10000);

	/* 1 MiB: 16 commands of MDTS (64 KiB) each, written from region 0, read into region 1. */
	piece(&w2, 0x100000, MIB);
	piece(&r2, R1_GPA + 0x200000, MIB);
	cmds = m->io_cmds;
	roundtrip(&w2, &r2, 2 * MIB, 2);
	cr_assert_eq(m->io_cmds - cmds, 32);
	for (unsigned i = 0; i < 16; i++) {
		const struct hy_nvme_sqe *e = sqe_last(15 - i);

		cr_assert_eq(e->opc, HY_NVME_CMD_READ);
		cr_assert_eq(sqe_slba(e), (2 * MIB + i * 64 * KIB) >> lbads);
		cr_assert_eq(e->prp1, IOVA_BASE + R1_GPA + 0x200000 + i * 64 * KIB);
	}
	cr_assert_eq(nvme_state.qp.stats.split, 2);
	clean();
}

Test(be_nvme, rw_4k_and_1m_with_512_byte_blocks)
{
	rw_4k_and_1m(9);
}

Test(be_nvme, rw_4k_and_1m_with_4096_byte_blocks)
{
	rw_4k_and_1m(12);
}

/*
 * GPA-contiguous across the region boundary: two iovecs that are far apart in the worker's
 * address space but one IOVA range, so PRPs describe them as they are. The buffer starts and
 * ends inside a page, as PRP1 and the last entry may.
 */
Test(be_nvme, buffer_across_the_region_boundary_is_zero_copy)
{
	struct buf w = {0}, r = {0};

	up((struct env_opts){0});
	piece(&w, R1_GPA - 0xe00, 0xe00);
	piece(&w, R1_GPA, 0x2e00);
	piece(&r, R1_GPA - 0x3200, 0x3200);
	piece(&r, R1_GPA, 0xa00);
	cr_assert_eq(w.len, 30 * 512);
	cr_assert_eq(r.len, 30 * 512);
	roundtrip(&w, &r, 77 * 512, 3);
	cr_assert_eq(sqe_last(0)->prp1, IOVA_BASE + R1_GPA - 0x3200);
	cr_assert_eq(sqe_last(1)->prp1, IOVA_BASE + R1_GPA - 0xe00);
	clean();
}

/* Several page-aligned pieces scattered over both regions: PRP entries, no bounce. */
Test(be_nvme, page_aligned_pieces_are_zero_copy)
{
	struct buf w = {0}, r = {0};

	up((struct env_opts){0});
	piece(&w, 0x50800, 0x800); /* the first may start inside its page */
	piece(&w, 0x7000, 0x2000);
	piece(&w, R1_GPA + 0x5000, 0x1000);
	piece(&w, 0x90000, 0x600); /* the last may end inside its page */
	piece(&r, R1_GPA + 0x9000, 0x1000);
	piece(&r, 0x30000, 0x1000);
	piece(&r, R1_GPA + 0x3000, 0x1000);
	piece(&r, 0x40000, 0xe00);
	cr_assert_eq(w.len, r.len);
	roundtrip(&w, &r, 3 * 4096, 4);
	cr_assert_eq(sqe_last(0)->prp1, IOVA_BASE + R1_GPA + 0x9000);
	cr_assert_eq(sqe_last(1)->prp1, IOVA_BASE + 0x50800);
	cr_assert(!in_bounce(sqe_last(0)->prp2) && !in_bounce(sqe_last(1)->prp2));
	clean();
}

/* Pieces that continue each other inside a page are one IOVA range: merged, not bounced. */
Test(be_nvme, contiguous_pieces_are_merged)
{
	struct buf w = {0}, r = {0};

	up((struct env_opts){0});
	piece(&w, 0x60000, 0x1600);
	piece(&w, 0x61600, 0x200);
	piece(&w, 0x61800, 0); /* empty pieces are skipped */
	piece(&w, 0x61800, 0x1800);
	piece(&r, 0x64000, 0x1200);
	piece(&r, 0x65200, 0x1e00);
	roundtrip(&w, &r, 40 * 512, 5);
	cr_assert_eq(sqe_last(0)->prp1, IOVA_BASE + 0x64000);
	cr_assert_eq(sqe_last(1)->prp1, IOVA_BASE + 0x60000);
	clean();
}

/* ---- layouts PRPs cannot express: the bounce buffer ---- */

static void bounce_roundtrip(struct buf *w, struct buf *r, uint64_t off, uint32_t seed,
			     unsigned chunks)
{
	unsigned cmds = m->io_cmds, log0 = m->nlog;

	roundtrip(w, r, off, seed);
	cr_assert_geq(m->io_cmds - cmds, 2 * chunks);
	for (unsigned i = log0; i < m->nlog; i++)
		cr_assert(in_bounce(m->log[i].prp1), "command %u: PRP1 0x%llx is not the bounce", i,
			  (unsigned long long)m->log[i].prp1);
	cr_assert(!nvme_state.bounce_busy);
}

Test(be_nvme, odd_pieces_go_through_the_bounce_buffer)
{
	struct buf w = {0}, r = {0}, w2 = {0}, r2 = {0};

	up((struct env_opts){0});
	cr_assert(!nvme_state.qp.sgl, "the model's default: no SGLs");
	/* Three pieces of 1536 bytes at odd offsets inside their pages, over both regions. */
	piece(&w, 0x70100, 1536);
	piece(&w, 0x72300, 1536);
	piece(&w, R1_GPA + 0x9a00, 1536);
	piece(&r, R1_GPA + 0xb0c0, 1536);
	piece(&r, 0x74200, 1536);
	piece(&r, 0x75a00, 1536);
	bounce_roundtrip(&w, &r, 1000 * 512, 6, 1);
	/* A piece that ends inside a page, followed by another. */
	piece(&w2, 0x80000, 0x600);
	piece(&w2, 0x81000, 0xa00);
	piece(&r2, 0x82000, 0x200);
	piece(&r2, 0x83000, 0xe00);
	bounce_roundtrip(&w2, &r2, 5 * 512, 7, 1);
	/* PRP1 must be dword aligned: a buffer at an odd address is bounced too. */
	{
		struct buf w3 = {0}, r3 = {0};

		piece(&w3, 0x85001, 1023);
		piece(&w3, 0x87000, 1);
		piece(&r3, 0x88003, 1024);
		bounce_roundtrip(&w3, &r3, 9 * 512, 8, 1);
	}
	clean();
}

Test(be_nvme, odd_pieces_with_4096_byte_blocks)
{
	struct buf w = {0}, r = {0};

	up((struct env_opts){.lbads = 12});
	for (unsigned i = 0; i < 4; i++)
		piece(&w, 0x70000 + i * 0x3000 + 0x100 * (i + 1), 2048);
	piece(&r, R1_GPA + 0x20, 3000);
	piece(&r, 0x90000, 5192);
	bounce_roundtrip(&w, &r, 3 * 4096, 8, 1);
	clean();
}

/* Larger than the bounce buffer: bounce-sized chunks, each split by MDTS, the last partial. */
Test(be_nvme, bounce_larger_than_the_buffer_is_chunked)
{
	struct buf w = {0}, r = {0};
	size_t total = MIB + 100 * KIB;

	up((struct env_opts){0});
	piece(&w, 0x100100, 0x600);
	piece(&w, R1_GPA + 0x100000, total - 0x600);
	piece(&r, R1_GPA + 0x400000, total - 0x200);
	piece(&r, 0x700000, 0x200);
	bounce_roundtrip(&w, &r, 3 * MIB, 9, 5);
	/* 4 full chunks of 4 commands and a partial one of 2, each way. */
	cr_assert_eq(nvme_state.qp.stats.submitted, 2 * 18);
	clean();
}

/* Two bounce requests (and a plain one) queued together: one at a time, in order, right data. */
Test(be_nvme, bounce_requests_wait_for_each_other)
{
	struct buf a = {0}, b = {0}, c = {0}, d = {0};
	struct hy_io ia, ib, ic, id;
	uint8_t *fa, *fb, *fd;

	up((struct env_opts){0});
	piece(&a, 0x100200, 300 * KIB - 0x400); /* ends inside a page: 2 chunks */
	piece(&a, 0x200000, 0x400);
	piece(&b, 0x300400, 0x400);
	piece(&b, 0x301800, 0x800);
	piece(&b, 0x302000, 0x3800);
	piece(&c, R1_GPA + 0x600, 300 * KIB); /* plain; reads back what a writes */
	piece(&d, 0x400000, 8192);
	fa = fill(&a, 10);
	fb = fill(&b, 11);
	fd = fill(&d, 12);
	memset(c.iov[0].iov_base, 0, c.len);
	ia = mkio(HY_IO_WRITE, 4 * MIB, a.len, &a);
	ib = mkio(HY_IO_WRITE, 6 * MIB, b.len, &b);
	ic = mkio(HY_IO_READ, 4 * MIB, c.len, &c);
	id = mkio(HY_IO_WRITE, 7 * MIB, d.len, &d);
	cr_assert_eq(be.ops->submit(&be, &ia), 0);
	cr_assert_eq(be.ops->submit(&be, &ib), 0);
	cr_assert_eq(be.ops->submit(&be, &ic), 0);
	cr_assert_eq(be.ops->submit(&be, &id), 0);
	run(4);
	cr_assert(got[0] == &ia && got[1] == &ib && got[2] == &ic && got[3] == &id,
		  "completions in the order of submission");
	cr_assert(ia.res == 0 && ib.res == 0 && ic.res == 0 && id.res == 0);
	cr_assert_eq(memcmp(nsdata + 4 * MIB, fa, a.len), 0);
	cr_assert_eq(memcmp(nsdata + 6 * MIB, fb, b.len), 0);
	cr_assert_eq(memcmp(nsdata + 7 * MIB, fd, d.len), 0);
	cr_assert(same(&c, fa), "the read saw the first write whole");
	cr_assert(!nvme_state.bounce_busy);
	free(fa);
	free(fb);
	free(fd);
	clean();
}

/*
 * On a queue pair with few slots a bounce chunk is cut to what the slots hold at once (here 3
 * commands of 64 KiB), so a 256 KiB bounced request still goes through, in several chunks, and
 * gives the bounce buffer back.
 */
Test(be_nvme, bounce_chunks_fit_a_small_queue_pair)
{
	struct buf w = {0}, r = {0};

	/* 3 command slots; a 256 KiB request would need 4 commands of 64 KiB at once. */
	up((struct env_opts){.depth = 4, .vring = 8});
	cr_assert_eq(nvme_state.bounce_max, 2 * 64 * KIB,
		     "bounce chunk %u bytes does not fit 3 slots with one to spare",
		     nvme_state.bounce_max);
	piece(&w, 0x100100, 0x600);
	piece(&w, 0x200000, 256 * KIB - 0x600);
	piece(&r, 0x300200, 0xe00);
	piece(&r, 0x400000, 256 * KIB - 0xe00);
	/* The read is zero copy (PRP-able) but needs 4 commands at once: refused, not sent. */
	{
		struct hy_io io = mkio(HY_IO_READ, 64 * 512, r.len, &r);
		unsigned cmds = m->io_cmds;

		cr_assert_eq(be.ops->submit(&be, &io), -EIO);
		nothing_reached_the_device(cmds);
	}
	/* Bounced, the same bytes go through in chunks of 2 commands. */
	{
		struct buf rb = {0};

		piece(&rb, 0x300200, 0x600);
		piece(&rb, 0x400000, 256 * KIB - 0x600);
		bounce_roundtrip(&w, &rb, 64 * 512, 21, 2);
	}
	clean();
}

/* ---- the same layouts on a controller with SGLs: zero copy ---- */

/*
 * Round trip without the bounce buffer: it holds a canary throughout, every command is an SGL
 * one, and what the controller moved is the guest's own pieces (IOVA = IOVA_BASE + gpa), in
 * order. @wg/@rg are the pieces' gpas (the buffers' iovecs point at them).
 */
static void sgl_roundtrip(struct buf *w, const uint64_t *wg, struct buf *r, const uint64_t *rg,
			  uint64_t off, uint32_t seed, unsigned cmds)
{
	unsigned log0 = m->nlog, sgl0 = m->sgl_cmds, k = 0;

	memset(bq.bounce, 0x5c, bq.bounce_len);
	m->nxfer = 0;
	roundtrip(w, r, off, seed);
	cr_assert_eq(m->nlog - log0, 2 * cmds, "%u commands, want %u", m->nlog - log0, 2 * cmds);
	cr_assert_eq(m->sgl_cmds - sgl0, 2 * cmds);
	for (unsigned i = log0; i < m->nlog; i++) {
		cr_assert_eq(m->log[i].flags, HY_NVME_PSDT_SGL, "command %u: PSDT", i);
		cr_assert(!in_bounce(m->log[i].sgl1.addr), "command %u: SGL1 in the bounce", i);
	}
	/* The model's record of every piece it moved: the write's pieces, then the read's. */
	for (unsigned pass = 0; pass < 2; pass++) {
		const struct buf *b = pass ? r : w;
		const uint64_t *g = pass ? rg : wg;

		for (unsigned i = 0; i < b->n; i++) {
			uint64_t iova = IOVA_BASE + g[i], end = iova + b->iov[i].iov_len;

			/* A piece may be cut between commands (MDTS): follow it through. */
			while (iova < end) {
				cr_assert_lt(k, m->nxfer);
				cr_assert(!in_bounce(m->xfer[k].iova), "piece %u is the bounce", k);
				cr_assert_eq(m->xfer[k].iova, iova,
					     "piece %u at 0x%llx, want 0x%llx", k,
					     (unsigned long long)m->xfer[k].iova,
					     (unsigned long long)iova);
				iova += m->xfer[k++].len;
			}
			cr_assert_eq(iova, end);
		}
	}
	cr_assert_eq(k, m->nxfer, "the controller moved more than the pieces");
	for (uint32_t i = 0; i < bq.bounce_len; i++)
		cr_assert_eq(bq.bounce[i], 0x5c, "the bounce buffer was written at %u", i);
	cr_assert(!nvme_state.bounce_busy);
}

/* Build @b from @n gpas and lengths; keep the gpas for sgl_roundtrip(). */
static void pieces(struct buf *b, uint64_t *gpas, const uint64_t *g, const size_t *len, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		gpas[i] = g[i];
		piece(b, g[i], len[i]);
	}
}

Test(be_nvme, odd_pieces_are_zero_copy_with_sgls)
{
	struct buf w = {0}, r = {0}, w2 = {0}, r2 = {0}, w3 = {0}, r3 = {0};
	uint64_t wg[4], rg[4];

	up((struct env_opts){.sgls = HY_NVME_SGLS_SUPPORTED});
	cr_assert(nvme_state.qp.sgl);
	/* The layouts odd_pieces_go_through_the_bounce_buffer bounces. */
	pieces(&w, wg, (uint64_t[]){0x70100, 0x72300, R1_GPA + 0x9a00},
	       (size_t[]){1536, 1536, 1536}, 3);
	pieces(&r, rg, (uint64_t[]){R1_GPA + 0xb0c0, 0x74200, 0x75a00},
	       (size_t[]){1536, 1536, 1536}, 3);
	sgl_roundtrip(&w, wg, &r, rg, 1000 * 512, 6, 1);
	pieces(&w2, wg, (uint64_t[]){0x80000, 0x81000}, (size_t[]){0x600, 0xa00}, 2);
	pieces(&r2, rg, (uint64_t[]){0x82000, 0x83000}, (size_t[]){0x200, 0xe00}, 2);
	sgl_roundtrip(&w2, wg, &r2, rg, 5 * 512, 7, 1);
	/* Odd byte addresses: SGLs (SGLS 01b) take those too. */
	pieces(&w3, wg, (uint64_t[]){0x85001, 0x87000}, (size_t[]){1023, 1}, 2);
	pieces(&r3, rg, (uint64_t[]){0x88003}, (size_t[]){1024}, 1);
	sgl_roundtrip(&w3, wg, &r3, rg, 9 * 512, 8, 1);
	cr_assert_eq(sqe_last(0)->sgl1.id, HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_DATA_BLOCK, 0),
		     "one piece: SGL1 is its Data Block");
	cr_assert_eq(sqe_last(0)->sgl1.addr, IOVA_BASE + 0x88003);
	cr_assert_eq(sqe_last(1)->sgl1.id, HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_LAST_SEGMENT, 0));
	cr_assert_eq(sqe_last(1)->sgl1.length, 2 * 16);
	clean();
}

Test(be_nvme, odd_pieces_with_4096_byte_blocks_and_sgls)
{
	struct buf w = {0}, r = {0};
	uint64_t wg[4], rg[2];

	up((struct env_opts){.lbads = 12, .sgls = HY_NVME_SGLS_SUPPORTED});
	for (unsigned i = 0; i < 4; i++) {
		wg[i] = 0x70000 + i * 0x3000 + 0x100 * (i + 1);
		piece(&w, wg[i], 2048);
	}
	pieces(&r, rg, (uint64_t[]){R1_GPA + 0x20, 0x90000}, (size_t[]){3000, 5192}, 2);
	sgl_roundtrip(&w, wg, &r, rg, 3 * 4096, 8, 1);
	clean();
}

/* Larger than the bounce buffer: no chunks, just MDTS (64 KiB) commands over the guest's pieces. */
Test(be_nvme, large_odd_request_is_split_by_mdts_not_chunked)
{
	struct buf w = {0}, r = {0};
	uint64_t wg[2], rg[2];
	size_t total = MIB + 100 * KIB;

	up((struct env_opts){.sgls = HY_NVME_SGLS_SUPPORTED});
	pieces(&w, wg, (uint64_t[]){0x100100, R1_GPA + 0x100000}, (size_t[]){0x600, total - 0x600},
	       2);
	pieces(&r, rg, (uint64_t[]){R1_GPA + 0x400000, 0x700000}, (size_t[]){total - 0x200, 0x200},
	       2);
	cr_assert_gt(total, bq.bounce_len);
	sgl_roundtrip(&w, wg, &r, rg, 3 * MIB, 9, 18);
	cr_assert_eq(nvme_state.qp.stats.split, 2);
	clean();
}

/* Odd requests no longer wait for each other: one batch, one doorbell, all on the device. */
Test(be_nvme, odd_requests_do_not_wait_for_the_bounce_buffer)
{
	static struct buf b[4];
	static struct hy_io io[4];
	uint8_t *flat[4];
	unsigned cmds;

	up((struct env_opts){.sgls = HY_NVME_SGLS_SUPPORTED});
	memset(b, 0, sizeof(b));
	for (unsigned i = 0; i < 4; i++) {
		piece(&b[i], 0x100200 + i * 0x10000, 0x400);
		piece(&b[i], 0x108a00 + i * 0x10000, 0x1c00);
		flat[i] = fill(&b[i], 30 + i);
		io[i] = mkio(HY_IO_WRITE, (uint64_t)i * MIB, b[i].len, &b[i]);
	}
	cmds = m->io_cmds;
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(be.ops->submit(&be, &io[i]), 0);
	cr_assert_null(nvme_state.wait_head, "none waits");
	cr_assert_eq(be.ops->flush(&be), 0);
	cr_assert_eq(m->io_cmds - cmds, 4, "four commands reached the device at one doorbell");
	run(4);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(io[i].res, 0);
		cr_assert_eq(memcmp(nsdata + i * MIB, flat[i], b[i].len), 0);
		free(flat[i]);
	}
	clean();
}

/* SGLS 10b: dword-aligned odd layouts go zero copy, byte-aligned ones still bounce. */
Test(be_nvme, dword_sgl_controller_bounces_only_unaligned_pieces)
{
	struct buf w = {0}, r = {0}, w3 = {0}, r3 = {0};
	uint64_t wg[3], rg[3];

	up((struct env_opts){.sgls = HY_NVME_SGLS_DWORD_ALIGN});
	cr_assert(nvme_state.qp.sgl && nvme_state.qp.sgl_dword);
	pieces(&w, wg, (uint64_t[]){0x70100, 0x72304, R1_GPA + 0x9a08},
	       (size_t[]){1536, 1536, 1536}, 3);
	pieces(&r, rg, (uint64_t[]){R1_GPA + 0xb0c0, 0x74204, 0x75a00},
	       (size_t[]){1024, 2048, 1536}, 3);
	sgl_roundtrip(&w, wg, &r, rg, 1000 * 512, 6, 1);
	piece(&w3, 0x85001, 1023);
	piece(&w3, 0x87000, 1);
	piece(&r3, 0x88003, 1024);
	bounce_roundtrip(&w3, &r3, 9 * 512, 8, 1);
	clean();
}

/*
 * With SGLs an odd request is as direct as an aligned one, so it meets the same limit: one that
 * needs more commands than the queue pair has slots is refused (master/device.c keeps size_max
 * within the queue pair for guests that honour it), not bounced in smaller chunks.
 */
Test(be_nvme, odd_request_too_large_for_the_queue_pair_with_sgls)
{
	struct buf w = {0}, small = {0};
	struct hy_io io;
	uint64_t wg[2], sg[2];
	unsigned cmds;

	up((struct env_opts){.depth = 4, .vring = 8, .sgls = HY_NVME_SGLS_SUPPORTED});
	piece(&w, 0x100100, 0x600);
	piece(&w, 0x200000, 256 * KIB - 0x600);
	io = mkio(HY_IO_WRITE, 64 * 512, w.len, &w);
	cmds = m->io_cmds;
	cr_assert_eq(be.ops->submit(&be, &io), -EIO);
	nothing_reached_the_device(cmds);
	cr_assert(!nvme_state.bounce_busy);
	/* Within the slots it goes, zero copy. */
	pieces(&small, sg, (uint64_t[]){0x100100, 0x200000}, (size_t[]){0x600, 128 * KIB - 0x600},
	       2);
	wg[0] = 0x300200;
	wg[1] = 0x400100;
	{
		struct buf r = {0};

		piece(&r, wg[0], 0x600);
		piece(&r, wg[1], 128 * KIB - 0x600);
		sgl_roundtrip(&small, sg, &r, wg, 64 * 512, 21, 2);
	}
	clean();
}

/* ---- refused requests ---- */

Test(be_nvme, requests_not_in_whole_blocks_are_refused)
{
	struct buf b = {0};
	struct hy_io io;
	unsigned cmds;

	up((struct env_opts){.lbads = 12});
	piece(&b, 0x10000, 8192);
	cmds = m->io_cmds;
	io = mkio(HY_IO_READ, 512, 4096, &b);
	cr_assert_eq(be.ops->submit(&be, &io), -EINVAL);
	io = mkio(HY_IO_WRITE, 4096, 4096 + 512, &b);
	cr_assert_eq(be.ops->submit(&be, &io), -EINVAL);
	io = mkio(HY_IO_WRITE_ZEROES, 8192, 2048, NULL);
	cr_assert_eq(be.ops->submit(&be, &io), -EINVAL);
	io = mkio(HY_IO_WRITE_ZEROES, 100, 8192, NULL);
	cr_assert_eq(be.ops->submit(&be, &io), -EINVAL);
	nothing_reached_the_device(cmds);
	/* The refused ones took no request slot with them: a full ring still fits. */
	{
		static struct hy_io ios[64];
		struct buf one = {0};

		piece(&one, 0x20000, 4096);
		for (unsigned i = 0; i < 64; i++) {
			ios[i] = mkio(HY_IO_READ, i * 4096ull, 4096, &one);
			cr_assert_eq(be.ops->submit(&be, &ios[i]), 0, "io %u", i);
		}
		run(64);
	}
	clean();
}

Test(be_nvme, buffers_outside_guest_memory_are_refused)
{
	uint8_t stack[4096] __attribute__((aligned(4096)));
	struct iovec iov[2];
	struct hy_io io;
	unsigned cmds;

	up((struct env_opts){.vring = 8});
	cmds = m->io_cmds;
	for (unsigned i = 0; i < 20; i++) {
		/* The test's stack. */
		iov[0] = (struct iovec){stack, sizeof(stack)};
		io = (struct hy_io){.op = i & 1 ? HY_IO_READ : HY_IO_WRITE,
				    .offset = 0,
				    .len = 4096,
				    .iov = iov,
				    .iovcnt = 1};
		cr_assert_eq(be.ops->submit(&be, &io), -EFAULT);
		/* Guest memory, then its last block runs past the end of region 1. */
		iov[0] = (struct iovec){G(R1_GPA, 512), 512};
		iov[1] = (struct iovec){G(R1_GPA + R1_SIZE - 512, 512), 1024};
		io = (struct hy_io){
			.op = HY_IO_READ, .offset = 0, .len = 1536, .iov = iov, .iovcnt = 2};
		cr_assert_eq(be.ops->submit(&be, &io), -EFAULT);
		/* The master's mapping of the same guest memory is not the worker's. */
		iov[0] = (struct iovec){mview[0] + 0x10000, 4096};
		io = (struct hy_io){
			.op = HY_IO_WRITE, .offset = 0, .len = 4096, .iov = iov, .iovcnt = 1};
		cr_assert_eq(be.ops->submit(&be, &io), -EFAULT);
	}
	nothing_reached_the_device(cmds);
	/* No request slot was lost. */
	{
		static struct hy_io ios[8];
		struct buf b = {0};

		piece(&b, 0x10000, 4096);
		for (unsigned i = 0; i < 8; i++) {
			ios[i] = mkio(HY_IO_READ, i * 4096ull, 4096, &b);
			cr_assert_eq(be.ops->submit(&be, &ios[i]), 0, "io %u", i);
		}
		run(8);
	}
	clean();
}

/* ---- queueing ---- */

/* 32 requests on a queue pair with 7 command slots: they wait, in order, and all come back. */
Test(be_nvme, more_requests_than_slots_complete_in_order)
{
	static struct hy_io ios[32];
	static struct buf bufs[32];
	unsigned seen[32] = {0};
	uint8_t *flat[32];

	up((struct env_opts){.depth = 8, .vring = 32});
	for (unsigned i = 0; i < 32; i++) {
		uint64_t off = (uint64_t)(31 - i) * 128 * KIB; /* not sorted by offset */

		memset(&bufs[i], 0, sizeof(bufs[i]));
		if (i == 10) {
			/* A split request among them: two commands, queued whole or not at all. */
			piece(&bufs[i], 0x800000, 128 * KIB);
		} else {
			piece(&bufs[i], 0x100000 + i * 0x2000, 4096);
		}
		if (i % 3 == 0) {
			flat[i] = fill(&bufs[i], 100 + i);
			ios[i] = mkio(HY_IO_WRITE, off, bufs[i].len, &bufs[i]);
		} else {
			flat[i] = malloc(bufs[i].len);
			pattern(flat[i], bufs[i].len, 200 + i);
			memcpy(nsdata + off, flat[i], bufs[i].len);
			memset(bufs[i].iov[0].iov_base, 0, bufs[i].len);
			ios[i] = mkio(HY_IO_READ, off, bufs[i].len, &bufs[i]);
		}
		cr_assert_eq(be.ops->submit(&be, &ios[i]), 0, "io %u", i);
	}
	run(32);
	for (unsigned i = 0; i < 32; i++) {
		unsigned k = (unsigned)(got[i] - ios);

		cr_assert_lt(k, 32);
		seen[k]++;
		cr_assert_eq(k, i, "completion %u is io %u", i, k);
		cr_assert_eq(ios[i].res, 0);
	}
	for (unsigned i = 0; i < 32; i++) {
		uint64_t off = (uint64_t)(31 - i) * 128 * KIB;

		cr_assert_eq(seen[i], 1, "io %u came back %u times", i, seen[i]);
		cr_assert(same(&bufs[i], flat[i]), "io %u data", i);
		cr_assert_eq(memcmp(nsdata + off, flat[i], bufs[i].len), 0, "io %u namespace", i);
		free(flat[i]);
	}
	/* The device saw them in the order they were submitted. */
	cr_assert_eq(m->io_cmds, 33);
	for (unsigned i = 0, c = m->nlog - 33; i < 32; i++, c++) {
		cr_assert_eq(sqe_slba(&m->log[c]), (31 - i) * 256ull, "command %u", c);
		if (i == 10)
			cr_assert_eq(sqe_slba(&m->log[++c]), (31 - i) * 256ull + 128);
	}
	cr_assert_null(nvme_state.wait_head);
	clean();
}

/* ---- flush, discard, write zeroes, FUA ---- */

Test(be_nvme, flush_with_a_volatile_write_cache)
{
	struct hy_io io;

	up((struct env_opts){0});
	cr_assert(ns.vwc);
	io = mkio(HY_IO_FLUSH, 0, 0, NULL);
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(m->flushes, 1);
	cr_assert_eq(sqe_last(0)->opc, HY_NVME_CMD_FLUSH);
	cr_assert_eq(sqe_last(0)->nsid, 1);
	clean();
}

Test(be_nvme, flush_without_a_write_cache_is_done_at_once)
{
	struct hy_io io;
	unsigned cmds;

	up((struct env_opts){.no_vwc = true});
	cr_assert(!ns.vwc);
	cmds = m->io_cmds;
	io = mkio(HY_IO_FLUSH, 0, 0, NULL);
	cr_assert_eq(be.ops->submit(&be, &io), 1);
	cr_assert_eq(io.res, 0);
	nothing_reached_the_device(cmds);
	cr_assert_eq(m->flushes, 0);
	clean();
}

/* Deallocate only whole blocks inside the range (virtio: discard is advisory). */
static void discard_case(uint64_t off, uint64_t len, uint64_t slba, uint32_t nlb)
{
	struct hy_io io = mkio(HY_IO_DISCARD, off, len, NULL);
	uint64_t lo = slba * bs, hi = (slba + nlb) * bs;
	size_t span = 64 * KIB;

	memset(nsdata, 0xa5, span);
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(sqe_last(0)->opc, HY_NVME_CMD_DSM);
	cr_assert_eq(sqe_last(0)->cdw11, HY_NVME_DSM_AD);
	cr_assert_eq(m->last_dsm_nr, 1);
	cr_assert_eq(m->last_dsm[0].slba, slba);
	cr_assert_eq(m->last_dsm[0].nlb, nlb);
	for (size_t i = 0; i < span; i++)
		cr_assert_eq(nsdata[i], i >= lo && i < hi ? 0 : 0xa5, "byte %zu", i);
}

Test(be_nvme, discard_is_rounded_inward)
{
	unsigned cmds;
	struct hy_io io;

	up((struct env_opts){0});
	cr_assert(info.discard);
	discard_case(1000, 5000, 2, 9); /* [1000, 6000) holds blocks 2..10 */
	discard_case(512, 512, 1, 1);
	discard_case(500, 600, 1, 1);
	discard_case(0, 32 * KIB, 0, 64);
	cmds = m->io_cmds;
	io = mkio(HY_IO_DISCARD, 100, 400, NULL);
	cr_assert_eq(be.ops->submit(&be, &io), 1, "no whole block: done at once");
	cr_assert_eq(io.res, 0);
	io = mkio(HY_IO_DISCARD, 1000, 500, NULL);
	cr_assert_eq(be.ops->submit(&be, &io), 1);
	io = mkio(HY_IO_DISCARD, 1000, 24, NULL);
	cr_assert_eq(be.ops->submit(&be, &io), 1);
	nothing_reached_the_device(cmds);
	clean();
}

Test(be_nvme, discard_with_4096_byte_blocks)
{
	struct hy_io io;
	unsigned cmds;

	up((struct env_opts){.lbads = 12});
	discard_case(512, 8192 + 3584, 1, 2);
	discard_case(4096, 4096, 1, 1);
	cmds = m->io_cmds;
	io = mkio(HY_IO_DISCARD, 512, 7680, NULL); /* [512, 8192): only block 1 */
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(m->last_dsm[0].slba, 1);
	cr_assert_eq(m->last_dsm[0].nlb, 1);
	io = mkio(HY_IO_DISCARD, 512, 7000, NULL); /* [512, 7512): none */
	cr_assert_eq(be.ops->submit(&be, &io), 1);
	nothing_reached_the_device(cmds + 1);
	clean();
}

Test(be_nvme, write_zeroes_with_and_without_unmap)
{
	struct hy_io io;

	up((struct env_opts){0});
	cr_assert(info.write_zeroes);
	memset(nsdata, 0x5a, 64 * KIB);
	io = mkio(HY_IO_WRITE_ZEROES, 8192, 16384, NULL);
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(sqe_last(0)->opc, HY_NVME_CMD_WRITE_ZEROES);
	cr_assert_eq(sqe_slba(sqe_last(0)), 16);
	cr_assert_eq(sqe_last(0)->cdw12, 31u, "NLB 0's based, no Deallocate, no FUA");
	io = mkio(HY_IO_WRITE_ZEROES, 32768, 4096, NULL);
	io.unmap = true;
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(sqe_slba(sqe_last(0)), 64);
	cr_assert_eq(sqe_last(0)->cdw12, 7u | HY_NVME_WZ_DEAC, "Deallocate (CDW12 bit 25)");
	for (size_t i = 0; i < 64 * KIB; i++)
		cr_assert_eq(nsdata[i],
			     (i >= 8192 && i < 24576) || (i >= 32768 && i < 36864) ? 0 : 0x5a,
			     "byte %zu", i);
	clean();
}

Test(be_nvme, fua_follows_dsync)
{
	struct buf b = {0}, big = {0}, odd = {0};
	struct hy_io io;
	unsigned log0;

	up((struct env_opts){0});
	piece(&b, 0x10000, 4096);
	free(fill(&b, 20));
	io = mkio(HY_IO_WRITE, 0, 4096, &b);
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(sqe_last(0)->cdw12 & HY_NVME_RW_FUA, 0, "no dsync, no FUA");
	io.dsync = true;
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(sqe_last(0)->cdw12, 7u | HY_NVME_RW_FUA);
	/* Every command of a split request, and of a bounced one. */
	piece(&big, 0x100000, 256 * KIB);
	io = mkio(HY_IO_WRITE, MIB, big.len, &big);
	io.dsync = true;
	log0 = m->nlog;
	cr_assert_eq(do_io(&io), 0);
	cr_assert_eq(m->nlog - log0, 4);
	piece(&odd, 0x70100, 1536);
	piece(&odd, 0x72300, 1536);
	io = mkio(HY_IO_WRITE, MIB, odd.len, &odd);
	io.dsync = true;
	cr_assert_eq(do_io(&io), 0);
	cr_assert(in_bounce(sqe_last(0)->prp1));
	for (unsigned i = log0; i < m->nlog; i++)
		cr_assert_neq(m->log[i].cdw12 & HY_NVME_RW_FUA, 0, "command %u", i);
	clean();
}

/* ---- errors ---- */

Test(be_nvme, nvme_error_status_fails_the_io)
{
	struct buf b = {0}, big = {0}, odd = {0}, odd_big = {0};
	struct hy_io io;

	up((struct env_opts){0});
	piece(&b, 0x10000, 4096);
	m->force_count = 1;
	m->force_status = HY_NVME_STATUS(HY_NVME_SCT_MEDIA, HY_NVME_SC_UNRECOVERED_READ);
	io = mkio(HY_IO_READ, 0, 4096, &b);
	cr_assert_lt(do_io(&io), 0);
	cr_assert_eq(ngot, 1);

	/* One error among the 16 commands of a split request: the io ends once, failed. */
	piece(&big, 0x100000, MIB);
	m->force_count = 1;
	m->force_skip = 4;
	m->force_status = HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_INTERNAL);
	io = mkio(HY_IO_WRITE, 0, MIB, &big);
	cr_assert_lt(do_io(&io), 0);

	/* A bounced request that fails gives the bounce buffer back. */
	piece(&odd, 0x70100, 1536);
	piece(&odd, 0x72300, 1536);
	m->force_count = 1;
	io = mkio(HY_IO_READ, 0, odd.len, &odd);
	cr_assert_lt(do_io(&io), 0);
	cr_assert(!nvme_state.bounce_busy);
	/* Failing in its second chunk: no more chunks are sent. */
	piece(&odd_big, 0x200100, 0x600);
	piece(&odd_big, 0x300000, 600 * KIB - 0x600);
	m->force_count = 1;
	m->force_skip = 5; /* chunk 1 is commands 0-3 */
	io = mkio(HY_IO_WRITE, 0, odd_big.len, &odd_big);
	{
		unsigned cmds = m->io_cmds;

		cr_assert_lt(do_io(&io), 0);
		cr_assert_eq(m->io_cmds - cmds, 8);
	}
	cr_assert(!nvme_state.bounce_busy);
	cr_assert_eq(ngot, 4);
	/* And the queue still works. */
	{
		struct buf w = {0}, r = {0};

		piece(&w, 0x20000, 4096);
		piece(&r, 0x30000, 4096);
		roundtrip(&w, &r, 4096, 21);
		bounce_roundtrip(&odd, &odd, 8192, 22, 1);
	}
	clean();
}

/* The controller swallows a command: reap() says so (bounded), the worker never hangs. */
Test(be_nvme, dropped_command_times_out)
{
	struct buf b = {0};
	struct hy_io io;
	uint64_t start;
	int r = 0;

	up((struct env_opts){.timeout_ms = 20});
	piece(&b, 0x10000, 4096);
	m->drop_io = 1;
	io = mkio(HY_IO_READ, 0, 4096, &b);
	cr_assert_eq(be.ops->submit(&be, &io), 0);
	cr_assert_eq(be.ops->flush(&be), 0);
	start = hy_now_ns();
	while (hy_now_ns() - start < 5000000000ull) {
		r = be.ops->reap(&be, on_io, &ngot);
		if (r == -ETIMEDOUT)
			break;
		cr_assert_eq(r, 0);
	}
	cr_assert_eq(r, -ETIMEDOUT, "reap() never reported the stuck command");
	cr_assert_eq(ngot, 0);
	cr_assert_eq(m->ndropped, 1);
	clean();
}
