/* SPDX-License-Identifier: MIT */
/*
 * NVMe structures and constants, as the specifications name them.
 *
 *   Base:  NVM Express Base Specification, Revision 2.0 (registers, queues, admin commands)
 *   PCIe:  NVM Express NVMe over PCIe Transport Specification, Revision 1.0 (doorbells, PCI header)
 *   NVM:   NVM Express NVM Command Set Specification, Revision 1.0 (Read, Write, DSM, ...)
 *
 * Only what Hydra's driver uses is spelled out; everything else is a reserved array so that the
 * offsets asserted below hold. Everything here is little-endian on the wire (Base 2.0, 1.4.2); so
 * is every host Hydra builds for, and the assertion below keeps it that way.
 */
#ifndef HY_NVME_SPEC_H
#define HY_NVME_SPEC_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nvme/: NVMe data structures are little-endian; add byte swapping before porting"
#endif

/* Memory page size: CC.MPS = 0 selects 2^(12 + 0) = 4 KiB (Base 2.0, 3.1.3.5). */
#define HY_NVME_PAGE_SHIFT 12
#define HY_NVME_PAGE_SIZE  (1u << HY_NVME_PAGE_SHIFT)

/* Controller properties (Base 2.0, 3.1.3 "Controller Properties"). */
#define HY_NVME_REG_CAP	  0x00 /* Controller Capabilities, 64 bits */
#define HY_NVME_REG_VS	  0x08 /* Version */
#define HY_NVME_REG_INTMS 0x0c /* Interrupt Mask Set */
#define HY_NVME_REG_INTMC 0x10 /* Interrupt Mask Clear */
#define HY_NVME_REG_CC	  0x14 /* Controller Configuration */
#define HY_NVME_REG_CSTS  0x1c /* Controller Status */
#define HY_NVME_REG_NSSR  0x20 /* NVM Subsystem Reset */
#define HY_NVME_REG_AQA	  0x24 /* Admin Queue Attributes */
#define HY_NVME_REG_ASQ	  0x28 /* Admin Submission Queue Base Address, 64 bits */
#define HY_NVME_REG_ACQ	  0x30 /* Admin Completion Queue Base Address, 64 bits */
/*
 * PCIe 1.0, 3.1.2 "Submission Queue y Tail Doorbell" / "Completion Queue y Head Doorbell":
 * SQyTDBL at 1000h + (2y * (4 << CAP.DSTRD)), CQyHDBL at 1000h + ((2y + 1) * (4 << CAP.DSTRD)).
 */
#define HY_NVME_REG_DBS 0x1000

/* CAP (Base 2.0, 3.1.3.1). */
#define HY_NVME_CAP_MQES(cap)	((uint32_t)((cap)&0xffff))	   /* 0's based */
#define HY_NVME_CAP_CQR(cap)	((uint32_t)(((cap) >> 16) & 0x1))  /* contiguous queues required */
#define HY_NVME_CAP_TO(cap)	((uint32_t)(((cap) >> 24) & 0xff)) /* 500 ms units */
#define HY_NVME_CAP_DSTRD(cap)	((uint32_t)(((cap) >> 32) & 0xf))
#define HY_NVME_CAP_NSSRS(cap)	((uint32_t)(((cap) >> 36) & 0x1))
#define HY_NVME_CAP_CSS(cap)	((uint32_t)(((cap) >> 37) & 0xff))
#define HY_NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))
#define HY_NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))
#define HY_NVME_CAP_CSS_NVM	(1u << 0) /* NVM Command Set */
#define HY_NVME_CAP_CSS_IOCS	(1u << 6) /* one or more I/O Command Sets */
#define HY_NVME_CAP_CSS_NOIO	(1u << 7) /* no I/O Command Set (admin only) */

/* CC (Base 2.0, 3.1.3.5). */
#define HY_NVME_CC_EN		(1u << 0)
#define HY_NVME_CC_CSS_SHIFT	4
#define HY_NVME_CC_CSS_NVM	(0u << 4)
#define HY_NVME_CC_MPS_SHIFT	7
#define HY_NVME_CC_AMS_SHIFT	11
#define HY_NVME_CC_SHN_SHIFT	14
#define HY_NVME_CC_SHN_MASK	(3u << 14)
#define HY_NVME_CC_SHN_NORMAL	(1u << 14)
#define HY_NVME_CC_SHN_ABRUPT	(2u << 14)
#define HY_NVME_CC_IOSQES_SHIFT 16
#define HY_NVME_CC_IOCQES_SHIFT 20
#define HY_NVME_CC_IOSQES(cc)	(((cc) >> 16) & 0xf)
#define HY_NVME_CC_IOCQES(cc)	(((cc) >> 20) & 0xf)
#define HY_NVME_CC_MPS(cc)	(((cc) >> 7) & 0xf)
#define HY_NVME_CC_CSS(cc)	(((cc) >> 4) & 0x7)

