/* SPDX-License-Identifier: MIT */
/*
 * hydra-bench's verify format: see bench_verify.h.
 */
#include "tools/bench_verify.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* CRC32C, reflected polynomial (RFC 3720, B.4). */
#define CRC32C_POLY 0x82f63b78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (unsigned k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	/* Slice-by-8: table[k][i] is the CRC of byte i followed by k zero bytes. */
	for (unsigned i = 0; i < 256; i++)
		for (unsigned k = 1; k < 8; k++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^
					  crc_table[0][crc_table[k - 1][i] & 0xff];
}

uint32_t hy_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= crc; /* little-endian: the CRC meets the first four bytes */
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t hy_stamp_unit(uint32_t bs)
{
	if (bs < HY_STAMP_MIN_UNIT || bs % 8)
		return 0;
	if (bs <= HY_STAMP_UNIT)
		return bs;
	return bs % HY_STAMP_UNIT ? 0 : HY_STAMP_UNIT;
}

/* splitmix64's finaliser: spreads (seed, lba, gen) over the pattern generator's state. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t pattern_state(uint64_t seed, uint64_t lba, uint32_t gen)
{
	uint64_t s = mix64(seed ^ mix64(lba ^ ((uint64_t)gen << 40)));

	return s ? s : 0x9e3779b97f4a7c15ull; /* xorshift must not start at 0 */
}

/* xorshift64*: one multiply per 8 bytes of pattern. */
static inline uint64_t pattern_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void fill_unit(uint8_t *u, uint32_t unit, uint64_t lba, uint32_t gen, uint64_t seed)
{
	struct hy_stamp st = {
		.magic = HY_STAMP_MAGIC, .lba = lba, .seed = seed, .gen = gen, .len = unit};
	uint64_t s = pattern_state(seed, lba, gen);

	for (uint32_t off = sizeof(st); off < unit; off += 8) {
		uint64_t w = pattern_next(&s);

		memcpy(u + off, &w, 8);
	}
	memcpy(u, &st, sizeof(st));
	st.crc = hy_crc32c(0, u, unit);
	memcpy(u + offsetof(struct hy_stamp, crc), &st.crc, sizeof(st.crc));
}

void hy_stamp_fill(void *buf, uint32_t bs, uint64_t lba, uint32_t gen, uint64_t seed)
{
	uint32_t unit = hy_stamp_unit(bs);
	uint8_t *p = buf;

	for (uint32_t off = 0; off < bs; off += unit)
		fill_unit(p + off, unit, lba + off / HY_STAMP_SECTOR, gen, seed);
}

/* The first byte of a unit's pattern that differs from what (seed, lba, gen) generates. */
static size_t first_pattern_diff(const uint8_t *u, uint32_t unit, uint64_t lba, uint32_t gen,
				 uint64_t seed)
{
	uint64_t s = pattern_state(seed, lba, gen);

	for (uint32_t off = sizeof(struct hy_stamp); off < unit; off += 8) {
		uint64_t w = pattern_next(&s);

		if (memcmp(u + off, &w, 8)) {
			const uint8_t *e = (const uint8_t *)&w;

			for (unsigned k = 0; k < 8; k++)
				if (u[off + k] != e[k])
					return off + k;
		}
	}
	return 0; /* the pattern is intact: a header field (crc itself) changed */
}

enum hy_stamp_result hy_stamp_check(const void *buf, uint32_t bs, uint64_t lba, uint32_t gen,
				    uint64_t seed, struct hy_stamp_mismatch *mm)
{
	uint32_t unit = hy_stamp_unit(bs);
	const uint8_t *p = buf;

	if (gen == HY_STAMP_GEN_NONE)
		return HY_STAMP_OK;
	for (uint32_t off = 0; off < bs; off += unit) {
		const uint8_t *u = p + off;
		uint64_t ulba = lba + off / HY_STAMP_SECTOR;
		struct hy_stamp got, exp = {.magic = HY_STAMP_MAGIC,
					    .lba = ulba,
					    .seed = seed,
					    .gen = gen,
					    .len = unit};
		enum hy_stamp_result r = HY_STAMP_OK;
		uint32_t crc;

		memcpy(&got, u, sizeof(got));
		if (got.magic != exp.magic)
			r = HY_STAMP_BAD_MAGIC;
		else if (got.len != exp.len)
			r = HY_STAMP_BAD_LEN;
		else if (got.seed != exp.seed)
			r = HY_STAMP_BAD_SEED;
		else if (got.lba != exp.lba)
			r = HY_STAMP_BAD_LBA;
		else if (got.gen != exp.gen)
			r = HY_STAMP_BAD_GEN;
		/* CRC with the crc field taken as 0: the three pieces around it. */
		crc = hy_crc32c(0, u, offsetof(struct hy_stamp, crc));
		crc = hy_crc32c(crc, "\0\0\0\0", 4);
		crc = hy_crc32c(crc, u + 8, unit - 8);
		if (r == HY_STAMP_OK && crc != got.crc)
			r = HY_STAMP_BAD_CRC;
		if (r == HY_STAMP_OK)
			continue;
		if (mm) {
			exp.crc = crc;
			*mm = (struct hy_stamp_mismatch){
				.what = r,
				.lba = ulba,
				.unit = off / unit,
				.exp = exp,
				.got = got,
				.first_bad = r == HY_STAMP_BAD_CRC
						     ? first_pattern_diff(u, unit, ulba, gen, seed)
						     : 0,
			};
		}
		return r;
	}
	return HY_STAMP_OK;
}

const char *hy_stamp_result_str(enum hy_stamp_result r)
{
	static const char *const names[] = {
		[HY_STAMP_OK] = "ok",
		[HY_STAMP_BAD_MAGIC] = "bad magic (never written, zeroed or overwritten)",
		[HY_STAMP_BAD_LEN] = "bad unit length (another block size)",
		[HY_STAMP_BAD_SEED] = "bad seed (another run's data)",
		[HY_STAMP_BAD_LBA] = "bad lba (misdirected write)",
		[HY_STAMP_BAD_GEN] = "bad generation (lost or stale write)",
		[HY_STAMP_BAD_CRC] = "bad crc (corrupted data)",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

char *hy_stamp_describe(const struct hy_stamp_mismatch *mm, char *out, size_t len)
{
	const struct hy_stamp *e = &mm->exp, *g = &mm->got;

	snprintf(out, len,
		 "lba %" PRIu64 " (byte offset %" PRIu64 ", unit %u): %s: expected magic 0x%08x "
		 "lba %" PRIu64 " gen %u seed 0x%" PRIx64 " len %u; found magic 0x%08x "
		 "lba %" PRIu64 " gen %u seed 0x%" PRIx64 " len %u; crc stored 0x%08x, "
		 "computed 0x%08x",
		 mm->lba, mm->lba * HY_STAMP_SECTOR, mm->unit, hy_stamp_result_str(mm->what),
		 e->magic, e->lba, e->gen, e->seed, e->len, g->magic, g->lba, g->gen, g->seed,
		 g->len, g->crc, e->crc);
	if (mm->what == HY_STAMP_BAD_CRC && mm->first_bad) {
		size_t n = strlen(out);

		if (n < len)
			snprintf(out + n, len - n, "; first bad byte at unit offset %zu",
				 mm->first_bad);
	}
	return out;
}
