/* SPDX-License-Identifier: MIT */
/*
 * An NVMe queue pair: one Submission Queue and its Completion Queue, driven by one owner thread.
 * The admin queue (qid 0) is one too (nvme/ctrl.c).
 *
 * Queues (NVMe Base 2.0, 3.3.1 "Memory-based Transport Queue Model"): the host writes SQEs at
 * the SQ tail and tells the controller the new tail through the SQ tail doorbell; the controller
 * writes CQEs at its CQ tail, inverting the Phase Tag on every pass through the queue, and the
 * host tells it how far it has read through the CQ head doorbell. Sizes need not be powers of
 * two and doorbells carry slot numbers, so indices wrap explicitly instead of running free.
 *
 * Command slots ("trackers") number depth - 1: a queue is full when Tail + 1 == Head, so at most
 * depth - 1 commands can be outstanding, and then neither queue can overflow whatever the
 * controller does. The CID is the tracker index. A request too large for one command (MDTS, the
 * 16-bit NLB) takes several trackers; the first one ("head") keeps the request's callback and
 * counts its commands down, and the request ends when the last one does.
 *
 * Nothing here allocates or makes a system call after hy_nvme_qpair_init(); the SQ doorbell is
 * written once per batch and the CQ doorbell once per poll.
 */
#define HY_LOG_COMPONENT "nvme"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme/mmio.h"
#include "nvme/nvme.h"
#include "shm/barrier.h"
#include "shm/log.h"

enum trk_state {
	TRK_FREE = 0,
	TRK_QUEUED,    /* in the SQ; the doorbell has not been rung for it yet */
	TRK_INFLIGHT,  /* the controller may have it; its timeout clock runs */
	TRK_WAITING,   /* ended, but heads a request whose other commands have not */
	TRK_ABANDONED, /* in flight, nobody waits: freed silently when its CQE comes */
};

struct hy_nvme_tracker {
	hy_nvme_cmd_fn cb; /* head only */
	void *arg;
	uint64_t deadline_ns;
	uint32_t dw0;	  /* head: dword 0 of the head command's CQE */
	int err;	  /* head: the request's first error */
	uint16_t status;  /* head: the Status Field that came with it */
	uint16_t head;	  /* the request's head tracker; itself for a one-command request */
	uint16_t pending; /* head: commands of the request that have not ended */
	uint16_t next_free;
	uint8_t state;
	bool timed_out; /* already reported by hy_nvme_qpair_check_timeouts() */
};

#define QP_PAGE_MASK ((size_t)HY_NVME_PAGE_SIZE - 1)

static size_t qp_round_page(size_t n)
{
	return (n + QP_PAGE_MASK) & ~QP_PAGE_MASK;
}

int hy_nvme_qpair_layout(uint32_t depth, uint32_t max_xfer, struct hy_nvme_qpair_layout *l)
{
	if (depth < 2 || depth > UINT16_MAX)
		return -EINVAL;
	l->prp_pages_per_cmd = hy_nvme_prp_list_pages(max_xfer);
	l->sq_off = 0;
	l->cq_off = qp_round_page((size_t)depth * sizeof(struct hy_nvme_sqe));
	l->prp_off = l->cq_off + qp_round_page((size_t)depth * sizeof(struct hy_nvme_cqe));
	l->size =
		l->prp_off + (size_t)(depth - 1) * l->prp_pages_per_cmd * (size_t)HY_NVME_PAGE_SIZE;
	return 0;
}

static void trk_init_free_list(struct hy_nvme_qpair *qp)
{
	for (uint16_t i = 0; i < qp->ntrk; i++) {
		qp->trk[i].state = TRK_FREE;
		qp->trk[i].next_free = (uint16_t)(i + 1);
	}
	qp->free_head = 0;
	qp->nfree = qp->ntrk;
}

static struct hy_nvme_tracker *trk_get(struct hy_nvme_qpair *qp)
{
	struct hy_nvme_tracker *t = &qp->trk[qp->free_head];

	qp->free_head = t->next_free;
	qp->nfree--;
	return t;
}

static void trk_put(struct hy_nvme_qpair *qp, struct hy_nvme_tracker *t)
{
	t->state = TRK_FREE;
	t->cb = NULL;
	t->arg = NULL;
	t->next_free = qp->free_head;
	qp->free_head = (uint16_t)(t - qp->trk);
	qp->nfree++;
}

