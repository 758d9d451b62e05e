/* SPDX-License-Identifier: MIT */
/*
 * Hydra's userspace NVMe driver: a controller (admin queue, bring-up, reset) and I/O queue pairs,
 * over any "bus" that gives it BAR0 and a way to map memory for DMA: VFIO (nvme/vfio.h) on a real
 * machine, a software model of the controller in the unit tests.
 *
 * The driver knows nothing about vhost, workers or processes. It has two kinds of owner:
 *
 *   - the controller owner (struct hy_nvme_ctrl): brings the controller up, runs every admin
 *     command, creates and deletes I/O queues, resets the controller. One thread.
 *   - a queue pair owner (struct hy_nvme_qpair): submits and completes I/O on one I/O queue pair.
 *     One thread; it may live in another process than the controller owner, since a queue pair
 *     needs only BAR0's doorbells and its own queue memory (struct hy_nvme_qpair_cfg).
 *
 * Neither is locked; each must only be touched by its owner. Data buffers are given to the driver
 * as IOVAs (struct hy_nvme_seg): the caller has already mapped them for the device and translated
 * its own addresses. See nvme/README-nvme.md for the IOVA scheme and the reset protocol.
 */
#ifndef HY_NVME_NVME_H
#define HY_NVME_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/spec.h"

struct hy_nvme_ctrl;

/* One piece of a data buffer as the device addresses it. */
struct hy_nvme_seg {
	uint64_t iova;
	uint32_t len;
};

/*
 * What the driver needs from the platform besides BAR0. Return 0 or -errno.
 * @map: make [vaddr, vaddr + len) reachable by the device at [iova, iova + len).
 * @unmap: undo exactly one earlier map of the same range.
 * @function_reset: optional; reset the PCI function (VFIO_DEVICE_RESET) when the controller no
 *	longer answers CC.EN = 0. NULL when the platform cannot.
 */
struct hy_nvme_dma_ops {
	int (*map)(void *priv, void *vaddr, size_t len, uint64_t iova);
	int (*unmap)(void *priv, uint64_t iova, size_t len);
	int (*function_reset)(void *priv);
};

/* ------------------------------------------------------------------------------------------ */
/* IOVA space and DMA memory (nvme/dma.c)                                                      */

/*
 * The driver's own IOVA window (queues, PRP lists, admin buffers): [1 GiB, 3 GiB), below the x86
 * MSI window at 0xfee00000 and away from the guest windows README-nvme.md puts at 4 GiB and up.
 */
#define HY_NVME_IOVA_DRIVER_BASE 0x40000000ull
#define HY_NVME_IOVA_DRIVER_SIZE 0x80000000ull
#define HY_NVME_IOVA_EXTENTS	 64

/* A first-fit allocator of page-aligned IOVA ranges; free ranges are kept sorted and merged. */
struct hy_nvme_iova_space {
	uint64_t base;
	uint64_t size;
	unsigned nfree;
	struct {
		uint64_t start;
		uint64_t len;
	} free[HY_NVME_IOVA_EXTENTS];
};

/**
 * hy_nvme_iova_init() - start managing [base, base + size).
 * @s: the space
 * @base: first IOVA, page aligned
 * @size: bytes, a multiple of the page size
 *
 * Return: 0, or -EINVAL for an unaligned or empty range.
 */
int hy_nvme_iova_init(struct hy_nvme_iova_space *s, uint64_t base, uint64_t size);

/**
 * hy_nvme_iova_alloc() - take a page-aligned range.
 * @s: the space
 * @len: bytes, rounded up to whole pages
 * @iova: where the range starts, on success
 *
 * Return: 0, -EINVAL for len 0, or -ENOSPC when no free range is large enough.
 */
int hy_nvme_iova_alloc(struct hy_nvme_iova_space *s, uint64_t len, uint64_t *iova);

/**
 * hy_nvme_iova_free() - give back a range from hy_nvme_iova_alloc().
 * @s: the space
 * @iova: start of the range
 * @len: the length passed to hy_nvme_iova_alloc()
 *
 * Return: 0, -EINVAL if the range is outside the space or overlaps a free range (a double free),
 * or -ENOSPC if the free list is full (the range is then leaked, not corrupted).
 */
int hy_nvme_iova_free(struct hy_nvme_iova_space *s, uint64_t iova, uint64_t len);

/* Memory the device can reach: a page-aligned, zeroed mapping and the IOVA it is mapped at. */
struct hy_nvme_dma_buf {
	void *vaddr;
	uint64_t iova;
	size_t len;
};

/**
 * hy_nvme_dma_alloc() - allocate zeroed, page-aligned memory and map it for @ctrl's device.
 * @ctrl: the controller whose DMA ops and IOVA window are used
 * @len: bytes, rounded up to whole pages
 * @buf: the buffer, on success
 *
 * The memory is anonymous, populated, and excluded from fork() (MADV_DONTFORK): memory that a
 * forked process must also see is the caller's to create (shared memory) and map with
 * @ctrl->dma->map. Control path only.
 *
 * Return: 0 or -errno (-ENOMEM, -ENOSPC for an exhausted IOVA window, the map error).
 */
