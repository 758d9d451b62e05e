/* SPDX-License-Identifier: MIT */
/*
 * nvme/qpair.c against the model: data integrity, command encoding, doorbell batching, queue
 * wrap-around and the Phase Tag, MDTS splitting, timeouts, abort, reset and re-creation, queue
 * memory provided by the caller (shared memory mapped twice, as a worker would see it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"

static struct hy_nvme_ns ns;
static struct hy_nvme_qpair qp;

static void setup(void)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	m = model_new();
	cr_assert_eq(fx_up(NULL), 0);
	fx_gmem();
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 1, &ns), 0);
	memset(&qp, 0, sizeof(qp));
}

static void teardown(void)
{
	if (qp.trk)
		hy_nvme_qpair_destroy(&ctrl, &qp);
	fx_down();
}

TestSuite(qpair, .init = setup, .fini = teardown);

static struct hy_nvme_seg G(uint64_t gpa, uint32_t len) {
	return (struct hy_nvme_seg){GIOVA + gpa, len};
}

static void
fill(uint64_t gpa, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		gmem[gpa + i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void qp_up(uint16_t depth)
{
	cr_assert_eq(hy_nvme_qpair_create(&ctrl, 1, depth, &qp), 0);
	cr_assert(m->sq[1].exists && m->cq[1].exists);
}

/* Write @nlb blocks from gpa @src to @lba, read them back to @dst, compare. */
static void roundtrip(uint64_t lba, uint32_t nlb, uint64_t src, uint64_t dst)
{
	struct hy_nvme_seg w = G(src, nlb << 9), r = G(dst, nlb << 9);
	struct done d = {0};

	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, lba, nlb, &w, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, lba, nlb, &r, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 2);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(memcmp(gmem + src, gmem + dst, (size_t)nlb << 9), 0);
	cr_assert_eq(memcmp(m->ns[0].data + (lba << 9), gmem + src, (size_t)nlb << 9), 0);
}

Test(qpair, write_then_read)
{
	qp_up(32);
	fill(0x1000, 64 << 10, 1);
	roundtrip(100, 128, 0x1000, 0x80000);
	/* Unaligned (dword) start, crossing pages. */
	fill(0x20204, 4096, 2);
	roundtrip(7, 8, 0x20204, 0x90104);
	fx_model_clean();
}

Test(qpair, command_encoding)
{
	struct hy_nvme_ns big = ns;
	struct hy_nvme_seg s = G(0x3000, 8 << 9);
	struct hy_nvme_sqe *e;
	struct done d = {0};

	qp_up(16);
	/* NVM 1.0: SLBA in CDW11:10, NLB 0's based in CDW12 15:0, FUA in bit 30. */
	big.nsze = 1ull << 40;
	cr_assert_eq(hy_nvme_qpair_read(&qp, &big, 0x123456789ull, 8, &s, 1, HY_NVME_RW_FUA,
					on_done, &d),
		     0);
	fx_wait(&qp, &d, 1);
	e = &m->log[m->nlog - 1];
	cr_assert_eq(e->opc, HY_NVME_CMD_READ);
	cr_assert_eq(e->nsid, 1);
	cr_assert_eq(e->cdw10, 0x23456789u);
	cr_assert_eq(e->cdw11, 0x1u);
	cr_assert_eq(e->cdw12, 7u | HY_NVME_RW_FUA);
	cr_assert_eq(e->prp1, GIOVA + 0x3000);
	cr_assert_eq(e->prp2, 0);
	cr_assert_eq(d.err, -ERANGE, "the model has 16384 blocks: LBA Out of Range");
	cr_assert_eq(d.status, HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_LBA_RANGE));

	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 5, 8, &s, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 2);
	e = &m->log[m->nlog - 1];
	cr_assert_eq(e->opc, HY_NVME_CMD_WRITE);
	cr_assert_eq(e->cdw10, 5);
	cr_assert_eq(e->cdw11, 0);
	cr_assert_eq(e->cdw12, 7);

	cr_assert_eq(hy_nvme_qpair_flush(&qp, 1, on_done, &d), 0);
	fx_wait(&qp, &d, 3);
	e = &m->log[m->nlog - 1];
	cr_assert_eq(e->opc, HY_NVME_CMD_FLUSH);
	cr_assert_eq(e->nsid, 1);
	cr_assert_eq(e->prp1 | e->prp2 | e->cdw10 | e->cdw12, 0);
	cr_assert_eq(m->flushes, 1);

	/* Write Zeroes: no data pointer, DEAC is CDW12 bit 25. */
	cr_assert_eq(hy_nvme_qpair_write_zeroes(&qp, &ns, 40, 16, HY_NVME_WZ_DEAC, on_done, &d), 0);
	fx_wait(&qp, &d, 4);
	e = &m->log[m->nlog - 1];
	cr_assert_eq(e->opc, HY_NVME_CMD_WRITE_ZEROES);
	cr_assert_eq(e->cdw10, 40);
	cr_assert_eq(e->cdw12, 15u | (1u << 25));
	cr_assert_eq(e->prp1 | e->prp2, 0);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(hy_nvme_qpair_write_zeroes(&qp, &ns, 40, 16, 1u << 24, on_done, &d), -EINVAL,
		     "unknown flags are refused");

	/* Raw submission: the driver sets the CID and nothing else. */
	{
		struct hy_nvme_sqe raw = {.opc = HY_NVME_CMD_FLUSH, .nsid = 1, .cid = 0x7777};
		int cid = hy_nvme_qpair_submit(&qp, &raw, on_done, &d);

		cr_assert_geq(cid, 0);
		fx_wait(&qp, &d, 5);
		cr_assert_eq(m->log[m->nlog - 1].cid, cid);
	}
	fx_model_clean();
}

