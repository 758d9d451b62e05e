/* SPDX-License-Identifier: MIT */
/*
 * Controller bring-up, admin commands and reset (NVMe Base 2.0, 3.5.1 "Memory-based Controller
 * Initialization (PCIe)" and 3.7.2 "Controller Level Reset").
 *
 * The admin queue is an ordinary struct hy_nvme_qpair with qid 0, and admin commands are
 * synchronous: submit, ring, poll until the CQE or the deadline. Every wait here is bounded:
 * CSTS.RDY transitions by CAP.TO (Base 2.0, 3.1.3.1: "the worst-case time that host software
 * shall wait for CSTS.RDY to transition"), admin commands by opts.admin_timeout_ms. A controller
 * that misses a deadline is marked failed and only hy_nvme_ctrl_reset() revives it.
 */
#define HY_LOG_COMPONENT "nvme"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvme/mmio.h"
#include "nvme/nvme.h"
#include "shm/log.h"

#define CTRL_ADMIN_DEPTH   32
#define CTRL_IO_QUEUES	   64
#define CTRL_ADMIN_TIMEOUT 5000
#define CTRL_IO_TIMEOUT	   30000
#define CTRL_MAX_XFER	   (2u << 20)
#define CTRL_SHUTDOWN_MIN  5000	 /* ms; Linux's default shutdown_timeout */
#define CTRL_SHUTDOWN_MAX  60000 /* ms; whatever RTD3E claims */

static uint32_t reg_read32(const struct hy_nvme_ctrl *ctrl, uint32_t off)
{
	return mmio_read32(ctrl->bar0 + off);
}

static void reg_write32(struct hy_nvme_ctrl *ctrl, uint32_t off, uint32_t val)
{
	mmio_write32(ctrl->bar0 + off, val);
}

static void ctrl_sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static const char *admin_opc_name(uint8_t opc)
{
	switch (opc) {
	case HY_NVME_ADM_DELETE_SQ:
		return "Delete I/O Submission Queue";
	case HY_NVME_ADM_CREATE_SQ:
		return "Create I/O Submission Queue";
	case HY_NVME_ADM_GET_LOG_PAGE:
		return "Get Log Page";
	case HY_NVME_ADM_DELETE_CQ:
		return "Delete I/O Completion Queue";
	case HY_NVME_ADM_CREATE_CQ:
		return "Create I/O Completion Queue";
	case HY_NVME_ADM_IDENTIFY:
		return "Identify";
	case HY_NVME_ADM_ABORT:
		return "Abort";
	case HY_NVME_ADM_SET_FEATURES:
		return "Set Features";
	case HY_NVME_ADM_GET_FEATURES:
		return "Get Features";
	default:
		return "admin command";
	}
}

/*
 * Wait until (CSTS & mask) == want, for at most timeout_ms. CSTS.CFS ends the wait early when
 * @cfs_fatal (waiting for RDY = 1: a controller in fatal state never gets ready); while
 * disabling, CFS is expected and the wait goes on.
 */
static int ctrl_wait_csts(struct hy_nvme_ctrl *ctrl, uint32_t mask, uint32_t want,
			  uint32_t timeout_ms, bool cfs_fatal, const char *what)
{
	uint64_t deadline = hy_now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned delay_us = 1;

	for (;;) {
		uint32_t csts = reg_read32(ctrl, HY_NVME_REG_CSTS);

		if (csts == UINT32_MAX) {
			hy_log(ERR, 0,
			       "%s: CSTS reads all ones while waiting for %s: the device is gone or "
			       "its memory space is disabled",
			       ctrl->name, what);
			return -ENODEV;
		}
		if ((csts & mask) == want)
			return 0;
		if (cfs_fatal && (csts & HY_NVME_CSTS_CFS)) {
			hy_log(ERR, 0,
			       "%s: controller fatal status (CSTS.CFS) while waiting for %s",
			       ctrl->name, what);
			return -EIO;
		}
		if (hy_now_ns() >= deadline) {
			hy_log(ERR, 0, "%s: timed out after %u ms waiting for %s (CSTS 0x%08x)",
			       ctrl->name, timeout_ms, what, csts);
			return -ETIMEDOUT;
		}
		ctrl_sleep_us(delay_us);
		if (delay_us < 1000)
			delay_us *= 2;
	}
}

/*
 * CC.EN = 0 and CSTS.RDY = 0: the controller is idle and has forgotten every queue. @settle: first
 * let an enable in progress finish, as one should before a reset; not worth it on the way out.
 */
