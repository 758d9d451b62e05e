/* SPDX-License-Identifier: MIT */
/*
 * nvme/sgl.c: SGL1, Last Segment lists and Segment chains for any layout, refusal of what SGLs
 * (or the controller's dword alignment rule) cannot express, and the list page cap.
 *
 * Built SGLs are checked two ways: against exact descriptors for hand-picked cases, and by
 * walking them with the model's independent implementation of the specification's SGL walk
 * (model.c, which also checks types, reserved bytes, segment lengths and that the Data Blocks
 * add up to the command's length) and comparing the pieces it finds with the window of the
 * buffer. The last tests check that the model's walk itself refuses broken SGLs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.c"

#define PS	   4096ull
#define LIST_IOVA  0x7000000000ull /* where the test's SGL segment pages live */
#define LIST_PAGES 4
#define DATA	   0x100000000ull /* data IOVAs: never dereferenced, only walked */

#define DB  HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_DATA_BLOCK, 0)
#define SEG HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_SEGMENT, 0)
#define LST HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_LAST_SEGMENT, 0)

static struct model *m;
static struct hy_nvme_sgl_desc *list;

static void setup(void)
{
	m = model_new();
	m->idc.sgls = HY_NVME_SGLS_SUPPORTED;
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

TestSuite(sgl, .init = setup, .fini = teardown);

static int build(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
		 bool dword, struct hy_nvme_sqe *sqe, unsigned pages)
{
	memset(sqe, 0, sizeof(*sqe));
	return hy_nvme_sgl_build(segs, nseg, off, len, dword, sqe, list, LIST_IOVA, pages);
}

/* The window [off, off + len) of the buffer, cut at piece boundaries: the Data Blocks. */
static unsigned reference(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
			  struct hy_nvme_seg *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nseg && len; i++) {
		uint64_t plen;

		if (off >= segs[i].len) {
			off -= segs[i].len;
			continue;
		}
		plen = segs[i].len - off;
		if (plen > len)
			plen = len;
		if (n == max)
			cr_assert_fail("reference: more than %u pieces", max);
		out[n++] = (struct hy_nvme_seg){segs[i].iova + off, (uint32_t)plen};
		off = 0;
		len -= plen;
	}
	return n;
}

static struct hy_nvme_seg want[2048], got[2048];

/* Build, walk, compare. Assertions run only on failure (the random test checks many layouts). */
static void check_layout(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
			 bool dword, unsigned pages)
{
	struct hy_nvme_sqe sqe;
	unsigned nw = reference(segs, nseg, off, len, want, 2048);
	int ng, ret = build(segs, nseg, off, len, dword, &sqe, pages);
	uint16_t st;

	if (ret)
		cr_assert_fail("build(off %llu, len %llu) = %d", (unsigned long long)off,
			       (unsigned long long)len, ret);
	if ((sqe.flags & HY_NVME_PSDT_MASK) != HY_NVME_PSDT_SGL)
		cr_assert_fail("PSDT is not 01b: flags 0x%x", sqe.flags);
	ng = model_sgl_walk(m, &sqe.sgl1, len, got, 2048, &st);
	if (m->errors)
		cr_assert_fail("walk: %s", m->error);
	if ((unsigned)ng != nw)
		cr_assert_fail("pieces: walk %d, reference %u (off %llu len %llu)", ng, nw,
			       (unsigned long long)off, (unsigned long long)len);
	for (unsigned i = 0; i < nw; i++)
		if (got[i].iova != want[i].iova || got[i].len != want[i].len)
			cr_assert_fail("piece %u: walk (0x%llx, %u), reference (0x%llx, %u)", i,
				       (unsigned long long)got[i].iova, got[i].len,
				       (unsigned long long)want[i].iova, want[i].len);
}

static void assert_desc(const struct hy_nvme_sgl_desc *d, uint8_t id, uint64_t addr, uint32_t len)
{
	cr_assert_eq(d->id, id, "SGL Identifier 0x%02x, want 0x%02x", d->id, id);
	cr_assert_eq(d->addr, addr, "address 0x%llx, want 0x%llx", (unsigned long long)d->addr,
		     (unsigned long long)addr);
	cr_assert_eq(d->length, len, "length %u, want %u", d->length, len);
	cr_assert(!d->rsvd12[0] && !d->rsvd12[1] && !d->rsvd12[2], "reserved bytes 14:12");
}

