/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory block of one device: what its master and its workers both see.
 *
 * The master creates it (memfd, MAP_SHARED) before forking the workers, which inherit the mapping.
 * Each field has exactly one writer: the master writes the device line and cmd_seq, a worker
 * writes its own queue's status line and statistics. Readers use hy_load_relaxed(); statistics
 * are plain counters (a worker never shares a cache line it writes with anyone who writes).
 */
#ifndef HY_SHM_REGION_H
#define HY_SHM_REGION_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#define HY_SHM_MAGIC   0x314d534152445948ull /* "HYDRASM1" */
#define HY_SHM_VERSION 1
#define HY_CACHELINE   64

enum hy_queue_state {
	HY_Q_DOWN = 0, /* no worker process */
	HY_Q_IDLE,     /* worker up, no vring started */
	HY_Q_POLLING,  /* vring running, busy-polling */
	HY_Q_SLEEPING, /* vring running, waiting for a kick */
	HY_Q_BROKEN,   /* the guest broke the ring; waiting for a reset */
};

/* Written only by the queue's worker. */
struct hy_shm_stats {
	uint64_t requests;
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t read_bytes, write_bytes;
	uint64_t io_errors;   /* VIRTIO_BLK_S_IOERR returned */
	uint64_t unsupported; /* VIRTIO_BLK_S_UNSUPP returned */
	uint64_t bad_chains;  /* malformed descriptor chains */
	uint64_t signals;     /* call eventfd writes */
	uint64_t wakeups;     /* sleeps ended by a kick or a completion */
	uint64_t inflight;    /* requests at the backend right now */
	uint64_t busy_ns;     /* time spent polling with work in hand */
};

struct hy_shm_queue {
	/* Master's line. */
	alignas(HY_CACHELINE) uint32_t cmd_seq; /* bumped after each command sent on the channel */
	uint32_t cpu_target;			/* where the master wants the worker */

	/* Worker's line. */
	alignas(HY_CACHELINE) int32_t pid;
	uint32_t state; /* enum hy_queue_state */
	int32_t cpu;	/* the core it is pinned to */
	int32_t numa;	/* its memory node */
	uint16_t last_avail;
	uint16_t used_idx;
	uint32_t vring_num;
	uint64_t started_ns;  /* CLOCK_MONOTONIC when the worker came up */
	uint64_t recovery_ns; /* predecessor's death to this worker's first completion */

	alignas(HY_CACHELINE) struct hy_shm_stats stats;
};

struct hy_shm_dev {
	uint64_t magic;
	uint32_t version;
	uint32_t nqueues;
	uint64_t size;	    /* bytes of this block */
	uint32_t writeback; /* 1 = write-back cache, 0 = write-through (virtio-blk CONFIG_WCE) */
	uint32_t pad;
	alignas(HY_CACHELINE) struct hy_shm_queue q[];
};

_Static_assert(offsetof(struct hy_shm_queue, pid) == HY_CACHELINE,
	       "worker line starts a cache line");
_Static_assert(offsetof(struct hy_shm_queue, stats) == 2 * HY_CACHELINE,
	       "stats start a cache line");
_Static_assert(sizeof(struct hy_shm_queue) % HY_CACHELINE == 0, "queues do not share lines");
_Static_assert(offsetof(struct hy_shm_dev, q) == HY_CACHELINE,
	       "queues start after the device line");

/**
 * hy_shm_dev_create() - create and map a zeroed block for @nqueues queues.
 * Return: the mapping, or NULL with errno set.
 */
struct hy_shm_dev *hy_shm_dev_create(const char *name, unsigned nqueues);

/** hy_shm_dev_destroy() - unmap it. */
void hy_shm_dev_destroy(struct hy_shm_dev *dev);

/** hy_queue_state_name() - "down", "idle", "polling", "sleeping", "broken". */
const char *hy_queue_state_name(uint32_t state);

#endif
