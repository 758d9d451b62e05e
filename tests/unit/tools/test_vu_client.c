/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for tools/vu_client.c: guest memory layout, allocator and translation, and the
 * split-ring driver against an in-process fake device (no socket, no backend).
 */
#include <criterion/criterion.h>

#include "tools/vu_client.c"

/* ---- guest memory ---- */

Test(vu_mem, default_layout_is_not_identity_mapped)
{
	struct hy_vu_mem *m = hy_vu_mem_create(NULL, 0, 64 * MIB);
	const struct hy_vu_region *r0, *r1, *r2;
	uint8_t byte = 0;

	cr_assert_not_null(m);
	cr_assert_eq(hy_vu_mem_nregions(m), 3);
	r0 = hy_vu_mem_region(m, 0);
	r1 = hy_vu_mem_region(m, 1);
	r2 = hy_vu_mem_region(m, 2);
	cr_assert_null(hy_vu_mem_region(m, 3));
	cr_assert_eq(r0->gpa, 0);
	cr_assert_eq(r0->size, 32 * MIB);
	cr_assert_eq(r1->gpa, 4 * GIB);
	cr_assert_eq(r2->gpa, 4 * GIB + 16 * MIB);
	/* Regions 1 and 2 share one memfd; region 2 sits at a non-zero offset in it. */
	cr_assert_eq(r1->fd, r2->fd);
	cr_assert_neq(r0->fd, r1->fd);
	cr_assert_eq(r1->mmap_offset, 0);
	cr_assert_eq(r2->mmap_offset, 16 * MIB);
	/* gpa neighbours are VA neighbours; the others are not. */
	cr_assert_eq((uint8_t *)r1->ptr + r1->size, (uint8_t *)r2->ptr);
	cr_assert_neq((uint8_t *)r0->ptr + r0->size, (uint8_t *)r1->ptr);
	/* The shared memfd really is one file: region 2's first byte is its offset 16 MiB. */
	memset(r2->ptr, 0x5a, 4096);
	cr_assert_eq(pread(r2->fd, &byte, 1, 16 * MIB), 1);
	cr_assert_eq(byte, 0x5a);
	hy_vu_mem_destroy(m);
}

Test(vu_mem, translation)
{
	struct hy_vu_mem *m = hy_vu_mem_create(NULL, 0, 64 * MIB);
	const struct hy_vu_region *r0 = hy_vu_mem_region(m, 0), *r2 = hy_vu_mem_region(m, 2);
	uint64_t gpa;
	uint8_t *p;

	cr_assert_eq(hy_vu_ptr_to_gpa(m, (uint8_t *)r0->ptr + 100, 10, &gpa), 0);
	cr_assert_eq(gpa, 100);
	cr_assert_eq(hy_vu_gpa_to_ptr(m, 100, 10), (uint8_t *)r0->ptr + 100);
	/* Across the region 1/2 boundary: fine. */
	p = hy_vu_gpa_to_ptr(m, r2->gpa - 512, 1024);
	cr_assert_eq(p, (uint8_t *)r2->ptr - 512);
	cr_assert_eq(hy_vu_ptr_to_gpa(m, p, 1024, &gpa), 0);
	cr_assert_eq(gpa, r2->gpa - 512);
	/* Off the end of region 0 into the hole, past the end of memory, in the hole: no. */
	cr_assert_null(hy_vu_gpa_to_ptr(m, r0->size - 8, 16));
	cr_assert_null(hy_vu_gpa_to_ptr(m, r2->gpa + r2->size - 8, 16));
	cr_assert_null(hy_vu_gpa_to_ptr(m, hy_vu_gpa_hole(m), 1));
	cr_assert_null(hy_vu_gpa_to_ptr(m, UINT64_MAX - 10, 100));
	cr_assert_eq(hy_vu_ptr_to_gpa(m, &gpa, 8, &gpa), -EFAULT);
	cr_assert_eq(hy_vu_gpa_hole(m), 32 * MIB);
	hy_vu_mem_destroy(m);
}

