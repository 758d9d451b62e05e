/* SPDX-License-Identifier: MIT */
/*
 * nvme/vfio.c: the set-up mistakes a user makes, each with its own message, checked against a
 * fake sysfs tree (no VFIO on the build host). The real VFIO path runs in the guest tests.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvme/vfio.c"

static char root[64];
static char sysfs[128], devdir[128], dev[256];
static struct hy_nvme_vfio v;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static void link_to(const char *target, const char *name)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/%s", dev, name);
	unlink(p);
	cr_assert_eq(symlink(target, p), 0);
}

static void unlink_in_dev(const char *name)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/%s", dev, name);
	unlink(p);
}

static void setup(void)
{
	char p[640];

	hy_log_init("test", NULL, HY_LOG_ERR);
	snprintf(root, sizeof(root), "/tmp/hy-vfio-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	snprintf(sysfs, sizeof(sysfs), "%s/sys", root);
	snprintf(devdir, sizeof(devdir), "%s/dev", root);
	snprintf(dev, sizeof(dev), "%s/bus/pci/devices/0000:00:04.0", sysfs);
	snprintf(p, sizeof(p), "mkdir -p %s %s", dev, devdir);
	cr_assert_eq(system(p), 0);
	snprintf(p, sizeof(p), "%s/class", dev);
	put(p, "0x010802\n");
	link_to("../../../kernel/iommu_groups/7", "iommu_group");
	link_to("../../../bus/pci/drivers/nvme", "driver");
	vfio_sysfs = sysfs;
	vfio_devdir = devdir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(vfio, .init = setup, .fini = teardown);

static void expect(const char *bdf, int err, const char *needle)
{
	int ret = hy_nvme_vfio_open(&v, bdf);

	cr_assert_eq(ret, err, "open(%s) = %d, want %d (%s)", bdf, ret, err, v.err);
	cr_assert_not_null(strstr(v.err, needle), "message \"%s\" lacks \"%s\"", v.err, needle);
	cr_assert(v.container == -1 && v.group == -1 && v.device == -1 && !v.bar0,
		  "a failed open leaves nothing open");
}

Test(vfio, not_a_pci_address)
{
	expect("../../etc", -EINVAL, "is not a PCI address");
	expect("0000:00:04.8", -EINVAL, "is not a PCI address");
	expect("0000:00:04.0 ", -EINVAL, "is not a PCI address");
}

Test(vfio, no_such_device)
{
	expect("0000:00:05.0", -ENODEV, "no PCI device 0000:00:05.0");
}

Test(vfio, not_an_nvme_controller)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/class", dev);
	put(p, "0x020000\n");
	expect("0000:00:04.0", -ENODEV, "is not an NVMe controller (PCI class 0x020000");
}

Test(vfio, no_iommu)
{
	unlink_in_dev("iommu_group");
	expect("0000:00:04.0", -ENODEV, "has no IOMMU group");
	cr_assert_not_null(strstr(v.err, "intel_iommu=on"));
}

Test(vfio, still_bound_to_the_kernel_driver)
{
	expect("0000:00:04.0", -EBUSY, "0000:00:04.0 is bound to nvme");
	cr_assert_not_null(strstr(v.err, "tools/hydra-nvme-setup bind 0000:00:04.0"));
	cr_assert_not_null(strstr(v.err, "driver/unbind"));
	cr_assert_not_null(strstr(v.err, "driver_override"));
	cr_assert_not_null(strstr(v.err, "drivers_probe"));
	/* The short form names the same function. */
	expect("00:04.0", -EBUSY, "0000:00:04.0 is bound to nvme");
}

Test(vfio, not_bound_at_all)
{
	unlink_in_dev("driver");
	expect("0000:00:04.0", -ENODEV, "is not bound to any driver");
	cr_assert_not_null(strstr(v.err, "driver_override"));
	cr_assert_null(strstr(v.err, "unbind"), "nothing to unbind");
}

Test(vfio, vfio_not_loaded)
{
	link_to("../../../bus/pci/drivers/vfio-pci", "driver");
	expect("0000:00:04.0", -ENODEV, "modprobe vfio-pci");
}

Test(vfio, not_a_vfio_container)
{
	char p[320];

	link_to("../../../bus/pci/drivers/vfio-pci", "driver");
	snprintf(p, sizeof(p), "%s/vfio", devdir);
	put(p, ""); /* a plain file: every VFIO ioctl fails */
	expect("0000:00:04.0", -EOPNOTSUPP, "type1v2");
}

Test(vfio, iova_ranges)
{
	struct hy_nvme_vfio h;

	memset(&h, 0, sizeof(h));
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, 0xfee00000, 4096), 1, "no ranges reported: trust");
	h.niova = 2;
	h.iova[0].start = 0;
	h.iova[0].end = 0xfedfffff;
	h.iova[1].start = 0xfef00000;
	h.iova[1].end = (1ull << 39) - 1;
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, 0x40000000, 4096), 1);
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, 0xfee00000, 4096), 0, "the MSI window");
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, 0xfedff000, 0x2000), 0, "straddles the window");
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, 0x100000000ull, 1ull << 30), 1);
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, (1ull << 39) - 4096, 8192), 0, "beyond 39 bits");
	cr_assert_eq(hy_nvme_vfio_iova_ok(&h, 0, 0), 0);
}
