/* SPDX-License-Identifier: MIT */
/*
 * Backing-store preparation (in the master, before workers exist) and ops selection.
 */
#define HY_LOG_COMPONENT "backend"
#include "worker/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/log.h"
#include "shm/path.h"

static int prepare_uring(const struct hy_topo_device *dev, struct hy_backend_info *info, char *err,
			 size_t errlen)
{
	struct stat st;
	int fd, ret;

	fd = open(dev->path, O_RDWR | O_CLOEXEC | (dev->read_only ? 0 : 0));
	if (fd < 0 && errno == ENOENT) {
		if (!dev->size) {
			snprintf(
				err, errlen,
				"device %s: %s does not exist and the topology gives no size to create it with",
				dev->name, dev->path);
			return -ENOENT;
		}
		ret = hy_path_make_parent(dev->path);
		if (ret < 0) {
			snprintf(err, errlen, "device %s: cannot create the folder of %s: %s",
				 dev->name, dev->path, strerror(-ret));
			return ret;
		}
		fd = open(dev->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (ftruncate(fd, (off_t)dev->size) < 0) {
				ret = -errno;
				close(fd);
				snprintf(err, errlen, "device %s: cannot size %s to %llu bytes: %s",
					 dev->name, dev->path, (unsigned long long)dev->size,
					 strerror(-ret));
				return ret;
			}
			hy_log(INFO, 0, "device %s: created sparse %s of %llu bytes", dev->name,
			       dev->path, (unsigned long long)dev->size);
		}
	}
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "device %s: cannot open %s: %s", dev->name, dev->path,
			 strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			ret = -errno;
			snprintf(err, errlen, "device %s: BLKGETSIZE64 on %s failed: %s", dev->name,
				 dev->path, strerror(-ret));
			goto err_close;
		}
		if (dev->size > bytes) {
			snprintf(err, errlen,
				 "device %s: size %llu is larger than block device %s (%llu bytes)",
				 dev->name, (unsigned long long)dev->size, dev->path,
				 (unsigned long long)bytes);
			ret = -EINVAL;
			goto err_close;
		}
		info->capacity = dev->size ? dev->size : bytes;
		info->is_blockdev = true;
		info->discard = true; /* blkdev_fallocate(PUNCH_HOLE) */
		info->write_zeroes = true;
	} else if (S_ISREG(st.st_mode)) {
		if (dev->size > (uint64_t)st.st_size) {
			if (dev->read_only) {
				snprintf(
					err, errlen,
					"device %s: %s is %lld bytes, smaller than the size %llu, and the device is read-only so it will not be grown",
					dev->name, dev->path, (long long)st.st_size,
					(unsigned long long)dev->size);
				ret = -EINVAL;
				goto err_close;
			}
			if (ftruncate(fd, (off_t)dev->size) < 0) {
				ret = -errno;
				snprintf(err, errlen, "device %s: cannot grow %s to %llu bytes: %s",
					 dev->name, dev->path, (unsigned long long)dev->size,
					 strerror(-ret));
				goto err_close;
			}
			hy_log(INFO, 0, "device %s: grew %s to %llu bytes (sparse)", dev->name,
			       dev->path, (unsigned long long)dev->size);
		}
		info->capacity = dev->size ? dev->size : (uint64_t)st.st_size;
		/*
		 * Punching a hole past the end of the file with KEEP_SIZE changes nothing but tells
		 * whether the file system can punch holes at all.
		 */
		info->discard = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  (off_t)info->capacity + (1 << 20), 4096) == 0;
		info->write_zeroes = true; /* ZERO_RANGE, or a hole, or written zeroes */
	} else {
		snprintf(err, errlen, "device %s: %s is neither a regular file nor a block device",
			 dev->name, dev->path);
		ret = -EINVAL;
		goto err_close;
	}
	close(fd);
	info->capacity -= info->capacity % dev->block_size;
	if (info->capacity == 0) {
		snprintf(err, errlen, "device %s: %s holds less than one %u-byte block", dev->name,
			 dev->path, dev->block_size);
		return -EINVAL;
	}
	return 0;

err_close:
	if (!err[0])
		snprintf(err, errlen, "device %s: cannot use %s: %s", dev->name, dev->path,
			 strerror(-ret));
	close(fd);
	return ret;
}

int hy_backend_prepare(const struct hy_topo_device *dev, struct hy_backend_info *info, char *err,
		       size_t errlen)
{
	memset(info, 0, sizeof(*info));
	info->ram_fd = -1;
	info->block_size = dev->block_size;
	err[0] = '\0';
	switch (dev->type) {
	case HY_BE_URING:
		return prepare_uring(dev, info, err, errlen);
	case HY_BE_RAM: {
		char name[64];
		int fd;

		snprintf(name, sizeof(name), "hydra-ram-%s", dev->name);
		/* Not CLOEXEC-sensitive: workers are forked, never exec'd. */
		fd = memfd_create(name, 0);
		if (fd < 0 || ftruncate(fd, (off_t)dev->size) < 0) {
			int ret = -errno;

			snprintf(err, errlen,
				 "device %s: cannot create %llu bytes of shared memory: %s",
				 dev->name, (unsigned long long)dev->size, strerror(-ret));
			if (fd >= 0)
				close(fd);
			return ret;
		}
		info->ram_fd = fd;
		info->capacity = dev->size;
		info->discard = true;
		info->write_zeroes = true;
		return 0;
	}
	case HY_BE_NULL:
		info->capacity = dev->size;
		info->discard = true;
		info->write_zeroes = true;
		return 0;
	case HY_BE_NVME:
		/* The controller belongs to the master: master/nvme_dev.c prepares it. */
		break;
	}
	snprintf(err, errlen, "device %s: unknown backend type %d", dev->name, (int)dev->type);
	return -EINVAL;
}

void hy_backend_bind(struct hy_backend *be, const struct hy_topo_device *dev,
		     const struct hy_backend_info *info, uint32_t depth, unsigned qidx,
		     struct hy_mem *mem)
{
	static const struct hy_backend_ops *const ops[] = {
		[HY_BE_URING] = &hy_backend_uring,
		[HY_BE_RAM] = &hy_backend_ram,
		[HY_BE_NULL] = &hy_backend_null,
		[HY_BE_NVME] = &hy_backend_nvme,
	};

	memset(be, 0, sizeof(*be));
	be->ops = ops[dev->type];
	be->dev = dev;
	be->info = info;
	be->depth = depth;
	be->qidx = qidx;
	be->mem = mem;
}
