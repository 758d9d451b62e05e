/* SPDX-License-Identifier: MIT */
/*
 * worker/vring.c: the device side of a split virtqueue, driven by a small fake driver.
 *
 * The fake guest is one memfd cut into regions whose guest-physical and frontend-virtual
 * layouts differ:
 *
 *   R0  gpa 0x0          64 KiB  uva 0x7f1200040000  file 0x0       rings, most buffers
 *   R1  gpa 0x10000      64 KiB  uva 0x7f1200000000  file 0x10000   gpa-contiguous with R0 only
 *       (hole from gpa 0x20000)
 *   R2  gpa 0x100000000   1 MiB  uva 0x7f1300000000  file 0x20000   indirect tables
 *
 * The "driver" writes descriptors and rings through its own mapping of the whole memfd, the way
 * a guest writes its RAM, and the checks compare the worker's iovecs with pointers computed from
 * the region table, and data across the two mappings.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/log.h"
#include "worker/mem.h"
#include "worker/vring.h"

#define R2_GPA	  0x100000000ull
#define FILE_SIZE 0x120000ull

static const struct hy_chan_region regions[] = {
	{.gpa = 0x0, .size = 0x10000, .uva = 0x7f1200040000, .mmap_offset = 0x0},
	{.gpa = 0x10000, .size = 0x10000, .uva = 0x7f1200000000, .mmap_offset = 0x10000},
	{.gpa = R2_GPA, .size = 0x100000, .uva = 0x7f1300000000, .mmap_offset = 0x20000},
};
#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

/* Ring layout in R0. */
#define DESC_GPA  0x1000ull
#define AVAIL_GPA 0x2000ull
#define USED_GPA  0x3000ull
#define BUF_GPA	  0x4000ull

#define F_INDIRECT  (1ull << HY_VIRTIO_RING_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << HY_VIRTIO_RING_F_EVENT_IDX)
#define F_VERSION_1 (1ull << HY_VIRTIO_F_VERSION_1)

#define NEXT  HY_VRING_DESC_F_NEXT
#define WRITE HY_VRING_DESC_F_WRITE
#define IND   HY_VRING_DESC_F_INDIRECT

static int memfd = -1, callfd = -1;
static uint8_t *drv_map; /* the driver's view of all guest RAM */
static struct hy_mem mem;
static struct hy_vring vr;
static struct hy_chain chain;

/* The fake driver's state. */
static struct {
	uint32_t num;
	struct hy_vring_desc *desc;
	struct hy_vring_avail *avail;
	struct hy_vring_used *used;
	uint16_t avail_idx;
} drv;

static uint64_t file_off(uint64_t gpa)
{
	for (unsigned i = 0; i < NREGIONS; i++)
		if (gpa - regions[i].gpa < regions[i].size)
			return regions[i].mmap_offset + (gpa - regions[i].gpa);
	cr_assert_fail("gpa 0x%llx is not guest memory in this test", (unsigned long long)gpa);
	return 0;
}

/* Driver pointer for @gpa. R0 and R1 are contiguous in the file, so ranges may span them. */
static void *gp(uint64_t gpa)
{
	return drv_map + file_off(gpa);
}

/* Where the worker must see @gpa: computed from the region table, not via hy_mem_gpa(). */
static void *host(uint64_t gpa)
{
	for (unsigned i = 0; i < mem.nregions; i++)
		if (gpa - mem.r[i].gpa < mem.r[i].size)
			return mem.r[i].host + (gpa - mem.r[i].gpa);
	cr_assert_fail("gpa 0x%llx is not mapped", (unsigned long long)gpa);
	return NULL;
}

static uint64_t uva(uint64_t gpa)
{
	for (unsigned i = 0; i < NREGIONS; i++)
		if (gpa - regions[i].gpa < regions[i].size)
			return regions[i].uva + (gpa - regions[i].gpa);
	cr_assert_fail("no uva for gpa 0x%llx", (unsigned long long)gpa);
	return 0;
}

static void setup(void)
{
	memfd = memfd_create("test_vring", MFD_CLOEXEC);
	cr_assert(memfd >= 0);
	cr_assert_eq(ftruncate(memfd, FILE_SIZE), 0);
	drv_map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	cr_assert_neq(drv_map, MAP_FAILED);
	hy_mem_init(&mem);
	for (unsigned i = 0; i < NREGIONS; i++)
		cr_assert_eq(hy_mem_add(&mem, &regions[i], memfd), 0);
	callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert(callfd >= 0);
	hy_log_init("test", NULL, HY_LOG_WARN);
}

static void teardown(void)
{
	hy_mem_clear(&mem);
	munmap(drv_map, FILE_SIZE);
	close(callfd);
	close(memfd);
}

TestSuite(vring, .init = setup, .fini = teardown);

static struct hy_chan_vring ring_cfg(uint32_t num, uint64_t features, uint16_t last_avail)
{
	return (struct hy_chan_vring){.features = features | F_VERSION_1,
				      .num = num,
				      .last_avail = last_avail,
				      .desc_uva = uva(DESC_GPA),
				      .avail_uva = uva(AVAIL_GPA),
				      .used_uva = uva(USED_GPA)};
}

/* A fresh ring of @num whose avail and used indices both start at @start. */
static void ring_init(uint32_t num, uint64_t features, uint16_t start)
{
	struct hy_chan_vring cfg = ring_cfg(num, features, start);

	memset(gp(DESC_GPA), 0, 0x3000);
	drv.num = num;
	drv.desc = gp(DESC_GPA);
	drv.avail = gp(AVAIL_GPA);
	drv.used = gp(USED_GPA);
	drv.avail_idx = start;
	drv.avail->idx = start;
	drv.used->idx = start;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, callfd), 0);
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct hy_vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};

	cr_assert(i < drv.num);
	memcpy(&drv.desc[i], &d, sizeof(d));
}