/* CSTS (Base 2.0, 3.1.3.6). */
#define HY_NVME_CSTS_RDY	    (1u << 0)
#define HY_NVME_CSTS_CFS	    (1u << 1) /* Controller Fatal Status */
#define HY_NVME_CSTS_SHST_MASK	    (3u << 2)
#define HY_NVME_CSTS_SHST_OCCURRING (1u << 2)
#define HY_NVME_CSTS_SHST_COMPLETE  (2u << 2)
#define HY_NVME_CSTS_NSSRO	    (1u << 4)
#define HY_NVME_CSTS_PP		    (1u << 5)

/* AQA (Base 2.0, 3.1.3.8): ASQS bits 11:0, ACQS bits 27:16, both 0's based. */
#define HY_NVME_AQA(sq_entries, cq_entries)                                                        \
	((((uint32_t)(cq_entries)-1) << 16) | ((uint32_t)(sq_entries)-1))
#define HY_NVME_AQA_MAX_ENTRIES 4096

/* Queue entry sizes as log2 (CC.IOSQES/IOCQES; Identify Controller SQES/CQES). */
#define HY_NVME_SQES 6 /* 64-byte submission queue entries */
#define HY_NVME_CQES 4 /* 16-byte completion queue entries */

/*
 * SGL descriptor (Base 2.0, 4.1.2 "Scatter Gather List (SGL)", Figure "SGL Descriptor Format"):
 * 16 bytes, the last of which is the SGL Identifier: SGL Descriptor Type in bits 7:4, Sub Type in
 * bits 3:0. Hydra emits three types, all with Sub Type 0h (Address):
 *   - Data Block (0h): @addr and @length (bytes) of a piece of the data buffer;
 *   - Segment (2h): @addr and @length (bytes, a non-zero multiple of 16) of the next SGL segment,
 *     a list of descriptors whose last one points to the segment after it;
 *   - Last Segment (3h): the same for the final segment, which holds only Data Blocks.
 * Bytes 14:12 are reserved in all three.
 */
struct hy_nvme_sgl_desc {
	uint64_t addr;
	uint32_t length;
	uint8_t rsvd12[3];
	uint8_t id; /* SGL Identifier: type bits 7:4, sub type bits 3:0 */
};
_Static_assert(sizeof(struct hy_nvme_sgl_desc) == 16, "an SGL descriptor is 16 bytes");
_Static_assert(offsetof(struct hy_nvme_sgl_desc, length) == 8, "Length is bytes 11:08");
_Static_assert(offsetof(struct hy_nvme_sgl_desc, id) == 15, "SGL Identifier is byte 15");

#define HY_NVME_SGL_TYPE_DATA_BLOCK   0x0
#define HY_NVME_SGL_TYPE_BIT_BUCKET   0x1
#define HY_NVME_SGL_TYPE_SEGMENT      0x2
#define HY_NVME_SGL_TYPE_LAST_SEGMENT 0x3
#define HY_NVME_SGL_TYPE_KEYED	      0x4
#define HY_NVME_SGL_SUBTYPE_ADDRESS   0x0
#define HY_NVME_SGL_ID(type, sub)     ((uint8_t)(((type)&0xf) << 4 | ((sub)&0xf)))
#define HY_NVME_SGL_ID_TYPE(id)	      (((unsigned)(id) >> 4) & 0xf)
#define HY_NVME_SGL_ID_SUBTYPE(id)    ((unsigned)(id)&0xf)
/* SGL descriptors in one memory page: a segment Hydra builds never crosses a page. */
#define HY_NVME_SGL_PER_PAGE (HY_NVME_PAGE_SIZE / sizeof(struct hy_nvme_sgl_desc))

/*
 * Submission Queue Entry (Base 2.0, 3.3.3.1 "Submission Queue Entry", Figure "Common Command
 * Format"). CDW0 is split into its fields: OPC (bits 7:0), FUSE (9:8) and PSDT (15:14) in flags,
 * CID (31:16). DPTR (dwords 9:6) is PRP1/PRP2 when PSDT is 00b, SGL1 (SGL Entry 1, one SGL
 * descriptor) when PSDT is 01b.
 */
