/* SPDX-License-Identifier: MIT */
/*
 * nvme/ctrl.c against the model: bring-up (registers, CC fields, admin queue), bounded waits
 * (never ready, fatal status, admin command timeouts), reset and recovery, Identify parsing,
 * queue creation, log pages, shutdown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

static void setup(void)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	m = model_new();
}

static void teardown(void)
{
	fx_down();
}

TestSuite(ctrl, .init = setup, .fini = teardown);

static double elapsed_s(uint64_t since)
{
	return (double)(hy_now_ns() - since) / 1e9;
}

Test(ctrl, brings_the_controller_up)
{
	cr_assert_eq(fx_up(NULL), 0);
	/* Base 2.0, 3.1.3.5: the CC fields the driver must program. */
	cr_assert(m->cc & HY_NVME_CC_EN);
	cr_assert_eq(HY_NVME_CC_IOSQES(m->cc), 6);
	cr_assert_eq(HY_NVME_CC_IOCQES(m->cc), 4);
	cr_assert_eq(HY_NVME_CC_MPS(m->cc), 0);
	cr_assert_eq(HY_NVME_CC_CSS(m->cc), 0);
	cr_assert_eq(m->cc & HY_NVME_CC_SHN_MASK, 0);
	cr_assert_eq(m->aqa, (31u << 16) | 31u, "32-entry admin queues, 0's based");
	cr_assert_eq(m->asq & 4095, 0);
	cr_assert_eq(m->acq & 4095, 0);
	cr_assert_not_null(model_iova(m, m->asq, 32 * 64), "ASQ is mapped for DMA");
	cr_assert_not_null(model_iova(m, m->acq, 32 * 16), "ACQ is mapped for DMA");
	cr_assert_eq(m->enables, 1);
	cr_assert(ctrl.enabled && !ctrl.failed);

	cr_assert_str_eq(ctrl.info.mn, "QEMU NVMe Ctrl");
	cr_assert_str_eq(ctrl.info.sn, "deadbeef");
	cr_assert_str_eq(ctrl.info.fr, "7.2.0");
	cr_assert_eq(ctrl.info.mdts, 7);
	cr_assert_eq(ctrl.info.max_xfer, 512u << 10, "MDTS 7 with 4 KiB pages");
	cr_assert_eq(ctrl.info.mqes, 2048);
	cr_assert_eq(ctrl.info.nn, 1);
	cr_assert_eq(ctrl.info.io_queues, 8, "asked for 64, the model grants 8");
	cr_assert_eq(ctrl.ready_timeout_ms, 500, "CAP.TO 1 = 500 ms");
	fx_model_clean();
}

Test(ctrl, disables_a_running_controller_first)
{
	/* Left enabled by firmware or a previous owner. */
	m->asq = 0x1000;
	m->acq = 0x2000;
	m->aqa = 0x00010001;
	m->cc = HY_NVME_CC_EN | (6u << 16) | (4u << 20);
	m->csts = HY_NVME_CSTS_RDY;
	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_eq(m->disables, 1);
	cr_assert_eq(m->enables, 1);
	fx_model_clean();
}

Test(ctrl, never_ready_times_out_by_cap_to)
{
	uint64_t t0 = hy_now_ns();
	double s;

	m->never_ready = true;
	cr_assert_eq(fx_up(NULL), -ETIMEDOUT);
	s = elapsed_s(t0);
	cr_assert(s >= 0.45 && s < 2.0, "CAP.TO is 500 ms; waited %.3f s", s);
	cr_assert(!ctrl.enabled);
	cr_assert_eq(m->nmap, 0, "the admin queue memory is unmapped again");
	memset(&ctrl, 0, sizeof(ctrl));
}

Test(ctrl, ready_timeout_option_overrides_cap_to)
{
	struct hy_nvme_ctrl_opts o = {.ready_timeout_ms = 30};
	uint64_t t0 = hy_now_ns();

	m->never_ready = true;
	cr_assert_eq(fx_up(&o), -ETIMEDOUT);
	cr_assert_lt(elapsed_s(t0), 0.45, "well under CAP.TO's 500 ms");
	memset(&ctrl, 0, sizeof(ctrl));
}

Test(ctrl, fatal_status_at_enable_fails_fast)
{
	uint64_t t0 = hy_now_ns();

	m->cfs_on_enable = true;
	cr_assert_eq(fx_up(NULL), -EIO);
	cr_assert_lt(elapsed_s(t0), 0.45, "CSTS.CFS ends the wait for RDY before CAP.TO");
	memset(&ctrl, 0, sizeof(ctrl));
}

