/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for hydra-bench's own logic: the log-linear histogram (tools/bench_hist.c), the
 * verify format and CRC32C (tools/bench_verify.c), and the argument checks, block picking,
 * the verify generations around DISCARD, the --verify-state file, --check-image, /proc CPU
 * reading and status-socket pid parsing of tools/hydra_bench.c (included without its main()).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#define HY_BENCH_NO_MAIN
#include "tools/bench_hist.c"
#include "tools/bench_verify.c"
#include "tools/hydra_bench.c"

/* ---- histogram ---- */

Test(hist, small_values_are_exact)
{
	for (uint64_t v = 0; v < HY_HIST_SUB; v++) {
		cr_assert_eq(hy_hist_index(v), v);
		cr_assert_eq(hy_hist_bucket_lo((unsigned)v), v);
		cr_assert_eq(hy_hist_bucket_hi((unsigned)v), v);
	}
}

Test(hist, buckets_are_contiguous_and_cover_uint64)
{
	/* Every bucket starts right after the previous one ends, up to UINT64_MAX. */
	for (unsigned i = 1; i < HY_HIST_BUCKETS; i++) {
		cr_assert_eq(hy_hist_bucket_lo(i), hy_hist_bucket_hi(i - 1) + 1, "bucket %u", i);
		cr_assert_eq(hy_hist_index(hy_hist_bucket_lo(i)), i);
		cr_assert_eq(hy_hist_index(hy_hist_bucket_hi(i)), i);
	}
	cr_assert_eq(hy_hist_bucket_hi(HY_HIST_BUCKETS - 1), UINT64_MAX);
	cr_assert_eq(hy_hist_index(UINT64_MAX), HY_HIST_BUCKETS - 1);
}

