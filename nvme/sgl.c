/* SPDX-License-Identifier: MIT */
/*
 * SGLs (NVMe Base 2.0, 4.1.2 "Scatter Gather List (SGL)"), for the layouts PRPs cannot express.
 *
 * With PSDT = 01b a command's DPTR is SGL1, one 16-byte SGL descriptor. A Data Block descriptor
 * addresses any run of bytes, so a buffer of one piece is SGL1 itself. A buffer of several is a
 * list of Data Blocks in an SGL segment, a qword-aligned array of descriptors in host memory that
 * SGL1 points to with a Last Segment descriptor ("the last segment: only Data Blocks follow").
 * A segment may end with a Segment or Last Segment descriptor instead, continuing the list in
 * another segment; here each list page is one segment, so that 256 descriptors fit in the first
 * page, and each further page takes 255 more (its predecessor's last slot becomes the pointer).
 *
 * Controllers that report SGLS bits 1:0 = 10b need every Data Block dword aligned and a whole
 * number of dwords long; 01b accepts any byte alignment. The list pages are the command's PRP
 * list pages (nvme/qpair.c): a command uses PRPs or SGLs, never both.
 */
#include <errno.h>
#include <limits.h>

#include "nvme/nvme.h"

int hy_nvme_sgl_check(const struct hy_nvme_seg *segs, unsigned nseg, bool dword)
{
	if (!nseg || nseg > INT_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t start = segs[i].iova, end = start + segs[i].len;

		if (!segs[i].len || end < start)
			return -EINVAL;
		if (dword && ((start | segs[i].len) & 3))
			return -EINVAL; /* SGLS 10b: Data Block Granularity */
	}
	return (int)nseg;
}

static struct hy_nvme_sgl_desc sgl_desc(unsigned type, uint64_t addr, uint32_t len)
{
	/* Reserved bytes 14:12 stay zero. */
	return (struct hy_nvme_sgl_desc){
		.addr = addr,
		.length = len,
		.id = HY_NVME_SGL_ID(type, HY_NVME_SGL_SUBTYPE_ADDRESS),
	};
}

/* The window's pieces, one at a time: [off, off + len) of @segs, clipped. */
struct sgl_walk {
	const struct hy_nvme_seg *segs;
	unsigned nseg;
	unsigned i;    /* current piece */
	uint64_t skip; /* bytes of it before the window */
	uint64_t left; /* bytes of the window not yet returned */
};

/* Next Data Block of the window. 1 with @d filled, 0 at the end, or -EINVAL. */
static int sgl_next(struct sgl_walk *w, bool dword, struct hy_nvme_sgl_desc *d)
{
	const struct hy_nvme_seg *s;
	uint64_t addr, n;

	if (!w->left)
		return 0;
	if (w->i >= w->nseg)
		return -EINVAL; /* the window runs past the buffer */
	s = &w->segs[w->i];
	if (!s->len || s->iova + s->len < s->iova)
		return -EINVAL;
	addr = s->iova + w->skip;
	n = s->len - w->skip;
	if (n > w->left)
		n = w->left;
	if (dword && ((addr | n) & 3))
		return -EINVAL;
	*d = sgl_desc(HY_NVME_SGL_TYPE_DATA_BLOCK, addr, (uint32_t)n);
	w->left -= n;
	w->skip = 0;
	w->i++;
	return 1;
}

static int sgl_walk_init(struct sgl_walk *w, const struct hy_nvme_seg *segs, unsigned nseg,
			 uint64_t off, uint64_t len)
{
	w->segs = segs;
	w->nseg = nseg;
	w->left = len;
	for (w->i = 0; w->i < nseg; w->i++) {
		if (!segs[w->i].len)
			return -EINVAL;
		if (off < segs[w->i].len)
			break;
		off -= segs[w->i].len;
	}
	w->skip = off;
	return w->i < nseg ? 0 : -EINVAL;
}

int hy_nvme_sgl_build(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
		      bool dword, struct hy_nvme_sqe *sqe, struct hy_nvme_sgl_desc *list,
		      uint64_t list_iova, unsigned list_pages)
{
	const unsigned per_page = HY_NVME_SGL_PER_PAGE;
	struct hy_nvme_sgl_desc d;
	struct sgl_walk w;
	unsigned ndesc = 0, npages, last, page, slot;
	int ret;

	if (!len || !list_pages)
		return -EINVAL;
	/* First pass: check the window and count its Data Blocks. */
	ret = sgl_walk_init(&w, segs, nseg, off, len);
	if (ret)
		return ret;
	while ((ret = sgl_next(&w, dword, &d)) > 0)
		ndesc++;
	if (ret < 0)
		return ret;

	if (ndesc > HY_NVME_SGL_MAX_DESCS(list_pages))
		return -E2BIG;
	sqe->flags = (uint8_t)((sqe->flags & ~HY_NVME_PSDT_MASK) | HY_NVME_PSDT_SGL);
	if (ndesc == 1) {
		sqe->sgl1 = d; /* one piece: SGL1 is its Data Block, no segment */
		return 0;
	}
	/* Every page but the last: 255 Data Blocks and a pointer to the next page. */
	npages = ndesc <= per_page ? 1 : 1 + (ndesc - per_page + per_page - 2) / (per_page - 1);
	last = ndesc - (npages - 1) * (per_page - 1); /* Data Blocks in the last page */
	if (npages == 1)
		sqe->sgl1 = sgl_desc(HY_NVME_SGL_TYPE_LAST_SEGMENT, list_iova, last * 16u);
	else
		sqe->sgl1 = sgl_desc(HY_NVME_SGL_TYPE_SEGMENT, list_iova, per_page * 16u);

	/* Second pass: write them. */
	sgl_walk_init(&w, segs, nseg, off, len);
	page = 0;
	slot = 0;
	while (sgl_next(&w, dword, &d) > 0) {
		struct hy_nvme_sgl_desc *p = list + (size_t)page * per_page;

		if (slot == per_page - 1 && page + 1 < npages) {
			/* Base 2.0, 4.1.2: the segment before the last ends with a Last Segment
			 * descriptor, every earlier one with a Segment descriptor. */
			bool to_last = page + 2 == npages;

			p[slot] = sgl_desc(to_last ? HY_NVME_SGL_TYPE_LAST_SEGMENT
						   : HY_NVME_SGL_TYPE_SEGMENT,
					   list_iova + (uint64_t)(page + 1) * HY_NVME_PAGE_SIZE,
					   (to_last ? last : per_page) * 16u);
			page++;
			slot = 0;
			p = list + (size_t)page * per_page;
		}
		p[slot++] = d;
	}
	return 0;
}
