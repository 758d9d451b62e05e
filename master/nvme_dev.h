/* SPDX-License-Identifier: MIT */
/*
 * The master's half of the nvme backend: it owns the controller (through VFIO), its admin queue
 * and the IOMMU. It creates one I/O queue pair per worker in shared memory before forking the
 * workers, maps every guest memory region for the device at iova_base + gpa
 * (nvme/README-nvme.md, "IOVA scheme"), and deletes and re-creates a dead worker's queue pair
 * before its successor starts. Never on the data path.
 */
#ifndef HY_MASTER_NVME_DEV_H
#define HY_MASTER_NVME_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/topology.h"
#include "nvme/nvme.h"
#include "nvme/vfio.h"
#include "shm/chan.h"
#include "worker/backend.h"

/* Where guest memory windows start: above the driver's window and the x86 MSI range. */
#define HY_NVME_GUEST_IOVA_BASE 0x100000000ull
#define HY_NVME_BOUNCE_LEN	(1u << 20) /* per queue pair, for layouts PRPs cannot express */

/* One guest memory region mapped for the device. */
struct hy_nvme_map {
	uint64_t gpa;
	uint64_t size;
	uint64_t iova;
	void *map_base; /* the master's mapping of the region's fd */
	size_t map_len;
};

struct hy_nvme_dev_queue {
	void *mem; /* SQ, CQ, PRP lists, bounce buffer: MAP_SHARED, so workers inherit it */
	size_t len;
	uint64_t iova;
	struct hy_nvme_qpair_layout layout;
	uint16_t depth;
	bool created; /* the controller has the queues */
	bool used;    /* a worker has had them: delete and create again before the next one */
};

struct hy_nvme_dev {
	char name[HY_NAME_MAX];
	struct hy_nvme_vfio vfio;
	struct hy_nvme_ctrl ctrl;
	unsigned nq;
	struct hy_nvme_dev_queue q[HY_MAX_QUEUES];
	struct hy_nvme_be_queue bq[HY_MAX_QUEUES]; /* what each worker gets (info->nvme_q) */
	uint64_t iova_base;			   /* the current memory table's */
	unsigned nmaps;
	struct hy_nvme_map maps[HY_CHAN_MAX_REGIONS];
	unsigned nold; /* the table being replaced, until the workers have let go of it */
	struct hy_nvme_map old[HY_CHAN_MAX_REGIONS];
	uint64_t resets; /* controller resets since start */
};

/**
 * hy_nvme_dev_open() - take the controller, check the namespace, create one queue pair per queue.
 * @cfg: the device's topology entry (pci, nsid, size, block_size, queues)
 * @info: capacity, block size, discard and write-zeroes support, and the queue pairs are set
 * @err: a message naming the device and the fix, on failure
 * @errlen: its size
 *
 * Every failure the issue lists is a clear error here, never a hang: no such device, bound to
 * the kernel's driver, no IOMMU group access (nvme/vfio.c), a controller that never becomes
 * ready (bounded by CAP.TO), a namespace that does not exist, a block size the guest cannot use.
 *
 * Return: the device (malloc'd), or NULL with errno and @err set.
 */
struct hy_nvme_dev *hy_nvme_dev_open(const struct hy_topo_device *cfg, struct hy_backend_info *info,
				     char *err, size_t errlen);

/** hy_nvme_dev_close() - delete the queue pairs, unmap guest memory, shut the controller down. */
void hy_nvme_dev_close(struct hy_nvme_dev *nd);

/**
 * hy_nvme_dev_queue_prepare() - make queue pair @q fresh for a worker about to be forked.
 * @nd: the device
 * @q: queue index
 *
 * The first worker gets the queues open() created. A later one (its predecessor died with
 * commands in flight) gets them deleted and created again: Delete I/O SQ returns only once the
 * controller has finished or aborted every command of the queue (Base 2.0, 5.7), so nothing the
 * dead worker submitted can complete into the new queues. When the controller does not answer,
 * it is reset, which destroys every queue pair of the device.
 *
 * Return: 0; -ERESTART when the controller was reset (every other worker of the device must be
 * restarted: their queue pairs are gone); -errno when the controller is unusable.
 */
int hy_nvme_dev_queue_prepare(struct hy_nvme_dev *nd, unsigned q);

/**
 * hy_nvme_dev_map_table() - map a new memory table for the device, beside the current one.
 * @nd: the device
 * @regions: the frontend's regions
 * @fds: their fds (not closed here)
 * @n: how many
 *
 * The new table gets its own window (a new iova_base) so that both are mapped while workers
 * switch; hy_nvme_dev_unmap_old() then drops the old one. On failure nothing of the new table
 * stays mapped and the current one is untouched.
 *
 * Return: 0 (nd->iova_base is the new table's), or -errno after logging which region failed.
 */
int hy_nvme_dev_map_table(struct hy_nvme_dev *nd, const struct hy_chan_region *regions,
			  const int *fds, unsigned n);

/** hy_nvme_dev_unmap_old() - drop the table hy_nvme_dev_map_table() replaced. */
void hy_nvme_dev_unmap_old(struct hy_nvme_dev *nd);

/** hy_nvme_dev_map_region() - ADD_MEM_REG: map one more region in the current window. */
int hy_nvme_dev_map_region(struct hy_nvme_dev *nd, const struct hy_chan_region *r, int fd);

/** hy_nvme_dev_unmap_region() - REM_MEM_REG, once every worker has dropped the region. */
void hy_nvme_dev_unmap_region(struct hy_nvme_dev *nd, const struct hy_chan_region *r);

/** hy_nvme_dev_unmap_all() - the frontend is gone: unmap all its memory. */
void hy_nvme_dev_unmap_all(struct hy_nvme_dev *nd);

/**
 * hy_nvme_dev_status_json() - the controller as a JSON object (model, serial, firmware, queue
 * pairs, resets, and from the SMART and error log pages: temperature, critical warning, media
 * errors, error log entries).
 * @nd: the device
 * @buf: output
 * @len: its size
 * Return: bytes written (snprintf semantics).
 */
int hy_nvme_dev_status_json(struct hy_nvme_dev *nd, char *buf, size_t len);

#endif
