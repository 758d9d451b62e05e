/* SPDX-License-Identifier: MIT */
/*
 * The software NVMe controller behind the nvme/ unit tests (see model.h). Included by the test
 * files, which build as one translation unit each.
 */
#ifndef HY_NVME_MMIO_HOOK
#define HY_NVME_MMIO_HOOK 1
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "nvme/mmio.h"

struct model *model_cur;

void model_violation(struct model *m, const char *fmt, ...)
{
	va_list ap;

	if (m->errors++)
		return;
	va_start(ap, fmt);
	vsnprintf(m->error, sizeof(m->error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "model: protocol violation: %s\n", m->error);
}

/* ---- the IOVA table (what the "IOMMU" translates) ---- */

static int model_map(void *priv, void *vaddr, size_t len, uint64_t iova)
{
	struct model *m = priv;

	if (!len || m->nmap == MODEL_MAX_MAPS)
		return -ENOSPC;
	for (unsigned i = 0; i < m->nmap; i++)
		if (iova < m->map[i].iova + m->map[i].len && m->map[i].iova < iova + len)
			return -EEXIST;
	m->map[m->nmap].iova = iova;
	m->map[m->nmap].len = len;
	m->map[m->nmap].vaddr = vaddr;
	m->nmap++;
	return 0;
}

static int model_unmap(void *priv, uint64_t iova, size_t len)
{
	struct model *m = priv;

	for (unsigned i = 0; i < m->nmap; i++) {
		if (m->map[i].iova == iova && m->map[i].len == len) {
			m->map[i] = m->map[--m->nmap];
			return 0;
		}
	}
	return -ENOENT;
}

void *model_iova(struct model *m, uint64_t iova, size_t len)
{
	for (unsigned i = 0; i < m->nmap; i++) {
		struct model_map *mp = &m->map[i];

		if (iova >= mp->iova && iova - mp->iova + len <= mp->len)
			return mp->vaddr + (iova - mp->iova);
	}
	return NULL;
}

static void model_reset_state(struct model *m)
{
	memset(m->sq, 0, sizeof(m->sq));
	memset(m->cq, 0, sizeof(m->cq));
	m->csts = 0;
	m->cfs = false;
	m->nq_set = false;
	m->ndropped = 0;
}

static int model_function_reset(void *priv)
{
	struct model *m = priv;

	/* A function level reset brings every register back to its default. */
	m->function_resets++;
	m->never_disable = false;
	m->cc = 0;
	m->aqa = 0;
	m->asq = m->acq = 0;
	model_reset_state(m);
	return 0;
}

const struct hy_nvme_dma_ops model_dma_ops = {
	.map = model_map,
	.unmap = model_unmap,
	.function_reset = model_function_reset,
};

/* ---- PRPs, by the book ---- */

int model_prp_walk(struct model *m, uint64_t prp1, uint64_t prp2, uint64_t len,
		   struct hy_nvme_seg *out, unsigned max)
{
	const uint64_t ps = HY_NVME_PAGE_SIZE;
	uint64_t rem, first, list;
	unsigned n = 0;

	if (!len || !max)
		return -1;
	if (prp1 & 3) {
		model_violation(m, "PRP1 0x%llx is not dword aligned", (unsigned long long)prp1);
		return -1;
	}
	first = ps - (prp1 & (ps - 1));
	if (first > len)
		first = len;
	out[n++] = (struct hy_nvme_seg){prp1, (uint32_t)first};
	rem = len - first;
	if (!rem) {
		if (prp2) {
			model_violation(m, "PRP2 0x%llx set although the data fits in PRP1's page",
					(unsigned long long)prp2);
			return -1;
		}
		return (int)n;
	}
	if (rem <= ps) {
		if (prp2 & (ps - 1)) {
			model_violation(m, "PRP2 0x%llx has an offset", (unsigned long long)prp2);
			return -1;
		}
		if (n == max)
			return -1;
		out[n++] = (struct hy_nvme_seg){prp2, (uint32_t)rem};
		return (int)n;
	}
	/* PRP2 is a PRP List pointer: qword aligned, may start inside a page. */
	if (prp2 & 7) {
		model_violation(m, "PRP list pointer 0x%llx is not qword aligned",
				(unsigned long long)prp2);
		return -1;
	}
	list = prp2;
	while (rem) {
		uint64_t *e = model_iova(m, list, 8);
		bool last_slot = ((list + 8) & (ps - 1)) == 0;

		if (!e)
			return -2;
		if (last_slot && rem > ps) {
			/* The last entry of a list page points to the next list page. */
			if (*e & 7) {
				model_violation(m, "PRP list chain pointer 0x%llx misaligned",
						(unsigned long long)*e);
				return -1;
			}
			list = *e;
			continue;
		}
		if (*e & (ps - 1)) {
			model_violation(m, "PRP list entry 0x%llx has an offset",
					(unsigned long long)*e);
			return -1;
		}
		if (n == max)
			return -1;
		out[n++] = (struct hy_nvme_seg){*e, (uint32_t)(rem < ps ? rem : ps)};
		rem -= rem < ps ? rem : ps;
		list += 8;
	}
	return (int)n;
}

/* ---- SGLs, by the book ---- */

static const char *sgl_type_name(unsigned type)
{
	static const char *const names[] = {"Data Block",	"Bit Bucket",
					    "Segment",		"Last Segment",
					    "Keyed Data Block", "Transport Data Block"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "reserved";
}

/* Violation @why with Status Code @sc; the walk's -1. */
#define SGL_BAD(sc, ...)                                                                           \
	do {                                                                                       \
		model_violation(m, __VA_ARGS__);                                                   \
		*status = HY_NVME_STATUS(HY_NVME_SCT_GENERIC, (sc));                               \
		return -1;                                                                         \
	} while (0)

/* A descriptor's checks common to every type: sub type Address, reserved bytes 14:12 zero. */
static int sgl_desc_ok(struct model *m, const struct hy_nvme_sgl_desc *d, uint16_t *status)
{
	unsigned type = HY_NVME_SGL_ID_TYPE(d->id);

	if (d->rsvd12[0] || d->rsvd12[1] || d->rsvd12[2])
		SGL_BAD(HY_NVME_SC_INVALID_FIELD, "SGL %s descriptor with reserved bytes set",
			sgl_type_name(type));
	if (HY_NVME_SGL_ID_SUBTYPE(d->id) != HY_NVME_SGL_SUBTYPE_ADDRESS)
		SGL_BAD(HY_NVME_SC_SGL_INVALID_TYPE,
			"SGL %s descriptor with sub type %u, not Address", sgl_type_name(type),
			HY_NVME_SGL_ID_SUBTYPE(d->id));
	return 0;
}

/* A Data Block: non-empty, no wrap, dword aligned and sized if SGLS says so. */
static int sgl_data_ok(struct model *m, const struct hy_nvme_sgl_desc *d, uint16_t *status)
{
	if (!d->length || d->addr + d->length < d->addr)
		SGL_BAD(HY_NVME_SC_SGL_INVALID_DATA, "SGL Data Block (0x%llx, %u)",
			(unsigned long long)d->addr, d->length);
	if ((m->idc.sgls & HY_NVME_SGLS_MASK) == HY_NVME_SGLS_DWORD_ALIGN &&
	    ((d->addr | d->length) & 3))
		SGL_BAD(HY_NVME_SC_SGL_INVALID_GRANULARITY,
			"SGL Data Block (0x%llx, %u) is not dword aligned although SGLS says 10b",
			(unsigned long long)d->addr, d->length);
	return 0;
}

int model_sgl_walk(struct model *m, const struct hy_nvme_sgl_desc *sgl1, uint64_t len,
		   struct hy_nvme_seg *out, unsigned max, uint16_t *status)
{
	const unsigned mode = m->idc.sgls & HY_NVME_SGLS_MASK;
	struct hy_nvme_sgl_desc cur = *sgl1;
	uint64_t total = 0;
	unsigned n = 0, segments = 0;

	*status = 0;
	if (mode != HY_NVME_SGLS_SUPPORTED && mode != HY_NVME_SGLS_DWORD_ALIGN)
		SGL_BAD(HY_NVME_SC_INVALID_FIELD, "PSDT 01b (SGL) although SGLS 0x%x has no SGLs",
			m->idc.sgls);
	if (!max)
		return -1;
	if (sgl_desc_ok(m, &cur, status) ||
	    (HY_NVME_SGL_ID_TYPE(cur.id) == HY_NVME_SGL_TYPE_DATA_BLOCK &&
	     sgl_data_ok(m, &cur, status)))
		return -1;
	if (HY_NVME_SGL_ID_TYPE(cur.id) == HY_NVME_SGL_TYPE_DATA_BLOCK) {
		/* SGL1 describes the whole transfer: one Data Block, no segment. */
		out[n++] = (struct hy_nvme_seg){cur.addr, cur.length};
		total = cur.length;
		goto out;
	}
	for (;;) {
		unsigned type = HY_NVME_SGL_ID_TYPE(cur.id);
		bool last_seg = type == HY_NVME_SGL_TYPE_LAST_SEGMENT, chained = false;
		uint64_t addr = cur.addr;
		uint32_t count;

		if (type != HY_NVME_SGL_TYPE_SEGMENT && !last_seg)
			SGL_BAD(HY_NVME_SC_SGL_INVALID_TYPE,
				"SGL %s descriptor (type %u) where a Segment or Last Segment must be",
				sgl_type_name(type), type);
		/* Base 2.0, 4.1.2: a segment is a qword-aligned array of 16-byte descriptors. */
		if (!cur.length || cur.length % 16)
			SGL_BAD(HY_NVME_SC_SGL_INVALID_LAST,
				"SGL %s length %u is not a non-zero multiple of 16",
				sgl_type_name(type), cur.length);
		if (addr & 7)
			SGL_BAD(HY_NVME_SC_SGL_INVALID_LAST,
				"SGL segment at 0x%llx is not qword aligned",
				(unsigned long long)addr);
		if (++segments > 1024)
			SGL_BAD(HY_NVME_SC_SGL_INVALID_COUNT, "more than 1024 SGL segments");
		m->sgl_segments++;
		count = cur.length / 16;
		for (uint32_t i = 0; i < count; i++) {
			const struct hy_nvme_sgl_desc *e = model_iova(m, addr + 16ull * i, 16);
			unsigned et;

			if (!e)
				return -2;
			if (sgl_desc_ok(m, e, status))
				return -1;
			et = HY_NVME_SGL_ID_TYPE(e->id);
			if (et == HY_NVME_SGL_TYPE_SEGMENT || et == HY_NVME_SGL_TYPE_LAST_SEGMENT) {
				/* Only a segment's last slot may point on, never the Last one's. */
				if (i + 1 != count)
					SGL_BAD(HY_NVME_SC_SGL_INVALID_LAST,
						"SGL %s descriptor in slot %u of a %u-descriptor "
						"segment",
						sgl_type_name(et), i, count);
				if (last_seg)
					SGL_BAD(HY_NVME_SC_SGL_INVALID_LAST,
						"the Last Segment holds an SGL %s descriptor",
						sgl_type_name(et));
				cur = *e;
				chained = true;
				break;
			}
			if (et != HY_NVME_SGL_TYPE_DATA_BLOCK)
				SGL_BAD(HY_NVME_SC_SGL_INVALID_TYPE,
					"SGL %s descriptor (type %u) in a segment",
					sgl_type_name(et), et);
			if (sgl_data_ok(m, e, status))
				return -1;
			if (n == max)
				SGL_BAD(HY_NVME_SC_SGL_INVALID_COUNT, "more than %u Data Blocks",
					max);
			out[n++] = (struct hy_nvme_seg){e->addr, e->length};
			total += e->length;
		}
		if (chained)
			continue;
		/* A Segment descriptor announces a segment that is not the last (Base 2.0, 4.1.2).
		 */
		if (!last_seg)
			SGL_BAD(HY_NVME_SC_SGL_INVALID_LAST,
				"an SGL Segment descriptor points to the last segment (that is a "
				"Last Segment descriptor)");
		break;
	}
out:
	/* The Data Blocks describe exactly the command's transfer. */
	if (total != len)
		SGL_BAD(HY_NVME_SC_SGL_INVALID_DATA,
			"SGL Data Blocks add up to %llu bytes, the command moves %llu",
			(unsigned long long)total, (unsigned long long)len);
	return (int)n;
}

#undef SGL_BAD

/* Copy between host memory described by PRPs or SGLs and @buf. Returns a Status Field. */
static uint16_t model_dma(struct model *m, const struct hy_nvme_sqe *sqe, void *buf, uint64_t len,
			  bool to_host, bool record)
{
	static struct hy_nvme_seg segs[4096];
	uint8_t *p = buf;
	uint16_t st = HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_PRP_INVALID_OFFSET);
	int n;

	if ((sqe->flags & HY_NVME_PSDT_MASK) == HY_NVME_PSDT_SGL) {
		n = model_sgl_walk(m, &sqe->sgl1, len, segs, 4096, &st);
		m->sgl_cmds++;
	} else {
		n = model_prp_walk(m, sqe->prp1, sqe->prp2, len, segs, 4096);
	}
	if (n == -1)
		return st;
	if (n < 0) {
		m->dma_faults++;
		return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_DATA_XFER_ERROR);
	}
	for (int i = 0; i < n && record; i++) {
		if (m->nxfer < MODEL_XFER)
			m->xfer[m->nxfer] = segs[i];
		m->nxfer++;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *h = model_iova(m, segs[i].iova, segs[i].len);

		if (!h) {
			/* Unlike QEMU 7.2, say so when the IOMMU blocked the transfer. */
			m->dma_faults++;
			return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_DATA_XFER_ERROR);
		}
		if (to_host)
			memcpy(h, p, segs[i].len);
		else
			memcpy(p, h, segs[i].len);
		p += segs[i].len;
	}
	return 0;
}