/* Entry @i of an indirect table at @table (any alignment, may span R0 and R1). */
static void ind(uint64_t table, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	struct hy_vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};

	memcpy(gp(table + 16ull * i), &d, sizeof(d));
}

static void publish(uint16_t head)
{
	drv.avail->ring[drv.avail_idx & (drv.num - 1)] = head;
	drv.avail_idx++;
	drv.avail->idx = drv.avail_idx;
}

static uint16_t *used_event(void)
{
	return &drv.avail->ring[drv.num];
}

static uint16_t avail_event(void)
{
	uint16_t v;

	memcpy(&v, &drv.used->ring[drv.num], sizeof(v));
	return v;
}

/* Calls signalled since the last look. */
static uint64_t calls(void)
{
	uint64_t n;

	if (read(callfd, &n, sizeof(n)) != sizeof(n)) {
		cr_assert_eq(errno, EAGAIN);
		return 0;
	}
	return n;
}

/* Linux's vring_need_event(), written independently of vring.c. */
static int drv_need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

static void expect_iov(unsigned k, uint64_t gpa, size_t len)
{
	cr_assert_eq(chain.iov[k].iov_base, host(gpa), "iov[%u] base %p, want %p (gpa 0x%llx)", k,
		     chain.iov[k].iov_base, host(gpa), (unsigned long long)gpa);
	cr_assert_eq(chain.iov[k].iov_len, len, "iov[%u] len %zu, want %zu", k,
		     chain.iov[k].iov_len, len);
}

/* Pop a chain that must be rejected with @err, hand it back, and check the ring still works. */
static void expect_bad_chain(int err, uint16_t head)
{
	uint16_t before = vr.last_avail, used_before = vr.used_idx;
	int ret = hy_vring_pop(&vr, &chain);

	cr_assert_eq(ret, err, "pop returned %d, want %d", ret, err);
	cr_assert_eq(chain.head, head);
	cr_assert_eq(chain.n_out, 0);
	cr_assert_eq(chain.n_in, 0);
	cr_assert_eq(vr.last_avail, (uint16_t)(before + 1), "slot not consumed");
	cr_assert(!vr.broken);

	hy_vring_push(&vr, chain.head, 0);
	hy_vring_flush(&vr);
	cr_assert_eq(drv.used->idx, (uint16_t)(used_before + 1));
	cr_assert_eq(drv.used->ring[used_before & (drv.num - 1)].id, head);
	cr_assert_eq(drv.used->ring[used_before & (drv.num - 1)].len, 0);

	/* The next, valid, chain is served. */
	desc((uint16_t)(drv.num - 1), BUF_GPA, 16, 0, 0);
	publish((uint16_t)(drv.num - 1));
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.head, drv.num - 1);
	expect_iov(0, BUF_GPA, 16);
}

/* ------------------------------------------------------------------------------------------ */

Test(vring, init_takes_state_from_config_and_used_ring)
{
	struct hy_chan_vring cfg = ring_cfg(256, F_INDIRECT | F_EVENT_IDX, 1000);

	drv.used = gp(USED_GPA);
	drv.used->idx = 1234;
	drv.used->flags = HY_VRING_USED_F_NO_NOTIFY;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, 7, 9), 0);
	/* 2.7.10: with EVENT_IDX "The device MUST set flags to 0"; avail_event asks for kicks. */
	cr_assert_eq(drv.used->flags, 0);
	drv.num = 256;
	cr_assert_eq(avail_event(), 1000);
	cr_assert_eq(vr.num, 256);
	cr_assert_eq((void *)vr.desc, host(DESC_GPA));
	cr_assert_eq((void *)vr.avail, host(AVAIL_GPA));
	cr_assert_eq((void *)vr.used, host(USED_GPA));
	cr_assert_eq(vr.last_avail, 1000);
	cr_assert_eq(vr.used_idx, 1234);
	cr_assert(vr.event_idx);
	cr_assert(vr.indirect);
	cr_assert(!vr.broken);
	cr_assert(vr.kicks_enabled);
	cr_assert(!vr.signalled_valid);
	cr_assert_eq(vr.kick_fd, 7);
	cr_assert_eq(vr.call_fd, 9);

	cfg = ring_cfg(1, 0, 0);
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), 0);
	cr_assert(!vr.event_idx);
	cr_assert(!vr.indirect);
	/* Kicks start enabled, and the used ring says so even if a previous worker disabled them.
	 */
	cr_assert_eq(drv.used->flags & HY_VRING_USED_F_NO_NOTIFY, 0);
}

Test(vring, init_rejects_bad_sizes_alignment_and_addresses)
{
	static const uint32_t bad_num[] = {0, 3, 6, 100, 32769, 65536, 1u << 31};
	struct hy_chan_vring cfg;

	for (unsigned i = 0; i < sizeof(bad_num) / sizeof(bad_num[0]); i++) {
		cfg = ring_cfg(bad_num[i], 0, 0);
		cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL, "num %u", bad_num[i]);
	}
	/* virtio 1.2, 2.7: desc 16, avail 2, used 4. */
	cfg = ring_cfg(8, 0, 0);
	cfg.desc_uva += 8;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	cfg = ring_cfg(8, 0, 0);
	cfg.avail_uva += 1;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	cfg = ring_cfg(8, 0, 0);
	cfg.used_uva += 2;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	/* Outside guest memory (a gpa is not a uva). */
	cfg = ring_cfg(8, 0, 0);
	cfg.desc_uva = DESC_GPA;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	/* The used ring's last bytes (avail_event) beyond the end of R0. */
	cfg = ring_cfg(8, 0, 0);
	cfg.used_uva = regions[0].uva + regions[0].size - 68; /* 70 bytes needed */
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	cfg.used_uva -= 4;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), 0);
	/* The avail ring's used_event beyond the end of R1. */
	cfg = ring_cfg(8, 0, 0);
	cfg.avail_uva = regions[1].uva + regions[1].size - (6 + 2 * 8) + 2;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	/* A table of 32768 entries (512 KiB) does not fit in the 64 KiB R0. */
	cfg = ring_cfg(32768, 0, 0);
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	/* It fits in R2. */
	cfg.desc_uva = regions[2].uva;
	cfg.avail_uva = regions[2].uva + 0x80000;
	cfg.used_uva = regions[2].uva + 0x90000;
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), 0);
}