Test(ctrl, fatal_status_is_detected_and_reset_recovers)
{
	struct hy_nvme_ns ns;

	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_eq(hy_nvme_ctrl_check(&ctrl), 0);
	m->cfs = true;
	cr_assert_eq(hy_nvme_ctrl_check(&ctrl), -EIO);
	cr_assert(ctrl.failed);
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 1, &ns), -EIO, "failed: admin refused");

	cr_assert_eq(hy_nvme_ctrl_reset(&ctrl), 0);
	cr_assert_eq(ctrl.generation, 1);
	cr_assert_eq(m->enables, 2);
	cr_assert_eq(hy_nvme_ctrl_check(&ctrl), 0);
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 1, &ns), 0);
	cr_assert_eq(ns.nsze, 16384);
	cr_assert(m->nq_set, "Number of Queues is set again after the reset");
	fx_model_clean();
}

Test(ctrl, controller_that_ignores_disable_gets_a_function_reset)
{
	struct hy_nvme_ctrl_opts o = {.ready_timeout_ms = 30};

	cr_assert_eq(fx_up(&o), 0);
	m->never_disable = true;
	cr_assert_eq(hy_nvme_ctrl_reset(&ctrl), 0);
	cr_assert_eq(m->function_resets, 1);
	cr_assert_eq(hy_nvme_ctrl_check(&ctrl), 0);
	fx_model_clean();
}

Test(ctrl, admin_timeout_marks_the_controller_failed)
{
	struct hy_nvme_id_ctrl id;
	uint64_t t0;

	cr_assert_eq(fx_up(NULL), 0);
	m->drop_admin = 1;
	t0 = hy_now_ns();
	cr_assert_eq(hy_nvme_ctrl_identify_ctrl(&ctrl, &id), -ETIMEDOUT);
	cr_assert(elapsed_s(t0) >= 0.19 && elapsed_s(t0) < 1.0, "admin timeout is 200 ms");
	cr_assert_eq(hy_nvme_ctrl_check(&ctrl), -ETIMEDOUT);
	cr_assert_eq(hy_nvme_ctrl_identify_ctrl(&ctrl, &id), -EIO);
	cr_assert_eq(hy_nvme_qpair_free_slots(&ctrl.adminq), ctrl.adminq.ntrk - 1,
		     "the abandoned command keeps its slot until the reset");

	cr_assert_eq(hy_nvme_ctrl_reset(&ctrl), 0);
	cr_assert_eq(hy_nvme_qpair_free_slots(&ctrl.adminq), ctrl.adminq.ntrk);
	cr_assert_eq(hy_nvme_ctrl_identify_ctrl(&ctrl, &id), 0);
	cr_assert_eq(id.vid, 0x1b36);
	fx_model_clean();
}

/* The CQE of a command given up on arrives late: nobody is called, the slot comes back. */
Test(ctrl, late_completion_of_an_abandoned_admin_command)
{
	struct hy_nvme_id_ctrl id;

	cr_assert_eq(fx_up(NULL), 0);
	m->drop_admin = 1;
	cr_assert_eq(hy_nvme_ctrl_identify_ctrl(&ctrl, &id), -ETIMEDOUT);
	cr_assert_eq(ctrl.adminq.trk[m->dropped[0].cid].state, TRK_ABANDONED);
	model_complete_dropped(m);
	cr_assert_eq(hy_nvme_qpair_poll(&ctrl.adminq, 0), 1);
	cr_assert_eq(hy_nvme_qpair_free_slots(&ctrl.adminq), ctrl.adminq.ntrk);
	cr_assert_eq(ctrl.adminq.stats.bad_cqes, 0);
	fx_model_clean();
}

Test(ctrl, identify_namespace_through_the_model)
{
	struct hy_nvme_ns ns;
	uint32_t n4k = model_ns_add(m, 1024, 12, 0);
	uint32_t nmeta = model_ns_add(m, 1024, 9, 8);

	m->idc.nn = 5; /* NSID 5 exists but is not active */
	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 1, &ns), 0);
	cr_assert_eq(ns.lba_shift, 9);
	cr_assert_eq(ns.max_blocks, 1024, "512 KiB / 512 B");
	cr_assert(ns.dsm && ns.write_zeroes && ns.vwc);
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, n4k, &ns), 0);
	cr_assert_eq(ns.lba_shift, 12, "FLBAS selects LBAF1 (4 KiB)");
	cr_assert_eq(ns.nsze, 1024);
	cr_assert_eq(ns.max_blocks, 128);
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, nmeta, &ns), -EOPNOTSUPP, "metadata");
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 5, &ns), -ENODEV, "inactive");
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 6, &ns), -ENXIO, "Invalid Namespace");
	cr_assert_eq(hy_nvme_ctrl_identify_ns(&ctrl, 0, &ns), -EINVAL);
	fx_model_clean();
}

