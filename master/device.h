/* SPDX-License-Identifier: MIT */
/*
 * One served device in the master: its vhost-user connection state, the frontend's memory table
 * (kept as fds so a respawned worker can map it again), per-vring state, and its workers.
 */
#ifndef HY_MASTER_DEVICE_H
#define HY_MASTER_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "master/topology.h"
#include "shm/chan.h"
#include "shm/region.h"
#include "shm/virtio_blk.h"
#include "worker/backend.h"

struct hy_nvme_dev;

/* The vhost-user view of one vring (vhost-user spec, "Ring states"). */
struct hy_vq {
	uint32_t num;
	uint16_t last_avail;
	bool have_addr;
	bool enabled; /* SET_VRING_ENABLE, or always when protocol features were not negotiated */
	bool started; /* kick fd received, not stopped by GET_VRING_BASE */
	bool running; /* its worker has it */
	struct hy_chan_vring addr;
	int kick_fd;
	int call_fd;
	int err_fd;
};

enum hy_wstate {
	HY_W_DOWN = 0, /* no process; respawn_at says when to try */
	HY_W_UP,       /* running */
	HY_W_FATAL,    /* exited 2: never respawned */
	HY_W_STOPPING, /* told to exit */
};

struct hy_worker_slot {
	enum hy_wstate state;
	pid_t pid;
	int chan;     /* master's end */
	uint32_t seq; /* last command sequence sent */
	int cpu;
	int numa;
	uint64_t started_ns;
	uint64_t respawn_at_ns; /* when DOWN: 0 = now */
	unsigned crashes;	/* consecutive early deaths */
	unsigned respawns;	/* total */
	uint64_t died_ns;	/* when the previous process died, for the recovery time */
	int last_status;	/* wait status of the last death */
};

/* The in-flight tracking region (shm/inflight.h) of the current frontend. */
struct hy_inflight {
	int fd; /* -1: none yet */
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	bool from_frontend; /* GET_INFLIGHT_FD / SET_INFLIGHT_FD, else our own */
};

struct hy_device {
	struct hy_topo_device *cfg;
	struct hy_backend_info info;
	struct hy_nvme_dev *nvme; /* nvme backend: the controller the master owns; else NULL */
	struct hy_shm_dev *shm;
	unsigned index;

	int listen_fd;
	int conn_fd; /* -1 when no frontend */
	pid_t peer_pid;
	bool broken;

	uint64_t features;	    /* SET_FEATURES */
	uint64_t protocol_features; /* SET_PROTOCOL_FEATURES */
	bool features_set;
	bool owner;

	unsigned nregions;
	struct hy_chan_region regions[HY_CHAN_MAX_REGIONS];
	int region_fds[HY_CHAN_MAX_REGIONS];

	struct hy_inflight inflight;
	int reply_fd; /* an fd the reply being built carries, or -1 */
	struct hy_vq vq[HY_MAX_QUEUES];
	struct hy_worker_slot w[HY_MAX_QUEUES];
	struct hy_virtio_blk_config config;
	uint64_t connects;
};

/**
 * hy_device_init() - fill the static parts of @d from its topology entry; no sockets, no
 * processes. Return: 0 or -errno with @err set.
 */
int hy_device_init(struct hy_device *d, struct hy_topo_device *cfg, unsigned index, char *err,
		   size_t errlen);

/** hy_device_features() - the virtio features this device offers. */
uint64_t hy_device_features(const struct hy_device *d);

/** hy_device_reset() - forget the frontend: stop rings, drop memory, close fds. */
void hy_device_reset(struct hy_device *d);

/**
 * hy_device_sync_rings() - start every vring that is ready (started, enabled, addressed, memory
 * present, worker up) and is not running yet, and stop running ones that were disabled.
 */
void hy_device_sync_rings(struct hy_device *d);

/**
 * hy_device_stop_ring() - take vring @i from its worker (drained); update last_avail.
 * Return: 0 or -errno.
 */
int hy_device_stop_ring(struct hy_device *d, unsigned i);

/**
 * hy_worker_call() - send one command to worker @q and wait for its reply (5 s at most).
 * Return: the worker's result (0 or -errno), or -errno for a dead or silent worker. *value gets
 * the reply's value when non-NULL.
 */
int hy_worker_call(struct hy_device *d, unsigned q, struct hy_cmd *cmd, const int *fds,
		   unsigned nfds, uint64_t *value);

/**
 * hy_worker_send_memory() - give worker @q the whole current memory table.
 */
int hy_worker_send_memory(struct hy_device *d, unsigned q);

/**
 * hy_inflight_create() - a zeroed in-flight region for @num_queues queues of @queue_size.
 * Return: 0 or -errno.
 */
int hy_inflight_create(struct hy_inflight *inf, uint16_t num_queues, uint16_t queue_size);

/** hy_inflight_drop() - close the region. */
void hy_inflight_drop(struct hy_inflight *inf);

#endif
