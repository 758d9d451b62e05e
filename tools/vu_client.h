/* SPDX-License-Identifier: MIT */
/*
 * Hydra's own vhost-user-blk frontend: the "guest" side of a vhost-user connection, as a library.
 *
 * It plays QEMU's part: it creates guest memory from memfds (several regions whose guest-physical
 * addresses are unrelated to the frontend's virtual addresses), does the vhost-user handshake
 * QEMU's vhost-user-blk does, and drives split virtqueues (virtio 1.2, 2.7) with virtio-blk
 * requests (virtio 1.2, 5.2). The integration tests use it to check Hydra (and a reference
 * backend, qemu-storage-daemon); hydra-bench will use it to measure Hydra.
 *
 * Threading: the control plane (hy_vu_connect(), hy_vu_stop(), hy_vu_close()) runs on one thread.
 * Each struct hy_vu_queue belongs to exactly one thread at a time (one thread per queue); its
 * functions take no locks, make no allocation and at most one syscall per batch (the kick). The
 * guest-memory allocator takes a mutex and is meant for set-up, not for the per-I/O path.
 *
 * Every wait has a deadline: a stalled or dead backend turns into -ETIMEDOUT or -ECONNRESET and
 * an error log line, never a hang.
 */
#ifndef HY_TOOLS_VU_CLIENT_H
#define HY_TOOLS_VU_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "shm/vhost_user.h"


/* virtio feature bits (virtio 1.2, 6 and 5.2.3). */
#define HY_VU_VIRTIO_F_INDIRECT_DESC 28
#define HY_VU_VIRTIO_F_EVENT_IDX     29
#define HY_VU_VIRTIO_F_VERSION_1     32
#define HY_VU_BLK_F_SIZE_MAX	     1
#define HY_VU_BLK_F_SEG_MAX	     2
#define HY_VU_BLK_F_GEOMETRY	     4
#define HY_VU_BLK_F_RO		     5
#define HY_VU_BLK_F_BLK_SIZE	     6
#define HY_VU_BLK_F_FLUSH	     9
#define HY_VU_BLK_F_TOPOLOGY	     10
#define HY_VU_BLK_F_CONFIG_WCE	     11
#define HY_VU_BLK_F_MQ		     12
#define HY_VU_BLK_F_DISCARD	     13
#define HY_VU_BLK_F_WRITE_ZEROES     14
#define HY_VU_BLK_F_LIFETIME	     15
#define HY_VU_BLK_F_SECURE_ERASE     16

/* virtio-blk request types and status values (virtio 1.2, 5.2.6). */
#define HY_VU_BLK_T_IN		 0
#define HY_VU_BLK_T_OUT		 1
#define HY_VU_BLK_T_FLUSH	 4
#define HY_VU_BLK_T_GET_ID	 8
#define HY_VU_BLK_T_GET_LIFETIME 10
#define HY_VU_BLK_T_DISCARD	 11
#define HY_VU_BLK_T_WRITE_ZEROES 13
#define HY_VU_BLK_T_SECURE_ERASE 14
#define HY_VU_BLK_S_OK		 0
#define HY_VU_BLK_S_IOERR	 1
#define HY_VU_BLK_S_UNSUPP	 2
/* Not a virtio value: the status byte is preset to this, so "the device never wrote it" shows. */
#define HY_VU_BLK_S_NONE 0xff

#define HY_VU_BLK_SECTOR_SIZE 512
#define HY_VU_BLK_ID_BYTES    20 /* GET_ID answer: the serial, NUL-padded, maybe unterminated */
#define HY_VU_BLK_WZ_F_UNMAP  1u /* write-zeroes segment flag */

/* virtio-blk configuration space (virtio 1.2, 5.2.4), little-endian as on the wire. */
struct hy_vu_blk_config {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	uint32_t max_secure_erase_sectors;
	uint32_t max_secure_erase_seg;
	uint32_t secure_erase_sector_alignment;
};
_Static_assert(sizeof(struct hy_vu_blk_config) == 72, "virtio-blk config through secure erase");
_Static_assert(offsetof(struct hy_vu_blk_config, blk_size) == 20, "blk_size");
_Static_assert(offsetof(struct hy_vu_blk_config, num_queues) == 34, "num_queues");
_Static_assert(offsetof(struct hy_vu_blk_config, write_zeroes_may_unmap) == 56, "wz_may_unmap");

