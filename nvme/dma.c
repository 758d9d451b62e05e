/* SPDX-License-Identifier: MIT */
/*
 * The driver's DMA memory: an IOVA allocator for its own window and page-aligned buffers mapped
 * through the platform's DMA ops (VFIO_IOMMU_MAP_DMA, or the test model's table).
 *
 * Control path only: queues, PRP list pools and the admin scratch page are allocated when a
 * controller or queue pair is set up, never per I/O.
 */
#define HY_LOG_COMPONENT "nvme"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "nvme/nvme.h"
#include "shm/log.h"

#define IOVA_PAGE_MASK ((uint64_t)HY_NVME_PAGE_SIZE - 1)

static uint64_t iova_round_up(uint64_t len)
{
	return (len + IOVA_PAGE_MASK) & ~IOVA_PAGE_MASK;
}

int hy_nvme_iova_init(struct hy_nvme_iova_space *s, uint64_t base, uint64_t size)
{
	if (!size || (base & IOVA_PAGE_MASK) || (size & IOVA_PAGE_MASK) || base + size < base)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->size = size;
	s->free[0].start = base;
	s->free[0].len = size;
	s->nfree = 1;
	return 0;
}

int hy_nvme_iova_alloc(struct hy_nvme_iova_space *s, uint64_t len, uint64_t *iova)
{
	if (!len || len > s->size)
		return -EINVAL;
	len = iova_round_up(len);
	for (unsigned i = 0; i < s->nfree; i++) {
		if (s->free[i].len < len)
			continue;
		*iova = s->free[i].start;
		s->free[i].start += len;
		s->free[i].len -= len;
		if (!s->free[i].len) {
			memmove(&s->free[i], &s->free[i + 1],
				(s->nfree - i - 1) * sizeof(s->free[0]));
			s->nfree--;
		}
		return 0;
	}
	return -ENOSPC;
}

int hy_nvme_iova_free(struct hy_nvme_iova_space *s, uint64_t iova, uint64_t len)
{
	unsigned i;

	if (!len)
		return -EINVAL;
	len = iova_round_up(len);
	if (iova < s->base || iova + len > s->base + s->size || iova + len < iova)
		return -EINVAL;
	/* The first free range after the one being returned. */
	for (i = 0; i < s->nfree && s->free[i].start < iova; i++)
		;
	/* Overlapping a free neighbour means this range (or part of it) was freed already. */
	if (i > 0 && s->free[i - 1].start + s->free[i - 1].len > iova)
		return -EINVAL;
	if (i < s->nfree && iova + len > s->free[i].start)
		return -EINVAL;

	bool join_prev = i > 0 && s->free[i - 1].start + s->free[i - 1].len == iova;
	bool join_next = i < s->nfree && iova + len == s->free[i].start;

	if (join_prev && join_next) {
		s->free[i - 1].len += len + s->free[i].len;
		memmove(&s->free[i], &s->free[i + 1], (s->nfree - i - 1) * sizeof(s->free[0]));
		s->nfree--;
	} else if (join_prev) {
		s->free[i - 1].len += len;
	} else if (join_next) {
		s->free[i].start = iova;
		s->free[i].len += len;
	} else {
		if (s->nfree == HY_NVME_IOVA_EXTENTS)
			return -ENOSPC;
		memmove(&s->free[i + 1], &s->free[i], (s->nfree - i) * sizeof(s->free[0]));
		s->free[i].start = iova;
		s->free[i].len = len;
		s->nfree++;
	}
	return 0;
}

int hy_nvme_dma_alloc(struct hy_nvme_ctrl *ctrl, size_t len, struct hy_nvme_dma_buf *buf)
{
	size_t size = (size_t)iova_round_up(len);
	void *p;
	int ret;

	memset(buf, 0, sizeof(*buf));
	if (!len)
		return -EINVAL;
	/* Anonymous mmap: page aligned and zeroed; populated so the first DMA never faults it in.
	 */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
		 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		hy_log(ERR, ret, "%s: mmap() of %zu bytes of DMA memory failed", ctrl->name, size);
		return ret;
	}
	/*
	 * A child must not share these pages copy-on-write: the IOMMU pins the parent's page, and
	 * the first write after fork() would move the parent to a copy the device never sees.
	 */
	(void)madvise(p, size, MADV_DONTFORK);
	ret = hy_nvme_iova_alloc(&ctrl->iova, size, &buf->iova);
	if (ret) {
		hy_log(ERR, ret, "%s: no IOVA space left for %zu bytes in [0x%llx, 0x%llx)",
		       ctrl->name, size, (unsigned long long)ctrl->iova.base,
		       (unsigned long long)(ctrl->iova.base + ctrl->iova.size));
		goto err_unmap;
	}
	ret = ctrl->dma->map(ctrl->dma_priv, p, size, buf->iova);
	if (ret) {
		hy_log(ERR, ret, "%s: mapping %zu bytes for DMA at IOVA 0x%llx failed", ctrl->name,
		       size, (unsigned long long)buf->iova);
		goto err_iova;
	}
	buf->vaddr = p;
	buf->len = size;
	return 0;

err_iova:
	hy_nvme_iova_free(&ctrl->iova, buf->iova, size);
err_unmap:
	munmap(p, size);
	memset(buf, 0, sizeof(*buf));
	return ret;
}

void hy_nvme_dma_free(struct hy_nvme_ctrl *ctrl, struct hy_nvme_dma_buf *buf)
{
	int ret;

	if (!buf->vaddr)
		return;
	ret = ctrl->dma->unmap(ctrl->dma_priv, buf->iova, buf->len);
	if (ret) {
		/* The device may still reach the pages: leak them rather than reuse them. */
		hy_log(ERR, ret, "%s: unmapping IOVA 0x%llx (%zu bytes) failed; leaking it",
		       ctrl->name, (unsigned long long)buf->iova, buf->len);
	} else {
		hy_nvme_iova_free(&ctrl->iova, buf->iova, buf->len);
		munmap(buf->vaddr, buf->len);
	}
	memset(buf, 0, sizeof(*buf));
}
