/* SPDX-License-Identifier: MIT */
/*
 * A split virtqueue (virtio 1.2, 2.7) seen from the device side, owned by one worker.
 *
 * The guest is hostile: every index, descriptor and address it writes is validated before use.
 * The only structures read from guest memory are the descriptor table, the avail ring and the
 * used ring's avail_event; the only ones written are the used ring and its flags/avail_event.
 */
#ifndef HY_WORKER_VRING_H
#define HY_WORKER_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "shm/chan.h"
#include "shm/inflight.h"
#include "worker/mem.h"

#define HY_VRING_MAX_NUM 32768 /* virtio 1.2, 2.7: Queue Size is at most 32768 */

/*
 * Segments one request may have, header and status included. virtio-blk's seg_max is this minus 2
 * (header and status each take at least one descriptor); a data buffer that crosses a guest
 * memory region boundary takes two iovecs, so the walker may need more iovecs than descriptors:
 * it fails the chain with -E2BIG when they run out.
 */
#define HY_CHAIN_MAX_IOV 258

/* The virtio structures, with the spec's field names (virtio 1.2, 2.7.5, 2.7.6, 2.7.8). */
struct hy_vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define HY_VRING_DESC_F_NEXT	 1
#define HY_VRING_DESC_F_WRITE	 2
#define HY_VRING_DESC_F_INDIRECT 4

struct hy_vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* then uint16_t used_event */
};
#define HY_VRING_AVAIL_F_NO_INTERRUPT 1

struct hy_vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct hy_vring_used {
	uint16_t flags;
	uint16_t idx;
	struct hy_vring_used_elem ring[]; /* then uint16_t avail_event */
};
#define HY_VRING_USED_F_NO_NOTIFY 1

#define HY_VIRTIO_RING_F_INDIRECT_DESC 28
#define HY_VIRTIO_RING_F_EVENT_IDX     29
#define HY_VIRTIO_F_VERSION_1	       32

/* One descriptor chain, flattened to host iovecs. */
struct hy_chain {
	uint16_t head;	  /* id to hand back in the used ring */
	uint16_t n_out;	  /* iov[0, n_out): device-readable */
	uint16_t n_in;	  /* iov[n_out, n_out + n_in): device-writable */
	uint32_t out_len; /* bytes in the readable part */
	uint32_t in_len;  /* bytes in the writable part */
	struct iovec iov[HY_CHAIN_MAX_IOV];
};

struct hy_vring {
	struct hy_mem *mem;
	uint32_t num; /* power of two */
	bool event_idx;
	bool indirect;
	bool broken; /* a ring-level protocol violation was seen; nothing more is popped */
	bool kicks_enabled;
	struct hy_vring_desc *desc;
	struct hy_vring_avail *avail;
	struct hy_vring_used *used;
	uint16_t last_avail;	 /* next avail ring slot to read */
	uint16_t avail_ahead;	 /* entries past last_avail seen published at the last avail->idx read */
	uint16_t used_idx;	 /* our shadow of used->idx, published by hy_vring_flush() */
	uint16_t signalled_used; /* used->idx at the last call signal (EVENT_IDX) */
	bool signalled_valid;
	int kick_fd;
	int call_fd;			    /* -1 when the frontend gave none */
	struct hy_inflight_queue *inflight; /* vhost-user in-flight tracking, or NULL */
	uint64_t inflight_counter;	    /* next DescStateSplit.counter */
};

/**
 * hy_vring_init() - attach to a ring described by the frontend.
 * @vr: zeroed or previously used vring
 * @mem: guest memory; must stay valid while the vring is used
 * @cfg: num, ring addresses (frontend virtual), last_avail and negotiated features
 * @kick_fd: eventfd the guest kicks, or -1
 * @call_fd: eventfd to signal the guest, or -1
 *
 * Checks that num is a power of two no larger than HY_VRING_MAX_NUM, that the three areas lie
 * wholly inside guest memory with the alignment virtio 1.2, 2.7 requires (desc 16, avail 2,
 * used 4). The used ring's idx is read back from guest memory as the starting used_idx (it is the
 * device's own structure: after a restart it holds what we published before). Does not close fds.
 * Return: 0 or -EINVAL.
 */
