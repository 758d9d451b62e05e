/* SPDX-License-Identifier: MIT */
/*
 * hyguest - deterministic block patterns for Hydra's guest tests.
 *
 * Built statically on the host (build-guest.sh) and shipped in the test guest's initramfs, where
 * it drives the guest's virtio-blk driver; the same binary checks the backend's image file on
 * the host once the guest has powered off.
 *
 *   hyguest write DEV SEED [opts]        stamp every 4 KiB block of the range (O_DIRECT), fsync
 *   hyguest verify DEV SEED [opts]       read the range back (O_DIRECT) and check every block
 *   hyguest verify-file FILE SEED [opts] the same through the page cache (host, image file)
 *   hyguest gen SEED SIZE                SIZE deterministic bytes on stdout (file-system test)
 *   hyguest cpu                          print the CPU this process runs on
 *
 * opts: --cpu N         pin to CPU N, so blk-mq submits on that CPU's virtqueue
 *       --offset B      start of the range (default 0)
 *       --length B      length of the range (default: to the end of the device)
 *       --stripe I/N    only chunks c with c % N == I (two writers on two CPUs interleave)
 *       --chunk B       stripe unit (default 1M)
 *       --threads T     threads, i.e. requests in flight on the queue (default 4)
 *       --max-io B      I/O sizes are drawn from 4K..B in 4K steps (default 128K)
 *       --max-report N  mismatches printed in detail (default 8)
 * Sizes take K, M and G suffixes; offsets, lengths and chunks are multiples of 4 KiB.
 *
 * Every 4 KiB block holds a 32-byte header {magic, byte offset, seed, checksum} and 4064 bytes
 * derived from (seed, offset). A block that fails is classified, so that a failure says what
 * went wrong: never written (zeros), read buffer untouched, foreign data (bad magic), torn or
 * corrupted (checksum), misdirected (another offset's block), lost write (an older seed's
 * block), bad payload.
 *
 * Exit status: 0 all blocks good, 1 data mismatch, 2 usage or I/O error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK	  4096u
#define WORDS	  (BLK / sizeof(uint64_t))
#define HDR_WORDS 4u
#define MAGIC	  0x31304b4c42475948ull /* "HYGBLK01" in memory order */
#define POISON	  0x5a			/* read buffers are filled with it before each read */

#define EXIT_MISMATCH 1
#define EXIT_ERROR    2

enum mode { MODE_WRITE, MODE_VERIFY, MODE_VERIFY_FILE };

struct opts {
	enum mode mode;
	const char *path;
	uint64_t seed;
	int cpu;
	uint64_t offset;
	uint64_t length;
	bool have_length;
	unsigned int stripe_i, stripe_n;
	uint64_t chunk;
	unsigned int threads;
	uint64_t max_io;
	unsigned int max_report;
};

struct job {
	const struct opts *o;
	int fd;
	unsigned int tid;
	uint64_t blocks;
	uint64_t bad;
	int err;
};

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int reported;

/* splitmix64's finaliser: a cheap bijective mix, fast enough under TCG. */
static inline uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t payload_base(uint64_t seed, uint64_t offset)
{
	return mix64(seed ^ mix64(offset ^ 0x6879677565737421ull));
}

