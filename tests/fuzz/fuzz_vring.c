/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the split-virtqueue walker (worker/vring.c) and guest-memory translation
 * (worker/mem.c): the guest writes descriptor tables, indirect tables and the avail ring; we pop
 * until the ring is empty or broken, hand every chain back, and check what pop promised.
 *
 * The .c files are included so that they are built with this target's coverage instrumentation
 * (the libraries are not).
 *
 * Guest memory, one memfd mapped once (regions as in tests/unit/worker/test_vring.c):
 *   R0  gpa 0x0          64 KiB  rings at 0x0 (desc), 0x1000 (avail), 0x2000 (used); data after
 *   R1  gpa 0x10000      64 KiB  gpa-contiguous with R0, elsewhere in uva and in our mapping
 *   R2  gpa 0x100000000  32 KiB  mmap_offset not 8-aligned: indirect tables read in both ways
 *
 * Input: 8 bytes of parameters, then 16-byte records: the descriptor table (num records), the
 * avail ring (2 * num bytes), then records filling guest memory from gpa 0x3000 (where indirect
 * tables may be). Each record is a descriptor whose address is folded so most land in or near
 * guest memory: addr top bits 00 -> addr % 0x30000 (R0, R1, hole), 01 -> R2 + addr % 0x10000
 * (R2 and beyond), 1x -> raw; len top bit clear -> len % 0x4000, else raw.
 */
#include "worker/mem.c"
#undef HY_LOG_COMPONENT
#include "worker/vring.c"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#define R2_GPA	  0x100000000ull
#define FILE_SIZE 0x30000ull
#define DATA_GPA  0x3000ull

static const struct hy_chan_region fz_regions[] = {
	{.gpa = 0x0, .size = 0x10000, .uva = 0x7f0000100000, .mmap_offset = 0x0},
	{.gpa = 0x10000, .size = 0x10000, .uva = 0x7f0000000000, .mmap_offset = 0x10000},
	{.gpa = R2_GPA, .size = 0x8000, .uva = 0x7f0000200000, .mmap_offset = 0x20004},
};
#define FZ_NREGIONS (sizeof(fz_regions) / sizeof(fz_regions[0]))

static struct hy_mem fz_mem;
static uint8_t *fz_drv; /* the driver's view of the memfd */
static int fz_callfd = -1;
static struct hy_vring fz_vr;
static struct hy_chain fz_chain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_setup(void)
{
	int fd = memfd_create("fuzz_vring", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, FILE_SIZE) < 0)
		abort();
	fz_drv = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fz_drv == MAP_FAILED)
		abort();
	hy_mem_init(&fz_mem);
	for (unsigned i = 0; i < FZ_NREGIONS; i++)
		if (hy_mem_add(&fz_mem, &fz_regions[i], fd))
			abort();
	close(fd);
	fz_callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	hy_log_init("fuzz", NULL, getenv("FUZZ_VRING_LOG") ? HY_LOG_DEBUG : HY_LOG_ERR);
}

/* The driver's pointer for @gpa, or NULL outside guest memory. */
static uint8_t *fz_gp(uint64_t gpa)
{
	for (unsigned i = 0; i < FZ_NREGIONS; i++)
		if (gpa - fz_regions[i].gpa < fz_regions[i].size)
			return fz_drv + fz_regions[i].mmap_offset + (gpa - fz_regions[i].gpa);
	return NULL;
}

static void fz_record(uint64_t gpa, const uint8_t *in)
{
	struct hy_vring_desc d;
	uint8_t *p;

	memcpy(&d, in, sizeof(d));
	switch (d.addr >> 62) {
	case 0:
		d.addr %= 0x30000;
		break;
	case 1:
		d.addr = R2_GPA + d.addr % 0x10000;
		break;
	default:
		break;
	}
	if (!(d.len >> 31))
		d.len %= 0x4000;
	/* Records go where the driver would write them; a record straddling R1's end is cut. */
	for (unsigned i = 0; i < sizeof(d); i++) {
		p = fz_gp(gpa + i);
		if (p)
			*p = ((uint8_t *)&d)[i];
	}
}

