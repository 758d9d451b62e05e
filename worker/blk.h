/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk requests (virtio 1.2, 5.2.6): from a popped descriptor chain to a backend operation
 * and back to a status byte. Everything the guest wrote is validated here: header and status
 * sizes, request type, sector range, data direction and length, discard segments.
 */
#ifndef HY_WORKER_BLK_H
#define HY_WORKER_BLK_H

#include <stdint.h>

#include "shm/region.h"
#include "worker/backend.h"
#include "worker/vring.h"

struct hy_req {
	struct hy_chain chain; /* hy_vring_pop() fills it; data iovecs are adjusted in place */
	struct hy_io io;
	uint8_t *status;   /* the guest's status byte */
	uint32_t used_len; /* bytes written to device-writable buffers, status included */
	uint64_t bytes;	   /* data bytes moved, for statistics (io.len shrinks on a resubmission) */
	uint32_t type;
	uint16_t slot; /* index in the worker's request table */
};

struct hy_blk {
	const struct hy_topo_device *dev;
	const struct hy_backend_info *info;
	const struct hy_shm_dev *shm; /* writeback flag */
	struct hy_shm_stats *stats;   /* this queue's counters */
	struct hy_backend *be;
};

/**
 * hy_blk_start() - parse a popped request and start it.
 * @b: the worker's context
 * @r: the request, r->chain filled by hy_vring_pop()
 *
 * Return: 1 when the request is already complete (its status and used_len are set; a malformed
 * request completes here with IOERR or UNSUPP, or with used_len 0 when it has no status byte),
 * 0 when it went to the backend (hy_blk_finish() follows).
 */
int hy_blk_start(struct hy_blk *b, struct hy_req *r);

/**
 * hy_blk_finish() - the backend finished r->io: write the status byte, count it.
 */
void hy_blk_finish(struct hy_blk *b, struct hy_req *r);

#endif