Test(qpair, dataset_management_deallocate)
{
	struct hy_nvme_dsm_range r[3] = {
		{.nlb = 4, .slba = 10}, {.nlb = 1, .slba = 100}, {.nlb = 384, .slba = 16000}};
	struct hy_nvme_ns no = ns;
	struct hy_nvme_sqe *e;
	struct done d = {0};

	qp_up(16);
	memset(m->ns[0].data, 0xee, 16384 * 512);
	cr_assert_eq(hy_nvme_qpair_deallocate(&qp, &ns, r, 3, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, 0);
	e = &m->log[m->nlog - 1];
	cr_assert_eq(e->opc, HY_NVME_CMD_DSM);
	cr_assert_eq(e->cdw10, 2, "NR is 0's based");
	cr_assert_eq(e->cdw11, HY_NVME_DSM_AD);
	cr_assert_eq(e->prp2, 0);
	cr_assert_eq(m->last_dsm_nr, 3);
	cr_assert_eq(memcmp(m->last_dsm, r, sizeof(r)), 0, "ranges reach the controller intact");
	cr_assert_eq(m->ns[0].data[10 * 512], 0);
	cr_assert_eq(m->ns[0].data[14 * 512 - 1], 0);
	cr_assert_eq(m->ns[0].data[14 * 512], 0xee);
	cr_assert_eq(m->ns[0].data[16383 * 512], 0);

	cr_assert_eq(hy_nvme_qpair_deallocate(&qp, &ns, r, 0, on_done, &d), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_deallocate(&qp, &ns, r, 257, on_done, &d), -EINVAL);
	r[2].nlb = 385;
	cr_assert_eq(hy_nvme_qpair_deallocate(&qp, &ns, r, 3, on_done, &d), -EINVAL);
	no.dsm = false;
	cr_assert_eq(hy_nvme_qpair_deallocate(&qp, &no, r, 1, on_done, &d), -EOPNOTSUPP);
	fx_model_clean();
}

Test(qpair, doorbells_are_written_once_per_batch)
{
	struct done d = {0};
	struct hy_nvme_seg s = G(0x1000, 512);

	qp_up(32);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, (uint64_t)i, 1, &s, 1, 0, on_done, &d),
			     0);
	cr_assert_eq(m->sq_db_writes[1], 0, "submit only queues");
	cr_assert_eq(m->io_cmds, 0);
	hy_nvme_qpair_ring_doorbell(&qp);
	cr_assert_eq(m->sq_db_writes[1], 1, "one SQ doorbell for ten commands");
	cr_assert_eq(m->io_cmds, 10);
	hy_nvme_qpair_ring_doorbell(&qp);
	cr_assert_eq(m->sq_db_writes[1], 1, "nothing new, no write");
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 10);
	cr_assert_eq(d.calls, 10);
	cr_assert_eq(m->cq_db_writes[1], 1, "one CQ doorbell for ten completions");
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 0);
	cr_assert_eq(m->cq_db_writes[1], 1, "an empty poll writes nothing");
	cr_assert_eq(m->sq_db_writes[1], 1);

	/* Poll rings for what was queued, then reaps it. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, (uint64_t)i, 1, &s, 1, 0, on_done, &d),
			     0);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 3);
	cr_assert_eq(m->sq_db_writes[1], 2);
	cr_assert_eq(m->cq_db_writes[1], 2);

	/* A poll budget splits the reaping, one CQ doorbell per call. */
	for (int i = 0; i < 6; i++)
		cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, (uint64_t)i, 1, &s, 1, 0, on_done, &d),
			     0);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 4), 4);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 4), 2);
	cr_assert_eq(m->cq_db_writes[1], 4);
	cr_assert_eq(qp.stats.sq_doorbells, 3);
	cr_assert_eq(qp.stats.cq_doorbells, 4);
	fx_model_clean();
}

Test(qpair, commands_wait_for_the_controller)
{
	struct done d = {0};
	struct hy_nvme_seg s = G(0x1000, 512);

	qp_up(16);
	m->auto_process = false;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 0, "the controller has not run yet");
	cr_assert_eq(m->sq_db_writes[1], 1);
	cr_assert_eq(m->cq_db_writes[1], 0);
	model_step(m);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 5);
	cr_assert_eq(d.calls, 5);
	m->auto_process = true; /* for the admin commands of the teardown */
	fx_model_clean();
}

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

struct tagged {
	int calls;
	int errors;
};

static void on_tagged(void *arg, const struct hy_nvme_cpl *c)
{
	struct tagged *t = arg;

	t->calls++;
	if (c->err)
		t->errors++;
}

/* Far more commands than entries, in batches of every size: the rings wrap, the phase flips. */
Test(qpair, queue_wraps_and_phase_flips)
{
	struct tagged t = {0};
	unsigned submitted = 0, flips = 0;
	uint8_t phase;

	qp_up(8); /* 7 command slots */
	phase = qp.phase;
	for (unsigned iter = 0; submitted < 2000; iter++) {
		if (iter == 100000)
			cr_assert_fail("stuck after %u commands", submitted);
		unsigned batch = 1 + rnd(7);

		for (unsigned i = 0; i < batch && submitted < 2000 && hy_nvme_qpair_free_slots(&qp);
		     i++, submitted++) {
			uint32_t lba = submitted % 4096;
			struct hy_nvme_seg s = G((uint64_t)lba * 512, 512);

			memset(gmem + (uint64_t)lba * 512, (int)(submitted & 0xff), 512);
			cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, lba, 1, &s, 1, 0, on_tagged, &t),
				     0);
		}
		hy_nvme_qpair_ring_doorbell(&qp);
		hy_nvme_qpair_poll(&qp, 1 + rnd(8));
		if (qp.phase != phase) {
			flips++;
			phase = qp.phase;
		}
	}
	for (int i = 0; i < 1000 && t.calls < (int)submitted; i++)
		hy_nvme_qpair_poll(&qp, 0);
	cr_assert_eq(t.calls, 2000);
	cr_assert_eq(t.errors, 0);
	cr_assert_gt(flips, 200, "2000 CQEs through 8 entries flip the phase ~250 times: %u",
		     flips);
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 7);
	cr_assert_eq(m->io_cmds, 2000);
	for (unsigned lba = 0; lba < 2000; lba++)
		cr_assert_eq(m->ns[0].data[(uint64_t)lba * 512], (uint8_t)lba,
			     "block %u holds another command's data", lba);
	cr_assert_eq(qp.stats.completed, 2000);
	cr_assert_eq(qp.stats.bad_cqes, 0);
	fx_model_clean();
}

