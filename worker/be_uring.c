/* SPDX-License-Identifier: MIT */
/*
 * uring: a file or block device through the worker's own io_uring.
 *
 * Guest buffers go to the kernel in place (readv/writev on the guest's iovecs: no copy). O_DIRECT
 * is used whenever the file system allows it and the request is aligned the way it wants
 * (statx STATX_DIOALIGN); otherwise the request goes through a second, buffered descriptor, so a
 * guest with odd alignment is slower but never fails. Submissions are batched: one
 * io_uring_submit() per pass of the worker loop.
 */
#define HY_LOG_COMPONENT "uring"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/log.h"
#include "worker/backend.h"

enum { FD_DIRECT = 0, FD_BUFFERED = 1 };

struct uring {
	struct io_uring ring;
	int fds[2]; /* registered as fixed files 0 and 1 */
	bool have_direct;
	uint32_t mem_align; /* O_DIRECT buffer alignment */
	uint32_t off_align; /* O_DIRECT offset and length alignment */
	int efd;	    /* signalled when completions are posted */
	unsigned queued;    /* SQEs prepared since the last submit */
	bool zero_range_ok; /* FALLOC_FL_ZERO_RANGE works on this file */
};

static struct uring uring_state;

static void dio_alignment(struct uring *u, int fd, bool blockdev)
{
	struct statx stx;

	u->mem_align = 512;
	u->off_align = 512;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		u->mem_align = stx.stx_dio_mem_align;
		u->off_align = stx.stx_dio_offset_align;
		return;
	}
	if (blockdev) {
		int lbs;

		if (ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
			u->mem_align = u->off_align = (uint32_t)lbs;
		return;
	}
	/* A file system that does not say: assume its page size, the strictest common case. */
	u->mem_align = u->off_align = 4096;
}

static int uring_open(struct hy_backend *be)
{
	struct uring *u = &uring_state;
	int flags = (be->dev->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	unsigned entries = 8;
	int ret;

	memset(u, 0, sizeof(*u));
	u->zero_range_ok = true;
	u->fds[FD_BUFFERED] = open(be->dev->path, flags);
	if (u->fds[FD_BUFFERED] < 0) {
		ret = -errno;
		hy_log(ERR, ret, "cannot open %s", be->dev->path);
		return ret;
	}
	u->fds[FD_DIRECT] = open(be->dev->path, flags | O_DIRECT);
	if (u->fds[FD_DIRECT] >= 0) {
		u->have_direct = true;
		dio_alignment(u, u->fds[FD_DIRECT], be->info->is_blockdev);
	} else {
		hy_log(INFO, errno, "%s: no O_DIRECT, all I/O goes through the page cache",
		       be->dev->path);
		u->fds[FD_DIRECT] = dup(u->fds[FD_BUFFERED]);
		if (u->fds[FD_DIRECT] < 0) {
			ret = -errno;
			goto err_close;
		}
	}

	/* Room for every request the vring can hold, plus resubmissions of short transfers. */
	while (entries < be->depth * 2 && entries < 32768)
		entries <<= 1;
	ret = io_uring_queue_init(entries, &u->ring, IORING_SETUP_SINGLE_ISSUER);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(entries, &u->ring, 0);
	if (ret < 0) {
		hy_log(ERR, ret, "io_uring_queue_init(%u) failed", entries);
		goto err_close;
	}
	ret = io_uring_register_files(&u->ring, u->fds, 2);
	if (ret < 0) {
		hy_log(ERR, ret, "io_uring_register_files failed");
		goto err_ring;
	}
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		ret = -errno;
		goto err_ring;
	}
	ret = io_uring_register_eventfd(&u->ring, u->efd);
	if (ret < 0) {
		hy_log(ERR, ret, "io_uring_register_eventfd failed");
		goto err_efd;
	}
	be->priv = u;
	hy_log(DEBUG, 0, "%s: ring of %u entries, O_DIRECT %s (memory %u, offset %u)",
	       be->dev->path, entries, u->have_direct ? "on" : "off", u->mem_align, u->off_align);
	return 0;

err_efd:
	close(u->efd);
err_ring:
	io_uring_queue_exit(&u->ring);
err_close:
	close(u->fds[FD_BUFFERED]);
	if (u->fds[FD_DIRECT] >= 0)
		close(u->fds[FD_DIRECT]);
	return ret;
}

static void uring_close(struct hy_backend *be)
{
	struct uring *u = be->priv;

	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	close(u->fds[0]);
	close(u->fds[1]);
	be->priv = NULL;
}

static bool dio_ok(const struct uring *u, const struct hy_io *io)
{
	if (!u->have_direct || (io->offset | io->len) & (u->off_align - 1))
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++)
		if (((uintptr_t)io->iov[i].iov_base & (u->mem_align - 1)) ||
		    (io->iov[i].iov_len & (u->off_align - 1)))
			return false;
	return true;
}