/* FNV-1a style over the 64-bit words, every word except the checksum itself. */
static uint64_t block_csum(const uint64_t *w)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (unsigned int i = 0; i < WORDS; i++) {
		if (i == 3)
			continue;
		h = (h ^ w[i]) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

static void block_fill(uint64_t *w, uint64_t seed, uint64_t offset)
{
	uint64_t base = payload_base(seed, offset);

	w[0] = MAGIC;
	w[1] = offset;
	w[2] = seed;
	for (unsigned int i = HDR_WORDS; i < WORDS; i++)
		w[i] = mix64(base + i);
	w[3] = block_csum(w);
}

/*
 * block_check() - classify one block read back from @offset.
 * Returns NULL when the block is the one write would have stamped, else a reason written to @why.
 */
static const char *block_check(const uint64_t *w, uint64_t seed, uint64_t offset, char *why,
			       size_t len)
{
	uint64_t base;
	unsigned int i;

	if (w[0] != MAGIC) {
		for (i = 0; i < WORDS && !w[i]; i++)
			;
		if (i == WORDS)
			return "all zeros (never written?)";
		for (i = 0; i < WORDS && w[i] == 0x5a5a5a5a5a5a5a5aull; i++)
			;
		if (i == WORDS)
			return "buffer untouched: the read completed without data landing in it";
		snprintf(why, len, "no magic (foreign data, first word 0x%016" PRIx64 ")", w[0]);
		return why;
	}
	if (block_csum(w) != w[3])
		return "checksum mismatch (torn or corrupted block)";
	if (w[1] != offset) {
		snprintf(why, len,
			 "misdirected: holds the block of offset %" PRIu64 " (seed 0x%" PRIx64 ")",
			 w[1], w[2]);
		return why;
	}
	if (w[2] != seed) {
		snprintf(why, len, "stale: holds seed 0x%" PRIx64 " (lost write?)", w[2]);
		return why;
	}
	base = payload_base(seed, offset);
	for (i = HDR_WORDS; i < WORDS; i++) {
		if (w[i] != mix64(base + i)) {
			snprintf(why, len, "payload word %u differs", i);
			return why;
		}
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: hyguest write|verify DEV SEED [opts]\n"
		"       hyguest verify-file FILE SEED [opts]\n"
		"       hyguest gen SEED SIZE\n"
		"       hyguest cpu\n"
		"opts: --cpu N --offset B --length B --stripe I/N --chunk B --threads T --max-io B\n"
		"      --max-report N   (sizes take K/M/G suffixes, multiples of 4K)\n");
	exit(EXIT_ERROR);
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hyguest: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(EXIT_ERROR);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	uint64_t v;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			die("option %s needs a value", a);
		i++;
		if (!strcmp(a, "--stripe")) {
			if (sscanf(val, "%u/%u", &o->stripe_i, &o->stripe_n) != 2 || !o->stripe_n ||
			    o->stripe_i >= o->stripe_n)
				die("bad --stripe %s (want I/N with I < N)", val);
			continue;
		}
		if (parse_u64(val, &v))
			die("bad number %s", val);
		if (!strcmp(a, "--cpu"))
			o->cpu = (int)v;
		else if (!strcmp(a, "--offset"))
			o->offset = v;
		else if (!strcmp(a, "--length")) {
			o->length = v;
			o->have_length = true;
		} else if (!strcmp(a, "--chunk"))
			o->chunk = v;
		else if (!strcmp(a, "--threads"))
			o->threads = (unsigned int)v;
		else if (!strcmp(a, "--max-io"))
			o->max_io = v;
		else if (!strcmp(a, "--max-report"))
			o->max_report = (unsigned int)v;
		else
			die("unknown option %s", a);
	}
	if (o->offset % BLK || o->length % BLK || !o->chunk || o->chunk % BLK || !o->max_io ||
	    o->max_io % BLK)
		die("offset, length, chunk and max-io must be multiples of 4096");
	if (!o->threads || o->threads > 64)
		die("--threads must be 1..64");
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "hyguest: sched_setaffinity(cpu %d) failed: %s\n", cpu,
			strerror(errno));
		exit(EXIT_ERROR);
	}
	/* Migration happens on the next schedule; make sure we are there before submitting. */
	sched_yield();
	if (sched_getcpu() != cpu) {
		fprintf(stderr, "hyguest: still on cpu %d after pinning to %d\n", sched_getcpu(),
			cpu);
		exit(EXIT_ERROR);
	}
}

static void report(const struct opts *o, uint64_t offset, const char *why)
{
	pthread_mutex_lock(&report_lock);
	if (reported < o->max_report)
		printf("hyguest: MISMATCH %s at offset %" PRIu64 " (block %" PRIu64
		       ", seed 0x%" PRIx64 "): %s\n",
		       o->path, offset, offset / BLK, o->seed, why);
	else if (reported == o->max_report)
		printf("hyguest: further mismatches not shown\n");
	reported++;
	pthread_mutex_unlock(&report_lock);
}