/* virtio-blk request header and discard/write-zeroes segment (virtio 1.2, 5.2.6). */
struct hy_vu_blk_outhdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
_Static_assert(sizeof(struct hy_vu_blk_outhdr) == 16, "virtio_blk_req header");

struct hy_vu_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags; /* bit 0: unmap */
};
_Static_assert(sizeof(struct hy_vu_blk_discard_write_zeroes) == 16, "dwz segment");

/* Split virtqueue layout (virtio 1.2, 2.7.5, 2.7.6, 2.7.8), spec field names. */
struct hy_vu_desc {
	uint64_t addr; /* guest-physical */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct hy_vu_desc) == 16, "virtq_desc");
#define HY_VU_DESC_F_NEXT     1
#define HY_VU_DESC_F_WRITE    2
#define HY_VU_DESC_F_INDIRECT 4

struct hy_vu_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* then uint16_t used_event */
};
#define HY_VU_AVAIL_F_NO_INTERRUPT 1

struct hy_vu_used_elem {
	uint32_t id;
	uint32_t len;
};

struct hy_vu_used {
	uint16_t flags;
	uint16_t idx;
	struct hy_vu_used_elem ring[]; /* then uint16_t avail_event */
};
#define HY_VU_USED_F_NO_NOTIFY 1

/* ------------------------------------------------------------------------------------------ */
/* Guest memory                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* One region of guest memory to create. Regions are listed in ascending gpa order. */
struct hy_vu_region_spec {
	uint64_t gpa;  /* guest-physical base, page aligned */
	uint64_t size; /* page aligned */
	/*
	 * Back this region with the previous region's memfd, at the file offset where that one
	 * ends (so the memory table carries a non-zero mmap_offset). Only for a region that
	 * starts at the gpa where the previous one ends.
	 */
	bool share_fd_with_prev;
};

/* One created region, as it is described to the backend. */
struct hy_vu_region {
	uint64_t gpa;
	uint64_t size;
	void *ptr;	      /* frontend virtual address == the memory table's user address */
	int fd;		      /* memfd (owned by the memory, shared by regions that share it) */
	uint64_t mmap_offset; /* offset of this region in fd */
};

struct hy_vu_mem;

/**
 * hy_vu_mem_create() - create guest memory from memfds.
 * @specs: regions in ascending gpa order, or NULL for the default layout
 * @nspecs: number of @specs (at most HY_VU_MAX_REGIONS); 0 with @specs NULL
 * @total: default layout only: bytes in all (multiple of 4 MiB; 0 means 64 MiB)
 *
 * The default layout is QEMU-like and deliberately not identity mapped: region 0 at gpa 0 holds
 * half of @total; regions 1 and 2 hold a quarter each at gpa 4 GiB, back to back in gpa and in
 * one memfd (region 2 has mmap_offset != 0), so a buffer can cross a region boundary.
 * Regions that follow each other in gpa are also placed back to back in the frontend's virtual
 * address space; other regions are separated by an unmapped guard gap.
 *
 * Call from the control thread.
 * Return: the memory, or NULL with errno set (EINVAL bad layout, ENOMEM, or memfd/mmap errors).
 */
struct hy_vu_mem *hy_vu_mem_create(const struct hy_vu_region_spec *specs, unsigned nspecs,
				   uint64_t total);

/**
 * hy_vu_mem_destroy() - unmap guest memory and close its memfds.
 * @m: memory from hy_vu_mem_create(), or NULL
 *
 * No client may use @m any more.
 */
void hy_vu_mem_destroy(struct hy_vu_mem *m);

/** hy_vu_mem_nregions() - number of regions in @m. */
unsigned hy_vu_mem_nregions(const struct hy_vu_mem *m);

/**
 * hy_vu_mem_region() - describe region @i of @m.
 * Return: the region, or NULL when @i is out of range.
 */
const struct hy_vu_region *hy_vu_mem_region(const struct hy_vu_mem *m, unsigned i);

