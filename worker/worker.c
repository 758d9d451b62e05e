/* SPDX-License-Identifier: MIT */
/*
 * The worker loop: where requests enter (hy_vring_pop), are executed (hy_blk_start and the
 * backend) and complete (hy_vring_push, hy_vring_flush).
 *
 * While requests flow the worker busy-polls its avail ring and its backend with guest kicks
 * suppressed; after idle_us without work it re-enables kicks and sleeps in epoll_wait on the kick
 * eventfd, the backend's completion eventfd and its channel, so an idle VM costs nothing.
 */
#define HY_LOG_COMPONENT "worker"
#include "worker/worker.h"

#include <errno.h>
#include <sched.h>
#include <hwloc.h>
#include <numa.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/barrier.h"
#include "shm/chan.h"
#include "shm/log.h"
#include "worker/blk.h"
#include "worker/mem.h"
#include "worker/vring.h"

#define DRAIN_TIMEOUT_NS (30ull * 1000000000ull)
#define POP_BATCH	 32 /* chains taken from the avail ring per pass */
#define IDLE_CHECK	 64 /* empty passes between two looks at the clock */

enum { TAG_CHAN = 1, TAG_KICK, TAG_BACKEND };

struct worker {
	const struct hy_worker_args *a;
	struct hy_shm_queue *sq;
	struct hy_mem mem;
	struct hy_vring vr;
	struct hy_chan_vring cfg; /* the running vring as the master described it */
	bool running;
	struct hy_req *reqs;
	uint16_t *free_slots;
	uint32_t nreqs, nfree;
	struct hy_backend be;
	struct hy_blk blk;
	int epfd;
	int be_efd;
	uint32_t cmd_seen;
	unsigned pushed;    /* used entries not yet published */
	void *inflight_map; /* the in-flight region, whole */
	size_t inflight_len;
	uint64_t recover_from_ns; /* predecessor's death, until our first completion */
	unsigned resubmitted;
	bool backend_stuck; /* reap() said -ETIMEDOUT: exit 1, the master resets the backend */
};

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
	stop_requested = 1;
}

/*
 * Loaded once, in the master before it forks: every worker inherits it, so a respawn does not
 * pay for a topology discovery before it can serve the guest again.
 */
static hwloc_topology_t topology;

int hy_worker_topology_load(void)
{
	if (topology)
		return 0;
	if (hwloc_topology_init(&topology) < 0)
		return -ENOMEM;
	if (hwloc_topology_load(topology) < 0) {
		int ret = -errno;

		hwloc_topology_destroy(topology);
		topology = NULL;
		return ret;
	}
	return 0;
}

int hy_worker_pin(int cpu, int numa)
{
	hwloc_bitmap_t set;
	int ret = hy_worker_topology_load();

	if (ret < 0)
		return ret;
	set = hwloc_bitmap_alloc();
	if (!set)
		return -ENOMEM;
	hwloc_bitmap_only(set, (unsigned)cpu);
	if (hwloc_set_cpubind(topology, set, HWLOC_CPUBIND_PROCESS) < 0) {
		ret = -errno;
		hy_log(ERR, ret, "cannot pin to cpu %d", cpu);
	}
	hwloc_bitmap_free(set);
	if (!ret && numa >= 0 && numa_available() >= 0) {
		struct bitmask *nodes = numa_allocate_nodemask();

		numa_bitmask_setbit(nodes, (unsigned)numa);
		numa_set_membind(nodes);
		numa_bitmask_free(nodes);
	}
	return ret;
}

static void reply(struct worker *w, uint32_t seq, int result, uint64_t value)
{
	struct hy_reply r = {.seq = seq, .result = result, .value = value};
	int ret = hy_chan_send(w->a->chan, &r, sizeof(r), NULL, 0);

	if (ret < 0)
		hy_log(WARN, ret, "cannot reply to the master");
}

static void complete(struct worker *w, struct hy_req *r)
{
	hy_vring_push(&w->vr, r->chain.head, r->used_len);
	w->free_slots[w->nfree++] = r->slot;
	w->pushed++;
}

/* A malformed chain: hand it back empty so the driver does not wait forever. */
static void hand_back_bad(struct worker *w, uint16_t head)
{
	w->sq->stats.bad_chains++;
	hy_vring_push(&w->vr, head, 0);
	w->pushed++;
}