/* Deterministic I/O sizes, different for writes and reads so that they split differently. */
static uint64_t io_size(const struct opts *o, uint64_t *state, uint64_t left)
{
	uint64_t steps = o->max_io / BLK;
	uint64_t sz;

	*state = mix64(*state);
	sz = (1 + *state % steps) * BLK;
	return sz < left ? sz : left;
}

static int do_chunk(struct job *j, uint8_t *buf, uint64_t start, uint64_t end, uint64_t chunk)
{
	const struct opts *o = j->o;
	uint64_t st = o->seed ^ mix64(chunk) ^ o->mode;
	char why[160];

	for (uint64_t pos = start; pos < end;) {
		uint64_t sz = io_size(o, &st, end - pos);
		ssize_t n;

		if (o->mode == MODE_WRITE)
			for (uint64_t b = 0; b < sz; b += BLK)
				block_fill((uint64_t *)(buf + b), o->seed, pos + b);
		else
			memset(buf, POISON, sz);
		for (uint64_t done = 0; done < sz; done += n) {
			if (o->mode == MODE_WRITE)
				n = pwrite(j->fd, buf + done, sz - done, pos + done);
			else
				n = pread(j->fd, buf + done, sz - done, pos + done);
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n <= 0) {
				fprintf(stderr,
					"hyguest: %s of %" PRIu64 " bytes at %" PRIu64
					" on %s: %s\n",
					o->mode == MODE_WRITE ? "pwrite" : "pread", sz - done,
					pos + done, o->path,
					n ? strerror(errno) : "short (end of device?)");
				return -EIO;
			}
		}
		if (o->mode != MODE_WRITE) {
			for (uint64_t b = 0; b < sz; b += BLK) {
				const char *bad = block_check((const uint64_t *)(buf + b), o->seed,
							      pos + b, why, sizeof(why));
				if (bad) {
					__atomic_fetch_add(&j->bad, 1, __ATOMIC_RELAXED);
					report(o, pos + b, bad);
				}
			}
		}
		j->blocks += sz / BLK;
		pos += sz;
	}
	return 0;
}

static void *job_run(void *arg)
{
	struct job *j = arg;
	const struct opts *o = j->o;
	uint64_t nchunks = (o->length + o->chunk - 1) / o->chunk;
	uint64_t mine = 0;
	uint8_t *buf;

	if (posix_memalign((void **)&buf, BLK, o->max_io)) {
		j->err = -ENOMEM;
		return NULL;
	}
	for (uint64_t c = 0; c < nchunks; c++) {
		uint64_t start, end;

		if (c % o->stripe_n != o->stripe_i)
			continue;
		/* Chunks of this stripe are dealt to the threads round robin. */
		if (mine++ % o->threads != j->tid)
			continue;
		start = o->offset + c * o->chunk;
		end = start + o->chunk;
		if (end > o->offset + o->length)
			end = o->offset + o->length;
		j->err = do_chunk(j, buf, start, end, c);
		if (j->err)
			break;
	}
	free(buf);
	return NULL;
}

static uint64_t dev_size(int fd, const char *path)
{
	struct stat st;
	uint64_t sz;

	if (fstat(fd, &st))
		die("fstat(%s) failed", path);
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &sz))
			die("BLKGETSIZE64 on %s failed", path);
		return sz;
	}
	return (uint64_t)st.st_size;
}

