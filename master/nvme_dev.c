/* SPDX-License-Identifier: MIT */
/*
 * The master's half of the nvme backend (master/nvme_dev.h): controller, namespace, queue pairs
 * in shared memory, and guest memory in the IOMMU.
 */
#define HY_LOG_COMPONENT "nvme"
#include "master/nvme_dev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shm/log.h"

#define PAGE	       4096ull
#define GIB	       (1ull << 30)
#define MAX_DEPTH      1024u
#define MIN_DEPTH      64u
#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))
#define ERRF(...)      snprintf(err, errlen, __VA_ARGS__)

static int queue_create(struct hy_nvme_dev *nd, unsigned q)
{
	struct hy_nvme_dev_queue *dq = &nd->q[q];
	const struct hy_nvme_qpair_mem *m = &nd->bq[q].cfg.mem;
	struct hy_nvme_ioq_desc d = {
		.qid = (uint16_t)(q + 1),
		.depth = dq->depth,
		.sq_iova = m->sq_iova,
		.cq_iova = m->cq_iova,
	};
	int ret;

	/* No stale Phase Tag may read as a completion in the new CQ (Base 2.0, 4.6). */
	memset(m->cq, 0, (size_t)dq->depth * sizeof(struct hy_nvme_cqe));
	ret = hy_nvme_ctrl_create_ioq(&nd->ctrl, &d);
	if (ret < 0) {
		hy_log(ERR, ret, "device %s: cannot create NVMe I/O queue pair %u (depth %u)",
		       nd->name, d.qid, d.depth);
		return ret;
	}
	dq->created = true;
	return 0;
}