int hy_nvme_dma_alloc(struct hy_nvme_ctrl *ctrl, size_t len, struct hy_nvme_dma_buf *buf);

/**
 * hy_nvme_dma_free() - unmap and free a buffer from hy_nvme_dma_alloc(); no-op on a zeroed one.
 * @ctrl: the controller it was allocated for
 * @buf: the buffer; zeroed on return
 */
void hy_nvme_dma_free(struct hy_nvme_ctrl *ctrl, struct hy_nvme_dma_buf *buf);

/* ------------------------------------------------------------------------------------------ */
/* PRPs (nvme/prp.c)                                                                          */

/* PRP entries per list page, and data entries per page when the last one chains to the next. */
#define HY_NVME_PRP_PER_PAGE (HY_NVME_PAGE_SIZE / 8)

/**
 * hy_nvme_prp_check() - can PRPs describe this buffer?
 * @segs: the buffer's pieces, in order
 * @nseg: number of pieces
 *
 * Base 2.0, 4.1.1 "Physical Region Page Entry and List": PRP1 may start at any dword-aligned
 * offset; every later entry addresses a whole page from its start. So the first piece must start
 * dword aligned, every piece but the last must end on a page boundary, and every piece but the
 * first must start on one. Empty pieces are refused.
 *
 * Return: the number of pages the buffer touches (the PRP entry count), or -EINVAL.
 */
int hy_nvme_prp_check(const struct hy_nvme_seg *segs, unsigned nseg);

/**
 * hy_nvme_prp_list_pages() - PRP list pages one command needs for @max_xfer bytes.
 * @max_xfer: largest transfer, bytes
 *
 * A transfer of n bytes starting mid-page touches n / 4096 + 1 pages; all but the first go in
 * the list, 512 to a page, or 511 and a pointer to the next page when the list is chained.
 *
 * Return: pages, at least 1.
 */
unsigned hy_nvme_prp_list_pages(uint32_t max_xfer);

/**
 * hy_nvme_prp_build() - fill PRP1/PRP2 (and a PRP list if needed) for part of a buffer.
 * @segs: the buffer's pieces
 * @nseg: number of pieces
 * @off: byte offset into the buffer where this command's data starts
 * @len: bytes of this command, > 0
 * @sqe: PRP1 and PRP2 are written here
 * @list: @list_pages pre-allocated, page-aligned list pages (virtual address)
 * @list_iova: IOVA of @list
 * @list_pages: how many pages @list has
 *
 * Chains list pages when more than 512 entries are needed (Base 2.0, 4.1.1). Does not allocate
 * and may be called on the I/O path. A window of a layout hy_nvme_prp_check() accepts is accepted
 * when @off is dword aligned.
 *
 * Return: 0, -EINVAL for a layout PRPs cannot express or a window outside the buffer, -E2BIG
 * when the list would need more than @list_pages pages.
 */
int hy_nvme_prp_build(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
		      struct hy_nvme_sqe *sqe, uint64_t *list, uint64_t list_iova,
		      unsigned list_pages);

/* ------------------------------------------------------------------------------------------ */
/* SGLs (nvme/sgl.c)                                                                          */

/* Data Block descriptors one command's list pages can hold: 256 in a page, 255 in a page that
 * chains to the next with a Segment or Last Segment descriptor. */
#define HY_NVME_SGL_MAX_DESCS(list_pages)                                                          \
	((list_pages) ? (unsigned)(list_pages) * (HY_NVME_SGL_PER_PAGE - 1) + 1 : 0)

/**
 * hy_nvme_sgl_check() - can SGLs describe this buffer?
 * @segs: the buffer's pieces, in order
 * @nseg: number of pieces
 * @dword: the controller requires dword alignment and granularity (SGLS bits 1:0 = 10b)
 *
 * Base 2.0, 4.1.2: a Data Block descriptor addresses any byte range, so any layout goes, except
 * that with @dword every piece must start on a dword and be a whole number of dwords long.
 * Empty pieces and pieces that wrap the address space are refused.
 *
 * Return: @nseg (the most Data Block descriptors a command needs), or -EINVAL.
 */
int hy_nvme_sgl_check(const struct hy_nvme_seg *segs, unsigned nseg, bool dword);

/**
 * hy_nvme_sgl_build() - fill SGL1 (and SGL segments if needed) for part of a buffer.
 * @segs: the buffer's pieces
 * @nseg: number of pieces
 * @off: byte offset into the buffer where this command's data starts
 * @len: bytes of this command, > 0
 * @dword: the controller requires dword alignment (SGLS bits 1:0 = 10b)
 * @sqe: PSDT is set to 01b (SGL for data) and SGL1 (DPTR) written here
 * @list: @list_pages pre-allocated, page-aligned pages for SGL segments (virtual address); the
 *	same per-command pages PRP lists use
 * @list_iova: IOVA of @list
 * @list_pages: how many pages @list has
 *
 * One piece in the window: SGL1 is that Data Block. Several: SGL1 is a Last Segment descriptor
 * pointing to a list of Data Blocks in @list; more than 256 chain page to page, the last slot of
 * each full page a Segment (or, before the final page, Last Segment) descriptor. Does not
 * allocate and may be called on the I/O path.
 *
 * Return: 0; -EINVAL for an empty or unaligned piece (with @dword) or a window outside the
 * buffer; -E2BIG when the window has more pieces than HY_NVME_SGL_MAX_DESCS(@list_pages).
 */
