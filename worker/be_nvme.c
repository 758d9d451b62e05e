/* SPDX-License-Identifier: MIT */
/*
 * nvme: the worker owns one NVMe I/O queue pair (nvme/nvme.h) and the controller DMAs straight
 * into the guest's buffers. The master created the queues and mapped the guest memory into the
 * IOMMU at iova_base + gpa (nvme/README-nvme.md, "IOVA scheme"); here a buffer's address becomes
 * an IOVA with one lookup in the worker's own memory table (hy_mem_iova()), and a request becomes
 * one or more NVM commands (NVM Command Set 1.0: Read 3.2.4, Write 3.2.6, Write Zeroes 3.2.7,
 * Dataset Management 3.2.3; Base 2.0, 7.1 Flush).
 *
 * Layouts PRPs cannot express (a piece that starts or ends inside a page where PRPs need a page
 * boundary, Base 2.0, 4.1.1) go zero copy as SGLs (Base 2.0, 4.1.2) when the controller has them
 * (hy_nvme_qpair_seg_check()). Otherwise, and for what even SGLs cannot say (pieces off a dword
 * on a controller that wants dword alignment), they go through this queue's bounce buffer, one
 * request at a time and in bounce-sized chunks. Linux guests never send such layouts; a hostile
 * or unusual guest gets a slower, still correct, request.
 *
 * No system call and no allocation on the I/O path; requests that find the queue pair full wait
 * in a FIFO and are issued after the next completions.
 */
#define HY_LOG_COMPONENT "nvme"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme/nvme.h"
#include "shm/log.h"
#include "worker/backend.h"
#include "worker/mem.h"
#include "worker/vring.h"

#define TIMEOUT_CHECK_NS 1000000000ull /* look for stuck commands once a second */

struct nreq {
	struct hy_io *io;
	struct nreq *next; /* free list, or the wait FIFO */
	bool bounce;	   /* goes through the bounce buffer */
	uint64_t done;	   /* bounce: bytes of io->len finished */
	uint32_t chunk;	   /* bounce: bytes of the command in flight */
	unsigned nseg;
	struct hy_nvme_seg seg[HY_CHAIN_MAX_IOV];
};

struct nvme_be {
	struct hy_nvme_qpair qp;
	const struct hy_nvme_ns *ns;
	const struct hy_nvme_be_queue *q;
	struct hy_mem *mem;
	uint32_t lba_mask;   /* block size - 1 */
	uint32_t bounce_max; /* bytes per bounce chunk: the buffer, and what the queue pair holds */
	struct nreq *reqs;
	struct nreq *free;
	struct nreq *wait_head, *wait_tail; /* could not be queued yet, in arrival order */
	bool bounce_busy;
	hy_io_done_fn fn; /* the reap() caller's, while it polls */
	void *fn_arg;
	int done; /* completions reported during this reap() */
	unsigned polls;
	uint64_t last_check_ns;
};

static struct nvme_be nvme_state;

static int nvme_open(struct hy_backend *be)
{
	struct nvme_be *nb = &nvme_state;
	int ret;

	if (!be->info->nvme_q) {
		hy_log(ERR, 0, "queue %u: no NVMe queue pair was prepared", be->qidx);
		return -EINVAL;
	}
	memset(nb, 0, sizeof(*nb));
	nb->ns = &be->info->nvme_ns;
	nb->q = &be->info->nvme_q[be->qidx];
	nb->mem = be->mem;
	nb->lba_mask = (1u << nb->ns->lba_shift) - 1;
	nb->reqs = calloc(be->depth, sizeof(*nb->reqs));
	if (!nb->reqs)
		return -ENOMEM;
	for (uint32_t i = be->depth; i-- > 0;) {
		nb->reqs[i].next = nb->free;
		nb->free = &nb->reqs[i];
	}
	/*
	 * The master created the queues before forking us and nothing has been submitted on them
	 * since (a predecessor's queue pair was deleted and created again): the controller's
	 * heads and tails are 0, as hy_nvme_qpair_init() assumes.
	 */
	ret = hy_nvme_qpair_init(&nb->qp, &nb->q->cfg);
	if (ret < 0) {
		hy_log(ERR, ret, "queue %u: cannot attach to NVMe queue pair %u", be->qidx,
		       nb->q->cfg.qid);
		free(nb->reqs);
		nb->reqs = NULL;
		return ret;
	}
	/* A chunk must fit the queue pair at once (MDTS-sized commands, all slots but one). */
	{
		uint64_t fit =
			(uint64_t)nb->qp.max_xfer * (nb->qp.ntrk > 1 ? nb->qp.ntrk - 1u : 1u);

		nb->bounce_max = nb->q->bounce_len < fit ? nb->q->bounce_len : (uint32_t)fit;
		nb->bounce_max &= ~nb->lba_mask;
	}
	be->priv = nb;
	return 0;
}