Test(hist, precision_is_better_than_one_percent)
{
	uint64_t s = 12345;

	for (int i = 0; i < 100000; i++) {
		uint64_t v = rng_next(&s) >> (rng_next(&s) % 60);
		unsigned idx = hy_hist_index(v);
		uint64_t lo = hy_hist_bucket_lo(idx), hi = hy_hist_bucket_hi(idx);

		cr_assert(lo <= v && v <= hi);
		/* Width relative to the smallest value in the bucket: at most 1/128. */
		cr_assert((double)(hi - lo) <= (double)lo / 128.0 + 1e-9, "v %llu lo %llu hi %llu",
			  (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
	}
}

Test(hist, percentiles_of_a_known_distribution)
{
	struct hy_hist *h = malloc(sizeof(*h));

	hy_hist_init(h);
	cr_assert_eq(hy_hist_percentile(h, 50), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		hy_hist_record(h, v * 1000); /* 1 us .. 100 ms in ns */
	cr_assert_eq(h->count, 100000);
	cr_assert_eq(h->min, 1000);
	cr_assert_eq(h->max, 100000000);
	struct {
		double p;
		double want;
	} cases[] = {{50, 50000e3}, {90, 90000e3}, {99, 99000e3}, {99.9, 99900e3}, {1, 1000e3}};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = (double)hy_hist_percentile(h, cases[i].p);

		cr_assert(got > cases[i].want * 0.995 && got < cases[i].want * 1.005,
			  "p%.1f: got %.0f want %.0f", cases[i].p, got, cases[i].want);
	}
	cr_assert_eq(hy_hist_percentile(h, 100), 100000000);
	cr_assert_eq(hy_hist_percentile(h, 0), 1000);
	cr_assert_float_eq(hy_hist_mean(h), 50000.5e3, 1.0);
	free(h);
}

Test(hist, percentile_is_clamped_to_min_and_max)
{
	struct hy_hist *h = malloc(sizeof(*h));

	hy_hist_init(h);
	hy_hist_record(h, 1000001);
	/* One value: every percentile is that value, not its bucket's midpoint. */
	cr_assert_eq(hy_hist_percentile(h, 50), 1000001);
	cr_assert_eq(hy_hist_percentile(h, 99.9), 1000001);
	free(h);
}

Test(hist, merge_adds_counts_min_max)
{
	struct hy_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	hy_hist_init(a);
	hy_hist_init(b);
	for (int i = 0; i < 99; i++)
		hy_hist_record(a, 100);
	hy_hist_record(b, 5);
	hy_hist_record(b, 1u << 30);
	hy_hist_merge(a, b);
	cr_assert_eq(a->count, 101);
	cr_assert_eq(a->min, 5);
	cr_assert_eq(a->max, 1u << 30);
	cr_assert_eq(hy_hist_percentile(a, 50), 100);
	cr_assert_eq(hy_hist_percentile(a, 100), 1u << 30);
	/* p99.5 of 101 values is rank 101: the largest. */
	cr_assert_eq(hy_hist_percentile(a, 99.5), 1u << 30);
	free(a);
	free(b);
}

/* ---- CRC32C and the verify format ---- */

Test(verify, crc32c_check_value)
{
	/* The standard check value (RFC 3720 B.4; "123456789"). */
	cr_assert_eq(hy_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(hy_crc32c(0, "", 0), 0);
	/* 32 zero bytes: RFC 3720 B.4. */
	uint8_t z[32] = {0};

	cr_assert_eq(hy_crc32c(0, z, sizeof(z)), 0x8a9136aau);
}

Test(verify, crc32c_is_incremental_and_alignment_free)
{
	uint8_t buf[1000];
	uint64_t s = 7;

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rng_next(&s);
	uint32_t whole = hy_crc32c(0, buf + 3, 900);

	cr_assert_eq(hy_crc32c(hy_crc32c(0, buf + 3, 17), buf + 20, 883), whole);
	memmove(buf, buf + 3, 900);
	cr_assert_eq(hy_crc32c(0, buf, 900), whole);
}

Test(verify, unit_sizes)
{
	cr_assert_eq(hy_stamp_unit(512), 512);
	cr_assert_eq(hy_stamp_unit(4096), 4096);
	cr_assert_eq(hy_stamp_unit(131072), 4096);
	cr_assert_eq(hy_stamp_unit(32), 0);
	cr_assert_eq(hy_stamp_unit(8192 + 512), 0);
}

static uint8_t *stamped(uint32_t bs, uint64_t lba, uint32_t gen, uint64_t seed)
{
	uint8_t *p = malloc(bs);

	hy_stamp_fill(p, bs, lba, gen, seed);
	return p;
}

Test(verify, a_block_checks_against_what_was_written)
{
	uint8_t *p = stamped(4096, 800, 3, 42);

	cr_assert_eq(hy_stamp_check(p, 4096, 800, 3, 42, NULL), HY_STAMP_OK);
	/* Never written in this run: nothing is expected, anything is accepted. */
	memset(p, 0, 4096);
	cr_assert_eq(hy_stamp_check(p, 4096, 800, HY_STAMP_GEN_NONE, 42, NULL), HY_STAMP_OK);
	free(p);
}

Test(verify, each_kind_of_damage_is_named)
{
	struct hy_stamp_mismatch mm;
	uint8_t *p = stamped(4096, 800, 3, 42);
	char msg[600];

	cr_assert_eq(hy_stamp_check(p, 4096, 800, 4, 42, &mm), HY_STAMP_BAD_GEN);
	cr_assert_eq(mm.exp.gen, 4);
	cr_assert_eq(mm.got.gen, 3);
	cr_assert_eq(hy_stamp_check(p, 4096, 808, 3, 42, &mm), HY_STAMP_BAD_LBA);
	cr_assert_eq(mm.lba, 808);
	cr_assert_eq(mm.got.lba, 800);
	cr_assert_eq(hy_stamp_check(p, 4096, 800, 3, 43, &mm), HY_STAMP_BAD_SEED);
	cr_assert_eq(hy_stamp_check(p, 512, 800, 3, 42, &mm), HY_STAMP_BAD_LEN);

	/* One flipped bit in the pattern: the CRC catches it and says where. */
	p[1000] ^= 0x10;
	cr_assert_eq(hy_stamp_check(p, 4096, 800, 3, 42, &mm), HY_STAMP_BAD_CRC);
	cr_assert_eq(mm.first_bad, 1000);
	hy_stamp_describe(&mm, msg, sizeof(msg));
	cr_assert(strstr(msg, "lba 800 (byte offset 409600"), "%s", msg);
	cr_assert(strstr(msg, "bad crc"), "%s", msg);
	cr_assert(strstr(msg, "first bad byte at unit offset 1000"), "%s", msg);
	p[1000] ^= 0x10;

	/* The crc field itself damaged. */
	p[5] ^= 1;
	cr_assert_eq(hy_stamp_check(p, 4096, 800, 3, 42, &mm), HY_STAMP_BAD_CRC);
	p[5] ^= 1;

	memset(p, 0, 64);
	cr_assert_eq(hy_stamp_check(p, 4096, 800, 3, 42, &mm), HY_STAMP_BAD_MAGIC);
	cr_assert(strstr(hy_stamp_describe(&mm, msg, sizeof(msg)), "found magic 0x00000000"), "%s",
		  msg);
	free(p);
}

Test(verify, a_large_block_is_stamped_per_4k_unit)
{
	struct hy_stamp_mismatch mm;
	uint8_t *p = stamped(131072, 2048, 9, 1);

	cr_assert_eq(hy_stamp_check(p, 131072, 2048, 9, 1, NULL), HY_STAMP_OK);
	/* Unit 5 carries its own lba: 2048 + 5 * 8. */
	struct hy_stamp st;

	memcpy(&st, p + 5 * 4096, sizeof(st));
	cr_assert_eq(st.lba, 2048 + 40);
	p[5 * 4096 + 100] ^= 0xff;
	cr_assert_eq(hy_stamp_check(p, 131072, 2048, 9, 1, &mm), HY_STAMP_BAD_CRC);
	cr_assert_eq(mm.unit, 5);
	cr_assert_eq(mm.lba, 2048 + 40);
	cr_assert_eq(mm.first_bad, 100);
	/* Two units swapped: a misdirected write. */
	p[5 * 4096 + 100] ^= 0xff;
	uint8_t tmp[4096];

	memcpy(tmp, p + 4096, 4096);
	memcpy(p + 4096, p + 2 * 4096, 4096);
	memcpy(p + 2 * 4096, tmp, 4096);
	cr_assert_eq(hy_stamp_check(p, 131072, 2048, 9, 1, &mm), HY_STAMP_BAD_LBA);
	cr_assert_eq(mm.unit, 1);
	free(p);
}

Test(verify, the_pattern_differs_per_generation)
{
	uint8_t *a = stamped(4096, 8, 1, 1), *b = stamped(4096, 8, 2, 1);

	cr_assert_neq(memcmp(a + 32, b + 32, 4096 - 32), 0);
	free(a);
	free(b);
}

/* ---- arguments ---- */

/* argv as main() gets it: writable strings. */
struct argv_buf {
	char s[64][128];
	char *argv[65];
	int argc;
};

static void argv_push(struct argv_buf *a, const char *arg)
{
	snprintf(a->s[a->argc], sizeof(a->s[0]), "%s", arg);
	a->argv[a->argc] = a->s[a->argc];
	a->argc++;
	a->argv[a->argc] = NULL;
}

static int parse(char *err, struct opts *o, ...)
{
	static struct argv_buf a;
	const char *arg;
	va_list ap;

	a.argc = 0;
	argv_push(&a, "hydra-bench");
	va_start(ap, o);
	while ((arg = va_arg(ap, const char *)) && a.argc < 63)
		argv_push(&a, arg);
	va_end(ap);
	return parse_args(a.argc, a.argv, o, err, 512);
}

Test(args, defaults)
{
	struct opts o;
	char err[512];

	cr_assert_eq(parse(err, &o, "-s", "/tmp/x.sock", NULL), 0, "%s", err);
	cr_assert_eq(o.wl, WL_RANDREAD);
	cr_assert_eq(o.bs, 4096);
	cr_assert_eq(o.iodepth, 1);
	cr_assert_eq(o.queues, 1);
	cr_assert_eq(o.duration_ns, 10000000000ull);
	cr_assert_eq(o.io_timeout_ms, 10000);
	cr_assert_not(o.poll);
	cr_assert_eq(o.progress, -1);
}

Test(args, a_full_command_line)
{
	struct opts o;
	char err[512];

	cr_assert_eq(parse(err, &o, "--socket", "/s", "-w", "randrw", "--rwmixread", "70", "-b",
			   "128k", "-d", "32", "-q", "2", "-t", "500ms", "--ramp", "1s", "--verify",
			   "--verify-state", "/tmp/st", "--flush-interval", "64", "--poll",
			   "--cpus", "1,0", "--backend-pid", "1", "--backend-pid", "2", "--require",
			   "flush,event_idx", "--size", "64M", "--offset", "1m", "--json",
			   "--progress", "never", NULL),
		     0, "%s", err);
	cr_assert_eq(o.wl, WL_RANDRW);
	cr_assert_eq(o.rwmix_read, 70);
	cr_assert_eq(o.bs, 131072);
	cr_assert_eq(o.iodepth, 32);
	cr_assert_eq(o.queues, 2);
	cr_assert_eq(o.duration_ns, 500000000ull);
	cr_assert_eq(o.ramp_ns, 1000000000ull);
	cr_assert(o.verify && o.poll && o.json);
	cr_assert_eq(o.flush_interval, 64);
	cr_assert_eq(o.ncpus, 2);
	cr_assert_eq(o.cpus[0], 1);
	cr_assert_eq(o.cpus[1], 0);
	cr_assert_eq(o.npids, 2);
	cr_assert_eq(o.require, (1ull << HY_VU_BLK_F_FLUSH) | (1ull << HY_VU_VIRTIO_F_EVENT_IDX));
	cr_assert_eq(o.size, 64ull << 20);
	cr_assert_eq(o.offset, 1ull << 20);
	cr_assert_eq(o.progress, 0);
}

Test(args, count_mode_has_no_default_duration)
{
	struct opts o;
	char err[512];

	cr_assert_eq(parse(err, &o, "-s", "/s", "-n", "10k", NULL), 0, "%s", err);
	cr_assert_eq(o.io_count, 10240);
	cr_assert_eq(o.duration_ns, 0);
}

Test(args, help)
{
	struct opts o;
	char err[512];

	cr_assert_eq(parse(err, &o, "--help", NULL), 1);
}

Test(args, errors_say_what_is_wrong)
{
	struct {
		const char *args[6];
		const char *msg;
	} cases[] = {
		{{NULL}, "--socket is required"},
		{{"-s", "/s", "-w", "seqread"}, "unknown workload 'seqread'"},
		{{"-s", "/s", "-b", "1000"}, "--bs '1000'"},
		{{"-s", "/s", "-b", "0"}, "--bs '0'"},
		{{"-s", "/s", "-b", "8m"}, "--bs '8m'"},
		{{"-s", "/s", "-d", "0"}, "--iodepth '0'"},
		{{"-s", "/s", "-d", "-3"}, "--iodepth '-3'"},
		{{"-s", "/s", "-q", "65"}, "--queues '65'"},
		{{"-s", "/s", "--queue-size", "100"}, "--queue-size '100'"},
		{{"-s", "/s", "-t", "0"}, "--duration '0'"},
		{{"-s", "/s", "-t", "5h"}, "--duration '5h'"},
		{{"-s", "/s", "--rwmixread", "101"}, "--rwmixread '101'"},
		{{"-s", "/s", "--verify-state", "/x"}, "--verify-state needs --verify"},
		{{"-s", "/s", "--flush-interval", "8"}, "--flush-interval needs a workload"},
		{{"-s", "/s", "--size", "6000"}, "is not a multiple of --bs"},
		{{"-s", "/s", "--offset", "100"}, "--offset '100'"},
		{{"-s", "/s", "--cpus", "a,b"}, "--cpus 'a,b'"},
		{{"-s", "/s", "--require", "warp"}, "--require 'warp'"},
		{{"-s", "/s", "--io-timeout", "0"}, "--io-timeout '0'"},
		{{"-s", "/s", "--bogus"}, "unknown option '--bogus'"},
		{{"-s"}, "needs an argument"},
		{{"-s", "/s", "extra"}, "unexpected argument 'extra'"},
		{{"-s", "/s", "-w", "idle", "-n", "5"}, "--ios makes no sense"},
		{{"-s", "/s", "-w", "write", "--discard-interval", "0"}, "--discard-interval '0'"},
		{{"-s", "/s", "-w", "write", "--discard-interval", "x"}, "--discard-interval 'x'"},
		{{"-s", "/s", "--discard-interval", "8"}, "--discard-interval needs a workload"},
		{{"-s", "/s", "-w", "read", "--discard-interval", "8"},
		 "--discard-interval needs a workload"},
		{{"-s", "/s", "-w", "idle", "--discard-interval", "8"},
		 "--discard-interval needs a workload"},
		{{"--check-image", "/img"}, "--check-image needs --verify-state"},
		{{"--check-image", "/img", "--verify", "-w", "write"},
		 "--check-image needs --verify-state"},
		{{"--check-image", "/img", "--verify-state", "/st", "-s", "/s"}, "drop --socket"},
		{{"--check-image", "/img", "--verify-state", "/st", "--bs", "4608"},
		 "--bs 4608 cannot carry verify stamps"},
		{{"--check-image", "/img", "--verify-state", "/st", "--discard-interval", "8"},
		 "--check-image does no I/O"},
		{{"--check-image", "/img", "--verify-state", "/st", "--size", "6000"},
		 "is not a multiple of --bs"},
		{{"--check-image", "/img", "--verify-state", "/st", "--offset", "1536"},
		 "--offset 1536 is not a multiple of --bs"},
		{{"--check-image", ""}, "--check-image needs a file name"},
		{{"--check-image"}, "needs an argument"},
		{{"--verify-state", "/st"}, "--socket is required"},
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct argv_buf a;
		char err[512] = "";
		struct opts o;

		a.argc = 0;
		argv_push(&a, "hydra-bench");
		for (unsigned k = 0; k < 6 && cases[i].args[k]; k++)
			argv_push(&a, cases[i].args[k]);
		cr_expect_eq(parse_args(a.argc, a.argv, &o, err, sizeof(err)), -EINVAL, "case %u",
			     i);
		cr_expect(strstr(err, cases[i].msg), "case %u: '%s' lacks '%s'", i, err,
			  cases[i].msg);
	}
}

Test(args, discard_interval_and_check_image)
{
	struct opts o;
	char err[512];

	cr_assert_eq(parse(err, &o, "-s", "/s", "-w", "randrw", "--discard-interval", "16",
			   "--flush-interval", "4", NULL),
		     0, "%s", err);
	cr_assert_eq(o.discard_interval, 16);
	cr_assert_eq(o.flush_interval, 4);
	cr_assert_null(o.check_image);
	/* No socket, and no --verify needed: the state is what is checked against. */
	cr_assert_eq(parse(err, &o, "--check-image", "/var/img", "--verify-state", "/st", "--bs",
			   "8k", "--offset", "64k", "--size", "1m", "--seed", "7", NULL),
		     0, "%s", err);
	cr_assert_str_eq(o.check_image, "/var/img");
	cr_assert_str_eq(o.verify_state, "/st");
	cr_assert_null(o.socket);
	cr_assert_eq(o.bs, 8192);
	cr_assert_eq(o.offset, 65536);
	cr_assert_eq(o.size, 1ull << 20);
	cr_assert_eq(o.seed, 7);
	cr_assert_eq(o.discard_interval, 0);
}

Test(args, sizes_and_times)
{
	uint64_t v;

	cr_assert_eq(parse_size("4k", &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(parse_size("2GiB", &v), 0);
	cr_assert_eq(v, 2ull << 30);
	cr_assert_eq(parse_size("1MB", &v), 0);
	cr_assert_eq(v, 1ull << 20);
	cr_assert_eq(parse_size("4x", &v), -EINVAL);
	cr_assert_eq(parse_size("", &v), -EINVAL);
	cr_assert_eq(parse_size("99999999999T", &v), -ERANGE);
	cr_assert_eq(parse_time("1.5", &v), 0);
	cr_assert_eq(v, 1500000000ull);
	cr_assert_eq(parse_time("250us", &v), 0);
	cr_assert_eq(v, 250000ull);
	cr_assert_eq(parse_time("2m", &v), 0);
	cr_assert_eq(v, 120000000000ull);
	cr_assert_eq(parse_time("-1", &v), -EINVAL);
}

/* ---- block picking ---- */

Test(pick, verify_never_picks_a_block_in_flight)
{
	static struct bench b;
	struct qthread t = {.b = &b, .rng = 99, .blk_lo = 100, .nblk = 8};
	uint32_t gen[108] = {0};

	b.o.wl = WL_RANDRW;
	b.gen = gen;
	for (unsigned i = 100; i < 108; i++)
		if (i != 103)
			gen[i] = GEN_BUSY | 1;
	for (int i = 0; i < 100; i++)
		cr_assert_eq(pick_block(&t), 103);
	/* Sequential: wraps inside the queue's stretch. */
	b.o.wl = WL_WRITE;
	b.gen = NULL;
	t.seq_next = 6;
	cr_assert_eq(pick_block(&t), 106);
	cr_assert_eq(pick_block(&t), 107);
	cr_assert_eq(pick_block(&t), 100);
}

Test(pick, random_blocks_stay_in_the_stretch_and_cover_it)
{
	static struct bench b;
	struct qthread t = {.b = &b, .rng = 5, .blk_lo = 1000, .nblk = 64};
	bool seen[64] = {false};

	b.o.wl = WL_RANDREAD;
	for (int i = 0; i < 10000; i++) {
		uint64_t blk = pick_block(&t);

		cr_assert(blk >= 1000 && blk < 1064);
		seen[blk - 1000] = true;
	}
	for (int i = 0; i < 64; i++)
		cr_assert(seen[i], "block %d never picked", i);
}

Test(pick, a_discard_never_picks_a_block_in_flight)
{
	static struct bench b;
	struct qthread t = {.b = &b, .rng = 3, .blk_lo = 40, .nblk = 4};
	uint32_t gen[44] = {0};

	b.o.wl = WL_WRITE; /* sequential writes, yet discards land anywhere in the stretch */
	b.gen = gen;
	gen[40] = GEN_BUSY | 2;
	gen[41] = GEN_BUSY | GEN_DISCARDED | 2;
	gen[43] = GEN_BUSY;
	for (int i = 0; i < 100; i++)
		cr_assert_eq(pick_discard_block(&t), 42);
	/* Without --verify: uniform over the stretch. */
	bool seen[4] = {false};

	b.gen = NULL;
	for (int i = 0; i < 1000; i++) {
		uint64_t blk = pick_discard_block(&t);

		cr_assert(blk >= 40 && blk < 44);
		seen[blk - 40] = true;
	}
	for (int i = 0; i < 4; i++)
		cr_assert(seen[i], "block %d never discarded", 40 + i);
}

/* ---- verify generations around DISCARD: prepare() and complete() on a simulated device ---- */

#define SIM_BS 4096u

struct sim {
	struct bench b;
	struct qthread t;
	struct slot s;
	uint32_t gen[1];
	uint8_t disk[SIM_BS]; /* the region: one block, so every request lands on it */
	struct hy_vu_blk_req req;
};

static struct sim *sim_new(void)
{
	struct sim *m = calloc(1, sizeof(*m));

	m->b.o.bs = SIM_BS;
	m->b.o.seed = 77;
	m->b.o.wl = WL_RANDWRITE;
	m->b.region_sector = 0;
	m->b.nblocks = 1;
	m->b.gen = m->gen;
	m->t = (struct qthread){.b = &m->b, .rng = 1, .blk_lo = 0, .nblk = 1};
	m->t.hread = hist_alloc();
	m->t.hwrite = hist_alloc();
	m->t.hflush = hist_alloc();
	m->t.hdiscard = hist_alloc();
	hy_hist_init(m->t.hread);
	hy_hist_init(m->t.hwrite);
	hy_hist_init(m->t.hflush);
	hy_hist_init(m->t.hdiscard);
	m->s.iov = (struct iovec){.iov_base = malloc(SIM_BS), .iov_len = SIM_BS};
	return m;
}

static void sim_free(struct sim *m)
{
	free(m->t.hread);
	free(m->t.hwrite);
	free(m->t.hflush);
	free(m->t.hdiscard);
	free(m->s.iov.iov_base);
	free(m);
}

/* Prepare the next request of workload @wl; it is in flight until sim_complete(). */
static uint32_t sim_prepare(struct sim *m, enum workload wl)
{
	m->b.o.wl = wl;
	prepare(&m->t, &m->s, &m->req);
	cr_assert(m->gen[0] & GEN_BUSY, "a request in flight marks its block busy");
	return m->req.type;
}

/* The device does the request (a discard leaves garbage: the contents are undefined). */
static int sim_complete(struct sim *m)
{
	struct hy_vu_cpl c = {.cookie = &m->s, .status = HY_VU_BLK_S_OK};

	cr_assert_eq(m->req.sector, 0);
	switch (m->req.type) {
	case HY_VU_BLK_T_OUT:
		memcpy(m->disk, m->s.iov.iov_base, SIM_BS);
		break;
	case HY_VU_BLK_T_IN:
		memcpy(m->s.iov.iov_base, m->disk, SIM_BS);
		break;
	case HY_VU_BLK_T_DISCARD:
		memset(m->disk, 0x5a, SIM_BS);
		break;
	}
	return complete(&m->t, &m->s, &c, 1000, true);
}

Test(discard, the_next_write_after_a_discard_takes_a_new_generation)
{
	struct sim *m = sim_new();
	uint8_t stale[SIM_BS];

	m->b.o.discard_interval = 2;
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_OUT);
	cr_assert_eq(m->s.gen, 1);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_OUT);
	cr_assert_eq(m->s.gen, 2);
	memcpy(stale, m->s.iov.iov_base, SIM_BS); /* generation 2 as written */
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(m->gen[0], 2);

	/* Two writes: the discard is due. One whole block, one segment, no unmap flag. */
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_DISCARD);
	cr_assert_eq(m->req.iovcnt, 0);
	cr_assert_null(m->req.iov);
	cr_assert_eq(m->req.num_sectors, SIM_BS / 512);
	cr_assert_eq(m->req.seg_flags, 0);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(m->t.discards, 1);
	cr_assert_eq(m->gen[0], 2 | GEN_DISCARDED, "gen word 0x%x", m->gen[0]);

	/* A read of the discarded block is not checked (the device left garbage there). */
	cr_assert_eq(sim_prepare(m, WL_RANDREAD), HY_VU_BLK_T_IN);
	cr_assert_eq(m->s.gen, HY_STAMP_GEN_NONE);
	cr_assert_eq(sim_complete(m), 0, "%s", m->t.errmsg);
	cr_assert_eq(m->t.undefined, 1);
	cr_assert_eq(m->t.unverified, 0);
	cr_assert_eq(m->t.verified, 0);
	cr_assert_eq(m->gen[0], 2 | GEN_DISCARDED, "a read keeps the discard: 0x%x", m->gen[0]);

	/* The next write takes generation 3: neither 1 nor 2, which were used before. */
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_OUT);
	cr_assert_eq(m->s.gen, 3);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(m->gen[0], 3, "the write ends the discard: 0x%x", m->gen[0]);
	cr_assert_eq(sim_prepare(m, WL_RANDREAD), HY_VU_BLK_T_IN);
	cr_assert_eq(m->s.gen, 3);
	cr_assert_eq(sim_complete(m), 0, "%s", m->t.errmsg);
	cr_assert_eq(m->t.verified, 1);

	/* The old write of generation 2 turns up again: a stale write, caught. */
	memcpy(m->disk, stale, SIM_BS);
	cr_assert_eq(sim_prepare(m, WL_RANDREAD), HY_VU_BLK_T_IN);
	cr_assert_eq(sim_complete(m), -EIO);
	cr_assert(strstr(m->t.errmsg, "verify failed at lba 0"), "%s", m->t.errmsg);
	cr_assert(strstr(m->t.errmsg, "bad generation"), "%s", m->t.errmsg);
	cr_assert(strstr(m->t.errmsg, "expected magic 0x56425948 lba 0 gen 3"), "%s", m->t.errmsg);
	cr_assert_eq(m->gen[0] & GEN_BUSY, 0);
	sim_free(m);
}

Test(discard, a_discard_of_a_never_written_block_and_the_wrap)
{
	struct sim *m = sim_new();

	m->b.o.discard_interval = 1;
	m->t.writes_since_discard = 1;
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_DISCARD);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(m->gen[0], GEN_DISCARDED);
	cr_assert_eq(sim_prepare(m, WL_RANDREAD), HY_VU_BLK_T_IN);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(m->t.undefined, 1);
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_OUT);
	cr_assert_eq(m->s.gen, 1);
	cr_assert_eq(sim_complete(m), 0);
	/* The generation lives in 30 bits and never becomes 0 ("never written") or a flag. */
	cr_assert_eq(gen_of_write(GEN_MASK | GEN_DISCARDED), 1);
	cr_assert_eq(gen_of_write(GEN_MASK - 1), GEN_MASK);
	cr_assert_eq(gen_of_write(41 | GEN_DISCARDED), 42);
	cr_assert_eq(gen_after_discard(41 | GEN_BUSY), 41 | GEN_DISCARDED);
	cr_assert_eq(gen_of_read(41 | GEN_DISCARDED), HY_STAMP_GEN_NONE);
	cr_assert_eq(gen_of_read(41), 41);
	sim_free(m);
}

