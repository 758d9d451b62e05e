/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk as the virtio 1.2 spec (section 5.2) defines it: feature bits, the configuration
 * layout the master answers GET_CONFIG with, and the request format workers execute. Shared by
 * the master, the workers and the project's own frontend (tools/).
 */
#ifndef HY_SHM_VIRTIO_BLK_H
#define HY_SHM_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

/* 5.2.3 Feature bits */
#define HY_VIRTIO_BLK_F_SIZE_MAX     1
#define HY_VIRTIO_BLK_F_SEG_MAX	     2
#define HY_VIRTIO_BLK_F_GEOMETRY     4
#define HY_VIRTIO_BLK_F_RO	     5
#define HY_VIRTIO_BLK_F_BLK_SIZE     6
#define HY_VIRTIO_BLK_F_FLUSH	     9
#define HY_VIRTIO_BLK_F_TOPOLOGY     10
#define HY_VIRTIO_BLK_F_CONFIG_WCE   11
#define HY_VIRTIO_BLK_F_MQ	     12
#define HY_VIRTIO_BLK_F_DISCARD	     13
#define HY_VIRTIO_BLK_F_WRITE_ZEROES 14

/* 5.2.4 Device configuration layout */
struct hy_virtio_blk_config {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(offsetof(struct hy_virtio_blk_config, writeback) == 32, "virtio 1.2, 5.2.4");
_Static_assert(offsetof(struct hy_virtio_blk_config, num_queues) == 34, "virtio 1.2, 5.2.4");
_Static_assert(sizeof(struct hy_virtio_blk_config) == 60, "virtio 1.2, 5.2.4");

/* 5.2.6 Device Operation */
#define HY_VIRTIO_BLK_T_IN	     0
#define HY_VIRTIO_BLK_T_OUT	     1
#define HY_VIRTIO_BLK_T_FLUSH	     4
#define HY_VIRTIO_BLK_T_GET_ID	     8
#define HY_VIRTIO_BLK_T_GET_LIFETIME 10
#define HY_VIRTIO_BLK_T_DISCARD	     11
#define HY_VIRTIO_BLK_T_WRITE_ZEROES 13
#define HY_VIRTIO_BLK_T_SECURE_ERASE 14

#define HY_VIRTIO_BLK_S_OK     0
#define HY_VIRTIO_BLK_S_IOERR  1
#define HY_VIRTIO_BLK_S_UNSUPP 2

#define HY_VIRTIO_BLK_ID_BYTES 20
#define HY_SECTOR_SHIFT	       9 /* virtio-blk sectors are 512 bytes whatever blk_size says */

struct hy_virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct hy_virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags; /* bit 0: unmap */
};
#define HY_VIRTIO_BLK_WZ_F_UNMAP 1

/* Limits Hydra offers in the configuration space. */
#define HY_BLK_SEG_MAX		126 /* (126 + 2) descriptors, x2 iovecs <= HY_CHAIN_MAX_IOV */
#define HY_BLK_SIZE_MAX		(4u << 20) /* largest single segment */
#define HY_BLK_MAX_DISCARD_SECT (1u << 22) /* 2 GiB per discard or write-zeroes request */

#endif
