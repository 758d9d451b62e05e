/* SPDX-License-Identifier: MIT */
/*
 * nvme-path: the worker's nvme path (worker/be_nvme.c, nvme/qpair.c, nvme/prp.c, worker/mem.c),
 * submit to completion, against the software NVMe controller of the unit tests
 * (tests/unit/nvme/model.c). For bench/nvme-instructions.sh, which runs it under callgrind and
 * takes the model's work out; by itself it prints ns per I/O, which mostly measures the model.
 *
 * Set up as master/nvme_dev.c and a worker do it: guest memory is a memfd mapped twice (the
 * "master's" mapping goes into the model's IOVA table at 4 GiB + gpa, the worker's into its
 * struct hy_mem), the queue pair and bounce buffer live in MAP_SHARED memory created with
 * hy_nvme_ctrl_create_ioq(), and the backend is chosen by hy_backend_bind(). The nvme/ files are
 * compiled into this program with the HY_NVME_MMIO_HOOK seam (a doorbell write is a call into the
 * model, which executes the commands there and then); worker/ is the library the worker uses.
 *
 * The I/O loop is worker/worker.c's: reap what finished, submit one new request per finished one
 * (4 KiB reads at pseudo-random block-aligned offsets, each request its own page-aligned buffer),
 * ring the doorbell once per batch. run_loop() holds everything measured and nothing else, so
 * callgrind can collect it alone (--toggle-collect=run_loop).
 *
 * usage: nvme-path [--qd N] [--ios N]
 * Exit 0; 1 when an I/O failed or the model saw a protocol violation; 2 on a usage or set-up
 * error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shm/log.h"
#include "tests/unit/nvme/model.h"
#include "worker/backend.h"
#include "worker/mem.h"

#define IOVA_BASE  0x100000000ull /* HY_NVME_GUEST_IOVA_BASE */
#define GUEST_SIZE (16ull << 20)
#define VRING	   256u	      /* the vring size: requests in flight at most */
#define NVME_DEPTH 512u	      /* what master/nvme_dev.c picks for it: 2 x VRING */
#define BOUNCE_LEN (1u << 20) /* HY_NVME_BOUNCE_LEN */
#define IO_SIZE	   4096u
#define MAX_QD	   VRING

static struct model *m;
static struct hy_nvme_ctrl ctrl;
static struct hy_mem gm;
static struct hy_nvme_be_queue bq;
static struct hy_backend_info info;
static struct hy_topo_device dev;
static struct hy_backend be;

static struct hy_io ios[MAX_QD];
static struct iovec iovs[MAX_QD];
static struct hy_io *done[MAX_QD];
static unsigned ndone;
static uint32_t rng = 12345;
static uint64_t nslots; /* IO_SIZE slots in the namespace */

#define DIE(...)                                                                                   \
	do {                                                                                       \
		fprintf(stderr, "nvme-path: " __VA_ARGS__);                                        \
		fputc('\n', stderr);                                                               \
		exit(2);                                                                           \
	} while (0)

static void usage(void)
{
	fprintf(stderr, "usage: nvme-path [--qd N (1..%u, default 1)] [--ios N (default 100000)]\n",
		MAX_QD);
	exit(2);
}

/* Guest memory: one region at gpa 0, the master's view in the IOMMU, the worker's in its table. */
static void guest_memory(void)
{
	struct hy_chan_region d = {.gpa = 0, .size = GUEST_SIZE, .uva = 0x7f0000000000ull};
	int fd = memfd_create("guest", MFD_CLOEXEC);
	void *master;

	if (fd < 0 || ftruncate(fd, (off_t)GUEST_SIZE) < 0)
		DIE("memfd: %s", strerror(errno));
	master = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (master == MAP_FAILED)
		DIE("mmap: %s", strerror(errno));
	if (model_dma_ops.map(m, master, GUEST_SIZE, IOVA_BASE + d.gpa) < 0)
		DIE("cannot map guest memory in the model");
	hy_mem_init(&gm);
	gm.iova_base = IOVA_BASE;
	if (hy_mem_add(&gm, &d, fd) < 0)
		DIE("hy_mem_add failed");
	close(fd);
}

/* The queue pair and bounce buffer, as master/nvme_dev.c queue_alloc() and queue_create(). */
static void queue_pair(void)
{
	struct hy_nvme_qpair_layout l;
	struct hy_nvme_qpair_mem mem;
	struct hy_nvme_ioq_desc d = {.qid = 1, .depth = NVME_DEPTH};
	uint64_t iova;
	size_t len;
	uint8_t *base;

	if (hy_nvme_qpair_layout(NVME_DEPTH, ctrl.info.max_xfer, &l) < 0)
		DIE("layout");
	len = (l.size + BOUNCE_LEN + 4095) & ~(size_t)4095;
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		DIE("mmap: %s", strerror(errno));
	if (hy_nvme_iova_alloc(&ctrl.iova, len, &iova) < 0 ||
	    ctrl.dma->map(ctrl.dma_priv, base, len, iova) < 0)
		DIE("cannot map the queue pair");
	mem.sq = base + l.sq_off;
	mem.sq_iova = iova + l.sq_off;
	mem.cq = base + l.cq_off;
	mem.cq_iova = iova + l.cq_off;
	mem.prp = base + l.prp_off;
	mem.prp_iova = iova + l.prp_off;
	hy_nvme_ctrl_qpair_cfg(&ctrl, 1, NVME_DEPTH, &mem, &bq.cfg);
	bq.bounce = base + l.size;
	bq.bounce_iova = iova + l.size;
	bq.bounce_len = BOUNCE_LEN;
	d.sq_iova = mem.sq_iova;
	d.cq_iova = mem.cq_iova;
	if (hy_nvme_ctrl_create_ioq(&ctrl, &d) < 0)
		DIE("cannot create the I/O queue pair");
}

