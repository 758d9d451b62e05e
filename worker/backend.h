/* SPDX-License-Identifier: MIT */
/*
 * Where a worker's requests are executed. Each worker opens its own instance: its own file
 * descriptor and io_uring ring (uring), its own mapping of the shared memory (ram). Nothing here
 * is shared between workers except the data itself.
 */
#ifndef HY_WORKER_BACKEND_H
#define HY_WORKER_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "master/topology.h"
#include "nvme/nvme.h"

enum hy_io_op {
	HY_IO_READ = 0,
	HY_IO_WRITE,
	HY_IO_FLUSH,
	HY_IO_DISCARD,	    /* the range may read back as anything afterwards; we punch holes */
	HY_IO_WRITE_ZEROES, /* the range reads back as zeroes afterwards */
};

/* One operation, embedded in the request that owns it. */
struct hy_io {
	enum hy_io_op op;
	bool dsync;	   /* write-through: the write is durable when it completes */
	bool unmap;	   /* WRITE_ZEROES may deallocate */
	uint64_t offset;   /* bytes */
	uint64_t len;	   /* bytes */
	struct iovec *iov; /* guest buffers, used in place (READ, WRITE) */
	unsigned iovcnt;
	int res; /* 0 or -errno once complete */
};

/*
 * nvme: what one worker needs to own its I/O queue pair. The master created the queues in memory
 * it mapped MAP_SHARED before forking, and mapped BAR0: the pointers are valid in the worker as
 * they are (fork keeps both mappings), so nothing but these values crosses to the worker.
 */
struct hy_nvme_be_queue {
	struct hy_nvme_qpair_cfg cfg;
	uint8_t *bounce; /* staging for layouts neither PRPs nor SGLs express (README-nvme.md) */
	uint64_t bounce_iova;
	uint32_t bounce_len;
};

/* What the master found out about the backing store before forking workers. */
struct hy_backend_info {
	uint64_t capacity;   /* bytes exposed to the guest */
	uint32_t block_size; /* logical block size offered to the guest */
	bool discard;	     /* HY_IO_DISCARD is supported */
	bool write_zeroes;   /* HY_IO_WRITE_ZEROES is supported */
	bool is_blockdev;
	int ram_fd; /* ram: the master's memfd, inherited by workers; else -1 */
	/* nvme: the namespace, and one queue pair per queue (master memory, read after fork) */
	struct hy_nvme_ns nvme_ns;
	const struct hy_nvme_be_queue *nvme_q;
};

struct hy_backend;

/* Called for each completion reaped by hy_backend_ops.reap(). */
typedef void (*hy_io_done_fn)(void *arg, struct hy_io *io);

struct hy_backend_ops {
	const char *name;
	/* In the worker, after pinning: open files, set up rings. 0 or -errno. */
	int (*open)(struct hy_backend *be);
	void (*close)(struct hy_backend *be);
	/*
	 * Queue @io. Return 1 when it completed at once (io->res set), 0 when queued (it comes back
	 * through reap()), -errno when it could not be queued (the caller fails the request).
	 */
	int (*submit)(struct hy_backend *be, struct hy_io *io);
	/* Hand everything queued since the last call to the kernel: one syscall per batch. */
	int (*flush)(struct hy_backend *be);
	/*
	 * Call @fn for every finished io. Return how many, or -errno; -ETIMEDOUT means the device
	 * stopped answering and the worker must exit so the master can reset the backend queue.
	 */
	int (*reap)(struct hy_backend *be, hy_io_done_fn fn, void *arg);
	/* An fd that is readable while completions wait to be reaped, or -1. */
	int (*event_fd)(struct hy_backend *be);
};

struct hy_mem;

struct hy_backend {
	const struct hy_backend_ops *ops;
	const struct hy_topo_device *dev;
	const struct hy_backend_info *info;
	uint32_t depth;	    /* most ios in flight at once (the vring size) */
	unsigned qidx;	    /* the worker's queue */
	struct hy_mem *mem; /* the worker's guest memory table (nvme: buffer address to IOVA) */
	void *priv;
};

extern const struct hy_backend_ops hy_backend_null;
extern const struct hy_backend_ops hy_backend_ram;
extern const struct hy_backend_ops hy_backend_uring;
extern const struct hy_backend_ops hy_backend_nvme;

/**
 * hy_backend_prepare() - in the master, before any worker exists: create the backing store if it
 * is missing (uring: a sparse file of the topology's size; ram: a memfd), find its capacity and
 * what it supports.
 * @dev: the device
 * @info: filled in
 * @err: message on failure
 * Return: 0 or -errno with @err set.
 */
int hy_backend_prepare(const struct hy_topo_device *dev, struct hy_backend_info *info, char *err,
		       size_t errlen);

/**
 * hy_backend_bind() - choose the ops for @dev and attach @info; the worker then calls ops->open().
 */
void hy_backend_bind(struct hy_backend *be, const struct hy_topo_device *dev,
		     const struct hy_backend_info *info, uint32_t depth, unsigned qidx,
		     struct hy_mem *mem);

#endif