Test(vring, init_rejects_rings_misaligned_in_our_mapping)
{
	/* The frontend's addresses are aligned, but mmap_offset 8 shifts our view. */
	struct hy_chan_region r = {
		.gpa = 0x40000000, .size = 0x8000, .uva = 0x7f5500000000, .mmap_offset = 8};
	struct hy_chan_vring cfg = {.num = 8,
				    .desc_uva = r.uva + 0x1000,
				    .avail_uva = r.uva + 0x2000,
				    .used_uva = r.uva + 0x3000};

	cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0);
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
}

Test(vring, init_checks_alignment_in_both_address_spaces)
{
	/* A region whose mmap_offset is odd: an odd uva there is an even host address. */
	struct hy_chan_region r = {
		.gpa = 0x40000000, .size = 0x8000, .uva = 0x7f5500000000, .mmap_offset = 1};
	struct hy_chan_vring cfg = ring_cfg(8, 0, 0);

	cr_assert_eq(hy_mem_add(&mem, &r, memfd), 0);
	cfg.avail_uva = r.uva + 0x2001; /* misaligned for the frontend, aligned for us */
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	cfg.avail_uva = r.uva + 0x2000; /* the other way round */
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), -EINVAL);
	cfg.avail_uva = uva(AVAIL_GPA);
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), 0);
}

Test(vring, pop_on_an_empty_ring_returns_0)
{
	ring_init(8, 0, 0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 0);
	cr_assert_eq(vr.last_avail, 0);
	cr_assert_eq(hy_vring_avail_pending(&vr), 0);
}

Test(vring, simple_chain_header_data_status)
{
	ring_init(8, 0, 0);
	/* Non-sequential indices, as a driver's free list produces. */
	desc(3, BUF_GPA, 16, NEXT, 5);
	desc(5, 0x5000, 4096, NEXT | WRITE, 1);
	desc(1, 0x7000, 1, WRITE, 0);
	memcpy(gp(BUF_GPA), "header-0123456789", 16);
	publish(3);
	cr_assert_eq(hy_vring_avail_pending(&vr), 1);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.head, 3);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 2);
	cr_assert_eq(chain.out_len, 16);
	cr_assert_eq(chain.in_len, 4097);
	expect_iov(0, BUF_GPA, 16);
	expect_iov(1, 0x5000, 4096);
	expect_iov(2, 0x7000, 1);
	/* Same bytes through both mappings, both ways. */
	cr_assert_eq(memcmp(chain.iov[0].iov_base, "header-0123456789", 16), 0);
	memset(chain.iov[1].iov_base, 0xab, 4096);
	*(uint8_t *)chain.iov[2].iov_base = 0;
	cr_assert_eq(((uint8_t *)gp(0x5000))[4095], 0xab);

	cr_assert_eq(vr.last_avail, 1);
	cr_assert_eq(hy_vring_avail_pending(&vr), 0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 0);
}

Test(vring, several_chains_in_order_with_readable_data)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, NEXT, 1);
	desc(1, 0x5000, 512, NEXT, 2);
	desc(2, 0x6000, 1, WRITE, 0);
	desc(4, 0x8000, 16, NEXT, 6);
	desc(6, 0x9000, 1, WRITE, 0);
	publish(0);
	publish(4);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.head, 0);
	cr_assert_eq(chain.n_out, 2);
	cr_assert_eq(chain.n_in, 1);
	cr_assert_eq(chain.out_len, 528);
	cr_assert_eq(chain.in_len, 1);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.head, 4);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 1);
	expect_iov(1, 0x9000, 1);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 0);
}

Test(vring, buffer_across_a_region_boundary_takes_two_iovecs)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, NEXT, 1);
	desc(1, 0xf800, 0x1000, NEXT | WRITE, 2); /* R0's last 2 KiB, R1's first 2 KiB */
	desc(2, 0x7000, 1, WRITE, 0);
	publish(0);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 3);
	cr_assert_eq(chain.in_len, 0x1001);
	expect_iov(1, 0xf800, 0x800);
	expect_iov(2, 0x10000, 0x800);
	expect_iov(3, 0x7000, 1);
	/* Writing through both iovecs fills the driver's contiguous buffer. */
	memset(chain.iov[1].iov_base, 1, 0x800);
	memset(chain.iov[2].iov_base, 2, 0x800);
	cr_assert_eq(((uint8_t *)gp(0xf800))[0x7ff], 1);
	cr_assert_eq(((uint8_t *)gp(0xf800))[0x800], 2);
}

Test(vring, zero_length_descriptors_produce_no_iovec)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, NEXT, 1);
	desc(1, 0xdead00000000, 0, NEXT, 2); /* address never used */
	desc(2, 0x5000, 0, NEXT | WRITE, 3);
	desc(3, 0x7000, 1, WRITE, 0);
	publish(0);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 1);
	expect_iov(0, BUF_GPA, 16);
	expect_iov(1, 0x7000, 1);
}

Test(vring, chain_using_every_descriptor_is_not_a_loop)
{
	ring_init(8, 0, 0);
	for (uint16_t i = 0; i < 7; i++)
		desc(i, BUF_GPA + 0x100 * i, 0x10, NEXT, (uint16_t)(i + 1));
	desc(7, 0x7000, 1, WRITE, 0);
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 7);
	cr_assert_eq(chain.n_in, 1);
}