static void qp_rewind(struct hy_nvme_qpair *qp)
{
	qp->sq_tail = 0;
	qp->sq_db_tail = 0;
	qp->sq_head = 0;
	qp->cq_head = 0;
	/* A new queue's first pass writes Phase Tag 1 over the zeroed entries (Base 2.0, 3.3.3.2).
	 */
	qp->phase = 1;
	memset(qp->cq, 0, (size_t)qp->depth * sizeof(struct hy_nvme_cqe));
	trk_init_free_list(qp);
}

int hy_nvme_qpair_init(struct hy_nvme_qpair *qp, const struct hy_nvme_qpair_cfg *cfg)
{
	const struct hy_nvme_qpair_mem *m = &cfg->mem;
	uint32_t stride = 4u << cfg->dstrd;
	volatile uint8_t *dbs;

	if (cfg->depth < 2 || !cfg->bar0 || !m->sq || !m->cq || !m->prp || !cfg->max_xfer ||
	    cfg->dstrd > 15)
		return -EINVAL;
	/* Queue base addresses are memory page aligned (Base 2.0, 5.4 and 5.5, PRP Entry 1). */
	if ((m->sq_iova | m->cq_iova | m->prp_iova) & QP_PAGE_MASK ||
	    ((uintptr_t)m->sq | (uintptr_t)m->cq | (uintptr_t)m->prp) & QP_PAGE_MASK)
		return -EINVAL;

	memset(qp, 0, sizeof(*qp));
	qp->trk = calloc((size_t)cfg->depth - 1, sizeof(*qp->trk));
	if (!qp->trk)
		return -ENOMEM;
	qp->ntrk = (uint16_t)(cfg->depth - 1);
	qp->qid = cfg->qid;
	qp->depth = cfg->depth;
	qp->sq = m->sq;
	qp->cq = m->cq;
	/* PCIe 1.0, 3.1.2: SQyTDBL at 1000h + 2y * stride, CQyHDBL one stride further. */
	dbs = (volatile uint8_t *)cfg->bar0 + HY_NVME_REG_DBS;
	qp->sq_db = (volatile uint32_t *)(dbs + (size_t)(2 * cfg->qid) * stride);
	qp->cq_db = (volatile uint32_t *)(dbs + (size_t)(2 * cfg->qid + 1) * stride);
	qp->prp_pool = m->prp;
	qp->prp_pool_iova = m->prp_iova;
	qp->prp_pages_per_cmd = hy_nvme_prp_list_pages(cfg->max_xfer);
	qp->max_xfer = cfg->max_xfer;
	qp->timeout_ns = (uint64_t)cfg->timeout_ms * 1000000u;
	qp->sgl = cfg->sgl;
	qp->sgl_dword = cfg->sgl && cfg->sgl_dword;
	qp_rewind(qp);
	return 0;
}

void hy_nvme_qpair_fini(struct hy_nvme_qpair *qp)
{
	free(qp->trk);
	qp->trk = NULL;
	qp->ntrk = 0;
	qp->nfree = 0;
}

unsigned hy_nvme_qpair_free_slots(const struct hy_nvme_qpair *qp)
{
	return qp->nfree;
}

/* Copy a command into the next SQ slot. The controller sees it at the next doorbell write. */
static void sq_push(struct hy_nvme_qpair *qp, const struct hy_nvme_sqe *sqe, uint16_t cid)
{
	struct hy_nvme_sqe *slot = &qp->sq[qp->sq_tail];

	*slot = *sqe;
	slot->cid = cid;
	if (++qp->sq_tail == qp->depth)
		qp->sq_tail = 0;
	qp->stats.submitted++;
}

/* The command's own list pages: a PRP list, SGL segments or DSM ranges, whichever it needs. */
static void *trk_prp_list(struct hy_nvme_qpair *qp, uint16_t cid, uint64_t *iova)
{
	size_t off = (size_t)cid * qp->prp_pages_per_cmd * HY_NVME_PAGE_SIZE;

	*iova = qp->prp_pool_iova + off;
	return qp->prp_pool + off / sizeof(uint64_t);
}

/* A request being queued: which SQ slots and trackers it took, so it can be undone. */
struct qp_req {
	uint16_t start_tail;
	uint16_t head;
	uint16_t ncmd;
	uint16_t total;
	hy_nvme_cmd_fn cb;
	void *arg;
};