static int ctrl_disable(struct hy_nvme_ctrl *ctrl, bool settle)
{
	uint32_t cc = reg_read32(ctrl, HY_NVME_REG_CC);
	uint32_t csts = reg_read32(ctrl, HY_NVME_REG_CSTS);

	if (cc & HY_NVME_CC_EN) {
		/*
		 * Base 2.0, 3.1.3.5 (CC.EN): clearing EN while CSTS.RDY is still 0 has undefined
		 * results; let a pending enable finish first (bounded, and carried on regardless,
		 * since disabling is the way out of any state).
		 */
		if (settle && !(csts & (HY_NVME_CSTS_RDY | HY_NVME_CSTS_CFS)))
			(void)ctrl_wait_csts(ctrl, HY_NVME_CSTS_RDY, HY_NVME_CSTS_RDY,
					     ctrl->ready_timeout_ms, true,
					     "CSTS.RDY = 1 before reset");
		reg_write32(ctrl, HY_NVME_REG_CC, cc & ~(HY_NVME_CC_EN | HY_NVME_CC_SHN_MASK));
	}
	ctrl->enabled = false;
	return ctrl_wait_csts(ctrl, HY_NVME_CSTS_RDY, 0, ctrl->ready_timeout_ms, false,
			      "CSTS.RDY = 0 after CC.EN = 0");
}

/*
 * Base 2.0, 3.5.1, the part up to a working admin queue: CSTS.RDY = 0, AQA/ASQ/ACQ, CC (page
 * size, command set, arbitration, entry sizes), CC.EN = 1, CSTS.RDY = 1.
 */
static int ctrl_start(struct hy_nvme_ctrl *ctrl)
{
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_qpair_cfg qcfg;
	uint8_t *base = ctrl->admin_mem.vaddr;
	uint16_t depth = ctrl->opts.admin_depth;
	uint32_t cc;
	int ret;

	ret = ctrl_disable(ctrl, true);
	if (ret == -ETIMEDOUT && ctrl->dma->function_reset) {
		hy_log(WARN, 0, "%s: controller ignores CC.EN = 0; resetting the PCI function",
		       ctrl->name);
		ret = ctrl->dma->function_reset(ctrl->dma_priv);
		if (!ret)
			ret = ctrl_disable(ctrl, false);
	}
	if (ret)
		return ret;

	/* The controller is idle: whatever the admin queue still had in flight is over. */
	hy_nvme_qpair_reset(&ctrl->adminq, -ECANCELED);
	hy_nvme_qpair_fini(&ctrl->adminq);
	ret = hy_nvme_qpair_layout(depth, HY_NVME_PAGE_SIZE, &l);
	if (ret)
		return ret;
	memset(&qcfg, 0, sizeof(qcfg));
	qcfg.bar0 = ctrl->bar0;
	qcfg.dstrd = HY_NVME_CAP_DSTRD(ctrl->cap);
	qcfg.qid = 0;
	qcfg.depth = depth;
	qcfg.max_xfer = HY_NVME_PAGE_SIZE;
	qcfg.timeout_ms = 0; /* hy_nvme_ctrl_admin() keeps its own deadline */
	qcfg.mem.sq = base + l.sq_off;
	qcfg.mem.sq_iova = ctrl->admin_mem.iova + l.sq_off;
	qcfg.mem.cq = base + l.cq_off;
	qcfg.mem.cq_iova = ctrl->admin_mem.iova + l.cq_off;
	qcfg.mem.prp = base + l.prp_off;
	qcfg.mem.prp_iova = ctrl->admin_mem.iova + l.prp_off;
	ret = hy_nvme_qpair_init(&ctrl->adminq, &qcfg);
	if (ret)
		return ret;

	/* Base 2.0, 3.1.3.8 to 3.1.3.10: admin queue sizes (0's based) and page-aligned bases. */
	reg_write32(ctrl, HY_NVME_REG_AQA, HY_NVME_AQA(depth, depth));
	mmio_write64_lo_hi(ctrl->bar0 + HY_NVME_REG_ASQ, qcfg.mem.sq_iova);
	mmio_write64_lo_hi(ctrl->bar0 + HY_NVME_REG_ACQ, qcfg.mem.cq_iova);

	/*
	 * Base 2.0, 3.1.3.5: NVM command set, 4 KiB pages (MPS 0), round robin arbitration, and
	 * the I/O queue entry sizes every NVM controller supports (64-byte SQEs, 16-byte CQEs).
	 * Configure first, then set EN in a second write.
	 */
	cc = HY_NVME_CC_CSS_NVM | (0u << HY_NVME_CC_MPS_SHIFT) | (0u << HY_NVME_CC_AMS_SHIFT) |
	     ((uint32_t)HY_NVME_SQES << HY_NVME_CC_IOSQES_SHIFT) |
	     ((uint32_t)HY_NVME_CQES << HY_NVME_CC_IOCQES_SHIFT);
	reg_write32(ctrl, HY_NVME_REG_CC, cc);
	reg_write32(ctrl, HY_NVME_REG_CC, cc | HY_NVME_CC_EN);
	ret = ctrl_wait_csts(ctrl, HY_NVME_CSTS_RDY, HY_NVME_CSTS_RDY, ctrl->ready_timeout_ms, true,
			     "CSTS.RDY = 1 after CC.EN = 1 (CAP.TO)");
	if (ret)
		return ret;
	ctrl->enabled = true;
	ctrl->failed = false;
	return 0;
}

struct admin_wait {
	bool done;
	struct hy_nvme_cpl cpl;
};

static void admin_done(void *arg, const struct hy_nvme_cpl *cpl)
{
	struct admin_wait *w = arg;

	w->cpl = *cpl;
	w->done = true;
}