int hy_nvme_sgl_build(const struct hy_nvme_seg *segs, unsigned nseg, uint64_t off, uint64_t len,
		      bool dword, struct hy_nvme_sqe *sqe, struct hy_nvme_sgl_desc *list,
		      uint64_t list_iova, unsigned list_pages);

/* ------------------------------------------------------------------------------------------ */
/* Status (nvme/status.c)                                                                      */

/**
 * hy_nvme_status_errno() - what a Status Field means as an errno.
 * @status: the Status Field (CQE status word >> 1; see HY_NVME_STATUS_*)
 *
 * Return: 0 for success, else a negative errno (-EIO when nothing more specific fits).
 */
int hy_nvme_status_errno(uint16_t status);

/**
 * hy_nvme_status_str() - the specification's name for a Status Field ("LBA Out of Range").
 * @status: the Status Field
 *
 * Return: a static string; never NULL.
 */
const char *hy_nvme_status_str(uint16_t status);

/* ------------------------------------------------------------------------------------------ */
/* Queue pairs (nvme/qpair.c)                                                                 */

/* How a command ended. */
struct hy_nvme_cpl {
	int err;	 /* 0, or -errno: from @status, or -ECANCELED from hy_nvme_qpair_reset() */
	uint16_t status; /* the Status Field, 0 when the driver ended the command itself */
	uint32_t dw0;	 /* CQE dword 0 (command specific) */
};

/* Called once per command, from hy_nvme_qpair_poll() or hy_nvme_qpair_reset(). */
typedef void (*hy_nvme_cmd_fn)(void *arg, const struct hy_nvme_cpl *cpl);

/* Where a queue pair's memory is; what the controller owner hands to the queue owner. */
struct hy_nvme_qpair_mem {
	void *sq; /* depth * 64 bytes */
	uint64_t sq_iova;
	void *cq; /* depth * 16 bytes */
	uint64_t cq_iova;
	void *prp; /* (depth - 1) * prp_pages_per_cmd pages of PRP lists or SGL segments */
	uint64_t prp_iova;
};

/* One block of memory holding SQ, CQ and PRP lists, each page aligned. */
struct hy_nvme_qpair_layout {
	size_t sq_off;
	size_t cq_off;
	size_t prp_off;
	size_t size;
	unsigned prp_pages_per_cmd;
};

/**
 * hy_nvme_qpair_layout() - how to lay out a queue pair's memory in one block.
 * @depth: entries per queue
 * @max_xfer: bytes per command (struct hy_nvme_ctrl_info.max_xfer)
 * @l: the layout
 *
 * The block must be page aligned and IOVA-contiguous (CAP.CQR: queues are created physically
 * contiguous); it may be shared memory mapped by another process.
 *
 * Return: 0 or -EINVAL for depth < 2.
 */
int hy_nvme_qpair_layout(uint32_t depth, uint32_t max_xfer, struct hy_nvme_qpair_layout *l);

/* Everything a queue owner needs; plain values, so it can cross a process boundary. */
struct hy_nvme_qpair_cfg {
	volatile void *bar0; /* the owner's mapping of BAR0 */
	uint32_t dstrd;	     /* CAP.DSTRD */
	uint16_t qid;
	uint16_t depth;	     /* entries in each queue, as created */
	uint32_t max_xfer;   /* bytes per command */
	uint32_t timeout_ms; /* per command, for hy_nvme_qpair_check_timeouts(); 0 = never */
	bool sgl;	     /* the controller takes SGLs for I/O commands (info.sgl) */
	bool sgl_dword;	     /* ... with dword-aligned Data Blocks only (info.sgl_dword) */
	struct hy_nvme_qpair_mem mem;
};

struct hy_nvme_qpair_stats {
	uint64_t submitted;    /* commands placed in the SQ */
	uint64_t completed;    /* CQEs consumed */
	uint64_t sq_doorbells; /* SQ tail doorbell writes */
	uint64_t cq_doorbells; /* CQ head doorbell writes */
	uint64_t split;	       /* requests split into several commands */
	uint64_t timeouts;     /* commands reported by hy_nvme_qpair_check_timeouts() */
	uint64_t bad_cqes;     /* CQEs naming no outstanding command (ignored) */
};

struct hy_nvme_tracker;

