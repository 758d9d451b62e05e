/* SPDX-License-Identifier: MIT */
/*
 * vring-path: the worker's request path on the null backend, pop to used ring, in one thread.
 * For bench/worker-instructions.sh, which runs it under callgrind; by itself it prints ns per
 * request, which on one core and without a second one writing the rings says little.
 *
 * Set up as a worker and Linux's virtio-blk driver do it: guest memory is a memfd mapped twice
 * (the "driver's" mapping and the worker's struct hy_mem, with guest-physical addresses that are
 * not the offsets), a split ring of 256 with EVENT_IDX and INDIRECT_DESC, in-flight tracking on,
 * and every request an indirect table of three descriptors: the 16-byte header, one 4 KiB data
 * buffer, the status byte. The backend is worker/be_null.c with read_zeroes: false, chosen by
 * hy_backend_bind(); requests are parsed by worker/blk.c.
 *
 * device_pass() is worker/worker.c's poll_once() for a backend that completes at once: up to 32
 * chains popped and started, each completed into the used ring, one flush (and call eventfd
 * write when the driver asks for one) per pass. It holds everything measured and nothing else,
 * so callgrind can collect it alone (--toggle-collect=device_pass). The driver's side (reaping
 * the used ring, writing the next headers and descriptors, publishing avail->idx) runs between
 * passes, outside it.
 *
 * usage: vring-path [--qd N] [--ios N] [--write]
 * Exit 0; 1 when a request did not complete with status OK; 2 on a usage or set-up error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shm/inflight.h"
#include "shm/log.h"
#include "shm/region.h"
#include "shm/virtio_blk.h"
#include "worker/backend.h"
#include "worker/blk.h"
#include "worker/mem.h"
#include "worker/vring.h"

#define GPA_BASE   0x40000000ull /* guest-physical address of the memfd's first byte */
#define GUEST_SIZE (8ull << 20)
#define NUM	   256u /* ring size */
#define IO_SIZE	   4096u
#define POP_BATCH  32u /* worker/worker.c */
#define DISK	   (1ull << 30)

/* Guest memory layout, offsets in the memfd. */
#define DESC_OFF  0x0000ull  /* 16 * NUM */
#define AVAIL_OFF 0x1000ull  /* 6 + 2 * NUM */
#define USED_OFF  0x2000ull  /* 6 + 8 * NUM */
#define TABLE_OFF 0x4000ull  /* one 64-byte indirect table per descriptor */
#define SLOT_OFF  0x10000ull /* one 64-byte header + status slot per descriptor */
#define DATA_OFF  0x100000ull

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "vring-path: " __VA_ARGS__);                                       \
		fputc('\n', stderr);                                                               \
		exit(2);                                                                           \
	} while (0)

static uint8_t *g; /* the driver's view of guest memory */
static struct hy_mem mem;
static struct hy_vring vr;
static struct hy_topo_device dev;
static struct hy_backend_info info;
static struct hy_backend be;
static struct hy_shm_dev *shm;
static struct hy_blk blk;
static struct hy_req reqs[NUM];
static uint16_t free_slots[NUM];
static unsigned nfree;

/* The driver's state. */
static struct hy_vring_desc *desc;
static struct hy_vring_avail *avail;
static struct hy_vring_used *used;
static uint16_t avail_idx, last_used;
static uint32_t rng = 12345;
static bool do_write;
static unsigned long bad;

static uint64_t gpa(uint64_t off)
{
	return GPA_BASE + off;
}

/* Linux's virtqueue_add_split() with an indirect table: the request in slot @id. */
static void driver_add(uint16_t id)
{
	struct hy_vring_desc *t = (struct hy_vring_desc *)(g + TABLE_OFF + 64ull * id);
	struct hy_virtio_blk_outhdr *h = (struct hy_virtio_blk_outhdr *)(g + SLOT_OFF + 64ull * id);
	uint64_t data = DATA_OFF + (uint64_t)IO_SIZE * id;

	rng = rng * 1103515245u + 12345u;
	h->type = do_write ? HY_VIRTIO_BLK_T_OUT : HY_VIRTIO_BLK_T_IN;
	h->ioprio = 0;
	h->sector = (uint64_t)(rng % (DISK / IO_SIZE)) * (IO_SIZE / 512);
	g[SLOT_OFF + 64ull * id + 32] = 0xff; /* the status byte */
	t[0] = (struct hy_vring_desc){gpa(SLOT_OFF + 64ull * id), 16, HY_VRING_DESC_F_NEXT, 1};
	t[1] = (struct hy_vring_desc){gpa(data), IO_SIZE,
				      HY_VRING_DESC_F_NEXT | (do_write ? 0 : HY_VRING_DESC_F_WRITE),
				      2};
	t[2] = (struct hy_vring_desc){gpa(SLOT_OFF + 64ull * id + 32), 1, HY_VRING_DESC_F_WRITE, 0};
	desc[id] = (struct hy_vring_desc){gpa(TABLE_OFF + 64ull * id), 48, HY_VRING_DESC_F_INDIRECT,
					  0};
	avail->ring[avail_idx & (NUM - 1)] = id;
	avail_idx++;
}