static void req_begin(struct hy_nvme_qpair *qp, struct qp_req *r, uint16_t total, hy_nvme_cmd_fn cb,
		      void *arg)
{
	r->start_tail = qp->sq_tail;
	r->head = 0;
	r->ncmd = 0;
	r->total = total;
	r->cb = cb;
	r->arg = arg;
}

static uint16_t req_add(struct hy_nvme_qpair *qp, struct qp_req *r)
{
	struct hy_nvme_tracker *t = trk_get(qp);
	uint16_t cid = (uint16_t)(t - qp->trk);

	if (r->ncmd++ == 0) {
		r->head = cid;
		t->cb = r->cb;
		t->arg = r->arg;
		t->pending = r->total;
		t->err = 0;
		t->status = 0;
		t->dw0 = 0;
	}
	t->head = r->head;
	t->state = TRK_QUEUED;
	t->timed_out = false;
	return cid;
}

/*
 * Undo a request that could not be queued whole. Possible only because the doorbell has not
 * been rung since req_begin(): the controller has seen none of these slots.
 */
static void req_undo(struct hy_nvme_qpair *qp, struct qp_req *r, int unpushed_cid)
{
	for (uint16_t i = r->start_tail; i != qp->sq_tail; i = (uint16_t)((i + 1) % qp->depth)) {
		trk_put(qp, &qp->trk[qp->sq[i].cid]);
		qp->stats.submitted--;
	}
	if (unpushed_cid >= 0)
		trk_put(qp, &qp->trk[unpushed_cid]);
	qp->sq_tail = r->start_tail;
}

/* Room for a request of @ncmd commands? */
static int qp_admit(const struct hy_nvme_qpair *qp, uint64_t ncmd)
{
	if (qp->resetting)
		return -EAGAIN;
	if (ncmd > qp->ntrk)
		return -E2BIG;
	if (ncmd > qp->nfree)
		return -EAGAIN;
	return 0;
}

int hy_nvme_qpair_submit(struct hy_nvme_qpair *qp, const struct hy_nvme_sqe *sqe, hy_nvme_cmd_fn cb,
			 void *arg)
{
	struct qp_req r;
	uint16_t cid;
	int ret = qp_admit(qp, 1);

	if (ret)
		return ret;
	req_begin(qp, &r, 1, cb, arg);
	cid = req_add(qp, &r);
	sq_push(qp, sqe, cid);
	return cid;
}

static uint64_t seg_total(const struct hy_nvme_seg *segs, unsigned nseg)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < nseg; i++)
		total += segs[i].len;
	return total;
}

static bool lba_range_ok(const struct hy_nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
	return nlb && slba < ns->nsze && nlb <= ns->nsze - slba;
}

int hy_nvme_qpair_seg_check(const struct hy_nvme_qpair *qp, const struct hy_nvme_seg *segs,
			    unsigned nseg)
{
	if (hy_nvme_prp_check(segs, nseg) >= 0)
		return 0;
	/* A command's window has at most @nseg pieces: then its list pages always suffice. */
	if (qp->sgl && nseg <= HY_NVME_SGL_MAX_DESCS(qp->prp_pages_per_cmd) &&
	    hy_nvme_sgl_check(segs, nseg, qp->sgl_dword) >= 0)
		return 1;
	return -EINVAL;
}

/*
 * NVM 1.0, "Read command" / "Write command": SLBA in CDW11:10, NLB 0's based in CDW12 15:0.
 * PRPs when they can describe the buffer (the common case, and the cheapest for the controller),
 * else SGLs when the controller has them.
 */
