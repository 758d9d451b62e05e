/* SPDX-License-Identifier: MIT */
/*
 * hydra-bench: a vhost-user-blk initiator that needs no VM.
 *
 * It connects to any vhost-user-blk backend's socket as the frontend (QEMU's part, like SPDK's
 * virtio-user initiator) through tools/vu_client: negotiates features, shares memfd "guest"
 * memory (several regions whose guest-physical addresses are not identity mapped), brings up N
 * queues and drives each from its own thread, fio-style: read, write, randread, randwrite,
 * randrw; block size, iodepth, duration or I/O count, flushes and discards at a write interval;
 * --verify stamps every unit it writes (bench_verify.h) and checks every read against the latest
 * generation written there, and a block discarded since is not checked until it is written again.
 * --check-image checks a raw image file (or block device) against a --verify-state file with no
 * backend at all: what a guest wrote through a backend, read back from the backend's storage.
 *
 * The per-I/O path allocates nothing and makes at most one syscall per batch: completions are
 * reaped from the used ring in batches, each slot is refilled in place, one kick per batch (and
 * none when the backend polls and has suppressed kicks). Waiting is interrupt-driven by default
 * (poll() on the call eventfd, with EVENT_IDX's used_event) or busy-polling with --poll.
 * Latencies go into a log-linear histogram per queue thread (bench_hist.h), merged at the end.
 *
 * Backend CPU: given the backend's pids (--backend-pid) or Hydra's status socket
 * (--hydra-status, which names the master and every worker), /proc/PID/stat utime + stime of
 * each (all threads of a process) is read at the start and the end of the measured window, so
 * the report can say how many backend cores the run took and the IOPS per backend core.
 *
 * Every wait has a deadline: a backend that does not answer, offers too few queues, lacks a
 * feature or stalls mid-run is a clear error and a non-zero exit, never a hang.
 *
 * Exit: 0 ok; 1 I/O error, stalled backend or verify failure; 2 usage or set-up error.
 */
#define HY_LOG_COMPONENT "hydra-bench"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shm/log.h"
#include "tools/bench_hist.h"
#include "tools/bench_verify.h"
#include "tools/vu_client.h"

#define EXIT_OK	   0
#define EXIT_IO	   1 /* I/O error, stall, verify failure */
#define EXIT_USAGE 2 /* usage or set-up */

#define MAX_QUEUES    64
#define MAX_IODEPTH   4096
#define MAX_PIDS      256
#define SECTOR	      512u
#define GEN_BUSY      0x80000000u	/* a request on this block is in flight */
#define GEN_DISCARDED 0x40000000u	/* discarded after its last write (struct bench.gen) */
#define GEN_MASK      0x3fffffffu	/* the generation last written; 0: never */
#define CHECK_NS      (10 * 1000000ull) /* how often a queue thread looks at the clock's events */
#define STATE_MAGIC   "HYBVSTAT"
#define STATE_VERSION 2u	 /* 2: the words carry GEN_DISCARDED; 1: 31-bit generations */
#define CHECK_CHUNK   (1u << 20) /* --check-image reads this much at a time (at least a block) */
#define CHECK_SHOW    5		 /* --check-image prints this many mismatches in full */

enum workload { WL_READ, WL_WRITE, WL_RANDREAD, WL_RANDWRITE, WL_RANDRW, WL_IDLE };

static const char *const workload_names[] = {
	[WL_READ] = "read",	      [WL_WRITE] = "write",   [WL_RANDREAD] = "randread",
	[WL_RANDWRITE] = "randwrite", [WL_RANDRW] = "randrw", [WL_IDLE] = "idle",
};

/* Virtio features --require can ask for, by name. */
static const struct {
	const char *name;
	unsigned bit;
} feature_names[] = {
	{"event_idx", HY_VU_VIRTIO_F_EVENT_IDX},
	{"indirect", HY_VU_VIRTIO_F_INDIRECT_DESC},
	{"flush", HY_VU_BLK_F_FLUSH},
	{"mq", HY_VU_BLK_F_MQ},
	{"blk_size", HY_VU_BLK_F_BLK_SIZE},
	{"seg_max", HY_VU_BLK_F_SEG_MAX},
	{"size_max", HY_VU_BLK_F_SIZE_MAX},
	{"config_wce", HY_VU_BLK_F_CONFIG_WCE},
	{"discard", HY_VU_BLK_F_DISCARD},
	{"write_zeroes", HY_VU_BLK_F_WRITE_ZEROES},
	{"topology", HY_VU_BLK_F_TOPOLOGY},
	{"geometry", HY_VU_BLK_F_GEOMETRY},
	{"lifetime", HY_VU_BLK_F_LIFETIME},
	{"secure_erase", HY_VU_BLK_F_SECURE_ERASE},
};

struct opts {
	const char *socket;
	enum workload wl;
	unsigned rwmix_read; /* percent of randrw requests that are reads */
	uint32_t bs;
	unsigned iodepth;
	unsigned queues;
	unsigned queue_size; /* 0: enough for iodepth, at least 256 */
	uint64_t duration_ns;
	uint64_t ramp_ns;
	uint64_t io_count;
	uint64_t offset; /* bytes */
	uint64_t size;	 /* bytes; 0: to the end of the device */
	bool verify;
	const char *verify_state;
	unsigned flush_interval;   /* writes per FLUSH on each queue; 0: never */
	unsigned discard_interval; /* writes per DISCARD on each queue; 0: never */
	const char *check_image;   /* check this image against --verify-state, no backend */
	int io_timeout_ms;
	int connect_timeout_ms;
	int timeout_ms;
	bool poll;
	bool json;
	bool quiet;
	int progress; /* -1 auto (a tty), 0 never, 1 always */
	int cpus[MAX_QUEUES];
	unsigned ncpus;
	int pids[MAX_PIDS];
	unsigned npids;
	const char *hydra_status;
	uint64_t seed;
	unsigned mem_mib;
	bool no_event_idx;
	bool no_indirect;
	uint64_t require; /* virtio feature bits */
	const char *label;
};

/* One request slot of a queue: its buffer is guest memory, set up once. */
struct slot {
	uint64_t start_ns;
	uint64_t block; /* block index from the start of the region */
	uint32_t type;
	uint32_t gen; /* write: the generation being written; read: the one expected */
	struct iovec iov;
	bool busy;
};

struct qthread {
	struct bench *b;
	struct hy_vu_queue *q;
	pthread_t th;
	unsigned idx;
	int cpu;
	struct slot *slots;
	struct hy_vu_cpl *cpl;
	uint64_t rng;
	uint64_t blk_lo, nblk; /* the queue's own stretch of the region, in blocks */
	uint64_t seq_next;
	uint64_t target; /* requests to issue (count mode), UINT64_MAX in time mode */
	uint64_t issued;
	unsigned inflight;
	unsigned writes_since_flush;
	unsigned writes_since_discard;
	uint32_t req_flags; /* HY_VU_REQ_INDIRECT when negotiated: one descriptor a request */

	/* Measured window only. */
	uint64_t reads, writes, flushes, discards, rbytes, wbytes;
	uint64_t verified, unverified, undefined; /* undefined: reads of discarded blocks */
	struct hy_hist *hread, *hwrite, *hflush, *hdiscard;
	/* Whole run, for the progress line (written relaxed, read by the main thread). */
	uint64_t progress_ios;

	int fail; /* EXIT_IO when this thread failed */
	char errmsg[768];
};

struct cpu_sample {
	uint64_t ticks[MAX_PIDS];
	bool ok[MAX_PIDS];
};

struct bench {
	struct opts o;
	struct hy_vu_client *c;
	struct qthread *qt;
	/*
	 * --verify: one word per block, the generation last written there (GEN_MASK, 0: never);
	 * GEN_DISCARDED once a DISCARD completed after it (the contents are undefined: a read is
	 * not checked, yet the next write still takes the next generation, so a stale older write
	 * can never pass for it); GEN_BUSY while a request on the block is in flight.
	 */
	uint32_t *gen;
	uint64_t nblocks;
	uint64_t region_sector;
	pthread_barrier_t start;
	uint64_t t_start, t_measure, t_end; /* ns, CLOCK_MONOTONIC */
	int pids[MAX_PIDS];
	unsigned npids;
	bool hydra_pids; /* pids came from the status socket */
};

static volatile sig_atomic_t interrupted;
static int stop_flag; /* atomic: stop issuing (a thread failed, or Ctrl-C) */