/* Every iovec must lie inside one region's mapping, and the counts must add up. */
static void fz_check_chain(const struct hy_chain *c)
{
	uint64_t out = 0, in = 0;

	if (c->head >= fz_vr.num || c->n_out + c->n_in > HY_CHAIN_MAX_IOV)
		abort();
	for (unsigned k = 0; k < (unsigned)c->n_out + c->n_in; k++) {
		const uint8_t *b = c->iov[k].iov_base;
		size_t len = c->iov[k].iov_len;
		int ok = 0;

		if (len == 0)
			abort();
		for (unsigned i = 0; i < fz_mem.nregions; i++) {
			const struct hy_mem_region *r = &fz_mem.r[i];

			if (b >= r->host && len <= r->size &&
			    (uint64_t)(b - r->host) <= r->size - len)
				ok = 1;
		}
		if (!ok)
			abort();
		/* Touch both ends: a bad pointer faults here rather than in a backend. */
		(void)*(volatile const uint8_t *)b;
		(void)*(volatile const uint8_t *)(b + len - 1);
		if (k < c->n_out)
			out += len;
		else
			in += len;
	}
	if (out != c->out_len || in != c->in_len || out + in > UINT32_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hy_chan_vring cfg = {0};
	uint16_t avail_idx, used_idx;
	uint32_t num;
	uint8_t mode;
	size_t off;

	if (!fz_drv)
		fz_setup();
	if (size < 8)
		return 0;

	num = 1u << (data[0] % 9); /* 1..256: the rings fit R0's first 12 KiB */
	mode = data[1];
	memcpy(&cfg.last_avail, data + 2, 2);
	memcpy(&avail_idx, data + 4, 2);
	memcpy(&used_idx, data + 6, 2);
	/* Mostly a sane distance between avail->idx and last_avail, sometimes anything. */
	if (!(mode & 0x80))
		avail_idx = (uint16_t)(cfg.last_avail + avail_idx % (num + 1));
	data += 8;
	size -= 8;

	memset(fz_drv, 0, FILE_SIZE);
	for (off = 0; off < num && (off + 1) * 16 <= size; off++)
		fz_record(off * 16, data + off * 16);
	data += num * 16 < size ? num * 16 : size;
	size -= num * 16 < size ? num * 16 : size;

	struct hy_vring_avail *avail = (void *)fz_gp(0x1000);
	struct hy_vring_used *used = (void *)fz_gp(0x2000);
	memcpy(avail->ring, data, 2 * num < size ? 2 * num : size);
	data += 2 * num < size ? 2 * num : size;
	size -= 2 * num < size ? 2 * num : size;
	avail->idx = avail_idx;
	avail->flags = mode & 0x10 ? HY_VRING_AVAIL_F_NO_INTERRUPT : 0;
	avail->ring[num] = used_idx ^ 0x5a5a; /* used_event */
	used->idx = used_idx;

	for (uint64_t gpa = DATA_GPA; size >= 16 && gpa < 0x20000 + 0x8000; gpa += 16) {
		/* After R1, continue in R2. */
		uint64_t g = gpa < 0x20000 ? gpa : R2_GPA + (gpa - 0x20000);

		fz_record(g, data);
		data += 16;
		size -= 16;
	}

	cfg.num = num;
	cfg.features = (mode & 1 ? 1ull << HY_VIRTIO_RING_F_EVENT_IDX : 0) |
		       (mode & 2 ? 1ull << HY_VIRTIO_RING_F_INDIRECT_DESC : 0);
	cfg.desc_uva = fz_regions[0].uva;
	cfg.avail_uva = fz_regions[0].uva + 0x1000;
	cfg.used_uva = fz_regions[0].uva + 0x2000;
	if (hy_vring_init(&fz_vr, &fz_mem, &cfg, -1, mode & 0x20 ? fz_callfd : -1))
		abort();
	if (mode & 4)
		hy_vring_kicks_disable(&fz_vr);

	for (int i = 0; i < 64; i++) {
		uint16_t before = fz_vr.last_avail, pending = hy_vring_avail_pending(&fz_vr);
		int ret = hy_vring_pop(&fz_vr, &fz_chain);

		if (ret == 0) {
			if (pending || fz_vr.last_avail != before)
				abort();
			break;
		}
		if (ret == -EIO) {
			if (!fz_vr.broken || fz_vr.last_avail != before)
				abort();
			break;
		}
		if (fz_vr.last_avail != (uint16_t)(before + 1) || pending == 0 || pending > num)
			abort();
		if (ret == 1) {
			fz_check_chain(&fz_chain);
			hy_vring_push(&fz_vr, fz_chain.head, fz_chain.in_len);
		} else if (ret == -EINVAL || ret == -E2BIG) {
			/* The slot is consumed and handed back; the ring goes on. */
			if (fz_chain.head >= num || fz_chain.n_out || fz_chain.n_in)
				abort();
			hy_vring_push(&fz_vr, fz_chain.head, 0);
		} else {
			abort();
		}
		if (mode & 8)
			hy_vring_flush(&fz_vr);
	}
	hy_vring_flush(&fz_vr);
	if (used->idx != fz_vr.used_idx)
		abort();
	(void)hy_vring_kicks_enable(&fz_vr);
	if (fz_callfd >= 0 && (mode & 0x40)) {
		uint64_t n;

		if (read(fz_callfd, &n, sizeof(n)) < 0) {
			/* Empty: nothing was signalled. */
		}
	}
	return 0;
}
