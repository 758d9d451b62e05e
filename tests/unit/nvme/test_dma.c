/* SPDX-License-Identifier: MIT */
/* nvme/dma.c: the IOVA allocator and DMA buffers mapped through the platform's ops. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "model.c"
#include "nvme/nvme.h"

#define BASE 0x40000000ull
#define PG   4096ull

Test(iova, allocates_page_aligned_first_fit)
{
	struct hy_nvme_iova_space s;
	uint64_t a, b, c;

	cr_assert_eq(hy_nvme_iova_init(&s, BASE, 16 * PG), 0);
	cr_assert_eq(hy_nvme_iova_alloc(&s, 1, &a), 0);
	cr_assert_eq(a, BASE);
	cr_assert_eq(hy_nvme_iova_alloc(&s, PG + 1, &b), 0, "rounded up to two pages");
	cr_assert_eq(b, BASE + PG);
	cr_assert_eq(hy_nvme_iova_alloc(&s, PG, &c), 0);
	cr_assert_eq(c, BASE + 3 * PG);
	cr_assert_eq(hy_nvme_iova_alloc(&s, 13 * PG, &c), -ENOSPC);
	cr_assert_eq(hy_nvme_iova_alloc(&s, 0, &c), -EINVAL);
	/* A hole of two pages is reused by a fitting request. */
	cr_assert_eq(hy_nvme_iova_free(&s, b, PG + 1), 0);
	cr_assert_eq(hy_nvme_iova_alloc(&s, 2 * PG, &c), 0);
	cr_assert_eq(c, BASE + PG);
}

Test(iova, frees_merge_and_double_frees_are_refused)
{
	struct hy_nvme_iova_space s;
	uint64_t a[8], big;

	cr_assert_eq(hy_nvme_iova_init(&s, BASE, 8 * PG), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(hy_nvme_iova_alloc(&s, PG, &a[i]), 0);
	cr_assert_eq(s.nfree, 0);
	/* Free in an order that exercises merging left, right and both. */
	cr_assert_eq(hy_nvme_iova_free(&s, a[1], PG), 0);
	cr_assert_eq(hy_nvme_iova_free(&s, a[3], PG), 0);
	cr_assert_eq(s.nfree, 2);
	cr_assert_eq(hy_nvme_iova_free(&s, a[2], PG), 0);
	cr_assert_eq(s.nfree, 1, "1, 2 and 3 merged");
	cr_assert_eq(hy_nvme_iova_free(&s, a[2], PG), -EINVAL, "double free");
	cr_assert_eq(hy_nvme_iova_free(&s, a[0], 2 * PG), -EINVAL, "overlaps a free range");
	cr_assert_eq(hy_nvme_iova_free(&s, BASE + 8 * PG, PG), -EINVAL, "outside");
	for (int i = 0; i < 8; i++)
		if (i < 1 || i > 3)
			cr_assert_eq(hy_nvme_iova_free(&s, a[i], PG), 0);
	cr_assert_eq(s.nfree, 1);
	cr_assert_eq(hy_nvme_iova_alloc(&s, 8 * PG, &big), 0, "everything merged back");
	cr_assert_eq(big, BASE);
}

Test(iova, free_list_overflow_is_reported)
{
	struct hy_nvme_iova_space s;
	uint64_t a[2 * HY_NVME_IOVA_EXTENTS + 2];
	unsigned n = sizeof(a) / sizeof(a[0]);

	cr_assert_eq(hy_nvme_iova_init(&s, BASE, n * PG), 0);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(hy_nvme_iova_alloc(&s, PG, &a[i]), 0);
	/* Every other page: each free range stands alone. */
	for (unsigned i = 0; i < HY_NVME_IOVA_EXTENTS; i++)
		cr_assert_eq(hy_nvme_iova_free(&s, a[2 * i], PG), 0);
	cr_assert_eq(hy_nvme_iova_free(&s, a[2 * HY_NVME_IOVA_EXTENTS], PG), -ENOSPC);
	cr_assert_eq(hy_nvme_iova_init(&s, BASE + 1, PG), -EINVAL);
	cr_assert_eq(hy_nvme_iova_init(&s, BASE, 0), -EINVAL);
}

static int failing_map(void *priv, void *vaddr, size_t len, uint64_t iova)
{
	return -EFAULT;
}

static int failing_unmap(void *priv, uint64_t iova, size_t len)
{
	return -EIO;
}

Test(dma, buffers_are_mapped_zeroed_and_unmapped)
{
	struct model *m = model_new();
	struct hy_nvme_ctrl ctrl;
	struct hy_nvme_dma_buf a, b;
	static const struct hy_nvme_dma_ops bad = {.map = failing_map, .unmap = failing_unmap};

	memset(&ctrl, 0, sizeof(ctrl));
	strcpy(ctrl.name, "test");
	ctrl.dma = &model_dma_ops;
	ctrl.dma_priv = m;
	cr_assert_eq(hy_nvme_iova_init(&ctrl.iova, BASE, 64 * PG), 0);

	cr_assert_eq(hy_nvme_dma_alloc(&ctrl, 100, &a), 0);
	cr_assert_eq(a.len, PG);
	cr_assert_eq((uintptr_t)a.vaddr % PG, 0);
	cr_assert_eq(a.iova, BASE);
	cr_assert_eq(model_iova(m, a.iova, PG), a.vaddr, "the device sees it at its IOVA");
	for (size_t i = 0; i < PG; i++)
		cr_assert_eq(((uint8_t *)a.vaddr)[i], 0);
	cr_assert_eq(hy_nvme_dma_alloc(&ctrl, 3 * PG, &b), 0);
	cr_assert_eq(b.iova, BASE + PG);
	hy_nvme_dma_free(&ctrl, &a);
	cr_assert_null(a.vaddr);
	cr_assert_null(model_iova(m, BASE, PG), "unmapped");
	hy_nvme_dma_free(&ctrl, &a); /* no-op */
	hy_nvme_dma_free(&ctrl, &b);
	cr_assert_eq(m->nmap, 0);
	cr_assert_eq(ctrl.iova.nfree, 1, "all IOVA space back");

	/* A failed map gives the IOVA back. */
	ctrl.dma = &bad;
	cr_assert_eq(hy_nvme_dma_alloc(&ctrl, PG, &a), -EFAULT);
	cr_assert_null(a.vaddr);
	cr_assert_eq(ctrl.iova.nfree, 1);
	cr_assert_eq(ctrl.iova.free[0].len, 64 * PG);
	model_free(m);
}