/**
 * hy_vu_alloc() - allocate a buffer in guest memory (first fit, lowest gpa first).
 * @m: guest memory
 * @size: bytes (> 0)
 * @align: power of two, 0 means 64
 *
 * The buffer may straddle two regions that are contiguous in gpa (it is contiguous for the
 * frontend too). Thread-safe (mutex); meant for set-up, not the per-I/O path.
 * Return: pointer to zeroed memory, or NULL with errno = ENOMEM or EINVAL.
 */
void *hy_vu_alloc(struct hy_vu_mem *m, size_t size, size_t align);

/**
 * hy_vu_alloc_at() - allocate the buffer at guest-physical address @gpa exactly.
 * @m: guest memory
 * @gpa: first byte
 * @size: bytes (> 0)
 *
 * For tests that want a buffer across a region boundary. Thread-safe, set-up only.
 * Return: pointer to zeroed memory, or NULL with errno = EBUSY (taken) or EFAULT (not memory).
 */
void *hy_vu_alloc_at(struct hy_vu_mem *m, uint64_t gpa, size_t size);

/**
 * hy_vu_free() - give back a buffer from hy_vu_alloc() or hy_vu_alloc_at().
 * @m: guest memory
 * @ptr: the buffer, or NULL
 */
void hy_vu_free(struct hy_vu_mem *m, void *ptr);

/**
 * hy_vu_ptr_to_gpa() - translate a frontend pointer range to guest-physical.
 * @m: guest memory
 * @ptr: first byte
 * @len: bytes; the whole range must be guest memory, contiguous in gpa
 * @gpa: result
 *
 * Safe from any thread (read-only after creation); used on the per-I/O path.
 * Return: 0, or -EFAULT when the range is not entirely guest memory.
 */
int hy_vu_ptr_to_gpa(const struct hy_vu_mem *m, const void *ptr, size_t len, uint64_t *gpa);

/**
 * hy_vu_gpa_to_ptr() - translate a guest-physical range to a frontend pointer.
 * @m: guest memory
 * @gpa: first byte
 * @len: bytes; the whole range must be guest memory
 *
 * Return: the pointer, or NULL when the range is not entirely guest memory.
 */
void *hy_vu_gpa_to_ptr(const struct hy_vu_mem *m, uint64_t gpa, size_t len);

/**
 * hy_vu_gpa_hole() - a guest-physical address that is not guest memory.
 * @m: guest memory
 *
 * For hostile-guest tests: the first gap between two regions (or past the last one), at least
 * 1 MiB long, page aligned.
 * Return: the address.
 */
uint64_t hy_vu_gpa_hole(const struct hy_vu_mem *m);

/* ------------------------------------------------------------------------------------------ */
/* Connection (control plane)                                                                 */
/* ------------------------------------------------------------------------------------------ */

struct hy_vu_opts {
	unsigned num_queues;	  /* 0: as many as the device offers */
	unsigned queue_size;	  /* power of two <= 32768; 0: 256 */
	int timeout_ms;		  /* per control message; 0: 5000 */
	int connect_timeout_ms;	  /* keep retrying a missing/refusing socket this long; 0: 5000 */
	uint64_t features_refuse; /* virtio feature bits never to ack (e.g. EVENT_IDX) */
	bool add_mem_reg;      /* ADD_MEM_REG per region instead of SET_MEM_TABLE (when offered) */
	bool no_reply_ack;     /* do not negotiate REPLY_ACK */
	unsigned indirect_max; /* descriptors per indirect table; 0: min(seg_max + 2, 130) */
	struct hy_vu_mem *mem; /* guest memory to use (borrowed); NULL: default layout */
	uint64_t mem_size;     /* size of the default layout; 0: 64 MiB */
};

struct hy_vu_client;
struct hy_vu_queue;

/**
 * hy_vu_opts_init() - fill @o with the defaults (every field 0/false means default).
 * @o: options to reset
 */
void hy_vu_opts_init(struct hy_vu_opts *o);

