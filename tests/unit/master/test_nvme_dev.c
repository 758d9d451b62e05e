/* SPDX-License-Identifier: MIT */
/*
 * The master's IOMMU bookkeeping for the nvme backend (master/nvme_dev.c): guest memory tables
 * mapped at base + gpa, a replacing table in a window of its own while the old one stays mapped,
 * ADD/REM of single regions, refusal of what the device cannot map, and the worker's side of the
 * same arithmetic (hy_mem_iova()). The DMA ops are a fake that records every mapping and refuses
 * overlaps the way VFIO type1 does (EEXIST); no controller is involved.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "master/nvme_dev.h"
#include "worker/mem.h"

#define MIB	 (1ull << 20)
#define GIB	 (1ull << 30)
#define MAX_MAPS 64

static struct {
	uint64_t iova;
	size_t len;
	uint8_t *vaddr;
} maps[MAX_MAPS];
static unsigned nmaps, map_calls, unmap_calls, fail_map_at;

static int fake_map(void *priv, void *vaddr, size_t len, uint64_t iova)
{
	(void)priv;
	map_calls++;
	if (fail_map_at && map_calls == fail_map_at)
		return -ENOMEM;
	for (unsigned i = 0; i < nmaps; i++)
		if (iova < maps[i].iova + maps[i].len && maps[i].iova < iova + len)
			return -EEXIST;
	cr_assert_lt(nmaps, MAX_MAPS);
	maps[nmaps].iova = iova;
	maps[nmaps].len = len;
	maps[nmaps].vaddr = vaddr;
	nmaps++;
	return 0;
}

static int fake_unmap(void *priv, uint64_t iova, size_t len)
{
	(void)priv;
	unmap_calls++;
	for (unsigned i = 0; i < nmaps; i++)
		if (maps[i].iova == iova && maps[i].len == len) {
			maps[i] = maps[--nmaps];
			return 0;
		}
	cr_assert_fail("unmap of [0x%llx, +%zu) that was never mapped", (unsigned long long)iova,
		       len);
	return -ENOENT;
}

static const struct hy_nvme_dma_ops fake_ops = {.map = fake_map, .unmap = fake_unmap};
static struct hy_nvme_dev nd;
static int fds[4];

/* The device's view: the host byte at IOVA @iova, or NULL. */
static uint8_t *device_byte(uint64_t iova)
{
	for (unsigned i = 0; i < nmaps; i++)
		if (iova >= maps[i].iova && iova < maps[i].iova + maps[i].len)
			return maps[i].vaddr + (iova - maps[i].iova);
	return NULL;
}

static void setup(void)
{
	memset(&nd, 0, sizeof(nd));
	strcpy(nd.name, "vda");
	nd.ctrl.dma = &fake_ops;
	nd.vfio.niova = 0; /* no IOVA ranges reported: everything allowed */
	nd.iova_base = HY_NVME_GUEST_IOVA_BASE;
	nmaps = map_calls = unmap_calls = fail_map_at = 0;
	for (int i = 0; i < 4; i++) {
		fds[i] = memfd_create("guest", 0);
		cr_assert_geq(fds[i], 0);
		cr_assert_eq(ftruncate(fds[i], (off_t)(4 * MIB)), 0);
	}
}