Test(vring, indirect_chain)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, F_INDIRECT, 0);
	ind(t, 0, BUF_GPA, 16, NEXT, 2);
	ind(t, 2, R2_GPA + 0x1000, 0x2000, NEXT | WRITE, 1);
	ind(t, 1, 0x7000, 1, WRITE, 0);
	/* 2.7.5.3.2: the WRITE flag on the descriptor pointing at the table is ignored. */
	desc(2, t, 48, IND | WRITE, 0);
	publish(2);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.head, 2);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 2);
	cr_assert_eq(chain.out_len, 16);
	cr_assert_eq(chain.in_len, 0x2001);
	expect_iov(0, BUF_GPA, 16);
	expect_iov(1, R2_GPA + 0x1000, 0x2000);
	expect_iov(2, 0x7000, 1);
}

Test(vring, direct_descriptors_then_an_indirect_one)
{
	const uint64_t t = R2_GPA + 0x200;

	/* 2.7.5.3.2: "zero or more normal chained descriptors followed by a single descriptor
	 * with flags&VIRTQ_DESC_F_INDIRECT". */
	ring_init(8, F_INDIRECT, 0);
	desc(0, BUF_GPA, 16, NEXT, 4);
	desc(4, t, 32, IND, 0);
	ind(t, 0, 0x5000, 512, NEXT | WRITE, 1);
	ind(t, 1, 0x7000, 1, WRITE, 0);
	publish(0);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 2);
	expect_iov(0, BUF_GPA, 16);
	expect_iov(1, 0x5000, 512);
	expect_iov(2, 0x7000, 1);
}

Test(vring, indirect_table_across_a_region_boundary)
{
	/* 4 entries from gpa 0xffe0: two in R0, two in R1; walked out of order. */
	const uint64_t t = 0xffe0;

	ring_init(8, F_INDIRECT, 0);
	ind(t, 0, BUF_GPA, 16, NEXT, 3);
	ind(t, 3, 0x5000, 100, NEXT, 1);
	ind(t, 1, 0x6000, 200, NEXT | WRITE, 2);
	ind(t, 2, 0x7000, 1, WRITE, 0);
	desc(0, t, 64, IND, 0);
	publish(0);

	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 2);
	cr_assert_eq(chain.n_in, 2);
	cr_assert_eq(chain.out_len, 116);
	cr_assert_eq(chain.in_len, 201);
	expect_iov(0, BUF_GPA, 16);
	expect_iov(1, 0x5000, 100);
	expect_iov(2, 0x6000, 200);
	expect_iov(3, 0x7000, 1);
}

Test(vring, indirect_table_straddling_entry_and_odd_alignment)
{
	/* Entry 1 is split 8/8 across R0 and R1, and the table is only 8-byte aligned. */
	const uint64_t t = 0xffe8;

	ring_init(8, F_INDIRECT, 0);
	ind(t, 0, BUF_GPA, 16, NEXT, 1);
	ind(t, 1, 0x5000, 33, NEXT | WRITE, 2);
	ind(t, 2, 0x7000, 1, WRITE, 0);
	desc(0, t, 48, IND, 0);
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 2);
	expect_iov(1, 0x5000, 33);

	/* A table at an address that is not even 8-byte aligned, inside one region. */
	const uint64_t u = R2_GPA + 0x303;
	ind(u, 0, BUF_GPA, 16, NEXT, 1);
	ind(u, 1, 0x7000, 1, WRITE, 0);
	desc(1, u, 32, IND, 0);
	publish(1);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 1);
	cr_assert_eq(chain.n_in, 1);
	expect_iov(0, BUF_GPA, 16);
	expect_iov(1, 0x7000, 1);
}

Test(vring, indirect_table_of_32768_entries_is_the_limit)
{
	const uint64_t t = R2_GPA;
	const uint32_t n = HY_VRING_MAX_NUM;

	ring_init(8, F_INDIRECT, 0);
	/* 32768 zero-length entries chained in order: long, but neither a loop nor too long. */
	for (uint32_t i = 0; i < n - 1; i++)
		ind(t, i, 0, 0, NEXT, (uint16_t)(i + 1));
	ind(t, n - 1, 0x7000, 1, WRITE, 0);
	desc(0, t, 16 * n, IND, 0);
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 0);
	cr_assert_eq(chain.n_in, 1);
	hy_vring_push(&vr, 0, 1);

	/* The same table, one entry longer. */
	desc(1, t, 16 * (n + 1), IND, 0);
	publish(1);
	expect_bad_chain(-EINVAL, 1);
}

Test(vring, max_iovecs_is_accepted)
{
	const uint64_t t = R2_GPA + 0x10000;

	ring_init(8, F_INDIRECT, 0);
	for (uint32_t i = 0; i < HY_CHAIN_MAX_IOV; i++)
		ind(t, i, R2_GPA + 0x40000 + 2 * i, 1, i + 1 < HY_CHAIN_MAX_IOV ? NEXT : 0,
		    (uint16_t)(i + 1));
	desc(0, t, 16 * HY_CHAIN_MAX_IOV, IND, 0);
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, HY_CHAIN_MAX_IOV);
	cr_assert_eq(chain.out_len, HY_CHAIN_MAX_IOV);
	expect_iov(HY_CHAIN_MAX_IOV - 1, R2_GPA + 0x40000 + 2 * (HY_CHAIN_MAX_IOV - 1), 1);
}

Test(vring, too_many_iovecs_is_E2BIG)
{
	const uint64_t t = R2_GPA + 0x10000;
	const uint32_t n = HY_CHAIN_MAX_IOV + 1;

	ring_init(8, F_INDIRECT, 0);
	for (uint32_t i = 0; i < n; i++)
		ind(t, i, R2_GPA + 0x40000 + 2 * i, 1, i + 1 < n ? NEXT : 0, (uint16_t)(i + 1));
	desc(0, t, 16 * n, IND, 0);
	publish(0);
	expect_bad_chain(-E2BIG, 0);
}

