/* SPDX-License-Identifier: MIT */
/*
 * VFIO for one NVMe controller (Linux Documentation/driver-api/vfio.rst): a container with the
 * type1v2 IOMMU, the device's IOMMU group, the device fd, BAR0 mapped and bus mastering on.
 *
 * Opening checks sysfs first, so that each of the usual set-up mistakes gets its own message with
 * the command that fixes it, instead of an ENOENT from /dev/vfio.
 */
#define HY_LOG_COMPONENT "vfio"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme/vfio.h"
#include "shm/log.h"

/* Where sysfs and the VFIO device nodes are; the unit test points these at a fake tree. */
static const char *vfio_sysfs = "/sys";
static const char *vfio_devdir = "/dev/vfio";

#define PCI_COMMAND	   0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_CLASS_PROG	   0x09 /* prog-if, then subclass, then class: 3 bytes */

static int vfio_fail(struct hy_nvme_vfio *v, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vfio_fail(struct hy_nvme_vfio *v, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->err, sizeof(v->err), fmt, ap);
	va_end(ap);
	hy_log(ERR, 0, "%s", v->err);
	return err;
}

/* "0000:00:04.0" or "00:04.0" (domain 0). Only hex digits and separators: it becomes a path. */
static int vfio_parse_bdf(const char *in, char *out, size_t outlen)
{
	unsigned dom = 0, bus, dev, fn;
	int n = 0;

	for (const char *p = in; *p; p++)
		if (!strchr("0123456789abcdefABCDEF:.", *p))
			return -EINVAL;
	if (sscanf(in, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) == 4 && !in[n]) {
		/* full form */
	} else if (n = 0, dom = 0, sscanf(in, "%x:%x.%x%n", &bus, &dev, &fn, &n) == 3 && !in[n]) {
		/* short form */
	} else {
		return -EINVAL;
	}
	if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, outlen, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

/* The last path component of the symlink @dir/@name, or -errno. */
static int vfio_link_base(const char *dir, const char *name, char *out, size_t outlen)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	if (snprintf(out, outlen, "%s", base ? base + 1 : target) >= (int)outlen)
		return -ENAMETOOLONG;
	return 0;
}

static int vfio_read_hex(const char *dir, const char *name, unsigned long *val)
{
	char path[PATH_MAX], buf[64];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*val = strtoul(buf, NULL, 16);
	return 0;
}

static void vfio_bind_hint(const struct hy_nvme_vfio *v, bool bound, char *out, size_t outlen)
{
	char unbind[192] = "";

	if (bound)
		snprintf(unbind, sizeof(unbind), "echo %s > %s/bus/pci/devices/%s/driver/unbind; ",
			 v->bdf, vfio_sysfs, v->bdf);
	snprintf(out, outlen,
		 "run `tools/hydra-nvme-setup bind %s`, or by hand: modprobe "
		 "vfio-pci; %secho vfio-pci > %s/bus/pci/devices/%s/driver_override; echo %s > "
		 "%s/bus/pci/drivers_probe",
		 v->bdf, unbind, vfio_sysfs, v->bdf, v->bdf, vfio_sysfs);
}

