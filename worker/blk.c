/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk request execution, virtio 1.2 section 5.2.6.
 *
 * A request is a device-readable part (the 16-byte header, then data for writes, discard and
 * write-zeroes) and a device-writable part (data for reads and GET_ID, then the status byte).
 * With VIRTIO_F_VERSION_1 the driver may lay these out across descriptors any way it likes
 * (2.7.4 Message Framing), so the header and status are located by byte offset in the readable
 * and writable streams, never by descriptor.
 */
#define HY_LOG_COMPONENT "blk"
#include "worker/blk.h"

#include <errno.h>
#include <string.h>

#include "shm/barrier.h"
#include "shm/log.h"
#include "shm/virtio_blk.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Copy the first @len bytes of @iov[0..cnt) to @dst. Return bytes copied. */
static size_t iov_copy_out(const struct iovec *iov, unsigned cnt, void *dst, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy((uint8_t *)dst + done, iov[i].iov_base, n);
		done += n;
	}
	return done;
}

/* Copy @len bytes from @src into the start of @iov[0..cnt). Return bytes copied. */
static size_t iov_copy_in(const struct iovec *iov, unsigned cnt, const void *src, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t n = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		memcpy(iov[i].iov_base, (const uint8_t *)src + done, n);
		done += n;
	}
	return done;
}

/* Drop @len bytes from the front of @iov[0..*cnt), moving *iov forward. */
static void iov_drop_front(struct iovec **iov, unsigned *cnt, size_t len)
{
	while (*cnt && len >= (*iov)[0].iov_len) {
		len -= (*iov)[0].iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt && len) {
		(*iov)[0].iov_base = (uint8_t *)(*iov)[0].iov_base + len;
		(*iov)[0].iov_len -= len;
	}
}

/* Drop @len bytes from the back of @iov[0..*cnt). */
static void iov_drop_back(struct iovec *iov, unsigned *cnt, size_t len)
{
	while (*cnt && len >= iov[*cnt - 1].iov_len) {
		len -= iov[*cnt - 1].iov_len;
		(*cnt)--;
	}
	if (*cnt && len)
		iov[*cnt - 1].iov_len -= len;
}

static int complete_now(struct hy_req *r, uint8_t status)
{
	*r->status = status;
	return 1;
}

/* Check that [sector, sector + bytes/512) lies on the disk, without overflowing. */
static bool in_range(const struct hy_blk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t sectors = b->info->capacity >> HY_SECTOR_SHIFT;

	return sector <= sectors && (bytes >> HY_SECTOR_SHIFT) <= sectors - sector;
}

static int start_rw(struct hy_blk *b, struct hy_req *r, uint64_t sector, struct iovec *iov,
		    unsigned cnt, uint64_t len, bool write)
{
	if (write && b->dev->read_only) {
		/* 5.2.6.2: a write to a VIRTIO_BLK_F_RO device fails with IOERR. */
		b->stats->io_errors++;
		return complete_now(r, HY_VIRTIO_BLK_S_IOERR);
	}
	if (len == 0 || len % 512 || !in_range(b, sector, len)) {
		hy_log_rl(
			WARN, 0,
			"%s request at sector %llu for %llu bytes is outside the %llu-byte disk or not whole sectors",
			write ? "write" : "read", (unsigned long long)sector,
			(unsigned long long)len, (unsigned long long)b->info->capacity);
		b->stats->io_errors++;
		return complete_now(r, HY_VIRTIO_BLK_S_IOERR);
	}
	r->io.op = write ? HY_IO_WRITE : HY_IO_READ;
	r->io.offset = sector << HY_SECTOR_SHIFT;
	r->io.len = len;
	r->io.iov = iov;
	r->io.iovcnt = cnt;
	/* Write-through (CONFIG_WCE cleared by the guest): every write is durable on completion. */
	r->io.dsync = write && !hy_load_relaxed(&b->shm->writeback);
	r->bytes = len;
	if (!write)
		r->used_len += (uint32_t)len;
	return 0;
}

static int start_discard_wz(struct hy_blk *b, struct hy_req *r, struct iovec *iov, unsigned cnt,
			    uint64_t len)
{
	struct hy_virtio_blk_discard_write_zeroes seg;
	bool discard = r->type == HY_VIRTIO_BLK_T_DISCARD;

	if (discard ? !b->dev->discard || !b->info->discard
		    : !b->dev->write_zeroes || !b->info->write_zeroes) {
		b->stats->unsupported++;
		return complete_now(r, HY_VIRTIO_BLK_S_UNSUPP);
	}
	if (b->dev->read_only) {
		b->stats->io_errors++;
		return complete_now(r, HY_VIRTIO_BLK_S_IOERR);
	}
	/* We offer max_discard_seg = max_write_zeroes_seg = 1. */
	if (len != sizeof(seg)) {
		hy_log_rl(
			WARN, 0,
			"%s request carries %llu bytes of segments; exactly one 16-byte segment is supported",
			discard ? "discard" : "write-zeroes", (unsigned long long)len);
		b->stats->unsupported++;
		return complete_now(r, HY_VIRTIO_BLK_S_UNSUPP);
	}
	iov_copy_out(iov, cnt, &seg, sizeof(seg));
	/*
	 * 5.2.6.2: for discard the device MUST set UNSUPP when the unmap flag is set; for both,
	 * unknown flag bits make the request unsupported.
	 */
	if ((discard && seg.flags) || (seg.flags & ~(uint32_t)HY_VIRTIO_BLK_WZ_F_UNMAP)) {
		b->stats->unsupported++;
		return complete_now(r, HY_VIRTIO_BLK_S_UNSUPP);
	}
	if (seg.num_sectors == 0 || seg.num_sectors > HY_BLK_MAX_DISCARD_SECT ||
	    !in_range(b, seg.sector, (uint64_t)seg.num_sectors << HY_SECTOR_SHIFT)) {
		b->stats->io_errors++;
		return complete_now(r, HY_VIRTIO_BLK_S_IOERR);
	}
	r->io.op = discard ? HY_IO_DISCARD : HY_IO_WRITE_ZEROES;
	r->io.offset = seg.sector << HY_SECTOR_SHIFT;
	r->io.len = (uint64_t)seg.num_sectors << HY_SECTOR_SHIFT;
	r->io.unmap = seg.flags & HY_VIRTIO_BLK_WZ_F_UNMAP;
	r->io.iov = NULL;
	r->io.iovcnt = 0;
	return 0;
}