Test(vu_mem, alloc_free)
{
	struct hy_vu_mem *m = hy_vu_mem_create(NULL, 0, 16 * MIB);
	const struct hy_vu_region *r2 = hy_vu_mem_region(m, 2);
	void *a, *b, *x, *all;
	uint64_t gpa;

	a = hy_vu_alloc(m, 100, 0);
	b = hy_vu_alloc(m, 4096, 4096);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_eq((uintptr_t)a % 64, 0);
	cr_assert_eq((uintptr_t)b % 4096, 0);
	cr_assert_eq(hy_vu_ptr_to_gpa(m, a, 100, &gpa), 0);
	cr_assert_eq(gpa, 0);

	x = hy_vu_alloc_at(m, r2->gpa - 4096, 8192);
	cr_assert_not_null(x);
	cr_assert_null(hy_vu_alloc_at(m, r2->gpa, 4096));
	cr_assert_eq(errno, EBUSY);
	cr_assert_null(hy_vu_alloc_at(m, hy_vu_gpa_hole(m), 4096));
	cr_assert_eq(errno, EFAULT);
	/* The high span (8 MiB) minus the 8 KiB taken cannot hold 8 MiB any more. */
	hy_vu_free(m, x);
	all = hy_vu_alloc_at(m, 4 * GIB, 8 * MIB);
	cr_assert_not_null(all, "freeing merges the span back together");
	hy_vu_free(m, all);
	hy_vu_free(m, a);
	hy_vu_free(m, b);
	all = hy_vu_alloc(m, 8 * MIB, 0);
	cr_assert_not_null(all);
	cr_assert_eq(hy_vu_ptr_to_gpa(m, all, 1, &gpa), 0);
	cr_assert_eq(gpa, 0, "low memory is whole again");
	cr_assert_null(hy_vu_alloc(m, 9 * MIB, 0));
	hy_vu_free(m, all);
	hy_vu_mem_destroy(m);
}