Test(qpair, large_requests_are_split_by_mdts)
{
	/* 2 MiB in three pieces: a dword-offset head, 1 MiB of pages, a tail ending mid-page. */
	struct hy_nvme_seg s[3] = {G(0x10200, 0x10000 - 0x200), G(0x100000, 1u << 20),
				   G(0x300000, (2u << 20) - (0x10000 - 0x200) - (1u << 20))};
	struct hy_nvme_seg r = G(0x500000, 2u << 20);
	struct done d = {0};
	unsigned first = m->nlog;

	qp_up(16);
	first = m->nlog;
	fill(0x10200, s[0].len, 3);
	fill(0x100000, s[1].len, 4);
	fill(0x300000, s[2].len, 5);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 1000, 4096, s, 3, 0, on_done, &d), 0);
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15 - 4, "four commands of 512 KiB");
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(qp.stats.split, 1);
	cr_assert_eq(m->nlog - first, 4);
	for (unsigned i = 0; i < 4; i++) {
		cr_assert_eq(m->log[first + i].cdw10, 1000 + 1024 * i);
		cr_assert_eq(m->log[first + i].cdw12, 1023);
	}
	cr_assert_eq(memcmp(m->ns[0].data + 1000 * 512, gmem + 0x10200, s[0].len), 0);
	cr_assert_eq(memcmp(m->ns[0].data + 1000 * 512 + s[0].len, gmem + 0x100000, s[1].len), 0);
	cr_assert_eq(
		memcmp(m->ns[0].data + 1000 * 512 + s[0].len + s[1].len, gmem + 0x300000, s[2].len),
		0);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 1000, 4096, &r, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 2);
	cr_assert_eq(memcmp(gmem + 0x500000, m->ns[0].data + 1000 * 512, 2u << 20), 0);

	/* A smaller per-command limit splits finer. */
	{
		struct hy_nvme_ns small = ns;

		small.max_blocks = 8;
		first = m->nlog;
		cr_assert_eq(hy_nvme_qpair_read(&qp, &small, 0, 64, &r, 1, 0, on_done, &d), -EINVAL,
			     "64 blocks are not 2 MiB");
		r.len = 64 * 512;
		cr_assert_eq(hy_nvme_qpair_read(&qp, &small, 0, 64, &r, 1, 0, on_done, &d), 0);
		fx_wait(&qp, &d, 3);
		cr_assert_eq(m->nlog - first, 8);
	}
	fx_model_clean();
}

Test(qpair, whole_requests_or_nothing)
{
	struct hy_nvme_ns small = ns;
	struct hy_nvme_seg s = G(0, 32 * 512);
	struct hy_nvme_seg bad[2] = {G(0, 512), G(0x2000, 512)};
	struct done d = {0};
	uint16_t tail;

	qp_up(4); /* 3 command slots */
	small.max_blocks = 8;
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 0, 32, &s, 1, 0, on_done, &d), -E2BIG,
		     "four commands never fit in three slots");
	cr_assert_eq(hy_nvme_qpair_flush(&qp, 1, on_done, &d), 0);
	s.len = 24 * 512;
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 0, 24, &s, 1, 0, on_done, &d), -EAGAIN,
		     "three commands, two free slots");
	tail = qp.sq_tail;
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 0, 2, bad, 2, 0, on_done, &d), -EINVAL,
		     "a hole inside the first page");
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 0, 2, &s, 1, 0, on_done, &d), -EINVAL,
		     "lengths do not add up");
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 16380, 8, &s, 1, 0, on_done, &d), -EINVAL,
		     "past the end of the namespace");
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 0, 0, &s, 0, 0, on_done, &d), -EINVAL);
	cr_assert_eq(qp.sq_tail, tail, "nothing was queued");
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 2);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &small, 0, 24, &s, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 2);
	cr_assert_eq(d.err, 0);
	fx_model_clean();
}

Test(qpair, split_request_reports_the_first_error_once)
{
	struct hy_nvme_ns small = ns;
	struct hy_nvme_seg s = G(0, 32 * 512);
	struct done d = {0};

	qp_up(16);
	small.max_blocks = 8;
	/* The second and third commands fail, differently: the second one's status is kept. */
	m->force_skip = 1;
	m->force_count = 2;
	m->force_status = HY_NVME_STATUS(HY_NVME_SCT_MEDIA, HY_NVME_SC_UNRECOVERED_READ);
	m->force_status2 = HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_LBA_RANGE);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &small, 0, 32, &s, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	for (int i = 0; i < 10; i++)
		hy_nvme_qpair_poll(&qp, 0);
	cr_assert_eq(d.calls, 1, "one callback for four commands");
	cr_assert_eq(d.err, -EIO);
	cr_assert_eq(d.status, HY_NVME_STATUS(HY_NVME_SCT_MEDIA, HY_NVME_SC_UNRECOVERED_READ));
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15, "every slot is back");
	fx_model_clean();
}

Test(qpair, status_reaches_the_callback)
{
	struct hy_nvme_seg s = G(0, 512);
	struct done d = {0};

	qp_up(16);
	m->force_count = 1;
	/* DNR (bit 14) qualifies the status; it does not change what it means. */
	m->force_status =
		HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_NS_WRITE_PROTECTED) | (1u << 14);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, -EROFS);
	cr_assert_eq(d.status, m->force_status);
	cr_assert(HY_NVME_STATUS_DNR(d.status));
	cr_assert_str_eq(hy_nvme_status_str(d.status), "Namespace is Write Protected");
	fx_model_clean();
}

