/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for nvme/prp.c: the buffer layout comes from a guest (descriptor chains
 * translated to IOVAs), so any list of (IOVA, length) pieces and any command window must either
 * be refused or produce PRPs that the specification's walk (the unit tests' model, written
 * independently) resolves to exactly the window's bytes.
 *
 * Input: one byte of piece count, then 12 bytes per piece (IOVA, length), then 8 bytes of
 * window (offset, length). prp.c and the model are included so that the fuzzer sees their code.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nvme/prp.c"
#include "tests/unit/nvme/model.c"

#define MAX_SEGS  16
#define MAX_PAGES 8 /* list pages: room for 4081 entries, ~16 MiB */

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
	static uint64_t *list;
	static struct hy_nvme_seg got[4200];
	struct hy_nvme_seg segs[MAX_SEGS];
	const uint8_t *p = data;
	uint64_t total = 0, off, len, skip;
	struct hy_nvme_sqe sqe;
	unsigned nseg, ngot, k = 0;
	int check, ret, n;

	if (!m) {
		m = model_new();
		list = aligned_alloc(HY_NVME_PAGE_SIZE, MAX_PAGES * HY_NVME_PAGE_SIZE);
		if (!list || model_dma_ops.map(m, list, MAX_PAGES * HY_NVME_PAGE_SIZE, 1ull << 45))
			abort();
	}
	if (size < 1)
		return 0;
	nseg = 1 + (take(&p, 1) % MAX_SEGS);
	if (size < 1 + nseg * 12 + 8)
		return 0;
	for (unsigned i = 0; i < nseg; i++) {
		segs[i].iova = take(&p, 8) & ((1ull << 40) - 1);
		segs[i].len = (uint32_t)take(&p, 4) & ((1u << 22) - 1);
		total += segs[i].len;
	}
	off = take(&p, 4) & ((1u << 24) - 1);
	len = take(&p, 4) & ((1u << 24) - 1);

	check = hy_nvme_prp_check(segs, nseg);
	memset(&sqe, 0, sizeof(sqe));
	ret = hy_nvme_prp_build(segs, nseg, off, len, &sqe, list, 1ull << 45, MAX_PAGES);
	/* A window of a valid layout, starting on a dword, inside the buffer, always builds
	 * (unless it needs more list pages than there are). */
	if (check > 0 && !(off & 3) && len && off + len <= total && ret != 0 &&
	    !(ret == -E2BIG && hy_nvme_prp_list_pages((uint32_t)len) > MAX_PAGES))
		__builtin_trap();
	if (ret)
		return 0;
	/* Whatever was built must walk to exactly the window's bytes, page by page. */
	m->errors = 0;
	n = model_prp_walk(m, sqe.prp1, sqe.prp2, len, got, 4200);
	if (n <= 0 || m->errors)
		__builtin_trap();
	ngot = (unsigned)n;
	skip = off;
	for (unsigned i = 0; i < nseg && len; i++) {
		uint64_t a, plen;

		if (skip >= segs[i].len) {
			skip -= segs[i].len;
			continue;
		}
		a = segs[i].iova + skip;
		plen = segs[i].len - skip;
		skip = 0;
		if (plen > len)
			plen = len;
		len -= plen;
		while (plen) {
			uint64_t chunk = HY_NVME_PAGE_SIZE - (a & (HY_NVME_PAGE_SIZE - 1));

			if (chunk > plen)
				chunk = plen;
			if (k >= ngot || got[k].iova != a || got[k].len != chunk)
				__builtin_trap();
			k++;
			a += chunk;
			plen -= chunk;
		}
	}
	if (k != ngot)
		__builtin_trap();
	return 0;
}