/* An I/O (or the admin) queue pair. Fields are the driver's; read stats freely. */
struct hy_nvme_qpair {
	struct hy_nvme_sqe *sq;
	struct hy_nvme_cqe *cq; /* written by the device: read the status word as volatile */
	volatile uint32_t *sq_db;
	volatile uint32_t *cq_db;
	uint16_t qid;
	uint16_t depth;
	uint16_t sq_tail;    /* next SQ slot we fill */
	uint16_t sq_db_tail; /* tail as last written to the doorbell */
	uint16_t sq_head;    /* SQHD from the latest CQE */
	uint16_t cq_head;
	uint8_t phase;	/* Phase Tag value that marks a new CQE */
	bool polling;	/* inside hy_nvme_qpair_poll(): it is not re-entrant */
	bool resetting; /* inside hy_nvme_qpair_reset(): submissions are refused */

	struct hy_nvme_tracker *trk; /* depth - 1 command slots; cid = index */
	uint16_t ntrk;
	uint16_t nfree;
	uint16_t free_head;

	uint64_t *prp_pool; /* prp_pages_per_cmd pages per tracker */
	uint64_t prp_pool_iova;
	unsigned prp_pages_per_cmd; /* list pages per command, for PRP lists or SGL segments */
	uint32_t max_xfer;
	uint64_t timeout_ns;
	bool sgl;	/* layouts PRPs cannot express go as SGLs */
	bool sgl_dword; /* SGL Data Blocks must be dword aligned */

	struct hy_nvme_qpair_stats stats;
	struct hy_nvme_dma_buf owned; /* memory from hy_nvme_qpair_create(), else zero */
};

/**
 * hy_nvme_qpair_init() - attach to a queue pair whose queues the controller owner created.
 * @qp: the queue pair
 * @cfg: where BAR0 and the queue memory are, and the queue's parameters
 *
 * Zeroes the CQ (so no stale Phase Tag is taken for a completion) and allocates the command
 * trackers. Call before the queues are created on the controller, or after hy_nvme_qpair_reset(),
 * never while the controller may post to the CQ. Control path.
 *
 * Return: 0, -EINVAL for bad parameters, -ENOMEM.
 */
int hy_nvme_qpair_init(struct hy_nvme_qpair *qp, const struct hy_nvme_qpair_cfg *cfg);

/**
 * hy_nvme_qpair_fini() - free the trackers. Outstanding commands are dropped without callbacks:
 * call hy_nvme_qpair_reset() first if anyone waits for them.
 * @qp: the queue pair
 */
void hy_nvme_qpair_fini(struct hy_nvme_qpair *qp);

/**
 * hy_nvme_qpair_submit() - queue one command; the doorbell is rung later, once per batch.
 * @qp: the queue pair
 * @sqe: the command; the driver sets its CID (and nothing else)
 * @cb: called once when the command ends
 * @arg: passed to @cb
 *
 * The command reaches the controller at the next hy_nvme_qpair_ring_doorbell() or
 * hy_nvme_qpair_poll(). May be called from a completion callback.
 *
 * Return: the command's CID (>= 0; what hy_nvme_ctrl_abort() takes), or -EAGAIN when all
 * command slots are in use (poll, then retry).
 */
int hy_nvme_qpair_submit(struct hy_nvme_qpair *qp, const struct hy_nvme_sqe *sqe, hy_nvme_cmd_fn cb,
			 void *arg);

/* A namespace as the I/O helpers need it (hy_nvme_ctrl_identify_ns()). Plain values. */
struct hy_nvme_ns {
	uint32_t nsid;
	uint32_t lba_shift;  /* log2 of the block size */
	uint64_t nsze;	     /* blocks */
	uint32_t max_blocks; /* blocks per Read/Write command (MDTS and the 16-bit NLB) */
	uint8_t dlfeat;	     /* what reading deallocated blocks returns (NVM 1.0) */
	bool dsm;	     /* Dataset Management (deallocate) supported */
	bool write_zeroes;   /* Write Zeroes supported */
	bool vwc;	     /* a volatile write cache is present: Flush means something */
};

/**
 * hy_nvme_qpair_read() - queue a Read of @nlb blocks into @segs.
 * @qp: the queue pair
 * @ns: the namespace
 * @slba: first block
 * @nlb: number of blocks (1-based here; the command carries it 0's based)
 * @segs: buffer pieces as IOVAs; their lengths add up to @nlb blocks
 * @nseg: number of pieces
 * @flags: 0 or HY_NVME_RW_FUA
 * @cb: called once, when every command of the request has ended
 * @arg: passed to @cb
 *
 * A request larger than @ns->max_blocks is split into several commands that complete as one
 * (the first error wins). All commands are queued or none is. No allocation. A layout that
 * hy_nvme_prp_check() accepts goes as PRPs; any other as SGLs when the queue pair has them
 * (@qp->sgl; see hy_nvme_qpair_seg_check()).
 *
 * Return: 0; -EINVAL for a bad range or a layout this queue pair cannot express (neither PRPs
 * nor, if it has them, SGLs: split or bounce it); -EAGAIN when not enough command slots are free
 * now; -E2BIG when the request needs more commands than the queue can ever hold, or a command
 * more SGL descriptors than its list pages hold.
 */
