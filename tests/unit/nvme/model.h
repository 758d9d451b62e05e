/* SPDX-License-Identifier: MIT */
/*
 * A software NVMe controller for the nvme/ unit tests.
 *
 * BAR0 is plain memory; the driver's register accesses reach the model through the
 * HY_NVME_MMIO_HOOK seam in nvme/mmio.h (the tests #include the driver's .c files with it
 * defined). The model reacts to CC.EN and CC.SHN, and when a doorbell is written it fetches SQEs
 * from "host memory" through its own IOVA table (what the driver mapped with model_dma_ops),
 * executes them against RAM-backed namespaces, walks PRPs and SGLs by the specification, and
 * posts CQEs with the Phase Tag. Knobs make it misbehave: never ready, fatal status, dropped
 * commands, forced status codes, aborts that fail, bogus CQEs.
 *
 * It also checks the driver: anything that breaks the NVMe protocol (a doorbell beyond the
 * queue, a CQ head past what was posted, a PRP entry with an offset, a reserved PRP2 that is not
 * zero, an SGL the controller did not advertise or that breaks the SGL rules, register writes
 * while enabled...) bumps model.errors and records the first message.
 * Tests assert that it stays 0.
 */
#ifndef HY_TEST_NVME_MODEL_H
#define HY_TEST_NVME_MODEL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/nvme.h"

#define MODEL_BAR_SIZE	 0x2000
#define MODEL_MAX_QUEUES 16 /* qid 0 .. 15 */
#define MODEL_MAX_MAPS	 256
#define MODEL_MAX_NS	 4
#define MODEL_LOG	 4096
#define MODEL_MAX_DROP	 64
#define MODEL_MAX_ACTIVE 3000
#define MODEL_XFER	 8192

struct model_queue {
	bool exists;
	uint64_t iova;
	uint16_t size;
	uint16_t head; /* SQ: next entry to fetch; CQ: host's head doorbell */
	uint16_t tail; /* SQ: host's tail doorbell; CQ: next entry to post */
	uint16_t cqid; /* SQ only */
	uint8_t phase; /* CQ only */
	bool ien;
	uint16_t iv;
};

struct model_ns {
	uint64_t nsze;	/* blocks */
	unsigned lbads; /* log2 block size */
	uint16_t ms;	/* metadata bytes per block (formats Hydra must refuse) */
	uint8_t *data;	/* nsze << lbads bytes */
};

struct model_map {
	uint64_t iova;
	size_t len;
	uint8_t *vaddr;
};

struct model {
	alignas(4096) uint8_t bar[MODEL_BAR_SIZE];

	/* What the controller is. Tests may change these before hy_nvme_ctrl_init(). */
	uint64_t cap;
	uint32_t vs;
	/*
	 * Identify Controller as returned. idc.sgls bits 1:0 are the SGL knob: 0 (default) no
	 * SGLs, any PSDT 01b command is a violation; HY_NVME_SGLS_SUPPORTED SGLs of any alignment;
	 * HY_NVME_SGLS_DWORD_ALIGN SGLs whose Data Blocks must be dword aligned and sized.
	 */
	struct hy_nvme_id_ctrl idc;
	struct model_ns ns[MODEL_MAX_NS];
	unsigned nns;			   /* NSIDs 1 .. nns are backed by RAM */
	uint32_t active[MODEL_MAX_ACTIVE]; /* what CNS 02h reports, ascending */
	unsigned nactive;
	uint16_t max_io_queues; /* Number of Queues granted at most */

	/* Misbehaviour. */
	bool auto_process;	    /* process an SQ when its doorbell is written (default) */
	bool never_ready;	    /* CSTS.RDY never follows CC.EN = 1 */
	bool never_disable;	    /* CSTS.RDY never follows CC.EN = 0 (until function reset) */
	bool cfs_on_enable;	    /* CSTS.CFS instead of RDY */
	bool cfs;		    /* CSTS.CFS now; cleared by CC.EN = 0 */
	unsigned ready_delay_reads; /* CSTS reads before RDY follows EN */
	unsigned drop_io;	    /* swallow the next N I/O commands (no CQE) */
	unsigned drop_admin;	    /* swallow the next N admin commands */
	bool abort_fails;	    /* Abort answers "not aborted" */
	unsigned force_count;	    /* complete the next N I/O commands with force_status */
	unsigned force_skip;	    /* ... after letting this many through */
	uint16_t force_status;
	uint16_t force_status2; /* for the second and later ones, if set */
	unsigned bogus_cqes;	/* post N CQEs with an unknown CID along the next I/O */