struct hy_nvme_sqe {
	uint8_t opc;
	uint8_t flags; /* FUSE bits 1:0, PSDT bits 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1; /* DPTR bytes 31:24 */
			uint64_t prp2; /* DPTR bytes 39:32 */
		};
		struct hy_nvme_sgl_desc sgl1; /* DPTR when PSDT is 01b */
	};
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct hy_nvme_sqe) == 64, "SQE is 64 bytes (IOSQES 6)");
_Static_assert(offsetof(struct hy_nvme_sqe, cid) == 2, "CID is CDW0 bits 31:16");
_Static_assert(offsetof(struct hy_nvme_sqe, nsid) == 4, "NSID is dword 1");
_Static_assert(offsetof(struct hy_nvme_sqe, mptr) == 16, "MPTR is dwords 5:4");
_Static_assert(offsetof(struct hy_nvme_sqe, prp1) == 24, "DPTR starts at dword 6");
_Static_assert(offsetof(struct hy_nvme_sqe, prp2) == 32, "PRP2 is dwords 9:8");
_Static_assert(offsetof(struct hy_nvme_sqe, sgl1) == 24, "SGL1 is DPTR, dwords 9:6");
_Static_assert(offsetof(struct hy_nvme_sqe, cdw10) == 40, "CDW10 is dword 10");
_Static_assert(offsetof(struct hy_nvme_sqe, cdw15) == 60, "CDW15 is dword 15");

/* CDW0 PSDT (PRP or SGL for Data Transfer), bits 15:14, i.e. bits 7:6 of hy_nvme_sqe.flags. */
#define HY_NVME_PSDT_MASK 0xc0u
#define HY_NVME_PSDT_PRP  0x00u /* 00b: PRPs */
#define HY_NVME_PSDT_SGL  0x40u /* 01b: SGL for data; MPTR is a contiguous metadata buffer */
#define HY_NVME_FUSE_MASK 0x03u

/*
 * Completion Queue Entry (Base 2.0, 3.3.3.2 "Common Completion Queue Entry"). The status word
 * holds the Phase Tag in bit 0 and the Status Field (SC, SCT, CRD, M, DNR) in bits 15:1.
 */
struct hy_nvme_cqe {
	uint32_t dw0; /* command specific */
	uint32_t dw1;
	uint16_t sqhd; /* SQ Head Pointer */
	uint16_t sqid; /* SQ Identifier */
	uint16_t cid;
	uint16_t status; /* P bit 0, Status Field bits 15:1 */
};
_Static_assert(sizeof(struct hy_nvme_cqe) == 16, "CQE is 16 bytes (IOCQES 4)");
_Static_assert(offsetof(struct hy_nvme_cqe, sqhd) == 8, "SQHD is DW2 bits 15:0");
_Static_assert(offsetof(struct hy_nvme_cqe, cid) == 12, "CID is DW3 bits 15:0");
_Static_assert(offsetof(struct hy_nvme_cqe, status) == 14, "status is DW3 bits 31:16");

/*
 * Status Field (Base 2.0, 3.3.3.2.1 "Status Field Definition"), as this driver passes it around:
 * the CQE status word shifted right by one (Phase Tag dropped): SC bits 7:0, SCT bits 10:8, CRD
 * bits 12:11, M bit 13, DNR bit 14.
 */
#define HY_NVME_STATUS_SC(st)	((unsigned)(st)&0xff)
#define HY_NVME_STATUS_SCT(st)	(((unsigned)(st) >> 8) & 0x7)
#define HY_NVME_STATUS_CRD(st)	(((unsigned)(st) >> 11) & 0x3)
#define HY_NVME_STATUS_M(st)	(((unsigned)(st) >> 13) & 0x1)
#define HY_NVME_STATUS_DNR(st)	(((unsigned)(st) >> 14) & 0x1)
#define HY_NVME_STATUS(sct, sc) ((uint16_t)((((sct)&0x7) << 8) | ((sc)&0xff)))

/* Status Code Types. */
#define HY_NVME_SCT_GENERIC	 0x0
#define HY_NVME_SCT_CMD_SPECIFIC 0x1
#define HY_NVME_SCT_MEDIA	 0x2
#define HY_NVME_SCT_PATH	 0x3
#define HY_NVME_SCT_VENDOR	 0x7