/* Reap the used ring, check each status, add a new request for each; publish once. */
static unsigned driver_refill(void)
{
	uint16_t end = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
	unsigned n = 0;

	for (; last_used != end; last_used++, n++) {
		uint16_t id = (uint16_t)used->ring[last_used & (NUM - 1)].id;

		if (g[SLOT_OFF + 64ull * id + 32] != HY_VIRTIO_BLK_S_OK)
			bad++;
		driver_add(id);
	}
	/* used_event: interrupt after the next completion, as virtqueue_enable_cb() asks. */
	avail->ring[NUM] = last_used;
	__atomic_store_n(&avail->idx, avail_idx, __ATOMIC_RELEASE);
	return n;
}

/* worker/worker.c's poll_once() for a backend that completes every request at once. */
static __attribute__((noinline)) unsigned device_pass(void)
{
	unsigned work = 0, pushed = 0;

	for (unsigned n = 0; n < POP_BATCH && nfree; n++) {
		struct hy_req *r = &reqs[free_slots[nfree - 1]];
		int ret = hy_vring_pop(&vr, &r->chain);

		if (ret == 0)
			break;
		if (ret < 0)
			DIE("pop failed: %d", ret);
		work++;
		nfree--;
		if (hy_blk_start(&blk, r)) {
			hy_vring_push(&vr, r->chain.head, r->used_len);
			free_slots[nfree++] = r->slot;
			pushed++;
		}
	}
	if (pushed)
		hy_vring_flush(&vr);
	return work;
}

static void setup(void)
{
	int memfd = memfd_create("vring-path", MFD_CLOEXEC);
	struct hy_chan_region region = {.gpa = GPA_BASE, .size = GUEST_SIZE, .mmap_offset = 0};
	struct hy_chan_vring cfg;
	static struct hy_inflight_queue *inf;
	uint16_t *resubmit;
	size_t inf_len;
	int callfd;

	if (memfd < 0 || ftruncate(memfd, GUEST_SIZE))
		DIE("memfd: %s", strerror(errno));
	g = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (g == MAP_FAILED)
		DIE("mmap: %s", strerror(errno));
	region.uva = (uint64_t)(uintptr_t)g; /* the frontend's address: the driver's mapping */
	hy_mem_init(&mem);
	if (hy_mem_add(&mem, &region, memfd))
		DIE("hy_mem_add failed");
	close(memfd);

	desc = (struct hy_vring_desc *)(g + DESC_OFF);
	avail = (struct hy_vring_avail *)(g + AVAIL_OFF);
	used = (struct hy_vring_used *)(g + USED_OFF);
	cfg = (struct hy_chan_vring){.features = (1ull << HY_VIRTIO_F_VERSION_1) |
						 (1ull << HY_VIRTIO_RING_F_EVENT_IDX) |
						 (1ull << HY_VIRTIO_RING_F_INDIRECT_DESC),
				     .num = NUM,
				     .desc_uva = region.uva + DESC_OFF,
				     .avail_uva = region.uva + AVAIL_OFF,
				     .used_uva = region.uva + USED_OFF};
	callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (callfd < 0 || hy_vring_init(&vr, &mem, &cfg, -1, callfd))
		DIE("vring init failed");
	inf_len = sizeof(*inf) + NUM * sizeof(inf->desc[0]);
	inf = calloc(1, inf_len);
	if (!inf || hy_vring_inflight_attach(&vr, inf, NUM, &resubmit) != 0)
		DIE("in-flight region attach failed");

	strcpy(dev.name, "vring-path");
	dev.type = HY_BE_NULL;
	dev.size = DISK;
	dev.block_size = 512;
	dev.queue_size = NUM;
	dev.writeback = true;
	dev.read_zeroes = false;
	dev.nqueues = 1;
	info = (struct hy_backend_info){.capacity = DISK, .ram_fd = -1};
	hy_backend_bind(&be, &dev, &info, NUM, 0, &mem);
	if (be.ops->open(&be))
		DIE("null backend open failed");
	shm = hy_shm_dev_create("vring-path", 1);
	if (!shm)
		DIE("shm create failed");
	shm->writeback = 1;
	blk = (struct hy_blk){
		.dev = &dev, .info = &info, .shm = shm, .stats = &shm->q[0].stats, .be = &be};
	for (unsigned i = 0; i < NUM; i++) {
		reqs[i].slot = (uint16_t)i;
		free_slots[nfree++] = (uint16_t)(NUM - 1 - i);
	}
}

int main(int argc, char **argv)
{
	unsigned long ios = 1000000, done = 0;
	unsigned qd = 128;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--qd") && i + 1 < argc)
			qd = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ios") && i + 1 < argc)
			ios = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--write"))
			do_write = true;
		else
			DIE("usage: vring-path [--qd N (1..%u)] [--ios N] [--write]", NUM);
	}
	if (qd < 1 || qd > NUM || !ios)
		DIE("--qd wants 1..%u and --ios a positive count", NUM);
	hy_log_init("vring-path", NULL, HY_LOG_WARN);
	setup();

	for (uint16_t id = 0; id < qd; id++)
		driver_add(id);
	avail->ring[NUM] = 0;
	__atomic_store_n(&avail->idx, avail_idx, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < ios) {
		done += device_pass();
		driver_refill();
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("vring-path: %lu requests at QD%u (%s), %.1f ns each with the driver's side, %lu bad\n",
	       done, qd, do_write ? "4k writes" : "4k reads",
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / (double)done, bad);
	hy_shm_dev_destroy(shm);
	return bad ? 1 : 0;
}