int hy_nvme_qpair_read(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint64_t slba,
		       uint32_t nlb, const struct hy_nvme_seg *segs, unsigned nseg, uint32_t flags,
		       hy_nvme_cmd_fn cb, void *arg);

/**
 * hy_nvme_qpair_seg_check() - how would this queue pair transfer a buffer of this layout?
 * @qp: the queue pair
 * @segs: the buffer's pieces, in order
 * @nseg: number of pieces
 *
 * What hy_nvme_qpair_read() and hy_nvme_qpair_write() decide, for a caller that wants to know
 * before it builds the request (whether to bounce it). No allocation.
 *
 * Return: 0 for PRPs (hy_nvme_prp_check()), 1 for SGLs (the queue pair has them and every
 * command's window fits its list pages), -EINVAL when neither can describe it.
 */
int hy_nvme_qpair_seg_check(const struct hy_nvme_qpair *qp, const struct hy_nvme_seg *segs,
			    unsigned nseg);

/** hy_nvme_qpair_write() - queue a Write; as hy_nvme_qpair_read(). */
int hy_nvme_qpair_write(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint64_t slba,
			uint32_t nlb, const struct hy_nvme_seg *segs, unsigned nseg, uint32_t flags,
			hy_nvme_cmd_fn cb, void *arg);

/**
 * hy_nvme_qpair_flush() - queue a Flush of @nsid's volatile write cache.
 * @qp: the queue pair
 * @nsid: namespace
 * @cb: completion
 * @arg: passed to @cb
 *
 * Return: 0 or -EAGAIN.
 */
int hy_nvme_qpair_flush(struct hy_nvme_qpair *qp, uint32_t nsid, hy_nvme_cmd_fn cb, void *arg);

/**
 * hy_nvme_qpair_write_zeroes() - queue Write Zeroes of @nlb blocks, split by 65536 blocks.
 * @qp: the queue pair
 * @ns: the namespace (must have write_zeroes)
 * @slba: first block
 * @nlb: number of blocks, 1-based
 * @flags: HY_NVME_WZ_DEAC (the controller may deallocate) and/or HY_NVME_RW_FUA
 * @cb: completion, once for the whole range
 * @arg: passed to @cb
 *
 * Return: as hy_nvme_qpair_read(); -EOPNOTSUPP if the namespace has no Write Zeroes.
 */
int hy_nvme_qpair_write_zeroes(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns, uint64_t slba,
			       uint64_t nlb, uint32_t flags, hy_nvme_cmd_fn cb, void *arg);

/**
 * hy_nvme_qpair_deallocate() - queue a Dataset Management command with the Deallocate attribute.
 * @qp: the queue pair
 * @ns: the namespace (must have dsm)
 * @ranges: up to HY_NVME_DSM_MAX_RANGES ranges; copied into the command's own DMA page
 * @nr: number of ranges, >= 1
 * @cb: completion
 * @arg: passed to @cb
 *
 * Return: 0, -EINVAL (bad count or range), -EOPNOTSUPP, -EAGAIN.
 */
int hy_nvme_qpair_deallocate(struct hy_nvme_qpair *qp, const struct hy_nvme_ns *ns,
			     const struct hy_nvme_dsm_range *ranges, unsigned nr, hy_nvme_cmd_fn cb,
			     void *arg);

/**
 * hy_nvme_qpair_ring_doorbell() - tell the controller about every command queued so far.
 * @qp: the queue pair
 *
 * One MMIO write per batch, none if nothing was queued. Starts the commands' timeout clocks.
 */
void hy_nvme_qpair_ring_doorbell(struct hy_nvme_qpair *qp);

/**
 * hy_nvme_qpair_poll() - ring the SQ doorbell if needed, then reap completions.
 * @qp: the queue pair
 * @max: reap at most this many CQEs; 0 = as many as there are
 *
 * Calls each finished request's callback, then writes the CQ head doorbell once. Not re-entrant:
 * a callback may submit but not poll.
 *
 * Return: CQEs consumed, or -EBUSY when called from a callback.
 */
int hy_nvme_qpair_poll(struct hy_nvme_qpair *qp, unsigned max);

/**
 * hy_nvme_qpair_check_timeouts() - find commands outstanding for longer than the timeout.
 * @qp: the queue pair
 * @cids: the CIDs found, for hy_nvme_ctrl_abort()
 * @max: room in @cids
 *
 * Each command is reported once. Its request stays outstanding: the owner asks the controller
 * owner to abort it (it then completes with an error) and, when that fails, to reset the
 * controller (README-nvme.md, "Timeouts and reset"). Call about once a second, not per I/O.
 *
 * Return: how many CIDs were stored.
 */
int hy_nvme_qpair_check_timeouts(struct hy_nvme_qpair *qp, uint16_t *cids, unsigned max);