static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe && io_uring_submit(&u->ring) >= 0) {
		u->queued = 0;
		sqe = io_uring_get_sqe(&u->ring);
	}
	if (sqe)
		u->queued++;
	return sqe;
}

static int prep(struct uring *u, struct hy_io *io)
{
	struct io_uring_sqe *sqe = get_sqe(u);
	int fd;

	if (!sqe)
		return -EBUSY;
	switch (io->op) {
	case HY_IO_READ:
		fd = dio_ok(u, io) ? FD_DIRECT : FD_BUFFERED;
		io_uring_prep_readv(sqe, fd, io->iov, io->iovcnt, io->offset);
		break;
	case HY_IO_WRITE:
		fd = dio_ok(u, io) ? FD_DIRECT : FD_BUFFERED;
		io_uring_prep_writev2(sqe, fd, io->iov, io->iovcnt, io->offset,
				      io->dsync ? RWF_DSYNC : 0);
		break;
	case HY_IO_FLUSH:
		io_uring_prep_fsync(sqe, FD_BUFFERED, IORING_FSYNC_DATASYNC);
		break;
	case HY_IO_DISCARD:
		io_uring_prep_fallocate(sqe, FD_BUFFERED,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, (off_t)io->len);
		break;
	case HY_IO_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, FD_BUFFERED,
					(io->unmap || !u->zero_range_ok ? FALLOC_FL_PUNCH_HOLE
									: FALLOC_FL_ZERO_RANGE) |
						FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, (off_t)io->len);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static int uring_submit(struct hy_backend *be, struct hy_io *io)
{
	int ret = prep(be->priv, io);

	return ret < 0 ? ret : 0;
}

static int uring_flush(struct hy_backend *be)
{
	struct uring *u = be->priv;
	int ret;

	if (!u->queued)
		return 0;
	ret = io_uring_submit(&u->ring);
	if (ret < 0)
		return ret;
	u->queued = 0;
	return 0;
}

/* Advance the iovecs of @io past @done bytes after a short transfer. */
static void iov_advance(struct hy_io *io, size_t done)
{
	while (io->iovcnt && done >= io->iov[0].iov_len) {
		done -= io->iov[0].iov_len;
		io->iov++;
		io->iovcnt--;
	}
	if (io->iovcnt) {
		io->iov[0].iov_base = (uint8_t *)io->iov[0].iov_base + done;
		io->iov[0].iov_len -= done;
	}
}

/* Return true when @io was handed back to the kernel instead of completing. */
static bool retry(struct uring *u, struct hy_io *io, int res)
{
	if ((io->op == HY_IO_READ || io->op == HY_IO_WRITE) && res > 0 && (uint64_t)res < io->len) {
		/* A short transfer: carry on from where it stopped. */
		iov_advance(io, (size_t)res);
		io->offset += (uint64_t)res;
		io->len -= (uint64_t)res;
		return prep(u, io) == 0;
	}
	if (io->op == HY_IO_WRITE_ZEROES && !io->unmap && u->zero_range_ok &&
	    (res == -EOPNOTSUPP || res == -EINVAL)) {
		/* tmpfs and some others cannot ZERO_RANGE; a hole reads back as zeroes too. */
		u->zero_range_ok = false;
		return prep(u, io) == 0;
	}
	if (res == -EAGAIN || res == -EINTR)
		return prep(u, io) == 0;
	return false;
}

static int uring_reap(struct hy_backend *be, hy_io_done_fn fn, void *arg)
{
	struct uring *u = be->priv;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int done = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe)
	{
		struct hy_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		n++;
		if (retry(u, io, res))
			continue;
		if (res >= 0)
			io->res = (io->op == HY_IO_READ || io->op == HY_IO_WRITE) &&
						  (uint64_t)res != io->len
					  ? -EIO
					  : 0;
		else if (io->op == HY_IO_DISCARD && res == -EOPNOTSUPP)
			io->res = 0; /* discard is a hint (virtio 1.2, 5.2.6.2) */
		else
			io->res = res;
		fn(arg, io);
		done++;
	}
	if (n)
		io_uring_cq_advance(&u->ring, n);
	/* Resubmissions must not wait for the next request to reach the kernel. */
	if (u->queued)
		uring_flush(be);
	return done;
}

static int uring_event_fd(struct hy_backend *be)
{
	return ((struct uring *)be->priv)->efd;
}

const struct hy_backend_ops hy_backend_uring = {
	.name = "uring",
	.open = uring_open,
	.close = uring_close,
	.submit = uring_submit,
	.flush = uring_flush,
	.reap = uring_reap,
	.event_fd = uring_event_fd,
};
