/* SPDX-License-Identifier: MIT */
/*
 * PRP entries and lists (NVMe Base 2.0, 4.1.1 "Physical Region Page Entry and List").
 *
 * With CC.MPS = 0 a memory page is 4 KiB. PRP1 holds the address of the first byte, which may be
 * anywhere in its page as long as it is dword aligned; every further entry holds the address of a
 * whole page (offset 0). If the data fits in the first page PRP2 is unused; if it ends in the
 * second page PRP2 is that page; otherwise PRP2 points to a PRP List. A list page holds 512
 * entries; when more are needed its last entry points to the next list page instead.
 *
 * The buffer comes as (IOVA, length) pieces. Here they describe one command's window [off,
 * off + len) of a request; the request may be split over several commands (MDTS, nvme/qpair.c),
 * and any window of a valid layout that starts dword aligned is a valid layout.
 */
#include <errno.h>
#include <limits.h>

#include "nvme/nvme.h"

#define PRP_PAGE_MASK ((uint64_t)HY_NVME_PAGE_SIZE - 1)

int hy_nvme_prp_check(const struct hy_nvme_seg *segs, unsigned nseg)
{
	uint64_t pages = 0;

	if (!nseg)
		return -EINVAL;
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t start = segs[i].iova, end = start + segs[i].len;

		if (!segs[i].len || end < start)
			return -EINVAL;
		if (i == 0 && (start & 3))
			return -EINVAL; /* PRP1: dword-aligned offset */
		if (i > 0 && (start & PRP_PAGE_MASK))
			return -EINVAL; /* later entries: offset 0 */
		if (i + 1 < nseg && (end & PRP_PAGE_MASK))
			return -EINVAL; /* a hole before the next page */
		pages += ((end + PRP_PAGE_MASK) >> HY_NVME_PAGE_SHIFT) -
			 (start >> HY_NVME_PAGE_SHIFT);
	}
	return pages > INT_MAX ? INT_MAX : (int)pages;
}

unsigned hy_nvme_prp_list_pages(uint32_t max_xfer)
{
	/* Worst case starts at the last dword of a page. */
	uint64_t pages =
		((uint64_t)max_xfer + HY_NVME_PAGE_SIZE - 4 + PRP_PAGE_MASK) >> HY_NVME_PAGE_SHIFT;
	uint64_t entries = pages ? pages - 1 : 0;

	if (entries <= HY_NVME_PRP_PER_PAGE)
		return 1;
	/* The first page holds 511 entries and a chain pointer; so does every page but the last. */
	return 1 + (unsigned)((entries - HY_NVME_PRP_PER_PAGE + HY_NVME_PRP_PER_PAGE - 2) /
			      (HY_NVME_PRP_PER_PAGE - 1));
}

struct prp_writer {
	uint64_t *list;
	uint64_t list_iova;
	unsigned pages;
	unsigned page; /* list page being filled */
	unsigned slot; /* next entry in it */
	uint32_t n;    /* entries after PRP1 */
};

/*
 * Append one list entry. A page's last slot takes an entry tentatively; if yet another entry
 * comes, that one moves to the next page and the slot becomes the chain pointer. So a list of
 * exactly 512 entries needs no second page, as the specification intends.
 */
static int prp_emit(struct prp_writer *w, uint64_t addr)
{
	if (w->slot == HY_NVME_PRP_PER_PAGE) {
		uint64_t *cur = w->list + (size_t)w->page * HY_NVME_PRP_PER_PAGE;
		uint64_t *next = cur + HY_NVME_PRP_PER_PAGE;

		if (w->page + 1 >= w->pages)
			return -E2BIG;
		next[0] = cur[HY_NVME_PRP_PER_PAGE - 1];
		cur[HY_NVME_PRP_PER_PAGE - 1] =
			w->list_iova + (uint64_t)(w->page + 1) * HY_NVME_PAGE_SIZE;
		w->page++;
		w->slot = 1;
	}
	w->list[(size_t)w->page * HY_NVME_PRP_PER_PAGE + w->slot++] = addr;
	w->n++;
	return 0;
}

int hy_nvme_prp_build(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
		      struct hy_nvme_sqe *sqe, uint64_t *list, uint64_t list_iova,
		      unsigned list_pages)
{
	struct prp_writer w = {.list = list,
			       .list_iova = list_iova,
			       .pages = list_pages,
			       .page = 0,
			       .slot = 0,
			       .n = 0};
	uint64_t remaining = len;
	bool first = true;
	unsigned i = 0;
	int ret;

	if (!len || !list_pages)
		return -EINVAL;
	/* Find the piece where the window starts. */
	for (; i < nseg; i++) {
		if (!segs[i].len)
			return -EINVAL;
		if (off < segs[i].len)
			break;
		off -= segs[i].len;
	}
	for (; i < nseg && remaining; i++) {
		uint64_t start = segs[i].iova + off;
		uint64_t plen = segs[i].len - off;
		uint64_t addr, end;

		if (!segs[i].len)
			return -EINVAL;
		off = 0;
		if (plen > remaining)
			plen = remaining;
		end = start + plen;
		if (end < start)
			return -EINVAL;
		remaining -= plen;
		if (first ? (start & 3) : (start & PRP_PAGE_MASK))
			return -EINVAL;
		if (remaining && (end & PRP_PAGE_MASK))
			return -EINVAL;
		addr = start;
		if (first) {
			sqe->prp1 = start;
			addr = (start & ~PRP_PAGE_MASK) + HY_NVME_PAGE_SIZE;
			first = false;
		}
		for (; addr < end; addr += HY_NVME_PAGE_SIZE) {
			ret = prp_emit(&w, addr);
			if (ret)
				return ret;
		}
	}
	if (remaining)
		return -EINVAL; /* the window runs past the buffer */
	if (w.n == 0)
		sqe->prp2 = 0;
	else if (w.n == 1)
		sqe->prp2 = list[0]; /* the second page itself, no list */
	else
		sqe->prp2 = list_iova;
	return 0;
}