/* ---- queues ---- */

static void model_post(struct model *m, uint16_t sqid, uint16_t cid, uint16_t status, uint32_t dw0)
{
	struct model_queue *sq = &m->sq[sqid];
	struct model_queue *cq = &m->cq[sq->cqid];
	struct hy_nvme_cqe *e = model_iova(m, cq->iova + (uint64_t)cq->tail * 16, 16);

	if (!cq->exists || (uint16_t)((cq->tail + 1) % cq->size) == cq->head) {
		model_violation(m,
				"CQ %u overflows: the host let more commands out than it has room",
				sq->cqid);
		return;
	}
	if (!e) {
		m->cfs = true;
		model_violation(m, "CQ %u entry %u is not mapped", sq->cqid, cq->tail);
		return;
	}
	e->dw0 = dw0;
	e->dw1 = 0;
	e->sqhd = sq->head;
	e->sqid = sqid;
	e->cid = cid;
	/* The status word, with the Phase Tag, goes last. */
	*(volatile uint16_t *)&e->status = (uint16_t)(status << 1 | cq->phase);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
}

static struct model_ns *model_ns_get(struct model *m, uint32_t nsid)
{
	return nsid >= 1 && nsid <= m->nns ? &m->ns[nsid - 1] : NULL;
}

static void model_id_ns(struct model *m, uint32_t nsid, struct hy_nvme_id_ns *id)
{
	struct model_ns *ns = model_ns_get(m, nsid);

	memset(id, 0, sizeof(*id));
	if (!ns)
		return; /* inactive: all zeroes */
	id->nsze = id->ncap = id->nuse = ns->nsze;
	id->nlbaf = 2; /* three formats, 0's based */
	id->lbaf[0] = (struct hy_nvme_lbaf){.ms = 0, .lbads = 9};
	id->lbaf[1] = (struct hy_nvme_lbaf){.ms = 0, .lbads = 12};
	id->lbaf[2] = (struct hy_nvme_lbaf){.ms = 8, .lbads = 9};
	if (ns->ms)
		id->flbas = 2;
	else
		id->flbas = ns->lbads == 12 ? 1 : 0;
	id->dlfeat = 1; /* deallocated blocks read as zeroes */
}

