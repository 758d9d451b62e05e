/* SPDX-License-Identifier: MIT */
/*
 * Hydra's vhost-user-blk frontend: guest memory, the vhost-user handshake and split-ring driving.
 * See vu_client.h for the model; the memory-ordering rules are those of the virtio 1.2 spec,
 * 2.7.7 (driver side) and 2.7.10 (notification suppression).
 */
#define HY_LOG_COMPONENT "vu_client"

#include "tools/vu_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shm/barrier.h"
#include "shm/log.h"

/*
 * virtio 1.x rings and vhost-user messages are little-endian / host-endian respectively; on a
 * little-endian host both are the host's order, which is all this tool supports.
 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vu_client assumes a little-endian host"
#endif

#define MIB		 (1024ull * 1024)
#define GIB		 (1024ull * MIB)
#define DEFAULT_MEM	 (64 * MIB)
#define DEFAULT_QSIZE	 256
#define DEFAULT_TIMEOUT	 5000
#define GUARD_GAP	 (2 * MIB) /* unmapped VA between regions that are not gpa neighbours */
#define INDIRECT_DEFAULT 130
#define INDIRECT_TABLES                                                                            \
	512 /* indirect tables per queue at most (a pool, not one per descriptor)                  \
	     */
#define SLOT_SIZE	 64
#define CONFIG_SIZE_BASE offsetof(struct hy_vu_blk_config, max_secure_erase_sectors)

/* ------------------------------------------------------------------------------------------ */
/* Guest memory                                                                               */
/* ------------------------------------------------------------------------------------------ */

struct extent {
	uint64_t gpa;
	uint64_t len;
};

struct extent_vec {
	struct extent *v;
	unsigned n;
	unsigned cap;
};

