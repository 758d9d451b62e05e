/* SPDX-License-Identifier: MIT */
/*
 * An NVMe controller through VFIO: the PCI function bound to vfio-pci, its IOMMU group in a
 * type1v2 container, BAR0 mapped, bus mastering on. What nvme/ctrl.c needs to drive it is in
 * hy_nvme_vfio_ctrl_cfg().
 */
#ifndef HY_NVME_VFIO_H
#define HY_NVME_VFIO_H

#include <stddef.h>
#include <stdint.h>

#include "nvme/nvme.h"

#define HY_NVME_VFIO_IOVA_RANGES 16

struct hy_nvme_vfio {
	char bdf[16]; /* "0000:00:04.0" */
	int container;
	int group;
	int device;
	int group_id;
	volatile void *bar0;
	size_t bar0_len;
	uint64_t cfg_off;    /* config space region, offset in the device fd */
	uint32_t msix_count; /* MSI-X vectors the function has */
	unsigned niova;	     /* usable IOVA ranges (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) */
	struct {
		uint64_t start;
		uint64_t end; /* inclusive */
	} iova[HY_NVME_VFIO_IOVA_RANGES];
	char err[640]; /* what went wrong at open, also logged */
};

/* map/unmap through VFIO_IOMMU_MAP_DMA/UNMAP_DMA, function_reset through VFIO_DEVICE_RESET. */
extern const struct hy_nvme_dma_ops hy_nvme_vfio_dma_ops;

/**
 * hy_nvme_vfio_open() - take an NVMe controller from vfio-pci.
 * @v: the handle (caller's storage)
 * @bdf: PCI address, "0000:00:04.0" or "00:04.0"
 *
 * Checks, in order and each with a message that says what to do: that the device exists, is an
 * NVMe controller (class 0x010802), has an IOMMU group, is bound to vfio-pci (not the kernel's
 * nvme driver), and that /dev/vfio/N can be opened. Then: container with the type1v2 IOMMU,
 * device fd (vfio-pci resets the function here), BAR0 mmap, PCI Bus Master Enable.
 *
 * Return: 0, or -errno with @v->err set: -ENODEV (no device, not NVMe, no IOMMU group, not
 * bound), -EBUSY (bound to another driver, group in use or not viable), -EACCES, -EOPNOTSUPP.
 */
int hy_nvme_vfio_open(struct hy_nvme_vfio *v, const char *bdf);

/** hy_nvme_vfio_close() - unmap BAR0 and close everything; DMA mappings go with the container. */
void hy_nvme_vfio_close(struct hy_nvme_vfio *v);

/**
 * hy_nvme_vfio_ctrl_cfg() - fill the platform part of a controller configuration.
 * @v: an open handle
 * @cfg: name, bar0, bar0_len, dma ops and priv are set; opts are left alone
 */
void hy_nvme_vfio_ctrl_cfg(struct hy_nvme_vfio *v, struct hy_nvme_ctrl_cfg *cfg);

/**
 * hy_nvme_vfio_iova_ok() - does [iova, iova + len) lie in one usable IOVA range?
 * @v: an open handle
 * @iova: start
 * @len: bytes
 *
 * Return: 1 if yes or if the kernel did not report ranges, else 0.
 */
int hy_nvme_vfio_iova_ok(const struct hy_nvme_vfio *v, uint64_t iova, uint64_t len);

/**
 * hy_nvme_vfio_irqs_enable() - route MSI-X vectors 0 .. @n - 1 to eventfds.
 * @v: an open handle
 * @efds: one eventfd per vector
 * @n: vectors, at most @v->msix_count
 *
 * Return: 0 or -errno.
 */
int hy_nvme_vfio_irqs_enable(struct hy_nvme_vfio *v, const int *efds, unsigned n);

/** hy_nvme_vfio_irqs_disable() - stop MSI-X delivery. Return: 0 or -errno. */
int hy_nvme_vfio_irqs_disable(struct hy_nvme_vfio *v);

#endif