static void setup(void)
{
	struct hy_nvme_ctrl_cfg cfg;
	struct hy_nvme_ns ns;

	hy_log_init("nvme-path", NULL, HY_LOG_ERR);
	m = model_new(); /* like QEMU 7.2's: MDTS 512 KiB, 8 MiB of 512-byte blocks, VWC */
	model_ctrl_cfg(m, &cfg);
	if (hy_nvme_ctrl_init(&ctrl, &cfg) < 0 || hy_nvme_ctrl_identify_ns(&ctrl, 1, &ns) < 0)
		DIE("the model controller did not come up");
	guest_memory();
	queue_pair();

	info.capacity = ns.nsze << ns.lba_shift;
	info.block_size = 1u << ns.lba_shift;
	info.discard = ns.dsm;
	info.write_zeroes = ns.write_zeroes;
	info.ram_fd = -1;
	info.nvme_ns = ns;
	info.nvme_q = &bq;
	snprintf(dev.name, sizeof(dev.name), "nvme0");
	dev.type = HY_BE_NVME;
	dev.nsid = 1;
	dev.queue_size = VRING;
	dev.nqueues = 1;
	hy_backend_bind(&be, &dev, &info, VRING, 0, &gm);
	if (be.ops->open(&be) < 0)
		DIE("the nvme backend did not open");
	nslots = info.capacity / IO_SIZE;

	/* Each request slot its own page of guest memory, and the namespace not all zeroes. */
	for (unsigned i = 0; i < MAX_QD; i++) {
		iovs[i].iov_base = hy_mem_gpa(&gm, 0x100000 + (uint64_t)i * IO_SIZE, IO_SIZE);
		iovs[i].iov_len = IO_SIZE;
		ios[i].op = HY_IO_READ;
		ios[i].len = IO_SIZE;
		ios[i].iov = &iovs[i];
		ios[i].iovcnt = 1;
	}
	for (uint64_t i = 0; i < info.capacity; i++)
		m->ns[0].data[i] = (uint8_t)(i * 7 + (i >> 12));
}

static void on_done(void *arg, struct hy_io *io)
{
	done[ndone++] = io;
}

static uint64_t next_offset(void)
{
	rng = rng * 1103515245u + 12345u;
	return (uint64_t)(rng >> 8) % nslots * IO_SIZE;
}

/* @n reads at queue depth @qd. Return: failed ios, or -errno from the backend. */
__attribute__((noinline)) int64_t run_loop(unsigned qd, uint64_t n);
__attribute__((noinline)) int64_t run_loop(unsigned qd, uint64_t n)
{
	uint64_t issued = 0, completed = 0;
	int64_t failed = 0;
	int ret;

	for (unsigned i = 0; i < qd && issued < n; i++, issued++) {
		ios[i].offset = next_offset();
		ret = be.ops->submit(&be, &ios[i]);
		if (ret < 0)
			return ret;
	}
	be.ops->flush(&be);
	while (completed < n) {
		ndone = 0;
		ret = be.ops->reap(&be, on_done, NULL);
		if (ret < 0)
			return ret;
		completed += ndone;
		for (unsigned i = 0; i < ndone; i++) {
			struct hy_io *io = done[i];

			failed += io->res != 0;
			if (issued == n)
				continue;
			io->offset = next_offset();
			issued++;
			ret = be.ops->submit(&be, io);
			if (ret < 0)
				return ret;
			if (ret == 1)
				completed++;
		}
		if (ndone)
			be.ops->flush(&be);
	}
	return failed;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long qd = 1;
	unsigned long long n = 100000;
	uint64_t t0, t1;
	int64_t failed;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--qd") && i + 1 < argc) {
			qd = strtoul(argv[++i], &end, 10);
			if (*end || qd < 1 || qd > MAX_QD)
				usage();
		} else if (!strcmp(argv[i], "--ios") && i + 1 < argc) {
			n = strtoull(argv[++i], &end, 10);
			if (*end || n < 1)
				usage();
		} else {
			usage();
		}
	}
	setup();
	t0 = now_ns();
	failed = run_loop((unsigned)qd, n);
	t1 = now_ns();
	if (failed < 0) {
		fprintf(stderr, "nvme-path: the backend failed: %s\n", strerror((int)-failed));
		return 1;
	}
	/* The last read of slot 0 landed where it should. */
	if (memcmp(iovs[0].iov_base, m->ns[0].data + ios[0].offset, IO_SIZE)) {
		fprintf(stderr, "nvme-path: read data does not match the namespace\n");
		return 1;
	}
	printf("qd %lu: %llu reads of %u bytes, %.0f ns per I/O (model included), %lld failed, "
	       "%llu commands, %llu SQ doorbells, %llu CQ doorbells\n",
	       qd, n, IO_SIZE, (double)(t1 - t0) / (double)n, (long long)failed,
	       (unsigned long long)m->io_cmds, (unsigned long long)m->sq_db_writes[1],
	       (unsigned long long)m->cq_db_writes[1]);
	if (m->errors) {
		fprintf(stderr, "nvme-path: the model saw a protocol violation: %s\n", m->error);
		return 1;
	}
	be.ops->close(&be);
	return failed ? 1 : 0;
}