/**
 * hy_nvme_qpair_reset() - end every outstanding request with @err and rewind the queues.
 * @qp: the queue pair
 * @err: what the callbacks see, usually -ECANCELED
 *
 * Only once the controller can no longer touch the queues: after hy_nvme_ctrl_reset() or after
 * the queue pair was deleted. Leaves the queue pair as hy_nvme_qpair_init() did, ready for the
 * controller owner to create its queues again.
 */
void hy_nvme_qpair_reset(struct hy_nvme_qpair *qp, int err);

/**
 * hy_nvme_qpair_abandon() - forget the caller of an outstanding command.
 * @qp: the queue pair
 * @cid: the command
 *
 * The command keeps its slot until its CQE arrives (or hy_nvme_qpair_reset()), so a late CQE can
 * never be taken for a newer command, but its callback is not called. For synchronous callers
 * that give up waiting (admin command timeouts).
 *
 * Return: 0, or -ENOENT if @cid is not outstanding.
 */
int hy_nvme_qpair_abandon(struct hy_nvme_qpair *qp, uint16_t cid);

/** hy_nvme_qpair_free_slots() - commands that can be submitted right now. */
unsigned hy_nvme_qpair_free_slots(const struct hy_nvme_qpair *qp);

/* ------------------------------------------------------------------------------------------ */
/* Controller (nvme/ctrl.c)                                                                   */

struct hy_nvme_ctrl_opts {
	uint16_t admin_depth;	   /* admin queue entries; 0 = 32 */
	uint16_t io_queues;	   /* I/O queue pairs to ask for; 0 = 64 */
	uint32_t admin_timeout_ms; /* per admin command; 0 = 5000 */
	uint32_t io_timeout_ms;	   /* default per I/O command; 0 = 30000 */
	uint32_t ready_timeout_ms; /* CSTS.RDY waits; 0 = CAP.TO * 500 ms */
	uint32_t max_xfer;	   /* cap on bytes per command; 0 = 2 MiB */
	uint64_t iova_base;	   /* driver IOVA window; 0 = HY_NVME_IOVA_DRIVER_BASE/SIZE */
	uint64_t iova_size;
};

/* What Identify Controller and CAP said, digested. */
struct hy_nvme_ctrl_info {
	uint16_t vid;
	uint16_t ssvid;
	char sn[21]; /* NUL-terminated, trailing spaces removed */
	char mn[41];
	char fr[9];
	uint32_t ver;
	uint8_t mdts;
	uint32_t max_xfer; /* bytes per command: MDTS, capped by opts.max_xfer */
	uint16_t oncs;
	uint8_t vwc;
	uint32_t sgls;	/* SGLS as reported */
	bool sgl;	/* SGLs for the NVM command set (SGLS bits 1:0 01b or 10b) */
	bool sgl_dword; /* ... Data Blocks dword aligned, lengths in dwords (10b) */
	uint32_t nn;
	uint8_t acl;  /* concurrent Abort commands, 0's based */
	uint8_t elpe; /* error log entries, 0's based */
	uint32_t rtd3e;
	uint32_t mqes;	    /* entries per queue, CAP.MQES + 1 */
	uint16_t io_queues; /* I/O queue pairs granted (Set Features, Number of Queues) */
};

struct hy_nvme_ctrl {
	char name[32]; /* for messages: the PCI address */
	volatile uint8_t *bar0;
	size_t bar0_len;
	const struct hy_nvme_dma_ops *dma;
	void *dma_priv;
	struct hy_nvme_iova_space iova;
	struct hy_nvme_ctrl_opts opts;

	uint64_t cap;
	uint32_t vs;
	uint32_t ready_timeout_ms;

	struct hy_nvme_qpair adminq;
	struct hy_nvme_dma_buf admin_mem; /* ASQ, ACQ, admin PRP lists */
	struct hy_nvme_dma_buf scratch;	  /* one page for Identify and log pages */
	struct hy_nvme_ctrl_info info;

	uint32_t generation; /* bumped by each reset: I/O queues from before are gone */
	bool enabled;
	bool failed; /* CSTS.CFS seen or an admin command timed out: reset needed */
};

struct hy_nvme_ctrl_cfg {
	const char *name;
	volatile void *bar0;
	size_t bar0_len;
	const struct hy_nvme_dma_ops *dma;
	void *dma_priv;
	struct hy_nvme_ctrl_opts opts;
};

/**
 * hy_nvme_ctrl_init() - bring a controller up: disable, admin queue, enable, Identify, queues.
 * @ctrl: the controller (caller's storage)
 * @cfg: BAR0, DMA ops and options
 *
 * Base 2.0, 3.5.1 "Memory-based Controller Initialization". Every wait is bounded: CSTS.RDY by
 * CAP.TO (or opts.ready_timeout_ms), admin commands by opts.admin_timeout_ms.
 *
 * Return: 0; -ETIMEDOUT when the controller never becomes ready; -EIO on CSTS.CFS;
 * -EOPNOTSUPP when the controller lacks something Hydra needs (NVM command set, 4 KiB pages,
 * 64/16-byte queue entries); other -errno from memory or admin commands. Each failure is logged.
 */