/* Generic Command Status (SCT 0), Base 2.0 Figure "Generic Command Status Values". */
#define HY_NVME_SC_SUCCESS		   0x00
#define HY_NVME_SC_INVALID_OPCODE	   0x01
#define HY_NVME_SC_INVALID_FIELD	   0x02
#define HY_NVME_SC_CID_CONFLICT		   0x03
#define HY_NVME_SC_DATA_XFER_ERROR	   0x04
#define HY_NVME_SC_POWER_LOSS		   0x05
#define HY_NVME_SC_INTERNAL		   0x06
#define HY_NVME_SC_ABORT_REQ		   0x07
#define HY_NVME_SC_ABORT_SQ_DELETED	   0x08
#define HY_NVME_SC_FUSED_FAIL		   0x09
#define HY_NVME_SC_FUSED_MISSING	   0x0a
#define HY_NVME_SC_INVALID_NS		   0x0b
#define HY_NVME_SC_CMD_SEQ_ERROR	   0x0c
#define HY_NVME_SC_SGL_INVALID_LAST	   0x0d
#define HY_NVME_SC_SGL_INVALID_COUNT	   0x0e
#define HY_NVME_SC_SGL_INVALID_DATA	   0x0f
#define HY_NVME_SC_SGL_INVALID_METADATA	   0x10
#define HY_NVME_SC_SGL_INVALID_TYPE	   0x11
#define HY_NVME_SC_CMB_INVALID_USE	   0x12
#define HY_NVME_SC_PRP_INVALID_OFFSET	   0x13
#define HY_NVME_SC_ATOMIC_WU_EXCEEDED	   0x14
#define HY_NVME_SC_OP_DENIED		   0x15
#define HY_NVME_SC_SGL_INVALID_OFFSET	   0x16
#define HY_NVME_SC_HOSTID_INCONSISTENT	   0x18
#define HY_NVME_SC_KA_EXPIRED		   0x19
#define HY_NVME_SC_KA_INVALID		   0x1a
#define HY_NVME_SC_PREEMPT_ABORT	   0x1b
#define HY_NVME_SC_SANITIZE_FAILED	   0x1c
#define HY_NVME_SC_SANITIZE_IN_PROGRESS	   0x1d
#define HY_NVME_SC_SGL_INVALID_GRANULARITY 0x1e
#define HY_NVME_SC_CMD_NOT_SUP_CMB_QUEUE   0x1f
#define HY_NVME_SC_NS_WRITE_PROTECTED	   0x20
#define HY_NVME_SC_CMD_INTERRUPTED	   0x21
#define HY_NVME_SC_TRANSIENT_TRANSPORT	   0x22
#define HY_NVME_SC_PROHIBITED_LOCKDOWN	   0x23
#define HY_NVME_SC_MEDIA_NOT_READY	   0x24
/* Generic Command Status, NVM Command Set specific values (NVM 1.0). */
#define HY_NVME_SC_LBA_RANGE		0x80
#define HY_NVME_SC_CAP_EXCEEDED		0x81
#define HY_NVME_SC_NS_NOT_READY		0x82
#define HY_NVME_SC_RESERVATION_CONFLICT 0x83
#define HY_NVME_SC_FORMAT_IN_PROGRESS	0x84

/* Command Specific Status (SCT 1), Base 2.0 and NVM 1.0. */
#define HY_NVME_SC_CQ_INVALID		  0x00
#define HY_NVME_SC_QID_INVALID		  0x01
#define HY_NVME_SC_QUEUE_SIZE		  0x02
#define HY_NVME_SC_ABORT_LIMIT		  0x03
#define HY_NVME_SC_AER_LIMIT		  0x05
#define HY_NVME_SC_FW_SLOT		  0x06
#define HY_NVME_SC_FW_IMAGE		  0x07
#define HY_NVME_SC_INVALID_VECTOR	  0x08
#define HY_NVME_SC_INVALID_LOG_PAGE	  0x09
#define HY_NVME_SC_INVALID_FORMAT	  0x0a
#define HY_NVME_SC_INVALID_QUEUE_DELETION 0x0c
#define HY_NVME_SC_FEATURE_NOT_SAVEABLE	  0x0d
#define HY_NVME_SC_FEATURE_NOT_CHANGEABLE 0x0e
#define HY_NVME_SC_FEATURE_NOT_PER_NS	  0x0f
#define HY_NVME_SC_CONFLICTING_ATTRS	  0x80 /* NVM */
#define HY_NVME_SC_INVALID_PI		  0x81 /* NVM */
#define HY_NVME_SC_READ_ONLY		  0x82 /* NVM: write to read only range */

