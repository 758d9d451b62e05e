/* SPDX-License-Identifier: MIT */
/*
 * Guest memory as a worker sees it: the frontend's memory regions (vhost-user SET_MEM_TABLE,
 * ADD_MEM_REG, REM_MEM_REG), mapped into this process, and translation of guest-physical
 * addresses (descriptors) and frontend virtual addresses (SET_VRING_ADDR) to pointers.
 *
 * Everything that reaches here from a guest is hostile: every translation checks the whole
 * [addr, addr + len) range, including integer overflow.
 */
#ifndef HY_WORKER_MEM_H
#define HY_WORKER_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "shm/chan.h"

#define HY_MEM_MAX_REGIONS HY_CHAN_MAX_REGIONS

struct hy_mem_region {
	uint64_t gpa;	      /* guest physical address of the first byte */
	uint64_t size;	      /* bytes */
	uint64_t uva;	      /* frontend (QEMU) virtual address of the first byte */
	uint64_t mmap_offset; /* offset of the first byte in the fd */
	uint8_t *host;	      /* our pointer to the first byte (map_base + mmap_offset) */
	void *map_base;	      /* what mmap() returned */
	size_t map_len;	      /* what was passed to mmap() */
};

struct hy_mem {
	unsigned nregions;
	unsigned last_hit;  /* index of the region that answered the last lookup */
	uint64_t iova_base; /* nvme: the device sees guest address gpa at iova_base + gpa */
	struct hy_mem_region r[HY_MEM_MAX_REGIONS];
};

/** hy_mem_init() - an empty table. */
void hy_mem_init(struct hy_mem *mem);

/**
 * hy_mem_add() - map one region and add it to the table.
 * @mem: the table
 * @desc: the region as the frontend described it
 * @fd: the region's fd; not closed here (the caller closes it after the call, mapped or not)
 *
 * Rejects empty regions, overflowing ranges, regions that overlap one already present in guest
 * physical or frontend virtual space, and a full table.
 * Return: 0, or -EINVAL / -ENOSPC / -errno from mmap().
 */
int hy_mem_add(struct hy_mem *mem, const struct hy_chan_region *desc, int fd);

/**
 * hy_mem_remove() - unmap the region that matches @desc (gpa, size and uva must all match).
 * Return: 0 or -ENOENT.
 */
int hy_mem_remove(struct hy_mem *mem, const struct hy_chan_region *desc);

/** hy_mem_clear() - unmap everything. */
void hy_mem_clear(struct hy_mem *mem);

/**
 * hy_mem_gpa() - translate a guest-physical range that must lie in one region.
 * @mem: the table
 * @gpa: start
 * @len: length in bytes (0 is allowed and checks only @gpa)
 * Return: host pointer, or NULL when any byte is outside guest memory or the range crosses a
 * region boundary.
 */
void *hy_mem_gpa(struct hy_mem *mem, uint64_t gpa, uint64_t len);

void *hy_mem_gpa_partial_lookup(struct hy_mem *mem, uint64_t gpa, uint64_t len, uint64_t *avail);

/**
 * hy_mem_gpa_partial() - translate as much of [gpa, gpa + len) as lies in one region.
 * @avail: set to the number of contiguous bytes available at the returned pointer (<= len)
 *
 * Inline for the descriptor walk, which calls it for every buffer: when the region of the last
 * lookup holds the whole range (nearly always: a request's buffers, and consecutive requests,
 * sit in the same region), a subtraction and two compares; anything else goes through the
 * table (hy_mem_gpa_partial_lookup()).
 * Return: host pointer, or NULL when @gpa itself is outside guest memory or gpa + len overflows.
 */
static inline void *hy_mem_gpa_partial(struct hy_mem *mem, uint64_t gpa, uint64_t len,
				       uint64_t *avail)
{
	const struct hy_mem_region *r = &mem->r[mem->last_hit];
	uint64_t off = gpa - r->gpa;

	/* off < size and len <= size - off: the range is inside r, so gpa + len cannot wrap. */
	if (__builtin_expect(mem->last_hit < mem->nregions && off < r->size && len <= r->size - off,
			     1)) {
		*avail = len;
		return r->host + off;
	}
	return hy_mem_gpa_partial_lookup(mem, gpa, len, avail);
}

/**
 * hy_mem_iova() - the device (IOMMU) address of a host range inside one region.
 * @mem: the table
 * @p: a pointer hy_mem_gpa() or hy_mem_gpa_partial() returned, or one inside such a range
 * @len: bytes from @p, which must all lie in the same region
 * @iova: set to iova_base + the range's guest-physical address
 *
 * nvme/README-nvme.md, "IOVA scheme": the master maps every region at iova_base + gpa before
 * the worker sees the table, so the translation is one addition. Hot path.
 * Return: 0, or -EFAULT when [p, p + len) is not inside one mapped region.
 */
int hy_mem_iova(struct hy_mem *mem, const void *p, uint64_t len, uint64_t *iova);

/**
 * hy_mem_uva() - translate a frontend virtual range (vring addresses) that must lie in one region.
 * Return: host pointer or NULL.
 */
void *hy_mem_uva(struct hy_mem *mem, uint64_t uva, uint64_t len);

#endif