Test(sgl, one_piece_is_a_data_block_in_sgl1)
{
	struct hy_nvme_seg s = {DATA + 0x123, 1536};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(build(&s, 1, 0, 1536, false, &sqe, 1), 0);
	cr_assert_eq(sqe.flags, HY_NVME_PSDT_SGL, "PSDT 01b, CDW0 bits 15:14");
	assert_desc(&sqe.sgl1, DB, DATA + 0x123, 1536);
	cr_assert_eq(((uint8_t *)&list[0])[15], 0xa5, "no list page used");
	check_layout(&s, 1, 0, 1536, false, 1);
	/* A window inside one piece is one Data Block too. */
	cr_assert_eq(build(&s, 1, 512, 512, false, &sqe, 1), 0);
	assert_desc(&sqe.sgl1, DB, DATA + 0x123 + 512, 512);
	/* Other CDW0 flag bits are left alone. */
	memset(&sqe, 0, sizeof(sqe));
	sqe.flags = 0x80 | 0x01;
	cr_assert_eq(hy_nvme_sgl_build(&s, 1, 0, 1536, false, &sqe, list, LIST_IOVA, 1), 0);
	cr_assert_eq(sqe.flags, HY_NVME_PSDT_SGL | 0x01);
}

Test(sgl, three_odd_pieces_use_a_last_segment)
{
	/* 1536 bytes at three odd offsets inside their pages: no PRP can say this. */
	struct hy_nvme_seg s[] = {
		{DATA + 0x0100, 1536}, {DATA + 0x12300, 1536}, {DATA + 0x29a00, 1536}};
	struct hy_nvme_sqe sqe;

	cr_assert_eq(hy_nvme_prp_check(s, 3), -EINVAL);
	cr_assert_eq(hy_nvme_sgl_check(s, 3, false), 3);
	cr_assert_eq(hy_nvme_sgl_check(s, 3, true), 3, "all dword aligned");
	cr_assert_eq(build(s, 3, 0, 3 * 1536, false, &sqe, 1), 0);
	assert_desc(&sqe.sgl1, LST, LIST_IOVA, 3 * 16);
	assert_desc(&list[0], DB, DATA + 0x0100, 1536);
	assert_desc(&list[1], DB, DATA + 0x12300, 1536);
	assert_desc(&list[2], DB, DATA + 0x29a00, 1536);
	cr_assert_eq(((uint8_t *)&list[3])[15], 0xa5, "nothing written after the list");
	check_layout(s, 3, 0, 3 * 1536, false, 1);
	check_layout(s, 3, 0, 3 * 1536, true, 1);
	cr_assert_eq(m->sgl_segments, 2, "one Last Segment per walk");
}

Test(sgl, windows_start_and_end_inside_pieces)
{
	/* Pieces that end and start mid-page. */
	struct hy_nvme_seg s[] = {
		{DATA + 0xe00, 0x1600}, {DATA + 0x40200, 0x400}, {DATA + 0x50000, 0x3a00}};
	struct hy_nvme_sqe sqe;

	/* Skip 0x1000 of the first piece; end 0x200 into the third. */
	cr_assert_eq(build(s, 3, 0x1000, 0x600 + 0x400 + 0x200, false, &sqe, 1), 0);
	assert_desc(&sqe.sgl1, LST, LIST_IOVA, 3 * 16);
	assert_desc(&list[0], DB, DATA + 0x1e00, 0x600);
	assert_desc(&list[1], DB, DATA + 0x40200, 0x400);
	assert_desc(&list[2], DB, DATA + 0x50000, 0x200);
	check_layout(s, 3, 0x1000, 0xc00, false, 1);
	/* Starting exactly at a piece boundary does not emit an empty Data Block. */
	cr_assert_eq(build(s, 3, 0x1600, 0x400 + 0x3a00, false, &sqe, 1), 0);
	assert_desc(&sqe.sgl1, LST, LIST_IOVA, 2 * 16);
	assert_desc(&list[0], DB, DATA + 0x40200, 0x400);
	check_layout(s, 3, 0x1600, 0x3e00, false, 1);
	/* Windows running past the buffer are refused. */
	cr_assert_eq(build(s, 3, 0x1000, 0x5000, false, &sqe, 1), -EINVAL);
	cr_assert_eq(build(s, 3, 0x5400, 0x200, false, &sqe, 1), -EINVAL);
	cr_assert_eq(build(s, 3, 0, 0, false, &sqe, 1), -EINVAL, "empty window");
	cr_assert_eq(build(s, 3, 0, 512, false, &sqe, 0), -EINVAL, "no list pages");
}