Test(qpair, write_zeroes_is_split_by_65536_blocks)
{
	struct hy_nvme_ns big;
	struct done d = {0};
	uint32_t nsid = model_ns_add(m, 140000, 9, 0);
	unsigned first;

	qp_up(16);
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, nsid, &big), 0);
	memset(m->ns[1].data, 0xaa, 140000ull * 512);
	first = m->nlog;
	cr_assert_eq(
		hy_nvme_qpair_write_zeroes(&qp, &big, 100, 70000, HY_NVME_WZ_DEAC, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(m->nlog - first, 2);
	cr_assert_eq(m->log[first].cdw10, 100);
	cr_assert_eq(m->log[first].cdw12, 65535u | HY_NVME_WZ_DEAC);
	cr_assert_eq(m->log[first + 1].cdw10, 100 + 65536);
	cr_assert_eq(m->log[first + 1].cdw12, (70000u - 65536 - 1) | HY_NVME_WZ_DEAC);
	cr_assert_eq(m->ns[1].data[99 * 512 + 511], 0xaa);
	cr_assert_eq(m->ns[1].data[100 * 512], 0);
	cr_assert_eq(m->ns[1].data[70099ull * 512 + 511], 0);
	cr_assert_eq(m->ns[1].data[70100ull * 512], 0xaa);
	big.write_zeroes = false;
	cr_assert_eq(hy_nvme_qpair_write_zeroes(&qp, &big, 0, 1, 0, on_done, &d), -EOPNOTSUPP);
	fx_model_clean();
}

Test(qpair, timed_out_command_is_aborted)
{
	struct hy_nvme_seg s = G(0, 512);
	struct done d = {0};
	uint16_t cids[8];

	qp_up(16);
	m->drop_io = 1;
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 0);
	cr_assert_eq(hy_nvme_qpair_check_timeouts(&qp, cids, 8), 0, "not yet");
	fx_sleep_ms(150);
	cr_assert_eq(hy_nvme_qpair_check_timeouts(&qp, cids, 8), 1);
	cr_assert_eq(cids[0], m->log[m->nlog - 1].cid);
	cr_assert_eq(hy_nvme_qpair_check_timeouts(&qp, cids, 8), 0, "reported once");
	cr_assert_eq(d.calls, 0, "still outstanding");

	cr_assert_eq(hy_nvme_ctrl_abort(&ctrl, 1, cids[0]), 0, "the controller aborted it");
	cr_assert_eq(m->log[m->nlog - 1].opc, HY_NVME_ADM_ABORT);
	cr_assert_eq(m->log[m->nlog - 1].cdw10, (uint32_t)cids[0] << 16 | 1);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, -ECANCELED);
	cr_assert_eq(d.status, HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_ABORT_REQ));
	cr_assert_eq(qp.stats.timeouts, 1);
	fx_model_clean();
}

struct resubmit {
	struct done d;
	int ret;
};

static void on_cancel_resubmit(void *arg, const struct hy_nvme_cpl *c)
{
	struct resubmit *r = arg;
	struct hy_nvme_seg s = G(0, 512);

	on_done(&r->d, c);
	/* The queue is being reset: this must be refused, not land in a dead SQ. */
	r->ret = hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &r->d);
}

/* Timeout, the abort fails, reset the controller, the owner re-creates its queue pair. */
Test(qpair, reset_and_recreate_after_a_failed_abort)
{
	struct hy_nvme_seg s = G(0, 512);
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_ioq_desc desc = {.qid = 1, .depth = 16};
	struct resubmit r = {.ret = 1};
	uint16_t cids[8];

	qp_up(16);
	m->drop_io = 1;
	m->abort_fails = true;
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_cancel_resubmit, &r), 0);
	hy_nvme_qpair_poll(&qp, 0);
	fx_sleep_ms(150);
	cr_assert_eq(hy_nvme_qpair_check_timeouts(&qp, cids, 8), 1);
	cr_assert_eq(hy_nvme_ctrl_abort(&ctrl, 1, cids[0]), 1, "not aborted");

	cr_assert_eq(hy_nvme_ctrl_reset(&ctrl), 0);
	cr_assert_eq(ctrl.generation, 1);
	cr_assert(!m->sq[1].exists && !m->cq[1].exists, "a reset deletes every I/O queue");
	hy_nvme_qpair_reset(&qp, -ECANCELED);
	cr_assert_eq(r.d.calls, 1);
	cr_assert_eq(r.d.err, -ECANCELED);
	cr_assert_eq(r.ret, -EAGAIN, "no submissions while resetting");
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	cr_assert(qp.sq_tail == 0 && qp.cq_head == 0 && qp.phase == 1,
		  "the rings start over, as the controller's new queues do");

	cr_assert_eq(hy_nvme_qpair_layout(16, ctrl.info.max_xfer, &l), 0);
	desc.sq_iova = qp.owned.iova + l.sq_off;
	desc.cq_iova = qp.owned.iova + l.cq_off;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &desc), 0);
	fill(0x4000, 8192, 9);
	roundtrip(50, 16, 0x4000, 0x40000);
	cr_assert_eq(qp.stats.bad_cqes, 0);
	fx_model_clean();
}

Test(qpair, fatal_status_during_io_then_recovery)
{
	struct hy_nvme_seg s = G(0, 512);
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_ioq_desc desc = {.qid = 1, .depth = 16};
	struct done d = {0};

	qp_up(16);
	m->cfs = true;
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	cr_assert_eq(hy_nvme_qpair_poll(&qp, 0), 0);
	cr_assert_eq(hy_nvme_ctrl_check(&ctrl), -EIO);
	cr_assert_eq(hy_nvme_ctrl_reset(&ctrl), 0);
	hy_nvme_qpair_reset(&qp, -ECANCELED);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.err, -ECANCELED);
	hy_nvme_qpair_layout(16, ctrl.info.max_xfer, &l);
	desc.sq_iova = qp.owned.iova + l.sq_off;
	desc.cq_iova = qp.owned.iova + l.cq_off;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &desc), 0);
	roundtrip(0, 1, 0x1000, 0x2000);
	fx_model_clean();
}

Test(qpair, blocked_dma_is_an_error)
{
	struct hy_nvme_seg s = {GIOVA + GSIZE, 512}; /* not mapped */
	struct done d = {0};

	qp_up(16);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, -EIO);
	cr_assert_eq(d.status, HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_DATA_XFER_ERROR));
	cr_assert_eq(m->dma_faults, 1);
	fx_model_clean();
}

