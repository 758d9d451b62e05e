/* SPDX-License-Identifier: MIT */
/*
 * A device in the master: its configuration space, its features, and the commands that move
 * vrings and memory to and from its workers. Never on the data path.
 */
#define HY_LOG_COMPONENT "device"
#include "master/device.h"
#include "master/master.h"
#include "master/nvme_dev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/inflight.h"

#include "shm/barrier.h"
#include "shm/log.h"
#include "worker/vring.h"
#include "worker/worker.h"

#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define WORKER_REPLY_TIMEOUT_MS	       35000 /* a drain may take 30 s */

uint64_t hy_device_features(const struct hy_device *d)
{
	uint64_t f = 1ull << HY_VIRTIO_F_VERSION_1 | 1ull << HY_VIRTIO_RING_F_INDIRECT_DESC |
		     1ull << HY_VIRTIO_RING_F_EVENT_IDX | 1ull << HY_VIRTIO_BLK_F_SIZE_MAX |
		     1ull << HY_VIRTIO_BLK_F_SEG_MAX | 1ull << HY_VIRTIO_BLK_F_BLK_SIZE |
		     1ull << HY_VIRTIO_BLK_F_FLUSH | 1ull << HY_VIRTIO_BLK_F_TOPOLOGY |
		     1ull << HY_VIRTIO_BLK_F_CONFIG_WCE | 1ull << HY_VIRTIO_BLK_F_MQ |
		     1ull << VHOST_USER_F_PROTOCOL_FEATURES;

	if (d->cfg->read_only)
		f |= 1ull << HY_VIRTIO_BLK_F_RO;
	if (d->cfg->discard && d->info.discard && !d->cfg->read_only)
		f |= 1ull << HY_VIRTIO_BLK_F_DISCARD;
	if (d->cfg->write_zeroes && d->info.write_zeroes && !d->cfg->read_only)
		f |= 1ull << HY_VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

int hy_device_init(struct hy_device *d, struct hy_topo_device *cfg, unsigned index, char *err,
		   size_t errlen)
{
	struct hy_virtio_blk_config *c = &d->config;
	int ret;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->index = index;
	d->listen_fd = d->conn_fd = -1;
	d->inflight.fd = -1;
	d->reply_fd = -1;
	for (unsigned i = 0; i < HY_MAX_QUEUES; i++) {
		d->vq[i].kick_fd = d->vq[i].call_fd = d->vq[i].err_fd = -1;
		d->w[i].chan = -1;
		d->w[i].cpu = i < cfg->nqueues ? cfg->queues[i].cpu : 0;
		d->w[i].numa = i < cfg->nqueues ? cfg->queues[i].numa : 0;
	}
	if (cfg->type == HY_BE_NVME) {
		memset(&d->info, 0, sizeof(d->info));
		d->info.ram_fd = -1;
		d->nvme = hy_nvme_dev_open(cfg, &d->info, err, errlen);
		if (!d->nvme)
			return -errno;
	} else {
		ret = hy_backend_prepare(cfg, &d->info, err, errlen);
		if (ret < 0)
			return ret;
	}
	d->shm = hy_shm_dev_create(cfg->name, cfg->nqueues);
	if (!d->shm) {
		ret = -errno;
		snprintf(err, errlen, "device %s: cannot create its shared memory: %s", cfg->name,
			 strerror(errno));
		return ret;
	}
	d->shm->writeback = cfg->writeback;

	/* virtio 1.2, 5.2.4: the configuration layout. */
	c->capacity = d->info.capacity >> HY_SECTOR_SHIFT;
	c->size_max = HY_BLK_SIZE_MAX;
	/* Without indirect descriptors a chain is at most the ring size: header + data + status. */
	c->seg_max = cfg->queue_size - 2 < HY_BLK_SEG_MAX ? cfg->queue_size - 2 : HY_BLK_SEG_MAX;
	if (c->seg_max < 1)
		c->seg_max = 1;
	if (d->nvme) {
		/*
		 * A request of n segments of at most MDTS bytes needs at most n commands: the
		 * queue pair (depth - 1 slots) then always holds a whole request of a guest that
		 * keeps to these limits. One that does not gets IOERR for it.
		 */
		uint32_t mx = d->nvme->ctrl.info.max_xfer, slots = d->nvme->q[0].depth - 1u;

		if (c->size_max > mx)
			c->size_max = mx;
		if (c->seg_max > slots)
			c->seg_max = slots;
	}
	c->blk_size = d->info.block_size;
	c->topology.min_io_size = 1;
	c->writeback = cfg->writeback;
	c->num_queues = (uint16_t)cfg->nqueues;
	c->max_discard_sectors = HY_BLK_MAX_DISCARD_SECT;
	c->max_discard_seg = 1;
	c->discard_sector_alignment = d->info.block_size >> HY_SECTOR_SHIFT;
	c->max_write_zeroes_sectors = HY_BLK_MAX_DISCARD_SECT;
	c->max_write_zeroes_seg = 1;
	c->write_zeroes_may_unmap = 1;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The worker reported something on its own (seq 0). */
static void worker_event(struct hy_device *d, unsigned q, const struct hy_reply *r)
{
	if (r->value == HY_EVT_BROKEN) {
		hy_log(ERR, 0,
		       "device %s: queue %u was broken by the frontend; closing the connection",
		       d->cfg->name, q);
		d->broken = true;
	}
}

int hy_worker_call(struct hy_device *d, unsigned q, struct hy_cmd *cmd, const int *fds,
		   unsigned nfds, uint64_t *value)
{
	struct hy_worker_slot *w = &d->w[q];
	uint64_t deadline = hy_now_ns() + WORKER_REPLY_TIMEOUT_MS * 1000000ull;
	int ret;

	if (w->state != HY_W_UP)
		return -ESRCH;
	cmd->seq = ++w->seq;
	cmd->nfds = nfds;
	ret = hy_chan_send(w->chan, cmd, sizeof(*cmd), fds, nfds);
	if (ret < 0)
		return ret == -EPIPE || ret == -ECONNRESET ? -ESRCH : ret;
	/* Pairs with the worker's hy_load_acquire of cmd_seq in its poll loop. */
	hy_store_release(&d->shm->q[q].cmd_seq, w->seq);

	for (;;) {
		struct hy_reply r;
		int rfds[HY_CHAN_MAX_FDS];
		unsigned rn;
		uint64_t now = hy_now_ns();

		if (now >= deadline) {
			hy_log(ERR, 0,
			       "device %s: worker %u (pid %d) did not answer command %u in %d s",
			       d->cfg->name, q, (int)w->pid, cmd->type,
			       WORKER_REPLY_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
		ret = hy_chan_recv(w->chan, &r, sizeof(r), rfds, &rn,
				   (int)((deadline - now) / 1000000ull) + 1);
		for (unsigned i = 0; i < rn; i++)
			close(rfds[i]);
		if (ret == -EAGAIN)
			continue;
		if (ret == -ECONNRESET)
			return -ESRCH;
		if (ret < 0)
			return ret;
		if (r.seq == 0) {
			worker_event(d, q, &r);
			continue;
		}
		if (r.seq != cmd->seq)
			continue; /* the answer to a command that timed out earlier */
		if (value)
			*value = r.value;
		return r.result;
	}
}

/* Drain unsolicited worker messages when the channel is readable outside a call. */
void hy_device_worker_readable(struct hy_device *d, unsigned q)
{
	struct hy_reply r;
	int fds[HY_CHAN_MAX_FDS];
	unsigned n;

	while (d->w[q].chan >= 0 && hy_chan_recv(d->w[q].chan, &r, sizeof(r), fds, &n, 0) == 0) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		if (r.seq == 0)
			worker_event(d, q, &r);
	}
}

int hy_worker_send_memory(struct hy_device *d, unsigned q)
{
	static struct hy_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = HY_CMD_MEM_SET;
	/* nvme: where the device sees this table (nvme/README-nvme.md, "IOVA scheme"). */
	cmd.arg = d->nvme ? d->nvme->iova_base : 0;
	cmd.nregions = d->nregions;
	memcpy(cmd.regions, d->regions, sizeof(d->regions[0]) * d->nregions);
	return hy_worker_call(d, q, &cmd, d->region_fds, d->nregions, NULL);
}

int hy_inflight_create(struct hy_inflight *inf, uint16_t num_queues, uint16_t queue_size)
{
	size_t size = hy_inflight_queue_size(queue_size) * num_queues;
	int fd = memfd_create("hydra-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	/* A new memfd reads as zeroes: every queue region starts with version 0, nothing in flight.
	 */
	if (ftruncate(fd, (off_t)size) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	hy_inflight_drop(inf);
	inf->fd = fd;
	inf->mmap_size = size;
	inf->mmap_offset = 0;
	inf->num_queues = num_queues;
	inf->queue_size = queue_size;
	return 0;
}

void hy_inflight_drop(struct hy_inflight *inf)
{
	if (inf->fd >= 0)
		close(inf->fd);
	memset(inf, 0, sizeof(*inf));
	inf->fd = -1;
}

static bool ring_ready(const struct hy_device *d, unsigned i)
{
	const struct hy_vq *vq = &d->vq[i];

	return vq->started && vq->enabled && vq->have_addr && vq->num && d->nregions &&
	       d->w[i].state == HY_W_UP;
}

static int start_ring(struct hy_device *d, unsigned i)
{
	struct hy_vq *vq = &d->vq[i];
	struct hy_inflight *inf = &d->inflight;
	static struct hy_cmd cmd;
	int fds[3];
	unsigned nfds = 0;
	int ret;

	/*
	 * Without a region from the frontend, our own one still lets a respawned worker resubmit
	 * what its predecessor had in flight; only a restart of hydra itself needs QEMU's.
	 */
	if (inf->fd < 0) {
		ret = hy_inflight_create(inf, (uint16_t)d->cfg->nqueues,
					 (uint16_t)d->cfg->queue_size);
		if (ret < 0)
			hy_log(WARN, ret,
			       "device %s: no in-flight region; a worker crash will lose I/O",
			       d->cfg->name);
	}
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = HY_CMD_VRING_START;
	cmd.vring = vq->addr;
	cmd.vring.num = vq->num;
	cmd.vring.last_avail = vq->last_avail;
	cmd.vring.features = d->features;
	cmd.vring.prev_death_ns = d->w[i].died_ns;
	fds[nfds++] = vq->kick_fd;
	if (vq->call_fd >= 0) {
		cmd.arg = 1; /* bit 0: a call fd follows the kick fd */
		fds[nfds++] = vq->call_fd;
	}
	if (inf->fd >= 0 && i < inf->num_queues && vq->num <= inf->queue_size) {
		cmd.vring.inflight_map_size = inf->mmap_offset + inf->mmap_size;
		cmd.vring.inflight_offset =
			inf->mmap_offset + (uint64_t)i * hy_inflight_queue_size(inf->queue_size);
		cmd.vring.inflight_capacity = inf->queue_size;
		fds[nfds++] = inf->fd;
	} else if (inf->fd >= 0) {
		hy_log(WARN, 0,
		       "device %s: vring %u (size %u) does not fit the in-flight region (%u queues of %u); it is not tracked",
		       d->cfg->name, i, vq->num, inf->num_queues, inf->queue_size);
	}
	ret = hy_worker_call(d, i, &cmd, fds, nfds, NULL);
	if (ret == -ESRCH || ret == -ETIMEDOUT)
		return ret; /* the supervisor restarts it when the worker comes back */
	if (ret < 0) {
		hy_log(ERR, ret,
		       "device %s: vring %u (size %u) could not be started; the frontend gave addresses outside its memory",
		       d->cfg->name, i, vq->num);
		d->broken = true;
		return ret;
	}
	vq->running = true;
	d->w[i].died_ns = 0;
	hy_log(DEBUG, 0, "device %s: vring %u running on worker %d", d->cfg->name, i,
	       (int)d->w[i].pid);
	return 0;
}

int hy_device_stop_ring(struct hy_device *d, unsigned i)
{
	struct hy_vq *vq = &d->vq[i];
	static struct hy_cmd cmd;
	uint64_t value = vq->last_avail;
	int ret;

	if (!vq->running)
		return 0;
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = HY_CMD_VRING_STOP;
	cmd.vring.last_avail = vq->last_avail;
	ret = hy_worker_call(d, i, &cmd, NULL, 0, &value);
	if (ret < 0) {
		/* A dead worker: what it published last is the best there is. */
		value = hy_load_relaxed(&d->shm->q[i].last_avail);
		hy_log(WARN, ret, "device %s: vring %u stopped without its worker", d->cfg->name,
		       i);
	}
	vq->last_avail = (uint16_t)value;
	vq->running = false;
	return 0;
}

void hy_device_sync_rings(struct hy_device *d)
{
	for (unsigned i = 0; i < d->cfg->nqueues && !d->broken; i++) {
		bool ready = ring_ready(d, i);

		if (ready && !d->vq[i].running)
			start_ring(d, i);
		else if (!ready && d->vq[i].running && d->w[i].state == HY_W_UP)
			hy_device_stop_ring(d, i);
	}
}

void hy_device_reset(struct hy_device *d)
{
	for (unsigned i = 0; i < HY_MAX_QUEUES; i++) {
		struct hy_vq *vq = &d->vq[i];

		if (i < d->cfg->nqueues)
			hy_device_stop_ring(d, i);
		close_fd(&vq->kick_fd);
		close_fd(&vq->call_fd);
		close_fd(&vq->err_fd);
		memset(vq, 0, sizeof(*vq));
		vq->kick_fd = vq->call_fd = vq->err_fd = -1;
	}
	for (unsigned i = 0; i < d->nregions; i++)
		close_fd(&d->region_fds[i]);
	d->nregions = 0;
	/* The next frontend brings its own region (SET_INFLIGHT_FD) or gets a new one. */
	hy_inflight_drop(&d->inflight);
	/* Workers unmap the old guest's memory now, not when the next guest arrives. */
	for (unsigned q = 0; q < d->cfg->nqueues; q++)
		if (d->w[q].state == HY_W_UP)
			hy_worker_send_memory(d, q);
	/* Every worker has drained and dropped it: the device may no longer reach it either. */
	if (d->nvme)
		hy_nvme_dev_unmap_all(d->nvme);
	d->features = d->protocol_features = 0;
	d->features_set = d->owner = false;
	d->broken = false;
	d->shm->writeback = d->cfg->writeback;
	d->config.writeback = d->cfg->writeback;
}
