/* SPDX-License-Identifier: MIT */
/*
 * Device side of a split virtqueue (virtio 1.2, 2.7).
 *
 * The driver (the guest) owns the descriptor table and the avail ring; we own the used ring.
 * Everything read from the driver's structures is read exactly once into a local copy and then
 * validated, so a guest rewriting a descriptor while we walk it cannot make us act on a value we
 * did not check. Single-field accesses to shared memory are hy_load_relaxed()/hy_store_relaxed()
 * (single-copy atomic, no ordering); the ordering that matters is spelled out at each barrier.
 *
 * Indirect tables (2.7.5.3) are read in place when they sit in one region at an 8-byte aligned
 * host address. Otherwise each entry is copied, when the walk reaches it, into a descriptor on
 * the stack (copy_from_guest()): that is the "scratch buffer" of vring.h, 16 bytes per step rather
 * than a per-vring copy of up to 512 KiB of table, and it keeps struct hy_vring unchanged.
 */
#define HY_LOG_COMPONENT "vring"

#include "worker/vring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/barrier.h"
#include "shm/log.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* virtio 1.2, 2.7: alignment of the three parts of a split virtqueue. */
#define DESC_ALIGN  16
#define AVAIL_ALIGN 2
#define USED_ALIGN  4

/* virtio 1.2, 2.7.5.3: an indirect table is an array of 16-byte descriptors. */
#define DESC_SIZE sizeof(struct hy_vring_desc)
_Static_assert(sizeof(struct hy_vring_desc) == 16, "virtio 1.2, 2.7.5: descriptors are 16 bytes");
_Static_assert(sizeof(struct hy_vring_used_elem) == 8,
	       "virtio 1.2, 2.7.8: used elements are 8 bytes");

/* virtio 1.2, 2.7.6: used_event follows avail->ring[num]. */
static inline uint16_t *used_event_ptr(const struct hy_vring *vr)
{
	return &vr->avail->ring[vr->num];
}

/* virtio 1.2, 2.7.8: avail_event follows used->ring[num]. */
static inline uint16_t *avail_event_ptr(const struct hy_vring *vr)
{
	return (uint16_t *)(void *)&vr->used->ring[vr->num];
}

/*
 * virtio 1.2, 2.7.10 (Linux's vring_need_event()): true when the index moving from @old to @new
 * passed @event, i.e. @event lies in [old, new) modulo 2^16.
 */
static inline bool need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/*
 * Where the walk stands: the table it reads (the ring's own descriptor table or an indirect one),
 * and the index of the descriptor in hand.
 */
struct walk {
	/* Read in place; NULL when the entries are copied one by one from table_gpa. */
	const struct hy_vring_desc *table;
	uint64_t table_gpa;
	uint32_t max; /* entries in the current table */
	uint32_t idx; /* current descriptor, < max */
	uint16_t head;
	bool indirect;
};