static uint16_t model_admin(struct model *m, const struct hy_nvme_sqe *c, uint32_t *dw0, bool *post)
{
	const uint16_t invalid_field =
		HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_FIELD);
	uint16_t qid = (uint16_t)(c->cdw10 & 0xffff);
	uint32_t size = (c->cdw10 >> 16) + 1;

	m->admin_cmds++;
	if (m->drop_admin) {
		m->drop_admin--;
		*post = false;
		if (m->ndropped < MODEL_MAX_DROP) {
			m->dropped[m->ndropped].sqid = 0;
			m->dropped[m->ndropped].cid = c->cid;
			m->ndropped++;
		}
		return 0;
	}
	switch (c->opc) {
	case HY_NVME_ADM_IDENTIFY: {
		static uint8_t buf[4096];

		memset(buf, 0, sizeof(buf));
		switch (c->cdw10 & 0xff) {
		case HY_NVME_CNS_CTRL:
			memcpy(buf, &m->idc, sizeof(m->idc));
			break;
		case HY_NVME_CNS_NS:
			if (c->nsid == 0 || c->nsid > m->idc.nn)
				return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_NS);
			model_id_ns(m, c->nsid, (struct hy_nvme_id_ns *)buf);
			break;
		case HY_NVME_CNS_ACTIVE_NSIDS: {
			uint32_t *l = (uint32_t *)buf;
			unsigned k = 0;

			for (unsigned i = 0; i < m->nactive && k < 1024; i++)
				if (m->active[i] > c->nsid)
					l[k++] = m->active[i];
			break;
		}
		default:
			return invalid_field;
		}
		return model_dma(m, c, buf, sizeof(buf), true, false);
	}
	case HY_NVME_ADM_SET_FEATURES: {
		uint32_t nsq = (c->cdw11 & 0xffff) + 1, ncq = (c->cdw11 >> 16) + 1;

		if ((c->cdw10 & 0xff) != HY_NVME_FEAT_NUM_QUEUES)
			return invalid_field;
		if (m->nq_set)
			return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_CMD_SEQ_ERROR);
		if (nsq == 0x10000 || ncq == 0x10000)
			return invalid_field;
		m->nq_set = true;
		m->nq_granted = m->max_io_queues;
		*dw0 = (uint32_t)(m->nq_granted - 1) << 16 | (uint32_t)(m->nq_granted - 1);
		return 0;
	}
	case HY_NVME_ADM_CREATE_CQ: {
		struct model_queue *q = &m->cq[qid < MODEL_MAX_QUEUES ? qid : 0];

		if (qid == 0 || qid >= MODEL_MAX_QUEUES || qid > m->nq_granted || q->exists)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QID_INVALID);
		if (size < 2 || size > HY_NVME_CAP_MQES(m->cap) + 1)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QUEUE_SIZE);
		if (!(c->cdw11 & 1) || (c->prp1 & (HY_NVME_PAGE_SIZE - 1)))
			return invalid_field;
		memset(q, 0, sizeof(*q));
		q->exists = true;
		q->iova = c->prp1;
		q->size = (uint16_t)size;
		q->phase = 1;
		q->ien = c->cdw11 & 2;
		q->iv = (uint16_t)(c->cdw11 >> 16);
		return 0;
	}
	case HY_NVME_ADM_CREATE_SQ: {
		struct model_queue *q = &m->sq[qid < MODEL_MAX_QUEUES ? qid : 0];
		uint16_t cqid = (uint16_t)(c->cdw11 >> 16);

		if (qid == 0 || qid >= MODEL_MAX_QUEUES || qid > m->nq_granted || q->exists)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QID_INVALID);
		if (cqid == 0 || cqid >= MODEL_MAX_QUEUES || !m->cq[cqid].exists)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_CQ_INVALID);
		if (size < 2 || size > HY_NVME_CAP_MQES(m->cap) + 1)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QUEUE_SIZE);
		if (!(c->cdw11 & 1) || (c->prp1 & (HY_NVME_PAGE_SIZE - 1)))
			return invalid_field;
		memset(q, 0, sizeof(*q));
		q->exists = true;
		q->iova = c->prp1;
		q->size = (uint16_t)size;
		q->cqid = cqid;
		return 0;
	}
	case HY_NVME_ADM_DELETE_SQ:
		if (qid == 0 || qid >= MODEL_MAX_QUEUES || !m->sq[qid].exists)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QID_INVALID);
		/* Base 2.0, 5.7: commands still held end as aborted by the SQ deletion. */
		for (unsigned i = 0; i < m->ndropped;) {
			if (m->dropped[i].sqid == qid) {
				model_post(m, qid, m->dropped[i].cid,
					   HY_NVME_STATUS(HY_NVME_SCT_GENERIC,
							  HY_NVME_SC_ABORT_SQ_DELETED),
					   0);
				m->dropped[i] = m->dropped[--m->ndropped];
			} else {
				i++;
			}
		}
		m->sq[qid].exists = false;
		return 0;
	case HY_NVME_ADM_DELETE_CQ:
		if (qid == 0 || qid >= MODEL_MAX_QUEUES || !m->cq[qid].exists)
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QID_INVALID);
		for (unsigned i = 1; i < MODEL_MAX_QUEUES; i++)
			if (m->sq[i].exists && m->sq[i].cqid == qid)
				return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC,
						      HY_NVME_SC_INVALID_QUEUE_DELETION);
		m->cq[qid].exists = false;
		return 0;
	case HY_NVME_ADM_ABORT: {
		uint16_t cid = (uint16_t)(c->cdw10 >> 16);

		*dw0 = 1;
		for (unsigned i = 0; i < m->ndropped && !m->abort_fails; i++) {
			if (m->dropped[i].sqid == qid && m->dropped[i].cid == cid) {
				model_post(
					m, qid, cid,
					HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_ABORT_REQ),
					0);
				m->dropped[i] = m->dropped[--m->ndropped];
				*dw0 = 0;
				break;
			}
		}
		return 0;
	}
	case HY_NVME_ADM_GET_LOG_PAGE: {
		static uint8_t buf[4096];
		uint32_t numd = ((c->cdw10 >> 16) | (c->cdw11 & 0xffff) << 16) + 1;
		uint64_t len = (uint64_t)numd * 4;

		memset(buf, 0, sizeof(buf));
		if (len > sizeof(buf))
			return invalid_field;
		if ((c->cdw10 & 0xff) == HY_NVME_LOG_ERROR) {
			struct hy_nvme_error_log *e = (struct hy_nvme_error_log *)buf;

			for (unsigned i = 0; i <= m->idc.elpe && i < 64; i++) {
				e[i].error_count = 100 - i; /* newest first */
				e[i].sqid = 1;
				e[i].cid = (uint16_t)i;
				e[i].status = HY_NVME_STATUS(HY_NVME_SCT_MEDIA,
							     HY_NVME_SC_UNRECOVERED_READ)
					      << 1;
				e[i].lba = 4096 + i;
				e[i].nsid = 1;
			}
		} else if ((c->cdw10 & 0xff) == HY_NVME_LOG_SMART) {
			struct hy_nvme_smart_log *s = (struct hy_nvme_smart_log *)buf;

			s->composite_temp[0] = 0x2c; /* 300 K */
			s->composite_temp[1] = 0x01;
			s->avail_spare = 100;
			s->percent_used = 3;
			s->power_cycles[0] = 7;
		} else {
			return HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC,
					      HY_NVME_SC_INVALID_LOG_PAGE);
		}
		return model_dma(m, c, buf, len, true, false);
	}
	default:
		return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_OPCODE);
	}
}

