/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user wire protocol (QEMU docs/interop/vhost-user.rst): message types, header flags
 * and feature bits, shared by Hydra's backend (master/vhost.c) and its own frontend
 * (tools/vu_client.c) so the two can never disagree on a number.
 */
#ifndef HY_SHM_VHOST_USER_H
#define HY_SHM_VHOST_USER_H

/* "Message types" (front-end to back-end). */
enum hy_vu_request {
	HY_VU_GET_FEATURES = 1,
	HY_VU_SET_FEATURES = 2,
	HY_VU_SET_OWNER = 3,
	HY_VU_RESET_OWNER = 4,
	HY_VU_SET_MEM_TABLE = 5,
	HY_VU_SET_LOG_BASE = 6,
	HY_VU_SET_LOG_FD = 7,
	HY_VU_SET_VRING_NUM = 8,
	HY_VU_SET_VRING_ADDR = 9,
	HY_VU_SET_VRING_BASE = 10,
	HY_VU_GET_VRING_BASE = 11,
	HY_VU_SET_VRING_KICK = 12,
	HY_VU_SET_VRING_CALL = 13,
	HY_VU_SET_VRING_ERR = 14,
	HY_VU_GET_PROTOCOL_FEATURES = 15,
	HY_VU_SET_PROTOCOL_FEATURES = 16,
	HY_VU_GET_QUEUE_NUM = 17,
	HY_VU_SET_VRING_ENABLE = 18,
	HY_VU_GET_CONFIG = 24,
	HY_VU_SET_CONFIG = 25,
	HY_VU_GET_INFLIGHT_FD = 31,
	HY_VU_SET_INFLIGHT_FD = 32,
	HY_VU_RESET_DEVICE = 34,
	HY_VU_GET_MAX_MEM_SLOTS = 36,
	HY_VU_ADD_MEM_REG = 37,
	HY_VU_REM_MEM_REG = 38,
	HY_VU_SET_STATUS = 39,
	HY_VU_GET_STATUS = 40,
};

/* Header flags: version 1 in the low two bits, then reply and need_reply. */
#define HY_VU_VERSION	      0x1u
#define HY_VU_FLAG_REPLY      (1u << 2)
#define HY_VU_FLAG_NEED_REPLY (1u << 3)

/* SET_VRING_KICK/CALL/ERR payload: vring index in bits 0-7, bit 8 = no fd attached. */
#define HY_VU_VRING_IDX_MASK  0xffull
#define HY_VU_VRING_NOFD_MASK (1ull << 8)

/* GET_FEATURES bit 30: the backend speaks GET/SET_PROTOCOL_FEATURES. */
#define HY_VU_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define HY_VU_PROTOCOL_F_MQ		     0
#define HY_VU_PROTOCOL_F_LOG_SHMFD	     1
#define HY_VU_PROTOCOL_F_REPLY_ACK	     3
#define HY_VU_PROTOCOL_F_BACKEND_REQ	     5
#define HY_VU_PROTOCOL_F_CONFIG		     9
#define HY_VU_PROTOCOL_F_INFLIGHT_SHMFD	     12
#define HY_VU_PROTOCOL_F_RESET_DEVICE	     13
#define HY_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define HY_VU_PROTOCOL_F_STATUS		     16

/* SET_MEM_TABLE carries at most this many regions (VHOST_MEMORY_BASELINE_NREGIONS). */
#define HY_VU_MAX_REGIONS 8

#define HY_VU_FLAG_VERSION	0x3u /* the version field of the header flags */
#define HY_VU_VRING_NOFD	HY_VU_VRING_NOFD_MASK
#define HY_VU_BASELINE_NREGIONS HY_VU_MAX_REGIONS
#define HY_VU_CONFIG_MAX	256 /* VHOST_USER_MAX_CONFIG_SIZE */

/**
 * hy_vu_request_name() - "SET_MEM_TABLE" and so on, for logs; "unknown" past the table.
 */
const char *hy_vu_request_name(unsigned int request);

#endif