Test(vring, too_many_iovecs_from_region_splits_is_E2BIG)
{
	/* Each 2-byte buffer straddles R0/R1: 129 descriptors = 258 iovecs, 130 = 260. */
	const uint64_t t = R2_GPA + 0x10000, u = R2_GPA + 0x20000;

	ring_init(8, F_INDIRECT, 0);
	for (uint32_t i = 0; i < 129; i++)
		ind(t, i, 0xffff, 2, i + 1 < 129 ? NEXT : 0, (uint16_t)(i + 1));
	desc(0, t, 16 * 129, IND, 0);
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.n_out, 258);
	cr_assert_eq(chain.out_len, 258);
	expect_iov(0, 0xffff, 1);
	expect_iov(1, 0x10000, 1);
	hy_vring_push(&vr, 0, 0);

	for (uint32_t i = 0; i < 130; i++)
		ind(u, i, 0xffff, 2, i + 1 < 130 ? NEXT : 0, (uint16_t)(i + 1));
	desc(1, u, 16 * 130, IND, 0);
	publish(1);
	expect_bad_chain(-E2BIG, 1);
}

Test(vring, chain_of_4GiB_or_more_is_refused)
{
	/* A sparse 3 GiB region: nothing is touched, only translated. */
	const struct hy_chan_region big = {.gpa = 0x200000000,
					   .size = 3ull << 30,
					   .uva = 0x7f4000000000,
					   .mmap_offset = FILE_SIZE};

	cr_assert_eq(ftruncate(memfd, (off_t)(FILE_SIZE + big.size)), 0);
	cr_assert_eq(hy_mem_add(&mem, &big, memfd), 0);
	ring_init(8, 0, 0);
	/* 3 GiB + 1 GiB - 1 = UINT32_MAX bytes: accepted. */
	desc(0, big.gpa, 0xc0000000, NEXT, 1);
	desc(1, big.gpa, 0x3fffffff, WRITE, 0);
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(chain.out_len, 0xc0000000u);
	cr_assert_eq(chain.in_len, 0x3fffffffu);
	hy_vring_push(&vr, 0, 0);
	/* One byte more: refused (2.7.5.2). */
	desc(2, big.gpa, 0xc0000000, NEXT, 3);
	desc(3, big.gpa, 0x40000000, WRITE, 0);
	publish(2);
	expect_bad_chain(-EINVAL, 2);
}

/* ----- malformed chains: rejected, consumed, and the ring keeps working -------------------- */

Test(vring, loop_in_direct_chain)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, NEXT, 1);
	desc(1, 0x5000, 16, NEXT, 2);
	desc(2, 0x6000, 16, NEXT, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, self_loop_of_zero_length_descriptor)
{
	ring_init(8, 0, 0);
	desc(5, 0, 0, NEXT, 5);
	publish(5);
	expect_bad_chain(-EINVAL, 5);
}

Test(vring, loop_is_caught_at_num_steps_before_iovecs_run_out)
{
	/* A ring of 128 where every buffer straddles R0/R1 (2 iovecs) and the chain loops:
	 * 128 steps take 256 of the 258 iovecs, step 129 must fail as a loop, not as -E2BIG. */
	struct hy_chan_vring cfg = ring_cfg(128, 0, 0);

	ring_init(8, 0, 0);
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), 0);
	drv.num = 128;
	for (uint16_t i = 0; i < 128; i++)
		desc(i, 0xffff, 2, NEXT, (uint16_t)((i + 1) % 128));
	publish(0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), -EINVAL);
	cr_assert(!vr.broken);
}

Test(vring, loop_in_indirect_chain)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, F_INDIRECT, 0);
	ind(t, 0, BUF_GPA, 16, NEXT, 1);
	ind(t, 1, 0x5000, 16, NEXT, 2);
	ind(t, 2, 0x6000, 0, NEXT, 1);
	ind(t, 3, 0x7000, 1, WRITE, 0); /* never reached */
	desc(0, t, 64, IND, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, next_index_out_of_range_direct)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, NEXT, 8);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
	desc(1, BUF_GPA, 16, NEXT, 0xffff);
	publish(1);
	expect_bad_chain(-EINVAL, 1);
}

Test(vring, next_index_out_of_range_indirect)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, F_INDIRECT, 0);
	/* The next entry exists in memory, but the table (len 32) has only 2. */
	ind(t, 0, BUF_GPA, 16, NEXT, 1);
	ind(t, 1, 0x5000, 16, NEXT, 2);
	ind(t, 2, 0x7000, 1, WRITE, 0);
	desc(0, t, 32, IND, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, buffer_outside_guest_memory)
{
	ring_init(8, 0, 0);
	desc(0, 0x20000, 16, 0, 0); /* the hole after R1 */
	publish(0);
	expect_bad_chain(-EINVAL, 0);
	/* Starts in R1, runs into the hole. */
	desc(1, 0x1fff0, 0x20, 0, 0);
	publish(1);
	expect_bad_chain(-EINVAL, 1);
	/* Just past R2. */
	desc(2, R2_GPA + 0x100000, 1, 0, 0);
	publish(2);
	expect_bad_chain(-EINVAL, 2);
}

Test(vring, buffer_wrapping_at_2_64)
{
	ring_init(8, 0, 0);
	/* 0xfffffffffffff000 + 0x2000 wraps to 0x1000, which is inside R0. */
	desc(0, 0xfffffffffffff000ull, 0x2000, 0, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
	/* Ends exactly at 2^64. */
	desc(1, 0xfffffffffffffff0ull, 0x10, 0, 0);
	publish(1);
	expect_bad_chain(-EINVAL, 1);
}

Test(vring, readable_after_writable)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, NEXT, 1);
	desc(1, 0x5000, 16, NEXT | WRITE, 2);
	desc(2, 0x6000, 16, 0, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
	/* Also when the writable one is empty: the order rule is about descriptors. */
	desc(3, 0x5000, 0, NEXT | WRITE, 4);
	desc(4, 0x6000, 16, 0, 0);
	publish(3);
	expect_bad_chain(-EINVAL, 3);
}

