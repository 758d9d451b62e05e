/* SPDX-License-Identifier: MIT */
/*
 * worker/mem.c: region table, mapping and translation.
 *
 * The fake frontend is one memfd. The test writes through the fd (pwrite) and checks what
 * hy_mem's mappings show, so a wrong host pointer or mmap_offset shows up as wrong data.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "worker/mem.h"

#define FILE_SIZE 0x100000ull /* 1 MiB */

static int memfd = -1;
static struct hy_mem mem;

static void setup(void)
{
	memfd = memfd_create("test_mem", MFD_CLOEXEC);
	cr_assert(memfd >= 0, "memfd_create: %s", strerror(errno));
	cr_assert_eq(ftruncate(memfd, FILE_SIZE), 0);
	hy_mem_init(&mem);
}

static void teardown(void)
{
	hy_mem_clear(&mem);
	close(memfd);
}

TestSuite(mem, .init = setup, .fini = teardown);

/* Two regions, gpa-contiguous, uva in reverse order and far from the gpa (not identity). */
static const struct hy_chan_region r0 = {
	.gpa = 0x0, .size = 0x10000, .uva = 0x7f0000020000, .mmap_offset = 0x0};
static const struct hy_chan_region r1 = {
	.gpa = 0x10000, .size = 0x10000, .uva = 0x7f0000000000, .mmap_offset = 0x10000};
/* Above a hole, with an mmap_offset that is not page aligned. */
static const struct hy_chan_region r2 = {
	.gpa = 0x100000000, .size = 0x8000, .uva = 0x7f0000100000, .mmap_offset = 0x20123};

static void add_three(void)
{
	cr_assert_eq(hy_mem_add(&mem, &r0, memfd), 0);
	cr_assert_eq(hy_mem_add(&mem, &r1, memfd), 0);
	cr_assert_eq(hy_mem_add(&mem, &r2, memfd), 0);
	cr_assert_eq(mem.nregions, 3);
}

/* Write a marker at file offset @off through the fd; return it. */
static uint64_t mark(uint64_t off)
{
	uint64_t v = 0x5a5a000000000000ull ^ off;

	cr_assert_eq(pwrite(memfd, &v, sizeof(v), (off_t)off), (ssize_t)sizeof(v));
	return v;
}