/* What sysfs says about the function: exists, is NVMe, has an IOMMU group, is on vfio-pci. */
static int vfio_check_sysfs(struct hy_nvme_vfio *v)
{
	char dir[PATH_MAX], drv[128], grp[32], hint[448];
	unsigned long class = 0;
	struct stat st;
	int ret;

	snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", vfio_sysfs, v->bdf);
	if (stat(dir, &st) < 0)
		return vfio_fail(v, -ENODEV, "no PCI device %s (lspci -D lists the addresses)",
				 v->bdf);
	ret = vfio_read_hex(dir, "class", &class);
	if (ret)
		return vfio_fail(v, ret, "cannot read the PCI class of %s: %s", v->bdf,
				 strerror(-ret));
	if (class != HY_NVME_PCI_CLASS)
		return vfio_fail(
			v, -ENODEV,
			"%s is not an NVMe controller (PCI class 0x%06lx, expected 0x%06x)", v->bdf,
			class, HY_NVME_PCI_CLASS);
	ret = vfio_link_base(dir, "iommu_group", grp, sizeof(grp));
	if (ret)
		return vfio_fail(
			v, -ENODEV,
			"%s has no IOMMU group: the kernel runs without an IOMMU; enable "
			"VT-d/AMD-Vi in the firmware and boot with intel_iommu=on iommu=pt "
			"(or amd_iommu=on)",
			v->bdf);
	v->group_id = atoi(grp);
	ret = vfio_link_base(dir, "driver", drv, sizeof(drv));
	if (ret == -ENOENT) {
		vfio_bind_hint(v, false, hint, sizeof(hint));
		return vfio_fail(v, -ENODEV,
				 "%s is not bound to any driver; to hand it to Hydra, %s", v->bdf,
				 hint);
	}
	if (ret)
		return vfio_fail(v, ret, "cannot read the driver of %s: %s", v->bdf,
				 strerror(-ret));
	if (strcmp(drv, "vfio-pci") != 0) {
		vfio_bind_hint(v, true, hint, sizeof(hint));
		return vfio_fail(v, -EBUSY,
				 "%s is bound to %s; to hand it to Hydra (unmount its file systems "
				 "first: the kernel loses the disk), %s",
				 v->bdf, drv, hint);
	}
	return 0;
}

/* VFIO_IOMMU_GET_INFO's capability chain: the IOVA ranges the IOMMU can translate. */
static void vfio_read_iova_ranges(struct hy_nvme_vfio *v)
{
	struct vfio_iommu_type1_info probe = {.argsz = sizeof(probe)};
	struct vfio_iommu_type1_info *info;
	uint32_t off;

	v->niova = 0;
	if (ioctl(v->container, VFIO_IOMMU_GET_INFO, &probe) < 0 || probe.argsz <= sizeof(probe))
		return;
	info = calloc(1, probe.argsz);
	if (!info)
		return;
	info->argsz = probe.argsz;
	if (ioctl(v->container, VFIO_IOMMU_GET_INFO, info) < 0 ||
	    !(info->flags & VFIO_IOMMU_INFO_CAPS))
		goto out;
	for (off = info->cap_offset;
	     off && off + sizeof(struct vfio_info_cap_header) <= info->argsz;) {
		struct vfio_info_cap_header *h = (void *)((uint8_t *)info + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

			for (uint32_t i = 0; i < r->nr_iovas && v->niova < HY_NVME_VFIO_IOVA_RANGES;
			     i++) {
				v->iova[v->niova].start = r->iova_ranges[i].start;
				v->iova[v->niova].end = r->iova_ranges[i].end;
				v->niova++;
			}
		}
		if (h->next <= off)
			break; /* the chain only goes forward */
		off = h->next;
	}
out:
	free(info);
}

int hy_nvme_vfio_iova_ok(const struct hy_nvme_vfio *v, uint64_t iova, uint64_t len)
{
	if (!v->niova)
		return 1;
	if (!len || iova + len - 1 < iova)
		return 0;
	for (unsigned i = 0; i < v->niova; i++)
		if (iova >= v->iova[i].start && iova + len - 1 <= v->iova[i].end)
			return 1;
	return 0;
}

static int vfio_region(struct hy_nvme_vfio *v, uint32_t index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
		return -errno;
	return 0;
}

/* PCI command register: memory space and Bus Master Enable, which vfio-pci leaves off. */
static int vfio_enable_bus_master(struct hy_nvme_vfio *v)
{
	uint16_t cmd;

	if (pread(v->device, &cmd, sizeof(cmd), (off_t)(v->cfg_off + PCI_COMMAND)) != sizeof(cmd))
		return -EIO;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(v->device, &cmd, sizeof(cmd), (off_t)(v->cfg_off + PCI_COMMAND)) != sizeof(cmd))
		return -EIO;
	return 0;
}

static int vfio_open_container(struct hy_nvme_vfio *v)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/vfio", vfio_devdir);
	v->container = open(path, O_RDWR | O_CLOEXEC);
	if (v->container < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return vfio_fail(v, -ENODEV,
					 "%s does not exist: load VFIO (modprobe vfio-pci)", path);
		return vfio_fail(v, ret, "cannot open %s: %s%s", path, strerror(-ret),
				 ret == -EACCES || ret == -EPERM ? " (run as root)" : "");
	}
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return vfio_fail(
			v, -EOPNOTSUPP,
			"the kernel's VFIO has no type1v2 IOMMU (modprobe vfio_iommu_type1)");
	return 0;
}

