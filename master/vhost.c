/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend protocol (QEMU docs/interop/vhost-user.rst) for virtio-blk.
 *
 * Every message is checked for its exact payload size and fd count before it is acted on; a
 * frontend that breaks the protocol gets an error return here, and the caller marks the device
 * broken and closes the connection (libvhost-user's dev->broken). Unknown requests are refused
 * with a failed ack, which the spec allows, and do not break anything.
 */
#define HY_LOG_COMPONENT "vhost"
#include "master/vhost.h"
#include "master/nvme_dev.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/barrier.h"
#include "shm/log.h"
#include "shm/inflight.h"
#include "worker/vring.h"

#define VHOST_USER_F_PROTOCOL_FEATURES 30

const char *hy_vhost_request_name(uint32_t request)
{
	return hy_vu_request_name(request);
}

uint64_t hy_vhost_protocol_features(void)
{
	return 1ull << HY_VU_PROTOCOL_F_MQ | 1ull << HY_VU_PROTOCOL_F_REPLY_ACK |
	       1ull << HY_VU_PROTOCOL_F_CONFIG | 1ull << HY_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS |
	       1ull << HY_VU_PROTOCOL_F_INFLIGHT_SHMFD;
}

int hy_vhost_recv(int sock, struct hy_vu_msg *m, int *fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HY_CHAN_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = &m->request, .iov_len = HY_VU_HDR_SIZE};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	size_t got = 0;
	ssize_t r;

	*nfds = 0;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned cnt = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		for (unsigned i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < HY_CHAN_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (r != HY_VU_HDR_SIZE || (mh.msg_flags & MSG_CTRUNC)) {
		hy_log(ERR, 0, "truncated message header (%zd bytes)", r);
		goto err_proto;
	}
	if (m->size > sizeof(m->payload)) {
		hy_log(ERR, 0, "%s carries a %u-byte payload; at most %zu is valid",
		       hy_vhost_request_name(m->request), m->size, sizeof(m->payload));
		goto err_proto;
	}
	/* The socket has a receive timeout: a frontend that stops mid-message cannot hang us. */
	while (got < m->size) {
		r = read(sock, m->payload.raw + got, m->size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			hy_log(ERR, r < 0 ? errno : 0, "%s: payload cut short at %zu of %u bytes",
			       hy_vhost_request_name(m->request), got, m->size);
			goto err_proto;
		}
		got += (size_t)r;
	}
	return 0;

err_proto:
	for (unsigned i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	return -EPROTO;
}

int hy_vhost_send(int sock, const struct hy_vu_msg *m, int fd)
{
	size_t len = HY_VU_HDR_SIZE + m->size;
	ssize_t r;

	if (fd >= 0) {
		r = hy_chan_send(sock, &m->request, len, &fd, 1);
		return (int)r;
	}
	do
		r = send(sock, &m->request, len, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

static void close_all(int *fds, unsigned nfds)
{
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void replace_fd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

static int check_shape(struct hy_device *d, const struct hy_vu_msg *m, uint32_t size, unsigned nfds,
		       unsigned want_fds)
{
	if (m->size != size) {
		hy_log(ERR, 0, "device %s: %s has a %u-byte payload, expected %u", d->cfg->name,
		       hy_vhost_request_name(m->request), m->size, size);
		return -EPROTO;
	}
	if (nfds != want_fds) {
		hy_log(ERR, 0, "device %s: %s came with %u fds, expected %u", d->cfg->name,
		       hy_vhost_request_name(m->request), nfds, want_fds);
		return -EPROTO;
	}
	return 0;
}

/* A vring index the frontend may use: below the topology's queue count. */
static int check_index(struct hy_device *d, const struct hy_vu_msg *m, uint64_t index)
{
	if (index >= d->cfg->nqueues) {
		hy_log(ERR, 0,
		       "device %s: %s for vring %llu, but the topology gives it %u queues (set num-queues=%u on -device vhost-user-blk-pci, or add queues)",
		       d->cfg->name, hy_vhost_request_name(m->request), (unsigned long long)index,
		       d->cfg->nqueues, d->cfg->nqueues);
		return -EPROTO;
	}
	return 0;
}

static bool region_valid(const struct hy_chan_region *r)
{
	return r->size && r->gpa + r->size > r->gpa && r->uva + r->size > r->uva &&
	       r->mmap_offset + r->size > r->mmap_offset;
}

/* Tell every live worker; a worker that refuses means the table is unusable. */
static int broadcast(struct hy_device *d, struct hy_cmd *cmd, const int *fds, unsigned nfds)
{
	int ret = 0;

	for (unsigned q = 0; q < d->cfg->nqueues; q++) {
		int r = hy_worker_call(d, q, cmd, fds, nfds, NULL);

		if (r < 0 && r != -ESRCH && !ret)
			ret = r;
	}
	return ret;
}

static int set_mem_table(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds)
{
	const struct hy_vu_memory *mem = &m->payload.memory;
	int ret;

	if (m->size < offsetof(struct hy_vu_memory, regions) ||
	    mem->nregions > HY_VU_BASELINE_NREGIONS ||
	    m->size != offsetof(struct hy_vu_memory, regions) +
			       mem->nregions * sizeof(struct hy_chan_region) ||
	    nfds != mem->nregions) {
		hy_log(ERR, 0,
		       "device %s: SET_MEM_TABLE: %u regions in a %u-byte payload with %u fds",
		       d->cfg->name, m->size >= 4 ? mem->nregions : 0, m->size, nfds);
		return -EPROTO;
	}
	for (unsigned i = 0; i < mem->nregions; i++) {
		if (!region_valid(&mem->regions[i])) {
			hy_log(ERR, 0,
			       "device %s: SET_MEM_TABLE: region %u (gpa 0x%llx, %llu bytes) is empty or wraps",
			       d->cfg->name, i, (unsigned long long)mem->regions[i].gpa,
			       (unsigned long long)mem->regions[i].size);
			return -EPROTO;
		}
	}
	/* nvme: the device must reach the new table before any worker uses it. */
	if (d->nvme) {
		ret = hy_nvme_dev_map_table(d->nvme, mem->regions, fds, mem->nregions);
		if (ret < 0)
			return ret;
	}
	/* vhost-user: the backend must not use the old table once it acks the new one. */
	for (unsigned i = 0; i < d->nregions; i++)
		close(d->region_fds[i]);
	d->nregions = mem->nregions;
	memcpy(d->regions, mem->regions, sizeof(mem->regions[0]) * mem->nregions);
	memcpy(d->region_fds, fds, sizeof(int) * nfds);
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = -1;
	for (unsigned q = 0; q < d->cfg->nqueues; q++) {
		ret = hy_worker_send_memory(d, q);
		if (ret < 0 && ret != -ESRCH) {
			hy_log(ERR, ret, "device %s: worker %u cannot map the memory table",
			       d->cfg->name, q);
			return ret;
		}
	}
	/* Every worker has drained what pointed into the old table and switched. */
	if (d->nvme)
		hy_nvme_dev_unmap_old(d->nvme);
	hy_log(DEBUG, 0, "device %s: memory table of %u regions", d->cfg->name, d->nregions);
	hy_device_sync_rings(d);
	return 0;
}

static int add_mem_reg(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds)
{
	static struct hy_cmd cmd;
	const struct hy_chan_region *r = &m->payload.mem.region;
	int ret = check_shape(d, m, sizeof(struct hy_vu_mem_single), nfds, 1);

	if (ret < 0)
		return ret;
	if (!region_valid(r)) {
		hy_log(ERR, 0, "device %s: ADD_MEM_REG: empty or wrapping region", d->cfg->name);
		return -EPROTO;
	}
	if (d->nregions >= HY_CHAN_MAX_REGIONS) {
		hy_log(ERR, 0, "device %s: ADD_MEM_REG beyond the %d slots GET_MAX_MEM_SLOTS gave",
		       d->cfg->name, HY_CHAN_MAX_REGIONS);
		return -EPROTO;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = HY_CMD_MEM_ADD;
	cmd.nregions = 1;
	cmd.regions[0] = *r;
	if (d->nvme) {
		ret = hy_nvme_dev_map_region(d->nvme, r, fds[0]);
		if (ret < 0)
			return ret;
	}
	ret = broadcast(d, &cmd, fds, 1);
	if (ret < 0) {
		if (d->nvme)
			hy_nvme_dev_unmap_region(d->nvme, r);
		return ret;
	}
	d->regions[d->nregions] = *r;
	d->region_fds[d->nregions++] = fds[0];
	fds[0] = -1;
	hy_device_sync_rings(d);
	return 0;
}

static int rem_mem_reg(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds)
{
	static struct hy_cmd cmd;
	const struct hy_chan_region *r = &m->payload.mem.region;
	unsigned i;

	/* QEMU may or may not send the region's fd along; it is not needed. */
	if (m->size != sizeof(struct hy_vu_mem_single) || nfds > 1)
		return check_shape(d, m, sizeof(struct hy_vu_mem_single), nfds, 0);
	for (i = 0; i < d->nregions; i++)
		if (d->regions[i].gpa == r->gpa && d->regions[i].size == r->size &&
		    d->regions[i].uva == r->uva)
			break;
	if (i == d->nregions) {
		hy_log(WARN, 0, "device %s: REM_MEM_REG of a region we do not have (gpa 0x%llx)",
		       d->cfg->name, (unsigned long long)r->gpa);
		return -ENOENT;
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = HY_CMD_MEM_DEL;
	cmd.nregions = 1;
	cmd.regions[0] = d->regions[i];
	broadcast(d, &cmd, NULL, 0);
	if (d->nvme)
		hy_nvme_dev_unmap_region(d->nvme, &d->regions[i]);
	close(d->region_fds[i]);
	d->nregions--;
	d->regions[i] = d->regions[d->nregions];
	d->region_fds[i] = d->region_fds[d->nregions];
	return 0;
}

static int get_config(struct hy_device *d, struct hy_vu_msg *m, struct hy_vu_msg *reply)
{
	const struct hy_vu_config *c = &m->payload.config;
	struct hy_vu_config *rc = &reply->payload.config;

	if (m->size < offsetof(struct hy_vu_config, payload) || c->size > HY_VU_CONFIG_MAX ||
	    m->size != offsetof(struct hy_vu_config, payload) + c->size ||
	    c->offset > HY_VU_CONFIG_MAX || c->size > HY_VU_CONFIG_MAX - c->offset) {
		hy_log(ERR, 0, "device %s: GET_CONFIG with a malformed range", d->cfg->name);
		return -EPROTO;
	}
	rc->offset = c->offset;
	rc->size = c->size;
	rc->flags = c->flags;
	memset(rc->payload, 0, c->size);
	d->config.writeback = (uint8_t)hy_load_relaxed(&d->shm->writeback);
	if (c->offset < sizeof(d->config)) {
		size_t n = sizeof(d->config) - c->offset;

		memcpy(rc->payload, (const uint8_t *)&d->config + c->offset,
		       n < c->size ? n : c->size);
	}
	reply->size = m->size;
	return 1;
}

static int set_config(struct hy_device *d, struct hy_vu_msg *m)
{
	const struct hy_vu_config *c = &m->payload.config;

	if (m->size < offsetof(struct hy_vu_config, payload) || c->size > HY_VU_CONFIG_MAX ||
	    m->size != offsetof(struct hy_vu_config, payload) + c->size) {
		hy_log(ERR, 0, "device %s: SET_CONFIG with a malformed range", d->cfg->name);
		return -EPROTO;
	}
	/* Only the write-cache byte is writable (virtio 1.2, 5.2.5, CONFIG_WCE). */
	if (c->offset != offsetof(struct hy_virtio_blk_config, writeback) || c->size != 1) {
		hy_log(WARN, 0,
		       "device %s: SET_CONFIG of %u bytes at offset %u refused; only writeback (offset 32, 1 byte) is writable",
		       d->cfg->name, c->size, c->offset);
		return -EINVAL;
	}
	d->config.writeback = c->payload[0] ? 1 : 0;
	hy_store_relaxed(&d->shm->writeback, (uint32_t)d->config.writeback);
	hy_log(INFO, 0, "device %s: write cache now %s", d->cfg->name,
	       d->config.writeback ? "write-back" : "write-through");
	return 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 with the index in bits 0-7 and "no fd" in bit 8. */
static int set_vring_fd(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds)
{
	uint64_t v = m->payload.u64;
	bool nofd = v & HY_VU_VRING_NOFD;
	unsigned idx = (unsigned)(v & HY_VU_VRING_IDX_MASK);
	struct hy_vq *vq;
	int fd, ret;

	ret = check_shape(d, m, 8, nfds, nofd ? 0 : 1);
	if (!ret)
		ret = check_index(d, m, idx);
	if (ret < 0)
		return ret;
	vq = &d->vq[idx];
	fd = nofd ? -1 : fds[0];
	if (!nofd)
		fds[0] = -1;
	switch (m->request) {
	case HY_VU_SET_VRING_KICK:
		if (nofd) {
			hy_log(ERR, 0,
			       "device %s: vring %u without a kick fd (polling mode) is not supported",
			       d->cfg->name, idx);
			return -EPROTO;
		}
		if (vq->running)
			hy_device_stop_ring(d, idx);
		replace_fd(&vq->kick_fd, fd);
		/* vhost-user: "the ring starts when it receives a kick fd". */
		vq->started = true;
		hy_device_sync_rings(d);
		break;
	case HY_VU_SET_VRING_CALL:
		replace_fd(&vq->call_fd, fd);
		if (vq->running) {
			static struct hy_cmd cmd;

			memset(&cmd, 0, sizeof(cmd));
			cmd.type = HY_CMD_VRING_CALL;
			hy_worker_call(d, idx, &cmd, &vq->call_fd, vq->call_fd >= 0, NULL);
		}
		break;
	case HY_VU_SET_VRING_ERR:
		replace_fd(&vq->err_fd, fd);
		break;
	}
	return 0;
}

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD: vhost-user spec, "Inflight I/O tracking". */
static int inflight_fd(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds,
		       struct hy_vu_msg *reply)
{
	struct hy_vu_inflight *in = &m->payload.inflight;
	bool get = m->request == HY_VU_GET_INFLIGHT_FD;
	struct stat st;
	int ret;

	if (m->size < offsetof(struct hy_vu_inflight, padding) || m->size > sizeof(*in) ||
	    nfds != (get ? 0u : 1u)) {
		hy_log(ERR, 0, "device %s: %s with a %u-byte payload and %u fds", d->cfg->name,
		       hy_vhost_request_name(m->request), m->size, nfds);
		return -EPROTO;
	}
	if (!in->num_queues || in->num_queues > d->cfg->nqueues || !in->queue_size ||
	    in->queue_size > d->cfg->queue_size) {
		hy_log(ERR, 0,
		       "device %s: %s for %u queues of %u; the device has %u queues of at most %u",
		       d->cfg->name, hy_vhost_request_name(m->request), in->num_queues,
		       in->queue_size, d->cfg->nqueues, d->cfg->queue_size);
		return -EPROTO;
	}
	if (get) {
		ret = hy_inflight_create(&d->inflight, in->num_queues, in->queue_size);
		if (ret < 0) {
			hy_log(ERR, ret, "device %s: cannot create the in-flight region",
			       d->cfg->name);
			return ret;
		}
		d->inflight.from_frontend = true;
		reply->size = m->size;
		reply->payload.inflight = *in;
		reply->payload.inflight.mmap_size = d->inflight.mmap_size;
		reply->payload.inflight.mmap_offset = 0;
		d->reply_fd = d->inflight.fd;
		return 1;
	}
	/* The region QEMU kept from our predecessor: check it is as large as it claims. */
	if (in->mmap_size < (uint64_t)in->num_queues * hy_inflight_queue_size(in->queue_size) ||
	    in->mmap_offset + in->mmap_size < in->mmap_offset || fstat(fds[0], &st) < 0 ||
	    (uint64_t)st.st_size < in->mmap_offset + in->mmap_size) {
		hy_log(ERR, 0,
		       "device %s: SET_INFLIGHT_FD: a region of %llu bytes at %llu for %u queues of %u does not fit its fd",
		       d->cfg->name, (unsigned long long)in->mmap_size,
		       (unsigned long long)in->mmap_offset, in->num_queues, in->queue_size);
		return -EPROTO;
	}
	hy_inflight_drop(&d->inflight);
	d->inflight.fd = fds[0];
	fds[0] = -1;
	d->inflight.mmap_size = in->mmap_size;
	d->inflight.mmap_offset = in->mmap_offset;
	d->inflight.num_queues = in->num_queues;
	d->inflight.queue_size = in->queue_size;
	d->inflight.from_frontend = true;
	hy_log(INFO, 0, "device %s: in-flight region from the frontend (%u queues of %u)",
	       d->cfg->name, in->num_queues, in->queue_size);
	return 0;
}

static void init_reply(const struct hy_vu_msg *m, struct hy_vu_msg *reply)
{
	reply->request = m->request;
	reply->flags = HY_VU_VERSION | HY_VU_FLAG_REPLY;
	reply->size = 0;
}

static int reply_u64(struct hy_vu_msg *reply, uint64_t v)
{
	reply->size = 8;
	reply->payload.u64 = v;
	return 1;
}

static int dispatch(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds,
		    struct hy_vu_msg *reply)
{
	struct hy_vu_state *st = &m->payload.state;
	int ret;

	switch (m->request) {
	case HY_VU_GET_FEATURES:
		ret = check_shape(d, m, m->size == 8 ? 8 : 0, nfds, 0);
		return ret ? ret : reply_u64(reply, hy_device_features(d));
	case HY_VU_SET_FEATURES:
		ret = check_shape(d, m, 8, nfds, 0);
		if (ret)
			return ret;
		if (m->payload.u64 & ~hy_device_features(d)) {
			hy_log(ERR, 0,
			       "device %s: SET_FEATURES 0x%llx includes features never offered (0x%llx)",
			       d->cfg->name, (unsigned long long)m->payload.u64,
			       (unsigned long long)(m->payload.u64 & ~hy_device_features(d)));
			return -EPROTO;
		}
		d->features = m->payload.u64;
		d->features_set = true;
		/* Without protocol features a ring is enabled as soon as it starts. */
		if (!(d->features & 1ull << VHOST_USER_F_PROTOCOL_FEATURES))
			for (unsigned i = 0; i < d->cfg->nqueues; i++)
				d->vq[i].enabled = true;
		hy_device_sync_rings(d);
		return 0;
	case HY_VU_GET_PROTOCOL_FEATURES:
		ret = check_shape(d, m, m->size == 8 ? 8 : 0, nfds, 0);
		return ret ? ret : reply_u64(reply, hy_vhost_protocol_features());
	case HY_VU_SET_PROTOCOL_FEATURES:
		ret = check_shape(d, m, 8, nfds, 0);
		if (ret)
			return ret;
		if (m->payload.u64 & ~hy_vhost_protocol_features()) {
			hy_log(ERR, 0,
			       "device %s: SET_PROTOCOL_FEATURES 0x%llx includes features never offered",
			       d->cfg->name, (unsigned long long)m->payload.u64);
			return -EPROTO;
		}
		d->protocol_features = m->payload.u64;
		return 0;
	case HY_VU_SET_OWNER:
		ret = check_shape(d, m, m->size == 8 ? 8 : 0, nfds, 0);
		if (ret)
			return ret;
		d->owner = true;
		return 0;
	case HY_VU_RESET_OWNER:
		ret = check_shape(d, m, m->size == 8 ? 8 : 0, nfds, 0);
		if (ret)
			return ret;
		hy_device_reset(d);
		return 0;
	case HY_VU_GET_QUEUE_NUM:
		ret = check_shape(d, m, m->size == 8 ? 8 : 0, nfds, 0);
		return ret ? ret : reply_u64(reply, d->cfg->nqueues);
	case HY_VU_GET_MAX_MEM_SLOTS:
		ret = check_shape(d, m, m->size == 8 ? 8 : 0, nfds, 0);
		return ret ? ret : reply_u64(reply, HY_CHAN_MAX_REGIONS);
	case HY_VU_SET_MEM_TABLE:
		return set_mem_table(d, m, fds, nfds);
	case HY_VU_ADD_MEM_REG:
		return add_mem_reg(d, m, fds, nfds);
	case HY_VU_REM_MEM_REG:
		return rem_mem_reg(d, m, fds, nfds);
	case HY_VU_SET_VRING_NUM:
		ret = check_shape(d, m, sizeof(*st), nfds, 0);
		if (!ret)
			ret = check_index(d, m, st->index);
		if (ret)
			return ret;
		/* virtio 1.2, 2.7: Queue Size is a power of 2 no larger than 32768. */
		if (!st->num || st->num & (st->num - 1) || st->num > d->cfg->queue_size) {
			hy_log(ERR, 0,
			       "device %s: vring %u of size %u: sizes are powers of 2 up to queue_size %u (set queue-size=%u or less on -device, or raise queue_size in the topology)",
			       d->cfg->name, st->index, st->num, d->cfg->queue_size,
			       d->cfg->queue_size);
			return -EPROTO;
		}
		if (d->vq[st->index].running)
			hy_device_stop_ring(d, st->index);
		d->vq[st->index].num = st->num;
		return 0;
	case HY_VU_SET_VRING_BASE:
		ret = check_shape(d, m, sizeof(*st), nfds, 0);
		if (!ret)
			ret = check_index(d, m, st->index);
		if (ret)
			return ret;
		if (st->num > 0xffff) {
			hy_log(ERR, 0,
			       "device %s: SET_VRING_BASE %u does not fit a split ring index",
			       d->cfg->name, st->num);
			return -EPROTO;
		}
		if (d->vq[st->index].running)
			hy_device_stop_ring(d, st->index);
		d->vq[st->index].last_avail = (uint16_t)st->num;
		return 0;
	case HY_VU_SET_VRING_ADDR: {
		const struct hy_vu_addr *a = &m->payload.addr;
		struct hy_vq *vq;

		ret = check_shape(d, m, sizeof(*a), nfds, 0);
		if (!ret)
			ret = check_index(d, m, a->index);
		if (ret)
			return ret;
		vq = &d->vq[a->index];
		if (vq->running)
			hy_device_stop_ring(d, a->index);
		vq->addr.desc_uva = a->desc_user_addr;
		vq->addr.avail_uva = a->avail_user_addr;
		vq->addr.used_uva = a->used_user_addr;
		vq->addr.flags = a->flags;
		vq->have_addr = true;
		hy_device_sync_rings(d);
		return 0;
	}
	case HY_VU_GET_VRING_BASE:
		ret = check_shape(d, m, sizeof(*st), nfds, 0);
		if (!ret)
			ret = check_index(d, m, st->index);
		if (ret)
			return ret;
		/* vhost-user: GET_VRING_BASE stops the ring; in-flight requests drain first. */
		hy_device_stop_ring(d, st->index);
		d->vq[st->index].started = false;
		replace_fd(&d->vq[st->index].kick_fd, -1);
		reply->size = sizeof(*st);
		reply->payload.state.index = st->index;
		reply->payload.state.num = d->vq[st->index].last_avail;
		return 1;
	case HY_VU_SET_VRING_KICK:
	case HY_VU_SET_VRING_CALL:
	case HY_VU_SET_VRING_ERR:
		return set_vring_fd(d, m, fds, nfds);
	case HY_VU_SET_VRING_ENABLE:
		ret = check_shape(d, m, sizeof(*st), nfds, 0);
		if (!ret)
			ret = check_index(d, m, st->index);
		if (ret)
			return ret;
		d->vq[st->index].enabled = st->num != 0;
		hy_device_sync_rings(d);
		return 0;
	case HY_VU_GET_CONFIG:
		if (nfds)
			return check_shape(d, m, m->size, nfds, 0);
		return get_config(d, m, reply);
	case HY_VU_SET_CONFIG:
		if (nfds)
			return check_shape(d, m, m->size, nfds, 0);
		return set_config(d, m);
	case HY_VU_GET_INFLIGHT_FD:
	case HY_VU_SET_INFLIGHT_FD:
		return inflight_fd(d, m, fds, nfds, reply);
	default:
		hy_log_rl(WARN, 0, "device %s: request %u (%s) is not supported; refused",
			  d->cfg->name, m->request, hy_vhost_request_name(m->request));
		return -EOPNOTSUPP;
	}
}

int hy_vhost_handle(struct hy_device *d, struct hy_vu_msg *m, int *fds, unsigned nfds,
		    struct hy_vu_msg *reply)
{
	bool need_reply;
	int ret;

	init_reply(m, reply);
	d->reply_fd = -1;
	if ((m->flags & HY_VU_FLAG_VERSION) != HY_VU_VERSION) {
		hy_log(ERR, 0, "device %s: message version %u; only 1 exists", d->cfg->name,
		       m->flags & HY_VU_FLAG_VERSION);
		close_all(fds, nfds);
		return -EPROTO;
	}
	hy_log(DEBUG, 0, "device %s: %s (%u bytes, %u fds)", d->cfg->name,
	       hy_vhost_request_name(m->request), m->size, nfds);
	ret = dispatch(d, m, fds, nfds, reply);
	close_all(fds, nfds); /* whatever the handler did not keep */
	if (ret == -EPROTO)
		return ret;
	if (d->broken)
		return -EPROTO;
	if (ret == 1)
		return 1;
	/* vhost-user, REPLY_ACK: a u64 that is zero on success. */
	need_reply = (d->protocol_features & 1ull << HY_VU_PROTOCOL_F_REPLY_ACK) &&
		     (m->flags & HY_VU_FLAG_NEED_REPLY);
	if (!need_reply)
		return 0;
	return reply_u64(reply, ret < 0 ? 1 : 0);
}