/**
 * hy_vu_connect() - connect to a vhost-user-blk backend and bring its queues up.
 * @path: the backend's unix socket
 * @o: options, or NULL for the defaults
 *
 * Does what QEMU does for vhost-user-blk: GET_FEATURES; GET_PROTOCOL_FEATURES and
 * SET_PROTOCOL_FEATURES (MQ, REPLY_ACK, CONFIG, CONFIGURE_MEM_SLOTS, as offered); GET_QUEUE_NUM;
 * GET_MAX_MEM_SLOTS; SET_OWNER; GET_CONFIG; SET_FEATURES (VERSION_1, EVENT_IDX, INDIRECT_DESC and
 * the blk features offered); SET_MEM_TABLE (or ADD_MEM_REG); then per queue SET_VRING_NUM,
 * SET_VRING_BASE 0, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL and finally SET_VRING_ENABLE 1.
 * With REPLY_ACK every message without a reply of its own carries NEED_REPLY and its ack is
 * checked. Requires VERSION_1 and the CONFIG protocol feature.
 *
 * Call from the control thread. Logs what failed.
 * Return: the client, or NULL with errno set: ETIMEDOUT (no answer in time, or the socket did
 * not appear), ECONNREFUSED/ENOENT (nobody listening), ECONNRESET (backend hung up), EPROTO
 * (malformed reply or NACK), ENOTSUP (a required feature is missing), EINVAL (bad options).
 */
struct hy_vu_client *hy_vu_connect(const char *path, const struct hy_vu_opts *o);

/**
 * hy_vu_stop() - stop every queue and hang up.
 * @c: client
 *
 * Sends SET_VRING_ENABLE 0 and GET_VRING_BASE per queue (the reply, the backend's
 * last_avail_idx, is kept: hy_vu_queue_last_avail()), then closes the socket. Queues must be
 * idle (no thread using them). Guest memory stays mapped until hy_vu_close(). Idempotent.
 * Return: 0, or the first -errno (the socket is closed anyway).
 */
int hy_vu_stop(struct hy_vu_client *c);

/**
 * hy_vu_close() - stop (if not yet done) and free everything the client owns.
 * @c: client, or NULL
 */
void hy_vu_close(struct hy_vu_client *c);

/** hy_vu_config() - the device's config space as read by GET_CONFIG at connect time. */
const struct hy_vu_blk_config *hy_vu_config(const struct hy_vu_client *c);

/** hy_vu_device_features() - what GET_FEATURES offered. */
uint64_t hy_vu_device_features(const struct hy_vu_client *c);

/** hy_vu_features() - what SET_FEATURES acked (without the vhost-user bit 30). */
uint64_t hy_vu_features(const struct hy_vu_client *c);

/** hy_vu_protocol_features() - the protocol features negotiated (0 without bit 30). */
uint64_t hy_vu_protocol_features(const struct hy_vu_client *c);

/** hy_vu_has_feature() - was virtio feature @bit negotiated? */
bool hy_vu_has_feature(const struct hy_vu_client *c, unsigned bit);

/** hy_vu_max_queues() - queues the device supports (GET_QUEUE_NUM and config num_queues). */
unsigned hy_vu_max_queues(const struct hy_vu_client *c);

/** hy_vu_num_queues() - queues brought up. */
unsigned hy_vu_num_queues(const struct hy_vu_client *c);

/** hy_vu_queue() - queue @i (0-based), or NULL when out of range. */
struct hy_vu_queue *hy_vu_queue(struct hy_vu_client *c, unsigned i);

/** hy_vu_mem() - the guest memory the client uses. */
struct hy_vu_mem *hy_vu_mem(struct hy_vu_client *c);

/** hy_vu_seg_max() - most data segments one request may have (config seg_max, clamped). */
unsigned hy_vu_seg_max(const struct hy_vu_client *c);

/* ------------------------------------------------------------------------------------------ */
/* Queues (data plane): one thread per queue                                                  */
/* ------------------------------------------------------------------------------------------ */

/* hy_vu_blk_req.flags */
#define HY_VU_REQ_INDIRECT (1u << 0) /* put the chain in this slot's indirect table */
#define HY_VU_REQ_DATA_IN  (1u << 1) /* data is device-writable whatever the type says */
#define HY_VU_REQ_DATA_OUT (1u << 2) /* data is device-readable whatever the type says */