Test(vu_mem, bad_layouts)
{
	struct hy_vu_region_spec overlap[2] = {{.gpa = 0, .size = 2 * MIB},
					       {.gpa = MIB, .size = MIB}};
	struct hy_vu_region_spec share[2] = {
		{.gpa = 0, .size = MIB}, {.gpa = 4 * MIB, .size = MIB, .share_fd_with_prev = 1}};

	hy_log_init("test", NULL, HY_LOG_ERR);
	cr_assert_null(hy_vu_mem_create(overlap, 2, 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(hy_vu_mem_create(share, 2, 0));
	cr_assert_null(hy_vu_mem_create(NULL, 0, 5 * MIB));
}

/* ---- split ring against a fake device ---- */

struct fake {
	struct hy_vu_mem *mem;
	struct hy_vu_client c;
	struct hy_vu_queue q;
	uint16_t last_avail;
};

static void fake_init(struct fake *f, unsigned num, uint64_t features)
{
	memset(f, 0, sizeof(*f));
	f->mem = hy_vu_mem_create(NULL, 0, 16 * MIB);
	cr_assert_not_null(f->mem);
	f->c.mem = f->mem;
	f->c.opts.queue_size = num;
	f->c.features = features | 1ull << HY_VU_VIRTIO_F_VERSION_1;
	f->c.seg_max = num - 2;
	f->c.sock = -1;
	cr_assert_eq(queue_init(&f->c, &f->q, 0), 0);
}

static void fake_fini(struct fake *f)
{
	queue_free(&f->c, &f->q);
	hy_vu_mem_destroy(f->mem);
}

/* Device side: pop one chain, walk it, write status @st into the last byte, push it used. */
static unsigned fake_complete(struct fake *f, uint8_t st)
{
	struct hy_vu_queue *q = &f->q;
	uint16_t head, i;
	struct hy_vu_desc *tbl = q->desc;
	unsigned n = 0, max = q->num, written = 0;
	uint16_t uidx;

	if (hy_load_acquire(&q->avail->idx) == f->last_avail)
		return 0;
	head = q->avail->ring[f->last_avail++ & q->mask];
	i = head;
	if (tbl[i].flags & HY_VU_DESC_F_INDIRECT) {
		max = tbl[i].len / 16;
		tbl = hy_vu_gpa_to_ptr(f->mem, tbl[i].addr, tbl[i].len);
		cr_assert_not_null(tbl);
		i = 0;
	}
	for (;;) {
		struct hy_vu_desc *d = &tbl[i];
		uint8_t *p = hy_vu_gpa_to_ptr(f->mem, d->addr, d->len);

		cr_assert_not_null(p, "descriptor %u addr 0x%llx len %u", i,
				   (unsigned long long)d->addr, d->len);
		cr_assert_lt(++n, max + 1);
		if (d->flags & HY_VU_DESC_F_WRITE) {
			written += d->len;
			if (!(d->flags & HY_VU_DESC_F_NEXT))
				p[d->len - 1] = st;
		}
		if (!(d->flags & HY_VU_DESC_F_NEXT))
			break;
		i = d->next;
	}
	uidx = q->used->idx;
	q->used->ring[uidx & q->mask] = (struct hy_vu_used_elem){.id = head, .len = written};
	hy_store_release(&q->used->idx, (uint16_t)(uidx + 1));
	return n;
}

Test(vu_ring, submit_complete_reap)
{
	struct fake f;
	uint8_t *buf;
	struct iovec iov[2];
	struct hy_vu_blk_req req = {.type = HY_VU_BLK_T_IN, .iov = iov, .iovcnt = 2};
	struct hy_vu_cpl cpl[8];

	fake_init(&f, 8, 0);
	buf = hy_vu_alloc(f.mem, 8192, 4096);
	iov[0] = (struct iovec){buf, 512};
	iov[1] = (struct iovec){buf + 512, 3584};

	/* 8 descriptors hold two 4-descriptor chains. */
	req.cookie = (void *)1;
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), 0);
	req.cookie = (void *)2;
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), 0);
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), -EAGAIN);
	cr_assert_eq(hy_vu_queue_free_descs(&f.q), 0);
	cr_assert_eq(hy_vu_queue_inflight(&f.q), 2);
	cr_assert_eq(hy_vu_queue_avail_idx(&f.q), 2);

	cr_assert_eq(hy_vu_queue_reap(&f.q, cpl, 8), 0);
	cr_assert_eq(fake_complete(&f, HY_VU_BLK_S_OK), 4);
	cr_assert_eq(fake_complete(&f, HY_VU_BLK_S_IOERR), 4);
	cr_assert_eq(hy_vu_queue_reap(&f.q, cpl, 8), 2);
	cr_assert_eq(cpl[0].cookie, (void *)1);
	cr_assert_eq(cpl[0].status, HY_VU_BLK_S_OK);
	cr_assert_eq(cpl[0].len, 4097);
	cr_assert_eq(cpl[1].cookie, (void *)2);
	cr_assert_eq(cpl[1].status, HY_VU_BLK_S_IOERR);
	cr_assert_eq(hy_vu_queue_free_descs(&f.q), 8);
	cr_assert_eq(hy_vu_queue_inflight(&f.q), 0);

	/* Wrap the ring and the free list many times. */
	for (unsigned i = 0; i < 70000; i++) {
		cr_assert_eq(hy_vu_blk_submit(&f.q, &req), 0);
		fake_complete(&f, HY_VU_BLK_S_OK);
		cr_assert_eq(hy_vu_queue_reap(&f.q, cpl, 8), 1);
	}
	cr_assert_eq(hy_vu_queue_free_descs(&f.q), 8);
	fake_fini(&f);
}

Test(vu_ring, bad_requests)
{
	struct fake f;
	uint8_t stack[512];
	struct iovec iov = {stack, sizeof(stack)};
	struct hy_vu_blk_req req = {.type = HY_VU_BLK_T_OUT, .iov = &iov, .iovcnt = 1};

	fake_init(&f, 8, 0);
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), -EFAULT, "buffer outside guest memory");
	cr_assert_eq(hy_vu_queue_free_descs(&f.q), 8, "nothing taken on failure");
	req.flags = HY_VU_REQ_INDIRECT;
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), -ENOTSUP);
	req.flags = 0;
	req.iovcnt = 7;
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), -E2BIG);
	fake_fini(&f);
}