static void on_sigint(int sig)
{
	interrupted = 1;
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------------------------ */
/* Arguments                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hydra-bench --socket PATH [options]\n"
		"       hydra-bench --check-image FILE --verify-state STATE [--bs --offset --size "
		"--seed]\n"
		"\n"
		"A vhost-user-blk frontend that benchmarks (and checks) a backend without a VM.\n"
		"\n"
		"  -s, --socket PATH         the backend's vhost-user socket (required)\n"
		"  -w, --workload W          read, write, randread (default), randwrite, randrw, idle\n"
		"      --rwmixread PCT       randrw: percent of reads (default 50)\n"
		"  -b, --bs SIZE             block size (default 4k; 512 .. 4m, multiple of 512)\n"
		"  -d, --iodepth N           requests in flight per queue (default 1)\n"
		"  -q, --queues N            queues, one thread each (default 1)\n"
		"      --queue-size N        ring size (default: 256, or more for a deep --no-indirect)\n"
		"  -t, --duration TIME       run this long (default 10s unless --ios): 500ms, 5s, 2m\n"
		"  -n, --ios N               stop after N requests in all (k, m, g suffixes)\n"
		"      --ramp TIME           run this long before measuring (time mode; default 0)\n"
		"      --offset SIZE         first byte of the region used (default 0)\n"
		"      --size SIZE           bytes of the region (default: to the end of the device)\n"
		"      --verify              stamp every write, check every read (exit 1 on mismatch)\n"
		"      --verify-state FILE   load the generations from FILE if it exists, save at end\n"
		"      --check-image FILE    check an image file against --verify-state (below)\n"
		"      --flush-interval N    a FLUSH after every N writes on each queue\n"
		"      --discard-interval N  a DISCARD of one block (--bs) at a random block of the\n"
		"                            queue's part of the region after every N writes on each\n"
		"                            queue; --verify skips reads of a discarded block until\n"
		"                            it is written again\n"
		"      --poll                busy-poll the used ring (default: sleep on the call eventfd)\n"
		"      --cpus LIST           pin queue thread i to the i-th cpu of LIST (e.g. 1,0)\n"
		"      --backend-pid PID     count this process's CPU time as the backend's (repeat)\n"
		"      --hydra-status PATH   take the backend pids from Hydra's status socket\n"
		"      --io-timeout MS       a request not done in this long is a stall (default 10000)\n"
		"      --timeout MS          per vhost-user control message (default 5000)\n"
		"      --connect-timeout MS  wait for the socket this long (default 5000)\n"
		"      --require FEAT,...    fail unless the backend offers these (event_idx, indirect,\n"
		"                            flush, mq, blk_size, seg_max, size_max, config_wce,\n"
		"                            discard, write_zeroes, topology, geometry, lifetime,\n"
		"                            secure_erase)\n"
		"      --no-event-idx        do not negotiate EVENT_IDX\n"
		"      --no-indirect         do not negotiate INDIRECT_DESC (3 descriptors a request)\n"
		"      --mem MIB             guest memory (default: enough for the buffers, >= 64)\n"
		"      --seed N              random and verify seed (default 1)\n"
		"      --label TEXT          carried into the JSON output\n"
		"      --json                the summary as one JSON object on stdout\n"
		"      --progress WHEN       auto (a tty on stderr; default), always, never\n"
		"      --quiet               no summary (with --json: still the JSON)\n"
		"  -h, --help                this text\n"
		"\n"
		"Checking an image (no --socket, no backend): --check-image FILE reads the raw image\n"
		"or block device FILE and checks every block STATE says was written (and not discarded\n"
		"since) as a --verify read would; never-written and discarded blocks are skipped.\n"
		"--verify-state STATE is required; --bs, --offset and --seed must be what STATE was\n"
		"written with; --size defaults to STATE's region. Prints blocks checked, skipped and\n"
		"bad (the first %u bad ones in full); --json for machines.\n"
		"\n"
		"Exit: 0 ok; 1 I/O error, stalled backend or verify failure (--check-image: a bad\n"
		"block, or FILE too short); 2 usage or set-up error.\n",
		CHECK_SHOW);
}

static int errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "4k", "128K", "1m", "2g", "512": bytes, binary suffixes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B") && strcmp(end + 1, "b"))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

/* "5", "5s", "500ms", "100us", "2m": nanoseconds. */
static int parse_time(const char *s, uint64_t *out)
{
	char *end;
	double v;
	double mult = 1e9;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mult = 1e9;
	else if (!strcmp(end, "ms"))
		mult = 1e6;
	else if (!strcmp(end, "us"))
		mult = 1e3;
	else if (!strcmp(end, "m"))
		mult = 60e9;
	else
		return -EINVAL;
	if (v * mult > 1e18)
		return -ERANGE;
	*out = (uint64_t)(v * mult);
	return 0;
}

static int parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;
	int ret = parse_size(s, &v); /* accepts k/m/g multipliers for counts too */

	if (ret)
		return ret;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_cpus(const char *s, struct opts *o)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	o->ncpus = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (o->ncpus == MAX_QUEUES || parse_uint(tok, 0, CPU_SETSIZE - 1, &v))
			return -EINVAL;
		o->cpus[o->ncpus++] = (int)v;
	}
	return o->ncpus ? 0 : -EINVAL;
}

static int parse_require(const char *s, struct opts *o)
{
	char buf[256], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned i;

		for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
			if (!strcmp(tok, feature_names[i].name))
				break;
		if (i == sizeof(feature_names) / sizeof(feature_names[0]))
			return -EINVAL;
		o->require |= 1ull << feature_names[i].bit;
	}
	return 0;
}

static void opts_default(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->wl = WL_RANDREAD;
	o->rwmix_read = 50;
	o->bs = 4096;
	o->iodepth = 1;
	o->queues = 1;
	o->io_timeout_ms = 10000;
	o->connect_timeout_ms = 5000;
	o->timeout_ms = 5000;
	o->progress = -1;
	o->seed = 1;
}

enum {
	OPT_RWMIX = 256,
	OPT_QSIZE,
	OPT_RAMP,
	OPT_OFFSET,
	OPT_SIZE,
	OPT_VERIFY,
	OPT_VSTATE,
	OPT_FLUSH,
	OPT_DISCARD,
	OPT_CHECK_IMAGE,
	OPT_POLL,
	OPT_CPUS,
	OPT_PID,
	OPT_HSTATUS,
	OPT_IOTIMEOUT,
	OPT_TIMEOUT,
	OPT_CTIMEOUT,
	OPT_REQUIRE,
	OPT_NO_EVIDX,
	OPT_NO_INDIRECT,
	OPT_MEM,
	OPT_SEED,
	OPT_LABEL,
	OPT_JSON,
	OPT_PROGRESS,
	OPT_QUIET,
};

/* --check-image reads a file against a state: no backend, so no run options make sense. */

/* --size and --offset against --bs, for a run and for --check-image alike. */
static int region_check(const struct opts *o, char *err, size_t errlen)
{
	if (o->size && o->size % o->bs)
		return errf(err, errlen, "--size %" PRIu64 " is not a multiple of --bs %u", o->size,
			    o->bs);
	if (o->offset % o->bs && o->bs <= 4096)
		return errf(err, errlen, "--offset %" PRIu64 " is not a multiple of --bs %u",
			    o->offset, o->bs);
	return 0;
}
static int check_image_args(const struct opts *o, char *err, size_t errlen)
{
	if (o->socket)
		return errf(err, errlen,
			    "--check-image reads an image file, not a backend: drop --socket");
	if (!o->verify_state)
		return errf(err, errlen,
			    "--check-image needs --verify-state STATE (the generations to check "
			    "against)");
	if (o->flush_interval || o->discard_interval)
		return errf(err, errlen,
			    "--check-image does no I/O to a backend: drop --flush-interval and "
			    "--discard-interval");
	if (!hy_stamp_unit(o->bs))
		return errf(err, errlen, "--check-image: --bs %u cannot carry verify stamps",
			    o->bs);
	if (region_check(o, err, errlen))
		return -EINVAL;
	return 0;
}

/**
 * parse_args() - the command line into @o, checked for consistency.
 * @argc: argument count
 * @argv: arguments
 * @o: options (filled with the defaults first)
 * @err: message on failure
 * @errlen: its size
 *
 * Return: 0; 1 for --help; -EINVAL with @err saying what is wrong.
 */