static void nvme_close(struct hy_backend *be)
{
	struct nvme_be *nb = be->priv;

	if (!nb)
		return;
	hy_nvme_qpair_fini(&nb->qp);
	free(nb->reqs);
	nb->reqs = NULL;
	be->priv = NULL;
}

/* Copy between the request's buffers, from byte @off on, and @buf. */
static void iov_copy(const struct hy_io *io, uint64_t off, uint8_t *buf, uint64_t len, bool to_iov)
{
	for (unsigned i = 0; i < io->iovcnt && len; i++) {
		uint64_t l = io->iov[i].iov_len, n;

		if (off >= l) {
			off -= l;
			continue;
		}
		n = l - off < len ? l - off : len;
		if (to_iov)
			memcpy((uint8_t *)io->iov[i].iov_base + off, buf, n);
		else
			memcpy(buf, (uint8_t *)io->iov[i].iov_base + off, n);
		buf += n;
		len -= n;
		off = 0;
	}
}

/* The guest's buffers as IOVA pieces, contiguous ones merged. 0 or -EFAULT. */
static int build_segs(struct nvme_be *nb, struct nreq *nr)
{
	const struct hy_io *io = nr->io;

	nr->nseg = 0;
	for (unsigned i = 0; i < io->iovcnt; i++) {
		struct hy_nvme_seg *prev = nr->nseg ? &nr->seg[nr->nseg - 1] : NULL;
		uint64_t iova, len = io->iov[i].iov_len;

		if (!len)
			continue;
		if (hy_mem_iova(nb->mem, io->iov[i].iov_base, len, &iova) < 0)
			return -EFAULT;
		if (prev && prev->iova + prev->len == iova && prev->len + len <= UINT32_MAX) {
			prev->len += (uint32_t)len;
			continue;
		}
		nr->seg[nr->nseg].iova = iova;
		nr->seg[nr->nseg].len = (uint32_t)len;
		nr->nseg++;
	}
	return 0;
}

static void finish(struct nvme_be *nb, struct nreq *nr, int res)
{
	struct hy_io *io = nr->io;

	if (nr->bounce)
		nb->bounce_busy = false;
	io->res = res;
	nr->next = nb->free;
	nb->free = nr;
	nb->done++;
	nb->fn(nb->fn_arg, io);
}

static int issue(struct nvme_be *nb, struct nreq *nr);

/*
 * The whole blocks inside a discard's byte range: deallocation is advisory (virtio 1.2,
 * 5.2.6.2), so a partial block at either end stays. Return: how many, *first the first one.
 */
static uint64_t discard_blocks(const struct nvme_be *nb, const struct hy_io *io, uint64_t *first)
{
	uint64_t last = (io->offset + io->len) >> nb->ns->lba_shift;

	*first = (io->offset + nb->lba_mask) >> nb->ns->lba_shift;
	return last > *first ? last - *first : 0;
}

static void wait_push(struct nvme_be *nb, struct nreq *nr, bool front)
{
	nr->next = NULL;
	if (!nb->wait_head) {
		nb->wait_head = nb->wait_tail = nr;
	} else if (front) {
		nr->next = nb->wait_head;
		nb->wait_head = nr;
	} else {
		nb->wait_tail->next = nr;
		nb->wait_tail = nr;
	}
}