static int vfio_open_group(struct hy_nvme_vfio *v)
{
	struct vfio_group_status gs = {.argsz = sizeof(gs)};
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%d", vfio_devdir, v->group_id);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0) {
		ret = -errno;
		if (ret == -EACCES || ret == -EPERM)
			return vfio_fail(
				v, -EACCES,
				"no access to %s: run as root, or give this user the group "
				"file (chown USER %s)",
				path, path);
		if (ret == -EBUSY)
			return vfio_fail(v, -EBUSY,
					 "IOMMU group %d of %s is open in another process (another "
					 "hydra?)",
					 v->group_id, v->bdf);
		return vfio_fail(v, ret, "cannot open %s for %s: %s", path, v->bdf, strerror(-ret));
	}
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		return vfio_fail(v, -errno, "VFIO_GROUP_GET_STATUS on %s failed: %s", path,
				 strerror(errno));
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return vfio_fail(
			v, -EBUSY,
			"IOMMU group %d is not viable: every device in it must be bound to "
			"vfio-pci (ls %s/kernel/iommu_groups/%d/devices)",
			v->group_id, vfio_sysfs, v->group_id);
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) < 0)
		return vfio_fail(v, -errno, "VFIO_GROUP_SET_CONTAINER for group %d failed: %s",
				 v->group_id, strerror(errno));
	if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		return vfio_fail(v, -errno, "VFIO_SET_IOMMU (type1v2) failed: %s", strerror(errno));
	return 0;
}

static int vfio_open_device(struct hy_nvme_vfio *v)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};
	struct vfio_region_info cfg, bar;
	struct vfio_irq_info irq = {.argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX};
	uint8_t cls[3];
	void *p;
	int ret;

	/* vfio-pci resets the function here (FLR or whatever the device supports). */
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);
	if (v->device < 0)
		return vfio_fail(v, -errno, "VFIO_GROUP_GET_DEVICE_FD for %s failed: %s", v->bdf,
				 strerror(errno));
	if (ioctl(v->device, VFIO_DEVICE_GET_INFO, &di) < 0 ||
	    !(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return vfio_fail(v, -ENODEV, "%s is not a VFIO PCI device", v->bdf);

	ret = vfio_region(v, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (ret)
		return vfio_fail(v, ret, "no config space region for %s", v->bdf);
	v->cfg_off = cfg.offset;
	if (pread(v->device, cls, sizeof(cls), (off_t)(v->cfg_off + PCI_CLASS_PROG)) != sizeof(cls))
		return vfio_fail(v, -EIO, "cannot read the config space of %s", v->bdf);
	if (((uint32_t)cls[2] << 16 | (uint32_t)cls[1] << 8 | cls[0]) != HY_NVME_PCI_CLASS)
		return vfio_fail(v, -ENODEV, "%s is not an NVMe controller (config space class)",
				 v->bdf);

	ret = vfio_region(v, VFIO_PCI_BAR0_REGION_INDEX, &bar);
	if (ret || !(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < HY_NVME_REG_DBS + 8)
		return vfio_fail(v, ret ? ret : -ENODEV,
				 "BAR0 of %s cannot be mapped (flags 0x%x, %llu bytes)", v->bdf,
				 bar.flags, (unsigned long long)bar.size);
	p = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->device, (off_t)bar.offset);
	if (p == MAP_FAILED)
		return vfio_fail(v, -errno, "mmap() of BAR0 of %s (%llu bytes) failed: %s", v->bdf,
				 (unsigned long long)bar.size, strerror(errno));
	v->bar0 = p;
	v->bar0_len = bar.size;

	ret = vfio_enable_bus_master(v);
	if (ret)
		return vfio_fail(v, ret, "cannot enable bus mastering on %s", v->bdf);
	if (ioctl(v->device, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0)
		v->msix_count = irq.count;
	return 0;
}

int hy_nvme_vfio_open(struct hy_nvme_vfio *v, const char *bdf)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->container = v->group = v->device = -1;
	if (vfio_parse_bdf(bdf, v->bdf, sizeof(v->bdf)))
		return vfio_fail(
			v, -EINVAL,
			"'%s' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:00:04.0)",
			bdf);
	ret = vfio_check_sysfs(v);
	if (!ret)
		ret = vfio_open_container(v);
	if (!ret)
		ret = vfio_open_group(v);
	if (!ret) {
		vfio_read_iova_ranges(v);
		ret = vfio_open_device(v);
	}
	if (ret) {
		char keep[sizeof(v->err)];

		memcpy(keep, v->err, sizeof(keep));
		hy_nvme_vfio_close(v);
		memcpy(v->err, keep, sizeof(keep));
		return ret;
	}
	hy_log(INFO, 0, "%s: IOMMU group %d, BAR0 %zu bytes, %u MSI-X vectors, %u IOVA ranges",
	       v->bdf, v->group_id, v->bar0_len, v->msix_count, v->niova);
	return 0;
}

void hy_nvme_vfio_close(struct hy_nvme_vfio *v)
{
	if (v->bar0)
		munmap((void *)(uintptr_t)v->bar0, v->bar0_len);
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	memset(v, 0, sizeof(*v));
	v->container = v->group = v->device = -1;
}

static int vfio_dma_map(void *priv, void *vaddr, size_t len, uint64_t iova)
{
	struct hy_nvme_vfio *v = priv;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)vaddr,
		.iova = iova,
		.size = len,
	};

	if (!hy_nvme_vfio_iova_ok(v, iova, len)) {
		hy_log(ERR, 0, "%s: IOVA [0x%llx, 0x%llx) is outside what the IOMMU translates",
		       v->bdf, (unsigned long long)iova, (unsigned long long)(iova + len));
		return -EINVAL;
	}
	if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &m) < 0)
		return -errno;
	return 0;
}