static int parse_args(int argc, char **argv, struct opts *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"workload", required_argument, NULL, 'w'},
		{"rw", required_argument, NULL, 'w'},
		{"rwmixread", required_argument, NULL, OPT_RWMIX},
		{"bs", required_argument, NULL, 'b'},
		{"iodepth", required_argument, NULL, 'd'},
		{"queues", required_argument, NULL, 'q'},
		{"queue-size", required_argument, NULL, OPT_QSIZE},
		{"duration", required_argument, NULL, 't'},
		{"ios", required_argument, NULL, 'n'},
		{"ramp", required_argument, NULL, OPT_RAMP},
		{"offset", required_argument, NULL, OPT_OFFSET},
		{"size", required_argument, NULL, OPT_SIZE},
		{"verify", no_argument, NULL, OPT_VERIFY},
		{"verify-state", required_argument, NULL, OPT_VSTATE},
		{"flush-interval", required_argument, NULL, OPT_FLUSH},
		{"discard-interval", required_argument, NULL, OPT_DISCARD},
		{"check-image", required_argument, NULL, OPT_CHECK_IMAGE},
		{"poll", no_argument, NULL, OPT_POLL},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"backend-pid", required_argument, NULL, OPT_PID},
		{"hydra-status", required_argument, NULL, OPT_HSTATUS},
		{"io-timeout", required_argument, NULL, OPT_IOTIMEOUT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
		{"require", required_argument, NULL, OPT_REQUIRE},
		{"no-event-idx", no_argument, NULL, OPT_NO_EVIDX},
		{"no-indirect", no_argument, NULL, OPT_NO_INDIRECT},
		{"mem", required_argument, NULL, OPT_MEM},
		{"seed", required_argument, NULL, OPT_SEED},
		{"label", required_argument, NULL, OPT_LABEL},
		{"json", no_argument, NULL, OPT_JSON},
		{"progress", required_argument, NULL, OPT_PROGRESS},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool have_duration = false;
	uint64_t v;
	int c;

	opts_default(o);
	optind = 0; /* GNU: restart scanning (parse_args may run more than once: tests) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:w:b:d:q:t:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'w': {
			unsigned i;

			for (i = 0; i < sizeof(workload_names) / sizeof(workload_names[0]); i++)
				if (!strcmp(optarg, workload_names[i]))
					break;
			if (i == sizeof(workload_names) / sizeof(workload_names[0]))
				return errf(
					err, errlen,
					"unknown workload '%s': expected read, write, randread, "
					"randwrite, randrw or idle",
					optarg);
			o->wl = (enum workload)i;
			break;
		}
		case OPT_RWMIX:
			if (parse_uint(optarg, 0, 100, &v))
				return errf(err, errlen, "--rwmixread '%s': expected 0 to 100",
					    optarg);
			o->rwmix_read = (unsigned)v;
			break;
		case 'b':
			if (parse_uint(optarg, SECTOR, 4u << 20, &v) || v % SECTOR)
				return errf(err, errlen,
					    "--bs '%s': expected a multiple of 512 from 512 to 4m",
					    optarg);
			o->bs = (uint32_t)v;
			break;
		case 'd':
			if (parse_uint(optarg, 1, MAX_IODEPTH, &v))
				return errf(err, errlen, "--iodepth '%s': expected 1 to %u", optarg,
					    MAX_IODEPTH);
			o->iodepth = (unsigned)v;
			break;
		case 'q':
			if (parse_uint(optarg, 1, MAX_QUEUES, &v))
				return errf(err, errlen, "--queues '%s': expected 1 to %u", optarg,
					    MAX_QUEUES);
			o->queues = (unsigned)v;
			break;
		case OPT_QSIZE:
			if (parse_uint(optarg, 2, 32768, &v) || (v & (v - 1)))
				return errf(
					err, errlen,
					"--queue-size '%s': expected a power of two, 2 to 32768",
					optarg);
			o->queue_size = (unsigned)v;
			break;
		case 't':
			if (parse_time(optarg, &o->duration_ns) || !o->duration_ns)
				return errf(err, errlen,
					    "--duration '%s': expected a time above 0 (5s, 500ms)",
					    optarg);
			have_duration = true;
			break;
		case 'n':
			if (parse_uint(optarg, 1, UINT64_MAX, &o->io_count))
				return errf(err, errlen, "--ios '%s': expected a count above 0",
					    optarg);
			break;
		case OPT_RAMP:
			if (parse_time(optarg, &o->ramp_ns))
				return errf(err, errlen, "--ramp '%s': expected a time (1s, 500ms)",
					    optarg);
			break;
		case OPT_OFFSET:
			if (parse_size(optarg, &o->offset) || o->offset % SECTOR)
				return errf(err, errlen,
					    "--offset '%s': expected bytes, a multiple of 512",
					    optarg);
			break;
		case OPT_SIZE:
			if (parse_size(optarg, &o->size) || !o->size)
				return errf(err, errlen, "--size '%s': expected bytes above 0",
					    optarg);
			break;
		case OPT_VERIFY:
			o->verify = true;
			break;
		case OPT_VSTATE:
			o->verify_state = optarg;
			break;
		case OPT_FLUSH:
			if (parse_uint(optarg, 1, UINT32_MAX, &v))
				return errf(err, errlen, "--flush-interval '%s': expected a count",
					    optarg);
			o->flush_interval = (unsigned)v;
			break;
		case OPT_DISCARD:
			if (parse_uint(optarg, 1, UINT32_MAX, &v))
				return errf(err, errlen,
					    "--discard-interval '%s': expected a count", optarg);
			o->discard_interval = (unsigned)v;
			break;
		case OPT_CHECK_IMAGE:
			if (!*optarg)
				return errf(err, errlen, "--check-image needs a file name");
			o->check_image = optarg;
			break;
		case OPT_POLL:
			o->poll = true;
			break;
		case OPT_CPUS:
			if (parse_cpus(optarg, o))
				return errf(err, errlen,
					    "--cpus '%s': expected a comma-separated list of cpus",
					    optarg);
			break;
		case OPT_PID:
			if (o->npids == MAX_PIDS || parse_uint(optarg, 1, INT_MAX, &v))
				return errf(err, errlen, "--backend-pid '%s': expected a pid",
					    optarg);
			o->pids[o->npids++] = (int)v;
			break;
		case OPT_HSTATUS:
			o->hydra_status = optarg;
			break;
		case OPT_IOTIMEOUT:
		case OPT_TIMEOUT:
		case OPT_CTIMEOUT:
			if (parse_uint(optarg, 1, 3600000, &v))
				return errf(err, errlen,
					    "%s '%s': expected milliseconds, 1 to 3600000",
					    c == OPT_IOTIMEOUT ? "--io-timeout"
					    : c == OPT_TIMEOUT ? "--timeout"
							       : "--connect-timeout",
					    optarg);
			if (c == OPT_IOTIMEOUT)
				o->io_timeout_ms = (int)v;
			else if (c == OPT_TIMEOUT)
				o->timeout_ms = (int)v;
			else
				o->connect_timeout_ms = (int)v;
			break;
		case OPT_REQUIRE:
			if (parse_require(optarg, o))
				return errf(err, errlen, "--require '%s': unknown feature name",
					    optarg);
			break;
		case OPT_NO_EVIDX:
			o->no_event_idx = true;
			break;
		case OPT_NO_INDIRECT:
			o->no_indirect = true;
			break;
		case OPT_MEM:
			if (parse_uint(optarg, 4, 65536, &v))
				return errf(err, errlen, "--mem '%s': expected MiB, 4 to 65536",
					    optarg);
			o->mem_mib = (unsigned)v;
			break;
		case OPT_SEED:
			if (parse_uint(optarg, 0, UINT64_MAX, &o->seed))
				return errf(err, errlen, "--seed '%s': expected a number", optarg);
			break;
		case OPT_LABEL:
			o->label = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_PROGRESS:
			if (!strcmp(optarg, "auto"))
				o->progress = -1;
			else if (!strcmp(optarg, "always"))
				o->progress = 1;
			else if (!strcmp(optarg, "never"))
				o->progress = 0;
			else
				return errf(err, errlen,
					    "--progress '%s': expected auto, always or never",
					    optarg);
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'h':
			return 1;
		case ':':
			return errf(err, errlen, "option '%s' needs an argument", argv[optind - 1]);
		default:
			return errf(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return errf(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (o->check_image)
		return check_image_args(o, err, errlen);
	if (!o->socket)
		return errf(err, errlen, "--socket is required");
	if (strlen(o->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return errf(err, errlen, "--socket '%s': path too long for a unix socket",
			    o->socket);
	if (!have_duration && !o->io_count)
		o->duration_ns = 10 * 1000000000ull;
	if (o->wl == WL_IDLE && o->io_count)
		return errf(err, errlen, "--ios makes no sense with the idle workload");
	if (o->verify && !hy_stamp_unit(o->bs))
		return errf(err, errlen, "--verify needs a block size of at least %u bytes",
			    HY_STAMP_MIN_UNIT);
	if (o->verify_state && !o->verify)
		return errf(err, errlen, "--verify-state needs --verify");
	if (o->size && o->size < (uint64_t)o->bs * o->queues)
		return errf(err, errlen,
			    "--size %" PRIu64 " is smaller than one block (%u bytes) per queue",
			    o->size, o->bs);
	if (region_check(o, err, errlen))
		return -EINVAL;
	if (o->flush_interval && (o->wl == WL_READ || o->wl == WL_RANDREAD || o->wl == WL_IDLE))
		return errf(err, errlen, "--flush-interval needs a workload that writes");
	if (o->discard_interval && (o->wl == WL_READ || o->wl == WL_RANDREAD || o->wl == WL_IDLE))
		return errf(err, errlen, "--discard-interval needs a workload that writes");
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Backend CPU time                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* utime + stime of every thread of @pid, in clock ticks (/proc/PID/stat sums the threads). */
static int proc_ticks(int pid, uint64_t *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	/* Fields 3 (state) to 13 skipped, then 14 utime and 15 stime (proc(5)). */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	*ticks = ut + st;
	return 0;
}

static void cpu_sample(const struct bench *b, struct cpu_sample *s)
{
	for (unsigned i = 0; i < b->npids; i++)
		s->ok[i] = proc_ticks(b->pids[i], &s->ticks[i]) == 0;
}

/* Backend CPU seconds between two samples (pids that vanished count for what they had). */
static double cpu_seconds(const struct bench *b, const struct cpu_sample *a,
			  const struct cpu_sample *z, unsigned *lost, double *by_pid)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	uint64_t t = 0;

	*lost = 0;
	for (unsigned i = 0; i < b->npids; i++) {
		by_pid[i] = 0;
		if (a->ok[i] && z->ok[i] && z->ticks[i] >= a->ticks[i]) {
			t += z->ticks[i] - a->ticks[i];
			by_pid[i] = (double)(z->ticks[i] - a->ticks[i]) / hz;
		} else {
			(*lost)++;
		}
	}
	return (double)t / hz;
}

/*
 * Ask Hydra's status socket for its pids: the master's ("pid" at the top level) and every
 * worker's ("pid" of each queue). One line of JSON; "frontend_pid" does not match "\"pid\"".
 */
static int hydra_pids(const char *path, int timeout_ms, int *pids, unsigned max, unsigned *n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static char buf[1 << 20];
	size_t len = 0;
	uint64_t deadline = hy_now_ns() + (uint64_t)timeout_ms * 1000000;
	const char *p;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "status\n", 7) != 7) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = hy_now_ns();
		ssize_t r;

		if (now >= deadline) {
			ret = -ETIMEDOUT;
			goto out;
		}
		ret = poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			ret = ret ? -errno : -ETIMEDOUT;
			goto out;
		}
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r ? -errno : -ECONNRESET;
			goto out;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (memchr(buf, '\n', len))
			break;
		if (len == sizeof(buf) - 1) {
			ret = -EMSGSIZE;
			goto out;
		}
	}
	if (strstr(buf, "\"error\"")) {
		ret = -EPROTO;
		goto out;
	}
	*n = 0;
	for (p = strstr(buf, "\"pid\":"); p; p = strstr(p + 1, "\"pid\":")) {
		long v = strtol(p + 6, NULL, 10);

		if (v > 0 && *n < max)
			pids[(*n)++] = (int)v;
	}
	ret = *n ? 0 : -ENOENT;
out:
	close(fd);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* The per-queue thread: the hot path                                                         */
/* ------------------------------------------------------------------------------------------ */

/* xorshift64*: the thread's own generator, no locks, no syscalls. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A uniform integer below @n (Lemire's multiply-shift; the bias is far below 2^-32). */
static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static bool is_random(enum workload wl)
{
	return wl == WL_RANDREAD || wl == WL_RANDWRITE || wl == WL_RANDRW;
}