int hy_blk_start(struct hy_blk *b, struct hy_req *r)
{
	struct hy_chain *c = &r->chain;
	struct hy_virtio_blk_outhdr hdr;
	struct iovec *out = c->iov, *in = c->iov + c->n_out;
	unsigned n_out = c->n_out, n_in = c->n_in;
	uint64_t out_len = c->out_len, in_len = c->in_len;
	struct iovec *last;
	int ret;

	b->stats->requests++;
	r->used_len = 0;
	r->status = NULL;
	r->bytes = 0;
	r->io = (struct hy_io){0};

	/* 5.2.6: the status is the last byte the device may write. */
	if (unlikely(in_len < 1)) {
		hy_log_rl(WARN, 0, "request %u has no device-writable status byte", c->head);
		b->stats->bad_chains++;
		return 1;
	}
	last = &in[n_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	/* Linux gives the status byte a descriptor of its own. */
	if (likely(last->iov_len == 1))
		n_in--;
	else
		iov_drop_back(in, &n_in, 1);
	in_len--;
	r->used_len = 1;

	if (unlikely(out_len < sizeof(hdr))) {
		hy_log_rl(WARN, 0, "request %u has a %llu-byte header; virtio-blk needs 16",
			  c->head, (unsigned long long)out_len);
		b->stats->io_errors++;
		return complete_now(r, HY_VIRTIO_BLK_S_IOERR);
	}
	/* Read once: the guest may rewrite the header while we look at our copy. Linux gives the
	 * header a descriptor of its own as well. */
	if (likely(out[0].iov_len == sizeof(hdr))) {
		memcpy(&hdr, out[0].iov_base, sizeof(hdr));
		out++;
		n_out--;
	} else {
		iov_copy_out(out, n_out, &hdr, sizeof(hdr));
		iov_drop_front(&out, &n_out, sizeof(hdr));
	}
	out_len -= sizeof(hdr);
	r->type = hdr.type;

	switch (hdr.type) {
	case HY_VIRTIO_BLK_T_IN:
		b->stats->reads++;
		ret = start_rw(b, r, hdr.sector, in, n_in, in_len, false);
		break;
	case HY_VIRTIO_BLK_T_OUT:
		b->stats->writes++;
		ret = start_rw(b, r, hdr.sector, out, n_out, out_len, true);
		break;
	case HY_VIRTIO_BLK_T_FLUSH:
		b->stats->flushes++;
		r->io.op = HY_IO_FLUSH;
		ret = 0;
		break;
	case HY_VIRTIO_BLK_T_GET_ID: {
		/* 5.2.6: up to 20 bytes, NUL-padded only when shorter. */
		char id[HY_VIRTIO_BLK_ID_BYTES] = {0};
		size_t n = in_len < sizeof(id) ? in_len : sizeof(id);

		b->stats->get_ids++;
		memcpy(id, b->dev->serial, strnlen(b->dev->serial, sizeof(id)));
		r->used_len += (uint32_t)iov_copy_in(in, n_in, id, n);
		return complete_now(r, HY_VIRTIO_BLK_S_OK);
	}
	case HY_VIRTIO_BLK_T_DISCARD:
	case HY_VIRTIO_BLK_T_WRITE_ZEROES:
		if (hdr.type == HY_VIRTIO_BLK_T_DISCARD)
			b->stats->discards++;
		else
			b->stats->write_zeroes++;
		ret = start_discard_wz(b, r, out, n_out, out_len);
		break;
	default:
		hy_log_rl(DEBUG, 0, "request type %u is not supported", hdr.type);
		b->stats->unsupported++;
		return complete_now(r, HY_VIRTIO_BLK_S_UNSUPP);
	}
	if (ret)
		return ret;

	ret = b->be->ops->submit(b->be, &r->io);
	if (ret < 0) {
		hy_log_rl(WARN, ret, "backend refused a request");
		r->io.res = ret;
	}
	if (ret != 0) {
		hy_blk_finish(b, r);
		return 1;
	}
	b->stats->inflight++;
	return 0;
}

void hy_blk_finish(struct hy_blk *b, struct hy_req *r)
{
	if (r->io.res) {
		hy_log_rl(WARN, r->io.res, "I/O at byte %llu for %llu bytes failed",
			  (unsigned long long)r->io.offset, (unsigned long long)r->io.len);
		b->stats->io_errors++;
		/* A failed read wrote nothing the guest may rely on. */
		if (r->io.op == HY_IO_READ)
			r->used_len = 1;
		*r->status = HY_VIRTIO_BLK_S_IOERR;
		return;
	}
	if (r->io.op == HY_IO_READ)
		b->stats->read_bytes += r->bytes;
	else if (r->io.op == HY_IO_WRITE)
		b->stats->write_bytes += r->bytes;
	*r->status = HY_VIRTIO_BLK_S_OK;
}