Test(ctrl, info_parse)
{
	static struct hy_nvme_id_ctrl id;
	struct hy_nvme_ctrl_info info;
	const uint64_t cap = 0x00000020000007ffull; /* CSS NVM, MPSMIN 0 */
	static const struct {
		uint8_t mdts;
		uint64_t cap;
		uint32_t limit;
		uint32_t want;
	} t[] = {
		{0, cap, 0, 2u << 20},		      /* no limit: the driver's 2 MiB */
		{5, cap, 0, 128u << 10},	      /* 2^5 * 4 KiB */
		{7, cap, 0, 512u << 10},	      /* QEMU */
		{9, cap, 0, 2u << 20},		      /* exactly the default cap */
		{10, cap, 0, 2u << 20},		      /* 4 MiB, capped */
		{10, cap, 8u << 20, 4u << 20},	      /* a higher cap lets it through */
		{7, cap, 64u << 10, 64u << 10},	      /* a lower cap wins */
		{5, cap | 1ull << 48, 0, 256u << 10}, /* MDTS counts CAP.MPSMIN pages (8 KiB) */
		{40, cap, 0, 2u << 20},		      /* absurd MDTS does not overflow */
	};

	memset(&id, 0, sizeof(id));
	id.sqes = 0x66;
	id.cqes = 0x44;
	memcpy(id.mn, "Model With Spaces   ", 20);
	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		id.mdts = t[i].mdts;
		cr_assert_eq(hy_nvme_ctrl_info_parse(t[i].cap, &id, t[i].limit, &info), 0);
		cr_assert_eq(info.max_xfer, t[i].want, "case %u: %u", i, info.max_xfer);
	}
	cr_assert_str_eq(info.mn, "Model With Spaces", "trailing spaces trimmed");
	cr_assert_eq(info.mqes, 2048);
	id.sqes = 0x77; /* requires 128-byte SQEs */
	cr_assert_eq(hy_nvme_ctrl_info_parse(cap, &id, 0, &info), -EOPNOTSUPP);
	id.sqes = 0x66;
	id.cqes = 0x33; /* at most 8-byte CQEs */
	cr_assert_eq(hy_nvme_ctrl_info_parse(cap, &id, 0, &info), -EOPNOTSUPP);
	id.cqes = 0x44;
	id.oncs = HY_NVME_ONCS_WRITE_ZEROES;
	cr_assert_eq(hy_nvme_ctrl_info_parse(cap, &id, 0, &info), 0);
	cr_assert_eq(info.oncs, HY_NVME_ONCS_WRITE_ZEROES);
}

Test(ctrl, namespace_parse)
{
	static struct hy_nvme_id_ns id;
	struct hy_nvme_ctrl_info info = {.max_xfer = 512u << 10, .oncs = HY_NVME_ONCS_DSM};
	struct hy_nvme_ns ns;

	memset(&id, 0, sizeof(id));
	id.nsze = 1000;
	id.nlbaf = 1;
	id.lbaf[0] = (struct hy_nvme_lbaf){.lbads = 9};
	id.lbaf[1] = (struct hy_nvme_lbaf){.lbads = 12};
	id.flbas = 1;
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), 0);
	cr_assert_eq(ns.nsid, 3);
	cr_assert_eq(ns.lba_shift, 12);
	cr_assert_eq(ns.max_blocks, 128);
	cr_assert(ns.dsm && !ns.write_zeroes && !ns.vwc, "ONCS/VWC bits");

	/* FLBAS bits 6:5 are the high bits of the index, but only with more than 16 formats. */
	id.flbas = 0x20; /* index 16 if honoured, 0 otherwise */
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), 0);
	cr_assert_eq(ns.lba_shift, 9);
	id.nlbaf = 16;
	id.lbaf[16] = (struct hy_nvme_lbaf){.lbads = 12};
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), 0);
	cr_assert_eq(ns.lba_shift, 12);
	id.flbas = 0x21; /* index 17 > NLBAF */
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), -EINVAL);

	id.nlbaf = 1;
	id.flbas = 0;
	id.lbaf[0].ms = 8;
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), -EOPNOTSUPP, "metadata");
	id.lbaf[0].ms = 0;
	id.flbas = HY_NVME_FLBAS_EXTENDED;
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), -EOPNOTSUPP, "extended LBAs");
	id.flbas = 0;
	id.lbaf[0].lbads = 0;
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), -EOPNOTSUPP, "unsupported format");
	id.lbaf[0].lbads = 9;
	info.max_xfer = 64u << 20;
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), 0);
	cr_assert_eq(ns.max_blocks, 65536, "NLB is 16 bits");
	id.nsze = 0;
	cr_assert_eq(hy_nvme_ns_parse(&id, &info, 3, &ns), -ENODEV);
}

