/* SPDX-License-Identifier: MIT */
/*
 * The null backend (worker/be_null.c) through its ops, as worker/blk.c drives it: every request
 * completes at once with res 0; a read zeroes the guest's buffers unless read_zeroes is false,
 * and then leaves them exactly as they were; a write touches nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "shm/log.h"
#include "worker/backend.h"

static struct hy_topo_device dev;
static struct hy_backend_info info;
static struct hy_backend be;
static uint8_t buf_a[4096], buf_b[512];

static void bind(bool read_zeroes)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	memset(&dev, 0, sizeof(dev));
	dev.type = HY_BE_NULL;
	dev.size = 1 << 20;
	dev.block_size = 512;
	dev.read_zeroes = read_zeroes;
	info = (struct hy_backend_info){.capacity = 1 << 20, .ram_fd = -1};
	hy_backend_bind(&be, &dev, &info, 256, 0, NULL);
	cr_assert_str_eq(be.ops->name, "null");
	cr_assert_eq(be.ops->open(&be), 0);
	memset(buf_a, 0xa5, sizeof(buf_a));
	memset(buf_b, 0x5a, sizeof(buf_b));
}

/* Submit one request over both buffers; it must complete at once. */
static void submit(enum hy_io_op op)
{
	struct iovec iov[2] = {{buf_a, sizeof(buf_a)}, {buf_b, sizeof(buf_b)}};
	struct hy_io io = {.op = op,
			   .offset = 4096,
			   .len = sizeof(buf_a) + sizeof(buf_b),
			   .iov = iov,
			   .iovcnt = 2,
			   .res = -1};

	cr_assert_eq(be.ops->submit(&be, &io), 1, "null completes every request at once");
	cr_assert_eq(io.res, 0);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

Test(be_null, read_zeroes_every_buffer_by_default)
{
	bind(true);
	submit(HY_IO_READ);
	cr_assert(all(buf_a, sizeof(buf_a), 0));
	cr_assert(all(buf_b, sizeof(buf_b), 0));
	be.ops->close(&be);
}

Test(be_null, read_without_zeroes_leaves_the_buffers_alone)
{
	bind(false);
	submit(HY_IO_READ);
	cr_assert(all(buf_a, sizeof(buf_a), 0xa5));
	cr_assert(all(buf_b, sizeof(buf_b), 0x5a));
	be.ops->close(&be);
}

Test(be_null, writes_flushes_and_the_rest_touch_nothing)
{
	bind(true);
	submit(HY_IO_WRITE);
	submit(HY_IO_FLUSH);
	cr_assert(all(buf_a, sizeof(buf_a), 0xa5));
	cr_assert(all(buf_b, sizeof(buf_b), 0x5a));
	cr_assert_eq(be.ops->flush(&be), 0);
	cr_assert_eq(be.ops->reap(&be, NULL, NULL), 0, "nothing is ever left to reap");
	cr_assert_eq(be.ops->event_fd(&be), -1,
		     "no completion fd: the worker never waits for null");
	be.ops->close(&be);
}
