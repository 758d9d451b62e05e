/* SPDX-License-Identifier: MIT */
/*
 * nvme-driver-check BDF [EXPECTED_ERRNO]: Hydra's NVMe driver (nvme/) end to end on a real
 * controller bound to vfio-pci, run inside the NVMe test guest (QEMU's emulated NVMe behind an
 * emulated Intel IOMMU). It DESTROYS the data on namespace 1: test machines only.
 *
 * Bring-up, Identify, an I/O queue pair, a 1 MiB write in three pieces (split at MDTS) read back
 * through DMA into memory mapped at IOVA 4 GiB, SGLS and, if the controller has SGLs, writes and
 * reads of layouts PRPs cannot express (odd offsets in their pages), doorbell batching, 5000 reads
 * through a 64-entry queue (wrap and phase), write zeroes, deallocate, flush, an out-of-range
 * status, the error and SMART logs, abort, reset and queue re-creation, an MSI-X vector to an
 * eventfd. With EXPECTED_ERRNO (negative), only checks that opening fails with it (device bound to
 * the nvme driver, or to no driver). Prints "SMOKE PASS" and exits 0 when everything held.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <unistd.h>

#include "nvme/nvme.h"
#include "nvme/vfio.h"
#include "shm/log.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			printf("SMOKE FAIL line %d: %s\n", __LINE__, #c);                          \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

struct done {
	int calls, err;
	uint16_t status;
};

static void on_done(void *arg, const struct hy_nvme_cpl *c)
{
	struct done *d = arg;
	d->calls++;
	d->err = c->err;
	d->status = c->status;
}

static void wait_for(struct hy_nvme_qpair *qp, struct done *d, int n)
{
	uint64_t t0 = hy_now_ns();
	while (d->calls < n && hy_now_ns() - t0 < 10000000000ull)
		hy_nvme_qpair_poll(qp, 0);
	CHECK(d->calls == n);
}

#define G4 0x100000000ull /* IOVA of g[0] */

/* Fill @n pieces of @g with one pattern (the flat copy in @flat), or compare them with it. */
static int pieces_io(uint8_t *g, const struct hy_nvme_seg *s, unsigned n, uint8_t *flat, bool fill)
{
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = g + (s[i].iova - G4);

		if (fill)
			memcpy(p, flat + off, s[i].len);
		else if (memcmp(p, flat + off, s[i].len))
			return -1;
		off += s[i].len;
	}
	return 0;
}

/*
 * Write @w (pieces at odd offsets in their pages, which PRPs cannot describe) to @lba by SGL,
 * read it back by SGL into the odd layout @r and by PRP into one plain buffer, byte for byte.
 * QEMU reports success even when the IOMMU blocked its DMA: only the data tells.
 */
static void sgl_roundtrip(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint8_t *g,
			  struct done *d, uint64_t lba, const struct hy_nvme_seg *w, unsigned nw,
			  const struct hy_nvme_seg *r, unsigned nr, uint32_t seed)
{
	static uint8_t flat[1u << 20];
	struct hy_nvme_seg plain = {G4 + 0x700000, 0};
	uint64_t total = 0, split = qp->stats.split;
	int calls = d->calls;

	for (unsigned i = 0; i < nw; i++)
		total += w[i].len;
	CHECK(total <= sizeof(flat) && !(total & ((1u << ns->lba_shift) - 1)));
	CHECK(hy_nvme_qpair_seg_check(qp, w, nw) == 1 && hy_nvme_qpair_seg_check(qp, r, nr) == 1);
	for (uint64_t i = 0; i < total; i++)
		flat[i] = (uint8_t)(seed * 77 + i * 13 + (i >> 11));
	pieces_io(g, w, nw, flat, true);
	for (unsigned i = 0; i < nr; i++)
		memset(g + (r[i].iova - G4), 0xee, r[i].len);
	memset(g + 0x700000, 0xee, total);
	CHECK(hy_nvme_qpair_write(qp, ns, lba, (uint32_t)(total >> ns->lba_shift), w, nw, 0,
				  on_done, d) == 0);
	wait_for(qp, d, calls + 1);
	CHECK(d->err == 0);
	CHECK(hy_nvme_qpair_read(qp, ns, lba, (uint32_t)(total >> ns->lba_shift), r, nr, 0, on_done,
				 d) == 0);
	wait_for(qp, d, calls + 2);
	CHECK(d->err == 0);
	CHECK(pieces_io(g, r, nr, flat, false) == 0);
	plain.len = (uint32_t)total;
	CHECK(hy_nvme_qpair_read(qp, ns, lba, (uint32_t)(total >> ns->lba_shift), &plain, 1, 0,
				 on_done, d) == 0);
	wait_for(qp, d, calls + 3);
	CHECK(d->err == 0);
	CHECK(memcmp(g + 0x700000, flat, total) == 0);
	printf("SMOKE SGL write of %u odd pieces, read into %u (%llu bytes): data ok, %llu of 3 "
	       "requests split at MDTS\n",
	       nw, nr, (unsigned long long)total, (unsigned long long)(qp->stats.split - split));
}