/* Queue memory from the caller: a memfd mapped twice, once to map for DMA, once to use. */
Test(qpair, caller_provided_shared_queue_memory)
{
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_qpair_mem mem;
	struct hy_nvme_qpair_cfg cfg;
	struct hy_nvme_qpair wq;
	struct hy_nvme_ioq_desc desc = {.qid = 2, .depth = 64};
	struct hy_nvme_seg s = G(0x6000, 4096), r = G(0x7000, 4096);
	struct done d = {0};
	uint8_t *master, *worker;
	uint64_t iova;
	int fd;

	cr_assert_eq(hy_nvme_qpair_layout(64, ctrl.info.max_xfer, &l), 0);
	fd = memfd_create("hy-nvme-qp", MFD_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)l.size), 0);
	master = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	worker = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert(master != MAP_FAILED && worker != MAP_FAILED && master != worker);

	/* The controller owner maps its view and creates the queues... */
	cr_assert_eq(hy_nvme_iova_alloc(&ctrl.iova, l.size, &iova), 0);
	cr_assert_eq(ctrl.dma->map(ctrl.dma_priv, master, l.size, iova), 0);
	/* ...the queue owner attaches its own view first, so the CQ is clean. */
	mem.sq = worker + l.sq_off;
	mem.sq_iova = iova + l.sq_off;
	mem.cq = worker + l.cq_off;
	mem.cq_iova = iova + l.cq_off;
	mem.prp = worker + l.prp_off;
	mem.prp_iova = iova + l.prp_off;
	hy_nvme_ctrl_qpair_cfg(&ctrl, 2, 64, &mem, &cfg);
	cr_assert_eq(hy_nvme_qpair_init(&wq, &cfg), 0);
	desc.sq_iova = mem.sq_iova;
	desc.cq_iova = mem.cq_iova;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &desc), 0);

	fill(0x6000, 4096, 11);
	cr_assert_eq(hy_nvme_qpair_write(&wq, &ns, 300, 8, &s, 1, 0, on_done, &d), 0);
	cr_assert_eq(((struct hy_nvme_sqe *)(master + l.sq_off))->opc, HY_NVME_CMD_WRITE,
		     "the SQE is in the shared pages");
	fx_wait(&wq, &d, 1);
	cr_assert_eq(hy_nvme_qpair_read(&wq, &ns, 300, 8, &r, 1, 0, on_done, &d), 0);
	fx_wait(&wq, &d, 2);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(memcmp(gmem + 0x6000, gmem + 0x7000, 4096), 0);

	cr_assert_eq(hy_nvme_ctrl_delete_ioq(&ctrl, 2), 0);
	hy_nvme_qpair_reset(&wq, -ECANCELED);
	hy_nvme_qpair_fini(&wq);
	cr_assert_eq(ctrl.dma->unmap(ctrl.dma_priv, iova, l.size), 0);
	hy_nvme_iova_free(&ctrl.iova, iova, l.size);
	munmap(master, l.size);
	munmap(worker, l.size);
	close(fd);
	fx_model_clean();
}

struct chain {
	int left;
	int done;
	int poll_ret;
};

static void on_chain(void *arg, const struct hy_nvme_cpl *c)
{
	struct chain *ch = arg;
	struct hy_nvme_seg s = G(0x1000, 512);

	cr_assert_eq(c->err, 0);
	ch->done++;
	ch->poll_ret = hy_nvme_qpair_poll(&qp, 0);
	if (ch->left-- > 0)
		cr_assert_eq(
			hy_nvme_qpair_read(&qp, &ns, (uint64_t)ch->left, 1, &s, 1, 0, on_chain, ch),
			0);
}

Test(qpair, callbacks_may_submit_but_not_poll)
{
	struct chain ch = {.left = 100};
	struct hy_nvme_seg s = G(0x1000, 512);

	qp_up(4);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_chain, &ch), 0);
	for (int i = 0; i < 1000 && ch.done < 101; i++)
		hy_nvme_qpair_poll(&qp, 0);
	cr_assert_eq(ch.done, 101);
	cr_assert_eq(ch.poll_ret, -EBUSY);
	fx_model_clean();
}

Test(qpair, completions_for_unknown_commands_are_ignored)
{
	struct hy_nvme_seg s = G(0, 512);
	struct done d = {0};

	qp_up(16);
	m->bogus_cqes = 1;
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	hy_nvme_qpair_poll(&qp, 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(qp.stats.bad_cqes, 1);
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	fx_model_clean();
}

Test(qpair, destroy_ends_what_is_outstanding)
{
	struct hy_nvme_seg s = G(0, 512);
	struct done d = {0};
	unsigned maps;

	maps = m->nmap;
	qp_up(16);
	cr_assert_eq(m->nmap, maps + 1);
	m->drop_io = 1;
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 1, &s, 1, 0, on_done, &d), 0);
	hy_nvme_qpair_poll(&qp, 0);
	cr_assert_eq(hy_nvme_qpair_destroy(&ctrl, &qp), 0);
	cr_assert_eq(d.calls, 1);
	cr_assert_eq(d.err, -ECANCELED);
	cr_assert(!m->sq[1].exists && !m->cq[1].exists);
	cr_assert_eq(m->nmap, maps, "queue memory unmapped");
	cr_assert_null(qp.trk);
	fx_model_clean();
}

Test(qpair, init_checks_its_configuration)
{
	static uint8_t mem[3 * 4096] __attribute__((aligned(4096)));
	struct hy_nvme_qpair_cfg cfg = {
		.bar0 = m->bar,
		.qid = 3,
		.depth = 16,
		.max_xfer = 4096,
		.mem = {mem, 0x1000, mem + 4096, 0x2000, mem + 8192, 0x3000},
	};
	struct hy_nvme_qpair q;

	cr_assert_eq(hy_nvme_qpair_init(&q, &cfg), 0);
	cr_assert_eq((uintptr_t)q.sq_db - (uintptr_t)m->bar, 0x1000 + 2 * 3 * 4);
	cr_assert_eq((uintptr_t)q.cq_db - (uintptr_t)m->bar, 0x1000 + (2 * 3 + 1) * 4);
	hy_nvme_qpair_fini(&q);
	cfg.dstrd = 2; /* 16-byte doorbell stride */
	cr_assert_eq(hy_nvme_qpair_init(&q, &cfg), 0);
	cr_assert_eq((uintptr_t)q.cq_db - (uintptr_t)m->bar, 0x1000 + (2 * 3 + 1) * 16);
	hy_nvme_qpair_fini(&q);
	cfg.depth = 1;
	cr_assert_eq(hy_nvme_qpair_init(&q, &cfg), -EINVAL);
	cfg.depth = 16;
	cfg.mem.cq_iova += 512;
	cr_assert_eq(hy_nvme_qpair_init(&q, &cfg), -EINVAL, "queues are page aligned");
}

/* ---- SGLs: layouts PRPs cannot express, on a controller that has SGLs ---- */

/* Three 1536-byte pieces at odd offsets inside their pages (gpa): no PRP can say this. */
static const uint64_t odd3[3] = {0x10100, 0x12300, 0x29a00};