int hy_nvme_ctrl_admin(struct hy_nvme_ctrl *ctrl, struct hy_nvme_sqe *sqe, void *buf, size_t len,
		       bool to_dev, struct hy_nvme_cpl *cpl)
{
	struct admin_wait w = {.done = false};
	uint32_t timeout_ms = ctrl->opts.admin_timeout_ms;
	uint64_t deadline;
	unsigned delay_us = 1;
	int cid;

	if (!ctrl->enabled || ctrl->failed)
		return -EIO;
	if (len > HY_NVME_PAGE_SIZE || (len && !buf))
		return -EINVAL;
	if (len) {
		if (to_dev)
			memcpy(ctrl->scratch.vaddr, buf, len);
		else
			memset(ctrl->scratch.vaddr, 0, len);
		sqe->prp1 = ctrl->scratch.iova;
		sqe->prp2 = 0;
	}
	cid = hy_nvme_qpair_submit(&ctrl->adminq, sqe, admin_done, &w);
	if (cid < 0)
		return -EBUSY; /* only abandoned commands can fill the admin queue */
	hy_nvme_qpair_ring_doorbell(&ctrl->adminq);

	deadline = hy_now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		uint32_t csts;

		hy_nvme_qpair_poll(&ctrl->adminq, 0);
		if (w.done)
			break;
		csts = reg_read32(ctrl, HY_NVME_REG_CSTS);
		if (csts == UINT32_MAX || (csts & HY_NVME_CSTS_CFS)) {
			hy_nvme_qpair_abandon(&ctrl->adminq, (uint16_t)cid);
			ctrl->failed = true;
			hy_log(ERR, 0,
			       "%s: %s (opcode 0x%02x): controller fatal status (CSTS 0x%08x); "
			       "the controller must be reset",
			       ctrl->name, admin_opc_name(sqe->opc), sqe->opc, csts);
			return -EIO;
		}
		if (hy_now_ns() >= deadline) {
			hy_nvme_qpair_abandon(&ctrl->adminq, (uint16_t)cid);
			ctrl->failed = true;
			hy_log(ERR, 0,
			       "%s: %s (opcode 0x%02x) did not complete within %u ms; the controller "
			       "must be reset",
			       ctrl->name, admin_opc_name(sqe->opc), sqe->opc, timeout_ms);
			return -ETIMEDOUT;
		}
		ctrl_sleep_us(delay_us);
		if (delay_us < 1000)
			delay_us *= 2;
	}
	if (w.cpl.err)
		hy_log(ERR, w.cpl.err,
		       "%s: %s (opcode 0x%02x, CDW10 0x%x) failed: %s (SCT %u SC 0x%02x)",
		       ctrl->name, admin_opc_name(sqe->opc), sqe->opc, sqe->cdw10,
		       hy_nvme_status_str(w.cpl.status), HY_NVME_STATUS_SCT(w.cpl.status),
		       HY_NVME_STATUS_SC(w.cpl.status));
	else if (len && !to_dev)
		memcpy(buf, ctrl->scratch.vaddr, len);
	if (cpl)
		*cpl = w.cpl;
	return w.cpl.err;
}