Test(discard, a_flush_and_a_discard_both_due_go_one_after_the_other)
{
	struct sim *m = sim_new();

	m->b.o.flush_interval = 1;
	m->b.o.discard_interval = 1;
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_OUT);
	cr_assert_eq(sim_complete(m), 0);
	m->b.o.wl = WL_RANDWRITE;
	prepare(&m->t, &m->s, &m->req);
	cr_assert_eq(m->req.type, HY_VU_BLK_T_FLUSH);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_DISCARD);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_OUT);
	cr_assert_eq(m->s.gen, 2);
	cr_assert_eq(sim_complete(m), 0);
	cr_assert_eq(m->t.flushes, 1);
	cr_assert_eq(m->t.discards, 1);
	sim_free(m);
}

Test(discard, a_failed_discard_fails_the_run, .init = cr_redirect_stderr)
{
	struct sim *m = sim_new();
	struct hy_vu_cpl c = {.cookie = &m->s, .status = HY_VU_BLK_S_UNSUPP};

	m->b.o.discard_interval = 1;
	m->t.writes_since_discard = 1;
	cr_assert_eq(sim_prepare(m, WL_RANDWRITE), HY_VU_BLK_T_DISCARD);
	cr_assert_eq(complete(&m->t, &m->s, &c, 1000, true), -EIO);
	cr_assert_eq(m->t.fail, EXIT_IO);
	cr_assert(strstr(m->t.errmsg, "DISCARD of 4096 bytes at lba 0 failed with status UNSUPP"),
		  "%s", m->t.errmsg);
	sim_free(m);
}