static void thread_fail(struct qthread *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void thread_fail(struct qthread *t, const char *fmt, ...)
{
	va_list ap;

	if (t->fail)
		return;
	t->fail = EXIT_IO;
	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof(t->errmsg), fmt, ap);
	va_end(ap);
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

/* Verify: never two requests on one block at once; the stretch holds > iodepth blocks. */
static uint64_t skip_busy(const struct qthread *t, uint64_t blk)
{
	const struct bench *b = t->b;

	if (!b->gen)
		return blk;
	while (b->gen[blk] & GEN_BUSY)
		blk = blk + 1 == t->blk_lo + t->nblk ? t->blk_lo : blk + 1;
	return blk;
}

/* The next block for a request: sequential per queue, or uniform over the queue's stretch. */
static uint64_t pick_block(struct qthread *t)
{
	const struct bench *b = t->b;
	uint64_t blk;

	if (is_random(b->o.wl))
		blk = t->blk_lo + rng_below(&t->rng, t->nblk);
	else {
		blk = t->blk_lo + t->seq_next;
		if (++t->seq_next == t->nblk)
			t->seq_next = 0;
	}
	return skip_busy(t, blk);
}

/*
 * The block a DISCARD covers: uniform over the queue's stretch whatever the workload. The
 * queue's own stretch, because the generation table has one writer per block: the thread that
 * owns the stretch (the stretches together are the region).
 */
static uint64_t pick_discard_block(struct qthread *t)
{
	return skip_busy(t, t->blk_lo + rng_below(&t->rng, t->nblk));
}

/* The generation a write of a block whose verify word is @w stamps: one never used there. */
static inline uint32_t gen_of_write(uint32_t w)
{
	uint32_t g = ((w & GEN_MASK) + 1) & GEN_MASK;

	return g ? g : 1; /* 0 means "never written" (wraps after 2^30 - 1 writes of a block) */
}

/* The generation a read expects: none (not checked) for a block never written or discarded. */
static inline uint32_t gen_of_read(uint32_t w)
{
	return w & GEN_DISCARDED ? HY_STAMP_GEN_NONE : w & GEN_MASK;
}

/* A discard completed: the contents are undefined, the generation count carries on. */
static inline uint32_t gen_after_discard(uint32_t w)
{
	return (w & GEN_MASK) | GEN_DISCARDED;
}

static uint32_t pick_type(struct qthread *t)
{
	switch (t->b->o.wl) {
	case WL_READ:
	case WL_RANDREAD:
	case WL_IDLE:
		return HY_VU_BLK_T_IN;
	case WL_WRITE:
	case WL_RANDWRITE:
		return HY_VU_BLK_T_OUT;
	case WL_RANDRW:
		return rng_below(&t->rng, 100) < t->b->o.rwmix_read ? HY_VU_BLK_T_IN
								    : HY_VU_BLK_T_OUT;
	}
	return HY_VU_BLK_T_IN;
}

/*
 * Choose slot @s's next request and describe it in @req: a FLUSH or a DISCARD when their
 * interval is up, else a read or write. Verify: claim the block (GEN_BUSY) and stamp a write's
 * data. No I/O: issue() submits it.
 */
static void prepare(struct qthread *t, struct slot *s, struct hy_vu_blk_req *req)
{
	struct bench *b = t->b;

	*req = (struct hy_vu_blk_req){
		.iov = &s->iov, .iovcnt = 1, .cookie = s, .flags = t->req_flags};
	if (b->o.flush_interval && t->writes_since_flush >= b->o.flush_interval) {
		t->writes_since_flush = 0;
		s->type = HY_VU_BLK_T_FLUSH;
		req->type = HY_VU_BLK_T_FLUSH;
		req->iovcnt = 0;
		req->iov = NULL;
		return;
	}
	if (b->o.discard_interval && t->writes_since_discard >= b->o.discard_interval) {
		t->writes_since_discard = 0;
		s->type = HY_VU_BLK_T_DISCARD;
		s->block = pick_discard_block(t);
		/*
		 * VIRTIO 1.2, 5.2.6: one struct virtio_blk_discard_write_zeroes in the
		 * device-readable part. Its unmap flag is WRITE_ZEROES' alone: a device answers
		 * a DISCARD that sets it with UNSUPP (5.2.6.2).
		 */
		req->iovcnt = 0;
		req->iov = NULL;
		req->num_sectors = b->o.bs / SECTOR;
		req->seg_flags = 0;
	} else {
		s->type = pick_type(t);
		s->block = pick_block(t);
	}
	req->type = s->type;
	req->sector = b->region_sector + s->block * (b->o.bs / SECTOR);
	if (b->gen) {
		uint32_t w = b->gen[s->block];

		if (s->type == HY_VU_BLK_T_OUT) {
			s->gen = gen_of_write(w);
			hy_stamp_fill(s->iov.iov_base, b->o.bs, req->sector, s->gen, b->o.seed);
		} else if (s->type == HY_VU_BLK_T_IN) {
			s->gen = gen_of_read(w);
		} else {
			s->gen = w & GEN_MASK; /* discard: complete() carries it on */
		}
		b->gen[s->block] = w | GEN_BUSY;
	}
	if (s->type == HY_VU_BLK_T_OUT) {
		t->writes_since_flush++;
		t->writes_since_discard++;
	}
}

/* Fill slot @s with the next request and put it in the avail ring (no kick). */
static int issue(struct qthread *t, struct slot *s, uint64_t now)
{
	struct bench *b = t->b;
	struct hy_vu_blk_req req;
	int ret;

	prepare(t, s, &req);
	ret = hy_vu_blk_submit(t->q, &req);
	if (ret) {
		if (b->gen && s->type != HY_VU_BLK_T_FLUSH)
			b->gen[s->block] &= ~GEN_BUSY;
		thread_fail(t, "queue %u: cannot submit a request: %s", t->idx, strerror(-ret));
		return ret;
	}
	s->start_ns = now;
	s->busy = true;
	t->issued++;
	t->inflight++;
	return 0;
}

/* One completion: account, verify, release the block. */
static int complete(struct qthread *t, struct slot *s, const struct hy_vu_cpl *c, uint64_t now,
		    bool measured)
{
	struct bench *b = t->b;
	uint64_t lat = now - s->start_ns;
	uint64_t sector = b->region_sector + s->block * (b->o.bs / SECTOR);

	s->busy = false;
	t->inflight--;
	if (c->status != HY_VU_BLK_S_OK) {
		if (s->type == HY_VU_BLK_T_FLUSH)
			thread_fail(t, "queue %u: FLUSH failed with status %s", t->idx,
				    hy_vu_blk_status_str(c->status));
		else
			thread_fail(t,
				    "queue %u: %s of %u bytes at lba %" PRIu64
				    " failed with status %s",
				    t->idx,
				    s->type == HY_VU_BLK_T_IN	 ? "read"
				    : s->type == HY_VU_BLK_T_OUT ? "write"
								 : "DISCARD",
				    b->o.bs, sector, hy_vu_blk_status_str(c->status));
		return -EIO;
	}
	if (s->type == HY_VU_BLK_T_FLUSH) {
		if (measured) {
			t->flushes++;
			hy_hist_record(t->hflush, lat);
		}
		return 0;
	}
	if (s->type == HY_VU_BLK_T_DISCARD) {
		if (b->gen)
			b->gen[s->block] = gen_after_discard(b->gen[s->block]);
		if (measured) {
			t->discards++;
			hy_hist_record(t->hdiscard, lat);
		}
		return 0;
	}
	if (b->gen) {
		if (s->type == HY_VU_BLK_T_IN) {
			struct hy_stamp_mismatch mm;

			if (s->gen == HY_STAMP_GEN_NONE) {
				if (b->gen[s->block] & GEN_DISCARDED)
					t->undefined++;
				else
					t->unverified++;
			} else if (hy_stamp_check(s->iov.iov_base, b->o.bs, sector, s->gen,
						  b->o.seed, &mm)) {
				char msg[600];

				thread_fail(t, "queue %u: verify failed at %s", t->idx,
					    hy_stamp_describe(&mm, msg, sizeof(msg)));
				b->gen[s->block] &= ~GEN_BUSY;
				return -EIO;
			} else {
				t->verified++;
			}
			b->gen[s->block] &= ~GEN_BUSY;
		} else {
			b->gen[s->block] = s->gen;
		}
	}
	if (!measured)
		return 0;
	if (s->type == HY_VU_BLK_T_IN) {
		t->reads++;
		t->rbytes += b->o.bs;
		hy_hist_record(t->hread, lat);
	} else {
		t->writes++;
		t->wbytes += b->o.bs;
		hy_hist_record(t->hwrite, lat);
	}
	return 0;
}

/* A request outstanding for longer than --io-timeout, though others complete: a stall. */
static bool check_stalls(struct qthread *t, uint64_t now)
{
	const struct bench *b = t->b;
	uint64_t limit = (uint64_t)b->o.io_timeout_ms * 1000000;

	for (unsigned i = 0; i < b->o.iodepth; i++) {
		const struct slot *s = &t->slots[i];

		if (s->busy && now - s->start_ns > limit) {
			thread_fail(t,
				    "queue %u: a request (lba %" PRIu64
				    ") got no completion in %d ms: the backend stalled",
				    t->idx, b->region_sector + s->block * (b->o.bs / SECTOR),
				    b->o.io_timeout_ms);
			return true;
		}
	}
	return false;
}

static void pin_self(struct qthread *t)
{
	cpu_set_t set;
	int ret;

	if (t->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (ret)
		hy_log(WARN, ret, "queue %u: cannot pin the thread to cpu %d", t->idx, t->cpu);
}

static void *qthread_run(void *arg)
{
	struct qthread *t = arg;
	struct bench *b = t->b;
	const unsigned qd = b->o.iodepth;
	uint64_t now, next_check;
	bool stopping = false;
	int ret;

	pin_self(t);
	pthread_barrier_wait(&b->start);
	now = hy_now_ns();
	next_check = now + CHECK_NS;

	if (b->o.wl == WL_IDLE) {
		/* One read so the queue is known to work, then nothing: the backend idles. */
		struct hy_vu_cpl cpl;
		struct hy_vu_blk_req req = {.type = HY_VU_BLK_T_IN,
					    .sector = b->region_sector,
					    .iov = &t->slots[0].iov,
					    .iovcnt = 1};

		ret = hy_vu_blk_sync(t->q, &req, b->o.io_timeout_ms, &cpl);
		if (ret)
			thread_fail(t, "queue %u: the first read got no completion: %s", t->idx,
				    strerror(-ret));
		else if (cpl.status != HY_VU_BLK_S_OK)
			thread_fail(t, "queue %u: the first read failed with status %s", t->idx,
				    hy_vu_blk_status_str(cpl.status));
		return NULL;
	}

	for (unsigned i = 0; i < qd && t->issued < t->target; i++)
		if (issue(t, &t->slots[i], now))
			goto drain;
	ret = hy_vu_queue_kick(t->q);
	if (ret < 0) {
		thread_fail(t, "queue %u: kick failed: %s", t->idx, strerror(-ret));
		goto drain;
	}

	while (t->inflight) {
		int n = hy_vu_queue_reap(t->q, t->cpl, qd);

		if (n < 0) {
			thread_fail(t, "queue %u: the backend broke the used ring", t->idx);
			return NULL;
		}
		if (n == 0) {
			ret = hy_vu_queue_wait(t->q, b->o.io_timeout_ms);
			if (ret == -ETIMEDOUT) {
				thread_fail(t,
					    "queue %u: no completion in %d ms with %u requests in "
					    "flight: the backend stalled",
					    t->idx, b->o.io_timeout_ms, t->inflight);
				return NULL;
			}
			if (ret && ret != -ENODATA) {
				thread_fail(t, "queue %u: waiting for completions failed: %s",
					    t->idx, strerror(-ret));
				return NULL;
			}
			continue;
		}
		now = hy_now_ns();
		/* Only what completes inside the window counts (fio's ramp_time and runtime). */
		bool measured = now >= b->t_measure && now < b->t_end;

		if (!stopping && (t->issued >= t->target || now >= b->t_end))
			stopping = true;
		for (int i = 0; i < n; i++) {
			struct slot *s = t->cpl[i].cookie;

			if (complete(t, s, &t->cpl[i], now, measured))
				stopping = true;
			else if (!stopping && t->issued < t->target && issue(t, s, now))
				stopping = true;
		}
		/* One kick per batch; a no-op when nothing went in or the backend polls. */
		ret = hy_vu_queue_kick(t->q);
		if (ret < 0) {
			thread_fail(t, "queue %u: kick failed: %s", t->idx, strerror(-ret));
			stopping = true;
		}
		if (now >= next_check) {
			next_check = now + CHECK_NS;
			__atomic_store_n(&t->progress_ios, t->issued - t->inflight,
					 __ATOMIC_RELAXED);
			if (__atomic_load_n(&stop_flag, __ATOMIC_RELAXED))
				stopping = true;
			if (check_stalls(t, now))
				return NULL;
		}
	}
drain:
	/* Whatever was submitted before a failure: wait for it, with the same deadline. */
	while (t->inflight) {
		int n = hy_vu_queue_reap(t->q, t->cpl, qd);

		if (n < 0)
			return NULL;
		if (n == 0) {
			if (hy_vu_queue_wait(t->q, b->o.io_timeout_ms) == -ETIMEDOUT) {
				thread_fail(t,
					    "queue %u: %u requests got no completion in %d ms: the "
					    "backend stalled",
					    t->idx, t->inflight, b->o.io_timeout_ms);
				return NULL;
			}
			continue;
		}
		now = hy_now_ns();
		for (int i = 0; i < n; i++)
			complete(t, t->cpl[i].cookie, &t->cpl[i], now, false);
	}
	__atomic_store_n(&t->progress_ios, t->issued, __ATOMIC_RELAXED);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Set-up                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * --verify-state: this header, then one 32-bit word per block of the region in host byte order:
 * the generation last written there (bits 0-29, 0: never) and GEN_DISCARDED (bit 30).
 */
struct state_hdr {
	char magic[8];
	uint32_t version;
	uint32_t bs;
	uint64_t region_sector;
	uint64_t nblocks;
	uint64_t seed;
};
_Static_assert(sizeof(struct state_hdr) == 40, "verify state header");

/**
 * state_load() - the generations a previous run left in --verify-state.
 * @b: bench with o.bs, o.seed, region_sector and nblocks set (nblocks 0: take the state's);
 *     b->gen is filled, and allocated when NULL
 * @must_exist: a missing file is an error (--check-image), else a first run with all blocks
 *              never written
 * @err: message on failure
 * @errlen: its size
 *
 * Called by the main thread before any queue thread runs.
 * Return: 0; -EINVAL with @err saying what is wrong (another version or region, truncated).
 */
static int state_load(struct bench *b, bool must_exist, char *err, size_t errlen)
{
	const char *path = b->o.verify_state;
	struct state_hdr h;
	struct stat st;
	FILE *f = fopen(path, "rb");
	size_t bytes;
	int ret = -EINVAL;

	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return errf(err, errlen, "cannot open --verify-state %s: %s", path,
			    strerror(errno));
	}
	if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, STATE_MAGIC, 8)) {
		errf(err, errlen, "--verify-state %s is not a hydra-bench state file", path);
		goto out;
	}
	if (h.version != STATE_VERSION) {
		errf(err, errlen,
		     "--verify-state %s is a version %u state file; this hydra-bench reads version "
		     "%u only (delete the file to start over)",
		     path, h.version, STATE_VERSION);
		goto out;
	}
	if (!b->nblocks)
		b->nblocks = h.nblocks;
	if (h.bs != b->o.bs || h.region_sector != b->region_sector || h.nblocks != b->nblocks ||
	    h.seed != b->o.seed) {
		errf(err, errlen,
		     "--verify-state %s was written with bs %u, offset %" PRIu64 ", %" PRIu64
		     " blocks, seed %" PRIu64 "; this run has bs %u, offset %" PRIu64 ", %" PRIu64
		     " blocks, seed %" PRIu64,
		     path, h.bs, h.region_sector * SECTOR, h.nblocks, h.seed, b->o.bs,
		     b->region_sector * SECTOR, b->nblocks, b->o.seed);
		goto out;
	}
	if (!h.nblocks || h.nblocks > SIZE_MAX / sizeof(uint32_t)) {
		errf(err, errlen, "--verify-state %s holds %" PRIu64 " blocks", path, h.nblocks);
		goto out;
	}
	bytes = h.nblocks * sizeof(uint32_t);
	if (fstat(fileno(f), &st) == 0 && (uint64_t)st.st_size != sizeof(h) + bytes) {
		errf(err, errlen, "--verify-state %s is %s: %lld bytes for %" PRIu64 " blocks",
		     path, (uint64_t)st.st_size < sizeof(h) + bytes ? "truncated" : "damaged",
		     (long long)st.st_size, h.nblocks);
		goto out;
	}
	if (!b->gen) {
		b->gen = calloc(h.nblocks, sizeof(*b->gen));
		if (!b->gen) {
			errf(err, errlen, "no memory for %" PRIu64 " block generations", h.nblocks);
			goto out;
		}
	}
	if (fread(b->gen, 1, bytes, f) != bytes) {
		errf(err, errlen, "--verify-state %s is truncated", path);
		goto out;
	}
	for (uint64_t i = 0; i < b->nblocks; i++)
		b->gen[i] &= ~GEN_BUSY;
	ret = 0;
out:
	fclose(f);
	return ret;
}