/* Shared memory for queue pair @q, mapped for the device, described for its worker. */
static int queue_alloc(struct hy_nvme_dev *nd, unsigned q, uint16_t depth)
{
	struct hy_nvme_dev_queue *dq = &nd->q[q];
	struct hy_nvme_be_queue *bq = &nd->bq[q];
	struct hy_nvme_qpair_mem mem;
	uint8_t *base;
	int ret;

	ret = hy_nvme_qpair_layout(depth, nd->ctrl.info.max_xfer, &dq->layout);
	if (ret < 0)
		return ret;
	dq->depth = depth;
	dq->len = ROUND_UP(dq->layout.size + HY_NVME_BOUNCE_LEN, PAGE);
	/* MAP_SHARED: a worker forked later sees the same pages, which VFIO pins for the device. */
	dq->mem = mmap(NULL, dq->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (dq->mem == MAP_FAILED) {
		dq->mem = NULL;
		return -errno;
	}
	ret = hy_nvme_iova_alloc(&nd->ctrl.iova, dq->len, &dq->iova);
	if (ret < 0)
		goto err_unmap;
	ret = nd->ctrl.dma->map(nd->ctrl.dma_priv, dq->mem, dq->len, dq->iova);
	if (ret < 0)
		goto err_iova;
	base = dq->mem;
	mem.sq = base + dq->layout.sq_off;
	mem.sq_iova = dq->iova + dq->layout.sq_off;
	mem.cq = base + dq->layout.cq_off;
	mem.cq_iova = dq->iova + dq->layout.cq_off;
	mem.prp = base + dq->layout.prp_off;
	mem.prp_iova = dq->iova + dq->layout.prp_off;
	hy_nvme_ctrl_qpair_cfg(&nd->ctrl, (uint16_t)(q + 1), depth, &mem, &bq->cfg);
	bq->bounce = base + dq->layout.size;
	bq->bounce_iova = dq->iova + dq->layout.size;
	bq->bounce_len = HY_NVME_BOUNCE_LEN;
	return 0;

err_iova:
	hy_nvme_iova_free(&nd->ctrl.iova, dq->iova, dq->len);
err_unmap:
	munmap(dq->mem, dq->len);
	dq->mem = NULL;
	return ret;
}

static void queue_free(struct hy_nvme_dev *nd, unsigned q)
{
	struct hy_nvme_dev_queue *dq = &nd->q[q];

	if (dq->created)
		hy_nvme_ctrl_delete_ioq(&nd->ctrl, (uint16_t)(q + 1));
	dq->created = false;
	if (!dq->mem)
		return;
	nd->ctrl.dma->unmap(nd->ctrl.dma_priv, dq->iova, dq->len);
	hy_nvme_iova_free(&nd->ctrl.iova, dq->iova, dq->len);
	munmap(dq->mem, dq->len);
	dq->mem = NULL;
}

/* What the namespace can serve, as the guest will see it. 0 or -EINVAL with @err set. */
static int namespace_check(struct hy_nvme_dev *nd, const struct hy_topo_device *cfg,
			   const struct hy_nvme_ns *ns, struct hy_backend_info *info, char *err,
			   size_t errlen)
{
	uint32_t nsbs = 1u << ns->lba_shift, bs;
	uint64_t cap = ns->nsze << ns->lba_shift;

	if (nsbs > 4096) {
		ERRF("device %s: namespace %u of %s has %u-byte blocks; a virtio-blk guest can use at most 4096 (format the namespace with a 512 or 4096-byte LBA format, e.g. nvme format --lbaf)",
		     cfg->name, ns->nsid, cfg->pci, nsbs);
		return -EINVAL;
	}
	bs = cfg->block_size_set ? cfg->block_size : nsbs;
	if (bs < nsbs) {
		ERRF("device %s: block_size %u is smaller than the %u-byte blocks of namespace %u of %s; set block_size: %u or leave it out",
		     cfg->name, bs, nsbs, ns->nsid, cfg->pci, nsbs);
		return -EINVAL;
	}
	if (cfg->size) {
		if (cfg->size > cap) {
			ERRF("device %s: size %llu is larger than namespace %u of %s (%llu bytes); leave size out to use all of it",
			     cfg->name, (unsigned long long)cfg->size, ns->nsid, cfg->pci,
			     (unsigned long long)cap);
			return -EINVAL;
		}
		cap = cfg->size;
	}
	cap -= cap % bs;
	if (!cap) {
		ERRF("device %s: namespace %u of %s holds less than one %u-byte block", cfg->name,
		     ns->nsid, cfg->pci, bs);
		return -EINVAL;
	}
	info->capacity = cap;
	info->block_size = bs;
	info->discard = ns->dsm;
	info->write_zeroes = ns->write_zeroes;
	info->nvme_ns = *ns;
	(void)nd;
	return 0;
}

struct hy_nvme_dev *hy_nvme_dev_open(const struct hy_topo_device *cfg, struct hy_backend_info *info,
				     char *err, size_t errlen)
{
	struct hy_nvme_dev *nd = calloc(1, sizeof(*nd));
	struct hy_nvme_ctrl_cfg cc = {0};
	struct hy_nvme_ns ns;
	uint32_t depth;
	int ret;

	if (!nd) {
		ERRF("device %s: out of memory", cfg->name);
		return NULL;
	}
	snprintf(nd->name, sizeof(nd->name), "%s", cfg->name);
	nd->nq = cfg->nqueues;
	nd->iova_base = HY_NVME_GUEST_IOVA_BASE;
	ret = hy_nvme_vfio_open(&nd->vfio, cfg->pci);
	if (ret < 0) {
		ERRF("device %s: %s", cfg->name, nd->vfio.err);
		goto err_free;
	}
	hy_nvme_vfio_ctrl_cfg(&nd->vfio, &cc);
	cc.opts.io_queues = (uint16_t)cfg->nqueues;
	ret = hy_nvme_ctrl_init(&nd->ctrl, &cc);
	if (ret < 0) {
		ERRF("device %s: NVMe controller %s could not be brought up: %s%s", cfg->name,
		     cfg->pci, strerror(-ret),
		     ret == -ETIMEDOUT
			     ? " (it never became ready; check it in a VM or host where the kernel's nvme driver works, then bind it again)"
			     : "");
		goto err_vfio;
	}
	ret = hy_nvme_ctrl_identify_ns(&nd->ctrl, cfg->nsid, &ns);
	if (ret == -ENODEV || ret == -EINVAL) {
		uint32_t ids[16];
		char list[128] = "";
		int n = hy_nvme_ctrl_active_ns(&nd->ctrl, ids, 16);

		for (int i = 0; i < n; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%u",
				 i ? ", " : "", ids[i]);
		ERRF("device %s: namespace %u does not exist on %s (%s%s); set namespace: to one of them",
		     cfg->name, cfg->nsid, cfg->pci,
		     n > 0 ? "active namespaces: " : "no active namespace", list);
		ret = -ENODEV;
		goto err_ctrl;
	}
	if (ret < 0) {
		ERRF("device %s: namespace %u of %s cannot be used: %s (the log above says why)",
		     cfg->name, cfg->nsid, cfg->pci, strerror(-ret));
		goto err_ctrl;
	}
	ret = namespace_check(nd, cfg, &ns, info, err, errlen);
	if (ret < 0)
		goto err_ctrl;
	if (nd->ctrl.info.io_queues < cfg->nqueues) {
		ERRF("device %s: controller %s grants %u I/O queue pairs; the topology asks for %u queues (one pair each)",
		     cfg->name, cfg->pci, nd->ctrl.info.io_queues, cfg->nqueues);
		ret = -EINVAL;
		goto err_ctrl;
	}
	/* Room for every request of a full ring, and for some split across several commands. */
	depth = cfg->queue_size * 2;
	depth = depth < MIN_DEPTH ? MIN_DEPTH : depth > MAX_DEPTH ? MAX_DEPTH : depth;
	if (depth > nd->ctrl.info.mqes)
		depth = nd->ctrl.info.mqes;
	for (unsigned q = 0; q < nd->nq; q++) {
		ret = queue_alloc(nd, q, (uint16_t)depth);
		if (ret < 0) {
			ERRF("device %s: memory for NVMe queue pair %u: %s", cfg->name, q + 1,
			     strerror(-ret));
			goto err_queues;
		}
		ret = queue_create(nd, q);
		if (ret < 0) {
			ERRF("device %s: controller %s refused to create I/O queue pair %u: %s",
			     cfg->name, cfg->pci, q + 1, strerror(-ret));
			goto err_queues;
		}
	}
	info->nvme_q = nd->bq;
	hy_log(INFO, 0,
	       "device %s: %s %s (fw %s) at %s, namespace %u: %llu blocks of %u bytes, %u queue pairs of %u, MDTS %u bytes%s%s%s",
	       cfg->name, nd->ctrl.info.mn, nd->ctrl.info.sn, nd->ctrl.info.fr, cfg->pci, ns.nsid,
	       (unsigned long long)ns.nsze, 1u << ns.lba_shift, nd->nq, depth,
	       nd->ctrl.info.max_xfer, ns.vwc ? ", write cache" : "", ns.dsm ? ", deallocate" : "",
	       ns.write_zeroes ? ", write zeroes" : "");
	return nd;

err_queues:
	for (unsigned q = 0; q < nd->nq; q++)
		queue_free(nd, q);
err_ctrl:
	hy_nvme_ctrl_fini(&nd->ctrl);
err_vfio:
	hy_nvme_vfio_close(&nd->vfio);
err_free:
	free(nd);
	errno = -ret;
	return NULL;
}

static void map_drop(struct hy_nvme_dev *nd, struct hy_nvme_map *m)
{
	int ret = nd->ctrl.dma->unmap(nd->ctrl.dma_priv, m->iova, m->size);

	if (ret < 0)
		hy_log(WARN, ret, "device %s: IOMMU unmap of guest memory at 0x%llx failed",
		       nd->name, (unsigned long long)m->iova);
	munmap(m->map_base, m->map_len);
	memset(m, 0, sizeof(*m));
}

static int map_one(struct hy_nvme_dev *nd, const struct hy_chan_region *r, int fd, uint64_t base,
		   struct hy_nvme_map *m)
{
	int ret;

	memset(m, 0, sizeof(*m));
	if (r->gpa > UINT64_MAX - base - r->size || r->mmap_offset > SIZE_MAX - r->size) {
		hy_log(ERR, 0,
		       "device %s: guest memory region at gpa 0x%llx (%llu bytes, offset %llu) does not fit the IOVA space",
		       nd->name, (unsigned long long)r->gpa, (unsigned long long)r->size,
		       (unsigned long long)r->mmap_offset);
		return -EINVAL;
	}
	if (r->gpa % PAGE || r->size % PAGE || r->mmap_offset % PAGE) {
		hy_log(ERR, 0,
		       "device %s: guest memory region at gpa 0x%llx (%llu bytes, offset %llu) is not page aligned; the device cannot map it",
		       nd->name, (unsigned long long)r->gpa, (unsigned long long)r->size,
		       (unsigned long long)r->mmap_offset);
		return -EINVAL;
	}
	m->gpa = r->gpa;
	m->size = r->size;
	m->iova = base + r->gpa;
	if (!hy_nvme_vfio_iova_ok(&nd->vfio, m->iova, m->size)) {
		hy_log(ERR, 0,
		       "device %s: guest memory at gpa 0x%llx (%llu bytes) would sit at IOVA 0x%llx, beyond what the IOMMU of %s translates",
		       nd->name, (unsigned long long)r->gpa, (unsigned long long)r->size,
		       (unsigned long long)m->iova, nd->vfio.bdf);
		return -ERANGE;
	}
	m->map_len = r->mmap_offset + r->size;
	m->map_base = mmap(NULL, m->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->map_base == MAP_FAILED) {
		ret = -errno;
		hy_log(ERR, ret, "device %s: mmap() of guest memory region gpa 0x%llx failed",
		       nd->name, (unsigned long long)r->gpa);
		memset(m, 0, sizeof(*m));
		return ret;
	}
	ret = nd->ctrl.dma->map(nd->ctrl.dma_priv, (uint8_t *)m->map_base + r->mmap_offset, m->size,
				m->iova);
	if (ret < 0) {
		hy_log(ERR, ret,
		       "device %s: IOMMU map of guest memory gpa 0x%llx (%llu bytes) at IOVA 0x%llx failed",
		       nd->name, (unsigned long long)r->gpa, (unsigned long long)r->size,
		       (unsigned long long)m->iova);
		munmap(m->map_base, m->map_len);
		memset(m, 0, sizeof(*m));
		return ret;
	}
	return 0;
}

/* [lo, hi) of the IOVAs the current table uses; lo == hi when it is empty. */
static void current_span(const struct hy_nvme_dev *nd, uint64_t *lo, uint64_t *hi)
{
	*lo = *hi = 0;
	for (unsigned i = 0; i < nd->nmaps; i++) {
		if (!i || nd->maps[i].iova < *lo)
			*lo = nd->maps[i].iova;
		if (nd->maps[i].iova + nd->maps[i].size > *hi)
			*hi = nd->maps[i].iova + nd->maps[i].size;
	}
}

int hy_nvme_dev_map_table(struct hy_nvme_dev *nd, const struct hy_chan_region *regions,
			  const int *fds, unsigned n)
{
	uint64_t lo, hi, end = 0, start = UINT64_MAX, base = HY_NVME_GUEST_IOVA_BASE;
	int ret = 0;

	hy_nvme_dev_unmap_old(nd);
	for (unsigned i = 0; i < n; i++) {
		if (regions[i].gpa < start)
			start = regions[i].gpa;
		if (regions[i].gpa + regions[i].size > end)
			end = regions[i].gpa + regions[i].size;
	}
	/* A window of its own: the lowest 1 GiB-aligned base that misses the current table. */
	current_span(nd, &lo, &hi);
	if (n && lo < hi && base + start < hi && base + end > lo)
		base = ROUND_UP(hi, GIB);
	for (unsigned i = 0; i < n; i++) {
		ret = map_one(nd, &regions[i], fds[i], base, &nd->old[i]);
		if (ret < 0) {
			while (i--)
				map_drop(nd, &nd->old[i]);
			return ret;
		}
	}
	/* The new table becomes current; the old one waits in old[] for the workers. */
	for (unsigned i = 0; i < n || i < nd->nmaps; i++) {
		struct hy_nvme_map t = nd->maps[i];

		nd->maps[i] = nd->old[i];
		nd->old[i] = t;
	}
	nd->nold = nd->nmaps;
	nd->nmaps = n;
	nd->iova_base = base;
	return 0;
}

void hy_nvme_dev_unmap_old(struct hy_nvme_dev *nd)
{
	for (unsigned i = 0; i < nd->nold; i++)
		map_drop(nd, &nd->old[i]);
	nd->nold = 0;
}

int hy_nvme_dev_map_region(struct hy_nvme_dev *nd, const struct hy_chan_region *r, int fd)
{
	int ret;

	if (nd->nmaps >= HY_CHAN_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < nd->nmaps; i++)
		if (r->gpa < nd->maps[i].gpa + nd->maps[i].size &&
		    nd->maps[i].gpa < r->gpa + r->size) {
			hy_log(ERR, 0, "device %s: ADD_MEM_REG at gpa 0x%llx overlaps a region",
			       nd->name, (unsigned long long)r->gpa);
			return -EINVAL;
		}
	ret = map_one(nd, r, fd, nd->iova_base, &nd->maps[nd->nmaps]);
	if (ret < 0)
		return ret;
	nd->nmaps++;
	return 0;
}

void hy_nvme_dev_unmap_region(struct hy_nvme_dev *nd, const struct hy_chan_region *r)
{
	for (unsigned i = 0; i < nd->nmaps; i++) {
		if (nd->maps[i].gpa != r->gpa || nd->maps[i].size != r->size)
			continue;
		map_drop(nd, &nd->maps[i]);
		nd->maps[i] = nd->maps[--nd->nmaps];
		memset(&nd->maps[nd->nmaps], 0, sizeof(nd->maps[0]));
		return;
	}
}

void hy_nvme_dev_unmap_all(struct hy_nvme_dev *nd)
{
	hy_nvme_dev_unmap_old(nd);
	for (unsigned i = 0; i < nd->nmaps; i++)
		map_drop(nd, &nd->maps[i]);
	nd->nmaps = 0;
}

/*
 * Controller Level Reset (Base 2.0, 3.7.2): every I/O queue pair of the device is gone with it.
 * Return: -ERESTART (reset done: the device's workers must restart), or the reset's -errno.
 */
static int ctrl_reset(struct hy_nvme_dev *nd)
{
	int ret = hy_nvme_ctrl_reset(&nd->ctrl);

	nd->resets++;
	for (unsigned i = 0; i < nd->nq; i++) {
		nd->q[i].created = false;
		nd->q[i].used = false;
	}
	if (ret < 0) {
		hy_log(ERR, ret, "device %s: controller %s did not come back", nd->name,
		       nd->vfio.bdf);
		return ret;
	}
	return -ERESTART;
}

int hy_nvme_dev_queue_prepare(struct hy_nvme_dev *nd, unsigned q)
{
	struct hy_nvme_dev_queue *dq = &nd->q[q];
	int ret, result = 0;

	if (q >= nd->nq)
		return -EINVAL;
	if (dq->created && !dq->used) {
		dq->used = true;
		return 0;
	}
	if (dq->created) {
		/* Base 2.0, 5.7: completes once every command of the SQ is done or aborted. */
		ret = hy_nvme_ctrl_delete_ioq(&nd->ctrl, (uint16_t)(q + 1));
		dq->created = false;
		if (ret < 0) {
			hy_log(ERR, ret,
			       "device %s: controller %s did not delete I/O queue pair %u; resetting it",
			       nd->name, nd->vfio.bdf, q + 1);
			result = ctrl_reset(nd);
			if (result != -ERESTART)
				return result;
		}
	}
	ret = hy_nvme_ctrl_check(&nd->ctrl);
	if (ret < 0) {
		hy_log(ERR, ret, "device %s: controller %s is not healthy (CSTS); resetting it",
		       nd->name, nd->vfio.bdf);
		result = ctrl_reset(nd);
		if (result != -ERESTART)
			return result;
	}
	ret = queue_create(nd, q);
	if (ret < 0)
		return ret;
	dq->used = true;
	return result;
}

void hy_nvme_dev_close(struct hy_nvme_dev *nd)
{
	if (!nd)
		return;
	for (unsigned q = 0; q < nd->nq; q++)
		queue_free(nd, q);
	hy_nvme_dev_unmap_all(nd);
	hy_nvme_ctrl_fini(&nd->ctrl);
	hy_nvme_vfio_close(&nd->vfio);
	free(nd);
}

static uint64_t le128_low(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

int hy_nvme_dev_status_json(struct hy_nvme_dev *nd, char *buf, size_t len)
{
	struct hy_nvme_smart_log s;
	const struct hy_nvme_ctrl_info *ci = &nd->ctrl.info;
	int n;

	n = snprintf(
		buf, len,
		"{\"pci\": \"%s\", \"model\": \"%s\", \"serial\": \"%s\", \"firmware\": \"%s\", \"queue_pairs\": %u, \"queue_depth\": %u, \"max_transfer\": %u, \"resets\": %llu, \"healthy\": %s",
		nd->vfio.bdf, ci->mn, ci->sn, ci->fr, nd->nq, nd->q[0].depth, ci->max_xfer,
		(unsigned long long)nd->resets,
		hy_nvme_ctrl_check(&nd->ctrl) == 0 ? "true" : "false");
	if (n < 0 || (size_t)n >= len)
		return n;
	if (hy_nvme_ctrl_smart_log(&nd->ctrl, &s) == 0)
		n += snprintf(
			buf + n, len - (size_t)n,
			", \"critical_warning\": %u, \"temperature_c\": %d, \"percent_used\": %u, \"media_errors\": %llu, \"error_log_entries\": %llu",
			s.critical_warning,
			(int)(s.composite_temp[0] | s.composite_temp[1] << 8) - 273, s.percent_used,
			(unsigned long long)le128_low(s.media_errors),
			(unsigned long long)le128_low(s.num_err_log_entries));
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "}");
	return n;
}