Test(vring, readable_after_writable_inside_indirect_table)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, F_INDIRECT, 0);
	desc(0, BUF_GPA, 16, NEXT | WRITE, 1);
	desc(1, t, 16, IND, 0);
	ind(t, 0, 0x5000, 16, 0, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, nested_indirect)
{
	const uint64_t t = R2_GPA + 0x100, u = R2_GPA + 0x200;

	ring_init(8, F_INDIRECT, 0);
	ind(u, 0, BUF_GPA, 16, 0, 0);
	ind(t, 0, BUF_GPA, 16, NEXT, 1);
	ind(t, 1, u, 16, IND, 0);
	desc(0, t, 32, IND, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, indirect_with_next)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, F_INDIRECT, 0);
	ind(t, 0, BUF_GPA, 16, 0, 0);
	desc(0, t, 16, IND | NEXT, 1);
	desc(1, 0x7000, 1, WRITE, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, indirect_bad_length)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, F_INDIRECT, 0);
	ind(t, 0, BUF_GPA, 16, 0, 0);
	ind(t, 1, BUF_GPA, 16, 0, 0);
	desc(0, t, 0, IND, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
	desc(1, t, 24, IND, 0);
	publish(1);
	expect_bad_chain(-EINVAL, 1);
	desc(2, t, 15, IND, 0);
	publish(2);
	expect_bad_chain(-EINVAL, 2);
	/* Sanity: the same table with a good length works. */
	desc(3, t, 32, IND, 0);
	publish(3);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
}

Test(vring, indirect_table_outside_guest_memory)
{
	ring_init(8, F_INDIRECT, 0);
	desc(0, 0x20000, 32, IND, 0); /* in the hole */
	publish(0);
	expect_bad_chain(-EINVAL, 0);
	/* First entry in R1, second in the hole. */
	ind(0x1fff0, 0, BUF_GPA, 16, 0, 0);
	desc(1, 0x1fff0, 32, IND, 0);
	publish(1);
	expect_bad_chain(-EINVAL, 1);
	/* Wrapping at 2^64. */
	desc(2, 0xfffffffffffffff0ull, 32, IND, 0);
	publish(2);
	expect_bad_chain(-EINVAL, 2);
}

Test(vring, indirect_without_the_feature)
{
	const uint64_t t = R2_GPA + 0x100;

	ring_init(8, 0, 0);
	ind(t, 0, BUF_GPA, 16, 0, 0);
	desc(0, t, 16, IND, 0);
	publish(0);
	expect_bad_chain(-EINVAL, 0);
}

Test(vring, head_out_of_range_breaks_the_ring)
{
	ring_init(8, 0, 0);
	publish(8);
	cr_assert_eq(hy_vring_pop(&vr, &chain), -EIO);
	cr_assert(vr.broken);
	cr_assert_eq(vr.last_avail, 0);
	/* Stays broken, even once the guest "fixes" it. */
	drv.avail->ring[0] = 0;
	desc(0, BUF_GPA, 16, 0, 0);
	cr_assert_eq(hy_vring_pop(&vr, &chain), -EIO);
	cr_assert_eq(hy_vring_avail_pending(&vr), 0);
	cr_assert(!hy_vring_kicks_enable(&vr));
}

Test(vring, avail_idx_more_than_num_ahead_breaks_the_ring)
{
	ring_init(8, 0, 0);
	desc(0, BUF_GPA, 16, 0, 0);
	for (int i = 0; i < 8; i++)
		publish(0);
	/* Exactly num ahead is a full ring, which is fine. */
	cr_assert_eq(hy_vring_avail_pending(&vr), 8);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	/* avail->idx 10 further: 17 > 8 pending. The 7 already seen published are served first
	 * (avail->idx is read again only when they are taken); then 10 > 8 breaks the ring. */
	drv.avail_idx = (uint16_t)(drv.avail_idx + 10);
	drv.avail->idx = drv.avail_idx;
	for (int i = 0; i < 7; i++)
		cr_assert_eq(hy_vring_pop(&vr, &chain), 1, "chain %d seen before the bad index", i);
	cr_assert_eq(hy_vring_pop(&vr, &chain), -EIO);
	cr_assert(vr.broken);
	cr_assert_eq(hy_vring_pop(&vr, &chain), -EIO);
}

Test(vring, avail_idx_moving_backwards_breaks_the_ring)
{
	ring_init(8, 0, 100);
	drv.avail->idx = 99; /* 2.7.6.1: the driver MUST NOT decrement idx */
	cr_assert_eq(hy_vring_pop(&vr, &chain), -EIO);
	cr_assert(vr.broken);
}

/* ----- used ring and call signalling ------------------------------------------------------- */

Test(vring, push_is_invisible_until_flush)
{
	ring_init(8, 0, 0);
	desc(2, BUF_GPA, 16, 0, 0);
	desc(6, 0x5000, 16, WRITE, 0);
	publish(2);
	publish(6);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);

	hy_vring_push(&vr, 6, 16);
	hy_vring_push(&vr, 2, 0);
	cr_assert_eq(drv.used->idx, 0);
	cr_assert_eq(calls(), 0);
	cr_assert_eq(drv.used->ring[0].id, 6);
	cr_assert_eq(drv.used->ring[0].len, 16);
	cr_assert_eq(drv.used->ring[1].id, 2);
	cr_assert_eq(drv.used->ring[1].len, 0);

	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(drv.used->idx, 2);
	cr_assert_eq(calls(), 1);
	/* Nothing new: no store, no signal. */
	cr_assert_eq(hy_vring_flush(&vr), 0);
	cr_assert_eq(calls(), 0);
}