/**
 * state_save() - write the generations to --verify-state (a new file, then rename()).
 * @b: bench after a clean run: no request in flight, so no word carries GEN_BUSY
 *
 * Called by the main thread after the queue threads ended.
 * Return: 0 or -errno.
 */
static int state_save(const struct bench *b)
{
	struct state_hdr h = {.version = STATE_VERSION,
			      .bs = b->o.bs,
			      .region_sector = b->region_sector,
			      .nblocks = b->nblocks,
			      .seed = b->o.seed};
	char tmp[PATH_MAX];
	FILE *f;

	memcpy(h.magic, STATE_MAGIC, 8);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", b->o.verify_state) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	if (fwrite(&h, sizeof(h), 1, f) != 1 ||
	    fwrite(b->gen, sizeof(uint32_t), b->nblocks, f) != b->nblocks) {
		fclose(f);
		unlink(tmp);
		return -EIO;
	}
	if (fclose(f) || rename(tmp, b->o.verify_state)) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

static unsigned pow2_at_least(unsigned v)
{
	unsigned p = 2;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * Connect, check what the device offers against what the run needs, carve the region into one
 * stretch per queue and give every slot its buffer in guest memory.
 */

/* A histogram on its own cache lines (C11 aligned_alloc wants a size multiple of 64). */
static struct hy_hist *hist_alloc(void)
{
	return aligned_alloc(64, (sizeof(struct hy_hist) + 63) & ~(size_t)63);
}
static int setup(struct bench *b, char *err, size_t errlen)
{
	struct opts *o = &b->o;
	struct hy_vu_opts vo;
	const struct hy_vu_blk_config *cfg;
	uint64_t cap, per_q, need;
	unsigned descs = o->no_indirect ? 3 : 1;

	hy_vu_opts_init(&vo);
	vo.num_queues = o->queues;
	vo.queue_size =
		o->queue_size ? o->queue_size
			      : pow2_at_least(descs * o->iodepth > 256 ? descs * o->iodepth : 256);
	vo.timeout_ms = o->timeout_ms;
	vo.connect_timeout_ms = o->connect_timeout_ms;
	vo.indirect_max = 4; /* header, one data buffer, status: 3 */
	if (o->no_event_idx)
		vo.features_refuse |= 1ull << HY_VU_VIRTIO_F_EVENT_IDX;
	if (o->no_indirect)
		vo.features_refuse |= 1ull << HY_VU_VIRTIO_F_INDIRECT_DESC;
	if (vo.queue_size < descs * o->iodepth)
		return errf(err, errlen,
			    "--queue-size %u is too small for --iodepth %u (%u descriptors each)",
			    vo.queue_size, o->iodepth, descs);
	/* Buffers, rings and indirect tables, twice over: the allocator is first fit. */
	need = (uint64_t)o->queues * o->iodepth * o->bs * 2 +
	       (uint64_t)o->queues * vo.queue_size * (16 + 64 + 8 + 64) + (16ull << 20);
	if (o->mem_mib)
		vo.mem_size = (uint64_t)o->mem_mib << 20;
	else
		vo.mem_size = need < (64ull << 20)
				      ? 64ull << 20
				      : (need + (4ull << 20) - 1) & ~((4ull << 20) - 1);

	b->c = hy_vu_connect(o->socket, &vo);
	if (!b->c) {
		int e = errno;

		if (e == EINVAL)
			return errf(err, errlen,
				    "cannot set up %s: the backend refused the set-up (too few "
				    "queues for --queues %u, or a ring of %u too large?): %s",
				    o->socket, o->queues, vo.queue_size, strerror(e));
		return errf(err, errlen, "cannot connect to vhost-user socket %s: %s", o->socket,
			    strerror(e));
	}
	cfg = hy_vu_config(b->c);
	if (hy_vu_num_queues(b->c) < o->queues)
		return errf(err, errlen, "the backend offers %u queues, --queues asked for %u",
			    hy_vu_max_queues(b->c), o->queues);
	for (unsigned i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
		unsigned bit = feature_names[i].bit;

		if ((o->require & (1ull << bit)) && !(hy_vu_device_features(b->c) & (1ull << bit)))
			return errf(err, errlen,
				    "the backend lacks feature %s (virtio bit %u) that --require "
				    "asked for (offered 0x%" PRIx64 ")",
				    feature_names[i].name, bit, hy_vu_device_features(b->c));
	}
	if (o->flush_interval && !hy_vu_has_feature(b->c, HY_VU_BLK_F_FLUSH))
		return errf(err, errlen, "--flush-interval: the backend does not offer FLUSH");
	if (o->discard_interval && !hy_vu_has_feature(b->c, HY_VU_BLK_F_DISCARD))
		return errf(
			err, errlen,
			"--discard-interval: the backend does not offer DISCARD (virtio bit %u, "
			"offered 0x%" PRIx64 ")",
			HY_VU_BLK_F_DISCARD, hy_vu_device_features(b->c));
	/* VIRTIO 1.2, 5.2.4: with DISCARD, max_discard_sectors is one segment's limit. */
	if (o->discard_interval && cfg->max_discard_sectors &&
	    o->bs / SECTOR > cfg->max_discard_sectors)
		return errf(err, errlen,
			    "--discard-interval: --bs %u is more than the backend discards at once "
			    "(max_discard_sectors %u)",
			    o->bs, cfg->max_discard_sectors);
	if (o->discard_interval && cfg->discard_sector_alignment &&
	    (o->bs / SECTOR % cfg->discard_sector_alignment ||
	     o->offset / SECTOR % cfg->discard_sector_alignment))
		return errf(err, errlen,
			    "--discard-interval: --bs %u / --offset %" PRIu64
			    " are not multiples of the backend's discard alignment (%u sectors)",
			    o->bs, o->offset, cfg->discard_sector_alignment);
	if (o->wl != WL_READ && o->wl != WL_RANDREAD && o->wl != WL_IDLE &&
	    hy_vu_has_feature(b->c, HY_VU_BLK_F_RO))
		return errf(err, errlen, "the device is read-only and the workload writes");
	if (hy_vu_has_feature(b->c, HY_VU_BLK_F_BLK_SIZE) && cfg->blk_size &&
	    (o->bs % cfg->blk_size || o->offset % cfg->blk_size))
		return errf(err, errlen,
			    "--bs %u / --offset %" PRIu64
			    " are not multiples of the device's block size %u",
			    o->bs, o->offset, cfg->blk_size);
	cap = cfg->capacity * SECTOR;
	if (o->offset >= cap)
		return errf(err, errlen,
			    "--offset %" PRIu64 " is past the end of the device (%" PRIu64
			    " bytes)",
			    o->offset, cap);
	if (!o->size)
		o->size = (cap - o->offset) / o->bs * o->bs;
	if (o->size > cap - o->offset)
		return errf(err, errlen,
			    "--offset %" PRIu64 " + --size %" PRIu64
			    " is past the end of the device (%" PRIu64 " bytes)",
			    o->offset, o->size, cap);
	b->nblocks = o->size / o->bs;
	b->region_sector = o->offset / SECTOR;
	per_q = b->nblocks / o->queues;
	if (per_q == 0)
		return errf(err, errlen, "the region holds %" PRIu64 " blocks for %u queues",
			    b->nblocks, o->queues);
	if (o->verify && per_q <= o->iodepth)
		return errf(err, errlen,
			    "--verify needs more blocks per queue (%" PRIu64
			    ") than --iodepth (%u): requests on one block must not overlap",
			    per_q, o->iodepth);
	if (o->verify) {
		b->gen = calloc(b->nblocks, sizeof(*b->gen));
		if (!b->gen)
			return errf(err, errlen, "no memory for %" PRIu64 " block generations",
				    b->nblocks);
		if (o->verify_state && state_load(b, false, err, errlen))
			return -EINVAL;
	}

	b->qt = calloc(o->queues, sizeof(*b->qt));
	if (!b->qt)
		return errf(err, errlen, "out of memory");
	for (unsigned i = 0; i < o->queues; i++) {
		struct qthread *t = &b->qt[i];

		t->b = b;
		t->idx = i;
		t->q = hy_vu_queue(b->c, i);
		t->cpu = o->ncpus ? o->cpus[i % o->ncpus] : -1;
		/* Like Linux's virtio_ring: an indirect table whenever the device takes them. */
		if (hy_vu_has_feature(b->c, HY_VU_VIRTIO_F_INDIRECT_DESC))
			t->req_flags = HY_VU_REQ_INDIRECT;
		hy_vu_queue_set_poll(t->q, o->poll);
		t->rng = o->seed * 0x9e3779b97f4a7c15ull + i + 1;
		t->blk_lo = per_q * i;
		t->nblk = i == o->queues - 1 ? b->nblocks - per_q * i : per_q;
		t->target = UINT64_MAX;
		if (o->io_count)
			t->target = o->io_count / o->queues + (i < o->io_count % o->queues);
		t->slots = calloc(o->iodepth, sizeof(*t->slots));
		t->cpl = calloc(o->iodepth, sizeof(*t->cpl));
		t->hread = hist_alloc();
		t->hwrite = hist_alloc();
		t->hflush = hist_alloc();
		t->hdiscard = hist_alloc();
		if (!t->slots || !t->cpl || !t->hread || !t->hwrite || !t->hflush || !t->hdiscard)
			return errf(err, errlen, "out of memory");
		hy_hist_init(t->hread);
		hy_hist_init(t->hwrite);
		hy_hist_init(t->hflush);
		hy_hist_init(t->hdiscard);
		for (unsigned k = 0; k < o->iodepth; k++) {
			void *p = hy_vu_alloc(hy_vu_mem(b->c), o->bs, 4096);

			if (!p)
				return errf(err, errlen,
					    "no room in guest memory for %u buffers of %u bytes on "
					    "%u queues (try --mem)",
					    o->iodepth, o->bs, o->queues);
			t->slots[k].iov = (struct iovec){.iov_base = p, .iov_len = o->bs};
		}
	}
	return 0;
}

static void teardown(struct bench *b)
{
	if (b->qt) {
		for (unsigned i = 0; i < b->o.queues; i++) {
			free(b->qt[i].slots);
			free(b->qt[i].cpl);
			free(b->qt[i].hread);
			free(b->qt[i].hwrite);
			free(b->qt[i].hflush);
			free(b->qt[i].hdiscard);
		}
		free(b->qt);
	}
	free(b->gen);
	hy_vu_close(b->c);
}

/* ------------------------------------------------------------------------------------------ */
/* Report                                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct result {
	double window_s;
	uint64_t reads, writes, flushes, discards, rbytes, wbytes, verified, unverified, undefined;
	struct hy_hist *all, *rd, *wr, *fl, *dc;
	double iops, read_iops, write_iops, mbps, mibps;
	double backend_cpu_s, backend_cores, iops_per_core;
	unsigned backend_pids, backend_lost;
	double pid_cpu_s[MAX_PIDS];
	double client_cpu_s, client_cores;
	struct hy_vu_queue_stats qs;
};

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_lat(FILE *f, const char *name, const struct hy_hist *h)
{
	fprintf(f,
		"\"%s\": {\"count\": %" PRIu64 ", \"min_us\": %.3f, \"mean_us\": %.3f, "
		"\"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, \"p99_9_us\": %.3f, "
		"\"p99_99_us\": %.3f, \"max_us\": %.3f}",
		name, h->count, h->count ? (double)h->min / 1e3 : 0.0, hy_hist_mean(h) / 1e3,
		(double)hy_hist_percentile(h, 50) / 1e3, (double)hy_hist_percentile(h, 90) / 1e3,
		(double)hy_hist_percentile(h, 99) / 1e3, (double)hy_hist_percentile(h, 99.9) / 1e3,
		(double)hy_hist_percentile(h, 99.99) / 1e3, (double)h->max / 1e3);
}

static void print_json(const struct bench *b, const struct result *r, int rc, const char *error)
{
	const struct opts *o = &b->o;
	FILE *f = stdout;

	fprintf(f, "{\"tool\": \"hydra-bench\", \"version\": \"%s\", \"label\": ", HY_VERSION);
	json_str(f, o->label ? o->label : "");
	fprintf(f, ", \"socket\": ");
	json_str(f, o->socket);
	fprintf(f,
		", \"workload\": \"%s\", \"rwmixread\": %u, \"bs\": %u, \"iodepth\": %u, "
		"\"queues\": %u, \"mode\": \"%s\", \"verify\": %s, \"flush_interval\": %u, "
		"\"discard_interval\": %u, \"offset\": %" PRIu64 ", \"size\": %" PRIu64
		", \"ramp_s\": %.3f, \"cpus\": [",
		workload_names[o->wl], o->rwmix_read, o->bs, o->iodepth, o->queues,
		o->poll ? "poll" : "interrupt", o->verify ? "true" : "false", o->flush_interval,
		o->discard_interval, o->offset, o->size, (double)o->ramp_ns / 1e9);
	for (unsigned i = 0; i < o->ncpus; i++)
		fprintf(f, "%s%d", i ? ", " : "", o->cpus[i]);
	fprintf(f, "], \"features\": \"0x%" PRIx64 "\", \"event_idx\": %s, \"indirect\": %s, ",
		b->c ? hy_vu_features(b->c) : 0,
		b->c && hy_vu_has_feature(b->c, HY_VU_VIRTIO_F_EVENT_IDX) ? "true" : "false",
		b->c && hy_vu_has_feature(b->c, HY_VU_VIRTIO_F_INDIRECT_DESC) && !o->no_indirect
			? "true"
			: "false");
	fprintf(f, "\"exit\": %d, \"error\": ", rc);
	if (error)
		json_str(f, error);
	else
		fprintf(f, "null");
	fprintf(f,
		", \"window_s\": %.6f, \"ios\": %" PRIu64 ", \"reads\": %" PRIu64
		", \"writes\": %" PRIu64 ", \"flushes\": %" PRIu64 ", \"discards\": %" PRIu64
		", \"read_bytes\": %" PRIu64 ", \"write_bytes\": %" PRIu64
		", \"iops\": %.1f, \"read_iops\": %.1f, \"write_iops\": %.1f, \"mb_s\": %.3f, "
		"\"mib_s\": %.3f, ",
		r->window_s, r->reads + r->writes, r->reads, r->writes, r->flushes, r->discards,
		r->rbytes, r->wbytes, r->iops, r->read_iops, r->write_iops, r->mbps, r->mibps);
	json_lat(f, "latency", r->all);
	fprintf(f, ", ");
	json_lat(f, "read_latency", r->rd);
	fprintf(f, ", ");
	json_lat(f, "write_latency", r->wr);
	fprintf(f, ", ");
	json_lat(f, "flush_latency", r->fl);
	fprintf(f, ", ");
	json_lat(f, "discard_latency", r->dc);
	fprintf(f, ", \"backend_pids\": [");
	for (unsigned i = 0; i < b->npids; i++)
		fprintf(f, "%s%d", i ? ", " : "", b->pids[i]);
	fprintf(f, "], \"backend_cpu_s_by_pid\": {");
	for (unsigned i = 0; i < b->npids; i++)
		fprintf(f, "%s\"%d\": %.3f", i ? ", " : "", b->pids[i], r->pid_cpu_s[i]);
	fprintf(f,
		"}, \"backend_pids_from\": \"%s\", \"backend_pids_lost\": %u, "
		"\"backend_cpu_s\": %.3f, \"backend_cores\": %.4f, \"backend_cpu_pct\": %.2f, "
		"\"iops_per_backend_core\": %.1f, \"client_cpu_s\": %.3f, \"client_cores\": %.4f, ",
		b->hydra_pids ? "hydra-status"
		: b->npids    ? "backend-pid"
			      : "none",
		r->backend_lost, r->backend_cpu_s, r->backend_cores, r->backend_cores * 100.0,
		r->iops_per_core, r->client_cpu_s, r->client_cores);
	fprintf(f,
		"\"verified\": %" PRIu64 ", \"unverified\": %" PRIu64
		", \"unverified_discarded\": %" PRIu64 ", \"submitted\": %" PRIu64
		", \"completed\": %" PRIu64 ", \"kicks\": %" PRIu64
		", \"kicks_suppressed\": %" PRIu64 ", \"waits\": %" PRIu64 ", \"calls\": %" PRIu64
		"}\n",
		r->verified, r->unverified, r->undefined, r->qs.submitted, r->qs.completed,
		r->qs.kicks, r->qs.kicks_suppressed, r->qs.waits, r->qs.calls);
}

static void print_human(const struct bench *b, const struct result *r)
{
	const struct opts *o = &b->o;
	const struct hy_hist *h = r->all;

	printf("hydra-bench: %s, bs %u, iodepth %u, %u queue%s, %s, %.2f s measured on %s\n",
	       workload_names[o->wl], o->bs, o->iodepth, o->queues, o->queues > 1 ? "s" : "",
	       o->poll ? "busy-polling" : "interrupt-driven", r->window_s, o->socket);
	printf("  device        %" PRIu64 " bytes, %u of %u queues, features 0x%" PRIx64 "%s%s\n",
	       hy_vu_config(b->c)->capacity * SECTOR, hy_vu_num_queues(b->c),
	       hy_vu_max_queues(b->c), hy_vu_features(b->c),
	       hy_vu_has_feature(b->c, HY_VU_VIRTIO_F_EVENT_IDX) ? " event_idx" : "",
	       hy_vu_has_feature(b->c, HY_VU_VIRTIO_F_INDIRECT_DESC) ? " indirect" : "");
	if (o->wl == WL_IDLE) {
		printf("  backend cpu   %.3f s over %.2f s: %.2f %% of a core (%u pids)\n",
		       r->backend_cpu_s, r->window_s, r->backend_cores * 100.0, b->npids);
		return;
	}
	printf("  iops          %.0f (read %.0f, write %.0f)\n", r->iops, r->read_iops,
	       r->write_iops);
	printf("  bandwidth     %.1f MB/s (%.1f MiB/s)\n", r->mbps, r->mibps);
	printf("  latency (us)  min %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
	       h->count ? (double)h->min / 1e3 : 0.0, (double)hy_hist_percentile(h, 50) / 1e3,
	       (double)hy_hist_percentile(h, 99) / 1e3, (double)hy_hist_percentile(h, 99.9) / 1e3,
	       (double)h->max / 1e3, hy_hist_mean(h) / 1e3);
	if (r->flushes)
		printf("  flushes       %" PRIu64 " (p50 %.1f us, p99 %.1f us)\n", r->flushes,
		       (double)hy_hist_percentile(r->fl, 50) / 1e3,
		       (double)hy_hist_percentile(r->fl, 99) / 1e3);
	if (r->discards)
		printf("  discards      %" PRIu64 " (p50 %.1f us, p99 %.1f us)\n", r->discards,
		       (double)hy_hist_percentile(r->dc, 50) / 1e3,
		       (double)hy_hist_percentile(r->dc, 99) / 1e3);
	if (b->npids)
		printf("  backend cpu   %.2f cores (%u pids%s): %.0f iops per backend core\n",
		       r->backend_cores, b->npids, r->backend_lost ? ", some vanished" : "",
		       r->iops_per_core);
	printf("  client cpu    %.2f cores\n", r->client_cores);
	printf("  ring          %" PRIu64 " kicks (%" PRIu64 " suppressed), %" PRIu64
	       " waits, %" PRIu64 " calls\n",
	       r->qs.kicks, r->qs.kicks_suppressed, r->qs.waits, r->qs.calls);
	if (o->verify)
		printf("  verify        %" PRIu64 " reads checked, %" PRIu64 " not (%" PRIu64
		       " of never-written blocks, %" PRIu64 " of discarded ones), 0 mismatches\n",
		       r->verified, r->unverified + r->undefined, r->unverified, r->undefined);
}

static double rusage_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------------------------------ */
/* --check-image: the state against a raw image, no backend                                   */
/* ------------------------------------------------------------------------------------------ */

struct check_result {
	uint64_t blocks;
	uint64_t checked;   /* compared with their stamp, bad ones included */
	uint64_t bad;	    /* mismatches, and written blocks past the end of the file */
	uint64_t past_end;  /* of the bad: not in the file at all */
	uint64_t unwritten; /* skipped: never written */
	uint64_t discarded; /* skipped: discarded since their last write */
	uint64_t file_bytes;
	char first_bad[640]; /* what the first bad block was, "" when none */
};

/* pread() until @len bytes or the end of the file: bytes read, or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* One bad block: counted, and the first CHECK_SHOW of them described on @msgs. */
static void check_bad(struct check_result *r, FILE *msgs, const char *path, const char *what)
{
	if (!r->bad)
		snprintf(r->first_bad, sizeof(r->first_bad), "%s", what);
	if (r->bad < CHECK_SHOW && msgs)
		fprintf(msgs, "hydra-bench: %s: verify failed at %s\n", path, what);
	else if (r->bad == CHECK_SHOW && msgs)
		fprintf(msgs, "hydra-bench: %s: more bad blocks follow, not shown\n", path);
	r->bad++;
}

/**
 * check_image() - check the raw image --check-image against --verify-state.
 * @b: bench with its options parsed (o.check_image and o.verify_state set); loads b->gen
 * @msgs: where the first CHECK_SHOW bad blocks are described (NULL: nowhere)
 * @r: the counts
 * @err: message on failure
 * @errlen: its size
 *
 * Reads the region (o.offset, o.size or the state's region) CHECK_CHUNK bytes at a time with
 * pread(), only where a block was written and not discarded since, and checks each such block as
 * a --verify read would. Blocks the file is too short to hold are bad. Main thread only.
 * Return: 0 when the whole region was looked at (@r->bad says if it is good); -EIO with @err when
 * reading the file failed; -EINVAL (or another -errno) with @err for a usage or set-up error.
 */
static int check_image(struct bench *b, FILE *msgs, struct check_result *r, char *err,
		       size_t errlen)
{
	const struct opts *o = &b->o;
	const char *path = o->check_image;
	uint64_t per_chunk = CHECK_CHUNK / o->bs ? CHECK_CHUNK / o->bs : 1;
	uint8_t *buf = NULL;
	off_t end;
	int fd, ret;

	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, errlen, "cannot open --check-image %s: %s", path, strerror(errno));
	/* A block device's size too: lseek(SEEK_END) works for both. */
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		ret = errf(err, errlen, "cannot find the size of --check-image %s: %s", path,
			   strerror(errno));
		goto out_close;
	}
	r->file_bytes = (uint64_t)end;
	b->region_sector = o->offset / SECTOR;
	b->nblocks = o->size / o->bs; /* 0: the state's region */
	ret = state_load(b, true, err, errlen);
	if (ret)
		goto out_close;
	r->blocks = b->nblocks;
	buf = aligned_alloc(4096, (size_t)(per_chunk * o->bs));
	if (!buf) {
		ret = errf(err, errlen, "no memory for a %" PRIu64 "-byte read buffer",
			   per_chunk * o->bs);
		goto out_close;
	}
	posix_fadvise(fd, (off_t)o->offset, (off_t)(b->nblocks * o->bs), POSIX_FADV_SEQUENTIAL);
	for (uint64_t i = 0; i < b->nblocks; i += per_chunk) {
		uint64_t n = b->nblocks - i < per_chunk ? b->nblocks - i : per_chunk;
		uint64_t off = o->offset + i * o->bs;
		ssize_t got = 0;
		bool need = false;

		for (uint64_t k = 0; k < n && !need; k++)
			need = gen_of_read(b->gen[i + k]) != HY_STAMP_GEN_NONE;
		if (need) {
			got = pread_full(fd, buf, (size_t)(n * o->bs), off);
			if (got < 0) {
				ret = errf(err, errlen,
					   "reading --check-image %s at byte %" PRIu64
					   " failed: %s",
					   path, off, strerror((int)-got));
				ret = -EIO;
				goto out_free;
			}
		}
		for (uint64_t k = 0; k < n; k++) {
			uint32_t w = b->gen[i + k];
			uint64_t lba = b->region_sector + (i + k) * (o->bs / SECTOR);
			struct hy_stamp_mismatch mm;
			char msg[600];

			if (w & GEN_DISCARDED) {
				r->discarded++;
				continue;
			}
			if (!(w & GEN_MASK)) {
				r->unwritten++;
				continue;
			}
			r->checked++;
			if ((uint64_t)got < (k + 1) * o->bs) {
				snprintf(
					msg, sizeof(msg),
					"lba %" PRIu64 " (byte offset %" PRIu64
					"): written (gen %u) but past the end of the file (%" PRIu64
					" bytes)",
					lba, lba * SECTOR, w & GEN_MASK, r->file_bytes);
				r->past_end++;
				check_bad(r, msgs, path, msg);
			} else if (hy_stamp_check(buf + k * o->bs, o->bs, lba, w & GEN_MASK,
						  o->seed, &mm)) {
				check_bad(r, msgs, path, hy_stamp_describe(&mm, msg, sizeof(msg)));
			}
		}
	}
	ret = 0;