/* Every rejected chain says which descriptor of which chain was wrong and how. */
#define chain_warn(w, fmt, ...)                                                                    \
	hy_log_rl(WARN, 0, "%sdescriptor %u of chain %u: " fmt, (w)->indirect ? "indirect " : "",  \
		  (w)->idx, (w)->head, ##__VA_ARGS__)

/* Copy @len bytes of guest memory that may span several regions. */
static int copy_from_guest(struct hy_mem *mem, void *dst, uint64_t gpa, uint64_t len)
{
	uint8_t *out = dst;
	uint64_t got;

	while (len) {
		const void *p = hy_mem_gpa_partial(mem, gpa, len, &got);

		if (!p || !got)
			return -EFAULT;
		memcpy(out, p, got);
		out += got;
		gpa += got;
		len -= got;
	}
	return 0;
}

/* Whether all of [gpa, gpa + len) is guest memory, in however many regions. */
static bool guest_range_ok(struct hy_mem *mem, uint64_t gpa, uint64_t len)
{
	uint64_t got;

	while (len) {
		if (!hy_mem_gpa_partial(mem, gpa, len, &got) || !got)
			return false;
		gpa += got;
		len -= got;
	}
	return true;
}

/* Read descriptor w->idx of the current table, once, into @d. */
static inline int read_desc(struct hy_mem *mem, const struct walk *w, struct hy_vring_desc *d)
{
	if (likely(w->table)) {
		const struct hy_vring_desc *s = &w->table[w->idx];

		d->addr = hy_load_relaxed(&s->addr);
		d->len = hy_load_relaxed(&s->len);
		d->flags = hy_load_relaxed(&s->flags);
		d->next = hy_load_relaxed(&s->next);
		return 0;
	}
	/* w->max <= HY_VRING_MAX_NUM and the table was checked to be in guest memory. A copy of
	 * its own, so that @d never has its address taken and stays in registers. */
	struct hy_vring_desc tmp;
	int ret =
		copy_from_guest(mem, &tmp, w->table_gpa + (uint64_t)w->idx * DESC_SIZE, DESC_SIZE);

	*d = tmp;
	return ret;
}

/* Switch the walk to the indirect table @d describes (virtio 1.2, 2.7.5.3). */
static int enter_indirect(struct hy_vring *vr, struct walk *w, const struct hy_vring_desc *d)
{
	uint64_t got;
	void *p;

	/* 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag unless the
	 * VIRTIO_F_INDIRECT_DESC feature was negotiated." */
	if (!vr->indirect) {
		chain_warn(w, "INDIRECT flag but VIRTIO_RING_F_INDIRECT_DESC was not negotiated");
		return -EINVAL;
	}
	/* 2.7.5.3.1: "The driver MUST NOT set the VIRTQ_DESC_F_INDIRECT flag within an indirect
	 * descriptor (ie. only one table per descriptor)." */
	if (w->indirect) {
		chain_warn(w, "INDIRECT flag inside an indirect table");
		return -EINVAL;
	}
	/* 2.7.5.3.1: "A driver MUST NOT set both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT". */
	if (d->flags & HY_VRING_DESC_F_NEXT) {
		chain_warn(w, "INDIRECT together with NEXT");
		return -EINVAL;
	}
	if (d->len == 0 || d->len % DESC_SIZE) {
		chain_warn(w, "indirect table length %u is not a non-zero multiple of %zu", d->len,
			   DESC_SIZE);
		return -EINVAL;
	}
	/* The spec bounds a chain by the Queue Size, at most 32768 (2.7, 2.7.5.3.1). */
	if (d->len / DESC_SIZE > HY_VRING_MAX_NUM) {
		chain_warn(w, "indirect table of %u entries is longer than %u", d->len / 16,
			   HY_VRING_MAX_NUM);
		return -EINVAL;
	}
	p = hy_mem_gpa_partial(vr->mem, d->addr, d->len, &got);
	if (!p || (got < d->len && !guest_range_ok(vr->mem, d->addr + got, d->len - got))) {
		chain_warn(w, "indirect table at 0x%llx + %u is outside guest memory",
			   (unsigned long long)d->addr, d->len);
		return -EINVAL;
	}
	/* 2.7.5.3.2: the WRITE flag of the descriptor that refers to the table is ignored. */
	w->table = got == d->len && !((uintptr_t)p % _Alignof(struct hy_vring_desc)) ? p : NULL;
	w->table_gpa = d->addr;
	w->max = d->len / DESC_SIZE;
	w->idx = 0;
	w->indirect = true;
	return 0;
}

/* Append [addr, addr + len) to the chain's iovecs, one per region it touches. */
static int map_buffer(struct hy_mem *mem, struct hy_chain *c, unsigned *niov, uint64_t addr,
		      uint64_t len)
{
	uint64_t got;

	do {
		void *p = hy_mem_gpa_partial(mem, addr, len, &got);

		/* !got cannot happen with a sane table; it would make this loop spin. */
		if (unlikely(!p || !got))
			return -EFAULT;
		if (unlikely(*niov == HY_CHAIN_MAX_IOV))
			return -E2BIG;
		c->iov[*niov].iov_base = p;
		c->iov[*niov].iov_len = got;
		(*niov)++;
		addr += got;
		len -= got;
	} while (len);
	return 0;
}

/* What is wrong with a chain: walk_chain() stops at the first fault and chain_fault() says it. */
enum walk_fault {
	WF_LOOP = 1, /* more steps than the table has descriptors */
	WF_READ,     /* a descriptor that cannot be read from guest memory */
	WF_ORDER,    /* device-readable after device-writable */
	WF_4G,	     /* more than 4 GiB in all */
	WF_WRAP,     /* addr + len past 2^64 */
	WF_IOV,	     /* more than HY_CHAIN_MAX_IOV iovecs */
	WF_MEM,	     /* a buffer outside guest memory */
	WF_NEXT,     /* next outside the table */
};

/* An empty chain: what a rejected walk leaves, so a caller that ignores the error does not find
 * half a chain. */
static void chain_clear(struct hy_chain *c)
{
	c->n_out = 0;
	c->n_in = 0;
	c->out_len = 0;
	c->in_len = 0;
}

/*
 * The walk's cold path: log the fault (rate-limited) and leave @c empty (chain_clear()). Kept
 * out of line so that the walk's loop carries none of the logging's arguments.
 */
static __attribute__((noinline, cold)) int
chain_fault(struct hy_chain *c, struct walk wv, struct hy_vring_desc dv, enum walk_fault f, int ret)
{
	/* Passed by value, so that the walk's own w and d stay in registers. */
	const struct walk *w = &wv;
	const struct hy_vring_desc *d = &dv;

	switch (f) {
	case WF_LOOP:
		chain_warn(w, "chain longer than the %u descriptors of its table (loop?)", w->max);
		ret = -EINVAL;
		break;
	case WF_READ:
		chain_warn(w, "cannot read the descriptor from guest memory");
		break;
	case WF_ORDER:
		chain_warn(w, "device-readable descriptor after a device-writable one");
		ret = -EINVAL;
		break;
	case WF_4G:
		chain_warn(w, "chain holds more than 4 GiB");
		ret = -EINVAL;
		break;
	case WF_WRAP:
		chain_warn(w, "address 0x%llx + %u wraps past 2^64", (unsigned long long)d->addr,
			   d->len);
		ret = -EINVAL;
		break;
	case WF_IOV:
		chain_warn(w, "chain needs more than %u iovecs", HY_CHAIN_MAX_IOV);
		ret = -E2BIG;
		break;
	case WF_MEM:
		chain_warn(w, "address 0x%llx + %u is outside guest memory",
			   (unsigned long long)d->addr, d->len);
		ret = -EINVAL;
		break;
	case WF_NEXT:
		chain_warn(w, "next descriptor %u is outside the table of %u", d->next, w->max);
		ret = -EINVAL;
		break;
	}
	chain_clear(c);
	return ret;
}

/*
 * Flatten the chain starting at @head into @c (virtio 1.2, 2.7.5).
 *
 * The hot path of every request: each check is a compare and a rarely taken branch, a buffer
 * inside the region of the previous lookup is translated inline, and what to say about a fault
 * is left to chain_fault().
 */
static int walk_chain(struct hy_vring *vr, struct hy_chain *c, uint16_t head)
{
	struct walk w = {.table = vr->desc, .max = vr->num, .idx = head, .head = head};
	struct hy_mem *mem = vr->mem;
	struct hy_vring_desc d = {0};
	unsigned niov = 0, nout = 0;
	uint64_t total = 0, out_len = 0;
	uint32_t count = 0;
	bool writable = false;
	enum walk_fault f;
	int ret = 0;

	for (;;) {
		/* 2.7.5.2: chains are no longer than the Queue Size (2.7.5.3.1) and loops are
		 * forbidden; counting steps catches both without remembering visited indices. */
		if (unlikely(++count > w.max)) {
			f = WF_LOOP;
			goto fault;
		}
		ret = read_desc(mem, &w, &d);
		if (unlikely(ret)) {
			f = WF_READ;
			goto fault;
		}

		if (d.flags & HY_VRING_DESC_F_INDIRECT) {
			ret = enter_indirect(vr, &w, &d);
			if (unlikely(ret)) {
				chain_clear(c);
				return ret;
			}
			count = 0;
			continue;
		}

		/* 2.7.4.2: "The driver MUST place any device-writable descriptor elements after
		 * any device-readable descriptor elements." */
		if (d.flags & HY_VRING_DESC_F_WRITE) {
			writable = true;
		} else if (unlikely(writable)) {
			f = WF_ORDER;
			goto fault;
		}

		if (likely(d.len)) {
			uint64_t got;
			void *p;

			/* 2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes
			 * in total"; used->ring[].len is 32 bits as well. */
			total += d.len;
			if (unlikely(total > UINT32_MAX)) {
				f = WF_4G;
				goto fault;
			}
			if (unlikely(d.len > UINT64_MAX - d.addr)) {
				f = WF_WRAP;
				goto fault;
			}
			p = hy_mem_gpa_partial(mem, d.addr, d.len, &got);
			if (likely(p && got == d.len && niov < HY_CHAIN_MAX_IOV)) {
				c->iov[niov].iov_base = p;
				c->iov[niov].iov_len = d.len;
				niov++;
			} else {
				/* Across regions, outside memory or out of iovecs. */
				ret = map_buffer(mem, c, &niov, d.addr, d.len);
				if (unlikely(ret)) {
					f = ret == -E2BIG ? WF_IOV : WF_MEM;
					goto fault;
				}
			}
			if (!writable) {
				out_len += d.len;
				nout = niov;
			}
		}

		if (!(d.flags & HY_VRING_DESC_F_NEXT))
			break;
		if (unlikely(d.next >= w.max)) {
			f = WF_NEXT;
			goto fault;
		}
		w.idx = d.next;
	}

	c->n_out = (uint16_t)nout;
	c->n_in = (uint16_t)(niov - nout);
	c->out_len = (uint32_t)out_len;
	c->in_len = (uint32_t)(total - out_len);
	return 1;

fault:
	return chain_fault(c, w, d, f, ret);
}

/*
 * The used ring's flags and avail_event when kicks are wanted or not (virtio 1.2, 2.7.10).
 *
 * Without EVENT_IDX the driver skips the kick when used->flags has VRING_USED_F_NO_NOTIFY.
 *
 * With EVENT_IDX the driver kicks after publishing [old, new) only if avail_event is in that
 * interval. Wanting kicks, avail_event = last_avail: the first entry we have not seen.
 *
 * Not wanting them, avail_event = last_avail - 1, written by kicks_disable() and again by
 * hy_vring_flush() just before each used->idx it publishes. Why the driver then never kicks
 * (once it sees that value: a kick it already decided on still comes): say it read
 * avail_event = L - 1 after reading used->idx = U. Its virtio_rmb() after reading used->idx
 * orders the two reads and our release store of used->idx orders the two writes, so it sees the
 * value we wrote just before publishing U, or a later one; either was written when
 * last_avail = L >= U (we never use more chains than we popped). It owns num descriptors and
 * has back only those used before U, so its batch [old, new) ends at new <= U + num <= L + num;
 * we popped only what it had published, so old >= L. [old, new) therefore lies in
 * [L, L + num), at most 32768 indices, and L - 1 is the index the driver would reach last,
 * 65535 entries past L. Any value outside the window works (last_avail + 0x8000 does too, as
 * num <= 0x8000); this one leaves the widest margin.
 */
static void kicks_write(struct hy_vring *vr, bool want)
{
	uint16_t flags;

	if (vr->event_idx) {
		hy_store_relaxed(avail_event_ptr(vr), (uint16_t)(vr->last_avail - (want ? 0 : 1)));
		return;
	}
	flags = hy_load_relaxed(&vr->used->flags);
	if (want)
		flags &= (uint16_t)~HY_VRING_USED_F_NO_NOTIFY;
	else
		flags |= HY_VRING_USED_F_NO_NOTIFY;
	hy_store_relaxed(&vr->used->flags, flags);
}

/**
 * hy_vring_init() - attach to a ring described by the frontend.
 * @vr: zeroed or previously used vring; overwritten
 * @mem: guest memory; must stay valid while the vring is used
 * @cfg: num, ring addresses (frontend virtual), last_avail and negotiated features
 * @kick_fd: eventfd the guest kicks, or -1
 * @call_fd: eventfd to signal the guest, or -1
 *
 * Validates num (a power of two, 1..32768) and the three areas (wholly inside one region each,
 * aligned as virtio 1.2, 2.7 requires, in frontend and in our address space). The used ring's
 * idx is read back as the starting used_idx; kicks start enabled and the used ring says so.
 * Called from the worker's control path (VRING_START). Does not close fds.
 * Return: 0 or -EINVAL.
 */
int hy_vring_init(struct hy_vring *vr, struct hy_mem *mem, const struct hy_chan_vring *cfg,
		  int kick_fd, int call_fd)
{
	uint32_t num = cfg->num;
	void *desc, *avail, *used;

	/* 2.7: "Queue Size value is always a power of 2. The maximum Queue Size value is 32768." */
	if (num == 0 || num > HY_VRING_MAX_NUM || (num & (num - 1))) {
		hy_log(WARN, 0, "queue size %u is not a power of two in 1..%u", num,
		       HY_VRING_MAX_NUM);
		return -EINVAL;
	}
	if (cfg->desc_uva % DESC_ALIGN || cfg->avail_uva % AVAIL_ALIGN ||
	    cfg->used_uva % USED_ALIGN) {
		hy_log(WARN, 0,
		       "ring addresses desc 0x%llx avail 0x%llx used 0x%llx are misaligned",
		       (unsigned long long)cfg->desc_uva, (unsigned long long)cfg->avail_uva,
		       (unsigned long long)cfg->used_uva);
		return -EINVAL;
	}
	/* 2.7: sizes 16 * num, 6 + 2 * num and 6 + 8 * num, event fields included. */
	desc = hy_mem_uva(mem, cfg->desc_uva, DESC_SIZE * num);
	avail = hy_mem_uva(mem, cfg->avail_uva, 6 + 2 * (uint64_t)num);
	used = hy_mem_uva(mem, cfg->used_uva, 6 + 8 * (uint64_t)num);
	if (!desc || !avail || !used) {
		const char *what = !desc ? "descriptor table" : !avail ? "avail ring" : "used ring";
		uint64_t where = !desc ? cfg->desc_uva : !avail ? cfg->avail_uva : cfg->used_uva;

		hy_log(WARN, 0, "ring of %u: %s at 0x%llx is not inside one guest memory region",
		       num, what, (unsigned long long)where);
		return -EINVAL;
	}
	/* The frontend chooses mmap_offset; our view must be aligned for single-copy atomicity. */
	if ((uintptr_t)desc % DESC_ALIGN || (uintptr_t)avail % AVAIL_ALIGN ||
	    (uintptr_t)used % USED_ALIGN) {
		hy_log(WARN, 0, "ring of %u: region mmap_offset misaligns the rings in our mapping",
		       num);
		return -EINVAL;
	}

	memset(vr, 0, sizeof(*vr));
	vr->mem = mem;
	vr->num = num;
	vr->event_idx = !!(cfg->features & (1ull << HY_VIRTIO_RING_F_EVENT_IDX));
	vr->indirect = !!(cfg->features & (1ull << HY_VIRTIO_RING_F_INDIRECT_DESC));
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	vr->last_avail = cfg->last_avail;
	/* The used ring is ours: after a restart it holds what the previous worker published. */
	vr->used_idx = hy_load_relaxed(&vr->used->idx);
	vr->signalled_used = vr->used_idx;
	vr->signalled_valid = false;
	vr->kick_fd = kick_fd;
	vr->call_fd = call_fd;
	/* A previous worker may have left kicks off; make the ring match kicks_enabled. With
	 * EVENT_IDX, 2.7.10: "The device MUST set flags to 0". */
	vr->kicks_enabled = true;
	hy_store_relaxed(&vr->used->flags, 0);
	kicks_write(vr, true);
	hy_log(DEBUG, 0, "ring of %u: last_avail %u used_idx %u%s%s", num, vr->last_avail,
	       vr->used_idx, vr->event_idx ? " event_idx" : "", vr->indirect ? " indirect" : "");
	return 0;
}

/**
 * hy_vring_pop() - take the next available descriptor chain.
 * @vr: the ring
 * @chain: filled with the head and the chain's iovecs
 *
 * Hot path: no allocation, no syscall; malformed input is logged rate-limited. Called only by
 * the worker that owns @vr.
 * Return: 1 when @chain holds a request; 0 when the ring is empty; -EINVAL or -E2BIG when the
 * chain is malformed (@chain->head is set, the slot is consumed, hand it back with
 * hy_vring_push(vr, head, 0)); -EIO when the ring is broken.
 */
/*
 * Read avail->idx and note how many entries past last_avail it publishes. Return that count, or
 * -EIO when it is more than the ring holds (the ring is then broken).
 *
 * Called only when every entry seen so far has been taken: re-reading avail->idx on every pop
 * would miss the cache each time the driver has added a request since (it writes that line on
 * another core), and the entries already known need no second look.
 */
static int avail_refresh(struct hy_vring *vr)
{
	/* Pairs with the driver's virtio_wmb() before it publishes avail->idx in
	 * virtqueue_add_split(): ring entries and descriptors of the chains up to the index read
	 * here are read after this load. */
	uint16_t avail_idx = hy_load_acquire(&vr->avail->idx);
	uint16_t pending = (uint16_t)(avail_idx - vr->last_avail);

	/* At most num chains can be outstanding (2.7.6: the ring has num entries). */
	if (unlikely(pending > vr->num)) {
		hy_log_rl(WARN, 0, "avail->idx %u is %u ahead of last_avail %u in a ring of %u",
			  avail_idx, pending, vr->last_avail, vr->num);
		vr->broken = true;
		return -EIO;
	}
	vr->avail_ahead = pending;
	return pending;
}

int hy_vring_pop(struct hy_vring *vr, struct hy_chain *chain)
{
	uint16_t head;
	int ret;

	if (unlikely(vr->broken))
		return -EIO;
	if (!vr->avail_ahead) {
		ret = avail_refresh(vr);
		if (ret <= 0)
			return ret;
	}
	head = hy_load_relaxed(&vr->avail->ring[vr->last_avail & (vr->num - 1)]);
	if (unlikely(head >= vr->num)) {
		hy_log_rl(WARN, 0, "avail->ring[%u] holds head %u in a ring of %u",
			  vr->last_avail & (vr->num - 1), head, vr->num);
		vr->broken = true;
		return -EIO;
	}
	/*
	 * vhost-user spec, in-flight tracking: record the order and mark the head before taking the
	 * next, so a worker killed at any instant leaves last_avail == used->idx + heads in flight.
	 * Only this process writes the region while it lives: program order is what a successor
	 * sees, so a compiler-level release is all the ordering needed.
	 */
	if (vr->inflight) {
		hy_store_relaxed(&vr->inflight->desc[head].counter, vr->inflight_counter++);
		hy_store_release(&vr->inflight->desc[head].inflight, (uint8_t)1);
	}
	vr->last_avail++;
	vr->avail_ahead--;
	/* Kicks wanted: avail_event follows what we consumed (see kicks_write()). */
	if (vr->event_idx && vr->kicks_enabled)
		hy_store_relaxed(avail_event_ptr(vr), vr->last_avail);

	chain->head = head;
	return walk_chain(vr, chain, head);
}

/**
 * hy_vring_avail_pending() - chains the guest has made available that we have not popped.
 * @vr: the ring
 * Return: the count; 0 when the ring is broken. A count above num means the next pop breaks it.
 */
uint16_t hy_vring_avail_pending(struct hy_vring *vr)
{
	if (vr->broken)
		return 0;
	/* Pairs with the driver's virtio_wmb() before publishing avail->idx, as in pop. */
	return (uint16_t)(hy_load_acquire(&vr->avail->idx) - vr->last_avail);
}

/**
 * hy_vring_push() - put one completed chain in the used ring; the guest sees it after
 * hy_vring_flush().
 * @vr: the ring
 * @head: the chain's head, as hy_vring_pop() returned it
 * @len: bytes written into the device-writable part
 */
void hy_vring_push(struct hy_vring *vr, uint16_t head, uint32_t len)
{
	struct hy_vring_used_elem *e = &vr->used->ring[vr->used_idx & (vr->num - 1)];

	/* In-flight tracking, steps 1-3 of "supplying used buffers": link head into the batch. */
	if (vr->inflight) {
		hy_store_relaxed(&vr->inflight->desc[head].next, vr->inflight->last_batch_head);
		hy_store_release(&vr->inflight->last_batch_head, head);
	}

	/* 2.7.8.2: len is set before used->idx moves; flush's release store orders both. */
	hy_store_relaxed(&e->id, (uint32_t)head);
	hy_store_relaxed(&e->len, len);
	vr->used_idx++;
}

static int signal_call(struct hy_vring *vr)
{
	const uint64_t one = 1;
	ssize_t n;

	if (vr->call_fd < 0)
		return 0;
	do {
		n = write(vr->call_fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	if (n == sizeof(one))
		return 1;
	/* EAGAIN: the counter is saturated, so the guest has a signal pending anyway. */
	if (n < 0 && errno == EAGAIN)
		return 1;
	hy_log_rl(ERR, n < 0 ? errno : EIO, "write() to call eventfd %d failed", vr->call_fd);
	return 0;
}

/**
 * hy_vring_flush() - publish used->idx and signal the call eventfd if the driver wants it.
 * @vr: the ring
 *
 * At most one eventfd write per call: the owning worker calls it once per batch.
 * With VIRTIO_RING_F_EVENT_IDX the driver is signalled when the entries published since the
 * previous flush include the one at used_event (2.7.7.2, 2.7.10), and always on the first flush
 * that publishes anything. Without it, unless avail->flags has VRING_AVAIL_F_NO_INTERRUPT.
 * Return: 1 if it signalled, 0 if not.
 */
/*
 * In-flight tracking, steps 5 and 6 of "supplying used buffers", once used->idx is published:
 * the batch's heads are no longer in flight, then used_idx records that the batch is done. A
 * worker killed between the two leaves used_idx behind used->idx, which tells its successor to
 * clear the batch list again (hy_vring_inflight_attach()).
 */
static void inflight_batch_done(struct hy_vring *vr, uint16_t new)
{
	struct hy_inflight_queue *inf = vr->inflight;
	uint16_t n = (uint16_t)(new - inf->used_idx), h = inf->last_batch_head;

	for (uint16_t k = 0; k < n && h < vr->num; k++) {
		hy_store_relaxed(&inf->desc[h].inflight, (uint8_t)0);
		h = inf->desc[h].next;
	}
	hy_store_release(&inf->used_idx, new);
}

int hy_vring_flush(struct hy_vring *vr)
{
	uint16_t new = vr->used_idx, old;
	bool notify;

	if (hy_load_relaxed(&vr->used->idx) == new) {
		/* Only a guest that wrote our used->idx gets here with a batch pending. */
		if (vr->inflight && vr->inflight->used_idx != new)
			inflight_batch_done(vr, new);
		return 0;
	}
	/* Kicks unwanted: keep avail_event behind every window the driver can reach with the
	 * used->idx published below (proof at kicks_write()). */
	if (vr->event_idx && !vr->kicks_enabled)
		kicks_write(vr, false);

	/* Pairs with the driver's virtio_rmb() after reading used->idx in
	 * virtqueue_get_buf_ctx_split(): the used elements (and avail_event) written before this
	 * store are visible to a driver that sees the new idx. */
	hy_store_release(&vr->used->idx, new);
	if (vr->inflight)
		inflight_batch_done(vr, new);
	/* Pairs with the driver's virtio_mb() between writing used_event (or clearing
	 * NO_INTERRUPT) and re-reading used->idx in virtqueue_enable_cb_delayed_split() /
	 * virtqueue_poll(): either it sees our used->idx, or we see its used_event/flags. */
	hy_smp_mb();

	if (vr->event_idx) {
		/* 2.7.7.2: notify if used->idx "was equal to used_event" while placing any of the
		 * entries [old, new); old is what the previous flush published. */
		old = vr->signalled_used;
		notify = !vr->signalled_valid ||
			 need_event(hy_load_relaxed(used_event_ptr(vr)), new, old);
		vr->signalled_used = new;
		vr->signalled_valid = true;
	} else {
		notify = !(hy_load_relaxed(&vr->avail->flags) & HY_VRING_AVAIL_F_NO_INTERRUPT);
	}
	return notify ? signal_call(vr) : 0;
}

/**
 * hy_vring_kicks_disable() - tell the driver not to kick while we poll.
 * @vr: the ring
 *
 * A hint: a kick already under way still arrives. With EVENT_IDX hy_vring_flush() keeps
 * avail_event out of the driver's reach while kicks stay disabled.
 */
int hy_vring_walk(struct hy_vring *vr, uint16_t head, struct hy_chain *chain)
{
	if (head >= vr->num)
		return -EINVAL;
	chain->head = head;
	return walk_chain(vr, chain, head);
}

struct resubmit_entry {
	uint64_t counter;
	uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
	const struct resubmit_entry *x = a, *y = b;

	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

int hy_vring_inflight_attach(struct hy_vring *vr, struct hy_inflight_queue *inf, uint32_t capacity,
			     uint16_t **resubmit)
{
	uint16_t used = hy_load_relaxed(&vr->used->idx), inuse = 0;
	struct resubmit_entry *list;
	uint16_t *heads;

	*resubmit = NULL;
	if (capacity < vr->num)
		return -EINVAL;
	if (inf->version != HY_INFLIGHT_VERSION || inf->desc_num != vr->num) {
		/* A region nobody used for this ring yet: nothing is in flight. */
		memset(inf->desc, 0, sizeof(inf->desc[0]) * vr->num);
		inf->features = 0;
		inf->desc_num = (uint16_t)vr->num;
		inf->last_batch_head = 0;
		inf->used_idx = used;
		hy_store_release(&inf->version, (uint16_t)HY_INFLIGHT_VERSION);
		vr->inflight = inf;
		vr->inflight_counter = 0;
		return 0;
	}
	/* "When reconnecting", step 1: the last batch was published but not recorded. */
	if (inf->used_idx != used) {
		uint16_t n = (uint16_t)(used - inf->used_idx), h = inf->last_batch_head;

		hy_log(DEBUG, 0, "in-flight region: last batch of %u was published, not recorded",
		       n);
		for (uint16_t k = 0; k < n && k < vr->num && h < vr->num; k++) {
			inf->desc[h].inflight = 0;
			h = inf->desc[h].next;
		}
		hy_store_release(&inf->used_idx, used);
	}
	for (uint32_t i = 0; i < vr->num; i++)
		inuse += inf->desc[i].inflight ? 1 : 0;
	vr->inflight = inf;
	vr->last_avail = (uint16_t)(used + inuse);
	vr->avail_ahead = 0;
	vr->inflight_counter = 0;
	if (!inuse)
		return 0;
	/* Step 2: resubmit in the order the heads were taken. */
	list = malloc(sizeof(*list) * inuse);
	heads = malloc(sizeof(*heads) * inuse);
	if (!list || !heads) {
		free(list);
		free(heads);
		return -ENOMEM;
	}
	for (uint32_t i = 0, n = 0; i < vr->num; i++) {
		if (!inf->desc[i].inflight)
			continue;
		list[n].counter = inf->desc[i].counter;
		list[n++].head = (uint16_t)i;
		if (inf->desc[i].counter >= vr->inflight_counter)
			vr->inflight_counter = inf->desc[i].counter + 1;
	}
	qsort(list, inuse, sizeof(*list), by_counter);
	for (uint16_t i = 0; i < inuse; i++)
		heads[i] = list[i].head;
	free(list);
	*resubmit = heads;
	return inuse;
}

void hy_vring_kicks_disable(struct hy_vring *vr)
{
	vr->kicks_enabled = false;
	kicks_write(vr, false);
}

/**
 * hy_vring_kicks_enable() - ask for kicks again before sleeping on kick_fd.
 * @vr: the ring
 *
 * Return: true when chains arrived meanwhile (the caller must pop them instead of sleeping, or
 * it may wait for a kick that was never sent); false when it may sleep.
 */
bool hy_vring_kicks_enable(struct hy_vring *vr)
{
	vr->kicks_enabled = true;
	kicks_write(vr, true);
	/* Pairs with the driver's virtio_mb() between publishing avail->idx and reading
	 * avail_event / used->flags in virtqueue_kick_prepare_split(): either it sees kicks
	 * wanted, or we see its new avail->idx here. */
	hy_smp_mb();
	if (vr->broken)
		return false;
	return hy_load_relaxed(&vr->avail->idx) != vr->last_avail;
}