static int vfio_dma_unmap(void *priv, uint64_t iova, size_t len)
{
	struct hy_nvme_vfio *v = priv;
	struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof(u), .iova = iova, .size = len};

	if (ioctl(v->container, VFIO_IOMMU_UNMAP_DMA, &u) < 0)
		return -errno;
	return u.size == len ? 0 : -EINVAL;
}

static int vfio_function_reset(void *priv)
{
	struct hy_nvme_vfio *v = priv;

	if (ioctl(v->device, VFIO_DEVICE_RESET) < 0)
		return -errno;
	/* The reset cleared the command register too. */
	return vfio_enable_bus_master(v);
}

const struct hy_nvme_dma_ops hy_nvme_vfio_dma_ops = {
	.map = vfio_dma_map,
	.unmap = vfio_dma_unmap,
	.function_reset = vfio_function_reset,
};

void hy_nvme_vfio_ctrl_cfg(struct hy_nvme_vfio *v, struct hy_nvme_ctrl_cfg *cfg)
{
	cfg->name = v->bdf;
	cfg->bar0 = v->bar0;
	cfg->bar0_len = v->bar0_len;
	cfg->dma = &hy_nvme_vfio_dma_ops;
	cfg->dma_priv = v;
}

int hy_nvme_vfio_irqs_enable(struct hy_nvme_vfio *v, const int *efds, unsigned n)
{
	size_t size = sizeof(struct vfio_irq_set) + n * sizeof(int32_t);
	struct vfio_irq_set *set;
	int ret = 0;

	if (!n || n > v->msix_count)
		return -EINVAL;
	set = calloc(1, size);
	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)size;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = n;
	memcpy(set->data, efds, n * sizeof(int32_t));
	if (ioctl(v->device, VFIO_DEVICE_SET_IRQS, set) < 0) {
		ret = -errno;
		hy_log(ERR, ret, "%s: routing %u MSI-X vectors to eventfds failed", v->bdf, n);
	}
	free(set);
	return ret;
}

int hy_nvme_vfio_irqs_disable(struct hy_nvme_vfio *v)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.start = 0,
		.count = 0,
	};

	if (ioctl(v->device, VFIO_DEVICE_SET_IRQS, &set) < 0)
		return -errno;
	return 0;
}