Test(ctrl, active_namespace_list_pages)
{
	uint32_t *ids = calloc(3000, sizeof(*ids));
	unsigned identifies = 0;
	int n;

	cr_assert_not_null(ids);
	m->nactive = 2500;
	for (unsigned i = 0; i < 2500; i++)
		m->active[i] = 2 * i + 1;
	cr_assert_eq(fx_up(NULL), 0);
	n = hy_nvme_ctrl_active_ns(&ctrl, ids, 3000);
	cr_assert_eq(n, 2500);
	for (int i = 0; i < n; i++)
		cr_assert_eq(ids[i], 2u * (unsigned)i + 1);
	for (unsigned i = 0; i < m->nlog; i++)
		if (m->log[i].opc == HY_NVME_ADM_IDENTIFY &&
		    (m->log[i].cdw10 & 0xff) == HY_NVME_CNS_ACTIVE_NSIDS)
			identifies++;
	cr_assert_eq(identifies, 3, "1024 + 1024 + 452");
	cr_assert_eq(hy_nvme_ctrl_active_ns(&ctrl, ids, 10), 10);
	free(ids);
	fx_model_clean();
}

Test(ctrl, io_queue_creation)
{
	struct hy_nvme_dma_buf b;
	struct hy_nvme_ioq_desc d = {.qid = 1, .depth = 16};
	struct hy_nvme_sqe sqe = {.opc = HY_NVME_ADM_CREATE_SQ};
	struct hy_nvme_cpl cpl;

	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_eq(hy_nvme_dma_alloc(&ctrl, 8192, &b), 0);
	d.sq_iova = b.iova;
	d.cq_iova = b.iova + 4096;

	d.qid = 0;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &d), -EINVAL, "qid 0 is the admin queue");
	d.qid = 9;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &d), -EINVAL, "only 8 granted");
	d.qid = 1;
	d.depth = 4096;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &d), -EINVAL, "beyond MQES");
	d.depth = 16;
	d.sq_iova += 8;
	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &d), -EINVAL, "unaligned");
	d.sq_iova -= 8;

	cr_assert_eq(hy_nvme_ctrl_create_ioq(&ctrl, &d), 0);
	cr_assert(m->cq[1].exists && m->sq[1].exists);
	cr_assert_eq(m->sq[1].size, 16);
	cr_assert_eq(m->sq[1].cqid, 1);
	cr_assert_eq(m->cq[1].iova, d.cq_iova);
	cr_assert(!m->cq[1].ien);

	/* Create I/O SQ naming a CQ that does not exist: Completion Queue Invalid (SCT 1h). */
	sqe.prp1 = b.iova;
	sqe.cdw10 = (15u << 16) | 2;
	sqe.cdw11 = (7u << 16) | 1;
	cr_assert_eq(hy_nvme_ctrl_admin(&ctrl, &sqe, NULL, 0, false, &cpl), -EINVAL);
	cr_assert_eq(cpl.status, HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_CQ_INVALID));
	cr_assert(!ctrl.failed, "a failed command does not fail the controller");

	/* Deleting a CQ that still has its SQ is refused by the controller. */
	sqe = (struct hy_nvme_sqe){.opc = HY_NVME_ADM_DELETE_CQ, .cdw10 = 1};
	cr_assert_eq(hy_nvme_ctrl_admin(&ctrl, &sqe, NULL, 0, false, &cpl), -EBUSY);

	cr_assert_eq(hy_nvme_ctrl_delete_ioq(&ctrl, 1), 0);
	cr_assert(!m->cq[1].exists && !m->sq[1].exists);
	cr_assert_eq(hy_nvme_ctrl_delete_ioq(&ctrl, 1), -EINVAL, "Invalid Queue Identifier");
	hy_nvme_dma_free(&ctrl, &b);
	fx_model_clean();
}