out_free:
	free(buf);
out_close:
	close(fd);
	return ret;
}

/* --check-image from the command line: the exit code. */
static int check_image_main(struct bench *b)
{
	const struct opts *o = &b->o;
	struct check_result *r = calloc(1, sizeof(*r));
	char err[1024];
	int rc, ret;

	if (!r) {
		fprintf(stderr, "hydra-bench: out of memory\n");
		return EXIT_USAGE;
	}
	ret = check_image(b, stderr, r, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hydra-bench: %s\n", err);
		rc = ret == -EIO ? EXIT_IO : EXIT_USAGE;
	} else {
		rc = r->bad ? EXIT_IO : EXIT_OK;
	}
	if (o->json) {
		FILE *f = stdout;

		fprintf(f, "{\"tool\": \"hydra-bench\", \"version\": \"%s\", \"check_image\": ",
			HY_VERSION);
		json_str(f, o->check_image);
		fprintf(f, ", \"verify_state\": ");
		json_str(f, o->verify_state);
		fprintf(f,
			", \"bs\": %u, \"offset\": %" PRIu64 ", \"blocks\": %" PRIu64
			", \"file_bytes\": %" PRIu64 ", \"checked\": %" PRIu64 ", \"bad\": %" PRIu64
			", \"past_end\": %" PRIu64 ", \"skipped_unwritten\": %" PRIu64
			", \"skipped_discarded\": %" PRIu64 ", \"exit\": %d, \"error\": ",
			o->bs, o->offset, r->blocks, r->file_bytes, r->checked, r->bad, r->past_end,
			r->unwritten, r->discarded, rc);
		if (ret)
			json_str(f, err);
		else if (r->bad)
			json_str(f, r->first_bad);
		else
			fprintf(f, "null");
		fprintf(f, "}\n");
	} else if (!ret && !(o->quiet && !r->bad)) {
		printf("hydra-bench: check-image %s: %" PRIu64
		       " blocks of %u bytes from byte %" PRIu64 ": %" PRIu64 " checked, %" PRIu64
		       " bad; %" PRIu64 " skipped (%" PRIu64 " never written, %" PRIu64
		       " discarded)\n",
		       o->check_image, r->blocks, o->bs, o->offset, r->checked, r->bad,
		       r->unwritten + r->discarded, r->unwritten, r->discarded);
		if (r->past_end)
			printf("hydra-bench: %s is %" PRIu64
			       " bytes, the region ends at byte %" PRIu64 ": %" PRIu64
			       " written blocks are missing\n",
			       o->check_image, r->file_bytes, o->offset + r->blocks * o->bs,
			       r->past_end);
	}
	free(r);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* main                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000),
			      .tv_nsec = (long)(ns % 1000000000)};

	while (nanosleep(&ts, &ts) && errno == EINTR && !interrupted)
		;
}