	/* State. */
	uint32_t cc;
	uint32_t csts;
	uint32_t aqa;
	uint64_t asq;
	uint64_t acq;
	unsigned csts_reads;
	bool nq_set;
	uint16_t nq_granted;
	struct model_queue sq[MODEL_MAX_QUEUES];
	struct model_queue cq[MODEL_MAX_QUEUES];
	struct model_map map[MODEL_MAX_MAPS];
	unsigned nmap;
	struct {
		uint16_t sqid;
		uint16_t cid;
	} dropped[MODEL_MAX_DROP];
	unsigned ndropped;

	/* What the driver did. */
	unsigned sq_db_writes[MODEL_MAX_QUEUES];
	unsigned cq_db_writes[MODEL_MAX_QUEUES];
	unsigned enables, disables, shutdowns, function_resets;
	unsigned admin_cmds, io_cmds, flushes, dma_faults;
	struct hy_nvme_sqe log[MODEL_LOG]; /* every SQE fetched, in order (first MODEL_LOG) */
	uint16_t log_sqid[MODEL_LOG];
	unsigned nlog;
	unsigned sgl_cmds;		     /* commands that moved data by SGL */
	unsigned sgl_segments;		     /* SGL segments walked (lists, not SGL1) */
	struct hy_nvme_seg xfer[MODEL_XFER]; /* every host piece a Read/Write moved (first N) */
	unsigned nxfer;
	struct hy_nvme_dsm_range last_dsm[HY_NVME_DSM_MAX_RANGES];
	unsigned last_dsm_nr;
	unsigned errors; /* protocol violations by the driver */
	char error[256]; /* the first one */
};

/* The model the MMIO hooks talk to. */
extern struct model *model_cur;

/* DMA ops: map/unmap add to and remove from the model's IOVA table; function_reset = FLR. */
extern const struct hy_nvme_dma_ops model_dma_ops;

/* A controller like QEMU 7.2's: MQES 2047, TO 1 (500 ms), DSTRD 0, MDTS 7, NVMe 1.4, ONCS with
 * DSM and Write Zeroes, VWC, one 8 MiB namespace of 512-byte blocks. Becomes model_cur. */
struct model *model_new(void);
void model_free(struct model *m);

/* Add a RAM namespace (NSID nns + 1); it also becomes active. Returns the NSID. */
uint32_t model_ns_add(struct model *m, uint64_t nsze, unsigned lbads, uint16_t ms);

/* Process every SQ entry the doorbells have announced (when auto_process is off). */
void model_step(struct model *m);

/* Complete every swallowed command now, successfully (a controller that was only slow). */
void model_complete_dropped(struct model *m);

/* Fill the platform part of a controller configuration. */
void model_ctrl_cfg(struct model *m, struct hy_nvme_ctrl_cfg *cfg);

/* Host memory at [iova, iova + len), or NULL when that is not mapped. */
void *model_iova(struct model *m, uint64_t iova, size_t len);

/*
 * The specification's PRP walk (Base 2.0, 4.1.1), written independently of nvme/prp.c: the
 * pages that PRP1/PRP2 describe for a transfer of @len bytes, as (iova, len) pieces. PRP list
 * pages are read through the IOVA table. Return: pieces, or -1 with m->error set (and
 * m->errors bumped) for a rule the driver broke, -2 for a list page that is not mapped.
 */
int model_prp_walk(struct model *m, uint64_t prp1, uint64_t prp2, uint64_t len,
		   struct hy_nvme_seg *out, unsigned max);

/*
 * The specification's SGL walk (Base 2.0, 4.1.2), written independently of nvme/sgl.c: SGL1 and
 * the Segment / Last Segment chain it starts, read through the IOVA table, as the Data Blocks'
 * (iova, len) pieces. Checks what a controller that reports idc.sgls would: descriptor types and
 * sub types, reserved bytes, segment lengths and alignment, pointers only in a segment's last
 * slot and never in the Last Segment, dword alignment for SGLS 10b, and that the Data Blocks add
 * up to exactly @len. Return: pieces; -1 with m->error set, m->errors bumped and *@status the
 * Status Field a controller would give; -2 for a segment that is not mapped.
 */
int model_sgl_walk(struct model *m, const struct hy_nvme_sgl_desc *sgl1, uint64_t len,
		   struct hy_nvme_seg *out, unsigned max, uint16_t *status);

/* Record a protocol violation. */
void model_violation(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
