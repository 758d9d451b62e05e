/* SPDX-License-Identifier: MIT */
/*
 * hydra-bench's verify format: every unit (4 KiB, or the block size when that is smaller) that
 * hydra-bench writes with --verify starts with a stamp that says where it belongs and which
 * write it came from; the rest of the unit is a pattern derived from the stamp; a CRC32C
 * (Castagnoli, software, slice-by-8) covers the whole unit. Reading it back finds each way a
 * storage stack loses data: a unit that was never written or was zeroed (magic), written at the
 * wrong place (lba), a lost or stale write (generation), another run's data (seed), and flipped
 * bits anywhere in the unit (crc).
 *
 * Layout, host byte order (hydra-bench reads what it wrote on the same machine):
 *
 *   0  magic "HYBV"    4  crc32c (computed with this field 0)    8  lba (512-byte sector)
 *   16 seed            24 generation                             28 unit length
 *   32 pattern: 64-bit words from xorshift64* seeded with (seed, lba, generation)
 */
#ifndef HY_TOOLS_BENCH_VERIFY_H
#define HY_TOOLS_BENCH_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define HY_STAMP_MAGIC	  0x56425948u /* "HYBV" in a little-endian dump */
#define HY_STAMP_UNIT	  4096u	      /* largest unit; smaller blocks are stamped whole */
#define HY_STAMP_MIN_UNIT 64u	      /* header plus room for a pattern */
#define HY_STAMP_SECTOR	  512u
#define HY_STAMP_GEN_NONE 0u /* never written in this run: not checked */

struct hy_stamp {
	uint32_t magic;
	uint32_t crc;
	uint64_t lba;
	uint64_t seed;
	uint32_t gen;
	uint32_t len;
};
_Static_assert(sizeof(struct hy_stamp) == 32, "verify stamp header");

/* What hy_stamp_check() found wrong, in the order it looks. */
enum hy_stamp_result {
	HY_STAMP_OK = 0,
	HY_STAMP_BAD_MAGIC, /* not a hydra-bench unit: never written, zeroed or overwritten */
	HY_STAMP_BAD_LEN,   /* written with another block size */
	HY_STAMP_BAD_SEED,  /* written by another run (another --seed) */
	HY_STAMP_BAD_LBA,   /* misdirected: this is another block's data */
	HY_STAMP_BAD_GEN,   /* stale or lost write: an older (or newer) generation */
	HY_STAMP_BAD_CRC,   /* the header is right but bits in the unit changed */
};

/* Expected against found, for the error message. */
struct hy_stamp_mismatch {
	enum hy_stamp_result what;
	uint64_t lba;	     /* sector of the unit that failed */
	unsigned unit;	     /* its index in the block */
	struct hy_stamp exp; /* crc: the crc computed over what was read */
	struct hy_stamp got; /* the header as read */
	size_t first_bad;    /* BAD_CRC: first byte that differs from the expected pattern */
};

/**
 * hy_crc32c() - CRC32C (Castagnoli) of @len bytes, in software (slice-by-8).
 * @crc: 0 to start, or a previous result to continue
 * @buf: data
 * @len: bytes
 *
 * Thread-safe (the tables are built once, under pthread_once).
 * Return: the CRC (standard: "123456789" gives 0xe3069283).
 */
uint32_t hy_crc32c(uint32_t crc, const void *buf, size_t len);

/**
 * hy_stamp_unit() - the stamp unit for a block size.
 * @bs: block size in bytes
 * Return: min(@bs, HY_STAMP_UNIT), or 0 when @bs cannot be stamped (below HY_STAMP_MIN_UNIT,
 * or larger than a unit and not a multiple of it, or not a multiple of 8).
 */
uint32_t hy_stamp_unit(uint32_t bs);

/**
 * hy_stamp_fill() - stamp a block for writing.
 * @buf: @bs bytes
 * @bs: block size, with hy_stamp_unit(@bs) != 0
 * @lba: sector of the block's first byte
 * @gen: generation of this write (>= 1)
 * @seed: the run's seed
 */
void hy_stamp_fill(void *buf, uint32_t bs, uint64_t lba, uint32_t gen, uint64_t seed);

/**
 * hy_stamp_check() - check a block that was read.
 * @buf: @bs bytes as read
 * @bs: block size
 * @lba: sector of the block's first byte
 * @gen: the generation last written there (HY_STAMP_GEN_NONE: nothing to check)
 * @seed: the run's seed
 * @mm: filled in on a mismatch (the first unit that fails), may be NULL
 *
 * Return: HY_STAMP_OK, or what was wrong with the first unit that fails.
 */
enum hy_stamp_result hy_stamp_check(const void *buf, uint32_t bs, uint64_t lba, uint32_t gen,
				    uint64_t seed, struct hy_stamp_mismatch *mm);

/** hy_stamp_result_str() - "bad magic", "bad crc", ... */
const char *hy_stamp_result_str(enum hy_stamp_result r);

/**
 * hy_stamp_describe() - one line saying what was expected and what was found.
 * @mm: a mismatch from hy_stamp_check()
 * @out: buffer
 * @len: its size
 * Return: @out.
 */
char *hy_stamp_describe(const struct hy_stamp_mismatch *mm, char *out, size_t len);

#endif
