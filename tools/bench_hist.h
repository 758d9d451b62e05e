/* SPDX-License-Identifier: MIT */
/*
 * A log-linear latency histogram for hydra-bench, HdrHistogram's layout in its simplest form.
 *
 * Values below 2^HY_HIST_SUB_BITS are counted exactly. Above, every power-of-two range
 * [2^k, 2^(k+1)) is cut into 2^(HY_HIST_SUB_BITS - 1) equal buckets, so a bucket is at most
 * 1/2^(HY_HIST_SUB_BITS - 1) of the values it holds wide: with 8 sub-bucket bits, 1/128 (0.8 %),
 * and a percentile reported as its bucket's midpoint is within 0.4 % of the true value. The
 * whole uint64_t range fits in HY_HIST_BUCKETS counters (58 KiB): recording is a count-leading-
 * zeros, a shift and an increment, with no allocation and no branch on the range.
 *
 * A histogram belongs to one thread while it records; merge per-thread histograms afterwards.
 */
#ifndef HY_TOOLS_BENCH_HIST_H
#define HY_TOOLS_BENCH_HIST_H

#include <stdint.h>

#define HY_HIST_SUB_BITS 8
#define HY_HIST_SUB	 (1u << HY_HIST_SUB_BITS)	/* exact values below this */
#define HY_HIST_HALF	 (1u << (HY_HIST_SUB_BITS - 1)) /* buckets per power of two above */
/* The top value 2^64 - 1 has its highest bit at 63: exponent 63 - (SUB_BITS - 1). */
#define HY_HIST_BUCKETS ((64 - HY_HIST_SUB_BITS + 1) * HY_HIST_HALF + HY_HIST_HALF)

struct hy_hist {
	uint64_t count;
	uint64_t min; /* exact; UINT64_MAX while empty */
	uint64_t max; /* exact */
	uint64_t sum; /* for the mean; wraps after 584 years of nanoseconds */
	uint64_t buckets[HY_HIST_BUCKETS];
};

/**
 * hy_hist_index() - the bucket a value falls in.
 * @v: value
 *
 * Below HY_HIST_SUB the value itself; above, exponent e = msb - (SUB_BITS - 1) >= 1 and the
 * index e * HALF + (v >> e), where v >> e lies in [HALF, SUB). Indices are contiguous and
 * increase with the value.
 * Return: an index below HY_HIST_BUCKETS.
 */
static inline unsigned hy_hist_index(uint64_t v)
{
	unsigned e;

	if (v < HY_HIST_SUB)
		return (unsigned)v;
	e = (unsigned)(63 - __builtin_clzll(v)) - (HY_HIST_SUB_BITS - 1);
	return e * HY_HIST_HALF + (unsigned)(v >> e);
}

/**
 * hy_hist_record() - count one value.
 * @h: histogram owned by the calling thread
 * @v: value (nanoseconds in hydra-bench)
 *
 * The per-I/O path: no allocation, no syscall.
 */
static inline void hy_hist_record(struct hy_hist *h, uint64_t v)
{
	h->buckets[hy_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/** hy_hist_init() - empty @h. */
void hy_hist_init(struct hy_hist *h);

/**
 * hy_hist_bucket_lo() - the smallest value bucket @idx holds.
 * @idx: bucket index below HY_HIST_BUCKETS
 */
uint64_t hy_hist_bucket_lo(unsigned idx);

/**
 * hy_hist_bucket_hi() - the largest value bucket @idx holds.
 * @idx: bucket index below HY_HIST_BUCKETS
 */
uint64_t hy_hist_bucket_hi(unsigned idx);

/**
 * hy_hist_merge() - add @src's counts into @dst.
 * @dst: histogram to add to
 * @src: histogram to add (not changed)
 */
void hy_hist_merge(struct hy_hist *dst, const struct hy_hist *src);

/**
 * hy_hist_percentile() - the value at percentile @p.
 * @h: histogram
 * @p: 0 to 100 (99.9 for p99.9)
 *
 * The value v such that at least @p percent of the recorded values are <= v, reported as the
 * midpoint of its bucket (clamped to the exact min and max), so within 0.4 % of the truth.
 * Return: the value, or 0 when @h is empty.
 */
uint64_t hy_hist_percentile(const struct hy_hist *h, double p);

/** hy_hist_mean() - the mean of the recorded values, 0 when empty. */
double hy_hist_mean(const struct hy_hist *h);

#endif