static int qpair_rw(struct hy_nvme_qpair *qp, uint8_t opc, const struct hy_nvme_ns *ns,
		    uint64_t slba, uint32_t nlb, const struct hy_nvme_seg *segs, unsigned nseg,
		    uint32_t flags, hy_nvme_cmd_fn cb, void *arg)
{
	uint32_t shift = ns->lba_shift;
	uint64_t chunk, ncmd, off = 0;
	struct qp_req r;
	bool sgl;
	int ret;

	if ((flags & ~HY_NVME_RW_FUA) || shift < 9 || shift > 16 || !lba_range_ok(ns, slba, nlb) ||
	    seg_total(segs, nseg) != (uint64_t)nlb << shift)
		return -EINVAL;
	chunk = qp->max_xfer >> shift;
	if (ns->max_blocks && ns->max_blocks < chunk)
		chunk = ns->max_blocks;
	if (chunk > HY_NVME_RW_NLB_MAX)
		chunk = HY_NVME_RW_NLB_MAX;
	if (!chunk)
		return -EINVAL;
	ncmd = (nlb + chunk - 1) / chunk;
	ret = qp_admit(qp, ncmd);
	if (ret)
		return ret;
	/* Check the whole layout first, so that a bad one queues nothing. */
	if (hy_nvme_prp_check(segs, nseg) >= 0)
		sgl = false;
	else if (qp->sgl && hy_nvme_sgl_check(segs, nseg, qp->sgl_dword) >= 0)
		sgl = true;
	else
		return -EINVAL;

	req_begin(qp, &r, (uint16_t)ncmd, cb, arg);
	for (uint64_t done = 0; done < nlb; done += chunk) {
		uint64_t n = nlb - done < chunk ? nlb - done : chunk;
		struct hy_nvme_sqe sqe = {
			.opc = opc,
			.nsid = ns->nsid,
			.cdw10 = (uint32_t)(slba + done),
			.cdw11 = (uint32_t)((slba + done) >> 32),
			.cdw12 = (uint32_t)(n - 1) | flags,
		};
		uint16_t cid = req_add(qp, &r);
		uint64_t list_iova;
		void *list = trk_prp_list(qp, cid, &list_iova);

		if (sgl)
			ret = hy_nvme_sgl_build(segs, nseg, off, n << shift, qp->sgl_dword, &sqe,
						list, list_iova, qp->prp_pages_per_cmd);
		else
			ret = hy_nvme_prp_build(segs, nseg, off, n << shift, &sqe, list, list_iova,
						qp->prp_pages_per_cmd);
		if (ret) {
			req_undo(qp, &r, cid);
			return ret;
		}
		sq_push(qp, &sqe, cid);
		off += n << shift;
	}
	if (ncmd > 1)
		qp->stats.split++;
	return 0;
}

int hy_nvme_qpair_read(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint64_t slba,
		       uint32_t nlb, const struct hy_nvme_seg *segs, unsigned nseg, uint32_t flags,
		       hy_nvme_cmd_fn cb, void *arg)
{
	return qpair_rw(qp, HY_NVME_CMD_READ, ns, slba, nlb, segs, nseg, flags, cb, arg);
}

int hy_nvme_qpair_write(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint64_t slba,
			uint32_t nlb, const struct hy_nvme_seg *segs, unsigned nseg, uint32_t flags,
			hy_nvme_cmd_fn cb, void *arg)
{
	return qpair_rw(qp, HY_NVME_CMD_WRITE, ns, slba, nlb, segs, nseg, flags, cb, arg);
}

int hy_nvme_qpair_flush(struct hy_nvme_qpair *qp, uint32_t nsid, hy_nvme_cmd_fn cb, void *arg)
{
	struct hy_nvme_sqe sqe = {.opc = HY_NVME_CMD_FLUSH, .nsid = nsid};
	int ret = hy_nvme_qpair_submit(qp, &sqe, cb, arg);

	return ret < 0 ? ret : 0;
}

/* NVM 1.0, "Write Zeroes command": no data; DEAC (CDW12 bit 25) lets the controller deallocate. */
int hy_nvme_qpair_write_zeroes(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint64_t slba,
			       uint64_t nlb, uint32_t flags, hy_nvme_cmd_fn cb, void *arg)
{
	const uint64_t chunk = HY_NVME_RW_NLB_MAX;
	uint64_t ncmd;
	struct qp_req r;
	int ret;

	if (!ns->write_zeroes)
		return -EOPNOTSUPP;
	if ((flags & ~(HY_NVME_WZ_DEAC | HY_NVME_RW_FUA)) || !lba_range_ok(ns, slba, nlb))
		return -EINVAL;
	ncmd = (nlb + chunk - 1) / chunk;
	ret = qp_admit(qp, ncmd);
	if (ret)
		return ret;
	req_begin(qp, &r, (uint16_t)ncmd, cb, arg);
	for (uint64_t done = 0; done < nlb; done += chunk) {
		uint64_t n = nlb - done < chunk ? nlb - done : chunk;
		struct hy_nvme_sqe sqe = {
			.opc = HY_NVME_CMD_WRITE_ZEROES,
			.nsid = ns->nsid,
			.cdw10 = (uint32_t)(slba + done),
			.cdw11 = (uint32_t)((slba + done) >> 32),
			.cdw12 = (uint32_t)(n - 1) | flags,
		};

		sq_push(qp, &sqe, req_add(qp, &r));
	}
	if (ncmd > 1)
		qp->stats.split++;
	return 0;
}