/* Fill @n pieces of guest memory with the next bytes of one pattern; return the flat copy. */
static uint8_t *fill_segs(const struct hy_nvme_seg *s, unsigned n, uint32_t seed, size_t *total)
{
	uint8_t *flat;
	size_t off = 0;

	*total = 0;
	for (unsigned i = 0; i < n; i++)
		*total += s[i].len;
	flat = malloc(*total);
	cr_assert_not_null(flat);
	for (size_t i = 0; i < *total; i++)
		flat[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9) + (i >> 13));
	for (unsigned i = 0; i < n; i++) {
		memcpy(gmem + (s[i].iova - GIOVA), flat + off, s[i].len);
		off += s[i].len;
	}
	return flat;
}

/* Do the @n pieces of guest memory hold @flat, in order? */
static bool segs_hold(const struct hy_nvme_seg *s, unsigned n, const uint8_t *flat)
{
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		if (memcmp(gmem + (s[i].iova - GIOVA), flat + off, s[i].len))
			return false;
		off += s[i].len;
	}
	return true;
}

static void clear_segs(const struct hy_nvme_seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		memset(gmem + (s[i].iova - GIOVA), 0xee, s[i].len);
}

/* Write @w to @lba, check the namespace, read it back into @r, check that. */
static void sgl_roundtrip(const struct hy_nvme_ns *n_s, uint64_t lba, const struct hy_nvme_seg *w,
			  unsigned nw, const struct hy_nvme_seg *r, unsigned nr, uint32_t seed)
{
	struct done d = {0};
	size_t total;
	uint8_t *flat = fill_segs(w, nw, seed, &total);
	uint32_t nlb = (uint32_t)(total >> 9);

	cr_assert_eq(total & 511, 0);
	cr_assert_eq(hy_nvme_qpair_write(&qp, n_s, lba, nlb, w, nw, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, 0, "write: %s", hy_nvme_status_str(d.status));
	cr_assert_eq(memcmp(m->ns[0].data + (lba << 9), flat, total), 0,
		     "the namespace holds what the pieces held");
	clear_segs(r, nr);
	cr_assert_eq(hy_nvme_qpair_read(&qp, n_s, lba, nlb, r, nr, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 2);
	cr_assert_eq(d.err, 0, "read: %s", hy_nvme_status_str(d.status));
	cr_assert(segs_hold(r, nr, flat), "the read brought the namespace's bytes");
	free(flat);
}

/* The controller has no SGLs (the model's default): such layouts are refused, as before. */
Test(qpair, odd_layouts_are_refused_without_sgls)
{
	struct hy_nvme_seg s[3] = {G(odd3[0], 1536), G(odd3[1], 1536), G(odd3[2], 1536)};
	struct hy_nvme_seg ok[2] = {G(0x10200, 0xe00), G(0x20000, 0x1000)};
	struct done d = {0};

	qp_up(16);
	cr_assert_eq(ctrl.info.sgls, 0);
	cr_assert(!ctrl.info.sgl && !qp.sgl);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, s, 3), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, ok, 2), 0, "PRPs");
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 9, s, 3, 0, on_done, &d), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 9, s, 3, 0, on_done, &d), -EINVAL);
	cr_assert_eq(qp.sq_tail, 0, "nothing was queued");
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	hy_nvme_qpair_poll(&qp, 0);
	cr_assert_eq(m->io_cmds, 0);
	cr_assert_eq(m->sgl_cmds, 0);
	fx_model_clean();
}

static void setup_sgls(uint32_t sgls)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	m = model_new();
	m->idc.sgls = sgls;
	cr_assert_eq(fx_up(NULL), 0);
	fx_gmem();
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 1, &ns), 0);
	memset(&qp, 0, sizeof(qp));
}

/* Like QEMU 7.2: SGLs with no alignment requirement, and SGL Bit Bucket descriptors (bit 16). */
static void setup_sgl(void)
{
	setup_sgls(HY_NVME_SGLS_SUPPORTED | (1u << 16));
}

static void setup_sgl_dword(void)
{
	setup_sgls(HY_NVME_SGLS_DWORD_ALIGN);
}

TestSuite(qpair_sgl, .init = setup_sgl, .fini = teardown);
TestSuite(qpair_sgl_dword, .init = setup_sgl_dword, .fini = teardown);

Test(qpair_sgl, controller_info_and_queue_config)
{
	struct hy_nvme_id_ctrl id = m->idc;
	struct hy_nvme_ctrl_info info;
	struct hy_nvme_qpair_cfg cfg;
	struct hy_nvme_qpair_mem mem = {0};

	cr_assert_eq(ctrl.info.sgls, 0x10001);
	cr_assert(ctrl.info.sgl && !ctrl.info.sgl_dword);
	hy_nvme_ctrl_qpair_cfg(&ctrl, 1, 16, &mem, &cfg);
	cr_assert(cfg.sgl && !cfg.sgl_dword);
	qp_up(16);
	cr_assert(qp.sgl && !qp.sgl_dword);
	cr_assert(!ctrl.adminq.sgl, "admin commands use PRPs");

	/* SGLS bits 1:0. */
	for (uint32_t v = 0; v < 4; v++) {
		id.sgls = v | 0xfff0000u;
		cr_assert_eq(hy_nvme_ctrl_info_parse(m->cap, &id, 0, &info), 0);
		cr_assert_eq(info.sgls, id.sgls);
		cr_assert_eq(info.sgl, v == 1 || v == 2, "SGLS %u", v);
		cr_assert_eq(info.sgl_dword, v == 2, "SGLS %u", v);
	}
	fx_model_clean();
}

Test(qpair_sgl, odd_layout_goes_by_sgl_both_ways)
{
	struct hy_nvme_seg w[3] = {G(odd3[0], 1536), G(odd3[1], 1536), G(odd3[2], 1536)};
	/* Read back into another odd layout, one piece at an odd byte address. */
	struct hy_nvme_seg r[3] = {G(0x50010, 2048), G(0x52a00, 512), G(0x53333, 2048)};
	const struct hy_nvme_sqe *e;
	unsigned first;

	qp_up(16);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, w, 3), 1);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, r, 3), 1);
	first = m->nlog;
	m->nxfer = 0;
	sgl_roundtrip(&ns, 1000, w, 3, r, 3, 1);
	cr_assert_eq(m->nlog - first, 2);
	cr_assert_eq(m->sgl_cmds, 2);
	for (unsigned i = 0; i < 2; i++) {
		e = &m->log[first + i];
		cr_assert_eq(e->flags, HY_NVME_PSDT_SGL, "PSDT 01b");
		cr_assert_eq(e->sgl1.id, HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_LAST_SEGMENT, 0));
		cr_assert_eq(e->sgl1.length, 3 * 16);
		cr_assert(e->sgl1.addr >= qp.owned.iova &&
				  e->sgl1.addr < qp.owned.iova + qp.owned.len,
			  "the list is in the queue pair's own pages");
		cr_assert_eq(e->cdw12, 8, "9 blocks");
	}
	/* What the controller moved is exactly the guest's pieces, in order. */
	cr_assert_eq(m->nxfer, 6);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert(m->xfer[i].iova == w[i].iova && m->xfer[i].len == w[i].len);
		cr_assert(m->xfer[3 + i].iova == r[i].iova && m->xfer[3 + i].len == r[i].len);
	}
	fx_model_clean();
}

