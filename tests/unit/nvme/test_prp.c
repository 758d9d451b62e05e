/* SPDX-License-Identifier: MIT */
/*
 * nvme/prp.c: PRP1/PRP2/PRP lists for every layout PRPs can express, and refusal of the others.
 *
 * Built PRPs are checked two ways: against exact values for hand-picked cases, and by walking
 * them with the model's independent implementation of the specification's walk (model.c) and
 * comparing the pages it finds with the buffer's bytes, page by page. The exhaustive test covers
 * every dword offset in a page with every sector-multiple length up to MDTS (512 KiB, QEMU's
 * MDTS 7); the random tests cover multi-piece buffers and command windows of them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.c"

#define PS	   4096ull
#define LIST_IOVA  0x7000000000ull /* where the test's PRP list pages live */
#define LIST_PAGES 8
#define DATA	   0x100000000ull /* data IOVAs: never dereferenced, only walked */

static struct model *m;
static uint64_t *list;

static void setup(void)
{
	m = model_new();
	list = aligned_alloc(PS, LIST_PAGES * PS);
	cr_assert_not_null(list);
	memset(list, 0xa5, LIST_PAGES * PS);
	cr_assert_eq(model_dma_ops.map(m, list, LIST_PAGES * PS, LIST_IOVA), 0);
}

static void teardown(void)
{
	free(list);
	model_free(m);
}

TestSuite(prp, .init = setup, .fini = teardown);

static int build(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
		 struct hy_nvme_sqe *sqe, unsigned pages)
{
	memset(sqe, 0, sizeof(*sqe));
	return hy_nvme_prp_build(segs, nseg, off, len, sqe, list, LIST_IOVA, pages);
}

/* The window [off, off + len) of the buffer, cut at page boundaries: what the walk must find. */
static unsigned reference(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
			  struct hy_nvme_seg *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nseg && len; i++) {
		uint64_t a, plen;

		if (off >= segs[i].len) {
			off -= segs[i].len;
			continue;
		}
		a = segs[i].iova + off;
		plen = segs[i].len - off;
		off = 0;
		if (plen > len)
			plen = len;
		len -= plen;
		while (plen) {
			uint64_t chunk = PS - (a & (PS - 1));

			if (chunk > plen)
				chunk = plen;
			if (n == max)
				cr_assert_fail("reference: more than %u pages", max);
			out[n++] = (struct hy_nvme_seg){a, (uint32_t)chunk};
			a += chunk;
			plen -= chunk;
		}
	}
	return n;
}

static struct hy_nvme_seg want[8192], got[8192];

/*
 * Build, walk, compare. Assertions run only on failure: the exhaustive test checks a million
 * layouts, and a passing Criterion assertion is not free.
 */
static void check_layout(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
			 unsigned pages)
{
	struct hy_nvme_sqe sqe;
	unsigned nw = reference(segs, nseg, off, len, want, 8192);
	int ng, ret = build(segs, nseg, off, len, &sqe, pages);

	if (ret)
		cr_assert_fail("build(off %llu, len %llu) = %d", (unsigned long long)off,
			       (unsigned long long)len, ret);
	ng = model_prp_walk(m, sqe.prp1, sqe.prp2, len, got, 8192);
	if (m->errors)
		cr_assert_fail("walk: %s", m->error);
	if ((unsigned)ng != nw)
		cr_assert_fail("pages: walk %d, reference %u (off %llu len %llu)", ng, nw,
			       (unsigned long long)off, (unsigned long long)len);
	for (unsigned i = 0; i < nw; i++)
		if (got[i].iova != want[i].iova || got[i].len != want[i].len)
			cr_assert_fail("page %u: walk (0x%llx, %u), reference (0x%llx, %u)", i,
				       (unsigned long long)got[i].iova, got[i].len,
				       (unsigned long long)want[i].iova, want[i].len);
}