Test(sgl, sector_pieces_at_odd_offsets)
{
	struct hy_nvme_seg s[64];

	for (unsigned i = 0; i < 64; i++)
		s[i] = (struct hy_nvme_seg){DATA + i * 0x1234ull + 4 * i + 0x10, 512};
	cr_assert_eq(hy_nvme_prp_check(s, 64), -EINVAL);
	check_layout(s, 64, 0, 64 * 512, false, 1);
	check_layout(s, 64, 0, 64 * 512, true, 1);
	/* Every sector-aligned window, as MDTS splitting cuts them. */
	for (uint64_t off = 0; off < 64 * 512; off += 512)
		for (uint64_t len = 512; off + len <= 64 * 512; len += 512)
			check_layout(s, 64, off, len, true, 1);
}

Test(sgl, exactly_256_pieces_fill_one_page)
{
	static struct hy_nvme_seg s[256];
	struct hy_nvme_sqe sqe;

	for (unsigned i = 0; i < 256; i++)
		s[i] = (struct hy_nvme_seg){DATA + i * PS + 8, 512};
	cr_assert_eq(HY_NVME_SGL_MAX_DESCS(1), 256);
	cr_assert_eq(build(s, 256, 0, 256 * 512, false, &sqe, 1), 0);
	assert_desc(&sqe.sgl1, LST, LIST_IOVA, 4096);
	assert_desc(&list[255], DB, DATA + 255 * PS + 8, 512);
	cr_assert_eq(((uint8_t *)&list[256])[15], 0xa5, "the second page is untouched");
	check_layout(s, 256, 0, 256 * 512, false, 1);
}

Test(sgl, more_pieces_chain_or_hit_the_cap)
{
	static struct hy_nvme_seg s[1024];
	struct hy_nvme_sqe sqe;

	for (unsigned i = 0; i < 1024; i++)
		s[i] = (struct hy_nvme_seg){DATA + i * PS + 0x100 + (i & 7) * 4, 512 + 4 * (i & 3)};

	/* 257: page 0 holds 255 Data Blocks and a Last Segment pointer to page 1, which holds 2. */
	cr_assert_eq(build(s, 257, 0, 0, false, &sqe, 2), -EINVAL);
	{
		uint64_t len = 0;

		for (unsigned i = 0; i < 257; i++)
			len += s[i].len;
		cr_assert_eq(build(s, 257, 0, len, false, &sqe, 1), -E2BIG, "one page holds 256");
		cr_assert_eq(build(s, 257, 0, len, false, &sqe, 2), 0);
		assert_desc(&sqe.sgl1, SEG, LIST_IOVA, 4096);
		assert_desc(&list[254], DB, s[254].iova, s[254].len);
		assert_desc(&list[255], LST, LIST_IOVA + PS, 2 * 16);
		assert_desc(&list[256], DB, s[255].iova, s[255].len);
		assert_desc(&list[257], DB, s[256].iova, s[256].len);
		m->sgl_segments = 0;
		check_layout(s, 257, 0, len, false, 2);
		cr_assert_eq(m->sgl_segments, 2);
	}
	/* 600: Segment -> page 0 (255 + Segment) -> page 1 (255 + Last Segment) -> page 2 (90). */
	{
		uint64_t len = 0;

		for (unsigned i = 0; i < 600; i++)
			len += s[i].len;
		cr_assert_eq(HY_NVME_SGL_MAX_DESCS(2), 511);
		cr_assert_eq(HY_NVME_SGL_MAX_DESCS(3), 766);
		cr_assert_eq(build(s, 600, 0, len, false, &sqe, 2), -E2BIG);
		cr_assert_eq(build(s, 600, 0, len, false, &sqe, 3), 0);
		assert_desc(&sqe.sgl1, SEG, LIST_IOVA, 4096);
		assert_desc(&list[255], SEG, LIST_IOVA + PS, 4096);
		assert_desc(&list[511], LST, LIST_IOVA + 2 * PS, 90 * 16);
		assert_desc(&list[512], DB, s[510].iova, s[510].len);
		assert_desc(&list[512 + 89], DB, s[599].iova, s[599].len);
		m->sgl_segments = 0;
		check_layout(s, 600, 0, len, false, 3);
		cr_assert_eq(m->sgl_segments, 3);
	}
	/* Three pages hold 766 Data Blocks; a 767th needs a fourth page. */
	{
		uint64_t len = 0;

		for (unsigned i = 0; i < 767; i++)
			len += s[i].len;
		cr_assert_eq(build(s, 766, 0, len - s[766].len, false, &sqe, 3), 0);
		cr_assert_eq(build(s, 767, 0, len, false, &sqe, 3), -E2BIG);
		check_layout(s, 767, 0, len, false, 4);
		/* A window of many pieces that has few of them fits one page. */
		check_layout(s, 767, 600 * 512, 100 * 512, false, 1);
	}
}