/*
 * NVM 1.0, "Dataset Management command": NR (CDW10 7:0) is the 0's based range count, AD (CDW11
 * bit 2) asks for deallocation; the ranges are data. 256 ranges of 16 bytes fill exactly one
 * page, so they go in the command's own PRP list page and PRP1 alone describes them.
 */
int hy_nvme_qpair_deallocate(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns,
			     const struct hy_nvme_dsm_range *ranges, unsigned nr, hy_nvme_cmd_fn cb,
			     void *arg)
{
	struct hy_nvme_sqe sqe = {
		.opc = HY_NVME_CMD_DSM,
		.nsid = ns->nsid,
		.cdw10 = nr - 1,
		.cdw11 = HY_NVME_DSM_AD,
	};
	uint64_t list_iova;
	struct qp_req r;
	uint16_t cid;
	int ret;

	if (!ns->dsm)
		return -EOPNOTSUPP;
	if (!nr || nr > HY_NVME_DSM_MAX_RANGES)
		return -EINVAL;
	for (unsigned i = 0; i < nr; i++)
		if (!lba_range_ok(ns, ranges[i].slba, ranges[i].nlb))
			return -EINVAL;
	ret = qp_admit(qp, 1);
	if (ret)
		return ret;
	req_begin(qp, &r, 1, cb, arg);
	cid = req_add(qp, &r);
	memcpy(trk_prp_list(qp, cid, &list_iova), ranges, nr * sizeof(*ranges));
	sqe.prp1 = list_iova;
	sq_push(qp, &sqe, cid);
	return 0;
}

void hy_nvme_qpair_ring_doorbell(struct hy_nvme_qpair *qp)
{
	uint64_t deadline = 0;

	if (qp->sq_tail == qp->sq_db_tail)
		return;
	/* One clock read per batch starts every new command's timeout. */
	if (qp->timeout_ns)
		deadline = hy_now_ns() + qp->timeout_ns;
	for (uint16_t i = qp->sq_db_tail; i != qp->sq_tail; i = (uint16_t)((i + 1) % qp->depth)) {
		struct hy_nvme_tracker *t = &qp->trk[qp->sq[i].cid];

		if (t->state == TRK_QUEUED)
			t->state = TRK_INFLIGHT;
		t->deadline_ns = deadline;
	}
	/*
	 * The doorbell write is what makes the controller fetch the new SQEs, and through them the
	 * PRP lists and DSM ranges we just wrote: those stores must be visible to the device first.
	 * Pairs with the controller's SQ fetch following its receipt of the doorbell.
	 */
	hy_wmb();
	mmio_write32(qp->sq_db, qp->sq_tail);
	qp->sq_db_tail = qp->sq_tail;
	qp->stats.sq_doorbells++;
}

/* End one command; end its request when it was the last. The callback runs last of all. */
static void trk_end(struct hy_nvme_qpair *qp, struct hy_nvme_tracker *t, int err, uint16_t status,
		    uint32_t dw0)
{
	struct hy_nvme_tracker *h = &qp->trk[t->head];
	struct hy_nvme_cpl cpl;
	hy_nvme_cmd_fn cb;
	void *arg;

	if (t->state == TRK_ABANDONED) {
		trk_put(qp, t);
		return;
	}
	if (err && !h->err) {
		h->err = err;
		h->status = status;
	}
	if (t == h) {
		h->dw0 = dw0;
		h->state = TRK_WAITING;
	} else {
		trk_put(qp, t);
	}
	if (--h->pending)
		return;
	cpl.err = h->err;
	cpl.status = h->status;
	cpl.dw0 = h->dw0;
	cb = h->cb;
	arg = h->arg;
	/* Free first, so that the callback can submit into the slot. */
	trk_put(qp, h);
	if (cb)
		cb(arg, &cpl);
}