/* Media and Data Integrity Errors (SCT 2). */
#define HY_NVME_SC_WRITE_FAULT		    0x80
#define HY_NVME_SC_UNRECOVERED_READ	    0x81
#define HY_NVME_SC_GUARD_CHECK		    0x82
#define HY_NVME_SC_APPTAG_CHECK		    0x83
#define HY_NVME_SC_REFTAG_CHECK		    0x84
#define HY_NVME_SC_COMPARE_FAILED	    0x85
#define HY_NVME_SC_ACCESS_DENIED	    0x86
#define HY_NVME_SC_DEALLOCATED_OR_UNWRITTEN 0x87

/* Path Related Status (SCT 3). */
#define HY_NVME_SC_PATH_INTERNAL       0x00
#define HY_NVME_SC_ANA_PERSISTENT_LOSS 0x01
#define HY_NVME_SC_ANA_INACCESSIBLE    0x02
#define HY_NVME_SC_ANA_TRANSITION      0x03
#define HY_NVME_SC_CTRL_PATH_ERROR     0x60
#define HY_NVME_SC_HOST_PATH_ERROR     0x70
#define HY_NVME_SC_HOST_ABORTED_CMD    0x71

/* Admin opcodes (Base 2.0, 5 "Admin Command Set", Figure "Opcodes for Admin Commands"). */
#define HY_NVME_ADM_DELETE_SQ	 0x00
#define HY_NVME_ADM_CREATE_SQ	 0x01
#define HY_NVME_ADM_GET_LOG_PAGE 0x02
#define HY_NVME_ADM_DELETE_CQ	 0x04
#define HY_NVME_ADM_CREATE_CQ	 0x05
#define HY_NVME_ADM_IDENTIFY	 0x06
#define HY_NVME_ADM_ABORT	 0x08
#define HY_NVME_ADM_SET_FEATURES 0x09
#define HY_NVME_ADM_GET_FEATURES 0x0a
#define HY_NVME_ADM_ASYNC_EVENT	 0x0c
#define HY_NVME_ADM_KEEP_ALIVE	 0x18

/* NVM command set opcodes (NVM 1.0, Figure "Opcodes for NVM Commands"). */
#define HY_NVME_CMD_FLUSH	 0x00
#define HY_NVME_CMD_WRITE	 0x01
#define HY_NVME_CMD_READ	 0x02
#define HY_NVME_CMD_WRITE_UNCOR	 0x04
#define HY_NVME_CMD_COMPARE	 0x05
#define HY_NVME_CMD_WRITE_ZEROES 0x08
#define HY_NVME_CMD_DSM		 0x09

/* Read/Write/Write Zeroes CDW12 (NVM 1.0): NLB bits 15:0 are 0's based. */
#define HY_NVME_RW_NLB_MAX 65536u
#define HY_NVME_RW_FUA	   (1u << 30)
#define HY_NVME_RW_LR	   (1u << 31)
#define HY_NVME_WZ_DEAC	   (1u << 25) /* Write Zeroes: Deallocate */
/* Dataset Management CDW10 NR bits 7:0 (0's based), CDW11 attributes. */
#define HY_NVME_DSM_MAX_RANGES 256u
#define HY_NVME_DSM_IDR	       (1u << 0)
#define HY_NVME_DSM_IDW	       (1u << 1)
#define HY_NVME_DSM_AD	       (1u << 2) /* Attribute - Deallocate */

