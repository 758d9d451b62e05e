/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for hydra-bench's own logic: the log-linear histogram (tools/bench_hist.c), the
 * verify format and CRC32C (tools/bench_verify.c), and the argument checks, block picking,
 * /proc CPU reading and status-socket pid parsing of tools/hydra_bench.c (included without its
 * main()).
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
