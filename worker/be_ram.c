/* SPDX-License-Identifier: MIT */
/*
 * ram: the disk is a memfd the master created; every worker maps it, so all queues see the same
 * data and a worker that dies loses nothing. Requests complete at once (a memcpy to or from
 * guest memory); discard and unmapping write-zeroes give the pages back with a punched hole.
 */
#define HY_LOG_COMPONENT "ram"
#include <errno.h>
#include <linux/falloc.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "shm/log.h"
#include "worker/backend.h"

struct ram {
	uint8_t *base;
	size_t len;
	int fd;
};

static struct ram ram_state;

static int ram_open(struct hy_backend *be)
{
	struct ram *r = &ram_state;

	r->len = be->info->capacity;
	r->fd = be->info->ram_fd;
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED) {
		int ret = -errno;

		hy_log(ERR, ret, "mmap() of the %zu-byte ram disk failed", r->len);
		return ret;
	}
	be->priv = r;
	return 0;
}

static void ram_close(struct hy_backend *be)
{
	struct ram *r = be->priv;

	if (r && r->base)
		munmap(r->base, r->len);
	be->priv = NULL;
}

static int ram_submit(struct hy_backend *be, struct hy_io *io)
{
	struct ram *r = be->priv;
	uint8_t *p = r->base + io->offset;

	/* The request layer has checked offset + len against the capacity. */
	io->res = 0;
	switch (io->op) {
	case HY_IO_READ:
		for (unsigned i = 0; i < io->iovcnt; i++) {
			memcpy(io->iov[i].iov_base, p, io->iov[i].iov_len);
			p += io->iov[i].iov_len;
		}
		break;
	case HY_IO_WRITE:
		for (unsigned i = 0; i < io->iovcnt; i++) {
			memcpy(p, io->iov[i].iov_base, io->iov[i].iov_len);
			p += io->iov[i].iov_len;
		}
		break;
	case HY_IO_FLUSH:
		break;
	case HY_IO_DISCARD:
	case HY_IO_WRITE_ZEROES:
		/* A hole in shmem reads back as zeroes and frees the pages. */
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)io->offset,
			      (off_t)io->len) < 0)
			memset(p, 0, io->len);
		break;
	}
	return 1;
}

static int ram_flush(struct hy_backend *be)
{
	return 0;
}

static int ram_reap(struct hy_backend *be, hy_io_done_fn fn, void *arg)
{
	return 0;
}

static int ram_event_fd(struct hy_backend *be)
{
	return -1;
}

const struct hy_backend_ops hy_backend_ram = {
	.name = "ram",
	.open = ram_open,
	.close = ram_close,
	.submit = ram_submit,
	.flush = ram_flush,
	.reap = ram_reap,
	.event_fd = ram_event_fd,
};
