/* SPDX-License-Identifier: MIT */
/*
 * vfio-probe: proves that VFIO works end to end for one NVMe controller, without Hydra.
 *
 *   vfio-probe BDF [--hold SEC]
 *
 * Opens the container (/dev/vfio/vfio, type1v2 IOMMU), the device's IOMMU group
 * (/dev/vfio/N) and the device fd, reads the vendor and device IDs from config space, mmaps
 * BAR0 and reads CAP and VS, maps and unmaps 64 KiB for DMA, and prints one line:
 *
 *   vfio-probe: 0000:00:03.0 group 3 vendor 0x1b36 device 0x0010 BAR0 16384 bytes mmapped
 *   CAP 0x004018200f0107ff VS 0x00010400 (1.4.0) queue-entries 2048 DSTRD 0 MSI-X 65 DMA ok
 *
 * With --hold it then keeps everything open for SEC seconds (to test that the setup command
 * refuses to unbind a device in use). Exit status: 0 ok, 1 failure, 2 usage.
 * Built statically by tests/guest/test_nvme_vfio.sh to run inside the NVMe test guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* NVMe Base 2.0, 3.1.4: Controller Registers. */
#define NVME_REG_CAP 0x00
#define NVME_REG_VS  0x08

#define DMA_IOVA  0x40000000ULL /* 1 GiB: well away from the x86 MSI window */
#define DMA_BYTES (64 * 1024)

static const char *bdf;

static int fail(const char *what)
{
	fprintf(stderr, "vfio-probe: %s: %s: %s (%d)\n", bdf, what, strerror(errno), errno);
	return 1;
}

static int group_of(const char *dev, int *group)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", dev);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	*group = atoi(base ? base + 1 : target);
	return 0;
}

/*
 * Two 32-bit reads, low dword first, as Linux's lo_hi_readq(): NVMe does not require
 * controllers to accept 64-bit accesses to CAP.
 */
static uint64_t read_cap(volatile uint8_t *bar)
{
	uint32_t lo = *(volatile uint32_t *)(bar + NVME_REG_CAP);
	uint32_t hi = *(volatile uint32_t *)(bar + NVME_REG_CAP + 4);

	return (uint64_t)hi << 32 | lo;
}

int main(int argc, char **argv)
{
	struct vfio_group_status gs = {.argsz = sizeof(gs)};
	struct vfio_device_info di = {.argsz = sizeof(di)};
	struct vfio_region_info cfg = {.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX};
	struct vfio_region_info bar = {.argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX};
	struct vfio_irq_info msix = {.argsz = sizeof(msix), .index = VFIO_PCI_MSIX_IRQ_INDEX};
	struct vfio_iommu_type1_dma_map map = {.argsz = sizeof(map)};
	struct vfio_iommu_type1_dma_unmap unmap = {.argsz = sizeof(unmap)};
	char path[PATH_MAX];
	uint16_t ids[2];
	volatile uint8_t *bar0;
	void *bar0_map;
	uint64_t cap;
	uint32_t vs;
	int container, group, device, group_id = -1, hold = 0, ret;
	void *buf;

	if (argc == 4 && strcmp(argv[2], "--hold") == 0) {
		hold = atoi(argv[3]);
	} else if (argc != 2) {
		fprintf(stderr, "usage: vfio-probe BDF [--hold SEC]\n");
		return 2;
	}
	bdf = argv[1];

	ret = group_of(bdf, &group_id);
	if (ret) {
		errno = -ret;
		return fail("no IOMMU group (no such device, or no IOMMU)");
	}

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0)
		return fail("open /dev/vfio/vfio");
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		errno = EPROTO;
		return fail("VFIO_GET_API_VERSION");
	}
	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		errno = EOPNOTSUPP;
		return fail("no type1v2 IOMMU (modprobe vfio_iommu_type1)");
	}

	snprintf(path, sizeof(path), "/dev/vfio/%d", group_id);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (group < 0)
		return fail(path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		return fail("VFIO_GROUP_GET_STATUS");
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		return fail("IOMMU group not viable (another device of the group is on a driver)");
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		return fail("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		return fail("VFIO_SET_IOMMU");

	/* vfio-pci resets the function here. */
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		return fail("VFIO_GROUP_GET_DEVICE_FD");
	if (ioctl(device, VFIO_DEVICE_GET_INFO, &di) < 0)
		return fail("VFIO_DEVICE_GET_INFO");
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI)) {
		errno = ENODEV;
		return fail("not a VFIO PCI device");
	}

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return fail("VFIO_DEVICE_GET_REGION_INFO (config)");
	if (pread(device, ids, sizeof(ids), (off_t)cfg.offset) != (ssize_t)sizeof(ids))
		return fail("reading the vendor and device IDs");

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar) < 0)
		return fail("VFIO_DEVICE_GET_REGION_INFO (BAR0)");
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < 0x1000) {
		errno = ENOTSUP;
		return fail("BAR0 cannot be mmapped");
	}
	bar0_map =
		mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, (off_t)bar.offset);
	if (bar0_map == MAP_FAILED)
		return fail("mmap of BAR0");
	bar0 = bar0_map;
	cap = read_cap(bar0);
	vs = *(volatile uint32_t *)(bar0 + NVME_REG_VS);
	if (cap == UINT64_MAX) {
		errno = EIO;
		return fail("CAP reads all ones (the device does not answer)");
	}

	if (ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &msix) < 0)
		return fail("VFIO_DEVICE_GET_IRQ_INFO (MSI-X)");

	buf = mmap(NULL, DMA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return fail("mmap of the DMA buffer");
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	map.vaddr = (uintptr_t)buf;
	map.iova = DMA_IOVA;
	map.size = DMA_BYTES;
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0)
		return fail("VFIO_IOMMU_MAP_DMA");
	unmap.iova = DMA_IOVA;
	unmap.size = DMA_BYTES;
	if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		return fail("VFIO_IOMMU_UNMAP_DMA");
	if (unmap.size != DMA_BYTES) {
		errno = EIO;
		return fail("VFIO_IOMMU_UNMAP_DMA unmapped a different size");
	}

	/* CAP.MQES is 0's based (entries - 1); CAP.DSTRD: doorbell stride 2^(2 + DSTRD). */
	printf("vfio-probe: %s group %d vendor 0x%04x device 0x%04x BAR0 %llu bytes mmapped "
	       "CAP 0x%016llx VS 0x%08x (%u.%u.%u) queue-entries %llu DSTRD %llu MSI-X %u DMA ok\n",
	       bdf, group_id, ids[0], ids[1], (unsigned long long)bar.size, (unsigned long long)cap,
	       vs, vs >> 16, (vs >> 8) & 0xff, vs & 0xff, (unsigned long long)(cap & 0xffff) + 1,
	       (unsigned long long)((cap >> 32) & 0xf), msix.count);
	fflush(stdout);
	if (hold > 0) {
		printf("vfio-probe: holding %s open for %d s\n", path, hold);
		fflush(stdout);
		sleep((unsigned)hold);
	}
	munmap(bar0_map, bar.size);
	close(device);
	close(group);
	close(container);
	return 0;
}