static uint16_t model_io(struct model *m, uint16_t sqid, const struct hy_nvme_sqe *c, uint32_t *dw0,
			 bool *post)
{
	const uint16_t lba_range = HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_LBA_RANGE);
	struct model_ns *ns = model_ns_get(m, c->nsid);
	uint64_t slba = (uint64_t)c->cdw11 << 32 | c->cdw10;
	uint64_t nlb = (c->cdw12 & 0xffff) + 1;

	(void)dw0;
	m->io_cmds++;
	if (m->drop_io) {
		m->drop_io--;
		*post = false;
		if (m->ndropped < MODEL_MAX_DROP) {
			m->dropped[m->ndropped].sqid = sqid;
			m->dropped[m->ndropped].cid = c->cid;
			m->ndropped++;
		}
		return 0;
	}
	if (m->force_count) {
		if (m->force_skip) {
			m->force_skip--;
		} else {
			uint16_t st = m->force_status;

			m->force_count--;
			if (m->force_status2)
				m->force_status = m->force_status2;
			return st;
		}
	}
	if (!ns && !(c->opc == HY_NVME_CMD_FLUSH && c->nsid == UINT32_MAX))
		return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_NS);
	switch (c->opc) {
	case HY_NVME_CMD_READ:
	case HY_NVME_CMD_WRITE:
		if (slba >= ns->nsze || nlb > ns->nsze - slba)
			return lba_range;
		return model_dma(m, c, ns->data + (slba << ns->lbads), nlb << ns->lbads,
				 c->opc == HY_NVME_CMD_READ, true);
	case HY_NVME_CMD_FLUSH:
		m->flushes++;
		return 0;
	case HY_NVME_CMD_WRITE_ZEROES:
		if (c->prp1 || c->prp2 || c->flags)
			model_violation(m, "Write Zeroes carries a data pointer");
		if (slba >= ns->nsze || nlb > ns->nsze - slba)
			return lba_range;
		memset(ns->data + (slba << ns->lbads), 0, nlb << ns->lbads);
		return 0;
	case HY_NVME_CMD_DSM: {
		unsigned nr = (c->cdw10 & 0xff) + 1;
		uint16_t st;

		st = model_dma(m, c, m->last_dsm, nr * sizeof(m->last_dsm[0]), false, false);
		if (st)
			return st;
		m->last_dsm_nr = nr;
		for (unsigned i = 0; i < nr; i++) {
			struct hy_nvme_dsm_range *r = &m->last_dsm[i];

			if (r->slba >= ns->nsze || r->nlb > ns->nsze - r->slba)
				return lba_range;
		}
		if (c->cdw11 & HY_NVME_DSM_AD)
			for (unsigned i = 0; i < nr; i++)
				memset(ns->data + (m->last_dsm[i].slba << ns->lbads), 0,
				       (uint64_t)m->last_dsm[i].nlb << ns->lbads);
		return 0;
	}
	default:
		return HY_NVME_STATUS(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_OPCODE);
	}
}