Test(qpair_sgl, prps_stay_the_fast_path)
{
	struct hy_nvme_seg pages[3] = {G(0x10200, 0xe00), G(0x20000, 0x2000), G(0x30000, 0x400)};
	struct hy_nvme_seg rp = G(0x60000, 0x3200);
	struct hy_nvme_seg odd = G(0x70001, 1024), odd_r = G(0x71003, 1024);
	unsigned first;

	qp_up(16);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, pages, 3), 0);
	first = m->nlog;
	sgl_roundtrip(&ns, 50, pages, 3, &rp, 1, 2);
	for (unsigned i = first; i < m->nlog; i++)
		cr_assert_eq(m->log[i].flags, 0, "command %u: PRPs", i);
	cr_assert_eq(m->log[first].prp1, GIOVA + 0x10200);
	cr_assert_eq(m->sgl_cmds, 0);
	/* One piece at an odd byte address: PRP1 must be dword aligned, SGL1 need not be. */
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, &odd, 1), 1);
	first = m->nlog;
	sgl_roundtrip(&ns, 60, &odd, 1, &odd_r, 1, 3);
	cr_assert_eq(m->log[first].flags, HY_NVME_PSDT_SGL);
	cr_assert_eq(m->log[first].sgl1.id, HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_DATA_BLOCK, 0));
	cr_assert_eq(m->log[first].sgl1.addr, GIOVA + 0x70001);
	cr_assert_eq(m->log[first].sgl1.length, 1024);
	cr_assert_eq(m->log[first + 1].sgl1.addr, GIOVA + 0x71003);
	cr_assert_eq(m->sgl_cmds, 2);
	fx_model_clean();
}

/* Pieces of @len_of(i) bytes from @gpa on, @gap bytes apart, the last one cut so that the total
 * is @total (a block multiple). */
static unsigned odd_layout(struct hy_nvme_seg *s, unsigned max, uint64_t gpa, uint64_t gap,
			   uint32_t (*len_of)(unsigned), uint64_t total)
{
	unsigned n = 0;

	while (total) {
		uint64_t len = len_of(n);

		cr_assert_lt(n, max);
		if (len > total)
			len = total;
		s[n++] = G(gpa, (uint32_t)len);
		gpa += len + gap;
		total -= len;
	}
	cr_assert_leq(gpa, GSIZE);
	return n;
}

static uint32_t len_growing(unsigned i)
{
	return 10000 + 1234 * i; /* not block multiples */
}

static uint32_t len_7777(unsigned i)
{
	return 7777;
}

static uint32_t len_768(unsigned i)
{
	return 768; /* a block and a half */
}

static uint32_t len_512(unsigned i)
{
	return 512;
}

/* 2.6 MiB in pieces that start anywhere: six MDTS commands whose windows cut pieces. */
Test(qpair_sgl, sgl_requests_are_split_by_mdts)
{
	static struct hy_nvme_seg w[128], r[512];
	const uint64_t total = 5400 * 512;
	unsigned nw, nr, first;
	struct hy_nvme_ns small = ns;

	qp_up(16);
	nw = odd_layout(w, 128, 0x10000 + 0x123, 0x333, len_growing, total);
	nr = odd_layout(r, 512, 0x400000 + 0x10, 0x101, len_7777, total);
	cr_assert_gt(nr, 256, "more pieces than one list page holds, but not per command");
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, w, nw), 1);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, r, nr), -EINVAL,
		     "%u pieces: a command might need more than its list page", nr);
	first = m->nlog;
	sgl_roundtrip(&ns, 3000, w, nw, r, nr, 4);
	cr_assert_eq(m->nlog - first, 12, "six commands of 512 KiB at most, each way");
	cr_assert_eq(qp.stats.split, 2);
	cr_assert_eq(m->sgl_cmds, 12);
	for (unsigned i = 0; i < 6; i++) {
		const struct hy_nvme_sqe *e = &m->log[first + i];

		cr_assert_eq(e->flags, HY_NVME_PSDT_SGL);
		cr_assert_eq(e->cdw10, 3000 + 1024 * i);
		cr_assert_eq(e->cdw12, i < 5 ? 1023 : 5400 - 5 * 1024 - 1);
	}
	fx_model_clean();

	/* Finer: 2560-byte commands over 768-byte pieces, every window cutting one. */
	{
		struct hy_nvme_seg w2[32], r2[48];
		unsigned n2, nr2;

		small.max_blocks = 5;
		n2 = odd_layout(w2, 32, 0x600000 + 0x44, 0x204, len_768, 48 * 512);
		nr2 = odd_layout(r2, 48, 0x680000 + 0x1fc, 0x1e8, len_512, 48 * 512);
		first = m->nlog;
		sgl_roundtrip(&small, 7000, w2, n2, r2, nr2, 5);
		cr_assert_eq(m->nlog - first, 20, "ten commands each way");
		cr_assert_eq(m->log[first + 1].sgl1.id,
			     HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_LAST_SEGMENT, 0));
		cr_assert_eq(m->log[first + 1].sgl1.length, 4 * 16,
			     "[2560, 5120) touches pieces 3 to 6");
	}
	fx_model_clean();
}