int hy_nvme_ctrl_init(struct hy_nvme_ctrl *ctrl, const struct hy_nvme_ctrl_cfg *cfg);

/**
 * hy_nvme_ctrl_fini() - shut the controller down (CC.SHN, bounded) and free its memory.
 * @ctrl: the controller; its I/O queues should have been deleted.
 */
void hy_nvme_ctrl_fini(struct hy_nvme_ctrl *ctrl);

/**
 * hy_nvme_ctrl_reset() - Controller Level Reset and a new admin queue (Base 2.0, 3.7.2).
 * @ctrl: the controller
 *
 * Disables the controller (CC.EN = 0; a function reset through the DMA ops if it does not obey
 * in time), rebuilds the admin queue, enables it and asks for the same number of I/O queues.
 * Outstanding admin commands end with -ECANCELED. Every I/O queue is gone afterwards: each owner
 * calls hy_nvme_qpair_reset() and the controller owner hy_nvme_ctrl_create_ioq() again
 * (README-nvme.md). Bumps @ctrl->generation.
 *
 * Return: 0 or as hy_nvme_ctrl_init().
 */
int hy_nvme_ctrl_reset(struct hy_nvme_ctrl *ctrl);

/**
 * hy_nvme_ctrl_check() - is the controller healthy? One CSTS read.
 * @ctrl: the controller
 *
 * Return: 0; -EIO when CSTS.CFS is set, CSTS reads all ones (device gone) or the controller is
 * not ready; -ETIMEDOUT if an admin command timed out since the last reset.
 */
int hy_nvme_ctrl_check(struct hy_nvme_ctrl *ctrl);

/**
 * hy_nvme_ctrl_admin() - run one admin command and wait for it (bounded).
 * @ctrl: the controller
 * @sqe: the command; PRP1/PRP2 are set by the driver when @len > 0
 * @buf: data to send or receive through the driver's scratch page, or NULL
 * @len: bytes of @buf, at most 4096
 * @to_dev: true to send @buf to the controller, false to receive into it
 * @cpl: how it ended (may be NULL)
 *
 * Return: 0, the command's -errno (details in @cpl), -ETIMEDOUT (the controller is then marked
 * failed: reset it), -EIO when the controller is failed.
 */
int hy_nvme_ctrl_admin(struct hy_nvme_ctrl *ctrl, struct hy_nvme_sqe *sqe, void *buf, size_t len,
		       bool to_dev, struct hy_nvme_cpl *cpl);

/** hy_nvme_ctrl_identify_ctrl() - Identify Controller (CNS 01h) into @id. Return: 0 or -errno. */
int hy_nvme_ctrl_identify_ctrl(struct hy_nvme_ctrl *ctrl, struct hy_nvme_id_ctrl *id);

/**
 * hy_nvme_ctrl_identify_ns() - Identify Namespace (CNS 00h) and digest it.
 * @ctrl: the controller
 * @nsid: namespace
 * @ns: the result
 *
 * Return: 0; -ENODEV for an inactive namespace; -EOPNOTSUPP for a format Hydra cannot use
 * (metadata, or a block size outside 512 B..64 KiB), with a message naming the fix; -errno.
 */
int hy_nvme_ctrl_identify_ns(struct hy_nvme_ctrl *ctrl, uint32_t nsid, struct hy_nvme_ns *ns);

/**
 * hy_nvme_ns_parse() - digest an Identify Namespace structure (what hy_nvme_ctrl_identify_ns()
 * does after the command).
 * @id: the structure
 * @info: the controller's info (MDTS, ONCS, VWC)
 * @nsid: its namespace ID
 * @ns: the result
 *
 * Return: as hy_nvme_ctrl_identify_ns().
 */
int hy_nvme_ns_parse(const struct hy_nvme_id_ns *id, const struct hy_nvme_ctrl_info *info,
		     uint32_t nsid, struct hy_nvme_ns *ns);

/**
 * hy_nvme_ctrl_info_parse() - digest CAP and Identify Controller.
 * @cap: CAP
 * @id: Identify Controller
 * @max_xfer_cap: upper bound on bytes per command (0 = 2 MiB)
 * @info: filled in, mqes from @cap; io_queues (Set Features) is left alone
 *
 * Return: 0, or -EOPNOTSUPP when SQES/CQES do not allow 64/16-byte entries.
 */
int hy_nvme_ctrl_info_parse(uint64_t cap, const struct hy_nvme_id_ctrl *id, uint32_t max_xfer_cap,
			    struct hy_nvme_ctrl_info *info);

/**
 * hy_nvme_ctrl_active_ns() - list active namespaces (CNS 02h), ascending.
 * @ctrl: the controller
 * @nsids: output
 * @max: room in @nsids
 *
 * Return: how many were stored, or -errno.
 */
int hy_nvme_ctrl_active_ns(struct hy_nvme_ctrl *ctrl, uint32_t *nsids, unsigned max);