static void model_process_sq(struct model *m, uint16_t qid)
{
	struct model_queue *sq = &m->sq[qid];

	while (sq->exists && sq->head != sq->tail && (m->cc & HY_NVME_CC_EN) &&
	       (m->csts & HY_NVME_CSTS_RDY) && !m->cfs) {
		struct model_queue *cq = &m->cq[sq->cqid];
		struct hy_nvme_sqe *src, c;
		uint32_t dw0 = 0;
		bool post = true;
		uint16_t st;

		/* Fetch only while the CQ has room for what may come back. */
		if ((uint16_t)((cq->tail + 1) % cq->size) == cq->head)
			return;
		src = model_iova(m, sq->iova + (uint64_t)sq->head * 64, 64);
		if (!src) {
			m->cfs = true;
			model_violation(m, "SQ %u entry %u is not mapped", qid, sq->head);
			return;
		}
		c = *src;
		if (++sq->head == sq->size)
			sq->head = 0;
		if (m->nlog < MODEL_LOG) {
			m->log[m->nlog] = c;
			m->log_sqid[m->nlog] = qid;
		}
		m->nlog++;
		/* Base 2.0, 3.3.3.1: a CID is unique among the SQ's outstanding commands. */
		for (unsigned i = 0; i < m->ndropped; i++)
			if (m->dropped[i].sqid == qid && m->dropped[i].cid == c.cid)
				model_violation(m, "SQ %u: CID %u reused while outstanding", qid,
						c.cid);
		/*
		 * FUSE is never used. PSDT 01b (SGL for data) only on I/O queues of a controller
		 * that reports SGLS (Base 2.0, 4.1.2; over PCIe, admin commands use PRPs).
		 */
		if ((c.flags & ~HY_NVME_PSDT_MASK) ||
		    ((c.flags & HY_NVME_PSDT_MASK) &&
		     ((c.flags & HY_NVME_PSDT_MASK) != HY_NVME_PSDT_SGL || qid == 0 ||
		      !(m->idc.sgls & HY_NVME_SGLS_MASK))))
			model_violation(m, "SQE on queue %u with FUSE/PSDT 0x%02x (SGLS 0x%x)", qid,
					c.flags, m->idc.sgls);
		if (c.cdw2 || c.cdw3 || c.mptr)
			model_violation(m, "SQE with reserved or metadata fields set");
		if (qid == 0)
			st = model_admin(m, &c, &dw0, &post);
		else
			st = model_io(m, qid, &c, &dw0, &post);
		if (post)
			model_post(m, qid, c.cid, st, dw0);
		if (qid != 0 && m->bogus_cqes) {
			m->bogus_cqes--;
			model_post(m, qid, 0xbeef, 0, 0);
		}
	}
}

