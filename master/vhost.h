/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user protocol, backend side (QEMU docs/interop/vhost-user.rst), for virtio-blk.
 */
#ifndef HY_MASTER_VHOST_H
#define HY_MASTER_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/device.h"

#include "shm/vhost_user.h"

struct hy_vu_state {
	uint32_t index;
	uint32_t num;
};

struct hy_vu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct hy_vu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct hy_chan_region regions[HY_VU_BASELINE_NREGIONS];
};

struct hy_vu_mem_single {
	uint64_t padding;
	struct hy_chan_region region;
};

struct hy_vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[HY_VU_CONFIG_MAX];
};

/*
 * The wire header is 12 bytes and the payload follows it at once. A leading pad puts the header at
 * offset 4 so the payload sits 8-byte aligned at offset 16 while header and payload stay
 * contiguous: the message goes to and from the socket as the bytes from &request on.
 */
/* VhostUserInflight: 20 bytes in the spec, 24 with QEMU's struct padding. */
struct hy_vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};

struct hy_vu_msg {
	uint32_t pad;
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* of the payload */
	union {
		uint64_t u64;
		struct hy_vu_state state;
		struct hy_vu_addr addr;
		struct hy_vu_memory memory;
		struct hy_vu_mem_single mem;
		struct hy_vu_config config;
		struct hy_vu_inflight inflight;
		uint8_t raw[512];
	} payload;
};
_Static_assert(offsetof(struct hy_vu_msg, payload) == offsetof(struct hy_vu_msg, request) + 12,
	       "vhost-user: the payload follows the 12-byte header");

#define HY_VU_HDR_SIZE 12

/**
 * hy_vhost_handle() - act on one message from the frontend.
 * @d: the device
 * @m: the message (request, flags, size and payload as received)
 * @fds: fds that came with it; this function takes ownership of all of them
 * @nfds: their number
 * @reply: filled when the message gets a reply; an fd that goes with it is left in
 *         d->reply_fd (owned by the device, not to be closed by the caller)
 * Return: 1 when @reply must be sent, 0 when not, -EPROTO (or another -errno) when the frontend
 * broke the protocol: the caller marks the device broken and closes the connection.
 */
int hy_vhost_handle(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds,
		    struct hy_vu_msg *reply);

/**
 * hy_vhost_recv() - read one message from @sock.
 * Return: 0, -ECONNRESET on orderly close, -EPROTO on a malformed header, -errno.
 */
int hy_vhost_recv(int sock, struct hy_vu_msg *m, int *fds, unsigned *nfds);

/**
 * hy_vhost_send() - write a reply, with @fd attached when it is not -1 (GET_INFLIGHT_FD).
 * Return: 0 or -errno.
 */
int hy_vhost_send(int sock, const struct hy_vu_msg *m, int fd);

/** hy_vhost_request_name() - "SET_MEM_TABLE" and so on, for logs. */
const char *hy_vhost_request_name(uint32_t request);

/** hy_vhost_protocol_features() - the protocol features Hydra offers. */
uint64_t hy_vhost_protocol_features(void);

#endif