/* An I/O queue pair to create: both queues have @depth entries and are physically contiguous. */
struct hy_nvme_ioq_desc {
	uint16_t qid; /* 1 .. info.io_queues */
	uint16_t depth;
	uint64_t sq_iova;
	uint64_t cq_iova;
	bool ien;    /* interrupts enabled on the CQ */
	uint16_t iv; /* MSI-X vector when @ien */
};

/**
 * hy_nvme_ctrl_create_ioq() - Create I/O Completion Queue, then Create I/O Submission Queue.
 * @ctrl: the controller
 * @d: the queue pair
 *
 * Base 2.0, 5.4 and 5.5. The queue owner must have run hy_nvme_qpair_init() (or
 * hy_nvme_qpair_reset()) on the memory first, so the CQ holds no stale Phase Tags.
 *
 * Return: 0 or -errno (the CQ is deleted again if the SQ cannot be created).
 */
int hy_nvme_ctrl_create_ioq(struct hy_nvme_ctrl *ctrl, const struct hy_nvme_ioq_desc *d);

/**
 * hy_nvme_ctrl_delete_ioq() - Delete I/O Submission Queue, then its Completion Queue.
 * @ctrl: the controller
 * @qid: the queue pair
 *
 * Commands still in the SQ end with "Command Aborted due to SQ Deletion" (Base 2.0, 5.7); the
 * queue owner must reap them or hy_nvme_qpair_reset() afterwards.
 *
 * Return: 0 or -errno.
 */
int hy_nvme_ctrl_delete_ioq(struct hy_nvme_ctrl *ctrl, uint16_t qid);

/**
 * hy_nvme_ctrl_abort() - ask the controller to abort one command (Base 2.0, 5.1).
 * @ctrl: the controller
 * @sqid: the queue the command was submitted to
 * @cid: its CID
 *
 * Best effort: the command, if aborted, completes on its own queue with "Command Abort
 * Requested".
 *
 * Return: 0 if the controller says it aborted the command, 1 if it did not (reset next), -EBUSY
 * when too many aborts are outstanding, -errno.
 */
int hy_nvme_ctrl_abort(struct hy_nvme_ctrl *ctrl, uint16_t sqid, uint16_t cid);

/**
 * hy_nvme_ctrl_get_log() - Get Log Page into @buf (Base 2.0, 5.16).
 * @ctrl: the controller
 * @lid: log page identifier
 * @nsid: namespace, or 0xffffffff for the controller
 * @buf: output
 * @len: bytes, a multiple of 4, at most 4096
 *
 * Return: 0 or -errno.
 */
int hy_nvme_ctrl_get_log(struct hy_nvme_ctrl *ctrl, uint8_t lid, uint32_t nsid, void *buf,
			 size_t len);

/**
 * hy_nvme_ctrl_error_log() - the newest error log entries.
 * @ctrl: the controller
 * @e: output
 * @n: room in @e
 *
 * Return: entries stored (at most ELPE + 1 and 64), or -errno.
 */
int hy_nvme_ctrl_error_log(struct hy_nvme_ctrl *ctrl, struct hy_nvme_error_log *e, unsigned n);

/** hy_nvme_ctrl_smart_log() - SMART / Health Information for the controller. Return: 0/-errno. */
int hy_nvme_ctrl_smart_log(struct hy_nvme_ctrl *ctrl, struct hy_nvme_smart_log *s);

/**
 * hy_nvme_ctrl_qpair_cfg() - the queue owner's configuration for queue pair @qid.
 * @ctrl: the controller
 * @qid: queue pair
 * @depth: entries per queue
 * @mem: its memory (hy_nvme_qpair_layout())
 * @cfg: filled in; bar0 is the controller owner's mapping, replace it in another process. The
 *	SGL flags follow info.sgl and info.sgl_dword.
 */
void hy_nvme_ctrl_qpair_cfg(const struct hy_nvme_ctrl *ctrl, uint16_t qid, uint16_t depth,
			    const struct hy_nvme_qpair_mem *mem, struct hy_nvme_qpair_cfg *cfg);

/**
 * hy_nvme_qpair_create() - allocate memory for, create and attach an I/O queue pair in one go,
 * for a controller owner that also does the I/O.
 * @ctrl: the controller
 * @qid: 1 .. info.io_queues
 * @depth: entries per queue, 2 .. info.mqes
 * @qp: the queue pair
 *
 * Return: 0 or -errno.
 */
int hy_nvme_qpair_create(struct hy_nvme_ctrl *ctrl, uint16_t qid, uint16_t depth,
			 struct hy_nvme_qpair *qp);

/**
 * hy_nvme_qpair_destroy() - delete the queues, end what is outstanding with -ECANCELED, free.
 * @ctrl: the controller
 * @qp: a queue pair from hy_nvme_qpair_create()
 *
 * Return: 0, or the Delete command's -errno (memory is freed anyway).
 */
int hy_nvme_qpair_destroy(struct hy_nvme_ctrl *ctrl, struct hy_nvme_qpair *qp);

#endif