void model_complete_dropped(struct model *m)
{
	for (unsigned i = 0; i < m->ndropped; i++)
		model_post(m, m->dropped[i].sqid, m->dropped[i].cid, 0, 0);
	m->ndropped = 0;
}

void model_step(struct model *m)
{
	for (uint16_t q = 0; q < MODEL_MAX_QUEUES; q++)
		model_process_sq(m, q);
}

/* ---- registers ---- */

static void model_write_cc(struct model *m, uint32_t v)
{
	uint32_t old = m->cc;

	m->cc = v;
	if (!(old & HY_NVME_CC_EN) && (v & HY_NVME_CC_EN)) {
		uint32_t asqs = (m->aqa & 0xfff) + 1, acqs = ((m->aqa >> 16) & 0xfff) + 1;

		m->enables++;
		if (HY_NVME_CC_IOSQES(v) != 6 || HY_NVME_CC_IOCQES(v) != 4 ||
		    HY_NVME_CC_MPS(v) != 0 || HY_NVME_CC_CSS(v) != 0)
			model_violation(m, "CC 0x%08x: unexpected IOSQES/IOCQES/MPS/CSS", v);
		if (asqs < 2 || acqs < 2 || !m->asq || !m->acq ||
		    ((m->asq | m->acq) & (HY_NVME_PAGE_SIZE - 1)))
			model_violation(m, "enabled with a bad admin queue (AQA 0x%08x)", m->aqa);
		model_reset_state(m);
		m->sq[0] = (struct model_queue){
			.exists = true, .iova = m->asq, .size = (uint16_t)asqs, .cqid = 0};
		m->cq[0] = (struct model_queue){
			.exists = true, .iova = m->acq, .size = (uint16_t)acqs, .phase = 1};
		m->csts_reads = 0;
		if (m->cfs_on_enable)
			m->cfs = true;
	} else if ((old & HY_NVME_CC_EN) && !(v & HY_NVME_CC_EN)) {
		/* Controller Level Reset (Base 2.0, 3.7.2): every queue is gone. */
		m->disables++;
		if (!m->never_disable)
			model_reset_state(m);
	} else if ((v & HY_NVME_CC_SHN_MASK) && !(old & HY_NVME_CC_SHN_MASK)) {
		m->shutdowns++;
		m->csts = (m->csts & ~HY_NVME_CSTS_SHST_MASK) | HY_NVME_CSTS_SHST_COMPLETE;
	}
}

