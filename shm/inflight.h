/* SPDX-License-Identifier: MIT */
/*
 * The in-flight I/O tracking region of the vhost-user spec ("Inflight I/O tracking", split
 * virtqueues), shared by the master (which creates it, or receives it from QEMU with
 * SET_INFLIGHT_FD) and the workers (each tracks its own queue in it).
 *
 * The region holds one QueueRegionSplit per queue, each padded to a 64-byte multiple, laid out
 * exactly as QEMU and libvhost-user expect so QEMU can keep it across a restart of hydra.
 */
#ifndef HY_SHM_INFLIGHT_H
#define HY_SHM_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#define HY_INFLIGHT_VERSION 1
#define HY_INFLIGHT_ALIGN   64

/* vhost-user spec: DescStateSplit. */
struct hy_inflight_desc {
	uint8_t inflight; /* this head descriptor is in flight */
	uint8_t padding[5];
	uint16_t next;	  /* links the last batch of used descriptors */
	uint64_t counter; /* order in which heads were taken from the avail ring */
};

/* vhost-user spec: QueueRegionSplit. */
struct hy_inflight_queue {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;	  /* entries in desc[]: the queue size */
	uint16_t last_batch_head; /* head of the list of the last batch of used descriptors */
	uint16_t used_idx;	  /* used->idx once the last batch was fully recorded */
	struct hy_inflight_desc desc[];
};

_Static_assert(sizeof(struct hy_inflight_desc) == 16, "vhost-user spec: DescStateSplit");
_Static_assert(offsetof(struct hy_inflight_queue, desc) == 16, "vhost-user spec: QueueRegionSplit");

/*
 * Bytes per queue. The "+ sizeof(uint16_t)" is libvhost-user's formula (vu_inflight_queue_size),
 * which QEMU-side sizes follow; the 64-byte alignment leaves room for the 16-byte header.
 */
static inline size_t hy_inflight_queue_size(uint16_t queue_size)
{
	size_t n = sizeof(struct hy_inflight_desc) * queue_size + sizeof(uint16_t);

	return (n + HY_INFLIGHT_ALIGN - 1) & ~(size_t)(HY_INFLIGHT_ALIGN - 1);
}

#endif