struct hy_vu_mem {
	struct hy_vu_region regions[HY_VU_MAX_REGIONS];
	unsigned nregions;
	void *window; /* the reserved VA range all regions live in */
	size_t window_len;
	pthread_mutex_t lock;	/* protects free and used */
	struct extent_vec free; /* sorted by gpa, never adjacent */
	struct extent_vec used; /* unsorted allocation records */
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int vec_insert(struct extent_vec *vec, unsigned at, struct extent e)
{
	if (vec->n == vec->cap) {
		unsigned cap = vec->cap ? vec->cap * 2 : 16;
		struct extent *v = realloc(vec->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		vec->v = v;
		vec->cap = cap;
	}
	memmove(&vec->v[at + 1], &vec->v[at], (vec->n - at) * sizeof(*vec->v));
	vec->v[at] = e;
	vec->n++;
	return 0;
}

static void vec_remove(struct extent_vec *vec, unsigned at)
{
	memmove(&vec->v[at], &vec->v[at + 1], (vec->n - at - 1) * sizeof(*vec->v));
	vec->n--;
}

static const struct hy_vu_region *region_of_gpa(const struct hy_vu_mem *m, uint64_t gpa)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct hy_vu_region *r = &m->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *hy_vu_gpa_to_ptr(const struct hy_vu_mem *m, uint64_t gpa, size_t len)
{
	const struct hy_vu_region *first = region_of_gpa(m, gpa), *r = first;
	uint64_t off, left;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	left = len ? len : 1;
	/* A range may run on into the next region when that one follows in gpa (and so in VA). */
	while (left > r->size - off) {
		const struct hy_vu_region *n = r + 1;

		left -= r->size - off;
		if (n >= m->regions + m->nregions || n->gpa != r->gpa + r->size)
			return NULL;
		r = n;
		off = 0;
	}
	return (uint8_t *)first->ptr + (gpa - first->gpa);
}

int hy_vu_ptr_to_gpa(const struct hy_vu_mem *m, const void *ptr, size_t len, uint64_t *gpa)
{
	uintptr_t p = (uintptr_t)ptr;

	for (unsigned i = 0; i < m->nregions; i++) {
		const struct hy_vu_region *r = &m->regions[i];
		uintptr_t base = (uintptr_t)r->ptr;

		if (p >= base && p - base < r->size) {
			uint64_t g = r->gpa + (p - base);

			if (!hy_vu_gpa_to_ptr(m, g, len))
				return -EFAULT;
			*gpa = g;
			return 0;
		}
	}
	return -EFAULT;
}

uint64_t hy_vu_gpa_hole(const struct hy_vu_mem *m)
{
	for (unsigned i = 0; i + 1 < m->nregions; i++) {
		uint64_t end = m->regions[i].gpa + m->regions[i].size;

		if (m->regions[i + 1].gpa - end >= MIB)
			return end;
	}
	return m->regions[m->nregions - 1].gpa + m->regions[m->nregions - 1].size;
}

unsigned hy_vu_mem_nregions(const struct hy_vu_mem *m)
{
	return m->nregions;
}

const struct hy_vu_region *hy_vu_mem_region(const struct hy_vu_mem *m, unsigned i)
{
	return i < m->nregions ? &m->regions[i] : NULL;
}

static int check_specs(const struct hy_vu_region_spec *s, unsigned n, uint64_t page)
{
	if (n == 0 || n > HY_VU_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (!s[i].size || s[i].size % page || s[i].gpa % page ||
		    s[i].gpa + s[i].size < s[i].gpa)
			return -EINVAL;
		if (i && s[i].gpa < s[i - 1].gpa + s[i - 1].size)
			return -EINVAL;
		if (s[i].share_fd_with_prev && (!i || s[i].gpa != s[i - 1].gpa + s[i - 1].size))
			return -EINVAL;
	}
	return 0;
}

struct hy_vu_mem *hy_vu_mem_create(const struct hy_vu_region_spec *specs, unsigned nspecs,
				   uint64_t total)
{
	struct hy_vu_region_spec def[3];
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct hy_vu_mem *m;
	size_t window = GUARD_GAP;
	uint8_t *va;
	int ret;

	if (!specs) {
		if (!total)
			total = DEFAULT_MEM;
		if (total % (4 * MIB) || nspecs) {
			errno = EINVAL;
			return NULL;
		}
		/* Low memory at gpa 0, high memory at 4 GiB split in two back-to-back regions. */
		def[0] = (struct hy_vu_region_spec){.gpa = 0, .size = total / 2};
		def[1] = (struct hy_vu_region_spec){.gpa = 4 * GIB, .size = total / 4};
		def[2] = (struct hy_vu_region_spec){
			.gpa = 4 * GIB + total / 4, .size = total / 4, .share_fd_with_prev = true};
		specs = def;
		nspecs = 3;
	}
	ret = check_specs(specs, nspecs, page);
	if (ret) {
		hy_log(ERR, ret, "bad guest memory layout (%u regions)", nspecs);
		errno = -ret;
		return NULL;
	}

	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	for (unsigned i = 0; i < nspecs; i++) {
		window += specs[i].size;
		if (!i || specs[i].gpa != specs[i - 1].gpa + specs[i - 1].size)
			window += GUARD_GAP;
	}
	m->window =
		mmap(NULL, window, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->window == MAP_FAILED) {
		ret = -errno;
		hy_log(ERR, ret, "reserving %zu bytes of address space for guest memory failed",
		       window);
		goto err_free;
	}
	m->window_len = window;

	va = m->window;
	for (unsigned i = 0; i < nspecs; i++) {
		struct hy_vu_region *r = &m->regions[i];
		bool adjacent = i && specs[i].gpa == specs[i - 1].gpa + specs[i - 1].size;

		r->gpa = specs[i].gpa;
		r->size = specs[i].size;
		r->fd = -1;
		if (!adjacent)
			va += GUARD_GAP;
		if (specs[i].share_fd_with_prev) {
			r->fd = m->regions[i - 1].fd;
			r->mmap_offset = m->regions[i - 1].mmap_offset + m->regions[i - 1].size;
		} else {
			uint64_t fsize = specs[i].size;
			char name[32];

			for (unsigned j = i + 1; j < nspecs && specs[j].share_fd_with_prev; j++)
				fsize += specs[j].size;
			snprintf(name, sizeof(name), "hydra-guest-%u", i);
			r->fd = memfd_create(name, MFD_CLOEXEC);
			if (r->fd < 0) {
				ret = -errno;
				hy_log(ERR, ret, "memfd_create() for guest region %u failed", i);
				goto err_unmap;
			}
			if (ftruncate(r->fd, (off_t)fsize)) {
				ret = -errno;
				hy_log(ERR, ret,
				       "ftruncate() of guest region %u to %llu bytes failed", i,
				       (unsigned long long)fsize);
				close(r->fd);
				r->fd = -1;
				goto err_unmap;
			}
			r->mmap_offset = 0;
		}
		m->nregions = i + 1;
		r->ptr = mmap(va, r->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->fd,
			      (off_t)r->mmap_offset);
		if (r->ptr == MAP_FAILED) {
			ret = -errno;
			r->ptr = NULL;
			hy_log(ERR, ret, "mmap() of guest region %u (%llu bytes) failed", i,
			       (unsigned long long)r->size);
			goto err_unmap;
		}
		va += r->size;

		/* Free space: one extent per run of gpa-contiguous regions. */
		if (adjacent) {
			m->free.v[m->free.n - 1].len += r->size;
		} else {
			ret = vec_insert(&m->free, m->free.n,
					 (struct extent){.gpa = r->gpa, .len = r->size});
			if (ret)
				goto err_unmap;
		}
	}
	hy_log(DEBUG, 0, "guest memory: %u regions in a %zu-byte window at %p", m->nregions,
	       m->window_len, m->window);
	return m;

err_unmap:
	hy_vu_mem_destroy(m);
	errno = -ret;
	return NULL;
err_free:
	pthread_mutex_destroy(&m->lock);
	free(m);
	errno = -ret;
	return NULL;
}

void hy_vu_mem_destroy(struct hy_vu_mem *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->nregions; i++) {
		struct hy_vu_region *r = &m->regions[i];

		if (r->fd >= 0 && !(i + 1 < m->nregions && m->regions[i + 1].fd == r->fd))
			close(r->fd);
	}
	if (m->window && m->window != MAP_FAILED)
		munmap(m->window, m->window_len);
	free(m->free.v);
	free(m->used.v);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Carve [gpa, gpa + len) out of free extent @i (which contains it) and record it as used. */
static void *carve(struct hy_vu_mem *m, unsigned i, uint64_t gpa, uint64_t len)
{
	struct extent e = m->free.v[i];
	struct extent used = {.gpa = gpa, .len = len};
	void *p;

	if (vec_insert(&m->used, m->used.n, used))
		return NULL;
	vec_remove(&m->free, i);
	if (gpa + len < e.gpa + e.len &&
	    vec_insert(&m->free, i, (struct extent){gpa + len, e.gpa + e.len - gpa - len}))
		goto err_used;
	if (gpa > e.gpa && vec_insert(&m->free, i, (struct extent){e.gpa, gpa - e.gpa}))
		goto err_used;
	p = hy_vu_gpa_to_ptr(m, gpa, len);
	memset(p, 0, len);
	return p;

err_used:
	/* Out of memory for bookkeeping: the extent is lost, which only wastes guest memory. */
	m->used.n--;
	errno = ENOMEM;
	return NULL;
}

static void *alloc_range(struct hy_vu_mem *m, uint64_t lo, uint64_t hi, size_t size, size_t align)
{
	void *p = NULL;

	if (!size || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	if (!align)
		align = 64;
	pthread_mutex_lock(&m->lock);
	errno = ENOMEM;
	for (unsigned i = 0; i < m->free.n; i++) {
		struct extent *e = &m->free.v[i];
		uint64_t start = align_up(e->gpa > lo ? e->gpa : lo, align);
		uint64_t end = e->gpa + e->len < hi ? e->gpa + e->len : hi;

		if (start < end && end - start >= size) {
			p = carve(m, i, start, size);
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return p;
}

void *hy_vu_alloc(struct hy_vu_mem *m, size_t size, size_t align)
{
	return alloc_range(m, 0, UINT64_MAX, size, align);
}

void *hy_vu_alloc_at(struct hy_vu_mem *m, uint64_t gpa, size_t size)
{
	void *p = NULL;

	if (!size || !hy_vu_gpa_to_ptr(m, gpa, size)) {
		errno = size ? EFAULT : EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	errno = EBUSY;
	for (unsigned i = 0; i < m->free.n; i++) {
		struct extent *e = &m->free.v[i];

		if (gpa >= e->gpa && gpa + size <= e->gpa + e->len) {
			p = carve(m, i, gpa, size);
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return p;
}

void hy_vu_free(struct hy_vu_mem *m, void *ptr)
{
	struct extent e;
	uint64_t gpa;
	unsigned i, at;

	if (!ptr || hy_vu_ptr_to_gpa(m, ptr, 1, &gpa))
		return;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->used.n && m->used.v[i].gpa != gpa; i++)
		;
	if (i == m->used.n) {
		pthread_mutex_unlock(&m->lock);
		hy_log(WARN, 0, "hy_vu_free() of %p (gpa 0x%llx), which was not allocated", ptr,
		       (unsigned long long)gpa);
		return;
	}
	e = m->used.v[i];
	m->used.v[i] = m->used.v[--m->used.n];

	for (at = 0; at < m->free.n && m->free.v[at].gpa < e.gpa; at++)
		;
	/* Merge with the neighbours it touches: gpa neighbours are VA neighbours too. */
	if (at < m->free.n && e.gpa + e.len == m->free.v[at].gpa) {
		e.len += m->free.v[at].len;
		vec_remove(&m->free, at);
	}
	if (at > 0 && m->free.v[at - 1].gpa + m->free.v[at - 1].len == e.gpa) {
		m->free.v[at - 1].len += e.len;
	} else if (vec_insert(&m->free, at, e)) {
		hy_log(WARN, -ENOMEM, "guest memory at gpa 0x%llx leaked",
		       (unsigned long long)e.gpa);
	}
	pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* vhost-user messages                                                                        */
/* ------------------------------------------------------------------------------------------ */

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[HY_VU_MAX_REGIONS];
};

struct vu_mem_single {
	uint64_t padding;
	struct vu_mem_region region;
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[256];
};

union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	struct vu_mem_single reg;
	struct vu_config config;
};

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vhost_vring_addr");
_Static_assert(sizeof(struct vu_mem_table) == 8 + 32 * HY_VU_MAX_REGIONS, "memory table");
_Static_assert(sizeof(struct vu_mem_single) == 40, "single region");

/* One slot per descriptor id, in guest memory: header, built-in segment, status. */
struct hy_vu_slot {
	struct hy_vu_blk_outhdr hdr;
	struct hy_vu_blk_discard_write_zeroes seg;
	uint8_t status;
	uint8_t pad[SLOT_SIZE - 33];
};
_Static_assert(sizeof(struct hy_vu_slot) == SLOT_SIZE, "slot is one cache line");

enum { RS_FREE = 0, RS_BLK, RS_RAW };

/* Private per-chain state, indexed by head id: never in memory the backend can write. */
struct req_state {
	void *cookie;
	uint16_t ndesc; /* descriptor-table entries the chain holds */
	uint16_t tail;	/* last of them, to splice the chain back onto the free list */
	uint16_t table; /* indirect table the chain holds, or NO_TABLE */
	uint8_t kind;	/* RS_* */
};
#define NO_TABLE 0xffff

struct hy_vu_queue {
	/* Ring views into guest memory. */
	struct hy_vu_desc *desc;
	struct hy_vu_avail *avail;
	struct hy_vu_used *used;
	uint16_t *used_event;  /* avail->ring[num] */
	uint16_t *avail_event; /* (uint16_t *)&used->ring[num] */
	struct hy_vu_slot *slots;
	struct hy_vu_desc *indirect; /* ntables tables of indirect_max entries, or NULL */
	uint64_t slots_gpa;
	uint64_t indirect_gpa;

	/* Driver state, touched only by the owning thread. */
	uint16_t num;
	uint16_t mask;
	uint16_t avail_idx;  /* shadow of avail->idx */
	uint16_t kicked_idx; /* avail->idx when we last decided about a kick */
	uint16_t last_used;  /* next used->ring entry to reap */
	uint16_t free_head;
	uint16_t nfree;
	uint16_t inflight;
	uint16_t *next;	      /* chain links and free list, private */
	uint16_t *scratch;    /* raw chain ids */
	struct req_state *rs; /* by head id */
	uint16_t *table_free; /* stack of free indirect table numbers */
	unsigned ntables;
	unsigned tables_free;
	unsigned indirect_max;
	unsigned seg_max;
	bool event_idx;
	bool has_indirect;
	bool poll;
	bool broken;
	int kick_fd;
	int call_fd;
	struct hy_vu_mem *mem;
	struct hy_vu_queue_stats stats;

	/* Control plane. */
	unsigned index;
	int last_avail; /* GET_VRING_BASE answer, -ENODATA before */
	bool enabled;	/* the backend knows this ring: stop must GET_VRING_BASE it */
};

struct hy_vu_client {
	int sock;
	int timeout_ms;
	struct hy_vu_opts opts;
	struct hy_vu_mem *mem;
	bool own_mem;
	bool has_pf;
	bool reply_ack;
	bool stopped;
	uint64_t dev_features;
	uint64_t features;
	uint64_t dev_pfeatures;
	uint64_t pfeatures;
	uint64_t max_mem_slots;
	unsigned max_queues;
	unsigned nqueues;
	unsigned seg_max;
	struct hy_vu_blk_config cfg;
	struct hy_vu_queue *queues;
};

const char *hy_vu_request_str(uint32_t request)
{
	return hy_vu_request_name(request);
}

const char *hy_vu_blk_status_str(uint8_t status)
{
	static __thread char buf[8];

	switch (status) {
	case HY_VU_BLK_S_OK:
		return "OK";
	case HY_VU_BLK_S_IOERR:
		return "IOERR";
	case HY_VU_BLK_S_UNSUPP:
		return "UNSUPP";
	case HY_VU_BLK_S_NONE:
		return "NONE";
	default:
		snprintf(buf, sizeof(buf), "0x%02x", status);
		return buf;
	}
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = hy_now_ns();

	if (now >= deadline_ns)
		return 0;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

/* Wait for @events on @fd until @deadline_ns. Return: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int ms = remaining_ms(deadline_ns);
		int rc;

		if (!ms)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return 0; /* readable, writable, or an error the next syscall reports */
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int vu_send(struct hy_vu_client *c, uint32_t request, uint32_t flags, const void *payload,
		   uint32_t size, const int *fds, unsigned nfds, uint64_t deadline)
{
	struct vu_hdr hdr = {.request = request, .flags = flags, .size = size};
	union {
		char buf[CMSG_SPACE(sizeof(int) * HY_VU_MAX_REGIONS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{.iov_base = &hdr, .iov_len = sizeof(hdr)},
		{.iov_base = (void *)(uintptr_t)payload, .iov_len = size},
	};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
	size_t left = sizeof(hdr) + size;

	if (c->sock < 0)
		return -ENOTCONN;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	while (left) {
		ssize_t n = sendmsg(c->sock, &msg, MSG_NOSIGNAL);

		if (n < 0) {
			int ret = -errno;

			if (ret == -EINTR)
				continue;
			if (ret == -EAGAIN) {
				ret = wait_fd(c->sock, POLLOUT, deadline);
				if (!ret)
					continue;
			}
			hy_log(ERR, ret, "sending %s to the backend failed",
			       hy_vu_request_str(request));
			return ret;
		}
		left -= (size_t)n;
		/* The fds went with the first byte; carry on with what is left of the iovecs. */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (n > 0 && msg.msg_iovlen) {
			size_t take =
				(size_t)n < msg.msg_iov->iov_len ? (size_t)n : msg.msg_iov->iov_len;

			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + take;
			msg.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (!msg.msg_iov->iov_len) {
				msg.msg_iov++;
				msg.msg_iovlen--;
			}
		}
	}
	return 0;
}

/* Read exactly @len bytes; close any fd the backend sends (we never ask for one). */
static int vu_read_full(struct hy_vu_client *c, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 8)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = p, .iov_len = len};
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0) {
			int ret = -errno;

			if (ret == -EINTR)
				continue;
			if (ret == -EAGAIN) {
				ret = wait_fd(c->sock, POLLIN, deadline);
				if (!ret)
					continue;
			}
			return ret;
		}
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int fd;

				for (size_t i = 0; i < nfd; i++) {
					memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
					close(fd);
				}
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Receive the reply to @request into @payload (room for @cap bytes); *@size gets its length.
 * A reply is for the request we sent, has the reply flag and version 1, and fits: anything
 * else means the backend and we no longer agree on the stream, so the error is -EPROTO.
 */
static int vu_recv(struct hy_vu_client *c, uint32_t request, void *payload, uint32_t cap,
		   uint32_t *size, uint64_t deadline)
{
	const char *name = hy_vu_request_str(request);
	struct vu_hdr hdr;
	int ret;

	ret = vu_read_full(c, &hdr, sizeof(hdr), deadline);
	if (ret)
		goto err;
	if (hdr.request != request || (hdr.flags & 0x3) != HY_VU_VERSION ||
	    !(hdr.flags & HY_VU_FLAG_REPLY) || hdr.size > cap) {
		hy_log(ERR, 0,
		       "bad reply to %s: request %u (%s), flags 0x%x, size %u (room for %u)", name,
		       hdr.request, hy_vu_request_str(hdr.request), hdr.flags, hdr.size, cap);
		return -EPROTO;
	}
	ret = vu_read_full(c, payload, hdr.size, deadline);
	if (ret)
		goto err;
	*size = hdr.size;
	return 0;

err:
	if (ret == -ETIMEDOUT)
		hy_log(ERR, ret, "no reply to %s from the backend within %d ms", name,
		       c->timeout_ms);
	else if (ret == -ECONNRESET)
		hy_log(ERR, ret, "the backend closed the connection instead of replying to %s",
		       name);
	else
		hy_log(ERR, ret, "reading the reply to %s failed", name);
	return ret;
}

/*
 * A message that has no reply of its own. With REPLY_ACK it carries NEED_REPLY and we check
 * the ack: "The payload should be set to zero on success or non-zero on failure".
 */
static int vu_request(struct hy_vu_client *c, uint32_t request, const void *payload, uint32_t size,
		      const int *fds, unsigned nfds)
{
	uint64_t deadline = hy_now_ns() + (uint64_t)c->timeout_ms * 1000000;
	uint32_t flags = HY_VU_VERSION | (c->reply_ack ? HY_VU_FLAG_NEED_REPLY : 0);
	uint32_t got;
	uint64_t ack;
	int ret;

	ret = vu_send(c, request, flags, payload, size, fds, nfds, deadline);
	if (ret || !c->reply_ack)
		return ret;
	ret = vu_recv(c, request, &ack, sizeof(ack), &got, deadline);
	if (ret)
		return ret;
	if (got != sizeof(ack)) {
		hy_log(ERR, 0, "ack for %s has %u bytes, not 8", hy_vu_request_str(request), got);
		return -EPROTO;
	}
	if (ack) {
		hy_log(ERR, 0, "the backend refused %s (ack %llu)", hy_vu_request_str(request),
		       (unsigned long long)ack);
		return -EPROTO;
	}
	return 0;
}

/* A message with a reply of its own (GET_*): NEED_REPLY "brings no behavioural change". */
static int vu_call(struct hy_vu_client *c, uint32_t request, const void *payload, uint32_t size,
		   void *reply, uint32_t reply_size)
{
	uint64_t deadline = hy_now_ns() + (uint64_t)c->timeout_ms * 1000000;
	union vu_payload buf;
	uint32_t got;
	int ret;

	ret = vu_send(c, request, HY_VU_VERSION, payload, size, NULL, 0, deadline);
	if (ret)
		return ret;
	ret = vu_recv(c, request, &buf, sizeof(buf), &got, deadline);
	if (ret)
		return ret;
	if (got != reply_size) {
		hy_log(ERR, 0, "reply to %s has %u bytes, expected %u", hy_vu_request_str(request),
		       got, reply_size);
		return -EPROTO;
	}
	memcpy(reply, &buf, reply_size);
	return 0;
}

static int vu_get_u64(struct hy_vu_client *c, uint32_t request, uint64_t *val)
{
	return vu_call(c, request, NULL, 0, val, sizeof(*val));
}

static int vu_set_u64(struct hy_vu_client *c, uint32_t request, uint64_t val)
{
	return vu_request(c, request, &val, sizeof(val), NULL, 0);
}

static int vu_set_state(struct hy_vu_client *c, uint32_t request, unsigned index, uint32_t num)
{
	struct vu_vring_state s = {.index = index, .num = num};

	return vu_request(c, request, &s, sizeof(s), NULL, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Connection set-up                                                                          */
/* ------------------------------------------------------------------------------------------ */

static int sock_connect(const char *path, int timeout_ms, int *out)
{
	uint64_t deadline = hy_now_ns() + (uint64_t)timeout_ms * 1000000;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		hy_log(ERR, ENAMETOOLONG, "vhost-user socket path \"%s\" is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct timespec ts = {.tv_nsec = 20 * 1000000};

		if (fd < 0) {
			ret = -errno;
			hy_log(ERR, ret, "socket(AF_UNIX) failed");
			return ret;
		}
		if (!connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
			*out = fd;
			return 0;
		}
		ret = -errno;
		close(fd);
		/* Missing or refusing (not listening yet, or backlog full): try again until late.
		 */
		if (ret != -ENOENT && ret != -ECONNREFUSED && ret != -EAGAIN && ret != -EINTR)
			break;
		if (hy_now_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	hy_log(ERR, ret, "cannot connect to vhost-user socket \"%s\" (tried for %d ms)", path,
	       timeout_ms);
	return ret;
}

static int negotiate(struct hy_vu_client *c)
{
	uint64_t want, qnum = 1;
	uint32_t cfg_size;
	struct vu_config cfg = {0};
	int ret;

	ret = vu_get_u64(c, HY_VU_GET_FEATURES, &c->dev_features);
	if (ret)
		return ret;
	if (!(c->dev_features & (1ull << HY_VU_VIRTIO_F_VERSION_1))) {
		hy_log(ERR, 0, "the backend does not offer VIRTIO_F_VERSION_1 (features 0x%llx)",
		       (unsigned long long)c->dev_features);
		return -ENOTSUP;
	}

	c->has_pf = c->dev_features & (1ull << HY_VU_F_PROTOCOL_FEATURES);
	if (c->has_pf) {
		ret = vu_get_u64(c, HY_VU_GET_PROTOCOL_FEATURES, &c->dev_pfeatures);
		if (ret)
			return ret;
		want = 1ull << HY_VU_PROTOCOL_F_MQ | 1ull << HY_VU_PROTOCOL_F_CONFIG |
		       1ull << HY_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
		if (!c->opts.no_reply_ack)
			want |= 1ull << HY_VU_PROTOCOL_F_REPLY_ACK;
		c->pfeatures = c->dev_pfeatures & want;
		/* Not acked yet: no NEED_REPLY on SET_PROTOCOL_FEATURES itself (as QEMU). */
		ret = vu_set_u64(c, HY_VU_SET_PROTOCOL_FEATURES, c->pfeatures);
		if (ret)
			return ret;
		c->reply_ack = c->pfeatures & (1ull << HY_VU_PROTOCOL_F_REPLY_ACK);
	}
	if (!(c->pfeatures & (1ull << HY_VU_PROTOCOL_F_CONFIG))) {
		hy_log(ERR, 0,
		       "the backend does not offer the CONFIG protocol feature, which vhost-user-blk "
		       "needs (protocol features 0x%llx)",
		       (unsigned long long)c->dev_pfeatures);
		return -ENOTSUP;
	}
	if (c->pfeatures & (1ull << HY_VU_PROTOCOL_F_MQ)) {
		ret = vu_get_u64(c, HY_VU_GET_QUEUE_NUM, &qnum);
		if (ret)
			return ret;
		if (!qnum || qnum > 0xffff) {
			hy_log(ERR, 0, "GET_QUEUE_NUM says %llu queues", (unsigned long long)qnum);
			return -EPROTO;
		}
	}
	if (c->pfeatures & (1ull << HY_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		ret = vu_get_u64(c, HY_VU_GET_MAX_MEM_SLOTS, &c->max_mem_slots);
		if (ret)
			return ret;
	}

	ret = vu_request(c, HY_VU_SET_OWNER, NULL, 0, NULL, 0);
	if (ret)
		return ret;

	/* 60 bytes is the config up to write_zeroes_may_unmap; secure erase adds 12. */
	cfg_size = CONFIG_SIZE_BASE;
	if (c->dev_features & (1ull << HY_VU_BLK_F_SECURE_ERASE))
		cfg_size = sizeof(struct hy_vu_blk_config);
	cfg.size = cfg_size;
	ret = vu_call(c, HY_VU_GET_CONFIG, &cfg, 12 + cfg_size, &cfg, 12 + cfg_size);
	if (ret)
		return ret;
	if (cfg.size != cfg_size || cfg.offset != 0) {
		hy_log(ERR, 0, "GET_CONFIG reply covers offset %u size %u, asked for 0/%u",
		       cfg.offset, cfg.size, cfg_size);
		return -EPROTO;
	}
	memcpy(&c->cfg, cfg.region, cfg_size);

	want = 1ull << HY_VU_VIRTIO_F_VERSION_1 | 1ull << HY_VU_VIRTIO_F_EVENT_IDX |
	       1ull << HY_VU_VIRTIO_F_INDIRECT_DESC | 1ull << HY_VU_BLK_F_SIZE_MAX |
	       1ull << HY_VU_BLK_F_SEG_MAX | 1ull << HY_VU_BLK_F_GEOMETRY | 1ull << HY_VU_BLK_F_RO |
	       1ull << HY_VU_BLK_F_BLK_SIZE | 1ull << HY_VU_BLK_F_FLUSH |
	       1ull << HY_VU_BLK_F_TOPOLOGY | 1ull << HY_VU_BLK_F_CONFIG_WCE |
	       1ull << HY_VU_BLK_F_MQ | 1ull << HY_VU_BLK_F_DISCARD |
	       1ull << HY_VU_BLK_F_WRITE_ZEROES | 1ull << HY_VU_BLK_F_LIFETIME |
	       1ull << HY_VU_BLK_F_SECURE_ERASE;
	want &= ~c->opts.features_refuse;
	want |= 1ull << HY_VU_VIRTIO_F_VERSION_1;
	c->features = c->dev_features & want;
	/* As QEMU does, SET_FEATURES repeats bit 30 so the backend keeps protocol features on. */
	ret = vu_set_u64(c, HY_VU_SET_FEATURES,
			 c->features | (c->dev_features & (1ull << HY_VU_F_PROTOCOL_FEATURES)));
	if (ret)
		return ret;

	/* virtio 1.2, 5.2.3: num_queues is only valid with VIRTIO_BLK_F_MQ; one queue without. */
	c->max_queues = (unsigned)qnum;
	if (!(c->features & (1ull << HY_VU_BLK_F_MQ)))
		c->max_queues = 1;
	else if (c->cfg.num_queues && c->cfg.num_queues < c->max_queues)
		c->max_queues = c->cfg.num_queues;

	c->seg_max = c->opts.queue_size - 2;
	if ((c->features & (1ull << HY_VU_BLK_F_SEG_MAX)) && c->cfg.seg_max &&
	    c->cfg.seg_max < c->seg_max)
		c->seg_max = c->cfg.seg_max;
	return 0;
}

static int set_mem(struct hy_vu_client *c)
{
	struct hy_vu_mem *m = c->mem;
	struct vu_mem_table t = {.nregions = m->nregions};
	int fds[HY_VU_MAX_REGIONS];
	bool slots = c->pfeatures & (1ull << HY_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	int ret;

	if (slots && c->max_mem_slots < m->nregions) {
		hy_log(ERR, 0, "the backend has %llu memory slots, guest memory has %u regions",
		       (unsigned long long)c->max_mem_slots, m->nregions);
		return -ENOSPC;
	}
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct hy_vu_region *r = &m->regions[i];

		t.regions[i] = (struct vu_mem_region){
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->ptr,
			.mmap_offset = r->mmap_offset,
		};
		fds[i] = r->fd;
	}
	if (c->opts.add_mem_reg && slots) {
		for (unsigned i = 0; i < m->nregions; i++) {
			struct vu_mem_single s = {.region = t.regions[i]};

			ret = vu_request(c, HY_VU_ADD_MEM_REG, &s, sizeof(s), &fds[i], 1);
			if (ret)
				return ret;
		}
		return 0;
	}
	if (c->opts.add_mem_reg)
		hy_log(WARN, 0, "CONFIGURE_MEM_SLOTS not offered: using SET_MEM_TABLE");
	return vu_request(c, HY_VU_SET_MEM_TABLE, &t,
			  (uint32_t)(offsetof(struct vu_mem_table, regions) +
				     m->nregions * sizeof(struct vu_mem_region)),
			  fds, m->nregions);
}

static void queue_free(struct hy_vu_client *c, struct hy_vu_queue *q)
{
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	hy_vu_free(c->mem, q->desc);
	hy_vu_free(c->mem, q->avail);
	hy_vu_free(c->mem, q->used);
	hy_vu_free(c->mem, q->slots);
	hy_vu_free(c->mem, q->indirect);
	free(q->next);
	free(q->scratch);
	free(q->rs);
	free(q->table_free);
}

/* Ring parts go in different regions (queue-dependent) so every region is exercised. */
static void *alloc_in_region(struct hy_vu_mem *m, unsigned region, size_t size, size_t align)
{
	const struct hy_vu_region *r = &m->regions[region % m->nregions];
	void *p = alloc_range(m, r->gpa, r->gpa + r->size, size, align);

	return p ? p : hy_vu_alloc(m, size, align);
}

static int queue_init(struct hy_vu_client *c, struct hy_vu_queue *q, unsigned index)
{
	unsigned num = c->opts.queue_size;
	int ret;

	q->index = index;
	q->mem = c->mem;
	q->num = (uint16_t)num;
	q->mask = (uint16_t)(num - 1);
	q->kick_fd = q->call_fd = -1;
	q->last_avail = -ENODATA;
	q->event_idx = c->features & (1ull << HY_VU_VIRTIO_F_EVENT_IDX);
	q->has_indirect = c->features & (1ull << HY_VU_VIRTIO_F_INDIRECT_DESC);
	q->seg_max = c->seg_max;

	/* virtio 1.2, 2.7: descriptor table 16-aligned, avail 2-aligned, used 4-aligned. */
	q->desc = alloc_in_region(c->mem, index, 16 * num, 4096);
	q->avail = alloc_in_region(c->mem, index + 1, 6 + 2 * num, 64);
	q->used = alloc_in_region(c->mem, index + 2, 6 + 8 * num, 64);
	q->slots = hy_vu_alloc(c->mem, (size_t)num * SLOT_SIZE, 4096);
	q->next = calloc(num, sizeof(*q->next));
	q->scratch = calloc(num, sizeof(*q->scratch));
	q->rs = calloc(num, sizeof(*q->rs));
	if (!q->desc || !q->avail || !q->used || !q->slots || !q->next || !q->scratch || !q->rs) {
		hy_log(ERR, ENOMEM, "no room for queue %u (%u descriptors) in guest memory", index,
		       num);
		return -ENOMEM;
	}
	hy_vu_ptr_to_gpa(c->mem, q->slots, (size_t)num * SLOT_SIZE, &q->slots_gpa);
	if (q->has_indirect) {
		q->indirect_max = c->opts.indirect_max;
		if (!q->indirect_max)
			q->indirect_max = c->seg_max + 2 < INDIRECT_DEFAULT ? c->seg_max + 2
									    : INDIRECT_DEFAULT;
		/* virtio 1.2, 2.7.5.3.1: no chain longer than the Queue Size, indirect or not. */
		if (q->indirect_max > num)
			q->indirect_max = num;
		q->ntables = num < INDIRECT_TABLES ? num : INDIRECT_TABLES;
		q->indirect = hy_vu_alloc(c->mem, (size_t)q->ntables * q->indirect_max * 16, 4096);
		q->table_free = calloc(q->ntables, sizeof(*q->table_free));
		if (!q->indirect || !q->table_free) {
			hy_log(ERR, ENOMEM, "no room for queue %u's indirect tables", index);
			return -ENOMEM;
		}
		hy_vu_ptr_to_gpa(c->mem, q->indirect, (size_t)q->ntables * q->indirect_max * 16,
				 &q->indirect_gpa);
		for (unsigned i = 0; i < q->ntables; i++)
			q->table_free[i] = (uint16_t)(q->ntables - 1 - i);
		q->tables_free = q->ntables;
	}
	for (unsigned i = 0; i < num; i++)
		q->next[i] = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = (uint16_t)num;
	q->used_event = &q->avail->ring[num];
	q->avail_event = (uint16_t *)(void *)&q->used->ring[num];
	/* No calls unless hy_vu_queue_wait() asks; EVENT_IDX devices ignore the flag. */
	q->avail->flags = q->event_idx ? 0 : HY_VU_AVAIL_F_NO_INTERRUPT;

	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick_fd < 0 || q->call_fd < 0) {
		ret = -errno;
		hy_log(ERR, ret, "eventfd() for queue %u failed", index);
		return ret;
	}
	return 0;
}

static int queue_start(struct hy_vu_client *c, struct hy_vu_queue *q)
{
	struct vu_vring_addr addr = {
		.index = q->index,
		.desc_user_addr = (uint64_t)(uintptr_t)q->desc,
		.used_user_addr = (uint64_t)(uintptr_t)q->used,
		.avail_user_addr = (uint64_t)(uintptr_t)q->avail,
	};
	uint64_t idx = q->index;
	int ret;

	q->enabled = true;
	ret = vu_set_state(c, HY_VU_SET_VRING_NUM, q->index, q->num);
	if (!ret)
		ret = vu_set_state(c, HY_VU_SET_VRING_BASE, q->index, 0);
	if (!ret)
		ret = vu_request(c, HY_VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0);
	if (!ret)
		ret = vu_request(c, HY_VU_SET_VRING_KICK, &idx, sizeof(idx), &q->kick_fd, 1);
	if (!ret)
		ret = vu_request(c, HY_VU_SET_VRING_CALL, &idx, sizeof(idx), &q->call_fd, 1);
	return ret;
}

void hy_vu_opts_init(struct hy_vu_opts *o)
{
	memset(o, 0, sizeof(*o));
}

struct hy_vu_client *hy_vu_connect(const char *path, const struct hy_vu_opts *o)
{
	struct hy_vu_client *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->sock = -1;
	c->stopped = true; /* nothing to stop until the rings exist */
	if (o)
		c->opts = *o;
	if (!c->opts.queue_size)
		c->opts.queue_size = DEFAULT_QSIZE;
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = DEFAULT_TIMEOUT;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = DEFAULT_TIMEOUT;
	c->timeout_ms = c->opts.timeout_ms;
	/* virtio 1.2, 2.7: split Queue Size is a power of 2, at most 32768. */
	if (c->opts.queue_size < 2 || c->opts.queue_size > 32768 ||
	    (c->opts.queue_size & (c->opts.queue_size - 1)) || c->opts.timeout_ms < 0) {
		hy_log(ERR, EINVAL, "bad options: queue size %u, timeout %d ms", c->opts.queue_size,
		       c->opts.timeout_ms);
		ret = -EINVAL;
		goto err_free;
	}

	if (c->opts.mem) {
		c->mem = c->opts.mem;
	} else {
		c->mem = hy_vu_mem_create(NULL, 0, c->opts.mem_size);
		if (!c->mem) {
			ret = -errno;
			goto err_free;
		}
		c->own_mem = true;
	}

	ret = sock_connect(path, c->opts.connect_timeout_ms, &c->sock);
	if (ret)
		goto err_close;
	ret = negotiate(c);
	if (ret)
		goto err_close;

	c->nqueues = c->opts.num_queues ? c->opts.num_queues : c->max_queues;
	if (c->nqueues > c->max_queues) {
		hy_log(ERR, 0, "asked for %u queues, the device offers %u", c->nqueues,
		       c->max_queues);
		ret = -EINVAL;
		goto err_close;
	}
	ret = set_mem(c);
	if (ret)
		goto err_close;

	c->queues = calloc(c->nqueues, sizeof(*c->queues));
	if (!c->queues) {
		ret = -ENOMEM;
		goto err_close;
	}
	for (unsigned i = 0; i < c->nqueues; i++)
		c->queues[i].kick_fd = c->queues[i].call_fd = -1;
	c->stopped = false;
	for (unsigned i = 0; i < c->nqueues; i++) {
		ret = queue_init(c, &c->queues[i], i);
		if (ret)
			goto err_close;
	}
	for (unsigned i = 0; i < c->nqueues; i++) {
		ret = queue_start(c, &c->queues[i]);
		if (ret)
			goto err_close;
	}
	/* With bit 30 negotiated rings start disabled (vhost-user.rst, "Ring states"). */
	if (c->has_pf) {
		for (unsigned i = 0; i < c->nqueues; i++) {
			ret = vu_set_state(c, HY_VU_SET_VRING_ENABLE, i, 1);
			if (ret)
				goto err_close;
		}
	}
	hy_log(INFO, 0,
	       "connected to %s: features 0x%llx, protocol features 0x%llx, %u/%u queues of %u, "
	       "capacity %llu sectors",
	       path, (unsigned long long)c->features, (unsigned long long)c->pfeatures, c->nqueues,
	       c->max_queues, c->opts.queue_size, (unsigned long long)c->cfg.capacity);
	return c;

err_close:
	/* Hang up without GET_VRING_BASE: the backend is in no state to answer it. */
	c->stopped = true;
	hy_vu_close(c);
	errno = -ret;
	return NULL;
err_free:
	free(c);
	errno = -ret;
	return NULL;
}

int hy_vu_stop(struct hy_vu_client *c)
{
	int ret = 0;

	if (c->stopped)
		return 0;
	c->stopped = true;
	for (unsigned i = 0; i < c->nqueues && c->sock >= 0; i++) {
		struct hy_vu_queue *q = &c->queues[i];
		struct vu_vring_state s = {.index = i};
		int rc = 0;

		if (!q->enabled)
			continue;
		if (c->has_pf)
			rc = vu_set_state(c, HY_VU_SET_VRING_ENABLE, i, 0);
		/* GET_VRING_BASE stops the ring; its answer is the backend's last_avail_idx. */
		if (!rc)
			rc = vu_call(c, HY_VU_GET_VRING_BASE, &s, sizeof(s), &s, sizeof(s));
		if (!rc && s.index != i) {
			hy_log(ERR, 0, "GET_VRING_BASE for ring %u answered for ring %u", i,
			       s.index);
			rc = -EPROTO;
		}
		if (!rc)
			q->last_avail = (int)(s.num & 0xffff);
		if (rc && !ret)
			ret = rc;
		if (rc == -ECONNRESET || rc == -EPIPE || rc == -ETIMEDOUT)
			break;
	}
	if (c->sock >= 0) {
		close(c->sock);
		c->sock = -1;
	}
	return ret;
}

void hy_vu_close(struct hy_vu_client *c)
{
	if (!c)
		return;
	hy_vu_stop(c);
	if (c->sock >= 0)
		close(c->sock);
	for (unsigned i = 0; c->queues && i < c->nqueues; i++)
		queue_free(c, &c->queues[i]);
	free(c->queues);
	if (c->own_mem)
		hy_vu_mem_destroy(c->mem);
	free(c);
}

const struct hy_vu_blk_config *hy_vu_config(const struct hy_vu_client *c)
{
	return &c->cfg;
}

uint64_t hy_vu_device_features(const struct hy_vu_client *c)
{
	return c->dev_features;
}

uint64_t hy_vu_features(const struct hy_vu_client *c)
{
	return c->features;
}

uint64_t hy_vu_protocol_features(const struct hy_vu_client *c)
{
	return c->pfeatures;
}

bool hy_vu_has_feature(const struct hy_vu_client *c, unsigned bit)
{
	return bit < 64 && (c->features & (1ull << bit));
}

unsigned hy_vu_max_queues(const struct hy_vu_client *c)
{
	return c->max_queues;
}

unsigned hy_vu_num_queues(const struct hy_vu_client *c)
{
	return c->nqueues;
}

struct hy_vu_queue *hy_vu_queue(struct hy_vu_client *c, unsigned i)
{
	return i < c->nqueues ? &c->queues[i] : NULL;
}

struct hy_vu_mem *hy_vu_mem(struct hy_vu_client *c)
{
	return c->mem;
}

unsigned hy_vu_seg_max(const struct hy_vu_client *c)
{
	return c->seg_max;
}

/* ------------------------------------------------------------------------------------------ */
/* Split-ring driver                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* virtio 1.2, 2.7.10: does moving the index from @old to @new_idx cross @event? */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static void queue_break(struct hy_vu_queue *q, const char *why, unsigned a, unsigned b)
{
	q->broken = true;
	hy_log_rl(ERR, 0, "queue %u: the backend broke the used ring: %s (%u, %u)", q->index, why,
		  a, b);
}

/* Put @head in the avail ring and publish the new avail->idx. */
static void avail_push(struct hy_vu_queue *q, uint16_t head, uint16_t ndesc, uint16_t tail,
		       uint16_t table, uint8_t kind, void *cookie)
{
	q->rs[head] = (struct req_state){
		.cookie = cookie, .ndesc = ndesc, .tail = tail, .table = table, .kind = kind};
	q->free_head = q->next[tail];
	q->nfree -= ndesc;
	q->inflight++;
	q->avail->ring[q->avail_idx & q->mask] = head;
	q->avail_idx++;
	/*
	 * Descriptors and the ring entry before the index. Pairs with the device's acquire load of
	 * avail->idx before it reads the ring (hy_vring_pop(), libvhost-user's vu_queue_pop()).
	 */
	hy_store_release(&q->avail->idx, q->avail_idx);
	q->stats.submitted++;
}

static bool type_is_data_in(uint32_t type)
{
	return type == HY_VU_BLK_T_IN || type == HY_VU_BLK_T_GET_ID ||
	       type == HY_VU_BLK_T_GET_LIFETIME;
}

static bool type_has_segment(uint32_t type)
{
	return type == HY_VU_BLK_T_DISCARD || type == HY_VU_BLK_T_WRITE_ZEROES ||
	       type == HY_VU_BLK_T_SECURE_ERASE;
}

int hy_vu_blk_submit(struct hy_vu_queue *q, const struct hy_vu_blk_req *req)
{
	bool indirect = req->flags & HY_VU_REQ_INDIRECT;
	bool builtin = !req->iovcnt && type_has_segment(req->type);
	unsigned nd = 2 + req->iovcnt + builtin;
	unsigned need = indirect ? 1 : nd;
	uint16_t dflag = HY_VU_DESC_F_WRITE;
	struct hy_vu_desc *tbl;
	struct hy_vu_slot *slot;
	uint64_t slot_gpa;
	uint16_t head, id, tail, k, table = NO_TABLE;

	if (q->broken)
		return -EIO;
	if (indirect && !q->has_indirect)
		return -ENOTSUP;
	if ((indirect && nd > q->indirect_max) || nd > q->num)
		return -E2BIG;
	if (q->nfree < need || (indirect && !q->tables_free))
		return -EAGAIN;
	if (req->flags & HY_VU_REQ_DATA_OUT)
		dflag = 0;
	else if (!(req->flags & HY_VU_REQ_DATA_IN) && !type_is_data_in(req->type))
		dflag = 0;

	head = q->free_head;
	slot = &q->slots[head];
	slot_gpa = q->slots_gpa + (uint64_t)head * SLOT_SIZE;
	/*
	 * Direct: the chain takes descriptor ids off the free list in order (walking next[]
	 * without committing, so a bad buffer leaves nothing to undo). Indirect: the table comes
	 * off the pool (taken only on success) and its entries are numbered 0..nd-1.
	 */
	if (indirect)
		table = q->table_free[q->tables_free - 1];
	tbl = indirect ? &q->indirect[(size_t)table * q->indirect_max] : q->desc;
	id = indirect ? 0 : head;
	tail = head;
	for (k = 0; k < nd; k++) {
		struct hy_vu_desc *d = &tbl[id];
		uint16_t nxt = indirect ? (uint16_t)(id + 1) : q->next[id];

		if (k == 0) {
			*d = (struct hy_vu_desc){.addr = slot_gpa, .len = 16};
		} else if (k == nd - 1) {
			*d = (struct hy_vu_desc){.addr = slot_gpa +
							 offsetof(struct hy_vu_slot, status),
						 .len = 1,
						 .flags = HY_VU_DESC_F_WRITE};
		} else if (builtin) {
			*d = (struct hy_vu_desc){
				.addr = slot_gpa + offsetof(struct hy_vu_slot, seg), .len = 16};
		} else {
			const struct iovec *v = &req->iov[k - 1];
			uint64_t gpa;

			if (!v->iov_len || v->iov_len > UINT32_MAX ||
			    hy_vu_ptr_to_gpa(q->mem, v->iov_base, v->iov_len, &gpa))
				return -EFAULT;
			*d = (struct hy_vu_desc){
				.addr = gpa, .len = (uint32_t)v->iov_len, .flags = dflag};
		}
		if (k != nd - 1) {
			d->flags |= HY_VU_DESC_F_NEXT;
			d->next = nxt;
		}
		if (!indirect)
			tail = id;
		id = nxt;
	}
	if (indirect) {
		q->tables_free--;
		q->desc[head] = (struct hy_vu_desc){
			.addr = q->indirect_gpa + (uint64_t)table * q->indirect_max * 16,
			.len = nd * 16,
			.flags = HY_VU_DESC_F_INDIRECT,
		};
	}
	slot->hdr = (struct hy_vu_blk_outhdr){.type = req->type, .sector = req->sector};
	slot->seg = (struct hy_vu_blk_discard_write_zeroes){
		.sector = req->sector, .num_sectors = req->num_sectors, .flags = req->seg_flags};
	slot->status = HY_VU_BLK_S_NONE;
	avail_push(q, head, (uint16_t)need, tail, table, RS_BLK, req->cookie);
	return 0;
}

int hy_vu_raw_submit(struct hy_vu_queue *q, const struct hy_vu_desc *chain, unsigned n,
		     void *cookie)
{
	uint16_t id;

	if (q->broken)
		return -EIO;
	if (!n)
		return -EINVAL;
	if (n > q->nfree)
		return -EAGAIN;
	id = q->free_head;
	for (unsigned k = 0; k < n; k++) {
		q->scratch[k] = id;
		id = q->next[id];
	}
	for (unsigned k = 0; k < n; k++) {
		struct hy_vu_desc d = chain[k];

		if ((d.flags & HY_VU_DESC_F_NEXT) && d.next < n)
			d.next = q->scratch[d.next];
		q->desc[q->scratch[k]] = d;
	}
	avail_push(q, q->scratch[0], (uint16_t)n, q->scratch[n - 1], NO_TABLE, RS_RAW, cookie);
	return 0;
}

int hy_vu_queue_kick(struct hy_vu_queue *q)
{
	uint64_t one = 1;
	uint16_t old = q->kicked_idx;
	bool need;

	if (q->avail_idx == old)
		return 0;
	/*
	 * Our avail->idx store before our read of the device's suppression state. Pairs with the
	 * device's full barrier between writing avail_event/used->flags and re-reading avail->idx
	 * (virtio 1.2, 2.7.10): either it sees the new index or we see that it wants a kick.
	 */
	hy_smp_mb();
	q->kicked_idx = q->avail_idx;
	if (q->event_idx)
		need = vring_need_event(hy_load_relaxed(q->avail_event), q->avail_idx, old);
	else
		need = !(hy_load_relaxed(&q->used->flags) & HY_VU_USED_F_NO_NOTIFY);
	if (!need) {
		q->stats.kicks_suppressed++;
		return 0;
	}
	q->stats.kicks++;
	while (write(q->kick_fd, &one, sizeof(one)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) /* counter saturated: the backend has a kick pending anyway */
			return 1;
		return -errno;
	}
	return 1;
}

int hy_vu_queue_reap(struct hy_vu_queue *q, struct hy_vu_cpl *cpl, unsigned max)
{
	uint16_t used_idx;
	unsigned n = 0;

	if (q->broken)
		return -EIO;
	/*
	 * Pairs with the device's release store of used->idx after it wrote the used elements and
	 * the data and status bytes (hy_vring_flush(), libvhost-user's vring_used_idx_set()).
	 */
	used_idx = hy_load_acquire(&q->used->idx);
	if ((uint16_t)(used_idx - q->last_used) > q->inflight) {
		queue_break(q, "used->idx ran ahead of the chains in flight",
			    (uint16_t)(used_idx - q->last_used), q->inflight);
		return -EIO;
	}
	while (n < max && q->last_used != used_idx) {
		struct hy_vu_used_elem *e = &q->used->ring[q->last_used & q->mask];
		uint32_t id = hy_load_relaxed(&e->id);
		uint32_t len = hy_load_relaxed(&e->len);
		struct req_state *rs;

		if (id >= q->num || q->rs[id].kind == RS_FREE) {
			queue_break(q, "used element names no chain in flight", id, q->last_used);
			return n ? (int)n : -EIO;
		}
		rs = &q->rs[id];
		cpl[n] = (struct hy_vu_cpl){
			.cookie = rs->cookie,
			.len = len,
			.head = (uint16_t)id,
			.status = rs->kind == RS_BLK ? hy_load_relaxed(&q->slots[id].status)
						     : HY_VU_BLK_S_NONE,
			.raw = rs->kind == RS_RAW,
		};
		q->next[rs->tail] = q->free_head;
		q->free_head = (uint16_t)id;
		q->nfree += rs->ndesc;
		if (rs->table != NO_TABLE)
			q->table_free[q->tables_free++] = rs->table;
		rs->kind = RS_FREE;
		q->inflight--;
		q->last_used++;
		n++;
	}
	q->stats.completed += n;
	return (int)n;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int hy_vu_queue_wait(struct hy_vu_queue *q, int timeout_ms)
{
	uint64_t deadline = hy_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
	int rc;

	for (;;) {
		struct pollfd pfd = {.fd = q->call_fd, .events = POLLIN};
		uint64_t val;
		int ms;

		if (q->broken)
			return -EIO;
		/* Pairs with the device's release store of used->idx. */
		if (hy_load_acquire(&q->used->idx) != q->last_used)
			return 0;
		if (!q->inflight)
			return -ENODATA;
		if (q->poll) {
			for (unsigned spin = 0; spin < 1024; spin++) {
				if (hy_load_acquire(&q->used->idx) != q->last_used)
					return 0;
				cpu_relax();
			}
			if (hy_now_ns() >= deadline)
				return -ETIMEDOUT;
			continue;
		}

		/* Ask for a call at the next used entry. */
		if (q->event_idx)
			hy_store_relaxed(q->used_event, q->last_used);
		else
			hy_store_relaxed(&q->avail->flags, (uint16_t)0);
		/*
		 * Our request for a call before our re-read of used->idx. Pairs with the device's
		 * full barrier between its used->idx store and its read of used_event/avail->flags
		 * (virtio 1.2, 2.7.10): either it sees our request or we see its new index.
		 */
		hy_smp_mb();
		if (hy_load_acquire(&q->used->idx) != q->last_used) {
			rc = 0;
			goto out;
		}
		ms = remaining_ms(deadline);
		if (!ms) {
			rc = -ETIMEDOUT;
			goto out;
		}
		q->stats.waits++;
		rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		if (rc > 0 && read(q->call_fd, &val, sizeof(val)) == sizeof(val))
			q->stats.calls++;
		if (rc == 0) {
			rc = hy_load_acquire(&q->used->idx) != q->last_used ? 0 : -ETIMEDOUT;
			goto out;
		}
		if (!q->event_idx)
			hy_store_relaxed(&q->avail->flags, (uint16_t)HY_VU_AVAIL_F_NO_INTERRUPT);
	}
out:
	/* Back to no calls between waits (without EVENT_IDX; used_event fires only once anyway). */
	if (!q->event_idx)
		hy_store_relaxed(&q->avail->flags, (uint16_t)HY_VU_AVAIL_F_NO_INTERRUPT);
	return rc;
}

static int sync_wait(struct hy_vu_queue *q, int timeout_ms, struct hy_vu_cpl *cpl)
{
	uint64_t deadline = hy_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
	int ret;

	ret = hy_vu_queue_kick(q);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = hy_vu_queue_reap(q, cpl, 1);
		if (ret)
			return ret < 0 ? ret : 0;
		ret = hy_vu_queue_wait(q, remaining_ms(deadline));
		if (ret)
			return ret;
	}
}

int hy_vu_blk_sync(struct hy_vu_queue *q, const struct hy_vu_blk_req *req, int timeout_ms,
		   struct hy_vu_cpl *cpl)
{
	int ret;

	if (q->inflight)
		return -EBUSY;
	ret = hy_vu_blk_submit(q, req);
	if (ret)
		return ret;
	return sync_wait(q, timeout_ms, cpl);
}

int hy_vu_raw_sync(struct hy_vu_queue *q, const struct hy_vu_desc *chain, unsigned n,
		   int timeout_ms, struct hy_vu_cpl *cpl)
{
	int ret;

	if (q->inflight)
		return -EBUSY;
	ret = hy_vu_raw_submit(q, chain, n, NULL);
	if (ret)
		return ret;
	return sync_wait(q, timeout_ms, cpl);
}

unsigned hy_vu_queue_index(const struct hy_vu_queue *q)
{
	return q->index;
}

unsigned hy_vu_queue_size(const struct hy_vu_queue *q)
{
	return q->num;
}

unsigned hy_vu_queue_inflight(const struct hy_vu_queue *q)
{
	return q->inflight;
}

unsigned hy_vu_queue_free_descs(const struct hy_vu_queue *q)
{
	return q->nfree;
}

uint16_t hy_vu_queue_avail_idx(const struct hy_vu_queue *q)
{
	return q->avail_idx;
}

int hy_vu_queue_last_avail(const struct hy_vu_queue *q)
{
	return q->last_avail;
}

bool hy_vu_queue_broken(const struct hy_vu_queue *q)
{
	return q->broken;
}

const struct hy_vu_queue_stats *hy_vu_queue_stats(const struct hy_vu_queue *q)
{
	return &q->stats;
}

void hy_vu_queue_set_poll(struct hy_vu_queue *q, bool poll)
{
	q->poll = poll;
}
