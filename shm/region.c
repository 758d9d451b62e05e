/* SPDX-License-Identifier: MIT */
#include "shm/region.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

struct hy_shm_dev *hy_shm_dev_create(const char *name, unsigned nqueues)
{
	size_t size = sizeof(struct hy_shm_dev) + (size_t)nqueues * sizeof(struct hy_shm_queue);
	struct hy_shm_dev *dev;
	char label[64];
	int fd, err;

	snprintf(label, sizeof(label), "hydra-%s", name);
	fd = memfd_create(label, MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)size) < 0)
		goto err_close;
	dev = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (dev == MAP_FAILED)
		goto err_close;
	close(fd);
	dev->magic = HY_SHM_MAGIC;
	dev->version = HY_SHM_VERSION;
	dev->nqueues = nqueues;
	dev->size = size;
	dev->writeback = 1;
	return dev;

err_close:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

void hy_shm_dev_destroy(struct hy_shm_dev *dev)
{
	if (dev)
		munmap(dev, dev->size);
}

const char *hy_queue_state_name(uint32_t state)
{
	static const char *const names[] = {"down", "idle", "polling", "sleeping", "broken"};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}