Test(qpair_sgl, many_small_pieces_need_list_pages)
{
	static struct hy_nvme_seg s[600], r[600];
	struct hy_nvme_ns small = ns;
	struct done d = {0};
	unsigned n;

	qp_up(16);
	cr_assert_eq(qp.prp_pages_per_cmd, 1);
	/* 300 pieces in one 150 KiB command: one list page holds 256 Data Blocks. */
	n = odd_layout(s, 600, 0x100000 + 0x20, 0x10e0, len_512, 300 * 512);
	cr_assert_eq(n, 300);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, s, n), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 300, s, n, 0, on_done, &d), -E2BIG);
	cr_assert_eq(qp.sq_tail, 0, "nothing was queued");
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	/* Split in 64 KiB commands, 128 pieces each, it goes. */
	small.max_blocks = 128;
	odd_layout(r, 600, 0x500000 + 0x30, 0x9d0, len_768, 300 * 512);
	sgl_roundtrip(&small, 100, s, n, r, 200, 6);
	cr_assert_eq(m->sgl_cmds, 6);
	fx_model_clean();
}

/* A queue pair sized for 4 MiB commands has three list pages per command: segments chain. */
Test(qpair_sgl, segments_chain_across_list_pages)
{
	static struct hy_nvme_seg s[600], r[600];
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_dma_buf buf;
	struct hy_nvme_qpair_mem mem;
	struct hy_nvme_qpair_cfg cfg;
	struct hy_nvme_ioq_desc desc = {.qid = 2, .depth = 16};
	unsigned n, nr, segs0, first;

	cr_assert_eq(hy_nvme_qpair_layout(16, 4u << 20, &l), 0);
	cr_assert_eq(l.prp_pages_per_cmd, 3);
	cr_assert_eq(hy_nvme_dma_alloc(&ctrl, l.size, &buf), 0);
	mem.sq = (uint8_t *)buf.vaddr + l.sq_off;
	mem.sq_iova = buf.iova + l.sq_off;
	mem.cq = (uint8_t *)buf.vaddr + l.cq_off;
	mem.cq_iova = buf.iova + l.cq_off;
	mem.prp = (uint8_t *)buf.vaddr + l.prp_off;
	mem.prp_iova = buf.iova + l.prp_off;
	hy_nvme_ctrl_qpair_cfg(&ctrl, 2, 16, &mem, &cfg);
	cfg.max_xfer = 4u << 20;
	cr_assert_eq(hy_nvme_qpair_init(&qp, &cfg), 0);
	desc.sq_iova = mem.sq_iova;
	desc.cq_iova = mem.cq_iova;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &desc), 0);

	/* 600 pieces of 512 bytes, 300 KiB: one command (MDTS is 512 KiB), three segments. */
	n = odd_layout(s, 600, 0x100000 + 0x24, 0x1dc, len_512, 600 * 512);
	nr = odd_layout(r, 600, 0x400000 + 0x8, 0x3f8, len_512, 600 * 512);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, s, n), 1);
	segs0 = m->sgl_segments;
	first = m->nlog;
	sgl_roundtrip(&ns, 2000, s, n, r, nr, 7);
	cr_assert_eq(m->nlog - first, 2);
	cr_assert_eq(m->sgl_segments - segs0, 6, "three segments per command");
	cr_assert_eq(m->log[first].sgl1.id, HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_SEGMENT, 0));
	cr_assert_eq(m->log[first].sgl1.length, 4096);
	/* 767 pieces would need a fourth page: refused whole. */
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, s, 600), 1);
	{
		static struct hy_nvme_seg big[800];
		struct done d = {0};
		unsigned nb = odd_layout(big, 800, 0x100000 + 0x24, 0x1dc, len_512, 768 * 512);

		cr_assert_eq(nb, 768);
		cr_assert_eq(hy_nvme_qpair_seg_check(&qp, big, 766), 1);
		cr_assert_eq(hy_nvme_qpair_seg_check(&qp, big, 767), -EINVAL);
		cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 768, big, nb, 0, on_done, &d),
			     -E2BIG);
		cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	}

	cr_assert_eq(hy_nvme_ctrl_delete_ioq(&ctrl, 2), 0);
	hy_nvme_qpair_reset(&qp, -ECANCELED);
	hy_nvme_qpair_fini(&qp);
	hy_nvme_dma_free(&ctrl, &buf);
	memset(&qp, 0, sizeof(qp));
	fx_model_clean();
}

Test(qpair_sgl, bad_layouts_queue_nothing)
{
	struct hy_nvme_seg s[3] = {G(odd3[0], 1536), G(odd3[1], 0), G(odd3[2], 3072)};
	struct hy_nvme_seg wrap[2] = {G(odd3[0], 1536), {~0ull - 1000, 3072}};
	struct done d = {0};

	qp_up(16);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, s, 3), -EINVAL, "an empty piece");
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 9, s, 3, 0, on_done, &d), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 9, wrap, 2, 0, on_done, &d), -EINVAL);
	s[1].len = 512;
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 9, s, 3, 0, on_done, &d), -EINVAL,
		     "lengths do not add up");
	cr_assert_eq(qp.sq_tail, 0);
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 10, s, 3, 0, on_done, &d), 0);
	fx_wait(&qp, &d, 1);
	cr_assert_eq(d.err, 0);
	fx_model_clean();
}

/* SGLS 10b: dword-aligned pieces go by SGL, others are refused like on a PRP-only controller. */
Test(qpair_sgl_dword, only_dword_aligned_pieces_go_by_sgl)
{
	struct hy_nvme_seg w[3] = {G(odd3[0], 1536), G(odd3[1] + 4, 1536), G(odd3[2] + 8, 1536)};
	struct hy_nvme_seg r[2] = {G(0x50014, 2500), G(0x52a0c, 2108)};
	struct hy_nvme_seg odd_addr[2] = {G(0x60101, 1536), G(0x62000, 3072)};
	struct hy_nvme_seg odd_len[2] = {G(0x60100, 1535), G(0x62000, 3073)};
	struct done d = {0};

	cr_assert(ctrl.info.sgl && ctrl.info.sgl_dword);
	qp_up(16);
	cr_assert(qp.sgl && qp.sgl_dword);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, w, 3), 1);
	sgl_roundtrip(&ns, 400, w, 3, r, 2, 8);
	cr_assert_eq(m->sgl_cmds, 2);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, odd_addr, 2), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_seg_check(&qp, odd_len, 2), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_write(&qp, &ns, 0, 9, odd_addr, 2, 0, on_done, &d), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_read(&qp, &ns, 0, 9, odd_len, 2, 0, on_done, &d), -EINVAL);
	cr_assert_eq(hy_nvme_qpair_free_slots(&qp), 15);
	fx_model_clean();
}