static void io_done(void *arg, struct hy_io *io)
{
	struct worker *w = arg;
	struct hy_req *r = (struct hy_req *)((uint8_t *)io - offsetof(struct hy_req, io));

	hy_blk_finish(&w->blk, r);
	w->sq->stats.inflight--;
	complete(w, r);
}

static void publish(struct worker *w)
{
	if (!w->pushed)
		return;
	w->pushed = 0;
	if (hy_vring_flush(&w->vr))
		w->sq->stats.signals++;
	hy_store_relaxed(&w->sq->used_idx, w->vr.used_idx);
	if (w->recover_from_ns) {
		uint64_t ns = hy_now_ns() - w->recover_from_ns;

		hy_store_relaxed(&w->sq->recovery_ns, ns);
		hy_log(INFO, 0,
		       "queue %u recovered: first completion %.3f ms after the previous worker died, %u requests resubmitted",
		       w->a->qidx, (double)ns / 1e6, w->resubmitted);
		w->recover_from_ns = 0;
	}
}

static void set_state(struct worker *w, enum hy_queue_state s)
{
	hy_store_relaxed(&w->sq->state, (uint32_t)s);
}

/* The guest broke its ring: stop touching it and tell the master, which resets the device. */
static void ring_broken(struct worker *w)
{
	struct hy_reply ev = {.seq = 0, .result = -EIO, .value = HY_EVT_BROKEN};

	set_state(w, HY_Q_BROKEN);
	hy_log(ERR, 0,
	       "queue %u: the guest broke the ring (avail index or head out of range); stopping it",
	       w->a->qidx);
	hy_chan_send(w->a->chan, &ev, sizeof(ev), NULL, 0);
}

/* One pass: take what the guest offers, run the backend, complete. Return the work done. */
static unsigned poll_once(struct worker *w)
{
	unsigned work = 0;
	int ret;

	/*
	 * At most POP_BATCH chains before the backend and the completions get a turn: the guest
	 * sees its first requests complete while it is still adding more, instead of the two
	 * sides taking turns a whole ring at a time.
	 */
	for (unsigned n = 0; n < POP_BATCH && w->nfree && !w->vr.broken; n++) {
		struct hy_req *r = &w->reqs[w->free_slots[w->nfree - 1]];

		ret = hy_vring_pop(&w->vr, &r->chain);
		if (ret == 0)
			break;
		if (ret == -EIO) {
			ring_broken(w);
			break;
		}
		work++;
		if (ret < 0) {
			hand_back_bad(w, r->chain.head);
			continue;
		}
		w->nfree--;
		if (hy_blk_start(&w->blk, r))
			complete(w, r);
	}
	if (work) {
		w->be.ops->flush(&w->be);
		hy_store_relaxed(&w->sq->last_avail, w->vr.last_avail);
	}
	ret = w->be.ops->reap(&w->be, io_done, w);
	if (ret > 0)
		work += (unsigned)ret;
	else if (ret == -ETIMEDOUT)
		w->backend_stuck = true;
	publish(w);
	return work;
}

/* Wait for every request at the backend to finish. */
static int drain(struct worker *w)
{
	uint64_t start = hy_now_ns();

	while (w->sq->stats.inflight && !w->backend_stuck) {
		int ret = w->be.ops->reap(&w->be, io_done, w);

		if (ret > 0)
			continue;
		if (ret == -ETIMEDOUT) {
			w->backend_stuck = true;
			break;
		}
		if (hy_now_ns() - start > DRAIN_TIMEOUT_NS) {
			hy_log(ERR, 0, "queue %u: %llu requests still at the backend after 30 s",
			       w->a->qidx, (unsigned long long)w->sq->stats.inflight);
			publish(w);
			return -ETIMEDOUT;
		}
		usleep(50);
	}
	publish(w);
	return 0;
}