int hy_nvme_qpair_poll(struct hy_nvme_qpair *qp, unsigned max)
{
	unsigned n = 0;

	if (qp->polling)
		return -EBUSY;
	qp->polling = true;
	hy_nvme_qpair_ring_doorbell(qp);
	if (!max || max > qp->depth)
		max = qp->depth;
	while (n < max) {
		struct hy_nvme_cqe *cqe = &qp->cq[qp->cq_head];
		uint16_t st = *(const volatile uint16_t *)&cqe->status;
		uint16_t cid, sqid, status;
		uint32_t dw0;

		if ((st & 1) != qp->phase)
			break;
		/*
		 * The Phase Tag says the entry is new; only now may the rest of it be read. Pairs
		 * with the controller's write of the whole CQE, which lands before (or with) the
		 * Phase Tag it carries (Base 2.0, 3.3.3.2; PCIe posted writes stay in order).
		 */
		hy_dma_rmb();
		cid = cqe->cid;
		sqid = cqe->sqid;
		dw0 = cqe->dw0;
		qp->sq_head = cqe->sqhd;
		status = (uint16_t)(st >> 1);
		if (++qp->cq_head == qp->depth) {
			qp->cq_head = 0;
			qp->phase ^= 1;
		}
		n++;
		qp->stats.completed++;

		if (cid >= qp->ntrk || sqid != qp->qid ||
		    (qp->trk[cid].state != TRK_INFLIGHT && qp->trk[cid].state != TRK_ABANDONED)) {
			qp->stats.bad_cqes++;
			hy_log_rl(ERR, 0,
				  "queue %u: completion for CID %u (SQ %u) matches no outstanding "
				  "command; ignored",
				  qp->qid, cid, sqid);
			continue;
		}
		trk_end(qp, &qp->trk[cid], (status & 0x7ff) ? hy_nvme_status_errno(status) : 0,
			status, dw0);
	}
	if (n) {
		/*
		 * Giving the slots back lets the controller overwrite them: every read of the
		 * consumed CQEs above must be done first. x86 never moves loads after a later
		 * store; elsewhere hy_wmb() is a full fence. Pairs with the controller's reuse of
		 * the slots it learns are free from this doorbell.
		 */
		hy_wmb();
		mmio_write32(qp->cq_db, qp->cq_head);
		qp->stats.cq_doorbells++;
	}
	qp->polling = false;
	return (int)n;
}

int hy_nvme_qpair_check_timeouts(struct hy_nvme_qpair *qp, uint16_t *cids, unsigned max)
{
	unsigned n = 0;
	uint64_t now;

	if (!qp->timeout_ns || qp->nfree == qp->ntrk)
		return 0;
	now = hy_now_ns();
	for (uint16_t i = 0; i < qp->ntrk && n < max; i++) {
		struct hy_nvme_tracker *t = &qp->trk[i];

		if (t->state != TRK_INFLIGHT || t->timed_out || now < t->deadline_ns)
			continue;
		t->timed_out = true;
		cids[n++] = i;
		qp->stats.timeouts++;
	}
	return (int)n;
}

int hy_nvme_qpair_abandon(struct hy_nvme_qpair *qp, uint16_t cid)
{
	struct hy_nvme_tracker *t;

	if (cid >= qp->ntrk)
		return -ENOENT;
	t = &qp->trk[cid];
	if (t->state != TRK_INFLIGHT && t->state != TRK_QUEUED)
		return -ENOENT;
	if (t->head != cid || t->pending != 1)
		return -EINVAL; /* part of a split request: not supported */
	t->state = TRK_ABANDONED;
	t->cb = NULL;
	t->arg = NULL;
	return 0;
}

void hy_nvme_qpair_reset(struct hy_nvme_qpair *qp, int err)
{
	if (!qp->trk)
		return; /* never initialised, or finished */
	/*
	 * The callbacks run below may try to resubmit or poll: the first would land in an SQ the
	 * controller no longer has, the second could read stale CQEs. Both are refused until the
	 * queues are rewound.
	 */
	qp->resetting = true;
	qp->polling = true;
	for (uint16_t i = 0; i < qp->ntrk; i++) {
		struct hy_nvme_tracker *t = &qp->trk[i];

		if (t->state == TRK_FREE || t->state == TRK_WAITING)
			continue;
		trk_end(qp, t, err, 0, 0);
	}
	qp_rewind(qp);
	qp->polling = false;
	qp->resetting = false;
}