static uint32_t model_read_csts(struct model *m)
{
	if ((m->cc & HY_NVME_CC_EN) && !(m->csts & HY_NVME_CSTS_RDY) && !m->never_ready &&
	    !m->cfs && m->csts_reads++ >= m->ready_delay_reads)
		m->csts |= HY_NVME_CSTS_RDY;
	return m->csts | (m->cfs ? HY_NVME_CSTS_CFS : 0);
}

static void model_doorbell(struct model *m, uint32_t off, uint32_t v)
{
	uint32_t stride = 4u << HY_NVME_CAP_DSTRD(m->cap);
	uint32_t idx = (off - HY_NVME_REG_DBS) / stride;
	uint16_t qid = (uint16_t)(idx / 2);
	bool is_cq = idx & 1;
	struct model_queue *q;

	if ((off - HY_NVME_REG_DBS) % stride || qid >= MODEL_MAX_QUEUES) {
		model_violation(m, "write to 0x%x, not a doorbell", off);
		return;
	}
	q = is_cq ? &m->cq[qid] : &m->sq[qid];
	if (!q->exists) {
		model_violation(m, "%s doorbell of queue %u, which does not exist",
				is_cq ? "CQ" : "SQ", qid);
		return;
	}
	if (v >= q->size) {
		model_violation(m, "%s %u doorbell value %u >= size %u", is_cq ? "CQ" : "SQ", qid,
				v, q->size);
		return;
	}
	if (is_cq) {
		/* The new head may not pass entries the controller has not posted. */
		uint16_t avail = (uint16_t)((q->tail + q->size - q->head) % q->size);
		uint16_t adv = (uint16_t)((v + q->size - q->head) % q->size);

		if (adv > avail)
			model_violation(m, "CQ %u head %u passes the tail %u", qid, v, q->tail);
		m->cq_db_writes[qid]++;
		q->head = (uint16_t)v;
		if (m->auto_process)
			model_step(m); /* room in the CQ may unblock an SQ */
	} else {
		uint16_t used = (uint16_t)((q->tail + q->size - q->head) % q->size);
		uint16_t adv = (uint16_t)((v + q->size - q->tail) % q->size);

		if (used + adv >= q->size)
			model_violation(m, "SQ %u tail %u overruns the head %u", qid, v, q->head);
		m->sq_db_writes[qid]++;
		q->tail = (uint16_t)v;
		if (m->auto_process)
			model_process_sq(m, qid);
	}
}

static uint32_t model_reg_read(struct model *m, uint32_t off)
{
	switch (off) {
	case HY_NVME_REG_CAP:
		return (uint32_t)m->cap;
	case HY_NVME_REG_CAP + 4:
		return (uint32_t)(m->cap >> 32);
	case HY_NVME_REG_VS:
		return m->vs;
	case HY_NVME_REG_CC:
		return m->cc;
	case HY_NVME_REG_CSTS:
		return model_read_csts(m);
	case HY_NVME_REG_AQA:
		return m->aqa;
	case HY_NVME_REG_ASQ:
		return (uint32_t)m->asq;
	case HY_NVME_REG_ASQ + 4:
		return (uint32_t)(m->asq >> 32);
	case HY_NVME_REG_ACQ:
		return (uint32_t)m->acq;
	case HY_NVME_REG_ACQ + 4:
		return (uint32_t)(m->acq >> 32);
	default:
		if (off >= HY_NVME_REG_DBS)
			model_violation(m, "the host read doorbell 0x%x (vendor specific)", off);
		return 0;
	}
}

