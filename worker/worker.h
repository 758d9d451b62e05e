/* SPDX-License-Identifier: MIT */
/*
 * A worker: one forked process per virtqueue. It owns its vring, its backend queue and its
 * request table alone; the master only talks to it over its channel (shm/chan.h).
 */
#ifndef HY_WORKER_WORKER_H
#define HY_WORKER_WORKER_H

#include "master/topology.h"
#include "shm/region.h"
#include "worker/backend.h"

/* Unsolicited messages a worker sends the master (struct hy_reply with seq 0). */
enum hy_worker_event {
	HY_EVT_BROKEN = 1, /* the guest broke the ring; value = queue index */
};

struct hy_worker_args {
	const struct hy_topo_device *dev;
	const struct hy_backend_info *info;
	struct hy_shm_dev *shm;
	unsigned qidx;
	int chan; /* the worker's end of the channel */
	int cpu;
	int numa;
};

/**
 * hy_worker_run() - the body of a worker process, called in the child after fork().
 * Return: the process exit code: 0 clean stop, 1 transient failure (respawn), 2 fatal
 * configuration error (never respawn).
 */
int hy_worker_run(const struct hy_worker_args *args);

/**
 * hy_worker_topology_load() - read the machine's topology for later pinning; the master calls it
 * before forking so that workers inherit it. Return: 0 or -errno.
 */
int hy_worker_topology_load(void);

/**
 * hy_worker_pin() - bind the calling process to @cpu (hwloc) and its memory to @numa (libnuma).
 * Return: 0 or -errno.
 */
int hy_worker_pin(int cpu, int numa);

#endif