Test(vring, no_interrupt_flag_suppresses_the_call)
{
	ring_init(8, 0, 0);
	drv.avail->flags = HY_VRING_AVAIL_F_NO_INTERRUPT;
	hy_vring_push(&vr, 0, 0);
	cr_assert_eq(hy_vring_flush(&vr), 0);
	cr_assert_eq(drv.used->idx, 1);
	cr_assert_eq(calls(), 0);
	drv.avail->flags = 0;
	hy_vring_push(&vr, 1, 0);
	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(calls(), 1);
}

Test(vring, event_idx_ignores_no_interrupt_flag)
{
	ring_init(8, F_EVENT_IDX, 0);
	/* 2.7.7.2: with EVENT_IDX the device MUST ignore the lower bit of flags. */
	drv.avail->flags = HY_VRING_AVAIL_F_NO_INTERRUPT;
	*used_event() = 0;
	hy_vring_push(&vr, 0, 0);
	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(calls(), 1);
}

Test(vring, no_call_fd_publishes_without_signalling)
{
	struct hy_chan_vring cfg = ring_cfg(8, 0, 0);

	ring_init(8, 0, 0);
	cr_assert_eq(hy_vring_init(&vr, &mem, &cfg, -1, -1), 0);
	hy_vring_push(&vr, 3, 7);
	cr_assert_eq(hy_vring_flush(&vr), 0);
	cr_assert_eq(drv.used->idx, 1);
	cr_assert_eq(drv.used->ring[0].id, 3);
}

Test(vring, event_idx_signals_when_used_event_is_passed)
{
	ring_init(8, F_EVENT_IDX, 0);
	/* The first flush always signals, whatever used_event says. */
	*used_event() = 100;
	hy_vring_push(&vr, 0, 0);
	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(calls(), 1);

	/* Driver: "tell me when the entry at index 2 is written" (used->idx reaches 3). */
	*used_event() = 2;
	hy_vring_push(&vr, 1, 0); /* entry 1 */
	cr_assert_eq(hy_vring_flush(&vr), 0);
	hy_vring_push(&vr, 2, 0); /* entry 2 */
	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(calls(), 1);
	/* Already passed: nothing until it wraps. */
	hy_vring_push(&vr, 3, 0);
	cr_assert_eq(hy_vring_flush(&vr), 0);

	/* Batch [4, 7) containing used_event 5 in the middle. */
	*used_event() = 5;
	hy_vring_push(&vr, 4, 0);
	hy_vring_push(&vr, 5, 0);
	hy_vring_push(&vr, 6, 0);
	cr_assert_eq(hy_vring_flush(&vr), 1);
	/* used_event == new idx (entry not yet written): no. */
	*used_event() = 8;
	hy_vring_push(&vr, 7, 0);
	cr_assert_eq(hy_vring_flush(&vr), 0);
	/* used_event behind the batch (driver caught up by polling): no. */
	*used_event() = 3;
	hy_vring_push(&vr, 0, 0);
	cr_assert_eq(hy_vring_flush(&vr), 0);
	cr_assert_eq(calls(), 1);
	cr_assert_eq(drv.used->idx, 9);
}

Test(vring, event_idx_across_the_16_bit_wrap)
{
	ring_init(8, F_EVENT_IDX, 65534);
	*used_event() = 65534;
	hy_vring_push(&vr, 0, 0);
	cr_assert_eq(hy_vring_flush(&vr), 1); /* first flush */
	*used_event() = 0;		      /* entry at index 0, after the wrap */
	hy_vring_push(&vr, 1, 0);	      /* 65535 */
	cr_assert_eq(hy_vring_flush(&vr), 0);
	hy_vring_push(&vr, 2, 0); /* 0 */
	hy_vring_push(&vr, 3, 0); /* 1 */
	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(drv.used->idx, 2);
	cr_assert_eq(calls(), 2);
}

/* ----- kick suppression -------------------------------------------------------------------- */

Test(vring, kicks_without_event_idx_use_no_notify)
{
	ring_init(8, 0, 0);
	hy_vring_kicks_disable(&vr);
	cr_assert(!vr.kicks_enabled);
	cr_assert_eq(drv.used->flags, HY_VRING_USED_F_NO_NOTIFY);
	cr_assert(!hy_vring_kicks_enable(&vr));
	cr_assert(vr.kicks_enabled);
	cr_assert_eq(drv.used->flags, 0);

	hy_vring_kicks_disable(&vr);
	desc(0, BUF_GPA, 16, 0, 0);
	publish(0); /* the driver would not kick now */
	cr_assert(hy_vring_kicks_enable(&vr), "chain published while kicks were off was missed");
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	cr_assert(!hy_vring_kicks_enable(&vr));
}

Test(vring, kicks_with_event_idx_use_avail_event)
{
	ring_init(8, F_EVENT_IDX, 40);
	cr_assert_eq(avail_event(), 40);
	hy_vring_kicks_disable(&vr);
	cr_assert_eq(drv.used->flags, 0, "2.7.10: with EVENT_IDX the device MUST set flags to 0");
	cr_assert(!drv_need_event(avail_event(), 41, 40));

	desc(0, BUF_GPA, 16, 0, 0);
	publish(0);
	cr_assert(hy_vring_kicks_enable(&vr));
	cr_assert_eq(avail_event(), 40);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
	/* Kicks on: avail_event follows pops, so the next chain kicks. */
	cr_assert_eq(avail_event(), 41);
	cr_assert(!hy_vring_kicks_enable(&vr));
	publish(0);
	cr_assert(drv_need_event(avail_event(), 42, 41));
}

/*
 * The proof at kicks_write(), tested: with EVENT_IDX and kicks disabled, a driver that follows
 * the protocol never kicks, over several wraps of the 16-bit indices, whatever the batching on
 * either side; and once kicks are enabled, its next chain kicks.
 */