static void sgl_check(struct hy_nvme_ctrl *ctrl, struct hy_nvme_qpair *qp,
		      const struct hy_nvme_ns *ns, uint8_t *g, struct done *d)
{
	uint32_t bs = 1u << ns->lba_shift;
	/* Three pieces of 1536 bytes at odd offsets inside their pages (the last one longer if a
	 * block is larger than 1536 * 3 bytes), and another odd layout to read them into. */
	uint32_t last = ((3 * 1536 + bs - 1) & ~(bs - 1)) - 2 * 1536;
	struct hy_nvme_seg w[3] = {
		{G4 + 0x400100, 1536}, {G4 + 0x402300, 1536}, {G4 + 0x409a00, last}};
	struct hy_nvme_seg r[3] = {{G4 + 0x410040, 1000},
				   {G4 + 0x412a04, 2048},
				   {G4 + 0x415e20, 3072 - 1000 - 2048 + last}};
	static struct hy_nvme_seg bw[128], br[128];
	unsigned nbw = 0, nbr = 0;
	uint64_t total = 600u << 10, at, left;

	CHECK(hy_nvme_prp_check(w, 3) < 0 && hy_nvme_prp_check(r, 3) < 0);
	CHECK(qp->sgl == ctrl->info.sgl && qp->sgl_dword == ctrl->info.sgl_dword);
	sgl_roundtrip(qp, ns, g, d, 4096, w, 3, r, 3, 1);

	/* 600 KiB in ~9000-byte pieces at odd offsets: split at MDTS, windows cutting pieces. */
	for (at = 0x480000 + 0x44, left = total; left; nbw++) {
		uint32_t len = left < 9000 ? (uint32_t)left : 9000;

		bw[nbw] = (struct hy_nvme_seg){G4 + at, len};
		at += len + 0x204;
		left -= len;
	}
	for (at = 0x580000 + 0x1fc, left = total; left; nbr++) {
		uint32_t len = left < 12004 ? (uint32_t)left : 12004;

		br[nbr] = (struct hy_nvme_seg){G4 + at, len};
		at += len + 0x1e8;
		left -= len;
	}
	CHECK(at < 0x700000);
	sgl_roundtrip(qp, ns, g, d, 8192, bw, nbw, br, nbr, 2);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nvme-driver-check BDF [EXPECTED_ERRNO]\n");
		return 2;
	}
	struct hy_nvme_vfio v;
	struct hy_nvme_ctrl ctrl;
	struct hy_nvme_ctrl_cfg cfg = {0};
	struct hy_nvme_ns ns;
	struct hy_nvme_qpair qp;
	struct done d = {0};
	uint32_t nsids[16];
	int ret, expect = argc > 2 ? atoi(argv[2]) : 0;

	hy_log_init("smoke", NULL, HY_LOG_DEBUG);
	ret = hy_nvme_vfio_open(&v, argv[1]);
	printf("SMOKE open(%s) = %d: %s\n", argv[1], ret, ret ? v.err : "ok");
	if (expect) {
		CHECK(ret == expect);
		printf("SMOKE EXPECTED-ERROR-OK\n");
		return 0;
	}
	CHECK(ret == 0);
	printf("SMOKE iova ranges %u; 0x40000000 ok %d; 0xfee00000 ok %d\n", v.niova,
	       hy_nvme_vfio_iova_ok(&v, 0x40000000, 4096),
	       hy_nvme_vfio_iova_ok(&v, 0xfee00000, 4096));
	for (unsigned i = 0; i < v.niova; i++)
		printf("SMOKE   [0x%llx, 0x%llx]\n", (unsigned long long)v.iova[i].start,
		       (unsigned long long)v.iova[i].end);
	hy_nvme_vfio_ctrl_cfg(&v, &cfg);
	ret = hy_nvme_ctrl_init(&ctrl, &cfg);
	CHECK(ret == 0);
	printf("SMOKE CAP 0x%016llx VS 0x%x mdts %u max_xfer %u ioq %u\n",
	       (unsigned long long)ctrl.cap, ctrl.vs, ctrl.info.mdts, ctrl.info.max_xfer,
	       ctrl.info.io_queues);
	ret = hy_nvme_ctrl_active_ns(&ctrl, nsids, 16);
	printf("SMOKE active ns %d first %u\n", ret, nsids[0]);
	CHECK(ret >= 1);
	CHECK(hy_nvme_ctrl_identify_ns(&ctrl, nsids[0], &ns) == 0);
	printf("SMOKE ns %u: %llu blocks of %u, max_blocks %u dsm %d wz %d vwc %d\n", ns.nsid,
	       (unsigned long long)ns.nsze, 1u << ns.lba_shift, ns.max_blocks, ns.dsm,
	       ns.write_zeroes, ns.vwc);
	CHECK(hy_nvme_qpair_create(&ctrl, 1, 64, &qp) == 0);

	/* "Guest memory": 8 MiB mapped at 4 GiB, as README-nvme.md's scheme would. */
	size_t gsz = 8u << 20;
	uint8_t *g = mmap(NULL, gsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(g != MAP_FAILED);
	CHECK(ctrl.dma->map(ctrl.dma_priv, g, gsz, 0x100000000ull) == 0);
	for (size_t i = 0; i < (1u << 20); i++)
		g[i] = (uint8_t)(i * 7 + (i >> 12));
	/* 1 MiB in three pieces, crossing the MDTS split. */
	struct hy_nvme_seg w[3] = {
		{0x100000000ull + 0x200, 0x1000 - 0x200},
		{0x100000000ull + 0x1000, 0x80000},
		{0x100000000ull + 0x81000, (1u << 20) - (0x1000 - 0x200) - 0x80000}};
	uint32_t nlb = (1u << 20) >> ns.lba_shift;
	CHECK(hy_nvme_qpair_write(&qp, &ns, 8, nlb, w, 3, 0, on_done, &d) == 0);
	wait_for(&qp, &d, 1);
	CHECK(d.err == 0);
	struct hy_nvme_seg r = {0x100000000ull + 0x200000, 1u << 20};
	CHECK(hy_nvme_qpair_read(&qp, &ns, 8, nlb, &r, 1, 0, on_done, &d) == 0);
	wait_for(&qp, &d, 2);
	CHECK(d.err == 0);
	CHECK(memcmp(g + 0x200, g + 0x200000, 1u << 20) == 0);
	printf("SMOKE write/read 1 MiB (split %llu) data ok\n", (unsigned long long)qp.stats.split);

	/* SGLs (Base 2.0, 4.1.2): what the controller reports, and odd layouts if it has them. */
	printf("SMOKE SGLS 0x%08x: %s\n", ctrl.info.sgls,
	       !ctrl.info.sgl	     ? "no SGLs"
	       : ctrl.info.sgl_dword ? "SGLs, dword aligned"
				     : "SGLs, any alignment");
	if (!ctrl.info.sgl) {
		printf("SMOKE SGL write/read skipped: the controller has no SGLs\n");
	} else {
		struct done sd = {0}; /* d's count is what the checks below expect */

		sgl_check(&ctrl, &qp, &ns, g, &sd);
	}

	/* Batch of 63 single-block reads: one SQ doorbell. */
	uint64_t sqdb = qp.stats.sq_doorbells;
	for (int i = 0; i < 63; i++) {
		struct hy_nvme_seg s = {0x100000000ull + 0x300000 + (uint64_t)i * 4096,
					1u << ns.lba_shift};
		CHECK(hy_nvme_qpair_read(&qp, &ns, (uint64_t)i, 1, &s, 1, 0, on_done, &d) == 0);
	}
	wait_for(&qp, &d, 65);
	CHECK(qp.stats.sq_doorbells == sqdb + 1);
	/* Many more commands than entries: wrap-around on the real device. */
	for (int i = 0; i < 5000; i++) {
		struct hy_nvme_seg s = {0x100000000ull + 0x300000, 1u << ns.lba_shift};
		while (hy_nvme_qpair_read(&qp, &ns, (uint64_t)(i % 100), 1, &s, 1, 0, on_done,
					  &d) == -EAGAIN)
			hy_nvme_qpair_poll(&qp, 0);
	}
	wait_for(&qp, &d, 5065);
	CHECK(d.err == 0);
	printf("SMOKE 5000 reads through a 64-entry queue ok (sq db %llu, cq db %llu)\n",
	       (unsigned long long)qp.stats.sq_doorbells,
	       (unsigned long long)qp.stats.cq_doorbells);

	if (ns.write_zeroes) {
		CHECK(hy_nvme_qpair_write_zeroes(&qp, &ns, 8, 16, 0, on_done, &d) == 0);
		wait_for(&qp, &d, 5066);
		CHECK(d.err == 0);
		CHECK(hy_nvme_qpair_read(&qp, &ns, 8, nlb, &r, 1, 0, on_done, &d) == 0);
		wait_for(&qp, &d, 5067);
		for (uint32_t i = 0; i < (16u << ns.lba_shift); i++)
			CHECK(g[0x200000 + i] == 0);
		CHECK(memcmp(g + 0x200 + (16u << ns.lba_shift),
			     g + 0x200000 + (16u << ns.lba_shift),
			     (1u << 20) - (16u << ns.lba_shift)) == 0);
		printf("SMOKE write zeroes ok\n");
	}
	if (ns.dsm) {
		struct hy_nvme_dsm_range rg = {.nlb = 8, .slba = 1000};
		CHECK(hy_nvme_qpair_deallocate(&qp, &ns, &rg, 1, on_done, &d) == 0);
		wait_for(&qp, &d, d.calls + 1);
		printf("SMOKE dsm err %d\n", d.err);
	}
	CHECK(hy_nvme_qpair_flush(&qp, ns.nsid, on_done, &d) == 0);
	wait_for(&qp, &d, d.calls + 1);
	CHECK(d.err == 0);

	/* Out of range: a real status. */
	{
		struct hy_nvme_ns big = ns;
		struct hy_nvme_seg s = {0x100000000ull, 1u << ns.lba_shift};
		big.nsze = ~0ull >> 1;
		CHECK(hy_nvme_qpair_read(&qp, &big, ns.nsze, 1, &s, 1, 0, on_done, &d) == 0);
		wait_for(&qp, &d, d.calls + 1);
		printf("SMOKE out of range: %d %s\n", d.err, hy_nvme_status_str(d.status));
		CHECK(d.err == -ERANGE);
	}
	struct hy_nvme_error_log el[4];
	struct hy_nvme_smart_log sm;
	printf("SMOKE error log %d, smart %d\n", hy_nvme_ctrl_error_log(&ctrl, el, 4),
	       hy_nvme_ctrl_smart_log(&ctrl, &sm));
	printf("SMOKE abort of nothing: %d\n", hy_nvme_ctrl_abort(&ctrl, 1, 42));

	/* Reset and re-create. */
	CHECK(hy_nvme_ctrl_reset(&ctrl) == 0);
	hy_nvme_qpair_reset(&qp, -ECANCELED);
	{
		struct hy_nvme_qpair_layout l;
		struct hy_nvme_ioq_desc desc = {.qid = 1, .depth = 64};
		hy_nvme_qpair_layout(64, ctrl.info.max_xfer, &l);
		desc.sq_iova = qp.owned.iova + l.sq_off;
		desc.cq_iova = qp.owned.iova + l.cq_off;
		CHECK(hy_nvme_ctrl_create_ioq(&ctrl, &desc) == 0);
	}
	memset(g + 0x200000, 0, 1u << 20);
	CHECK(hy_nvme_qpair_read(&qp, &ns, 8 + 16, nlb - 16, &r, 1, 0, on_done, &d) == -EINVAL);
	r.len = (nlb - 16) << ns.lba_shift;
	CHECK(hy_nvme_qpair_read(&qp, &ns, 8 + 16, nlb - 16, &r, 1, 0, on_done, &d) == 0);
	wait_for(&qp, &d, d.calls + 1);
	CHECK(d.err == 0);
	CHECK(memcmp(g + 0x200 + (16u << ns.lba_shift), g + 0x200000, r.len) == 0);
	printf("SMOKE reset + re-create + read ok\n");

	/* MSI-X: vector 1 to an eventfd, an I/O queue pair with interrupts on. */
	{
		int efd[2] = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
		struct hy_nvme_qpair_layout l;
		struct hy_nvme_dma_buf b;
		struct hy_nvme_qpair_mem mem;
		struct hy_nvme_qpair_cfg qc;
		struct hy_nvme_qpair q2;
		struct hy_nvme_ioq_desc desc = {.qid = 2, .depth = 16, .ien = true, .iv = 1};
		struct hy_nvme_seg s = {0x100000000ull, 1u << ns.lba_shift};
		struct pollfd pfd = {.fd = efd[1], .events = POLLIN};
		uint64_t cnt;

		CHECK(hy_nvme_vfio_irqs_enable(&v, efd, 2) == 0);
		hy_nvme_qpair_layout(16, ctrl.info.max_xfer, &l);
		CHECK(hy_nvme_dma_alloc(&ctrl, l.size, &b) == 0);
		mem.sq = (uint8_t *)b.vaddr + l.sq_off;
		mem.sq_iova = b.iova + l.sq_off;
		mem.cq = (uint8_t *)b.vaddr + l.cq_off;
		mem.cq_iova = b.iova + l.cq_off;
		mem.prp = (uint8_t *)b.vaddr + l.prp_off;
		mem.prp_iova = b.iova + l.prp_off;
		hy_nvme_ctrl_qpair_cfg(&ctrl, 2, 16, &mem, &qc);
		CHECK(hy_nvme_qpair_init(&q2, &qc) == 0);
		desc.sq_iova = mem.sq_iova;
		desc.cq_iova = mem.cq_iova;
		CHECK(hy_nvme_ctrl_create_ioq(&ctrl, &desc) == 0);
		CHECK(hy_nvme_qpair_read(&q2, &ns, 0, 1, &s, 1, 0, on_done, &d) == 0);
		hy_nvme_qpair_ring_doorbell(&q2);
		CHECK(poll(&pfd, 1, 5000) == 1);
		CHECK(read(efd[1], &cnt, 8) == 8);
		wait_for(&q2, &d, d.calls + 1);
		printf("SMOKE MSI-X vector 1 fired (%llu) for queue 2, of %u vectors\n",
		       (unsigned long long)cnt, v.msix_count);
		CHECK(hy_nvme_ctrl_delete_ioq(&ctrl, 2) == 0);
		hy_nvme_qpair_fini(&q2);
		hy_nvme_dma_free(&ctrl, &b);
		CHECK(hy_nvme_vfio_irqs_disable(&v) == 0);
	}
	CHECK(hy_nvme_qpair_destroy(&ctrl, &qp) == 0);
	CHECK(ctrl.dma->unmap(ctrl.dma_priv, 0x100000000ull, gsz) == 0);
	hy_nvme_ctrl_fini(&ctrl);
	hy_nvme_vfio_close(&v);
	printf("SMOKE PASS\n");
	return 0;
}