static uint64_t progress_total(const struct bench *b)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < b->o.queues; i++)
		n += __atomic_load_n(&b->qt[i].progress_ios, __ATOMIC_RELAXED);
	return n;
}

/* The main thread while the queue threads run: the progress line, CPU samples at the edges. */
static void supervise(struct bench *b, struct cpu_sample *c0, struct cpu_sample *c1, double *cl0,
		      double *cl1, bool progress)
{
	uint64_t last_n = 0, last_t = b->t_start, step = 250 * 1000000ull;
	bool sampled = false;

	*cl0 = rusage_s();
	cpu_sample(b, c0);
	if (!b->o.ramp_ns)
		sampled = true;
	for (;;) {
		uint64_t now = hy_now_ns();
		bool done = true;

		if (!sampled && now >= b->t_measure) {
			cpu_sample(b, c0);
			*cl0 = rusage_s();
			sampled = true;
		}
		if (b->o.io_count) {
			/* Count mode ends when every thread has had all its completions. */
			for (unsigned i = 0; i < b->o.queues; i++)
				if (__atomic_load_n(&b->qt[i].progress_ios, __ATOMIC_RELAXED) <
				    b->qt[i].target)
					done = false;
		} else if (now < b->t_end) {
			done = false;
		}
		if (__atomic_load_n(&stop_flag, __ATOMIC_RELAXED))
			done = true;
		if (done)
			break;
		if (progress && now - last_t >= 1000000000ull) {
			uint64_t n = progress_total(b);

			fprintf(stderr, "\r[%6.1f s] %10.0f iops  %9.1f MB/s  ",
				(double)(now - b->t_start) / 1e9,
				(double)(n - last_n) * 1e9 / (double)(now - last_t),
				(double)(n - last_n) * b->o.bs / 1e3 / (double)(now - last_t));
			last_n = n;
			last_t = now;
		}
		if (b->o.io_count) {
			/* Let a thread's finish be seen within 1 ms in count mode. */
			sleep_ns(1000000);
		} else {
			uint64_t until = !sampled ? b->t_measure : b->t_end;

			sleep_ns(until > now && until - now < step ? until - now : step);
		}
	}
	cpu_sample(b, c1);
	*cl1 = rusage_s();
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
}