Test(sgl, unexpressible_layouts_are_refused)
{
	static const struct {
		struct hy_nvme_seg s[3];
		unsigned n;
		bool dword;
		const char *why;
	} bad[] = {
		{{{DATA, 512}, {DATA + PS, 0}, {DATA + 2 * PS, 512}}, 3, false, "empty piece"},
		{{{DATA, 512}, {~0ull - 100, 512}}, 2, false, "piece wraps the address space"},
		{{{DATA + 1, 512}}, 1, true, "dword mode: odd address"},
		{{{DATA, 510}, {DATA + PS, 2}}, 2, true, "dword mode: length not in dwords"},
		{{{DATA, 512}, {DATA + PS + 2, 512}}, 2, true, "dword mode: second piece"},
		{{{0}}, 0, false, "no pieces"},
	};
	struct hy_nvme_sqe sqe;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t total = 0;

		for (unsigned k = 0; k < bad[i].n; k++)
			total += bad[i].s[k].len;
		cr_assert_eq(hy_nvme_sgl_check(bad[i].s, bad[i].n, bad[i].dword), -EINVAL,
			     "check: %s", bad[i].why);
		cr_assert_eq(build(bad[i].s, bad[i].n, 0, total ? total : 512, bad[i].dword, &sqe,
				   LIST_PAGES),
			     -EINVAL, "build: %s", bad[i].why);
		cr_assert_eq(sqe.flags, 0, "a refused build leaves PSDT alone: %s", bad[i].why);
	}
	/* Without the dword rule, any byte alignment goes. */
	{
		struct hy_nvme_seg ok[] = {{DATA + 1, 1023}, {DATA + PS + 3, 1}, {DATA + 76, 512}};

		cr_assert_eq(hy_nvme_sgl_check(ok, 3, false), 3);
		check_layout(ok, 3, 0, 1536, false, 1);
		cr_assert_eq(hy_nvme_sgl_check(ok, 3, true), -EINVAL);
		/* A window that avoids the odd pieces is fine even in dword mode. */
		check_layout(ok, 3, 1024, 512, true, 1);
	}
}

