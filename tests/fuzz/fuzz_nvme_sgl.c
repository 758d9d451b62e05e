/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for nvme/sgl.c: the buffer layout comes from a guest (descriptor chains
 * translated to IOVAs), so any list of (IOVA, length) pieces and any command window must either
 * be refused or produce an SGL that the specification's walk (the unit tests' model, written
 * independently, which also checks descriptor types, reserved bytes, segment lengths and
 * dword alignment) resolves to exactly the window's bytes, piece by piece.
 *
 * Input: one byte of mode (bit 0: dword alignment required, bits 2:1: list pages - 1), one byte
 * of piece count, then 12 bytes per piece (IOVA, length), then 8 bytes of window (offset,
 * length). sgl.c and the model are included so that the fuzzer sees their code.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nvme/sgl.c"
#include "tests/unit/nvme/model.c"

#define MAX_SEGS  1200 /* more than three list pages hold */
#define MAX_PAGES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t take(const uint8_t **p, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, *p, n);
	*p += n;
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model *m;
	static struct hy_nvme_sgl_desc *list;
	static struct hy_nvme_seg segs[MAX_SEGS], got[MAX_SEGS];
	const uint8_t *p = data;
	uint64_t total = 0, off, len, skip, left;
	struct hy_nvme_sqe sqe;
	unsigned nseg, pages, want = 0, k = 0;
	bool dword;
	int check, ret, n;
	uint16_t st;

	if (!m) {
		m = model_new();
		list = aligned_alloc(HY_NVME_PAGE_SIZE, MAX_PAGES * HY_NVME_PAGE_SIZE);
		if (!list || model_dma_ops.map(m, list, MAX_PAGES * HY_NVME_PAGE_SIZE, 1ull << 45))
			abort();
	}
	if (size < 2)
		return 0;
	dword = data[0] & 1;
	pages = 1 + ((data[0] >> 1) & 3);
	p += 1;
	/* Mostly few pieces; a high count byte repeats the given ones to fill list pages. */
	nseg = take(&p, 1);
	nseg = nseg < 200 ? 1 + nseg % 32 : 1 + (nseg - 200) * 20;
	if (size < 2 + 12 + 8)
		return 0;
	{
		size_t given = (size - 2 - 8) / 12;

		if (given > nseg)
			given = nseg;
		for (unsigned i = 0; i < nseg; i++) {
			const uint8_t *q = data + 2 + (i % given) * 12;

			segs[i].iova = take(&q, 8) & ((1ull << 40) - 1);
			segs[i].len = (uint32_t)take(&q, 4) & ((1u << 16) - 1);
			if (i >= given) /* spread the copies out */
				segs[i].iova += (uint64_t)i << 20;
			total += segs[i].len;
		}
		p = data + 2 + given * 12;
	}
	off = take(&p, 4) & ((1u << 24) - 1);
	len = take(&p, 4) & ((1u << 24) - 1);

	/* The Data Blocks the window should give. */
	skip = off;
	left = len;
	for (unsigned i = 0; i < nseg && left; i++) {
		if (skip >= segs[i].len) {
			skip -= segs[i].len;
			continue;
		}
		left -= segs[i].len - skip < left ? segs[i].len - skip : left;
		skip = 0;
		want++;
	}

	check = hy_nvme_sgl_check(segs, nseg, dword);
	memset(&sqe, 0, sizeof(sqe));
	ret = hy_nvme_sgl_build(segs, nseg, off, len, dword, &sqe, list, 1ull << 45, pages);
	/* A window of a valid layout, inside the buffer (on dwords in dword mode), always builds
	 * unless it has more pieces than the list pages hold. */
	if (check > 0 && len && off + len <= total && (!dword || !((off | len) & 3)) && ret != 0 &&
	    !(ret == -E2BIG && want > HY_NVME_SGL_MAX_DESCS(pages)))
		__builtin_trap();
	if (ret)
		return 0;
	if ((sqe.flags & HY_NVME_PSDT_MASK) != HY_NVME_PSDT_SGL)
		__builtin_trap();
	/* Whatever was built must walk to exactly the window's pieces. */
	m->errors = 0;
	m->idc.sgls = dword ? HY_NVME_SGLS_DWORD_ALIGN : HY_NVME_SGLS_SUPPORTED;
	n = model_sgl_walk(m, &sqe.sgl1, len, got, MAX_SEGS, &st);
	if (n <= 0 || m->errors || (unsigned)n != want)
		__builtin_trap();
	skip = off;
	for (unsigned i = 0; i < nseg && len; i++) {
		uint64_t a, plen;

		if (skip >= segs[i].len) {
			skip -= segs[i].len;
			continue;
		}
		a = segs[i].iova + skip;
		plen = segs[i].len - skip < len ? segs[i].len - skip : len;
		skip = 0;
		len -= plen;
		if (got[k].iova != a || got[k].len != plen)
			__builtin_trap();
		k++;
	}
	if (k != (unsigned)n)
		__builtin_trap();
	return 0;
}