static uint64_t peek(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

Test(mem, init_is_empty)
{
	cr_assert_eq(mem.nregions, 0);
	cr_assert_null(hy_mem_gpa(&mem, 0, 0));
	cr_assert_null(hy_mem_uva(&mem, r0.uva, 1));
}

Test(mem, add_maps_from_offset_zero_and_points_at_mmap_offset)
{
	add_three();
	for (unsigned i = 0; i < 3; i++) {
		const struct hy_mem_region *r = &mem.r[i];

		cr_assert_eq(r->map_len, r->mmap_offset + r->size);
		cr_assert_eq((void *)r->host, (uint8_t *)r->map_base + r->mmap_offset);
	}
	/* What the frontend wrote at the region's first byte is at host[0]. */
	uint64_t v = mark(r2.mmap_offset);
	cr_assert_eq(peek(mem.r[2].host), v);
	/* ...and the mapping is shared: our writes reach the fd. */
	uint64_t w = 0x1122334455667788ull, back = 0;
	memcpy(mem.r[1].host + 0x100, &w, sizeof(w));
	cr_assert_eq(pread(memfd, &back, sizeof(back), (off_t)(r1.mmap_offset + 0x100)),
		     (ssize_t)sizeof(back));
	cr_assert_eq(back, w);
}

Test(mem, gpa_translation_inside_and_at_edges)
{
	add_three();
	uint64_t v0 = mark(0x1230), v1 = mark(0x10000 + 0x40), v2 = mark(r2.mmap_offset + 0x7ff8);

	cr_assert_eq(peek(hy_mem_gpa(&mem, 0x1230, 8)), v0);
	cr_assert_eq(peek(hy_mem_gpa(&mem, 0x10040, 8)), v1);
	/* Last 8 bytes of r2 are inside; one more byte is not. */
	cr_assert_eq(peek(hy_mem_gpa(&mem, r2.gpa + 0x7ff8, 8)), v2);
	cr_assert_null(hy_mem_gpa(&mem, r2.gpa + 0x7ff8, 9));
	cr_assert_null(hy_mem_gpa(&mem, r2.gpa + r2.size, 1));
	cr_assert_null(hy_mem_gpa(&mem, r2.gpa - 1, 1));
	/* The hole between r1 and r2. */
	cr_assert_null(hy_mem_gpa(&mem, 0x20000, 1));
	cr_assert_null(hy_mem_gpa(&mem, 0x80000000, 0));
	/* Whole region at once. */
	cr_assert_eq(hy_mem_gpa(&mem, r1.gpa, r1.size), (void *)mem.r[1].host);
}

Test(mem, gpa_len_zero_checks_only_the_address)
{
	add_three();
	cr_assert_eq(hy_mem_gpa(&mem, 0xfff0, 0), (void *)(mem.r[0].host + 0xfff0));
	cr_assert_null(hy_mem_gpa(&mem, 0x20000, 0));
}

Test(mem, gpa_range_across_regions_is_refused_even_if_both_are_mapped)
{
	add_three();
	/* r0 and r1 are contiguous in gpa space but not in ours. */
	cr_assert_not_null(hy_mem_gpa(&mem, 0xfff8, 8));
	cr_assert_null(hy_mem_gpa(&mem, 0xfff8, 16));
}

Test(mem, gpa_partial_splits_at_region_boundaries)
{
	uint64_t avail = 12345;
	void *p;

	add_three();
	p = hy_mem_gpa_partial(&mem, 0xf800, 0x1000, &avail);
	cr_assert_eq(p, (void *)(mem.r[0].host + 0xf800));
	cr_assert_eq(avail, 0x800);
	p = hy_mem_gpa_partial(&mem, 0x10000, 0x800, &avail);
	cr_assert_eq(p, (void *)mem.r[1].host);
	cr_assert_eq(avail, 0x800);
	/* Fully inside: all of it. */
	p = hy_mem_gpa_partial(&mem, 0x100, 0x100, &avail);
	cr_assert_eq(p, (void *)(mem.r[0].host + 0x100));
	cr_assert_eq(avail, 0x100);
	/* Running into the hole: only up to the end of r1. */
	p = hy_mem_gpa_partial(&mem, 0x1fff0, 0x100, &avail);
	cr_assert_eq(p, (void *)(mem.r[1].host + 0xfff0));
	cr_assert_eq(avail, 0x10);
	/* Starting in the hole. */
	avail = 1;
	cr_assert_null(hy_mem_gpa_partial(&mem, 0x20000, 0x100, &avail));
	cr_assert_eq(avail, 0);
	/* len 0. */
	p = hy_mem_gpa_partial(&mem, 0x10, 0, &avail);
	cr_assert_eq(p, (void *)(mem.r[0].host + 0x10));
	cr_assert_eq(avail, 0);
}

Test(mem, translation_never_wraps_at_2_64)
{
	uint64_t avail = 1;

	add_three();
	cr_assert_null(hy_mem_gpa_partial(&mem, 0x100, UINT64_MAX, &avail));
	cr_assert_eq(avail, 0);
	cr_assert_null(hy_mem_gpa_partial(&mem, UINT64_MAX, 2, &avail));
	/* 0x100 + (2^64 - 0x80) wraps to 0x80, which is inside r0: must still fail. */
	cr_assert_null(hy_mem_gpa(&mem, 0x100, 0ull - 0x80));
	cr_assert_null(hy_mem_uva(&mem, r0.uva + 0x100, 0ull - 0x80));
}

Test(mem, uva_translation)
{
	add_three();
	uint64_t v = mark(0x10000 + 0x2000);

	cr_assert_eq(peek(hy_mem_uva(&mem, r1.uva + 0x2000, 8)), v);
	cr_assert_eq(hy_mem_uva(&mem, r0.uva, r0.size), (void *)mem.r[0].host);
	/* r1's uva range ends where r0's begins: contiguous in uva, still two regions. */
	cr_assert_null(hy_mem_uva(&mem, r1.uva + r1.size - 8, 16));
	cr_assert_null(hy_mem_uva(&mem, r0.uva + r0.size - 8, 16));
	cr_assert_null(hy_mem_uva(&mem, 0x1000, 1));
	/* A gpa is not a uva. */
	cr_assert_null(hy_mem_uva(&mem, 0x10, 1));
}

Test(mem, lookups_alternating_between_regions_use_the_right_one)
{
	add_three();
	uint64_t v0 = mark(0x8000), v1 = mark(0x18000), v2 = mark(r2.mmap_offset + 0x10);

	for (int i = 0; i < 10; i++) {
		cr_assert_eq(peek(hy_mem_gpa(&mem, 0x8000, 8)), v0);
		cr_assert_eq(mem.last_hit, 0);
		cr_assert_eq(peek(hy_mem_gpa(&mem, r2.gpa + 0x10, 8)), v2);
		cr_assert_eq(mem.last_hit, 2);
		cr_assert_eq(peek(hy_mem_gpa(&mem, 0x18000, 8)), v1);
		cr_assert_eq(mem.last_hit, 1);
		/* A miss leaves the cache pointing at a valid region. */
		cr_assert_null(hy_mem_gpa(&mem, 0x30000, 8));
		cr_assert(mem.last_hit < mem.nregions);
	}
}

Test(mem, rejects_empty_region)
{
	struct hy_chan_region r = r0;

	r.size = 0;
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	cr_assert_eq(mem.nregions, 0);
}

Test(mem, rejects_overflowing_ranges)
{
	struct hy_chan_region r;

	/* gpa + size == 2^64: the end is not representable. */
	r = (struct hy_chan_region){.gpa = 0ull - 0x1000, .size = 0x1000, .uva = 0x1000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	r = (struct hy_chan_region){.gpa = 0ull - 0x1000, .size = 0x2000, .uva = 0x1000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	r = (struct hy_chan_region){.gpa = 0x1000, .size = 0x2000, .uva = 0ull - 0x1000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	r = (struct hy_chan_region){
		.gpa = 0x1000, .size = 0x2000, .uva = 0x1000, .mmap_offset = 0ull - 0x1000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	cr_assert_eq(mem.nregions, 0);
}

Test(mem, accepts_region_ending_at_the_top_of_the_address_space)
{
	/* Last byte at 2^64 - 2: end = 2^64 - 1 is representable. */
	struct hy_chan_region r = {.gpa = 0ull - 0x1001, .size = 0x1000, .uva = 0ull - 0x1001};
	uint64_t avail;

	cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0);
	cr_assert_not_null(hy_mem_gpa(&mem, UINT64_MAX - 1, 0));
	cr_assert_null(hy_mem_gpa(&mem, UINT64_MAX, 0));
	cr_assert_not_null(hy_mem_gpa(&mem, r.gpa, r.size));
	cr_assert_null(hy_mem_gpa_partial(&mem, UINT64_MAX - 1, 2, &avail));
	/* Last byte at 2^64 - 2: 8 bytes from 2^64 - 9 fit, 9 would end at 2^64 (wrap to 0). */
	cr_assert_not_null(hy_mem_uva(&mem, UINT64_MAX - 8, 8));
	cr_assert_null(hy_mem_uva(&mem, UINT64_MAX - 8, 9));
	cr_assert_null(hy_mem_uva(&mem, UINT64_MAX - 1, 2));
}

Test(mem, rejects_overlap_in_gpa_space)
{
	struct hy_chan_region r = {.gpa = 0xfff0, .size = 0x20, .uva = 0x40000000};

	cr_assert_eq(hy_mem_add(&mem, &r0, memfd), 0);
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	/* Containing an existing region. */
	r = (struct hy_chan_region){.gpa = 0, .size = 0x100000, .uva = 0x40000000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	/* Inside one. */
	r = (struct hy_chan_region){.gpa = 0x100, .size = 0x10, .uva = 0x40000000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	cr_assert_eq(mem.nregions, 1);
	/* Adjacent is fine. */
	r = (struct hy_chan_region){.gpa = 0x10000, .size = 0x10, .uva = 0x40000000};
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0);
}

Test(mem, rejects_overlap_in_uva_space)
{
	struct hy_chan_region r = {.gpa = 0x50000, .size = 0x1000, .uva = r0.uva + r0.size - 1};

	cr_assert_eq(hy_mem_add(&mem, &r0, memfd), 0);
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	r.uva = r0.uva - 0x1000 + 1;
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	r.uva = r0.uva - 0x1000;
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0);
}

Test(mem, rejects_a_full_table)
{
	struct hy_chan_region r = {.size = 0x1000};

	for (unsigned i = 0; i < HY_MEM_MAX_REGIONS; i++) {
		r.gpa = 0x100000ull * i;
		r.uva = 0x7e0000000000ull + 0x100000ull * i;
		r.mmap_offset = 0x1000ull * i;
		cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0, "region %u", i);
	}
	r.gpa = 0x100000ull * HY_MEM_MAX_REGIONS;
	r.uva = 0x7e0000000000ull + 0x100000ull * HY_MEM_MAX_REGIONS;
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -ENOSPC);
	cr_assert_eq(mem.nregions, HY_MEM_MAX_REGIONS);
	/* Every one of them translates (the linear scan reaches the last). */
	for (unsigned i = 0; i < HY_MEM_MAX_REGIONS; i++)
		cr_assert_eq(hy_mem_gpa(&mem, 0x100000ull * i + 8, 8), (void *)(mem.r[i].host + 8));
}

Test(mem, rejects_bad_fd_and_short_file)
{
	struct hy_chan_region r = r0;

	cr_assert_eq(hy_mem_add(&mem, &r, -1), -EBADF);
	/* The file is 1 MiB: a region needing 1 MiB + 1 byte of it would SIGBUS on access. */
	r.mmap_offset = FILE_SIZE - r.size + 1;
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), -EINVAL);
	r.mmap_offset = FILE_SIZE - r.size;
	cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0);
}

