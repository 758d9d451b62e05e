/* SPDX-License-Identifier: MIT */
/*
 * Guest memory regions as the vhost-user spec describes them ("Memory regions" and
 * VhostUserMemoryRegion): each region is a range of guest physical addresses, the frontend's
 * virtual address of its first byte, and an fd whose byte mmap_offset holds that first byte.
 *
 * Every region in the table has gpa + size, uva + size and mmap_offset + size representable
 * (checked in hy_mem_add()), so a lookup only needs "addr - base < size" and
 * "len <= size - offset": no sum that could wrap is ever formed from guest input.
 */
#define HY_LOG_COMPONENT "mem"

#include "worker/mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "shm/log.h"

void hy_mem_init(struct hy_mem *mem)
{
	memset(mem, 0, sizeof(*mem));
}

/* [a, a + alen) and [b, b + blen) intersect; neither end wraps (checked by the caller). */
static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int region_check(const struct hy_mem *mem, const struct hy_chan_region *d)
{
	if (d->size == 0) {
		hy_log(WARN, 0, "region gpa 0x%llx is empty", (unsigned long long)d->gpa);
		return -EINVAL;
	}
	/* The last byte of a region must be addressable: "end" stays representable. */
	if (d->size > UINT64_MAX - d->gpa || d->size > UINT64_MAX - d->uva ||
	    d->size > UINT64_MAX - d->mmap_offset || d->mmap_offset + d->size > SIZE_MAX) {
		hy_log(WARN, 0, "region gpa 0x%llx uva 0x%llx offset 0x%llx + %llu bytes overflows",
		       (unsigned long long)d->gpa, (unsigned long long)d->uva,
		       (unsigned long long)d->mmap_offset, (unsigned long long)d->size);
		return -EINVAL;
	}
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct hy_mem_region *r = &mem->r[i];

		if (ranges_overlap(d->gpa, d->size, r->gpa, r->size) ||
		    ranges_overlap(d->uva, d->size, r->uva, r->size)) {
			hy_log(WARN, 0,
			       "region gpa 0x%llx uva 0x%llx (%llu bytes) overlaps region %u "
			       "(gpa 0x%llx uva 0x%llx, %llu bytes)",
			       (unsigned long long)d->gpa, (unsigned long long)d->uva,
			       (unsigned long long)d->size, i, (unsigned long long)r->gpa,
			       (unsigned long long)r->uva, (unsigned long long)r->size);
			return -EINVAL;
		}
	}
	if (mem->nregions >= HY_MEM_MAX_REGIONS) {
		hy_log(WARN, 0, "memory table full (%u regions)", mem->nregions);
		return -ENOSPC;
	}
	return 0;
}

/**
 * hy_mem_add() - map one region and add it to the table.
 * @mem: the table
 * @desc: the region as the frontend described it
 * @fd: the region's fd; not closed here
 *
 * Maps mmap_offset + size bytes of @fd from offset 0 (the vhost-user spec's mmap_offset is an
 * offset inside the mapping, not necessarily page aligned) and points the region's host at
 * map_base + mmap_offset. A regular file shorter than the mapping is refused: touching the
 * missing tail would kill the worker with SIGBUS. Called from the worker's control path.
 * Return: 0, or -EINVAL / -ENOSPC / -errno from fstat() or mmap().
 */
int hy_mem_add(struct hy_mem *mem, const struct hy_chan_region *desc, int fd)
{
	struct hy_mem_region *r;
	struct stat st;
	size_t map_len;
	void *base;
	int ret;

	ret = region_check(mem, desc);
	if (ret)
		return ret;
	map_len = (size_t)(desc->mmap_offset + desc->size);

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		hy_log(ERR, ret, "fstat() of region gpa 0x%llx fd %d failed",
		       (unsigned long long)desc->gpa, fd);
		return ret;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < map_len) {
		hy_log(WARN, 0, "region gpa 0x%llx needs %zu bytes of its fd, which has only %lld",
		       (unsigned long long)desc->gpa, map_len, (long long)st.st_size);
		return -EINVAL;
	}

	base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		hy_log(ERR, ret, "mmap() of region gpa 0x%llx (%zu bytes) failed",
		       (unsigned long long)desc->gpa, map_len);
		return ret;
	}

	r = &mem->r[mem->nregions];
	r->gpa = desc->gpa;
	r->size = desc->size;
	r->uva = desc->uva;
	r->mmap_offset = desc->mmap_offset;
	r->map_base = base;
	r->map_len = map_len;
	r->host = (uint8_t *)base + desc->mmap_offset;
	mem->nregions++;
	hy_log(DEBUG, 0, "region %u: gpa 0x%llx uva 0x%llx %llu bytes at %p", mem->nregions - 1,
	       (unsigned long long)r->gpa, (unsigned long long)r->uva, (unsigned long long)r->size,
	       (void *)r->host);
	return 0;
}