/* The model's walk refuses what a controller reporting SGLS 10b would. */
Test(sgl, dword_controller_refuses_unaligned_data_blocks)
{
	struct hy_nvme_seg s[] = {{DATA + 2, 1022}, {DATA + PS, 2}};
	struct hy_nvme_sqe sqe;
	uint16_t st;

	m->idc.sgls = HY_NVME_SGLS_DWORD_ALIGN;
	cr_assert_eq(build(s, 2, 0, 1024, false, &sqe, 1), 0, "built for a 01b controller");
	cr_assert_eq(model_sgl_walk(m, &sqe.sgl1, 1024, got, 2048, &st), -1);
	cr_assert_eq(m->errors, 1);
	cr_assert_eq(st, HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_GRANULARITY));
	m->errors = 0;
	m->idc.sgls = 0;
	cr_assert_eq(model_sgl_walk(m, &sqe.sgl1, 1024, got, 2048, &st), -1, "no SGLs at all");
	cr_assert_eq(m->errors, 1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

/* Random pieces anywhere (dword aligned and sized if @dword), random windows. */
static void random_layouts(bool dword)
{
	static struct hy_nvme_seg s[700];
	unsigned mul = dword ? 4 : 1;

	for (unsigned iter = 0; iter < 3000; iter++) {
		unsigned n = 1 + (unsigned)rnd(iter % 10 == 0 ? 700 : 40);
		uint64_t total = 0, off, len;

		for (unsigned i = 0; i < n; i++) {
			s[i].iova = DATA + rnd(1ull << 30) * mul;
			s[i].len = (uint32_t)((1 + rnd(3 * PS)) * mul);
			total += s[i].len;
		}
		cr_assert_eq(hy_nvme_sgl_check(s, n, dword), (int)n);
		if (n <= HY_NVME_SGL_MAX_DESCS(LIST_PAGES))
			check_layout(s, n, 0, total, dword, LIST_PAGES);
		off = rnd(total / mul) * mul;
		len = (1 + rnd((total - off) / mul)) * mul;
		if (reference(s, n, off, len, want, 2048) <= HY_NVME_SGL_MAX_DESCS(LIST_PAGES))
			check_layout(s, n, off, len, dword, LIST_PAGES);
	}
}

Test(sgl, random_layouts_and_windows)
{
	random_layouts(false);
}

Test(sgl, random_dword_layouts_and_windows)
{
	m->idc.sgls = HY_NVME_SGLS_DWORD_ALIGN;
	random_layouts(true);
}

/* ---- the model's walk catches broken SGLs (what the driver's mistakes would look like) ---- */

static void expect_refused(const struct hy_nvme_sgl_desc *sgl1, uint64_t len, uint8_t sc,
			   const char *what)
{
	uint16_t st = 0;

	m->errors = 0;
	cr_assert_eq(model_sgl_walk(m, sgl1, len, got, 2048, &st), -1, "%s: accepted", what);
	cr_assert_eq(m->errors, 1, "%s: no violation recorded", what);
	cr_assert_eq(st, HY_NVME_STATUS(HY_NVME_SCT_GENERIC, sc), "%s: status 0x%x", what, st);
	m->errors = 0;
}

Test(sgl, model_refuses_broken_sgls)
{
	struct hy_nvme_seg s[] = {{DATA + 0x100, 1536}, {DATA + 0x12300, 1536}};
	struct hy_nvme_sqe sqe;
	struct hy_nvme_sgl_desc d;
	uint16_t st;

	cr_assert_eq(build(s, 2, 0, 3072, false, &sqe, 1), 0);
	cr_assert_eq(model_sgl_walk(m, &sqe.sgl1, 3072, got, 2048, &st), 2, "the good one walks");

	expect_refused(&sqe.sgl1, 3071, HY_NVME_SC_SGL_INVALID_DATA, "length off by one");
	expect_refused(&sqe.sgl1, 3073, HY_NVME_SC_SGL_INVALID_DATA, "too short an SGL");
	d = sqe.sgl1;
	d.id = SEG;
	expect_refused(&d, 3072, HY_NVME_SC_SGL_INVALID_LAST, "Segment pointing to the last");
	d = sqe.sgl1;
	d.id = HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_BIT_BUCKET, 0);
	expect_refused(&d, 3072, HY_NVME_SC_SGL_INVALID_TYPE, "Bit Bucket in SGL1");
	d = sqe.sgl1;
	d.id = HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_LAST_SEGMENT, 1);
	expect_refused(&d, 3072, HY_NVME_SC_SGL_INVALID_TYPE, "sub type Offset");
	d = sqe.sgl1;
	d.length = 40;
	expect_refused(&d, 3072, HY_NVME_SC_SGL_INVALID_LAST, "segment length not 16s");
	d = sqe.sgl1;
	d.addr += 4;
	expect_refused(&d, 3072, HY_NVME_SC_SGL_INVALID_LAST, "segment not qword aligned");
	d = sqe.sgl1;
	d.rsvd12[1] = 1;
	expect_refused(&d, 3072, HY_NVME_SC_INVALID_FIELD, "reserved bytes");
	d = sqe.sgl1;
	d.addr = LIST_IOVA + LIST_PAGES * PS;
	m->errors = 0;
	cr_assert_eq(model_sgl_walk(m, &d, 3072, got, 2048, &st), -2, "list not mapped");

	/* Inside the segment. */
	list[1].id = HY_NVME_SGL_ID(HY_NVME_SGL_TYPE_KEYED, 0);
	expect_refused(&sqe.sgl1, 3072, HY_NVME_SC_SGL_INVALID_TYPE, "keyed Data Block");
	list[1] = (struct hy_nvme_sgl_desc){.addr = LIST_IOVA + PS, .length = 16, .id = SEG};
	expect_refused(&sqe.sgl1, 3072, HY_NVME_SC_SGL_INVALID_LAST, "pointer in a Last Segment");
	list[0] = list[1];
	sqe.sgl1.id = SEG;
	expect_refused(&sqe.sgl1, 3072, HY_NVME_SC_SGL_INVALID_LAST,
		       "pointer not in the last slot");
	list[0] = (struct hy_nvme_sgl_desc){.addr = DATA, .length = 0, .id = DB};
	sqe.sgl1.id = LST;
	sqe.sgl1.length = 16;
	expect_refused(&sqe.sgl1, 0, HY_NVME_SC_SGL_INVALID_DATA, "empty Data Block");
	list[0].length = 3072;
	list[0].rsvd12[2] = 0x80;
	expect_refused(&sqe.sgl1, 3072, HY_NVME_SC_INVALID_FIELD, "reserved in a Data Block");
	/* A segment that points at itself. */
	list[0] = (struct hy_nvme_sgl_desc){.addr = LIST_IOVA, .length = 16, .id = SEG};
	sqe.sgl1 = list[0];
	expect_refused(&sqe.sgl1, 3072, HY_NVME_SC_SGL_INVALID_COUNT, "a segment loop");
}