static void kick_storm(uint32_t num, unsigned seed)
{
	uint16_t drv_used = 0, inflight[32768];
	unsigned nflight = 0, fhead = 0;

	ring_init(num, F_EVENT_IDX, 0);
	hy_vring_kicks_disable(&vr);
	srand(seed);
	for (uint32_t i = 0; i < num; i++)
		desc((uint16_t)i, BUF_GPA, 16, 0, 0);

	for (unsigned long total = 0; total < 200000;) {
		/* Driver: add what it has room for (it owns num descriptors). */
		uint16_t outstanding = (uint16_t)(drv.avail_idx - drv_used);
		unsigned k = (unsigned)rand() % (num - outstanding + 1u);
		uint16_t old = drv.avail_idx;

		for (unsigned j = 0; j < k; j++)
			publish((uint16_t)(drv.avail_idx & (num - 1)));
		if (k)
			cr_assert(!drv_need_event(avail_event(), drv.avail_idx, old),
				  "num %u: kick with avail_event %u, batch [%u, %u)", num,
				  avail_event(), old, drv.avail_idx);
		total += k;

		/* Device: pop some, complete some, sometimes flush. */
		unsigned p = (unsigned)rand() % (hy_vring_avail_pending(&vr) + 1u);
		for (unsigned j = 0; j < p; j++) {
			cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
			inflight[(fhead + nflight++) % 32768] = chain.head;
		}
		unsigned c = nflight ? (unsigned)rand() % (nflight + 1) : 0;
		for (unsigned j = 0; j < c; j++) {
			hy_vring_push(&vr, inflight[fhead], 16);
			fhead = (fhead + 1) % 32768;
			nflight--;
		}
		if (rand() % 2)
			hy_vring_flush(&vr);

		/* Driver: reclaim what is published. */
		drv_used = drv.used->idx;
	}
	/* Drain, enable, and the next chain must kick. */
	while (hy_vring_pop(&vr, &chain) == 1)
		hy_vring_push(&vr, chain.head, 0);
	hy_vring_flush(&vr);
	cr_assert(!hy_vring_kicks_enable(&vr));
	uint16_t old = drv.avail_idx;
	publish((uint16_t)(drv.avail_idx & (num - 1)));
	cr_assert(drv_need_event(avail_event(), drv.avail_idx, old), "lost kick");
}

Test(vring, event_idx_disabled_kicks_never_come_small_ring)
{
	kick_storm(2, 1);
	kick_storm(8, 2);
}

Test(vring, event_idx_disabled_kicks_never_come_large_ring)
{
	/* num 256 keeps the rings inside the test's layout. */
	kick_storm(256, 3);
}

Test(vring, event_idx_enabled_kicks_always_come_after_catching_up)
{
	ring_init(8, F_EVENT_IDX, 65530);
	for (uint32_t i = 0; i < 8; i++)
		desc((uint16_t)i, BUF_GPA, 16, 0, 0);
	srand(4);
	for (int round = 0; round < 5000; round++) {
		unsigned k = 1 + (unsigned)rand() % 8;
		uint16_t old = drv.avail_idx;

		for (unsigned j = 0; j < k; j++)
			publish((uint16_t)(drv.avail_idx & 7));
		/* The device was idle with kicks on: this batch must kick. */
		cr_assert(drv_need_event(avail_event(), drv.avail_idx, old),
			  "round %d: no kick for [%u, %u), avail_event %u", round, old,
			  drv.avail_idx, avail_event());
		while (hy_vring_pop(&vr, &chain) == 1)
			hy_vring_push(&vr, chain.head, 0);
		hy_vring_flush(&vr);
		cr_assert(!hy_vring_kicks_enable(&vr));
	}
}

/* ----- free-running indices ---------------------------------------------------------------- */

Test(vring, indices_wrap_at_65536)
{
	ring_init(8, 0, 65534);
	for (uint16_t i = 0; i < 5; i++) {
		desc(i, BUF_GPA + 0x100 * i, 16, 0, 0);
		publish(i);
	}
	cr_assert_eq(drv.avail->idx, 3);
	cr_assert_eq(hy_vring_avail_pending(&vr), 5);
	for (uint16_t i = 0; i < 5; i++) {
		cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
		cr_assert_eq(chain.head, i);
		expect_iov(0, BUF_GPA + 0x100 * i, 16);
		hy_vring_push(&vr, chain.head, i);
	}
	cr_assert_eq(vr.last_avail, 3);
	cr_assert_eq(hy_vring_pop(&vr, &chain), 0);
	cr_assert_eq(hy_vring_flush(&vr), 1);
	cr_assert_eq(drv.used->idx, 3);
	/* used->idx 65534, 65535, 0, 1, 2 land in slots 6, 7, 0, 1, 2. */
	cr_assert_eq(drv.used->ring[6].id, 0);
	cr_assert_eq(drv.used->ring[7].id, 1);
	cr_assert_eq(drv.used->ring[0].id, 2);
	cr_assert_eq(drv.used->ring[2].id, 4);
	cr_assert_eq(drv.used->ring[2].len, 4);
}

Test(vring, full_ring_across_the_wrap)
{
	ring_init(8, 0, 65533);
	for (uint16_t i = 0; i < 8; i++) {
		desc(i, BUF_GPA, 16, 0, 0);
		publish((uint16_t)(7 - i));
	}
	cr_assert_eq(hy_vring_avail_pending(&vr), 8);
	for (uint16_t i = 0; i < 8; i++) {
		cr_assert_eq(hy_vring_pop(&vr, &chain), 1);
		cr_assert_eq(chain.head, 7 - i);
	}
	cr_assert_eq(hy_vring_pop(&vr, &chain), 0);
	cr_assert(!vr.broken);
}