/* Everything main() does, callable from the unit tests (which compile without main()). */
static int bench_main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	struct cpu_sample *c0 = calloc(1, sizeof(*c0)), *c1 = calloc(1, sizeof(*c1));
	struct result r = {0};
	char err[1024];
	const char *fail_msg = NULL;
	double cl0 = 0, cl1 = 0;
	uint64_t t_stop;
	bool progress;
	int rc = EXIT_OK, ret;
	struct sigaction sa = {.sa_handler = on_sigint};

	memset(b, 0, sizeof(*b)); /* the unit tests run bench_main() more than once */
	hy_log_init("hydra-bench", NULL, HY_LOG_WARN);
	ret = parse_args(argc, argv, &b->o, err, sizeof(err));
	if (ret == 1) {
		usage(stdout);
		return EXIT_OK;
	}
	if (ret) {
		fprintf(stderr, "hydra-bench: %s (--help for usage)\n", err);
		free(c0);
		free(c1);
		return EXIT_USAGE;
	}
	if (b->o.check_image) {
		free(c0);
		free(c1);
		rc = check_image_main(b);
		teardown(b);
		return rc;
	}
	if (!c0 || !c1) {
		fprintf(stderr, "hydra-bench: out of memory\n");
		return EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	progress = b->o.progress == 1 || (b->o.progress == -1 && isatty(STDERR_FILENO));

	if (setup(b, err, sizeof(err))) {
		fprintf(stderr, "hydra-bench: %s\n", err);
		teardown(b);
		return EXIT_USAGE;
	}
	memcpy(b->pids, b->o.pids, b->o.npids * sizeof(int));
	b->npids = b->o.npids;
	if (b->o.hydra_status) {
		unsigned n = 0;

		ret = hydra_pids(b->o.hydra_status, b->o.timeout_ms, b->pids + b->npids,
				 MAX_PIDS - b->npids, &n);
		if (ret) {
			fprintf(stderr,
				"hydra-bench: cannot get the pids from hydra's status socket "
				"%s: %s\n",
				b->o.hydra_status, strerror(-ret));
			teardown(b);
			return EXIT_USAGE;
		}
		b->npids += n;
		b->hydra_pids = true;
	}
	for (unsigned i = 0; i < b->npids; i++) {
		uint64_t t;

		if (proc_ticks(b->pids[i], &t)) {
			fprintf(stderr, "hydra-bench: backend pid %d: cannot read /proc/%d/stat\n",
				b->pids[i], b->pids[i]);
			teardown(b);
			return EXIT_USAGE;
		}
	}

	if (pthread_barrier_init(&b->start, NULL, b->o.queues + 1)) {
		fprintf(stderr, "hydra-bench: pthread_barrier_init failed\n");
		teardown(b);
		return EXIT_USAGE;
	}
	b->t_start = b->t_measure = b->t_end = UINT64_MAX; /* set before the barrier opens */
	for (unsigned i = 0; i < b->o.queues; i++) {
		ret = pthread_create(&b->qt[i].th, NULL, qthread_run, &b->qt[i]);
		if (ret) {
			fprintf(stderr, "hydra-bench: cannot start queue thread %u: %s\n", i,
				strerror(ret));
			_exit(EXIT_USAGE);
		}
	}
	b->t_start = hy_now_ns();
	b->t_measure = b->t_start + b->o.ramp_ns;
	b->t_end = b->o.io_count ? UINT64_MAX : b->t_measure + b->o.duration_ns;
	/* The barrier orders these stores before the threads' first reads. */
	pthread_barrier_wait(&b->start);
	supervise(b, c0, c1, &cl0, &cl1, progress);
	t_stop = hy_now_ns();
	if (b->o.wl != WL_IDLE && !b->o.io_count && t_stop > b->t_end)
		t_stop = b->t_end; /* the window is what was asked; drained requests still count */
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < b->o.queues; i++)
		pthread_join(b->qt[i].th, NULL);
	if (b->o.io_count) {
		/* Count mode: the window is from the start to the last thread's end. */
		t_stop = hy_now_ns();
		cpu_sample(b, c1);
		cl1 = rusage_s();
	}

	r.all = hist_alloc();
	r.rd = hist_alloc();
	r.wr = hist_alloc();
	r.fl = hist_alloc();
	r.dc = hist_alloc();
	if (!r.all || !r.rd || !r.wr || !r.fl || !r.dc) {
		fprintf(stderr, "hydra-bench: out of memory\n");
		teardown(b);
		return EXIT_USAGE;
	}
	hy_hist_init(r.all);
	hy_hist_init(r.rd);
	hy_hist_init(r.wr);
	hy_hist_init(r.fl);
	hy_hist_init(r.dc);
	for (unsigned i = 0; i < b->o.queues; i++) {
		struct qthread *t = &b->qt[i];
		const struct hy_vu_queue_stats *qs = hy_vu_queue_stats(t->q);

		hy_hist_merge(r.rd, t->hread);
		hy_hist_merge(r.wr, t->hwrite);
		hy_hist_merge(r.fl, t->hflush);
		hy_hist_merge(r.dc, t->hdiscard);
		r.reads += t->reads;
		r.writes += t->writes;
		r.flushes += t->flushes;
		r.discards += t->discards;
		r.rbytes += t->rbytes;
		r.wbytes += t->wbytes;
		r.verified += t->verified;
		r.unverified += t->unverified;
		r.undefined += t->undefined;
		r.qs.submitted += qs->submitted;
		r.qs.completed += qs->completed;
		r.qs.kicks += qs->kicks;
		r.qs.kicks_suppressed += qs->kicks_suppressed;
		r.qs.waits += qs->waits;
		r.qs.calls += qs->calls;
		if (t->fail && !fail_msg) {
			fail_msg = t->errmsg;
			rc = t->fail;
		}
	}
	hy_hist_merge(r.all, r.rd);
	hy_hist_merge(r.all, r.wr);
	r.window_s = t_stop > b->t_measure ? (double)(t_stop - b->t_measure) / 1e9 : 0.0;
	if (r.window_s > 0) {
		r.iops = (double)(r.reads + r.writes) / r.window_s;
		r.read_iops = (double)r.reads / r.window_s;
		r.write_iops = (double)r.writes / r.window_s;
		r.mbps = (double)(r.rbytes + r.wbytes) / r.window_s / 1e6;
		r.mibps = (double)(r.rbytes + r.wbytes) / r.window_s / 1048576.0;
		r.backend_cpu_s = cpu_seconds(b, c0, c1, &r.backend_lost, r.pid_cpu_s);
		r.backend_cores = r.backend_cpu_s / r.window_s;
		r.iops_per_core = r.backend_cores > 0 ? r.iops / r.backend_cores : 0;
		r.client_cpu_s = cl1 - cl0;
		r.client_cores = r.client_cpu_s / r.window_s;
	}
	if (interrupted && !fail_msg) {
		fail_msg = "interrupted";
		rc = EXIT_IO;
	}
	if (fail_msg)
		fprintf(stderr, "hydra-bench: %s\n", fail_msg);

	/* Hang up cleanly only when no request can still be in flight. */
	if (!rc) {
		ret = hy_vu_stop(b->c);
		if (ret)
			hy_log(WARN, ret, "stopping the rings failed");
		if (b->o.verify_state) {
			ret = state_save(b);
			if (ret) {
				fprintf(stderr, "hydra-bench: cannot save --verify-state %s: %s\n",
					b->o.verify_state, strerror(-ret));
				rc = EXIT_USAGE;
			}
		}
	}
	if (b->o.json)
		print_json(b, &r, rc, fail_msg);
	else if (!b->o.quiet && !fail_msg)
		print_human(b, &r);
	free(r.all);
	free(r.rd);
	free(r.wr);
	free(r.fl);
	free(r.dc);
	free(c0);
	free(c1);
	teardown(b);
	return rc;
}

#ifndef HY_BENCH_NO_MAIN
int main(int argc, char **argv)
{
	return bench_main(argc, argv);
}
#endif
