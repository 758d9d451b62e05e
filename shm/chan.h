/* SPDX-License-Identifier: MIT */
/*
 * The control channel between the master and one worker: a SOCK_SEQPACKET socketpair carrying
 * fixed-size commands and, with SCM_RIGHTS, the fds a worker needs (guest memory regions, kick
 * and call eventfds). Only control travels here; requests never do.
 *
 * Every command gets exactly one reply carrying the command's sequence number and a result.
 * The worker learns that a command is waiting without a syscall: the master bumps cmd_seq in the
 * worker's shared-memory block (shm/region.h) after sending, and a polling worker compares it with
 * the last sequence it handled.
 */
#ifndef HY_SHM_CHAN_H
#define HY_SHM_CHAN_H

#include <stddef.h>
#include <stdint.h>

#define HY_CHAN_MAX_REGIONS 64 /* GET_MAX_MEM_SLOTS answers this */
#define HY_CHAN_MAX_FDS	    HY_CHAN_MAX_REGIONS

enum hy_cmd_type {
	HY_CMD_MEM_SET = 1, /* replace the whole table: regions[0..nregions), one fd each */
	HY_CMD_MEM_ADD,	    /* add regions[0], one fd */
	HY_CMD_MEM_DEL,	    /* remove regions[0], no fd */
	HY_CMD_VRING_START, /* vring; fds: kick, then call if arg bit 0, then the inflight region */
	HY_CMD_VRING_CALL,  /* replace the call eventfd: fds[0], or none for "no call fd" */
	HY_CMD_VRING_STOP,  /* drain, stop; reply value = last_avail_idx */
	HY_CMD_PIN,	    /* move to cpu (arg & 0xffffffff), NUMA node (arg >> 32) */
	HY_CMD_LOG_LEVEL,   /* set log level `arg` */
	HY_CMD_EXIT,	    /* drain and exit 0 */
};

/* Frontend memory region, as in the vhost-user spec's VhostUserMemoryRegion. */
struct hy_chan_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};

struct hy_chan_vring {
	uint64_t features;   /* negotiated virtio features (VIRTIO_RING_F_EVENT_IDX, ...) */
	uint32_t num;	     /* SET_VRING_NUM */
	uint16_t last_avail; /* SET_VRING_BASE */
	uint16_t pad;
	uint64_t desc_uva; /* SET_VRING_ADDR, frontend virtual addresses */
	uint64_t avail_uva;
	uint64_t used_uva;
	uint64_t flags; /* SET_VRING_ADDR flags */
	/*
	 * In-flight tracking (shm/inflight.h): when inflight_map_size is non-zero, the last fd of
	 * HY_CMD_VRING_START is the region; map inflight_map_size bytes from offset 0 of it and
	 * find this queue's struct hy_inflight_queue at inflight_offset, with room for
	 * inflight_capacity descriptors.
	 */
	uint64_t inflight_map_size;
	uint64_t inflight_offset;
	uint32_t inflight_capacity;
	uint32_t pad2;
	uint64_t prev_death_ns; /* CLOCK_MONOTONIC death of the worker this one replaces, or 0 */
};

struct hy_cmd {
	uint32_t type; /* enum hy_cmd_type */
	uint32_t seq;
	uint64_t arg;
	uint32_t nregions;
	uint32_t nfds; /* fds attached with SCM_RIGHTS */
	struct hy_chan_vring vring;
	struct hy_chan_region regions[HY_CHAN_MAX_REGIONS];
};

struct hy_reply {
	uint32_t seq;
	int32_t result; /* 0 or -errno */
	uint64_t value;
};

/**
 * hy_chan_send() - send one message with up to HY_CHAN_MAX_FDS fds.
 * Return: 0 or -errno (-EPIPE when the peer is gone).
 */
int hy_chan_send(int sock, const void *msg, size_t len, const int *fds, unsigned nfds);

/**
 * hy_chan_recv() - receive one message and its fds.
 * @fds: room for HY_CHAN_MAX_FDS fds; unused slots are set to -1
 * @nfds: number of fds received
 * @timeout_ms: -1 waits forever, 0 does not wait
 *
 * A message of a size other than @len is an error (-EPROTO) and any fds that came with it are
 * closed.
 * Return: 0, -EAGAIN (nothing within the timeout), -ECONNRESET (peer closed) or -errno.
 */
int hy_chan_recv(int sock, void *msg, size_t len, int *fds, unsigned *nfds, int timeout_ms);

#endif