/*
 * One virtio-blk request. The header and status byte live in a per-descriptor slot the library
 * owns; data buffers are the caller's and must be guest memory. The data direction follows the
 * type (IN, GET_ID, GET_LIFETIME: device-writable; others: device-readable) unless a DATA flag
 * says otherwise. DISCARD, WRITE_ZEROES and SECURE_ERASE with iovcnt == 0 use one segment built
 * from sector/num_sectors/seg_flags in the slot.
 */
struct hy_vu_blk_req {
	uint32_t type;
	uint32_t flags; /* HY_VU_REQ_* */
	uint64_t sector;
	const struct iovec *iov; /* guest-memory data buffers */
	unsigned iovcnt;
	uint32_t num_sectors; /* built-in discard/write-zeroes segment */
	uint32_t seg_flags;   /* HY_VU_BLK_WZ_F_UNMAP */
	void *cookie;	      /* handed back in the completion */
};

/* One completion. */
struct hy_vu_cpl {
	void *cookie;
	uint32_t len;	/* the used element's len: bytes the device says it wrote */
	uint16_t head;	/* descriptor id of the chain */
	uint8_t status; /* virtio-blk status byte; HY_VU_BLK_S_NONE for raw chains or if unwritten
			 */
	bool raw;	/* posted with hy_vu_raw_submit() */
};

/* Plain counters, written only by the queue's thread. */
struct hy_vu_queue_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t kicks;		   /* eventfd writes */
	uint64_t kicks_suppressed; /* kick elided: NO_NOTIFY or avail_event said so */
	uint64_t waits;		   /* poll() calls on the call eventfd */
	uint64_t calls;		   /* call eventfd found signalled */
};

/**
 * hy_vu_blk_submit() - add a virtio-blk request to the avail ring.
 * @q: queue (owned by the calling thread)
 * @req: the request
 *
 * Builds the chain (header, data, status; or one INDIRECT descriptor), and publishes avail->idx
 * with a release store. Does not notify: call hy_vu_queue_kick() once per batch.
 * Return: 0; -EAGAIN when too few descriptors are free (reap first); -E2BIG when the chain is
 * longer than the ring or the indirect table; -EFAULT when a buffer is not guest memory;
 * -ENOTSUP for HY_VU_REQ_INDIRECT without INDIRECT_DESC; -EIO when the queue is broken.
 */
int hy_vu_blk_submit(struct hy_vu_queue *q, const struct hy_vu_blk_req *req);

/**
 * hy_vu_raw_submit() - add a hand-built descriptor chain (hostile-guest tests).
 * @q: queue
 * @chain: @n descriptors, written verbatim into @n free descriptor-table entries except that a
 *         @next below @n (with F_NEXT set) is chain-relative and is rewritten to the entry's id;
 *         a @next >= @n is written as is (out of range, or into somebody else's chain)
 * @n: descriptors to take (1 .. free descriptors)
 * @cookie: handed back in the completion
 *
 * The head (chain[0]) goes in the avail ring. On completion all @n entries are freed whatever
 * the device did with them. Loops are built with a relative @next pointing backwards.
 * Return: 0, -EAGAIN, -EINVAL (@n is 0) or -EIO (queue broken).
 */
int hy_vu_raw_submit(struct hy_vu_queue *q, const struct hy_vu_desc *chain, unsigned n,
		     void *cookie);

/**
 * hy_vu_queue_kick() - notify the backend of new avail entries, if it wants to be notified.
 * @q: queue
 *
 * Respects used->flags NO_NOTIFY, or avail_event with EVENT_IDX (virtio 1.2, 2.7.10).
 * Return: 1 when the kick eventfd was written, 0 when not needed, -errno on write failure.
 */
int hy_vu_queue_kick(struct hy_vu_queue *q);

/**
 * hy_vu_queue_reap() - collect completions from the used ring without blocking.
 * @q: queue
 * @cpl: room for @max completions
 * @max: how many to take at most
 *
 * Frees the chains' descriptors. A used element that does not name an in-flight chain, or a
 * used->idx that runs ahead of what is in flight, marks the queue broken.
 * Return: completions stored (0 if none), or -EIO when the backend broke the ring.
 */