/* ---- --verify-state ---- */

static void tmp_path(char *path, size_t len, const char *what)
{
	int fd;

	snprintf(path, len, "/tmp/hb-test-%s.XXXXXX", what);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

/* Save @n words for (bs, offset sector, seed) to @path with state_save(). */
static void save_state(const char *path, uint32_t bs, uint64_t region_sector, uint64_t seed,
		       uint32_t *gen, uint64_t n)
{
	static struct bench b;

	memset(&b, 0, sizeof(b));
	b.o.bs = bs;
	b.o.seed = seed;
	b.o.verify_state = path;
	b.region_sector = region_sector;
	b.nblocks = n;
	b.gen = gen;
	cr_assert_eq(state_save(&b), 0);
}

/* state_load() into a fresh bench: 0 or -EINVAL with @err. */
static int load_state(const char *path, uint32_t bs, uint64_t region_sector, uint64_t seed,
		      uint32_t *gen, uint64_t n, char *err)
{
	static struct bench b;

	memset(&b, 0, sizeof(b));
	b.o.bs = bs;
	b.o.seed = seed;
	b.o.verify_state = path;
	b.region_sector = region_sector;
	b.nblocks = n;
	b.gen = gen;
	return state_load(&b, true, err, 512);
}

Test(state, the_discard_flag_survives_save_and_load)
{
	char path[64], err[512] = "";
	uint32_t gen[6] = {0, 5, 5 | GEN_DISCARDED, GEN_DISCARDED, GEN_MASK, 7 | GEN_BUSY};
	uint32_t back[6], raw[6];
	struct state_hdr h;
	FILE *f;

	tmp_path(path, sizeof(path), "state");
	save_state(path, 4096, 16, 9, gen, 6);
	memset(back, 0xff, sizeof(back));
	cr_assert_eq(load_state(path, 4096, 16, 9, back, 6, err), 0, "%s", err);
	cr_assert_eq(back[0], 0);
	cr_assert_eq(back[1], 5);
	cr_assert_eq(back[2], 5 | GEN_DISCARDED);
	cr_assert_eq(back[3], GEN_DISCARDED);
	cr_assert_eq(back[4], GEN_MASK);
	cr_assert_eq(back[5], 7, "a busy bit is never loaded: 0x%x", back[5]);
	/* After the load, the rule holds: no check, and the next write takes generation 6. */
	cr_assert_eq(gen_of_read(back[2]), HY_STAMP_GEN_NONE);
	cr_assert_eq(gen_of_write(back[2]), 6);

	/* The format itself: version 2, then one host-order word per block, bit 30 discarded. */
	f = fopen(path, "rb");
	cr_assert_not_null(f);
	cr_assert_eq(fread(&h, sizeof(h), 1, f), 1);
	cr_assert_eq(fread(raw, sizeof(raw), 1, f), 1);
	cr_assert_eq(fgetc(f), EOF);
	fclose(f);
	cr_assert_eq(memcmp(h.magic, "HYBVSTAT", 8), 0);
	cr_assert_eq(h.version, 2);
	cr_assert_eq(h.bs, 4096);
	cr_assert_eq(h.region_sector, 16);
	cr_assert_eq(h.nblocks, 6);
	cr_assert_eq(h.seed, 9);
	cr_assert_eq(raw[2], 5u | 0x40000000u);
	unlink(path);
}

/* Rewrite @len bytes at @off of file @path. */
static void patch_file(const char *path, long off, const void *data, size_t len)
{
	FILE *f = fopen(path, "r+b");

	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, off, SEEK_SET), 0);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