Test(mem, remove_needs_an_exact_match)
{
	struct hy_chan_region r;

	add_three();
	r = r1;
	r.size = 0x8000;
	cr_assert_eq(hy_mem_remove(&mem, &r), -ENOENT);
	r = r1;
	r.uva += 0x1000;
	cr_assert_eq(hy_mem_remove(&mem, &r), -ENOENT);
	r = r1;
	r.gpa += 0x1000;
	cr_assert_eq(hy_mem_remove(&mem, &r), -ENOENT);
	cr_assert_eq(mem.nregions, 3);
}

Test(mem, remove_unmaps_one_region_and_keeps_the_others)
{
	add_three();
	uint64_t v0 = mark(0x10), v2 = mark(r2.mmap_offset + 0x20);

	/* Leave last_hit on the region about to go. */
	cr_assert_not_null(hy_mem_gpa(&mem, r1.gpa, 1));
	cr_assert_eq(hy_mem_remove(&mem, &r1), 0);
	cr_assert_eq(mem.nregions, 2);
	cr_assert_null(hy_mem_gpa(&mem, r1.gpa, 1));
	cr_assert_null(hy_mem_uva(&mem, r1.uva, 1));
	cr_assert_eq(peek(hy_mem_gpa(&mem, 0x10, 8)), v0);
	cr_assert_eq(peek(hy_mem_gpa(&mem, r2.gpa + 0x20, 8)), v2);
	/* Removing it again fails; re-adding works (no overlap with a ghost). */
	cr_assert_eq(hy_mem_remove(&mem, &r1), -ENOENT);
	cr_assert_eq(hy_mem_add(&mem, &r1, memfd), 0);
	cr_assert_not_null(hy_mem_gpa(&mem, r1.gpa, r1.size));
}

Test(mem, clear_empties_the_table)
{
	add_three();
	hy_mem_clear(&mem);
	cr_assert_eq(mem.nregions, 0);
	cr_assert_null(hy_mem_gpa(&mem, 0x10, 1));
	cr_assert_null(hy_mem_gpa(&mem, r2.gpa, 1));
	/* And it can be filled again. */
	add_three();
}