Test(vu_ring, indirect_and_builtin_segment)
{
	struct fake f;
	struct hy_vu_blk_req req = {.type = HY_VU_BLK_T_WRITE_ZEROES,
				    .sector = 8,
				    .num_sectors = 16,
				    .flags = HY_VU_REQ_INDIRECT,
				    .cookie = (void *)7};
	struct hy_vu_cpl cpl;
	struct hy_vu_blk_discard_write_zeroes *seg;
	struct hy_vu_desc *t;

	fake_init(&f, 8, 1ull << HY_VU_VIRTIO_F_INDIRECT_DESC);
	cr_assert_eq(hy_vu_blk_submit(&f.q, &req), 0);
	cr_assert_eq(hy_vu_queue_free_descs(&f.q), 7, "an indirect chain takes one descriptor");
	cr_assert_eq(f.q.desc[0].flags, HY_VU_DESC_F_INDIRECT);
	cr_assert_eq(f.q.desc[0].len, 3 * 16);
	t = hy_vu_gpa_to_ptr(f.mem, f.q.desc[0].addr, 48);
	seg = hy_vu_gpa_to_ptr(f.mem, t[1].addr, 16);
	cr_assert_eq(t[1].len, 16);
	cr_assert_eq(t[1].flags, HY_VU_DESC_F_NEXT, "segment is device-readable");
	cr_assert_eq(seg->sector, 8);
	cr_assert_eq(seg->num_sectors, 16);
	cr_assert_eq(fake_complete(&f, HY_VU_BLK_S_OK), 3);
	cr_assert_eq(hy_vu_queue_reap(&f.q, &cpl, 1), 1);
	cr_assert_eq(cpl.cookie, (void *)7);
	cr_assert_eq(f.q.tables_free, f.q.ntables, "table back in the pool");
	fake_fini(&f);
}

Test(vu_ring, raw_chain_relative_next)
{
	struct fake f;
	struct hy_vu_desc chain[3] = {
		{.addr = 0x1000, .len = 16, .flags = HY_VU_DESC_F_NEXT, .next = 2},
		{.addr = 0x3000, .len = 1, .flags = HY_VU_DESC_F_WRITE},
		{.addr = 0x2000, .len = 512, .flags = HY_VU_DESC_F_NEXT, .next = 1},
	};
	uint16_t ids[3];
	struct hy_vu_cpl cpl;

	fake_init(&f, 8, 0);
	/* Use up descriptors 0 and 1 first so raw ids are not 0..2. */
	cr_assert_eq(hy_vu_raw_submit(&f.q, chain, 2, NULL), 0);
	cr_assert_eq(hy_vu_raw_submit(&f.q, chain, 3, (void *)9), 0);
	for (unsigned k = 0; k < 3; k++)
		ids[k] = f.q.scratch[k];
	cr_assert_eq(f.q.desc[ids[0]].next, ids[2]);
	cr_assert_eq(f.q.desc[ids[2]].next, ids[1]);
	cr_assert_eq(f.q.desc[ids[2]].addr, 0x2000);
	/* Complete the second chain first: out of order. */
	f.q.used->ring[0] = (struct hy_vu_used_elem){.id = ids[0], .len = 1};
	hy_store_release(&f.q.used->idx, (uint16_t)1);
	cr_assert_eq(hy_vu_queue_reap(&f.q, &cpl, 1), 1);
	cr_assert(cpl.raw);
	cr_assert_eq(cpl.cookie, (void *)9);
	cr_assert_eq(cpl.status, HY_VU_BLK_S_NONE);
	cr_assert_eq(hy_vu_queue_free_descs(&f.q), 6);
	fake_fini(&f);
}

