/* SPDX-License-Identifier: MIT */
/*
 * null: every request completes at once; writes go nowhere. Reads return zeroes, or with
 * read_zeroes: false leave the guest's buffer as it was (SPDK's null bdev, QEMU's null-co
 * without read-zeroes): then a request costs what Hydra itself costs, and no 4 KiB memset.
 */
#include <string.h>

#include "worker/backend.h"

static int null_open(struct hy_backend *be)
{
	return 0;
}

static void null_close(struct hy_backend *be)
{
}

static int null_submit(struct hy_backend *be, struct hy_io *io)
{
	if (io->op == HY_IO_READ && be->dev->read_zeroes)
		for (unsigned i = 0; i < io->iovcnt; i++)
			memset(io->iov[i].iov_base, 0, io->iov[i].iov_len);
	io->res = 0;
	return 1;
}

static int null_flush(struct hy_backend *be)
{
	return 0;
}

static int null_reap(struct hy_backend *be, hy_io_done_fn fn, void *arg)
{
	return 0;
}

static int null_event_fd(struct hy_backend *be)
{
	return -1;
}

const struct hy_backend_ops hy_backend_null = {
	.name = "null",
	.open = null_open,
	.close = null_close,
	.submit = null_submit,
	.flush = null_flush,
	.reap = null_reap,
	.event_fd = null_event_fd,
};