/* Called by hy_nvme_qpair_poll() for each finished command (or whole split request). */
static void cmd_done(void *arg, const struct hy_nvme_cpl *cpl)
{
	struct nreq *nr = arg;
	struct nvme_be *nb = &nvme_state;
	struct hy_io *io = nr->io;

	if (cpl->err) {
		hy_log_rl(WARN, cpl->err, "NVMe command for byte %llu failed: %s (status 0x%x)",
			  (unsigned long long)io->offset, hy_nvme_status_str(cpl->status),
			  cpl->status);
		finish(nb, nr, cpl->err);
		return;
	}
	if (nr->bounce) {
		if (io->op == HY_IO_READ)
			iov_copy(io, nr->done, nb->q->bounce, nr->chunk, true);
		nr->done += nr->chunk;
		if (nr->done < io->len) {
			int ret = issue(nb, nr);

			if (ret == -EAGAIN)
				wait_push(nb, nr, true);
			else if (ret < 0)
				finish(nb, nr, ret);
			return;
		}
	}
	finish(nb, nr, 0);
}

/* Put the next command of @nr on the queue pair. 0, -EAGAIN (full: wait), or -errno. */
static int issue(struct nvme_be *nb, struct nreq *nr)
{
	struct hy_io *io = nr->io;
	const struct hy_nvme_ns *ns = nb->ns;
	struct hy_nvme_seg bseg;
	uint32_t flags = io->dsync ? HY_NVME_RW_FUA : 0;
	uint64_t off = io->offset, len = io->len;
	const struct hy_nvme_seg *segs = nr->seg;
	unsigned nseg = nr->nseg;
	int ret;

	switch (io->op) {
	case HY_IO_READ:
	case HY_IO_WRITE:
		if (nr->bounce) {
			uint64_t left = io->len - nr->done;

			if (nr->done == 0 && nb->bounce_busy)
				return -EAGAIN;
			nb->bounce_busy = true;
			nr->chunk = (uint32_t)(left < nb->bounce_max ? left : nb->bounce_max);
			if (io->op == HY_IO_WRITE)
				iov_copy(io, nr->done, nb->q->bounce, nr->chunk, false);
			bseg.iova = nb->q->bounce_iova;
			bseg.len = nr->chunk;
			segs = &bseg;
			nseg = 1;
			off += nr->done;
			len = nr->chunk;
		}
		ret = (io->op == HY_IO_READ ? hy_nvme_qpair_read : hy_nvme_qpair_write)(
			&nb->qp, ns, off >> ns->lba_shift, (uint32_t)(len >> ns->lba_shift), segs,
			nseg, flags, cmd_done, nr);
		break;
	case HY_IO_FLUSH:
		ret = hy_nvme_qpair_flush(&nb->qp, ns->nsid, cmd_done, nr);
		break;
	case HY_IO_DISCARD: {
		struct hy_nvme_dsm_range range;

		range.cattr = 0;
		range.nlb = (uint32_t)discard_blocks(nb, io, &range.slba);
		ret = hy_nvme_qpair_deallocate(&nb->qp, ns, &range, 1, cmd_done, nr);
		break;
	}
	case HY_IO_WRITE_ZEROES:
		ret = hy_nvme_qpair_write_zeroes(&nb->qp, ns, off >> ns->lba_shift,
						 len >> ns->lba_shift,
						 io->unmap ? HY_NVME_WZ_DEAC : 0, cmd_done, nr);
		break;
	default:
		ret = -EOPNOTSUPP;
	}
	/*
	 * A first chunk that was not queued gives the bounce buffer back: it waits (-EAGAIN) or
	 * fails, and a failure in nvme_submit() never reaches finish().
	 */
	if (ret < 0 && nr->bounce && nr->done == 0)
		nb->bounce_busy = false;
	/*
	 * More commands than the queue pair has slots: the guest ignored seg_max/size_max
	 * (master/device.c keeps them within what a queue pair holds).
	 */
	if (ret == -E2BIG)
		hy_log_rl(
			WARN, 0,
			"a %llu-byte request needs more commands than the queue pair's %u slots; the guest ignored seg_max and size_max",
			(unsigned long long)io->len, nb->qp.ntrk);
	return ret == -E2BIG ? -EIO : ret;
}

/* Issue what waits, in order, until the queue pair is full again. */
static void wait_run(struct nvme_be *nb)
{
	while (nb->wait_head) {
		struct nreq *nr = nb->wait_head;
		int ret = issue(nb, nr);

		if (ret == -EAGAIN)
			return;
		nb->wait_head = nr->next;
		if (!nb->wait_head)
			nb->wait_tail = NULL;
		if (ret < 0)
			finish(nb, nr, ret);
	}
}