static int run_blocks(struct opts *o)
{
	static const char *const names[] = {"write", "verify", "verify-file"};
	struct job jobs[64];
	pthread_t th[64];
	uint64_t blocks = 0, bad = 0, size;
	int flags, err = 0;
	double t0, dt;

	if (o->cpu >= 0)
		pin_cpu(o->cpu);
	switch (o->mode) {
	case MODE_WRITE:
		flags = O_RDWR | O_DIRECT;
		break;
	case MODE_VERIFY:
		flags = O_RDONLY | O_DIRECT;
		break;
	default:
		flags = O_RDONLY;
		break;
	}
	int fd = open(o->path, flags);
	if (fd < 0) {
		fprintf(stderr, "hyguest: open(%s) failed: %s\n", o->path, strerror(errno));
		return EXIT_ERROR;
	}
	size = dev_size(fd, o->path);
	if (!o->have_length)
		o->length = size > o->offset ? size - o->offset : 0;
	if (o->offset + o->length > size) {
		fprintf(stderr,
			"hyguest: range %" PRIu64 "+%" PRIu64 " exceeds %s (%" PRIu64 " bytes)\n",
			o->offset, o->length, o->path, size);
		close(fd);
		return EXIT_ERROR;
	}

	t0 = now();
	for (unsigned int t = 0; t < o->threads; t++) {
		jobs[t] = (struct job){.o = o, .fd = fd, .tid = t};
		if (pthread_create(&th[t], NULL, job_run, &jobs[t])) {
			fprintf(stderr, "hyguest: pthread_create failed\n");
			exit(EXIT_ERROR);
		}
	}
	for (unsigned int t = 0; t < o->threads; t++) {
		pthread_join(th[t], NULL);
		blocks += jobs[t].blocks;
		bad += jobs[t].bad;
		if (jobs[t].err)
			err = jobs[t].err;
	}
	/* Reaches the device as a flush when the backend offers VIRTIO_BLK_F_FLUSH. */
	if (!err && o->mode == MODE_WRITE && fsync(fd)) {
		fprintf(stderr, "hyguest: fsync(%s) failed: %s\n", o->path, strerror(errno));
		err = -EIO;
	}
	dt = now() - t0;
	close(fd);

	printf("hyguest: %s %s seed 0x%" PRIx64 " range %" PRIu64 "+%" PRIu64 " stripe %u/%u cpu %d"
	       " threads %u: %" PRIu64 " blocks, %" PRIu64
	       " bad, %.1f MiB in %.2f s (%.1f MiB/s)%s\n",
	       names[o->mode], o->path, o->seed, o->offset, o->length, o->stripe_i, o->stripe_n,
	       o->cpu >= 0 ? o->cpu : sched_getcpu(), o->threads, blocks, bad,
	       blocks * BLK / 1048576.0, dt, dt > 0 ? blocks * BLK / 1048576.0 / dt : 0.0,
	       err ? " [I/O ERROR]" : "");
	fflush(stdout);
	if (err)
		return EXIT_ERROR;
	return bad ? EXIT_MISMATCH : 0;
}

static int run_gen(int argc, char **argv)
{
	uint64_t seed, size, base, w = 0;
	static uint64_t buf[8192];

	if (argc != 2 || parse_u64(argv[0], &seed) || parse_u64(argv[1], &size))
		usage();
	base = mix64(seed ^ 0x67656e2d73747265ull);
	while (size) {
		size_t n = size < sizeof(buf) ? size : sizeof(buf);

		for (size_t i = 0; i < (n + 7) / 8; i++)
			buf[i] = mix64(base + w++);
		if (fwrite(buf, 1, n, stdout) != n) {
			perror("hyguest: gen: write");
			return EXIT_ERROR;
		}
		size -= n;
	}
	return fflush(stdout) ? EXIT_ERROR : 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.cpu = -1,
		.stripe_n = 1,
		.chunk = 1u << 20,
		.threads = 4,
		.max_io = 128u << 10,
		.max_report = 8,
	};

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "gen"))
		return run_gen(argc - 2, argv + 2);
	if (!strcmp(argv[1], "cpu")) {
		printf("%d\n", sched_getcpu());
		return 0;
	}
	if (!strcmp(argv[1], "write"))
		o.mode = MODE_WRITE;
	else if (!strcmp(argv[1], "verify"))
		o.mode = MODE_VERIFY;
	else if (!strcmp(argv[1], "verify-file"))
		o.mode = MODE_VERIFY_FILE;
	else
		usage();
	if (argc < 4 || parse_u64(argv[3], &o.seed))
		usage();
	o.path = argv[2];
	parse_opts(&o, argc - 4, argv + 4);
	return run_blocks(&o);
}