static void teardown(void)
{
	hy_nvme_dev_unmap_all(&nd);
	cr_assert_eq(nmaps, 0, "%u mappings left behind", nmaps);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

TestSuite(nvme_dev, .init = setup, .fini = teardown);

static struct hy_chan_region region(uint64_t gpa, uint64_t size, uint64_t off)
{
	struct hy_chan_region r = {
		.gpa = gpa, .size = size, .uva = 0x7f0000000000ull + gpa, .mmap_offset = off};
	return r;
}

Test(nvme_dev, table_is_mapped_at_base_plus_gpa)
{
	struct hy_chan_region r[2] = {region(0, 2 * MIB, 0), region(GIB, 2 * MIB, MIB)};
	uint8_t *p;

	cr_assert_eq(hy_nvme_dev_map_table(&nd, r, fds, 2), 0);
	cr_assert_eq(nd.iova_base, HY_NVME_GUEST_IOVA_BASE);
	cr_assert_eq(nmaps, 2);
	/* The byte at gpa G of region 1 is byte mmap_offset + (G - gpa) of its fd. */
	cr_assert_eq(pwrite(fds[1], "X", 1, (off_t)(MIB + 4096 + 7)), 1);
	p = device_byte(HY_NVME_GUEST_IOVA_BASE + GIB + 4096 + 7);
	cr_assert_not_null(p);
	cr_assert_eq(*p, 'X');
	cr_assert_null(device_byte(HY_NVME_GUEST_IOVA_BASE + 2 * MIB), "a hole was mapped");
}

Test(nvme_dev, replacing_table_gets_its_own_window_until_the_old_one_is_dropped)
{
	struct hy_chan_region a[1] = {region(0, 4 * MIB, 0)};
	struct hy_chan_region b[2] = {region(0, 2 * MIB, 0), region(2 * MIB, 2 * MIB, 0)};
	uint64_t old_base;

	cr_assert_eq(hy_nvme_dev_map_table(&nd, a, fds, 1), 0);
	old_base = nd.iova_base;
	cr_assert_eq(hy_nvme_dev_map_table(&nd, b, fds + 1, 2), 0);
	cr_assert_neq(nd.iova_base, old_base, "the new table reuses the window of the live one");
	cr_assert_eq(nd.iova_base % GIB, 0);
	/* Both tables mapped: workers still on the old one keep working while they switch. */
	cr_assert_eq(nmaps, 3);
	cr_assert_not_null(device_byte(old_base + 3 * MIB));
	cr_assert_not_null(device_byte(nd.iova_base + 3 * MIB));
	hy_nvme_dev_unmap_old(&nd);
	cr_assert_eq(nmaps, 2);
	cr_assert_null(device_byte(old_base + 3 * MIB));
	/* A third table may take the first window again. */
	cr_assert_eq(hy_nvme_dev_map_table(&nd, a, fds, 1), 0);
	cr_assert_eq(nd.iova_base, old_base);
	hy_nvme_dev_unmap_old(&nd);
	cr_assert_eq(nmaps, 1);
}

Test(nvme_dev, failed_table_leaves_the_current_one_alone)
{
	struct hy_chan_region a[1] = {region(0, 4 * MIB, 0)};
	struct hy_chan_region b[3] = {region(0, MIB, 0), region(MIB, MIB, 0),
				      region(2 * MIB, MIB, 0)};

	cr_assert_eq(hy_nvme_dev_map_table(&nd, a, fds, 1), 0);
	fail_map_at = map_calls + 3; /* the third region of b fails */
	cr_assert_eq(hy_nvme_dev_map_table(&nd, b, fds + 1, 3), -ENOMEM);
	cr_assert_eq(nmaps, 1, "a half-mapped table stayed");
	cr_assert_eq(nd.nmaps, 1);
	cr_assert_eq(nd.iova_base, HY_NVME_GUEST_IOVA_BASE);
	cr_assert_not_null(device_byte(HY_NVME_GUEST_IOVA_BASE + 3 * MIB));
}

Test(nvme_dev, unmappable_regions_are_refused)
{
	struct hy_chan_region r;

	r = region(512, MIB, 0); /* gpa not page aligned */
	cr_assert_eq(hy_nvme_dev_map_table(&nd, &r, fds, 1), -EINVAL);
	r = region(0, MIB + 100, 0); /* size not page aligned */
	cr_assert_eq(hy_nvme_dev_map_table(&nd, &r, fds, 1), -EINVAL);
	r = region(0, MIB, 12); /* offset not page aligned */
	cr_assert_eq(hy_nvme_dev_map_table(&nd, &r, fds, 1), -EINVAL);
	r = region(UINT64_MAX - MIB + 1, MIB, 0); /* base + gpa wraps */
	cr_assert_eq(hy_nvme_dev_map_table(&nd, &r, fds, 1), -EINVAL);
	/* Beyond what the IOMMU translates (39 bits, as QEMU's intel-iommu). */
	nd.vfio.niova = 1;
	nd.vfio.iova[0].start = 0;
	nd.vfio.iova[0].end = (1ull << 39) - 1;
	r = region(1ull << 39, MIB, 0);
	cr_assert_eq(hy_nvme_dev_map_table(&nd, &r, fds, 1), -ERANGE);
	cr_assert_eq(nmaps, 0);
	cr_assert_eq(map_calls, 0, "the IOMMU was asked for something it cannot do");
}

Test(nvme_dev, add_and_remove_single_regions)
{
	struct hy_chan_region a = region(0, 2 * MIB, 0), b = region(GIB, 2 * MIB, 0);
	struct hy_chan_region overlap = region(MIB, 2 * MIB, 0);

	cr_assert_eq(hy_nvme_dev_map_table(&nd, &a, fds, 1), 0);
	cr_assert_eq(hy_nvme_dev_map_region(&nd, &b, fds[1]), 0);
	cr_assert_not_null(device_byte(nd.iova_base + GIB));
	cr_assert_eq(hy_nvme_dev_map_region(&nd, &overlap, fds[2]), -EINVAL);
	cr_assert_eq(nmaps, 2);
	hy_nvme_dev_unmap_region(&nd, &a);
	cr_assert_null(device_byte(nd.iova_base));
	cr_assert_not_null(device_byte(nd.iova_base + GIB));
	cr_assert_eq(nd.nmaps, 1);
	/* Removing what is not there changes nothing. */
	hy_nvme_dev_unmap_region(&nd, &a);
	cr_assert_eq(nmaps, 1);
}

Test(nvme_dev, worker_translation_matches_the_master_mapping)
{
	struct hy_chan_region r[2] = {region(0, 2 * MIB, 0), region(GIB, 2 * MIB, MIB)};
	struct hy_mem mem;
	uint8_t *p, *q, stack[64];
	uint64_t iova;

	cr_assert_eq(hy_nvme_dev_map_table(&nd, r, fds, 2), 0);
	hy_mem_init(&mem);
	mem.iova_base = nd.iova_base;
	cr_assert_eq(hy_mem_add(&mem, &r[0], fds[0]), 0);
	cr_assert_eq(hy_mem_add(&mem, &r[1], fds[1]), 0);
	/* What the worker computes for a buffer is where the device finds the same bytes. */
	p = hy_mem_gpa(&mem, GIB + 8192 + 3, 100);
	cr_assert_not_null(p);
	memset(p, 0xa5, 100);
	cr_assert_eq(hy_mem_iova(&mem, p, 100, &iova), 0);
	cr_assert_eq(iova, nd.iova_base + GIB + 8192 + 3);
	q = device_byte(iova);
	cr_assert_eq(q[0], 0xa5);
	cr_assert_eq(q[99], 0xa5);
	/* Outside guest memory, or running off the end of a region: refused. */
	cr_assert_eq(hy_mem_iova(&mem, stack, sizeof(stack), &iova), -EFAULT);
	p = hy_mem_gpa(&mem, 2 * MIB - 16, 16);
	cr_assert_eq(hy_mem_iova(&mem, p, 16, &iova), 0);
	cr_assert_eq(hy_mem_iova(&mem, p, 17, &iova), -EFAULT);
	hy_mem_clear(&mem);
	cr_assert_eq(hy_mem_iova(&mem, p, 1, &iova), -EFAULT);
}