int hy_vring_init(struct hy_vring *vr, struct hy_mem *mem, const struct hy_chan_vring *cfg,
		  int kick_fd, int call_fd);

/**
 * hy_vring_pop() - take the next available descriptor chain.
 * @vr: the ring
 * @chain: filled with the head and the chain's iovecs
 *
 * Walks direct and indirect chains (virtio 1.2, 2.7.5.3) and validates every step: descriptor
 * index < num, chain no longer than num (or than the indirect table), no nested indirect, no
 * INDIRECT together with NEXT, indirect table length a non-zero multiple of 16 and inside guest
 * memory (copied to a scratch buffer if it crosses a region boundary), every buffer wholly inside
 * guest memory with no overflow, device-writable descriptors only after all device-readable ones,
 * total length below 4 GiB, at most HY_CHAIN_MAX_IOV iovecs.
 *
 * Return: 1 when @chain holds a request; 0 when the ring is empty; -EINVAL (or -E2BIG) when the
 * chain at the head is malformed: @chain->head is set, the slot is consumed and the caller must
 * hand it back with hy_vring_push(vr, head, 0); -EIO when the ring itself is broken (avail->idx
 * moved more than num ahead, head index >= num): vr->broken is set and every later call
 * returns -EIO.
 */
int hy_vring_pop(struct hy_vring *vr, struct hy_chain *chain);

/** hy_vring_avail_pending() - number of chains the guest has made available and we have not popped.
 */
uint16_t hy_vring_avail_pending(struct hy_vring *vr);

/**
 * hy_vring_push() - put one completed chain in the used ring; not visible to the guest until
 * hy_vring_flush().
 * @len: bytes written into the device-writable part
 */
void hy_vring_push(struct hy_vring *vr, uint16_t head, uint32_t len);

/**
 * hy_vring_flush() - publish used->idx and signal the call eventfd if the driver wants it
 * (VIRTIO_RING_F_EVENT_IDX used_event, else VRING_AVAIL_F_NO_INTERRUPT). One eventfd write per
 * call at most, so a worker calls it once per batch.
 * Return: 1 if it signalled, 0 if not.
 */
int hy_vring_flush(struct hy_vring *vr);

/**
 * hy_vring_inflight_attach() - track this ring in a vhost-user in-flight region (vhost-user spec,
 * "Inflight I/O tracking", split virtqueues) and recover what a previous owner left in flight.
 * @vr: a ring just set up by hy_vring_init()
 * @inf: this queue's QueueRegionSplit in the shared region
 * @capacity: descriptors the region has room for
 * @resubmit: set to a malloc'd array of the heads to run again, in the order they were taken
 *            from the avail ring (counter order), or NULL when there are none
 *
 * A fresh region (version 0, or sized for another ring) is initialised. A used one is recovered:
 * if its used_idx lags used->idx the last batch was published but not yet recorded, so the
 * batch list from last_batch_head is cleared (the whole list, not just its head: SPDK #3766);
 * every head still marked in flight is to be resubmitted, and last_avail becomes
 * used->idx + (heads in flight), whatever SET_VRING_BASE said.
 * Return: the number of heads in *@resubmit, or -EINVAL when @capacity is below the ring size.
 */
int hy_vring_inflight_attach(struct hy_vring *vr, struct hy_inflight_queue *inf, uint32_t capacity,
			     uint16_t **resubmit);

/**
 * hy_vring_walk() - flatten the chain at @head again (for resubmission), with the validation of
 * hy_vring_pop(), without touching the avail ring.
 * Return: 1, or -EINVAL / -E2BIG for a malformed chain.
 */
int hy_vring_walk(struct hy_vring *vr, uint16_t head, struct hy_chain *chain);

/**
 * hy_vring_kicks_disable() - tell the driver not to kick while we poll (VRING_USED_F_NO_NOTIFY,
 * or with EVENT_IDX an avail_event the driver will not cross).
 */
void hy_vring_kicks_disable(struct hy_vring *vr);

/**
 * hy_vring_kicks_enable() - ask for kicks again before sleeping on kick_fd.
 * Return: true when chains arrived meanwhile (the caller must not sleep), false when it may.
 */
bool hy_vring_kicks_enable(struct hy_vring *vr);

#endif