Test(state, other_versions_regions_and_damage_are_refused)
{
	char path[64], err[512];
	uint32_t gen[4] = {1, 2, 3, 4}, back[4];
	uint32_t v1 = 1;

	tmp_path(path, sizeof(path), "state");
	save_state(path, 4096, 0, 1, gen, 4);
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 4, err), 0, "%s", err);
	/* Another region, block size or seed. */
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 3, err), -EINVAL);
	cr_assert(strstr(err, "was written with bs 4096, offset 0, 4 blocks, seed 1; this run "
			      "has bs 4096, offset 0, 3 blocks, seed 1"),
		  "%s", err);
	cr_assert_eq(load_state(path, 512, 0, 1, back, 4, err), -EINVAL);
	cr_assert_eq(load_state(path, 4096, 8, 1, back, 4, err), -EINVAL);
	cr_assert_eq(load_state(path, 4096, 0, 2, back, 4, err), -EINVAL);
	/* nblocks 0 (--check-image without --size): the state's region. */
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 0, err), 0, "%s", err);
	/* Cut short. */
	cr_assert_eq(truncate(path, sizeof(struct state_hdr) + 12), 0);
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 4, err), -EINVAL);
	cr_assert(strstr(err, "is truncated"), "%s", err);
	/* Longer than its header says. */
	save_state(path, 4096, 0, 1, gen, 4);
	patch_file(path, sizeof(struct state_hdr) + 16, "junk", 4);
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 4, err), -EINVAL);
	cr_assert(strstr(err, "is damaged: 60 bytes for 4 blocks"), "%s", err);
	/* A version 1 file (31-bit generations, no discard): refused, and said so. */
	save_state(path, 4096, 0, 1, gen, 4);
	patch_file(path, offsetof(struct state_hdr, version), &v1, sizeof(v1));
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 4, err), -EINVAL);
	cr_assert(strstr(err, "is a version 1 state file; this hydra-bench reads version 2 only"),
		  "%s", err);
	/* Not a state file at all. */
	patch_file(path, 0, "NOTSTATE", 8);
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 4, err), -EINVAL);
	cr_assert(strstr(err, "is not a hydra-bench state file"), "%s", err);
	/* Missing: an error for --check-image (a first run is fine for a normal one). */
	unlink(path);
	cr_assert_eq(load_state(path, 4096, 0, 1, back, 4, err), -EINVAL);
	cr_assert(strstr(err, "cannot open --verify-state"), "%s", err);
}