int hy_vu_queue_reap(struct hy_vu_queue *q, struct hy_vu_cpl *cpl, unsigned max);

/**
 * hy_vu_queue_wait() - wait until the used ring has something to reap.
 * @q: queue
 * @timeout_ms: give up after this long (>= 0)
 *
 * Asks for a call (used_event with EVENT_IDX, else clears avail->flags NO_INTERRUPT), re-checks
 * used->idx, then poll()s the call eventfd.
 * Return: 0 when completions are ready; -ETIMEDOUT; -ENODATA when nothing is in flight; -EIO
 * when the queue is broken.
 */
int hy_vu_queue_wait(struct hy_vu_queue *q, int timeout_ms);

/**
 * hy_vu_blk_sync() - submit one request, kick, and wait for its completion.
 * @q: queue with nothing in flight
 * @req: the request
 * @timeout_ms: for the completion
 * @cpl: the completion
 *
 * Return: 0 (look at @cpl->status), -EBUSY when other requests are in flight, -ETIMEDOUT
 * (the request stays in flight), or hy_vu_blk_submit()'s errors.
 */
int hy_vu_blk_sync(struct hy_vu_queue *q, const struct hy_vu_blk_req *req, int timeout_ms,
		   struct hy_vu_cpl *cpl);

/**
 * hy_vu_raw_sync() - hy_vu_raw_submit(), kick, and wait for that chain's completion.
 * @q: queue with nothing in flight
 * @chain: as for hy_vu_raw_submit()
 * @n: as for hy_vu_raw_submit()
 * @timeout_ms: for the completion
 * @cpl: the completion
 *
 * Return: as hy_vu_blk_sync().
 */
int hy_vu_raw_sync(struct hy_vu_queue *q, const struct hy_vu_desc *chain, unsigned n,
		   int timeout_ms, struct hy_vu_cpl *cpl);

/** hy_vu_queue_index() - the vring index of @q. */
unsigned hy_vu_queue_index(const struct hy_vu_queue *q);

/** hy_vu_queue_size() - descriptors in @q's ring. */
unsigned hy_vu_queue_size(const struct hy_vu_queue *q);

/** hy_vu_queue_inflight() - chains submitted and not yet reaped. */
unsigned hy_vu_queue_inflight(const struct hy_vu_queue *q);

/** hy_vu_queue_free_descs() - descriptor-table entries free. */
unsigned hy_vu_queue_free_descs(const struct hy_vu_queue *q);

/** hy_vu_queue_avail_idx() - the avail->idx the frontend has published. */
uint16_t hy_vu_queue_avail_idx(const struct hy_vu_queue *q);

/**
 * hy_vu_queue_last_avail() - what GET_VRING_BASE returned for @q in hy_vu_stop().
 * Return: the backend's last_avail_idx, or -ENODATA before hy_vu_stop() (or if it failed).
 */
int hy_vu_queue_last_avail(const struct hy_vu_queue *q);

/** hy_vu_queue_broken() - has the backend broken @q's ring? */
bool hy_vu_queue_broken(const struct hy_vu_queue *q);

/** hy_vu_queue_stats() - @q's counters (read them from @q's thread or after joining it). */
const struct hy_vu_queue_stats *hy_vu_queue_stats(const struct hy_vu_queue *q);

/**
 * hy_vu_queue_set_poll() - poll mode: never ask for calls (benchmarks that spin on reap).
 * @q: queue
 * @poll: true to suppress calls, false to ask for one in every hy_vu_queue_wait()
 *
 * In poll mode hy_vu_queue_wait() spins on used->idx until the timeout.
 */
void hy_vu_queue_set_poll(struct hy_vu_queue *q, bool poll);

/**
 * hy_vu_blk_status_str() - "OK", "IOERR", "UNSUPP", "NONE" or "0x%02x".
 * @status: status byte
 * Return: a static string (numeric form in a thread-local buffer).
 */
const char *hy_vu_blk_status_str(uint8_t status);

/** hy_vu_request_str() - name of a vhost-user request ("GET_FEATURES"), or "?". */
const char *hy_vu_request_str(uint32_t request);

#endif