static void model_reg_write(struct model *m, uint32_t off, uint32_t v)
{
	bool enabled = m->cc & HY_NVME_CC_EN;

	switch (off) {
	case HY_NVME_REG_CC:
		model_write_cc(m, v);
		return;
	case HY_NVME_REG_AQA:
	case HY_NVME_REG_ASQ:
	case HY_NVME_REG_ASQ + 4:
	case HY_NVME_REG_ACQ:
	case HY_NVME_REG_ACQ + 4:
		if (enabled)
			model_violation(m, "admin queue register 0x%x written while enabled", off);
		if (off == HY_NVME_REG_AQA)
			m->aqa = v;
		else if (off == HY_NVME_REG_ASQ)
			m->asq = (m->asq & ~0xffffffffull) | v;
		else if (off == HY_NVME_REG_ASQ + 4)
			m->asq = (m->asq & 0xffffffffull) | (uint64_t)v << 32;
		else if (off == HY_NVME_REG_ACQ)
			m->acq = (m->acq & ~0xffffffffull) | v;
		else
			m->acq = (m->acq & 0xffffffffull) | (uint64_t)v << 32;
		return;
	default:
		if (off >= HY_NVME_REG_DBS)
			model_doorbell(m, off, v);
		else
			model_violation(m, "write of 0x%x to read-only or unknown register 0x%x", v,
					off);
	}
}

static uint32_t model_bar_off(struct model *m, const volatile void *addr)
{
	uintptr_t a = (uintptr_t)addr, b = (uintptr_t)m->bar;

	if (a < b || a + 4 > b + MODEL_BAR_SIZE || (a & 3)) {
		fprintf(stderr, "model: MMIO access outside BAR0 at %p\n", (const void *)a);
		abort();
	}
	return (uint32_t)(a - b);
}

uint32_t hy_nvme_test_mmio_read32(const volatile void *addr)
{
	return model_reg_read(model_cur, model_bar_off(model_cur, addr));
}

void hy_nvme_test_mmio_write32(volatile void *addr, uint32_t val)
{
	model_reg_write(model_cur, model_bar_off(model_cur, addr), val);
}

/* ---- construction ---- */

uint32_t model_ns_add(struct model *m, uint64_t nsze, unsigned lbads, uint16_t ms)
{
	struct model_ns *ns = &m->ns[m->nns];

	if (m->nns == MODEL_MAX_NS)
		abort();
	ns->nsze = nsze;
	ns->lbads = lbads;
	ns->ms = ms;
	ns->data = calloc(1, nsze << lbads);
	if (!ns->data)
		abort();
	m->nns++;
	if (m->idc.nn < m->nns)
		m->idc.nn = m->nns;
	m->active[m->nactive++] = m->nns;
	return m->nns;
}

struct model *model_new(void)
{
	struct model *m = aligned_alloc(4096, (sizeof(struct model) + 4095) & ~(size_t)4095);

	if (!m)
		abort();
	memset(m, 0, sizeof(*m));
	/* Like QEMU 7.2 (lab notes), except TO = 1 so that "never ready" takes 500 ms. */
	m->cap = 0x004018200f0107ffull;
	m->cap = (m->cap & ~(0xffull << 24)) | (1ull << 24);
	m->vs = 0x00010400;
	m->idc.vid = 0x1b36;
	m->idc.ssvid = 0x1af4;
	memcpy(m->idc.sn, "deadbeef            ", 20);
	memcpy(m->idc.mn, "QEMU NVMe Ctrl                          ", 40);
	memcpy(m->idc.fr, "7.2.0   ", 8);
	m->idc.mdts = 7;
	m->idc.ver = 0x00010400;
	m->idc.acl = 3;
	m->idc.elpe = 3;
	m->idc.sqes = 0x66;
	m->idc.cqes = 0x44;
	m->idc.oncs = HY_NVME_ONCS_DSM | HY_NVME_ONCS_WRITE_ZEROES | HY_NVME_ONCS_COMPARE;
	m->idc.vwc = HY_NVME_VWC_PRESENT;
	m->max_io_queues = 8;
	m->auto_process = true;
	model_ns_add(m, 16384, 9, 0); /* 8 MiB of 512-byte blocks */
	model_cur = m;
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->nns; i++)
		free(m->ns[i].data);
	if (model_cur == m)
		model_cur = NULL;
	free(m);
}

void model_ctrl_cfg(struct model *m, struct hy_nvme_ctrl_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "model";
	cfg->bar0 = m->bar;
	cfg->bar0_len = MODEL_BAR_SIZE;
	cfg->dma = &model_dma_ops;
	cfg->dma_priv = m;
}