static void region_unmap(struct hy_mem_region *r)
{
	if (munmap(r->map_base, r->map_len) < 0)
		hy_log(ERR, errno, "munmap() of region gpa 0x%llx (%zu bytes) failed",
		       (unsigned long long)r->gpa, r->map_len);
}

/**
 * hy_mem_remove() - unmap the region that matches @desc (gpa, size and uva must all match).
 * @mem: the table
 * @desc: the region as the frontend described it (mmap_offset is ignored)
 *
 * Pointers into the region (vrings, in-flight iovecs) become invalid: the caller stops whatever
 * uses them first. Called from the worker's control path.
 * Return: 0 or -ENOENT.
 */
int hy_mem_remove(struct hy_mem *mem, const struct hy_chan_region *desc)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		struct hy_mem_region *r = &mem->r[i];

		if (r->gpa != desc->gpa || r->size != desc->size || r->uva != desc->uva)
			continue;
		region_unmap(r);
		memmove(r, r + 1, (mem->nregions - i - 1) * sizeof(*r));
		mem->nregions--;
		memset(&mem->r[mem->nregions], 0, sizeof(mem->r[0]));
		mem->last_hit = 0;
		return 0;
	}
	hy_log(WARN, 0, "no region gpa 0x%llx uva 0x%llx (%llu bytes) to remove",
	       (unsigned long long)desc->gpa, (unsigned long long)desc->uva,
	       (unsigned long long)desc->size);
	return -ENOENT;
}

/** hy_mem_clear() - unmap every region; the table is empty afterwards. */
void hy_mem_clear(struct hy_mem *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		region_unmap(&mem->r[i]);
	hy_mem_init(mem);
}

/*
 * The region holding @addr in gpa (uva == false) or uva space, or NULL. last_hit first: a
 * request's buffers, and consecutive requests, nearly always sit in the same region.
 */
static inline struct hy_mem_region *region_find(struct hy_mem *mem, uint64_t addr, int uva)
{
	struct hy_mem_region *r;
	unsigned i = mem->last_hit;

	if (i < mem->nregions) {
		r = &mem->r[i];
		if (addr - (uva ? r->uva : r->gpa) < r->size)
			return r;
	}
	for (i = 0; i < mem->nregions; i++) {
		r = &mem->r[i];
		if (addr - (uva ? r->uva : r->gpa) < r->size) {
			mem->last_hit = i;
			return r;
		}
	}
	return NULL;
}

/**
 * hy_mem_gpa_partial_lookup() - hy_mem_gpa_partial() through the whole table.
 * @mem: the table
 * @gpa: start
 * @len: length in bytes
 * @avail: set to the number of contiguous bytes available at the returned pointer (<= len),
 *	   0 on failure
 *
 * The descriptor walker calls this per buffer and splits a buffer that continues in the next
 * region into several iovecs. Hot path: no syscall, no logging.
 * Return: host pointer, or NULL when @gpa itself is outside guest memory or gpa + len overflows.
 */
void *hy_mem_gpa_partial_lookup(struct hy_mem *mem, uint64_t gpa, uint64_t len, uint64_t *avail)
{
	struct hy_mem_region *r;
	uint64_t off;

	*avail = 0;
	if (len > UINT64_MAX - gpa)
		return NULL;
	r = region_find(mem, gpa, 0);
	if (!r)
		return NULL;
	off = gpa - r->gpa;
	*avail = len < r->size - off ? len : r->size - off;
	return r->host + off;
}

int hy_mem_iova(struct hy_mem *mem, const void *p, uint64_t len, uint64_t *iova)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned n = 0, i = mem->last_hit; n < mem->nregions;
	     n++, i = (i + 1) % mem->nregions) {
		const struct hy_mem_region *r = &mem->r[i];
		uintptr_t h = (uintptr_t)r->host;

		if (a >= h && a - h < r->size && len <= r->size - (a - h)) {
			*iova = mem->iova_base + r->gpa + (a - h);
			return 0;
		}
	}
	return -EFAULT;
}

/**
 * hy_mem_gpa() - translate a guest-physical range that must lie in one region.
 * @mem: the table
 * @gpa: start
 * @len: length in bytes (0 is allowed and checks only @gpa)
 * Return: host pointer, or NULL when any byte is outside guest memory or the range crosses a
 * region boundary.
 */
void *hy_mem_gpa(struct hy_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t avail;
	void *p = hy_mem_gpa_partial(mem, gpa, len, &avail);

	return p && avail == len ? p : NULL;
}

/**
 * hy_mem_uva() - translate a frontend virtual range (vring addresses) that must lie in one region.
 * @mem: the table
 * @uva: start, in the frontend's address space
 * @len: length in bytes (0 checks only @uva)
 * Return: host pointer or NULL.
 */
void *hy_mem_uva(struct hy_mem *mem, uint64_t uva, uint64_t len)
{
	struct hy_mem_region *r;
	uint64_t off;

	if (len > UINT64_MAX - uva)
		return NULL;
	r = region_find(mem, uva, 1);
	if (!r)
		return NULL;
	off = uva - r->uva;
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}