Test(ctrl, log_pages)
{
	struct hy_nvme_error_log e[16];
	struct hy_nvme_smart_log s;
	uint8_t buf[8];

	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_eq(hy_nvme_ctrl_error_log(&ctrl, e, 16), 4, "ELPE 3: four entries");
	cr_assert_eq(e[0].error_count, 100);
	cr_assert_eq(e[3].lba, 4099);
	cr_assert_eq(e[0].status >> 1,
		     HY_NVME_STATUS(HY_NVME_SCT_MEDIA, HY_NVME_SC_UNRECOVERED_READ));
	cr_assert_eq(hy_nvme_ctrl_smart_log(&ctrl, &s), 0);
	cr_assert_eq(s.percent_used, 3);
	cr_assert_eq(s.composite_temp[0] | s.composite_temp[1] << 8, 300);
	cr_assert_eq(s.power_cycles[0], 7);
	/* NUMD is 0's based: 8 bytes = NUMDL 1. */
	cr_assert_eq(hy_nvme_ctrl_get_log(&ctrl, HY_NVME_LOG_SMART, UINT32_MAX, buf, 8), 0);
	cr_assert_eq(m->log[m->nlog - 1].cdw10, (1u << 16) | HY_NVME_LOG_SMART);
	cr_assert_eq(m->log[m->nlog - 1].nsid, UINT32_MAX);
	cr_assert_eq(hy_nvme_ctrl_get_log(&ctrl, 0x7f, UINT32_MAX, buf, 8), -EINVAL,
		     "Invalid Log Page");
	cr_assert_eq(hy_nvme_ctrl_get_log(&ctrl, HY_NVME_LOG_SMART, 0, buf, 6), -EINVAL);
	cr_assert_eq(hy_nvme_ctrl_get_log(&ctrl, HY_NVME_LOG_SMART, 0, buf, 0), -EINVAL);
	fx_model_clean();
}

Test(ctrl, shutdown_and_unmap_on_fini)
{
	cr_assert_eq(fx_up(NULL), 0);
	cr_assert_gt(m->nmap, 0);
	hy_nvme_ctrl_fini(&ctrl);
	memset(&ctrl, 0, sizeof(ctrl));
	cr_assert_eq(m->shutdowns, 1, "CC.SHN = 01b before going away");
	cr_assert(!(m->cc & HY_NVME_CC_EN));
	cr_assert_eq(m->nmap, 0, "every DMA mapping is gone");
	fx_model_clean();
}

Test(ctrl, doorbells_limit_the_queue_count)
{
	struct hy_nvme_ctrl_cfg cfg;

	model_ctrl_cfg(m, &cfg);
	cfg.bar0_len = HY_NVME_REG_DBS + 4 * 8; /* admin + 3 I/O queue pairs */
	cr_assert_eq(hy_nvme_ctrl_init(&ctrl, &cfg), 0);
	cr_assert_eq(ctrl.info.io_queues, 3);
	fx_model_clean();
}

Test(ctrl, refuses_what_it_cannot_drive)
{
	struct hy_nvme_ctrl_cfg cfg;

	model_ctrl_cfg(m, &cfg);
	cfg.bar0_len = 0x800;
	cr_assert_eq(hy_nvme_ctrl_init(&ctrl, &cfg), -EINVAL, "BAR0 without doorbells");
	memset(&ctrl, 0, sizeof(ctrl));

	m->cap &= ~(1ull << 37);
	cr_assert_eq(fx_up(NULL), -EOPNOTSUPP, "no NVM command set");
	memset(&ctrl, 0, sizeof(ctrl));

	m->cap |= 1ull << 37 | 1ull << 48;
	cr_assert_eq(fx_up(NULL), -EOPNOTSUPP, "MPSMIN 8 KiB");
	memset(&ctrl, 0, sizeof(ctrl));

	m->cap &= ~(0xfull << 48);
	m->idc.sqes = 0x77;
	cr_assert_eq(fx_up(NULL), -EOPNOTSUPP, "128-byte SQEs only");
	cr_assert_eq(m->nmap, 0);
	memset(&ctrl, 0, sizeof(ctrl));
}

Test(ctrl, reset_repeats_set_features_and_bumps_generation)
{
	cr_assert_eq(fx_up(NULL), 0);
	for (unsigned i = 1; i <= 3; i++) {
		cr_assert_eq(hy_nvme_ctrl_reset(&ctrl), 0);
		cr_assert_eq(ctrl.generation, i);
		cr_assert_eq(ctrl.info.io_queues, 8);
	}
	cr_assert_eq(m->enables, 4);
	fx_model_clean();
}