/* ---- --check-image ---- */

/*
 * An image with a region of 8 blocks of 4 KiB from byte 8192 (lba 16), seed 11, and its state:
 * never written, written (gens 1, 2, 5, 1, 7) and discarded blocks, which hold garbage.
 */
#define CI_BS	  4096u
#define CI_OFF	  8192u
#define CI_SEED	  11u
#define CI_BLOCKS 8u

static const uint32_t ci_gen[CI_BLOCKS] = {
	0, 1, 2, 3 | GEN_DISCARDED, 5, 1, GEN_DISCARDED, 7,
};

struct ci {
	char img[64], state[64];
	uint32_t gen[CI_BLOCKS];
};

static uint64_t ci_lba(unsigned blk)
{
	return (CI_OFF + (uint64_t)blk * CI_BS) / 512;
}

/* Write block @blk of the image as generation @gen (0: zeroes, -1: garbage). */
static void ci_put(const struct ci *c, unsigned blk, int64_t gen)
{
	static uint8_t buf[CI_BS];

	if (gen > 0)
		hy_stamp_fill(buf, CI_BS, ci_lba(blk), (uint32_t)gen, CI_SEED);
	else
		memset(buf, gen ? 0xee : 0, CI_BS);
	patch_file(c->img, (long)(CI_OFF + blk * CI_BS), buf, CI_BS);
}

static void ci_make(struct ci *c)
{
	tmp_path(c->img, sizeof(c->img), "image");
	tmp_path(c->state, sizeof(c->state), "state");
	/* One spare block after the region: the image is a little larger than it. */
	cr_assert_eq(truncate(c->img, CI_OFF + (CI_BLOCKS + 1) * CI_BS), 0);
	memcpy(c->gen, ci_gen, sizeof(c->gen));
	for (unsigned i = 0; i < CI_BLOCKS; i++)
		ci_put(c, i, c->gen[i] & GEN_DISCARDED ? -1 : (int64_t)(c->gen[i] & GEN_MASK));
	save_state(c->state, CI_BS, CI_OFF / 512, CI_SEED, c->gen, CI_BLOCKS);
}