static int nvme_submit(struct hy_backend *be, struct hy_io *io)
{
	struct nvme_be *nb = be->priv;
	struct nreq *nr;
	int ret;

	io->res = 0;
	switch (io->op) {
	case HY_IO_READ:
	case HY_IO_WRITE:
	case HY_IO_WRITE_ZEROES:
		/* A guest may ignore blk_size; the controller cannot address part of a block. */
		if ((io->offset | io->len) & nb->lba_mask) {
			hy_log_rl(
				WARN, 0,
				"request at byte %llu for %llu bytes is not in whole %u-byte blocks",
				(unsigned long long)io->offset, (unsigned long long)io->len,
				nb->lba_mask + 1);
			return -EINVAL;
		}
		break;
	case HY_IO_FLUSH:
		/* Without a volatile write cache every completed write is already durable. */
		if (!nb->ns->vwc)
			return 1;
		break;
	case HY_IO_DISCARD:
		if (!discard_blocks(nb, io, &(uint64_t){0}))
			return 1; /* less than one whole block: nothing to give back */
		break;
	}
	nr = nb->free;
	if (!nr)
		return -EBUSY; /* more requests than the ring can hold: cannot happen */
	nb->free = nr->next;
	nr->io = io;
	nr->bounce = false;
	nr->done = 0;
	nr->nseg = 0;
	if (io->op == HY_IO_READ || io->op == HY_IO_WRITE) {
		ret = build_segs(nb, nr);
		if (ret < 0) {
			hy_log_rl(ERR, ret,
				  "a buffer of the request at byte %llu is outside guest memory",
				  (unsigned long long)io->offset);
			goto err_free;
		}
		/* PRPs, or SGLs if the controller has them; else the bounce buffer. */
		nr->bounce = hy_nvme_qpair_seg_check(&nb->qp, nr->seg, nr->nseg) < 0;
	}
	if (nb->wait_head) {
		wait_push(nb, nr, false); /* keep arrival order */
		return 0;
	}
	ret = issue(nb, nr);
	if (ret == -EAGAIN) {
		wait_push(nb, nr, false);
		return 0;
	}
	if (ret < 0)
		goto err_free;
	return 0;

err_free:
	nr->next = nb->free;
	nb->free = nr;
	return ret;
}

static int nvme_flush(struct hy_backend *be)
{
	struct nvme_be *nb = be->priv;

	hy_nvme_qpair_ring_doorbell(&nb->qp);
	return 0;
}

static int nvme_reap(struct hy_backend *be, hy_io_done_fn fn, void *arg)
{
	struct nvme_be *nb = be->priv;
	uint16_t cids[4];
	int n;

	nb->fn = fn;
	nb->fn_arg = arg;
	nb->done = 0;
	n = hy_nvme_qpair_poll(&nb->qp, 0);
	if (n < 0)
		return n;
	if (nb->wait_head)
		wait_run(nb);
	/* Commands queued by callbacks (next bounce chunks) and by wait_run() go out now. */
	hy_nvme_qpair_ring_doorbell(&nb->qp);
	/* Stuck commands: a clock read every 4096 polls, a look once a second. */
	if (!(++nb->polls & 4095)) {
		uint64_t now = hy_now_ns();

		if (now - nb->last_check_ns > TIMEOUT_CHECK_NS) {
			nb->last_check_ns = now;
			n = hy_nvme_qpair_check_timeouts(&nb->qp, cids, 4);
			if (n > 0) {
				hy_log(ERR, 0,
				       "queue %u: NVMe command %u on queue pair %u got no completion in %u ms; the queue pair must be reset",
				       be->qidx, cids[0], nb->qp.qid, nb->q->cfg.timeout_ms);
				return -ETIMEDOUT;
			}
		}
	}
	return nb->done;
}

static int nvme_event_fd(struct hy_backend *be)
{
	return -1; /* polled: completions are found by hy_nvme_qpair_poll() */
}

const struct hy_backend_ops hy_backend_nvme = {
	.name = "nvme",
	.open = nvme_open,
	.close = nvme_close,
	.submit = nvme_submit,
	.flush = nvme_flush,
	.reap = nvme_reap,
	.event_fd = nvme_event_fd,
};