/* NVM 1.0, Figure "Dataset Management - Range Definition". */
struct hy_nvme_dsm_range {
	uint32_t cattr; /* Context Attributes */
	uint32_t nlb;	/* Length in logical blocks (1's based) */
	uint64_t slba;
};
_Static_assert(sizeof(struct hy_nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* Identify CNS values (Base 2.0, 5.17 "Identify command"). */
#define HY_NVME_CNS_NS		 0x00
#define HY_NVME_CNS_CTRL	 0x01
#define HY_NVME_CNS_ACTIVE_NSIDS 0x02
#define HY_NVME_IDENTIFY_SIZE	 4096u
#define HY_NVME_NSID_LIST_MAX	 1024u /* a Namespace List holds up to 1024 NSIDs */

/* Feature identifiers (Base 2.0, 5.27 "Set Features command"). */
#define HY_NVME_FEAT_NUM_QUEUES 0x07

/* Log page identifiers (Base 2.0, 5.16 "Get Log Page command"). */
#define HY_NVME_LOG_ERROR 0x01
#define HY_NVME_LOG_SMART 0x02

/*
 * Identify Controller data structure (Base 2.0, 5.17 "Identify command", CNS 01h). Fields Hydra
 * reads are named; the rest are kept as reserved bytes with the offsets asserted below.
 */
struct hy_nvme_id_ctrl {
	uint16_t vid;
	uint16_t ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts; /* Maximum Data Transfer Size: 2^n units of CAP.MPSMIN; 0 = no limit */
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e; /* RTD3 Entry Latency, microseconds: the normal shutdown budget */
	uint32_t oaes;
	uint32_t ctratt;
	uint8_t rsvd100[156]; /* RRLS ... NVMe-MI block */
	uint16_t oacs;
	uint8_t acl; /* Abort Command Limit, 0's based */
	uint8_t aerl;
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe; /* Error Log Page Entries, 0's based */
	uint8_t npss;
	uint8_t rsvd264[248];
	uint8_t sqes; /* bits 3:0 required (min), 7:4 maximum, log2 */
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn; /* Number of Namespaces (highest NSID) */
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint8_t rsvd544[224];
	char subnqn[256];
	uint8_t rsvd1024[1024]; /* reserved, NVMe over Fabrics */
	uint8_t psd[32][32];	/* Power State Descriptors */
	uint8_t vs[1024];
};
_Static_assert(sizeof(struct hy_nvme_id_ctrl) == 4096, "Identify Controller is 4096 bytes");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, sn) == 4, "SN at byte 4");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, mn) == 24, "MN at byte 24");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, fr) == 64, "FR at byte 64");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, mdts) == 77, "MDTS at byte 77");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, ver) == 80, "VER at byte 80");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, rtd3e) == 88, "RTD3E at byte 88");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, oacs) == 256, "OACS at byte 256");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, acl) == 258, "ACL at byte 258");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, elpe) == 262, "ELPE at byte 262");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, sqes) == 512, "SQES at byte 512");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, nn) == 516, "NN at byte 516");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, oncs) == 520, "ONCS at byte 520");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, vwc) == 525, "VWC at byte 525");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, sgls) == 536, "SGLS at byte 536");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, subnqn) == 768, "SUBNQN at byte 768");
_Static_assert(offsetof(struct hy_nvme_id_ctrl, psd) == 2048, "PSD0 at byte 2048");

/* ONCS: Optional NVM Command Support (Base 2.0, Identify Controller bytes 521:520). */
#define HY_NVME_ONCS_COMPARE	  (1u << 0)
#define HY_NVME_ONCS_WRITE_UNCOR  (1u << 1)
#define HY_NVME_ONCS_DSM	  (1u << 2)
#define HY_NVME_ONCS_WRITE_ZEROES (1u << 3)
#define HY_NVME_ONCS_VERIFY	  (1u << 7)
#define HY_NVME_VWC_PRESENT	  (1u << 0)
/*
 * SGLS: SGL Support (Base 2.0, Identify Controller bytes 539:536), bits 1:0: 00b no SGLs for the
 * NVM command set, 01b SGLs with no alignment requirement, 10b SGLs whose Data Blocks need dword
 * aligned addresses and lengths a multiple of a dword, 11b reserved.
 */
#define HY_NVME_SGLS_MASK	 0x3u
#define HY_NVME_SGLS_SUPPORTED	 0x1u
#define HY_NVME_SGLS_DWORD_ALIGN 0x2u

/* LBA Format Data Structure (NVM 1.0, Identify Namespace LBAF0..LBAF63). */
struct hy_nvme_lbaf {
	uint16_t ms;   /* Metadata Size, bytes per block */
	uint8_t lbads; /* LBA Data Size, log2; 0 = format not supported */
	uint8_t rp;    /* Relative Performance, bits 1:0 */
};
_Static_assert(sizeof(struct hy_nvme_lbaf) == 4, "LBAF is a dword");