static void ci_drop(struct ci *c)
{
	unlink(c->img);
	unlink(c->state);
}

/* check_image() with the command line a user would give: 0, or its -errno. */
static int ci_check(const struct ci *c, struct check_result *r, char *msgs, size_t len,
		    const char *size)
{
	static struct bench b;
	char err[512] = "", *buf = NULL;
	size_t blen = 0;
	FILE *m = open_memstream(&buf, &blen);
	int ret;

	memset(&b, 0, sizeof(b));
	cr_assert_eq(parse(err, &b.o, "--check-image", c->img, "--verify-state", c->state,
			   "--offset", "8k", "--seed", "11", size ? "--size" : NULL, size, NULL),
		     0, "%s", err);
	ret = check_image(&b, m, r, err, sizeof(err));
	fclose(m);
	snprintf(msgs, len, "%s%s", buf, err);
	free(buf);
	teardown(&b);
	return ret;
}

Test(check_image, a_good_image_passes_and_skips_what_was_not_written)
{
	struct check_result r;
	struct ci c;
	char msgs[4096];

	ci_make(&c);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.blocks, CI_BLOCKS);
	cr_assert_eq(r.checked, 5);
	cr_assert_eq(r.bad, 0, "%s", msgs);
	cr_assert_eq(r.unwritten, 1);
	cr_assert_eq(r.discarded, 2, "the garbage in discarded blocks is not looked at");
	cr_assert_eq(msgs[0], '\0', "%s", msgs);
	/* The same with --size given: it must match the state. */
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), "32k"), 0, "%s", msgs);
	cr_assert_eq(r.checked, 5);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), "16k"), -EINVAL);
	cr_assert(strstr(msgs, "was written with bs 4096, offset 8192, 8 blocks"), "%s", msgs);
	ci_drop(&c);
}

Test(check_image, a_flipped_byte_is_found_with_its_lba)
{
	struct check_result r;
	struct ci c;
	char msgs[4096], want[64];
	uint8_t x = 0x01;

	ci_make(&c);
	patch_file(c.img, (long)(CI_OFF + 4 * CI_BS + 3000), &x, 1);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.bad, 1);
	cr_assert_eq(r.checked, 5);
	snprintf(want, sizeof(want), "verify failed at lba %llu ", (unsigned long long)ci_lba(4));
	cr_assert(strstr(msgs, want), "%s", msgs);
	cr_assert(strstr(msgs, "bad crc"), "%s", msgs);
	cr_assert(strstr(msgs, "first bad byte at unit offset 3000"), "%s", msgs);
	cr_assert(strstr(r.first_bad, "bad crc"), "%s", r.first_bad);
	ci_drop(&c);
}

Test(check_image, a_stale_generation_is_found)
{
	struct check_result r;
	struct ci c;
	char msgs[4096];

	ci_make(&c);
	ci_put(&c, 7, 6); /* the write before the last one */
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.bad, 1);
	cr_assert(strstr(msgs, "bad generation"), "%s", msgs);
	cr_assert(strstr(msgs, "gen 7 "), "%s", msgs);
	cr_assert(strstr(msgs, "found magic 0x56425948 lba 72 gen 6 "), "%s", msgs);
	ci_drop(&c);
}

Test(check_image, a_never_written_block_marked_written_is_found)
{
	struct check_result r;
	struct ci c;
	char msgs[4096];

	ci_make(&c);
	c.gen[0] = 1; /* the state says written, the image holds zeroes */
	save_state(c.state, CI_BS, CI_OFF / 512, CI_SEED, c.gen, CI_BLOCKS);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.bad, 1);
	cr_assert_eq(r.checked, 6);
	cr_assert(strstr(msgs, "verify failed at lba 16 "), "%s", msgs);
	cr_assert(strstr(msgs, "bad magic"), "%s", msgs);
	/* And a discarded block marked written: its garbage is found too. */
	c.gen[0] = 0;
	c.gen[3] = 3;
	save_state(c.state, CI_BS, CI_OFF / 512, CI_SEED, c.gen, CI_BLOCKS);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.bad, 1);
	cr_assert_eq(r.discarded, 1);
	ci_drop(&c);
}

Test(check_image, a_file_too_short_is_bad)
{
	struct check_result r;
	struct ci c;
	char msgs[4096];

	ci_make(&c);
	/* Cut in the middle of block 5: blocks 5 and 7 (written) are missing, 6 (discarded) not. */
	cr_assert_eq(truncate(c.img, CI_OFF + 5 * CI_BS + 100), 0);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.bad, 2, "%s", msgs);
	cr_assert_eq(r.past_end, 2);
	cr_assert(strstr(msgs, "lba 56 (byte offset 28672): written (gen 1) but past the end"),
		  "%s", msgs);
	/* Wholly past the end. */
	cr_assert_eq(truncate(c.img, 4096), 0);
	cr_assert_eq(ci_check(&c, &r, msgs, sizeof(msgs), NULL), 0, "%s", msgs);
	cr_assert_eq(r.bad, 5);
	ci_drop(&c);
}

Test(check_image, many_chunks_of_small_blocks)
{
	/* 512-byte blocks, 5000 of them: three reads of up to 2048 blocks, bad ones at the edges.
	 */
	const unsigned n = 5000, bad[] = {0, 2047, 2048, 4095, 4999};
	static uint32_t gen[5000];
	static uint8_t img[5000 * 512];
	struct check_result r;
	static struct bench b;
	char img_path[64], st_path[64], err[512] = "";
	char *buf = NULL;
	size_t blen = 0;
	FILE *m;

	for (unsigned i = 0; i < n; i++) {
		gen[i] = i % 7 == 3 ? 0 : i % 11 == 5 ? (i % 3) | GEN_DISCARDED : 1 + i % 5;
		if (gen[i] & GEN_DISCARDED || !gen[i])
			memset(img + i * 512, i & 0xff, 512);
		else
			hy_stamp_fill(img + i * 512, 512, i, gen[i], 5);
	}
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		gen[bad[k]] = 2;
		img[bad[k] * 512 + 100] ^= 0x80;
	}
	tmp_path(img_path, sizeof(img_path), "image");
	tmp_path(st_path, sizeof(st_path), "state");
	patch_file(img_path, 0, img, sizeof(img));
	save_state(st_path, 512, 0, 5, gen, n);
	memset(&b, 0, sizeof(b));
	cr_assert_eq(parse(err, &b.o, "--check-image", img_path, "--verify-state", st_path, "--bs",
			   "512", "--seed", "5", NULL),
		     0, "%s", err);
	m = open_memstream(&buf, &blen);
	cr_assert_eq(check_image(&b, m, &r, err, sizeof(err)), 0, "%s", err);
	fclose(m);
	cr_assert_eq(r.blocks, n);
	cr_assert_eq(r.bad, 5, "%s", buf);
	cr_assert_eq(r.checked + r.unwritten + r.discarded, n);
	cr_assert(strstr(buf, "verify failed at lba 4999 "), "%s", buf);
	cr_assert(strstr(buf, "verify failed at lba 2048 "), "%s", buf);
	free(buf);
	teardown(&b);
	unlink(img_path);
	unlink(st_path);
}