Test(prp, one_page_leaves_prp2_zero)
{
	struct hy_nvme_seg s = {DATA + 512, 512};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(build(&s, 1, 0, 512, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA + 512);
	cr_assert_eq(sqe.prp2, 0);
	s = (struct hy_nvme_seg){DATA, 4096};
	cr_assert_eq(build(&s, 1, 0, 4096, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA);
	cr_assert_eq(sqe.prp2, 0, "a whole page needs no PRP2");
}

Test(prp, second_page_goes_in_prp2)
{
	struct hy_nvme_seg s = {DATA + 512, 4096};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(build(&s, 1, 0, 4096, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA + 512);
	cr_assert_eq(sqe.prp2, DATA + PS);
	s = (struct hy_nvme_seg){DATA, 8192};
	cr_assert_eq(build(&s, 1, 0, 8192, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA);
	cr_assert_eq(sqe.prp2, DATA + PS);
}

Test(prp, three_pages_use_a_list)
{
	struct hy_nvme_seg s = {DATA, 3 * 4096};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(build(&s, 1, 0, s.len, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA);
	cr_assert_eq(sqe.prp2, LIST_IOVA);
	cr_assert_eq(list[0], DATA + PS);
	cr_assert_eq(list[1], DATA + 2 * PS);
}

Test(prp, pieces_become_list_entries)
{
	/* Last 512 bytes of one page, a whole page elsewhere, the start of a third. */
	struct hy_nvme_seg s[] = {
		{DATA + 3584, 512}, {DATA + 0x10000, 4096}, {DATA + 0x40000, 100}};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(hy_nvme_prp_check(s, 3), 3);
	cr_assert_eq(build(s, 3, 0, 512 + 4096 + 100, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA + 3584);
	cr_assert_eq(sqe.prp2, LIST_IOVA);
	cr_assert_eq(list[0], DATA + 0x10000);
	cr_assert_eq(list[1], DATA + 0x40000);
	check_layout(s, 3, 0, 512 + 4096 + 100, 1);
}

Test(prp, window_starts_inside_a_piece)
{
	struct hy_nvme_seg s[] = {{DATA + 3584, 512}, {DATA + 0x10000, 3 * 4096}};
	struct hy_nvme_sqe sqe;

	/* Skip the first piece and 1 KiB of the second: PRP1 carries the offset. */
	cr_assert_eq(build(s, 2, 512 + 1024, 4096, &sqe, 1), 0);
	cr_assert_eq(sqe.prp1, DATA + 0x10000 + 1024);
	cr_assert_eq(sqe.prp2, DATA + 0x11000);
	check_layout(s, 2, 512 + 1024, 2 * 4096, 1);
	/* A window running past the buffer is refused. */
	cr_assert_eq(build(s, 2, 4096, 3 * 4096, &sqe, 1), -EINVAL);
	cr_assert_eq(build(s, 2, 512 + 3 * 4096, 512, &sqe, 1), -EINVAL);
}

Test(prp, exactly_512_entries_fill_one_list_page)
{
	/* 513 pages: PRP1 and 512 list entries; the last slot holds data, not a chain pointer. */
	struct hy_nvme_seg s = {DATA, 513 * 4096};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(build(&s, 1, 0, s.len, &sqe, 1), 0);
	cr_assert_eq(sqe.prp2, LIST_IOVA);
	cr_assert_eq(list[511], DATA + 512 * PS);
	check_layout(&s, 1, 0, s.len, 1);
}

Test(prp, longer_lists_chain)
{
	/* 514 pages: 513 entries, so page 0 holds 511 and a pointer to page 1, which holds 2. */
	struct hy_nvme_seg s = {DATA, 514 * 4096};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(build(&s, 1, 0, s.len, &sqe, 1), -E2BIG, "one list page is not enough");
	cr_assert_eq(build(&s, 1, 0, s.len, &sqe, 2), 0);
	cr_assert_eq(list[510], DATA + 511 * PS);
	cr_assert_eq(list[511], LIST_IOVA + PS, "chain pointer to the next list page");
	cr_assert_eq(list[512], DATA + 512 * PS);
	cr_assert_eq(list[513], DATA + 513 * PS);
	check_layout(&s, 1, 0, s.len, 2);

	/* 8 MiB from an odd offset: 2049 pages, 2048 entries, five list pages. */
	s = (struct hy_nvme_seg){DATA + 4092, 8u << 20};
	cr_assert_eq(hy_nvme_prp_list_pages(8u << 20), 5);
	cr_assert_eq(build(&s, 1, 0, s.len, &sqe, 4), -E2BIG);
	check_layout(&s, 1, 0, s.len, 5);
	for (unsigned p = 0; p < 4; p++)
		cr_assert_eq(list[p * 512 + 511], LIST_IOVA + (p + 1) * PS);
}

Test(prp, list_pages_for_max_transfer)
{
	cr_assert_eq(hy_nvme_prp_list_pages(4096), 1);
	cr_assert_eq(hy_nvme_prp_list_pages(512 << 10), 1);
	cr_assert_eq(hy_nvme_prp_list_pages(2u << 20), 1, "513 pages at worst: 512 entries");
	cr_assert_eq(hy_nvme_prp_list_pages((2u << 20) + 4096), 2);
	cr_assert_eq(hy_nvme_prp_list_pages(4u << 20), 3, "1025 pages: 1024 entries > 511 + 512");
}

Test(prp, inexpressible_layouts_are_refused)
{
	static const struct {
		struct hy_nvme_seg s[3];
		unsigned n;
		const char *why;
	} bad[] = {
		{{{DATA + 2, 512}}, 1, "PRP1 not dword aligned"},
		{{{DATA, 512}, {DATA + PS, 512}}, 2, "first piece ends mid-page"},
		{{{DATA, 4096}, {DATA + 0x10200, 512}}, 2, "second piece starts mid-page"},
		{{{DATA + 512, 3584}, {DATA + 0x10000, 1000}, {DATA + 0x20000, 512}},
		 3,
		 "middle piece is not whole pages"},
		{{{DATA, 4096}, {DATA + PS, 0}, {DATA + 2 * PS, 512}}, 3, "empty piece"},
		{{{0}}, 0, "no pieces"},
	};
	struct hy_nvme_sqe sqe;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t total = 0;

		for (unsigned k = 0; k < bad[i].n; k++)
			total += bad[i].s[k].len;
		cr_assert_eq(hy_nvme_prp_check(bad[i].s, bad[i].n), -EINVAL, "check: %s",
			     bad[i].why);
		cr_assert_eq(build(bad[i].s, bad[i].n, 0, total ? total : 512, &sqe, LIST_PAGES),
			     -EINVAL, "build: %s", bad[i].why);
	}
	/* Dword aligned is enough for PRP1. */
	{
		struct hy_nvme_seg ok = {DATA + 4, 508};

		cr_assert_eq(hy_nvme_prp_check(&ok, 1), 1);
		cr_assert_eq(build(&ok, 1, 0, 508, &sqe, 1), 0);
		cr_assert_eq(sqe.prp1, DATA + 4);
	}
}

/* Every dword offset in a page, every sector multiple up to MDTS (512 KiB). */
Test(prp, every_offset_and_length_up_to_mdts)
{
	unsigned pages = hy_nvme_prp_list_pages(512 << 10);

	for (uint64_t off = 0; off < PS; off += 4)
		for (uint64_t len = 512; len <= (512 << 10); len += 512) {
			struct hy_nvme_seg s = {DATA + 0x200000 + off, (uint32_t)len};

			check_layout(&s, 1, 0, len, pages);
		}
}

/* Lengths that are not sector multiples (the last piece may end anywhere). */
Test(prp, odd_lengths)
{
	for (uint64_t off = 0; off < PS; off += 252)
		for (uint64_t len = 1; len <= 3 * PS; len += 37) {
			struct hy_nvme_seg s = {DATA + off, (uint32_t)len};

			check_layout(&s, 1, 0, len, 1);
		}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

/* A random PRP-compatible buffer: dword-aligned start, whole-page middles, any end. */
static unsigned random_layout(struct hy_nvme_seg *s, unsigned max, uint64_t *total)
{
	unsigned n = 1 + (unsigned)rnd(max);
	uint64_t page = 0x100 + rnd(0x1000);

	*total = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t start = (page + rnd(64)) * PS, len;

		page += 128;
		if (i == 0)
			start += rnd(PS / 4) * 4;
		/* Up to the end of a page... */
		len = (1 + rnd(16)) * PS - (start & (PS - 1));
		/* ...except the last piece, which ends anywhere. */
		if (i == n - 1)
			len = 1 + rnd(len);
		s[i] = (struct hy_nvme_seg){start, (uint32_t)len};
		*total += len;
	}
	return n;
}

Test(prp, random_buffers_and_windows)
{
	struct hy_nvme_seg s[32];

	for (unsigned iter = 0; iter < 20000; iter++) {
		uint64_t total, off, len;
		unsigned n = random_layout(s, 32, &total);

		cr_assert_geq(hy_nvme_prp_check(s, n), 1);
		/* Whole buffer, then a random window starting on a dword. */
		if (total <= (2u << 20))
			check_layout(s, n, 0, total, 1);
		off = rnd(total / 4) * 4;
		len = 1 + rnd(total - off);
		if (len > (2u << 20))
			len = 2u << 20;
		check_layout(s, n, off, len, 1);
	}
}

Test(prp, random_broken_buffers_are_refused)
{
	struct hy_nvme_seg s[32];
	struct hy_nvme_sqe sqe;

	for (unsigned iter = 0; iter < 20000; iter++) {
		uint64_t total;
		unsigned n = random_layout(s, 32, &total), k;

		if (n < 2)
			continue;
		/* Move one inner boundary off its page boundary. */
		k = 1 + (unsigned)rnd(n - 1);
		s[k].iova += 4 * (1 + rnd(PS / 4 - 1));
		cr_assert_eq(hy_nvme_prp_check(s, n), -EINVAL);
		cr_assert_eq(build(s, n, 0, total, &sqe, LIST_PAGES), -EINVAL);
	}
}
