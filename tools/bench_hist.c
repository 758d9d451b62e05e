/* SPDX-License-Identifier: MIT */
/*
 * hydra-bench's latency histogram: see bench_hist.h for the layout.
 */
#include "tools/bench_hist.h"

#include <string.h>

void hy_hist_init(struct hy_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t hy_hist_bucket_lo(unsigned idx)
{
	unsigned e;

	if (idx < HY_HIST_SUB)
		return idx;
	/* idx = e * HALF + m with m in [HALF, 2 * HALF): see hy_hist_index(). */
	e = idx / HY_HIST_HALF - 1;
	return (uint64_t)(idx - e * HY_HIST_HALF) << e;
}

uint64_t hy_hist_bucket_hi(unsigned idx)
{
	unsigned e;

	if (idx < HY_HIST_SUB)
		return idx;
	e = idx / HY_HIST_HALF - 1;
	/* The last bucket's end wraps to 0 and the - 1 brings it back to UINT64_MAX. */
	return ((uint64_t)(idx - e * HY_HIST_HALF + 1) << e) - 1;
}

void hy_hist_merge(struct hy_hist *dst, const struct hy_hist *src)
{
	for (unsigned i = 0; i < HY_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hy_hist_percentile(const struct hy_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (!h->count)
		return 0;
	if (p >= 100.0)
		return h->max;
	if (p <= 0.0)
		return h->min;
	/* The smallest rank whose share of the count reaches p: ceil(p / 100 * count). */
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (!rank)
		rank = 1;
	for (unsigned i = 0; i < HY_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen < rank)
			continue;
		v = hy_hist_bucket_lo(i) + (hy_hist_bucket_hi(i) - hy_hist_bucket_lo(i)) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

double hy_hist_mean(const struct hy_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