/* ---- backend CPU and Hydra's status socket ---- */

Test(cpu, proc_ticks_of_self)
{
	uint64_t t0, t1;
	volatile uint64_t x = 0;

	cr_assert_eq(proc_ticks(getpid(), &t0), 0);
	/* Burn some CPU so the second reading has something to count. */
	for (uint64_t i = 0; i < 100000000ull; i++)
		x += i;
	cr_assert_neq(x, 0);
	cr_assert_eq(proc_ticks(getpid(), &t1), 0);
	cr_assert_geq(t1, t0);
	cr_assert_lt(proc_ticks(0x7ffffff0, &t0), 0);
}

struct fake_status {
	char path[108];
	const char *reply;
	int lfd;
};

static void *fake_status_serve(void *arg)
{
	struct fake_status *f = arg;
	char buf[64];
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (read(fd, buf, sizeof(buf)) > 0 && f->reply)
		cr_assert_eq(write(fd, f->reply, strlen(f->reply)), (ssize_t)strlen(f->reply));
	if (!f->reply)
		sleep(1); /* a status socket that never answers */
	close(fd);
	return NULL;
}

static int run_status(const char *reply, int *pids, unsigned *n, int timeout_ms)
{
	struct fake_status f = {.reply = reply};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	pthread_t th;
	int ret;

	snprintf(f.path, sizeof(f.path), "/tmp/hb-test-status.%d.sock", (int)getpid());
	unlink(f.path);
	strcpy(sa.sun_path, f.path);
	f.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(f.lfd, 1), 0);
	pthread_create(&th, NULL, fake_status_serve, &f);
	ret = hydra_pids(f.path, timeout_ms, pids, 16, n);
	pthread_join(th, NULL);
	close(f.lfd);
	unlink(f.path);
	return ret;
}

Test(status, pids_of_master_and_workers)
{
	int pids[16];
	unsigned n = 0;

	cr_assert_eq(run_status("{\"version\": \"0.1.0\", \"pid\": 100, \"devices\": [{\"name\": "
				"\"vda\", \"frontend_pid\": 555, \"queues\": [{\"index\": 0, "
				"\"pid\": 101}, {\"index\": 1, \"pid\": 102}]}]}\n",
				pids, &n, 2000),
		     0);
	cr_assert_eq(n, 3);
	cr_assert_eq(pids[0], 100);
	cr_assert_eq(pids[1], 101);
	cr_assert_eq(pids[2], 102);
}

Test(status, errors_and_silence)
{
	int pids[16];
	unsigned n = 0;

	cr_assert_eq(run_status("{\"error\": \"no\"}\n", pids, &n, 2000), -EPROTO);
	cr_assert_eq(run_status(NULL, pids, &n, 200), -ETIMEDOUT);
	cr_assert_lt(hydra_pids("/nonexistent/status.sock", 200, pids, 16, &n), 0);
}

/* ---- exit codes of the whole program ---- */

static int run_main(const char *first, ...)
{
	static struct argv_buf a;
	const char *arg;
	va_list ap;

	a.argc = 0;
	argv_push(&a, "hydra-bench");
	va_start(ap, first);
	for (arg = first; arg; arg = va_arg(ap, const char *))
		argv_push(&a, arg);
	va_end(ap);
	return bench_main(a.argc, a.argv);
}

static void redirect_all(void)
{
	cr_redirect_stdout();
	cr_redirect_stderr();
}

Test(exit, usage_help_and_unreachable_socket, .init = redirect_all)
{
	cr_assert_eq(run_main("--help", NULL), EXIT_OK);
	cr_assert_eq(run_main("--bs", "3", "-s", "/x", NULL), EXIT_USAGE);
	/* Nobody listening: a set-up error within the connect timeout, not a hang. */
	uint64_t t0 = hy_now_ns();

	cr_assert_eq(run_main("-s", "/nonexistent/hb.sock", "--connect-timeout", "200", NULL),
		     EXIT_USAGE);
	cr_assert_lt(hy_now_ns() - t0, 3000000000ull);
}

Test(exit, check_image_exit_codes, .init = redirect_all)
{
	struct ci c;
	uint8_t x = 0xff;

	ci_make(&c);
	cr_assert_eq(run_main("--check-image", c.img, "--verify-state", c.state, "--offset", "8k",
			      "--seed", "11", NULL),
		     EXIT_OK);
	cr_assert_eq(run_main("--check-image", c.img, "--verify-state", c.state, "--offset", "8k",
			      "--seed", "11", "--json", NULL),
		     EXIT_OK);
	/* Usage: no state, another seed, a missing image or state file. */
	cr_assert_eq(run_main("--check-image", c.img, NULL), EXIT_USAGE);
	cr_assert_eq(
		run_main("--check-image", c.img, "--verify-state", c.state, "--offset", "8k", NULL),
		EXIT_USAGE);
	cr_assert_eq(run_main("--check-image", "/nonexistent/img", "--verify-state", c.state,
			      "--offset", "8k", "--seed", "11", NULL),
		     EXIT_USAGE);
	cr_assert_eq(run_main("--check-image", c.img, "--verify-state", "/nonexistent/st",
			      "--offset", "8k", "--seed", "11", NULL),
		     EXIT_USAGE);
	/* A bad block, then a file too short. */
	patch_file(c.img, (long)(CI_OFF + 2 * CI_BS + 64), &x, 1);
	cr_assert_eq(run_main("--check-image", c.img, "--verify-state", c.state, "--offset", "8k",
			      "--seed", "11", NULL),
		     EXIT_IO);
	ci_drop(&c);
	ci_make(&c);
	cr_assert_eq(truncate(c.img, CI_OFF + 7 * CI_BS), 0);
	cr_assert_eq(run_main("--check-image", c.img, "--verify-state", c.state, "--offset", "8k",
			      "--seed", "11", "--json", NULL),
		     EXIT_IO);
	ci_drop(&c);
}