static void copy_id_string(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

int hy_nvme_ctrl_info_parse(uint64_t cap, const struct hy_nvme_id_ctrl *id, uint32_t max_xfer_cap,
			    struct hy_nvme_ctrl_info *info)
{
	unsigned shift;

	if (!max_xfer_cap)
		max_xfer_cap = CTRL_MAX_XFER;
	if (max_xfer_cap < HY_NVME_PAGE_SIZE)
		max_xfer_cap = HY_NVME_PAGE_SIZE;
	info->vid = id->vid;
	info->ssvid = id->ssvid;
	copy_id_string(info->sn, id->sn, sizeof(id->sn));
	copy_id_string(info->mn, id->mn, sizeof(id->mn));
	copy_id_string(info->fr, id->fr, sizeof(id->fr));
	info->ver = id->ver;
	info->mdts = id->mdts;
	/* MDTS: a power of two in units of CAP.MPSMIN; 0 means no limit (Base 2.0, 5.17). */
	shift = (unsigned)id->mdts + HY_NVME_PAGE_SHIFT + HY_NVME_CAP_MPSMIN(cap);
	if (id->mdts == 0 || shift >= 32 || (1u << shift) > max_xfer_cap)
		info->max_xfer = max_xfer_cap;
	else
		info->max_xfer = 1u << shift;
	info->oncs = id->oncs;
	info->vwc = id->vwc;
	info->sgls = id->sgls;
	/* SGLS bits 1:0 (Base 2.0, 5.17): 01b any alignment, 10b dword aligned, 11b reserved. */
	info->sgl = (id->sgls & HY_NVME_SGLS_MASK) == HY_NVME_SGLS_SUPPORTED ||
		    (id->sgls & HY_NVME_SGLS_MASK) == HY_NVME_SGLS_DWORD_ALIGN;
	info->sgl_dword = (id->sgls & HY_NVME_SGLS_MASK) == HY_NVME_SGLS_DWORD_ALIGN;
	info->nn = id->nn;
	info->acl = id->acl;
	info->elpe = id->elpe;
	info->rtd3e = id->rtd3e;
	info->mqes = HY_NVME_CAP_MQES(cap) + 1;
	/* SQES/CQES: bits 3:0 the required (smallest) size, bits 7:4 the largest, as log2. */
	if ((id->sqes & 0xf) > HY_NVME_SQES || (id->sqes >> 4) < HY_NVME_SQES ||
	    (id->cqes & 0xf) > HY_NVME_CQES || (id->cqes >> 4) < HY_NVME_CQES)
		return -EOPNOTSUPP;
	return 0;
}

int hy_nvme_ctrl_identify_ctrl(struct hy_nvme_ctrl *ctrl, struct hy_nvme_id_ctrl *id)
{
	struct hy_nvme_sqe sqe = {.opc = HY_NVME_ADM_IDENTIFY, .cdw10 = HY_NVME_CNS_CTRL};

	return hy_nvme_ctrl_admin(ctrl, &sqe, id, sizeof(*id), false, NULL);
}

int hy_nvme_ns_parse(const struct hy_nvme_id_ns *id, const struct hy_nvme_ctrl_info *info,
		     uint32_t nsid, struct hy_nvme_ns *ns)
{
	unsigned idx = HY_NVME_FLBAS_INDEX(id->flbas);
	const struct hy_nvme_lbaf *lbaf;

	memset(ns, 0, sizeof(*ns));
	if (!id->nsze)
		return -ENODEV; /* an inactive NSID returns a zero-filled structure */
	/* FLBAS bits 6:5 extend the index only when there are more than 16 formats. */
	if (id->nlbaf < 16)
		idx &= 0xf;
	if (idx > id->nlbaf) {
		hy_log(ERR, 0, "namespace %u: FLBAS selects LBA format %u of %u", nsid, idx,
		       id->nlbaf + 1);
		return -EINVAL;
	}
	lbaf = &id->lbaf[idx];
	if (id->flbas & HY_NVME_FLBAS_EXTENDED) {
		hy_log(ERR, 0,
		       "namespace %u uses extended LBAs (metadata inside each block); Hydra needs a "
		       "format without metadata (nvme format --lbaf=N --ms=0)",
		       nsid);
		return -EOPNOTSUPP;
	}
	if (lbaf->ms) {
		hy_log(ERR, 0,
		       "namespace %u is formatted with %u bytes of metadata per block; Hydra needs "
		       "a format without metadata (e.g. nvme format --lbaf=N with an LBAF whose "
		       "ms is 0)",
		       nsid, lbaf->ms);
		return -EOPNOTSUPP;
	}
	if (lbaf->lbads < 9 || lbaf->lbads > 16 || (1u << lbaf->lbads) > info->max_xfer) {
		hy_log(ERR, 0,
		       "namespace %u: block size 2^%u is not usable (512 B to 64 KiB, at most MDTS "
		       "%u bytes)",
		       nsid, lbaf->lbads, info->max_xfer);
		return -EOPNOTSUPP;
	}
	ns->nsid = nsid;
	ns->lba_shift = lbaf->lbads;
	ns->nsze = id->nsze;
	ns->max_blocks = info->max_xfer >> lbaf->lbads;
	if (ns->max_blocks > HY_NVME_RW_NLB_MAX)
		ns->max_blocks = HY_NVME_RW_NLB_MAX;
	ns->dlfeat = id->dlfeat;
	ns->dsm = info->oncs & HY_NVME_ONCS_DSM;
	ns->write_zeroes = info->oncs & HY_NVME_ONCS_WRITE_ZEROES;
	ns->vwc = info->vwc & HY_NVME_VWC_PRESENT;
	return 0;
}

int hy_nvme_ctrl_identify_ns(struct hy_nvme_ctrl *ctrl, uint32_t nsid, struct hy_nvme_ns *ns)
{
	struct hy_nvme_sqe sqe = {
		.opc = HY_NVME_ADM_IDENTIFY, .nsid = nsid, .cdw10 = HY_NVME_CNS_NS};
	struct hy_nvme_id_ns id;
	int ret;

	if (nsid == 0 || nsid == UINT32_MAX)
		return -EINVAL;
	ret = hy_nvme_ctrl_admin(ctrl, &sqe, &id, sizeof(id), false, NULL);
	if (ret)
		return ret;
	ret = hy_nvme_ns_parse(&id, &ctrl->info, nsid, ns);
	if (ret == -ENODEV)
		hy_log(ERR, 0, "%s: namespace %u is not active", ctrl->name, nsid);
	return ret;
}

int hy_nvme_ctrl_active_ns(struct hy_nvme_ctrl *ctrl, uint32_t *nsids, unsigned max)
{
	uint32_t *list = malloc(HY_NVME_IDENTIFY_SIZE); /* 4 KiB: not on the stack */
	uint32_t start = 0;
	unsigned n = 0;
	int ret = 0;

	if (!list)
		return -ENOMEM;
	/* CNS 02h lists up to 1024 active NSIDs greater than NSID, ascending, zero-terminated. */
	while (n < max) {
		struct hy_nvme_sqe sqe = {.opc = HY_NVME_ADM_IDENTIFY,
					  .nsid = start,
					  .cdw10 = HY_NVME_CNS_ACTIVE_NSIDS};
		unsigned i;

		ret = hy_nvme_ctrl_admin(ctrl, &sqe, list, HY_NVME_IDENTIFY_SIZE, false, NULL);
		if (ret)
			break;
		for (i = 0; i < HY_NVME_NSID_LIST_MAX && list[i] && n < max; i++) {
			if (list[i] <= start || list[i] == UINT32_MAX)
				break; /* not ascending: stop rather than loop forever */
			nsids[n++] = list[i];
			start = list[i];
		}
		if (i < HY_NVME_NSID_LIST_MAX)
			break;
	}
	free(list);
	return ret ? ret : (int)n;
}

/* Base 2.0, 5.27 Set Features, Number of Queues (FID 07h): NSQR/NCQR and NSQA/NCQA 0's based. */
static int ctrl_set_num_queues(struct hy_nvme_ctrl *ctrl, uint16_t want)
{
	struct hy_nvme_sqe sqe = {
		.opc = HY_NVME_ADM_SET_FEATURES,
		.cdw10 = HY_NVME_FEAT_NUM_QUEUES,
		.cdw11 = ((uint32_t)(want - 1) << 16) | (uint32_t)(want - 1),
	};
	uint32_t stride = 4u << HY_NVME_CAP_DSTRD(ctrl->cap);
	struct hy_nvme_cpl cpl;
	uint32_t granted, room;
	int ret;

	ret = hy_nvme_ctrl_admin(ctrl, &sqe, NULL, 0, false, &cpl);
	if (ret)
		return ret;
	granted = (cpl.dw0 & 0xffff) + 1;
	if ((cpl.dw0 >> 16) + 1 < granted)
		granted = (cpl.dw0 >> 16) + 1;
	if (granted > want)
		granted = want;
	/* Doorbells beyond BAR0 cannot be rung. */
	room = (uint32_t)((ctrl->bar0_len - HY_NVME_REG_DBS) / (2 * stride));
	if (room < 1)
		return -EINVAL;
	if (granted > room - 1)
		granted = room - 1;
	ctrl->info.io_queues = (uint16_t)granted;
	return 0;
}

void hy_nvme_ctrl_qpair_cfg(const struct hy_nvme_ctrl *ctrl, uint16_t qid, uint16_t depth,
			    const struct hy_nvme_qpair_mem *mem, struct hy_nvme_qpair_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bar0 = ctrl->bar0;
	cfg->dstrd = HY_NVME_CAP_DSTRD(ctrl->cap);
	cfg->qid = qid;
	cfg->depth = depth;
	cfg->max_xfer = ctrl->info.max_xfer;
	cfg->timeout_ms = ctrl->opts.io_timeout_ms;
	cfg->sgl = ctrl->info.sgl;
	cfg->sgl_dword = ctrl->info.sgl_dword;
	cfg->mem = *mem;
}

int hy_nvme_ctrl_create_ioq(struct hy_nvme_ctrl *ctrl, const struct hy_nvme_ioq_desc *d)
{
	struct hy_nvme_sqe cq = {
		.opc = HY_NVME_ADM_CREATE_CQ,
		.prp1 = d->cq_iova,
		.cdw10 = ((uint32_t)(d->depth - 1) << 16) | d->qid,
		/* IV bits 31:16, IEN bit 1, PC (physically contiguous) bit 0. */
		.cdw11 = ((uint32_t)d->iv << 16) | (d->ien ? 2u : 0u) | 1u,
	};
	struct hy_nvme_sqe sq = {
		.opc = HY_NVME_ADM_CREATE_SQ,
		.prp1 = d->sq_iova,
		.cdw10 = ((uint32_t)(d->depth - 1) << 16) | d->qid,
		/* CQID bits 31:16; QPRIO (bits 2:1) matters only under weighted round robin; PC. */
		.cdw11 = ((uint32_t)d->qid << 16) | 1u,
	};
	int ret;

	if (d->qid == 0 || d->qid > ctrl->info.io_queues || d->depth < 2 ||
	    d->depth > ctrl->info.mqes || ((d->sq_iova | d->cq_iova) & (HY_NVME_PAGE_SIZE - 1))) {
		hy_log(ERR, 0,
		       "%s: cannot create I/O queue pair %u with %u entries (queues 1..%u, 2..%u "
		       "entries, page-aligned memory)",
		       ctrl->name, d->qid, d->depth, ctrl->info.io_queues, ctrl->info.mqes);
		return -EINVAL;
	}
	/* Base 2.0, 3.3.1: a CQ must exist before an SQ that posts to it. */
	ret = hy_nvme_ctrl_admin(ctrl, &cq, NULL, 0, false, NULL);
	if (ret)
		return ret;
	ret = hy_nvme_ctrl_admin(ctrl, &sq, NULL, 0, false, NULL);
	if (ret) {
		struct hy_nvme_sqe del = {.opc = HY_NVME_ADM_DELETE_CQ, .cdw10 = d->qid};

		(void)hy_nvme_ctrl_admin(ctrl, &del, NULL, 0, false, NULL);
		return ret;
	}
	return 0;
}

int hy_nvme_ctrl_delete_ioq(struct hy_nvme_ctrl *ctrl, uint16_t qid)
{
	struct hy_nvme_sqe sq = {.opc = HY_NVME_ADM_DELETE_SQ, .cdw10 = qid};
	struct hy_nvme_sqe cq = {.opc = HY_NVME_ADM_DELETE_CQ, .cdw10 = qid};
	int ret;

	if (qid == 0)
		return -EINVAL;
	/* Base 2.0, 3.3.1: delete every SQ of a CQ before the CQ. */
	ret = hy_nvme_ctrl_admin(ctrl, &sq, NULL, 0, false, NULL);
	if (ret)
		return ret;
	return hy_nvme_ctrl_admin(ctrl, &cq, NULL, 0, false, NULL);
}

int hy_nvme_ctrl_abort(struct hy_nvme_ctrl *ctrl, uint16_t sqid, uint16_t cid)
{
	struct hy_nvme_sqe sqe = {
		.opc = HY_NVME_ADM_ABORT,
		.cdw10 = ((uint32_t)cid << 16) | sqid, /* CID bits 31:16, SQID bits 15:0 */
	};
	struct hy_nvme_cpl cpl;
	int ret;

	ret = hy_nvme_ctrl_admin(ctrl, &sqe, NULL, 0, false, &cpl);
	if (ret)
		return ret;
	/* Base 2.0, 5.1: dword 0 bit 0 cleared means the command was aborted. */
	return (cpl.dw0 & 1) ? 1 : 0;
}

int hy_nvme_ctrl_get_log(struct hy_nvme_ctrl *ctrl, uint8_t lid, uint32_t nsid, void *buf,
			 size_t len)
{
	uint32_t numd;
	struct hy_nvme_sqe sqe = {.opc = HY_NVME_ADM_GET_LOG_PAGE, .nsid = nsid};

	if (!len || len > HY_NVME_PAGE_SIZE || (len & 3))
		return -EINVAL;
	/* NUMD is a 0's based dword count, split into NUMDL (CDW10 31:16) and NUMDU (CDW11). */
	numd = (uint32_t)(len / 4 - 1);
	sqe.cdw10 = ((numd & 0xffff) << 16) | lid;
	sqe.cdw11 = numd >> 16;
	return hy_nvme_ctrl_admin(ctrl, &sqe, buf, len, false, NULL);
}

int hy_nvme_ctrl_error_log(struct hy_nvme_ctrl *ctrl, struct hy_nvme_error_log *e, unsigned n)
{
	unsigned max = (unsigned)ctrl->info.elpe + 1;
	int ret;

	if (n > max)
		n = max;
	if (n > HY_NVME_PAGE_SIZE / sizeof(*e))
		n = HY_NVME_PAGE_SIZE / sizeof(*e);
	if (!n)
		return 0;
	ret = hy_nvme_ctrl_get_log(ctrl, HY_NVME_LOG_ERROR, UINT32_MAX, e, n * sizeof(*e));
	return ret ? ret : (int)n;
}

int hy_nvme_ctrl_smart_log(struct hy_nvme_ctrl *ctrl, struct hy_nvme_smart_log *s)
{
	return hy_nvme_ctrl_get_log(ctrl, HY_NVME_LOG_SMART, UINT32_MAX, s, sizeof(*s));
}

int hy_nvme_ctrl_check(struct hy_nvme_ctrl *ctrl)
{
	uint32_t csts = reg_read32(ctrl, HY_NVME_REG_CSTS);

	if (csts == UINT32_MAX) {
		ctrl->failed = true;
		return -EIO;
	}
	if (csts & HY_NVME_CSTS_CFS) {
		if (!ctrl->failed)
			hy_log(ERR, 0, "%s: controller fatal status (CSTS.CFS); reset needed",
			       ctrl->name);
		ctrl->failed = true;
		return -EIO;
	}
	if (!(csts & HY_NVME_CSTS_RDY) || !ctrl->enabled)
		return -EIO;
	return ctrl->failed ? -ETIMEDOUT : 0;
}

/* Base 2.0, 3.5.1, the rest: Identify Controller, then Set Features (Number of Queues). */
static int ctrl_setup(struct hy_nvme_ctrl *ctrl)
{
	struct hy_nvme_id_ctrl *id = malloc(sizeof(*id)); /* 4 KiB: not on the stack */
	uint16_t io_queues = ctrl->info.io_queues;
	int ret;

	if (!id)
		return -ENOMEM;
	ret = hy_nvme_ctrl_identify_ctrl(ctrl, id);
	if (ret)
		goto out;
	ret = hy_nvme_ctrl_info_parse(ctrl->cap, id, ctrl->opts.max_xfer, &ctrl->info);
	ctrl->info.io_queues = io_queues;
	if (ret) {
		hy_log(ERR, 0,
		       "%s: controller does not support 64-byte SQEs and 16-byte CQEs (SQES 0x%02x, "
		       "CQES 0x%02x)",
		       ctrl->name, id->sqes, id->cqes);
		goto out;
	}
	ret = ctrl_set_num_queues(ctrl, ctrl->opts.io_queues);
out:
	free(id);
	return ret;
}

int hy_nvme_ctrl_init(struct hy_nvme_ctrl *ctrl, const struct hy_nvme_ctrl_cfg *cfg)
{
	struct hy_nvme_ctrl_opts *o = &ctrl->opts;
	struct hy_nvme_qpair_layout l;
	int ret;

	memset(ctrl, 0, sizeof(*ctrl));
	snprintf(ctrl->name, sizeof(ctrl->name), "%s", cfg->name ? cfg->name : "nvme");
	ctrl->bar0 = (volatile uint8_t *)cfg->bar0;
	ctrl->bar0_len = cfg->bar0_len;
	ctrl->dma = cfg->dma;
	ctrl->dma_priv = cfg->dma_priv;
	*o = cfg->opts;
	if (!o->admin_depth)
		o->admin_depth = CTRL_ADMIN_DEPTH;
	if (!o->io_queues)
		o->io_queues = CTRL_IO_QUEUES;
	if (!o->admin_timeout_ms)
		o->admin_timeout_ms = CTRL_ADMIN_TIMEOUT;
	if (!o->io_timeout_ms)
		o->io_timeout_ms = CTRL_IO_TIMEOUT;
	if (!o->iova_size) {
		o->iova_base = HY_NVME_IOVA_DRIVER_BASE;
		o->iova_size = HY_NVME_IOVA_DRIVER_SIZE;
	}
	if (!ctrl->bar0 || !ctrl->dma || !ctrl->dma->map || !ctrl->dma->unmap ||
	    ctrl->bar0_len < HY_NVME_REG_DBS + 8) {
		hy_log(ERR, 0, "%s: no usable BAR0 (%zu bytes) or DMA ops", ctrl->name,
		       ctrl->bar0_len);
		return -EINVAL;
	}
	ret = hy_nvme_iova_init(&ctrl->iova, o->iova_base, o->iova_size);
	if (ret)
		return ret;

	ctrl->cap = mmio_read64_lo_hi(ctrl->bar0 + HY_NVME_REG_CAP);
	ctrl->vs = reg_read32(ctrl, HY_NVME_REG_VS);
	if (ctrl->cap == UINT64_MAX) {
		hy_log(ERR, 0, "%s: registers read all ones: the device is gone or disabled",
		       ctrl->name);
		return -ENODEV;
	}
	if (!(HY_NVME_CAP_CSS(ctrl->cap) & HY_NVME_CAP_CSS_NVM)) {
		hy_log(ERR, 0,
		       "%s: controller does not support the NVM command set (CAP 0x%016llx)",
		       ctrl->name, (unsigned long long)ctrl->cap);
		return -EOPNOTSUPP;
	}
	if (HY_NVME_CAP_MPSMIN(ctrl->cap) > 0) {
		hy_log(ERR, 0, "%s: controller's smallest memory page is %u KiB; Hydra uses 4 KiB",
		       ctrl->name, 4u << HY_NVME_CAP_MPSMIN(ctrl->cap));
		return -EOPNOTSUPP;
	}
	ctrl->info.mqes = HY_NVME_CAP_MQES(ctrl->cap) + 1;
	ctrl->ready_timeout_ms = o->ready_timeout_ms;
	if (!ctrl->ready_timeout_ms)
		ctrl->ready_timeout_ms = HY_NVME_CAP_TO(ctrl->cap) * 500u;
	if (!ctrl->ready_timeout_ms)
		ctrl->ready_timeout_ms = 500;
	if (o->admin_depth > HY_NVME_AQA_MAX_ENTRIES)
		o->admin_depth = HY_NVME_AQA_MAX_ENTRIES;
	if (o->admin_depth > ctrl->info.mqes)
		o->admin_depth = (uint16_t)ctrl->info.mqes;
	if (o->admin_depth < 2)
		return -EINVAL;

	ret = hy_nvme_qpair_layout(o->admin_depth, HY_NVME_PAGE_SIZE, &l);
	if (ret)
		return ret;
	ret = hy_nvme_dma_alloc(ctrl, l.size, &ctrl->admin_mem);
	if (ret)
		return ret;
	ret = hy_nvme_dma_alloc(ctrl, HY_NVME_PAGE_SIZE, &ctrl->scratch);
	if (ret)
		goto err_admin_mem;
	ret = ctrl_start(ctrl);
	if (ret)
		goto err_disable;
	ret = ctrl_setup(ctrl);
	if (ret)
		goto err_disable;
	hy_log(INFO, 0,
	       "%s: %s (%s, firmware %s), NVMe %u.%u.%u, %u namespace(s), %u I/O queue pairs of up "
	       "to %u entries, %u KiB per command, %s",
	       ctrl->name, ctrl->info.mn, ctrl->info.sn, ctrl->info.fr, ctrl->vs >> 16,
	       (ctrl->vs >> 8) & 0xff, ctrl->vs & 0xff, ctrl->info.nn, ctrl->info.io_queues,
	       ctrl->info.mqes, ctrl->info.max_xfer >> 10,
	       !ctrl->info.sgl	      ? "PRPs only"
	       : ctrl->info.sgl_dword ? "SGLs (dword aligned)"
				      : "SGLs");
	return 0;

err_disable:
	/* The controller must forget the admin queue before its memory goes. */
	(void)ctrl_disable(ctrl, false);
	hy_nvme_qpair_fini(&ctrl->adminq);
	hy_nvme_dma_free(ctrl, &ctrl->scratch);
err_admin_mem:
	hy_nvme_dma_free(ctrl, &ctrl->admin_mem);
	return ret;
}

int hy_nvme_ctrl_reset(struct hy_nvme_ctrl *ctrl)
{
	int ret;

	hy_log(WARN, 0, "%s: resetting the controller (generation %u)", ctrl->name,
	       ctrl->generation + 1);
	/* From here on no I/O queue exists on the controller, whether the rest succeeds or not. */
	ctrl->generation++;
	ret = ctrl_start(ctrl);
	if (!ret)
		ret = ctrl_set_num_queues(ctrl, ctrl->opts.io_queues);
	if (ret) {
		ctrl->failed = true;
		hy_log(ERR, ret, "%s: controller reset failed", ctrl->name);
	}
	return ret;
}

void hy_nvme_ctrl_fini(struct hy_nvme_ctrl *ctrl)
{
	if (ctrl->enabled && !ctrl->failed) {
		/* Base 2.0, 3.6.1: normal shutdown lets the controller flush its caches. */
		uint32_t cc = reg_read32(ctrl, HY_NVME_REG_CC);
		uint32_t ms = ctrl->info.rtd3e / 1000;

		if (ms < CTRL_SHUTDOWN_MIN)
			ms = CTRL_SHUTDOWN_MIN;
		if (ms > CTRL_SHUTDOWN_MAX)
			ms = CTRL_SHUTDOWN_MAX;
		reg_write32(ctrl, HY_NVME_REG_CC,
			    (cc & ~HY_NVME_CC_SHN_MASK) | HY_NVME_CC_SHN_NORMAL);
		(void)ctrl_wait_csts(ctrl, HY_NVME_CSTS_SHST_MASK, HY_NVME_CSTS_SHST_COMPLETE, ms,
				     false, "shutdown to complete (CSTS.SHST)");
	}
	(void)ctrl_disable(ctrl, false);
	hy_nvme_qpair_reset(&ctrl->adminq, -ECANCELED);
	hy_nvme_qpair_fini(&ctrl->adminq);
	hy_nvme_dma_free(ctrl, &ctrl->scratch);
	hy_nvme_dma_free(ctrl, &ctrl->admin_mem);
}

int hy_nvme_qpair_create(struct hy_nvme_ctrl *ctrl, uint16_t qid, uint16_t depth,
			 struct hy_nvme_qpair *qp)
{
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_dma_buf buf;
	struct hy_nvme_qpair_mem mem;
	struct hy_nvme_qpair_cfg cfg;
	struct hy_nvme_ioq_desc d;
	uint8_t *base;
	int ret;

	ret = hy_nvme_qpair_layout(depth, ctrl->info.max_xfer, &l);
	if (ret)
		return ret;
	ret = hy_nvme_dma_alloc(ctrl, l.size, &buf);
	if (ret)
		return ret;
	base = buf.vaddr;
	mem.sq = base + l.sq_off;
	mem.sq_iova = buf.iova + l.sq_off;
	mem.cq = base + l.cq_off;
	mem.cq_iova = buf.iova + l.cq_off;
	mem.prp = base + l.prp_off;
	mem.prp_iova = buf.iova + l.prp_off;
	hy_nvme_ctrl_qpair_cfg(ctrl, qid, depth, &mem, &cfg);
	ret = hy_nvme_qpair_init(qp, &cfg);
	if (ret)
		goto err_free;
	memset(&d, 0, sizeof(d));
	d.qid = qid;
	d.depth = depth;
	d.sq_iova = mem.sq_iova;
	d.cq_iova = mem.cq_iova;
	ret = hy_nvme_ctrl_create_ioq(ctrl, &d);
	if (ret)
		goto err_fini;
	qp->owned = buf;
	return 0;

err_fini:
	hy_nvme_qpair_fini(qp);
err_free:
	hy_nvme_dma_free(ctrl, &buf);
	return ret;
}

int hy_nvme_qpair_destroy(struct hy_nvme_ctrl *ctrl, struct hy_nvme_qpair *qp)
{
	int ret = 0;

	/* A failed controller cannot delete anything; its reset will drop the queues anyway. */
	if (ctrl->enabled && !ctrl->failed)
		ret = hy_nvme_ctrl_delete_ioq(ctrl, qp->qid);
	hy_nvme_qpair_reset(qp, -ECANCELED);
	hy_nvme_qpair_fini(qp);
	hy_nvme_dma_free(ctrl, &qp->owned);
	return ret;
}