Test(vu_ring, backend_breaking_the_ring)
{
	struct fake f;
	struct hy_vu_desc d = {.addr = 0x1000, .len = 16};
	struct hy_vu_cpl cpl;

	hy_log_init("test", NULL, HY_LOG_ERR);
	fake_init(&f, 8, 0);
	cr_assert_eq(hy_vu_raw_submit(&f.q, &d, 1, NULL), 0);
	f.q.used->ring[0] = (struct hy_vu_used_elem){.id = 5, .len = 0};
	hy_store_release(&f.q.used->idx, (uint16_t)1);
	cr_assert_eq(hy_vu_queue_reap(&f.q, &cpl, 1), -EIO, "id 5 is not in flight");
	cr_assert(hy_vu_queue_broken(&f.q));
	cr_assert_eq(hy_vu_raw_submit(&f.q, &d, 1, NULL), -EIO);
	fake_fini(&f);

	fake_init(&f, 8, 0);
	hy_store_release(&f.q.used->idx, (uint16_t)3);
	cr_assert_eq(hy_vu_queue_reap(&f.q, &cpl, 1), -EIO, "used->idx ahead of what is in flight");
	fake_fini(&f);
}

static uint64_t kick_count(struct fake *f)
{
	uint64_t v = 0;

	if (read(f->q.kick_fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

Test(vu_ring, kick_suppression)
{
	struct fake f;
	struct hy_vu_desc d = {.addr = 0x1000, .len = 16};

	/* Without EVENT_IDX: used->flags NO_NOTIFY. */
	fake_init(&f, 8, 0);
	cr_assert_eq(hy_vu_queue_kick(&f.q), 0, "nothing new");
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_kick(&f.q), 1);
	cr_assert_eq(kick_count(&f), 1);
	f.q.used->flags = HY_VU_USED_F_NO_NOTIFY;
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_kick(&f.q), 0);
	cr_assert_eq(kick_count(&f), 0);
	fake_fini(&f);

	/* With EVENT_IDX: kick only when avail->idx moves past avail_event. */
	fake_init(&f, 8, 1ull << HY_VU_VIRTIO_F_EVENT_IDX);
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_kick(&f.q), 1, "avail_event 0: the first entry kicks");
	*f.q.avail_event = 5; /* the device wants a kick when entry 5 is made available */
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_kick(&f.q), 0, "idx 1 -> 3 does not cross 5");
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_kick(&f.q), 1, "idx 3 -> 6 crosses 5");
	cr_assert_eq(f.q.stats.kicks, 2);
	cr_assert_eq(f.q.stats.kicks_suppressed, 1);
	fake_fini(&f);
}

Test(vu_ring, wait_asks_for_a_call_and_times_out)
{
	struct fake f;
	struct hy_vu_desc d = {.addr = 0x1000, .len = 16};
	struct hy_vu_cpl cpl;
	uint64_t one = 1;

	fake_init(&f, 8, 1ull << HY_VU_VIRTIO_F_EVENT_IDX);
	cr_assert_eq(hy_vu_queue_wait(&f.q, 10), -ENODATA);
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_wait(&f.q, 20), -ETIMEDOUT);
	cr_assert_eq(*f.q.used_event, 0, "asked for a call at used entry 0");
	fake_complete(&f, 0);
	cr_assert_eq(write(f.q.call_fd, &one, sizeof(one)), sizeof(one));
	cr_assert_eq(hy_vu_queue_wait(&f.q, 1000), 0);
	cr_assert_eq(hy_vu_queue_reap(&f.q, &cpl, 1), 1);
	fake_fini(&f);

	fake_init(&f, 8, 0);
	cr_assert_eq(f.q.avail->flags, HY_VU_AVAIL_F_NO_INTERRUPT, "no calls unless waiting");
	hy_vu_raw_submit(&f.q, &d, 1, NULL);
	cr_assert_eq(hy_vu_queue_wait(&f.q, 10), -ETIMEDOUT);
	cr_assert_eq(f.q.avail->flags, HY_VU_AVAIL_F_NO_INTERRUPT, "back to no calls after");
	fake_fini(&f);
}

Test(vu_client, request_names)
{
	cr_assert_str_eq(hy_vu_request_str(HY_VU_GET_VRING_BASE), "GET_VRING_BASE");
	cr_assert_str_eq(hy_vu_request_str(HY_VU_ADD_MEM_REG), "ADD_MEM_REG");
	cr_assert_str_eq(hy_vu_request_str(999), "unknown");
	cr_assert_str_eq(hy_vu_blk_status_str(HY_VU_BLK_S_UNSUPP), "UNSUPP");
	cr_assert_str_eq(hy_vu_blk_status_str(0x42), "0x42");
}