/* Identify Namespace data structure for the NVM Command Set (NVM 1.0; Identify CNS 00h). */
struct hy_nvme_id_ns {
	uint64_t nsze; /* Namespace Size, blocks */
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat;
	uint8_t nlbaf; /* Number of LBA Formats, 0's based */
	uint8_t flbas; /* Formatted LBA Size: index bits 3:0 and 6:5, extended metadata bit 4 */
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint8_t rsvd64[40]; /* NPWG ... ENDGID */
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct hy_nvme_lbaf lbaf[64];
	uint8_t rsvd384[3712];
};
_Static_assert(sizeof(struct hy_nvme_id_ns) == 4096, "Identify Namespace is 4096 bytes");
_Static_assert(offsetof(struct hy_nvme_id_ns, nlbaf) == 25, "NLBAF at byte 25");
_Static_assert(offsetof(struct hy_nvme_id_ns, flbas) == 26, "FLBAS at byte 26");
_Static_assert(offsetof(struct hy_nvme_id_ns, dlfeat) == 33, "DLFEAT at byte 33");
_Static_assert(offsetof(struct hy_nvme_id_ns, nvmcap) == 48, "NVMCAP at byte 48");
_Static_assert(offsetof(struct hy_nvme_id_ns, nguid) == 104, "NGUID at byte 104");
_Static_assert(offsetof(struct hy_nvme_id_ns, lbaf) == 128, "LBAF0 at byte 128");

/* FLBAS: the format index is bits 3:0, extended by bits 6:5 when NLBAF > 16 (NVM 1.0). */
#define HY_NVME_FLBAS_INDEX(flbas) (((flbas)&0xfu) | ((((unsigned)(flbas) >> 5) & 0x3u) << 4))
#define HY_NVME_FLBAS_EXTENDED	   (1u << 4)

/* Error Information log page entry (Base 2.0, 5.16 "Get Log Page command", LID 01h). */
struct hy_nvme_error_log {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0 Phase Tag, 15:1 Status Field */
	uint16_t param_error_location;
	uint64_t lba;
	uint32_t nsid;
	uint8_t vsia;
	uint8_t trtype;
	uint8_t rsvd30[2];
	uint64_t csi; /* command specific information */
	uint16_t trtype_specific;
	uint8_t rsvd42[22];
};
_Static_assert(sizeof(struct hy_nvme_error_log) == 64, "error log entry is 64 bytes");
_Static_assert(offsetof(struct hy_nvme_error_log, lba) == 16, "LBA at byte 16");
_Static_assert(offsetof(struct hy_nvme_error_log, csi) == 32, "CSI at byte 32");

/* SMART / Health Information log page (Base 2.0, 5.16, LID 02h). Counters are 128-bit. */
struct hy_nvme_smart_log {
	uint8_t critical_warning;
	uint8_t composite_temp[2]; /* kelvin, unaligned */
	uint8_t avail_spare;
	uint8_t avail_spare_thresh;
	uint8_t percent_used;
	uint8_t endgrp_crit_warning;
	uint8_t rsvd7[25];
	uint8_t data_units_read[16];
	uint8_t data_units_written[16];
	uint8_t host_reads[16];
	uint8_t host_writes[16];
	uint8_t ctrl_busy_time[16];
	uint8_t power_cycles[16];
	uint8_t power_on_hours[16];
	uint8_t unsafe_shutdowns[16];
	uint8_t media_errors[16];
	uint8_t num_err_log_entries[16];
	uint32_t warning_temp_time;
	uint32_t critical_comp_time;
	uint16_t temp_sensor[8];
	uint32_t thm_temp1_trans_count;
	uint32_t thm_temp2_trans_count;
	uint32_t thm_temp1_total_time;
	uint32_t thm_temp2_total_time;
	uint8_t rsvd232[280];
};
_Static_assert(sizeof(struct hy_nvme_smart_log) == 512, "SMART log is 512 bytes");
_Static_assert(offsetof(struct hy_nvme_smart_log, data_units_read) == 32, "DUR at byte 32");
_Static_assert(offsetof(struct hy_nvme_smart_log, media_errors) == 160, "media errors at 160");
_Static_assert(offsetof(struct hy_nvme_smart_log, warning_temp_time) == 192, "WCTT at 192");
_Static_assert(offsetof(struct hy_nvme_smart_log, temp_sensor) == 200, "TS1 at byte 200");

/* PCI: NVMe controllers report class code 01h/08h/02h (PCIe 1.0, "PCI Header", CC register). */
#define HY_NVME_PCI_CLASS 0x010802u

#endif