static void epoll_set(struct worker *w, int op, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	if (fd >= 0 && epoll_ctl(w->epfd, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		hy_log(WARN, errno, "epoll_ctl(fd %d) failed", fd);
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (fd >= 0 && read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was pending. */
	}
}

static void vring_stop(struct worker *w)
{
	if (!w->running)
		return;
	drain(w);
	epoll_set(w, EPOLL_CTL_DEL, w->vr.kick_fd, TAG_KICK);
	if (w->vr.kick_fd >= 0)
		close(w->vr.kick_fd);
	if (w->vr.call_fd >= 0)
		close(w->vr.call_fd);
	w->vr.kick_fd = w->vr.call_fd = -1;
	w->vr.inflight = NULL;
	if (w->inflight_map)
		munmap(w->inflight_map, w->inflight_len);
	w->inflight_map = NULL;
	w->running = false;
	set_state(w, HY_Q_IDLE);
}

static int alloc_reqs(struct worker *w, uint32_t num)
{
	if (num > w->nreqs) {
		struct hy_req *reqs = calloc(num, sizeof(*reqs));
		uint16_t *slots = calloc(num, sizeof(*slots));

		if (!reqs || !slots) {
			free(reqs);
			free(slots);
			return -ENOMEM;
		}
		free(w->reqs);
		free(w->free_slots);
		w->reqs = reqs;
		w->free_slots = slots;
		w->nreqs = num;
	}
	/* Only num slots are handed out: at most num chains can be in flight on a ring of num. */
	w->nfree = 0;
	for (uint32_t i = num; i-- > 0;) {
		w->reqs[i].slot = (uint16_t)i;
		w->free_slots[w->nfree++] = (uint16_t)i;
	}
	return 0;
}

/* Map the in-flight region and take over what a dead predecessor left in it. */
static int inflight_start(struct worker *w, const struct hy_chan_vring *cfg, int fd)
{
	size_t need = cfg->inflight_offset + sizeof(struct hy_inflight_queue) +
		      sizeof(struct hy_inflight_desc) * (size_t)cfg->num;
	uint16_t *heads;
	int n;

	if (cfg->inflight_capacity < cfg->num || need > cfg->inflight_map_size ||
	    cfg->inflight_offset % 8) {
		hy_log(ERR, 0,
		       "queue %u: in-flight region of %llu bytes has no room for a ring of %u at %llu",
		       w->a->qidx, (unsigned long long)cfg->inflight_map_size, cfg->num,
		       (unsigned long long)cfg->inflight_offset);
		return -EINVAL;
	}
	w->inflight_map =
		mmap(NULL, cfg->inflight_map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w->inflight_map == MAP_FAILED) {
		int ret = -errno;

		w->inflight_map = NULL;
		hy_log(ERR, ret, "queue %u: mmap() of the %llu-byte in-flight region failed",
		       w->a->qidx, (unsigned long long)cfg->inflight_map_size);
		return ret;
	}
	w->inflight_len = cfg->inflight_map_size;
	n = hy_vring_inflight_attach(
		&w->vr,
		(struct hy_inflight_queue *)((uint8_t *)w->inflight_map + cfg->inflight_offset),
		cfg->inflight_capacity, &heads);
	if (n < 0)
		return n;
	/* Run again, in their original order, the requests the previous worker had in flight. */
	for (int i = 0; i < n; i++) {
		struct hy_req *r = &w->reqs[w->free_slots[--w->nfree]];

		if (hy_vring_walk(&w->vr, heads[i], &r->chain) < 0) {
			hand_back_bad(w, heads[i]);
			w->free_slots[w->nfree++] = r->slot;
			continue;
		}
		if (hy_blk_start(&w->blk, r))
			complete(w, r);
	}
	free(heads);
	w->resubmitted = (unsigned)n;
	if (n) {
		hy_log(INFO, 0, "queue %u: resubmitting %d requests that were in flight",
		       w->a->qidx, n);
		w->be.ops->flush(&w->be);
	}
	return 0;
}

static int vring_start(struct worker *w, const struct hy_chan_vring *cfg, int kick, int call,
		       int inflight_fd)
{
	int ret;

	vring_stop(w);
	if (cfg->num > w->a->dev->queue_size) {
		hy_log(ERR, 0, "queue %u: vring size %u exceeds queue_size %u of the topology",
		       w->a->qidx, cfg->num, w->a->dev->queue_size);
		return -EINVAL;
	}
	ret = alloc_reqs(w, cfg->num);
	if (ret < 0)
		return ret;
	memset(&w->vr, 0, sizeof(w->vr));
	ret = hy_vring_init(&w->vr, &w->mem, cfg, kick, call);
	if (ret < 0) {
		hy_log(ERR, ret, "queue %u: the vring addresses are not usable", w->a->qidx);
		w->vr.kick_fd = w->vr.call_fd = -1;
		return ret;
	}
	w->cfg = *cfg;
	w->running = true;
	w->recover_from_ns = cfg->prev_death_ns;
	w->resubmitted = 0;
	epoll_set(w, EPOLL_CTL_ADD, kick, TAG_KICK);
	if (inflight_fd >= 0) {
		ret = inflight_start(w, cfg, inflight_fd);
		if (ret < 0) {
			vring_stop(w);
			return ret;
		}
	}
	hy_vring_kicks_disable(&w->vr);
	/*
	 * Recovery is timed only when work was waiting for this worker (resubmitted or already in
	 * the avail ring): otherwise "first completion" would measure the guest's idle time.
	 */
	if (w->recover_from_ns && !w->resubmitted && !hy_vring_avail_pending(&w->vr)) {
		hy_log(DEBUG, 0, "queue %u restarted with nothing waiting", w->a->qidx);
		w->recover_from_ns = 0;
	}
	publish(w);
	w->sq->vring_num = cfg->num;
	hy_store_relaxed(&w->sq->last_avail, w->vr.last_avail);
	hy_store_relaxed(&w->sq->used_idx, w->vr.used_idx);
	set_state(w, HY_Q_POLLING);
	hy_log(DEBUG, 0, "queue %u: vring of %u started at avail %u used %u", w->a->qidx, cfg->num,
	       w->vr.last_avail, w->vr.used_idx);
	return 0;
}

/* After the memory table changed under a running ring, find the ring again. */
static int vring_remap(struct worker *w)
{
	struct hy_chan_vring cfg = w->cfg;
	int kick = w->vr.kick_fd, call = w->vr.call_fd;
	int ret;

	struct hy_inflight_queue *inflight = w->vr.inflight;
	uint64_t counter = w->vr.inflight_counter;

	if (!w->running)
		return 0;
	cfg.last_avail = w->vr.last_avail;
	ret = hy_vring_init(&w->vr, &w->mem, &cfg, kick, call);
	/* The in-flight region is not guest memory: it carries over as it is. */
	w->vr.inflight = inflight;
	w->vr.inflight_counter = counter;
	if (ret < 0) {
		/*
		 * Nothing is in flight (the caller drained) and the ring's memory is gone: let go
		 * of the ring without touching it again.
		 */
		hy_log(ERR, ret, "queue %u: the vring is outside the new memory table", w->a->qidx);
		epoll_set(w, EPOLL_CTL_DEL, kick, TAG_KICK);
		if (kick >= 0)
			close(kick);
		if (call >= 0)
			close(call);
		w->vr.kick_fd = w->vr.call_fd = -1;
		w->running = false;
		ring_broken(w);
	}
	return ret;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Return 1 when the worker must exit. */
static int handle_cmd(struct worker *w, struct hy_cmd *c, int *fds, unsigned nfds)
{
	int ret = 0;
	uint64_t value = 0;

	switch (c->type) {
	case HY_CMD_MEM_SET:
		if (c->nregions > HY_CHAN_MAX_REGIONS || nfds != c->nregions) {
			ret = -EINVAL;
			break;
		}
		drain(w);
		hy_mem_clear(&w->mem);
		/* nvme: the master mapped this table for the device at arg + gpa. */
		w->mem.iova_base = c->arg;
		for (unsigned i = 0; i < c->nregions && !ret; i++)
			ret = hy_mem_add(&w->mem, &c->regions[i], fds[i]);
		if (!ret)
			ret = vring_remap(w);
		break;
	case HY_CMD_MEM_ADD:
		ret = nfds == 1 ? hy_mem_add(&w->mem, &c->regions[0], fds[0]) : -EINVAL;
		break;
	case HY_CMD_MEM_DEL:
		drain(w);
		ret = hy_mem_remove(&w->mem, &c->regions[0]);
		if (!ret)
			ret = vring_remap(w);
		break;
	case HY_CMD_VRING_START: {
		/* Kick eventfd, call eventfd when arg bit 0 says so, in-flight region when sized.
		 */
		unsigned want = 1 + (c->arg & 1) + (c->vring.inflight_map_size ? 1 : 0);
		int inflight_fd = c->vring.inflight_map_size ? fds[want - 1] : -1;

		if (nfds != want) {
			ret = -EINVAL;
			break;
		}
		ret = vring_start(w, &c->vring, fds[0], (c->arg & 1) ? fds[1] : -1, inflight_fd);
		if (inflight_fd >= 0)
			close(inflight_fd); /* mapped, or not wanted */
		if (!ret) {
			/* The vring owns the kick and call fds now. */
			reply(w, c->seq, 0, 0);
			return 0;
		}
		if (inflight_fd >= 0)
			fds[want - 1] = -1;
		break;
	}
	case HY_CMD_VRING_CALL:
		if (w->vr.call_fd >= 0)
			close(w->vr.call_fd);
		w->vr.call_fd = nfds ? fds[0] : -1;
		reply(w, c->seq, 0, 0);
		return 0;
	case HY_CMD_VRING_STOP:
		value = w->running ? w->vr.last_avail : c->vring.last_avail;
		vring_stop(w);
		break;
	case HY_CMD_PIN:
		/* arg: cpu in the low 32 bits, NUMA node in the high 32. */
		ret = hy_worker_pin((int)(uint32_t)c->arg, (int)(uint32_t)(c->arg >> 32));
		if (!ret) {
			hy_store_relaxed(&w->sq->cpu, (int32_t)(uint32_t)c->arg);
			hy_store_relaxed(&w->sq->numa, (int32_t)(uint32_t)(c->arg >> 32));
			hy_log(INFO, 0, "queue %u: now on cpu %u", w->a->qidx, (uint32_t)c->arg);
		}
		break;
	case HY_CMD_LOG_LEVEL:
		hy_log_set_level((enum hy_log_level)c->arg);
		break;
	case HY_CMD_EXIT:
		vring_stop(w);
		reply(w, c->seq, 0, 0);
		return 1;
	default:
		ret = -EINVAL;
		break;
	}
	close_fds(fds, nfds);
	reply(w, c->seq, ret, value);
	return 0;
}

/* Handle every command waiting on the channel. Return 1 to exit, -1 when the master is gone. */
static int handle_cmds(struct worker *w)
{
	static struct hy_cmd c; /* 2 KiB: not on the stack of the hot loop */
	int fds[HY_CHAN_MAX_FDS];
	unsigned nfds;

	for (;;) {
		int ret = hy_chan_recv(w->a->chan, &c, sizeof(c), fds, &nfds, 0);

		if (ret == -EAGAIN)
			return 0;
		if (ret == -ECONNRESET)
			return -1;
		if (ret < 0) {
			hy_log(WARN, ret, "bad message from the master");
			continue;
		}
		if (handle_cmd(w, &c, fds, nfds))
			return 1;
	}
}

static void sleep_once(struct worker *w)
{
	struct epoll_event evs[4];
	int n;

	if (w->running) {
		/* Kicks back on; if the guest slipped a request in meanwhile, poll instead. */
		if (hy_vring_kicks_enable(&w->vr))
			return;
		set_state(w, HY_Q_SLEEPING);
	}
	n = epoll_wait(w->epfd, evs, 4, -1);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == TAG_KICK)
			drain_eventfd(w->vr.kick_fd);
		else if (evs[i].data.u32 == TAG_BACKEND)
			drain_eventfd(w->be_efd);
	}
	if (w->running) {
		w->sq->stats.wakeups++;
		hy_vring_kicks_disable(&w->vr);
		set_state(w, w->vr.broken ? HY_Q_BROKEN : HY_Q_POLLING);
	}
}

static int setup(struct worker *w)
{
	int ret;

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	epoll_set(w, EPOLL_CTL_ADD, w->a->chan, TAG_CHAN);
	hy_backend_bind(&w->be, w->a->dev, w->a->info, w->a->dev->queue_size, w->a->qidx, &w->mem);
	ret = w->be.ops->open(&w->be);
	if (ret < 0)
		return ret;
	w->be_efd = w->be.ops->event_fd(&w->be);
	epoll_set(w, EPOLL_CTL_ADD, w->be_efd, TAG_BACKEND);
	w->blk.dev = w->a->dev;
	w->blk.info = w->a->info;
	w->blk.shm = w->a->shm;
	w->blk.stats = &w->sq->stats;
	w->blk.be = &w->be;
	hy_mem_init(&w->mem);
	w->vr.kick_fd = w->vr.call_fd = -1;
	return 0;
}

int hy_worker_run(const struct hy_worker_args *a)
{
	static struct worker w;
	uint64_t idle_ns = (uint64_t)a->dev->idle_us * 1000, idle_since = 0;
	unsigned empty = 0;
	struct sigaction sa = {.sa_handler = on_term};
	int ret;

	w.a = a;
	w.sq = &a->shm->q[a->qidx];
	sigaction(SIGTERM, &sa, NULL);
	/* Ctrl-C reaches the whole process group; the master decides when workers stop. */
	signal(SIGINT, SIG_IGN);

	ret = hy_worker_pin(a->cpu, a->numa);
	if (ret < 0)
		return 1;
	/* Requests the previous worker had at its backend died with it (they come back through the
	 * in-flight region); the counters of work done carry on. */
	w.sq->stats.inflight = 0;
	hy_store_relaxed(&w.sq->cpu, a->cpu);
	hy_store_relaxed(&w.sq->numa, a->numa);
	ret = setup(&w);
	if (ret < 0) {
		hy_log(ERR, ret, "queue %u: backend %s on %s failed to open", a->qidx,
		       hy_backend_name(a->dev->type),
		       a->dev->type == HY_BE_URING ? a->dev->path : "-");
		return 1;
	}
	/* Pairs with the master's hy_store_release of cmd_seq after each send. */
	w.cmd_seen = hy_load_acquire(&w.sq->cmd_seq);
	set_state(&w, HY_Q_IDLE);
	hy_log(DEBUG, 0, "queue %u up on cpu %d", a->qidx, a->cpu);
	if (handle_cmds(&w))
		goto out;

	while (!stop_requested && !w.backend_stuck) {
		uint32_t seq = hy_load_acquire(&w.sq->cmd_seq);

		if (seq != w.cmd_seen) {
			w.cmd_seen = seq;
			ret = handle_cmds(&w);
			if (ret)
				break;
		}
		if (!w.running || w.vr.broken) {
			sleep_once(&w);
			/* The channel may have data the seq has not announced yet: look anyway. */
			if (handle_cmds(&w))
				break;
			continue;
		}
		if (poll_once(&w)) {
			idle_since = 0;
			empty = 0;
			continue;
		}
		/*
		 * Nothing to do but wait for the backend. A backend with a completion fd (uring)
		 * has its requests done by kernel threads (io_uring's io-wq workers, which carry
		 * our cpu affinity), and those need this very cpu: spinning would keep them off it
		 * until the scheduler's tick preempts us. Measured on tmpfs, 4k randread QD32: p99
		 * 2.2 ms spinning, 0.2 to 1.1 ms yielding, and half again as many IOPS.
		 */
		if (w.be_efd >= 0 && w.sq->stats.inflight)
			sched_yield();
		/*
		 * Reading the clock costs more than an empty pass (perf: 36% of a polling worker's
		 * time went to clock_gettime): look at it once every IDLE_CHECK empty passes.
		 */
		if (++empty % IDLE_CHECK)
			continue;
		if (!idle_since) {
			idle_since = hy_now_ns();
			continue;
		}
		if (hy_now_ns() - idle_since < idle_ns)
			continue;
		/* A backend without a completion fd (nvme) is polled while it has work. */
		if (w.be_efd < 0 && w.sq->stats.inflight)
			continue;
		sleep_once(&w);
		idle_since = 0;
	}
out:
	if (w.backend_stuck) {
		/*
		 * Requests stay in the in-flight region; the master deletes our queue pair (the
		 * controller aborts what it still holds) and our successor resubmits them.
		 */
		hy_log(ERR, 0, "queue %u: the backend stopped answering; exiting for a reset",
		       a->qidx);
		set_state(&w, HY_Q_DOWN);
		return 1;
	}
	vring_stop(&w);
	w.be.ops->close(&w.be);
	set_state(&w, HY_Q_DOWN);
	return 0;
}
