/* SPDX-License-Identifier: MIT */
/*
 * hy-blk-io: end-to-end check of a vhost-user-blk backend (Hydra, or qemu-storage-daemon as the
 * reference) through the project's own frontend, tools/vu_client.
 *
 * Phase 1 connects, checks the config space, then runs the same suite on every queue at once,
 * one thread per queue, each in its own 8 MiB area of the disk: writes and read-back of 512 B to
 * 1 MiB in one or many descriptors (direct and indirect), a buffer that crosses a guest memory
 * region boundary, a batch of requests in flight together, FLUSH, GET_ID, WRITE_ZEROES and
 * DISCARD when offered, the error statuses (past the end, unknown type, unaligned length), a
 * random read/write stress, and with --hostile chains that point outside guest memory.
 * It then stops the rings (GET_VRING_BASE must account for every request) and hangs up.
 * Phase 2 reconnects and reads back everything phase 1 left on the disk.
 *
 * Exit: 0 all checks passed, 1 some failed, 2 usage or set-up error, 3 global timeout.
 */
#define HY_LOG_COMPONENT "hy-blk-io"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/log.h"
#include "tools/vu_client.h"

#define KIB	     1024ull
#define MIB	     (1024 * KIB)
#define AREA_SIZE    (8 * MIB) /* disk bytes each queue owns */
#define BUF_SIZE     (1 * MIB)
#define MAX_SEGS     64
#define BATCH	     32
#define STRESS_BLOCK 4096
#define STRESS_OFF   (7 * MIB)
#define STRESS_NBLK  256 /* 1 MiB at STRESS_OFF */
#define MAX_DEPTH    32
#define MAX_EXTENTS  64
#define SECTOR	     HY_VU_BLK_SECTOR_SIZE

/* Offsets inside a queue's area. */
#define OFF_SIZES   (0 * MIB)
#define OFF_CROSS   (2 * MIB)
#define OFF_BATCH   (3 * MIB)
#define OFF_WZ	    (4 * MIB)
#define OFF_DISCARD (5 * MIB)
#define OFF_SCRATCH (6 * MIB)

struct args {
	const char *socket;
	unsigned queues;
	unsigned queue_size;
	uint64_t size_check;
	const char *serial;
	bool ro;
	bool expect_discard;
	bool expect_write_zeroes;
	bool hostile;
	bool hostile_ring;
	bool no_event_idx;
	bool no_indirect;
	bool add_mem_reg;
	bool no_reconnect;
	bool strict_len;
	unsigned timeout_s;
	int io_timeout_ms;
	int connect_timeout_ms;
	unsigned mem_mib;
	unsigned stress;
	uint64_t seed;
	bool verbose;
};

static struct args A = {
	.timeout_s = 120,
	.io_timeout_ms = 10000,
	.connect_timeout_ms = 5000,
	.mem_mib = 64,
	.stress = 4096,
};

enum seg_mode { SEG_ONE, SEG_ALIGNED, SEG_ODD, SEG_NMODES };

struct extent {
	uint64_t off;
	uint32_t len;
	uint64_t seed;
};

/* Everything one queue thread owns. */
struct qctx {
	struct hy_vu_client *c;
	struct hy_vu_queue *q;
	unsigned qi;
	uint64_t area; /* byte offset of this queue's area on the disk */
	uint64_t seed;
	unsigned passed;
	unsigned failed;
	uint8_t *buf;	/* BUF_SIZE of guest memory */
	uint8_t *rbuf;	/* BUF_SIZE of guest memory */
	uint8_t *small; /* 4 KiB of guest memory */
	struct extent ext[MAX_EXTENTS];
	unsigned next;
	uint32_t gen[STRESS_NBLK];
	uint64_t stress_seed;
	pthread_t thread;
};

/* Shared, read-only once the threads run (except under cross_lock). */
static struct hy_vu_mem *g_mem;
static uint8_t *g_cross; /* BUF_SIZE across a region boundary */
static pthread_mutex_t cross_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_cap_bytes;
static unsigned g_seg_max; /* data segments per request the test uses */
static uint32_t g_size_max;
static bool g_indirect;

static void on_alarm(int sig)
{
	/* Only async-signal-safe calls: write(2) and _exit(2). */
	static const char msg[] = "hy-blk-io: global timeout expired: the backend stalled or the "
				  "test hung; giving up\n";
	ssize_t rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)rc;
	(void)sig;
	_exit(3);
}

static bool check(struct qctx *x, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool check(struct qctx *x, bool ok, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ok) {
		x->passed++;
		if (A.verbose)
			fprintf(stdout, "PASS q%u: %s\n", x->qi, line);
	} else {
		x->failed++;
		fprintf(stdout, "FAIL q%u: %s\n", x->qi, line);
	}
	fflush(stdout);
	return ok;
}

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Pattern of disk bytes [off, off + len) for @seed: a function of the disk offset. */
static void fill(uint8_t *p, uint64_t off, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = mix64(seed ^ (off + i));

		memcpy(p + i, &w, len - i < 8 ? len - i : 8);
	}
}

/* Return: -1 when @p matches the pattern, else the first differing byte offset. */
static long verify(const uint8_t *p, uint64_t off, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = mix64(seed ^ (off + i));
		size_t n = len - i < 8 ? len - i : 8;

		if (memcmp(p + i, &w, n)) {
			for (size_t j = 0; j < n; j++)
				if (p[i + j] != ((uint8_t *)&w)[j])
					return (long)(i + j);
		}
	}
	return -1;
}

static long verify_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

static uint64_t rnd(uint64_t *state)
{
	*state = mix64(*state);
	return *state;
}

/* Split @len bytes into segment lengths. Return: the count. */
static unsigned split(size_t len, enum seg_mode mode, uint32_t *out)
{
	static const uint32_t odd[] = {100, 412, 1536, 7, 505, 4099, 60000, 3};
	unsigned max = g_seg_max < MAX_SEGS ? g_seg_max : MAX_SEGS;
	size_t cap = g_size_max ? g_size_max : SIZE_MAX;
	unsigned n = 0;
	size_t chunk;

	if (mode == SEG_ALIGNED) {
		chunk = (len / 8 + 4095) & ~(size_t)4095;
		if (chunk < 4096)
			chunk = 4096;
	} else {
		chunk = len;
	}
	while (len) {
		size_t l = chunk;

		if (mode == SEG_ODD)
			l = odd[n % (sizeof(odd) / sizeof(odd[0]))];
		if (l > cap)
			l = cap;
		if (l > len || n + 1 == max)
			l = len;
		if (l > cap) {
			/* Cannot honour size_max with seg_max segments: the caller's size is too
			 * big. */
			return 0;
		}
		out[n++] = (uint32_t)l;
		len -= l;
	}
	return n;
}

/*
 * One synchronous request on @x's queue with data @p/@len split by @mode. Return: the
 * hy_vu_blk_sync() result; *@cpl holds the completion.
 */
static int io(struct qctx *x, uint32_t type, uint64_t sector, void *p, size_t len,
	      enum seg_mode mode, uint32_t flags, struct hy_vu_cpl *cpl)
{
	uint32_t lens[MAX_SEGS];
	struct iovec iov[MAX_SEGS];
	struct hy_vu_blk_req req = {.type = type, .flags = flags, .sector = sector};
	unsigned n = len ? split(len, mode, lens) : 0;
	uint8_t *b = p;

	if (len && !n)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){.iov_base = b, .iov_len = lens[i]};
		b += lens[i];
	}
	req.iov = iov;
	req.iovcnt = n;
	if ((flags & HY_VU_REQ_INDIRECT) && !g_indirect)
		req.flags &= ~HY_VU_REQ_INDIRECT;
	return hy_vu_blk_sync(x->q, &req, A.io_timeout_ms, cpl);
}

static const char *mode_str(enum seg_mode m)
{
	return m == SEG_ONE	  ? "1 segment"
	       : m == SEG_ALIGNED ? "4K-aligned segments"
				  : "odd segments";
}

/* Check that a request completed with @want; print what happened otherwise. */
static bool check_io(struct qctx *x, int rc, const struct hy_vu_cpl *cpl, uint8_t want,
		     const char *what)
{
	if (rc)
		return check(x, false, "%s: request failed: %s", what, strerror(-rc));
	return check(x, cpl->status == want, "%s: status %s (want %s), used len %u", what,
		     hy_vu_blk_status_str(cpl->status), hy_vu_blk_status_str(want), cpl->len);
}

static void check_len(struct qctx *x, const struct hy_vu_cpl *cpl, uint32_t want, const char *what)
{
	/* virtio 1.2, 2.7.8: len is the bytes written into the buffer (data plus status). */
	if (cpl->len == want)
		return;
	if (A.strict_len)
		check(x, false, "%s: used len %u, want %u", what, cpl->len, want);
	else
		hy_log(WARN, 0, "q%u %s: used len %u, expected %u", x->qi, what, cpl->len, want);
}

static void record(struct qctx *x, uint64_t off, uint32_t len, uint64_t seed)
{
	if (x->next < MAX_EXTENTS)
		x->ext[x->next++] = (struct extent){.off = off, .len = len, .seed = seed};
}

/* Write @len pattern bytes at area offset @aoff from @wbuf and read them back through @rb. */
static bool write_read(struct qctx *x, uint8_t *wbuf, uint8_t *rb, uint64_t aoff, size_t len,
		       enum seg_mode wmode, enum seg_mode rmode, uint32_t wflags, uint32_t rflags,
		       uint64_t seed, const char *what)
{
	uint64_t off = x->area + aoff;
	struct hy_vu_cpl cpl;
	char desc[160];
	long bad;
	int rc;

	snprintf(desc, sizeof(desc), "%s write %zu B at %" PRIu64 " (%s%s)", what, len, off,
		 mode_str(wmode), (wflags & HY_VU_REQ_INDIRECT) && g_indirect ? ", indirect" : "");
	fill(wbuf, off, len, seed);
	rc = io(x, HY_VU_BLK_T_OUT, off / SECTOR, wbuf, len, wmode, wflags, &cpl);
	if (!check_io(x, rc, &cpl, HY_VU_BLK_S_OK, desc))
		return false;
	check_len(x, &cpl, 1, desc);

	snprintf(desc, sizeof(desc), "%s read %zu B at %" PRIu64 " (%s%s)", what, len, off,
		 mode_str(rmode), (rflags & HY_VU_REQ_INDIRECT) && g_indirect ? ", indirect" : "");
	memset(rb, 0xa5, len);
	rc = io(x, HY_VU_BLK_T_IN, off / SECTOR, rb, len, rmode, rflags, &cpl);
	if (!check_io(x, rc, &cpl, HY_VU_BLK_S_OK, desc))
		return false;
	check_len(x, &cpl, (uint32_t)len + 1, desc);
	bad = verify(rb, off, len, seed);
	if (!check(x, bad < 0, "%s: data matches what was written (first difference at +%ld)", desc,
		   bad))
		return false;
	record(x, off, (uint32_t)len, seed);
	return true;
}

/* A 4 KiB write and read-back in the scratch area: is the queue still alive? */
static bool queue_works(struct qctx *x, const char *after)
{
	char what[96];

	snprintf(what, sizeof(what), "queue works after %s:", after);
	return write_read(x, x->buf, x->rbuf, OFF_SCRATCH + 64 * KIB, 4096, SEG_ONE, SEG_ONE, 0, 0,
			  x->seed ^ 0x5c, what);
}

static void test_sizes(struct qctx *x)
{
	static const size_t sizes[] = {512, 1024, 4096, 4608, 65536, 132608, 1048576};
	uint64_t aoff = OFF_SIZES;

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		enum seg_mode wm = (enum seg_mode)(i % SEG_NMODES);
		enum seg_mode rm = (enum seg_mode)((i + 1) % SEG_NMODES);

		uint32_t ind = i & 1 ? HY_VU_REQ_INDIRECT : 0;

		/* Reads use the other chain form than the write they check. */
		write_read(x, x->buf, x->rbuf, aoff, sizes[i], wm, rm, ind,
			   ind ^ HY_VU_REQ_INDIRECT, x->seed + i, "sizes:");
		aoff += (sizes[i] + 4095) & ~(size_t)4095;
	}
}

static void test_cross(struct qctx *x)
{
	pthread_mutex_lock(&cross_lock);
	/*
	 * One descriptor across the boundary for the write; odd segments (one crossing) to read.
	 * Direct chains only: libvhost-user (qemu-storage-daemon) counts the iovecs of an indirect
	 * table against its descriptor count and calls a crossing buffer a "Looped descriptor".
	 */
	write_read(x, g_cross, g_cross, OFF_CROSS, BUF_SIZE, SEG_ONE, SEG_ODD, 0, 0, x->seed ^ 0xc0,
		   "region-crossing buffer:");
	pthread_mutex_unlock(&cross_lock);
}

/* Submit, kick and reap @n requests with up to BATCH in flight; check every status is @want. */
static void batch(struct qctx *x, uint32_t type, uint64_t aoff, bool verify_data, uint64_t seed)
{
	struct hy_vu_cpl cpl[BATCH];
	unsigned submitted = 0, done = 0, bad_status = 0, bad_data = 0;
	int rc = 0;

	while (done < BATCH) {
		while (submitted < BATCH) {
			uint8_t *p =
				(type == HY_VU_BLK_T_OUT ? x->buf : x->rbuf) + submitted * 4096;
			uint64_t off = x->area + aoff + submitted * 4096;
			struct iovec iov = {.iov_base = p, .iov_len = 4096};
			struct hy_vu_blk_req req = {
				.type = type,
				.flags = (submitted & 1) && g_indirect ? HY_VU_REQ_INDIRECT : 0,
				.sector = off / SECTOR,
				.iov = &iov,
				.iovcnt = 1,
				.cookie = (void *)(uintptr_t)submitted,
			};

			if (type == HY_VU_BLK_T_OUT)
				fill(p, off, 4096, seed);
			else
				memset(p, 0xa5, 4096);
			rc = hy_vu_blk_submit(x->q, &req);
			if (rc == -EAGAIN)
				break;
			if (rc)
				goto out;
			submitted++;
		}
		rc = hy_vu_queue_kick(x->q);
		if (rc < 0)
			goto out;
		rc = hy_vu_queue_reap(x->q, cpl, BATCH);
		if (rc < 0)
			goto out;
		if (rc == 0) {
			rc = hy_vu_queue_wait(x->q, A.io_timeout_ms);
			if (rc)
				goto out;
			continue;
		}
		for (int i = 0; i < rc; i++) {
			unsigned k = (unsigned)(uintptr_t)cpl[i].cookie;
			uint64_t off = x->area + aoff + k * 4096;

			if (cpl[i].status != HY_VU_BLK_S_OK)
				bad_status++;
			else if (verify_data && verify(x->rbuf + k * 4096, off, 4096, seed) >= 0)
				bad_data++;
		}
		done += (unsigned)rc;
		rc = 0;
	}
out:
	check(x, !rc && !bad_status && !bad_data,
	      "batch of %u %s requests in flight together: %u completed, %u bad status, %u bad "
	      "data%s%s",
	      BATCH, type == HY_VU_BLK_T_OUT ? "write" : "read", done, bad_status, bad_data,
	      rc ? ": " : "", rc ? strerror(-rc) : "");
}

static void test_batch(struct qctx *x)
{
	uint64_t seed = x->seed ^ 0xba;

	batch(x, HY_VU_BLK_T_OUT, OFF_BATCH, false, seed);
	batch(x, HY_VU_BLK_T_IN, OFF_BATCH, true, seed);
	record(x, x->area + OFF_BATCH, BATCH * 4096, seed);
}

static void test_flush_getid(struct qctx *x)
{
	struct hy_vu_cpl cpl;
	char serial[HY_VU_BLK_ID_BYTES + 1];
	int rc;

	rc = io(x, HY_VU_BLK_T_FLUSH, 0, NULL, 0, SEG_ONE, 0, &cpl);
	if (hy_vu_has_feature(x->c, HY_VU_BLK_F_FLUSH)) {
		check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "FLUSH");
	} else {
		check(x, !rc && (cpl.status == HY_VU_BLK_S_OK || cpl.status == HY_VU_BLK_S_UNSUPP),
		      "FLUSH without VIRTIO_BLK_F_FLUSH: status %s",
		      rc ? strerror(-rc) : hy_vu_blk_status_str(cpl.status));
	}

	memset(x->small, 0xee, HY_VU_BLK_ID_BYTES);
	rc = io(x, HY_VU_BLK_T_GET_ID, 0, x->small, HY_VU_BLK_ID_BYTES, SEG_ONE, 0, &cpl);
	if (!check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "GET_ID"))
		return;
	memcpy(serial, x->small, HY_VU_BLK_ID_BYTES);
	serial[HY_VU_BLK_ID_BYTES] = 0;
	if (x->qi == 0)
		fprintf(stdout, "info: GET_ID serial \"%s\" (used len %u)\n", serial, cpl.len);
	if (A.serial)
		check(x, !strcmp(serial, A.serial), "GET_ID serial \"%s\" (want \"%s\")", serial,
		      A.serial);
}

static void test_write_zeroes(struct qctx *x)
{
	const struct hy_vu_blk_config *cfg = hy_vu_config(x->c);
	uint64_t off = x->area + OFF_WZ, seed = x->seed ^ 0x20;
	uint32_t zsec = 256 * KIB / SECTOR;
	struct hy_vu_cpl cpl;
	struct hy_vu_blk_req req = {.type = HY_VU_BLK_T_WRITE_ZEROES};
	long bad;
	int rc;

	if (!hy_vu_has_feature(x->c, HY_VU_BLK_F_WRITE_ZEROES)) {
		check(x, !A.expect_write_zeroes, "VIRTIO_BLK_F_WRITE_ZEROES offered%s",
		      A.expect_write_zeroes ? "" : " (not expected, skipped)");
		return;
	}
	if (cfg->max_write_zeroes_sectors && zsec > cfg->max_write_zeroes_sectors)
		zsec = cfg->max_write_zeroes_sectors;

	if (!write_read(x, x->buf, x->rbuf, OFF_WZ, BUF_SIZE, SEG_ALIGNED, SEG_ALIGNED, 0, 0, seed,
			"write-zeroes set-up:"))
		return;
	x->next--; /* not a persistent extent */
	req.sector = (off + 256 * KIB) / SECTOR;
	req.num_sectors = zsec;
	rc = hy_vu_blk_sync(x->q, &req, A.io_timeout_ms, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "WRITE_ZEROES");

	if (cfg->write_zeroes_may_unmap) {
		req.sector = (off + 768 * KIB) / SECTOR;
		req.num_sectors = 64 * KIB / SECTOR;
		req.seg_flags = HY_VU_BLK_WZ_F_UNMAP;
		rc = hy_vu_blk_sync(x->q, &req, A.io_timeout_ms, &cpl);
		check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "WRITE_ZEROES with UNMAP");
	}

	memset(x->rbuf, 0xa5, BUF_SIZE);
	rc = io(x, HY_VU_BLK_T_IN, off / SECTOR, x->rbuf, BUF_SIZE, SEG_ALIGNED, 0, &cpl);
	if (!check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "read after WRITE_ZEROES"))
		return;
	bad = verify(x->rbuf, off, 256 * KIB, seed);
	check(x, bad < 0, "data before the zeroed range intact (first difference at +%ld)", bad);
	bad = verify_zero(x->rbuf + 256 * KIB, (size_t)zsec * SECTOR);
	check(x, bad < 0, "WRITE_ZEROES range reads as zeroes (first non-zero at +%ld)", bad);
	bad = verify(x->rbuf + 512 * KIB, off + 512 * KIB, 256 * KIB, seed);
	check(x, bad < 0, "data after the zeroed range intact (first difference at +%ld)", bad);
	if (cfg->write_zeroes_may_unmap) {
		bad = verify_zero(x->rbuf + 768 * KIB, 64 * KIB);
		check(x, bad < 0, "WRITE_ZEROES+UNMAP range reads as zeroes (at +%ld)", bad);
	}
}

static void test_discard(struct qctx *x)
{
	const struct hy_vu_blk_config *cfg = hy_vu_config(x->c);
	uint32_t align = cfg->discard_sector_alignment ? cfg->discard_sector_alignment : 1;
	uint64_t sector = (x->area + OFF_DISCARD) / SECTOR;
	uint32_t n = BUF_SIZE / SECTOR;
	struct hy_vu_blk_req req = {.type = HY_VU_BLK_T_DISCARD};
	struct hy_vu_cpl cpl;
	int rc;

	if (!hy_vu_has_feature(x->c, HY_VU_BLK_F_DISCARD)) {
		check(x, !A.expect_discard, "VIRTIO_BLK_F_DISCARD offered%s",
		      A.expect_discard ? "" : " (not expected, skipped)");
		return;
	}
	if (cfg->max_discard_sectors && n > cfg->max_discard_sectors)
		n = cfg->max_discard_sectors;
	sector = (sector + align - 1) / align * align;
	n = n / align * align;
	req.sector = sector;
	req.num_sectors = n ? n : align;
	rc = hy_vu_blk_sync(x->q, &req, A.io_timeout_ms, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "DISCARD");
	/* What a discarded range reads as is unspecified: only the status is checked. */
}

static void test_errors(struct qctx *x)
{
	uint64_t cap = hy_vu_config(x->c)->capacity;
	struct hy_vu_cpl cpl;
	int rc;

	rc = io(x, HY_VU_BLK_T_IN, cap, x->rbuf, 512, SEG_ONE, 0, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR, "read at sector == capacity");
	rc = io(x, HY_VU_BLK_T_IN, cap - 1, x->rbuf, 4096, SEG_ONE, 0, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR, "read across the end of the disk");
	rc = io(x, HY_VU_BLK_T_IN, UINT64_MAX / SECTOR, x->rbuf, 4096, SEG_ONE, 0, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR, "read at a sector whose byte offset overflows");
	if (!A.ro) {
		rc = io(x, HY_VU_BLK_T_OUT, cap, x->buf, 512, SEG_ONE, 0, &cpl);
		check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR, "write at sector == capacity");
	}

	rc = io(x, 0x7f, 0, NULL, 0, SEG_ONE, 0, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_UNSUPP, "unknown request type 0x7f");
	rc = io(x, 0x7f, 0, x->rbuf, 512, SEG_ONE, HY_VU_REQ_DATA_IN, &cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_UNSUPP, "unknown request type 0x7f with a data buffer");

	if (!A.ro) {
		rc = io(x, HY_VU_BLK_T_OUT, (x->area + OFF_SCRATCH) / SECTOR, x->buf, 1000, SEG_ONE,
			0, &cpl);
		check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR,
			 "write of 1000 bytes (not a multiple of 512)");
	}
	rc = io(x, HY_VU_BLK_T_IN, (x->area + OFF_SCRATCH) / SECTOR, x->rbuf, 1000, SEG_ONE, 0,
		&cpl);
	check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR, "read of 1000 bytes (not a multiple of 512)");
}

struct op {
	bool busy;
	bool write;
	unsigned block;
	uint32_t gen;
	uint8_t *buf;
};

/* Random 4 KiB reads and writes with up to MAX_DEPTH in flight; writes bump a block's gen. */
static void test_stress(struct qctx *x)
{
	struct op ops[MAX_DEPTH] = {0};
	struct hy_vu_cpl cpl[MAX_DEPTH];
	bool busy_blk[STRESS_NBLK] = {0};
	unsigned issued = 0, done = 0, bad = 0, depth = MAX_DEPTH;
	uint64_t r = x->seed ^ 0x57;
	int rc = 0;

	if (!A.stress)
		return;
	for (unsigned i = 0; i < depth; i++)
		ops[i].buf = x->buf + (size_t)i * STRESS_BLOCK;
	while (done < A.stress) {
		for (unsigned i = 0; i < depth && issued < A.stress; i++) {
			struct op *o = &ops[i];
			struct iovec iov[MAX_SEGS];
			uint32_t lens[MAX_SEGS];
			struct hy_vu_blk_req req = {.cookie = o};
			enum seg_mode m = (enum seg_mode)(rnd(&r) % SEG_NMODES);
			uint64_t off;
			unsigned n, b = (unsigned)(rnd(&r) % STRESS_NBLK);
			uint8_t *p;

			if (o->busy)
				continue;
			while (busy_blk[b])
				b = (b + 1) % STRESS_NBLK;
			off = x->area + STRESS_OFF + (uint64_t)b * STRESS_BLOCK;
			o->block = b;
			o->write = !x->gen[b] || (rnd(&r) & 1);
			o->gen = o->write ? x->gen[b] + 1 : x->gen[b];
			if (o->write)
				fill(o->buf, off, STRESS_BLOCK, x->stress_seed + o->gen);
			else
				memset(o->buf, 0xa5, STRESS_BLOCK);
			n = split(STRESS_BLOCK, m, lens);
			p = o->buf;
			for (unsigned k = 0; k < n; k++) {
				iov[k] = (struct iovec){.iov_base = p, .iov_len = lens[k]};
				p += lens[k];
			}
			req.type = o->write ? HY_VU_BLK_T_OUT : HY_VU_BLK_T_IN;
			req.flags = g_indirect && (rnd(&r) & 1) ? HY_VU_REQ_INDIRECT : 0;
			req.sector = off / SECTOR;
			req.iov = iov;
			req.iovcnt = n;
			rc = hy_vu_blk_submit(x->q, &req);
			if (rc == -EAGAIN) {
				rc = 0;
				break;
			}
			if (rc)
				goto out;
			o->busy = true;
			busy_blk[b] = true;
			issued++;
		}
		rc = hy_vu_queue_kick(x->q);
		if (rc < 0)
			goto out;
		rc = hy_vu_queue_reap(x->q, cpl, MAX_DEPTH);
		if (rc < 0)
			goto out;
		if (!rc) {
			rc = hy_vu_queue_wait(x->q, A.io_timeout_ms);
			if (rc)
				goto out;
			continue;
		}
		for (int i = 0; i < rc; i++) {
			struct op *o = cpl[i].cookie;
			uint64_t off = x->area + STRESS_OFF + (uint64_t)o->block * STRESS_BLOCK;

			if (cpl[i].status != HY_VU_BLK_S_OK) {
				if (bad++ < 5)
					check(x, false, "stress: %s of block %u: status %s",
					      o->write ? "write" : "read", o->block,
					      hy_vu_blk_status_str(cpl[i].status));
			} else if (o->write) {
				x->gen[o->block] = o->gen;
			} else if (verify(o->buf, off, STRESS_BLOCK, x->stress_seed + o->gen) >=
				   0) {
				if (bad++ < 5)
					check(x, false,
					      "stress: block %u does not hold generation %u",
					      o->block, o->gen);
			}
			o->busy = false;
			busy_blk[o->block] = false;
		}
		done += (unsigned)rc;
		rc = 0;
	}
out:
	check(x, !rc && !bad, "stress: %u random 4 KiB requests (up to %u in flight): %u bad%s%s",
	      done, depth, bad, rc ? ", then " : "", rc ? strerror(-rc) : "");
}

/*
 * A raw chain that must complete (any status, any len), after which the queue must work.
 * Return: false when the queue is unusable (the chain is still in flight): stop there.
 */
static bool hostile(struct qctx *x, const char *what, const struct hy_vu_desc *chain, unsigned n)
{
	struct hy_vu_cpl cpl;
	int rc = hy_vu_raw_sync(x->q, chain, n, A.io_timeout_ms, &cpl);

	if (!check(x, !rc, "hostile chain (%s) is completed: %s (status byte %s, used len %u)",
		   what, rc ? strerror(-rc) : "yes", hy_vu_blk_status_str(x->small[64]),
		   rc ? 0 : cpl.len)) {
		fprintf(stdout, "info: q%u: remaining hostile chains skipped\n", x->qi);
		return false;
	}
	return queue_works(x, what);
}

static void test_hostile(struct qctx *x)
{
	const struct hy_vu_mem *m = g_mem;
	const struct hy_vu_region *last = hy_vu_mem_region(m, hy_vu_mem_nregions(m) - 1);
	uint64_t hole = hy_vu_gpa_hole(m), end = last->gpa + last->size;
	struct hy_vu_blk_outhdr *hdr = (void *)x->small;
	uint64_t hdr_gpa, st_gpa, data_gpa;
	struct hy_vu_desc c[3];

	hy_vu_ptr_to_gpa(m, x->small, 16, &hdr_gpa);
	hy_vu_ptr_to_gpa(m, x->small + 64, 1, &st_gpa);
	hy_vu_ptr_to_gpa(m, x->rbuf, 4096, &data_gpa);

#define HDR(t)                                                                                     \
	(*hdr = (struct hy_vu_blk_outhdr){.type = (t),                                             \
					  .sector = (x->area + OFF_SCRATCH) / SECTOR},             \
	 x->small[64] = HY_VU_BLK_S_NONE)
#define D(a, l, f, nx) ((struct hy_vu_desc){.addr = (a), .len = (l), .flags = (f), .next = (nx)})
	HDR(HY_VU_BLK_T_OUT);
	c[0] = D(hdr_gpa, 16, HY_VU_DESC_F_NEXT, 1);
	c[1] = D(hole, 4096, HY_VU_DESC_F_NEXT, 2);
	c[2] = D(st_gpa, 1, HY_VU_DESC_F_WRITE, 0);
	if (!hostile(x, "write from a gpa in the hole between regions", c, 3))
		return;

	HDR(HY_VU_BLK_T_IN);
	c[0] = D(hdr_gpa, 16, HY_VU_DESC_F_NEXT, 1);
	c[1] = D(end - 2048, 4096, HY_VU_DESC_F_WRITE | HY_VU_DESC_F_NEXT, 2);
	c[2] = D(st_gpa, 1, HY_VU_DESC_F_WRITE, 0);
	if (!hostile(x, "read into a buffer running past the end of guest memory", c, 3))
		return;

	HDR(HY_VU_BLK_T_IN);
	c[0] = D(hdr_gpa, 16, HY_VU_DESC_F_NEXT, 1);
	c[1] = D(data_gpa, 0xfffff000u, HY_VU_DESC_F_WRITE | HY_VU_DESC_F_NEXT, 2);
	c[2] = D(st_gpa, 1, HY_VU_DESC_F_WRITE, 0);
	if (!hostile(x, "read into a 4 GiB buffer", c, 3))
		return;

	HDR(HY_VU_BLK_T_IN);
	c[0] = D(hdr_gpa, 16, HY_VU_DESC_F_NEXT, 1);
	c[1] = D(UINT64_MAX - 4095, 8192, HY_VU_DESC_F_WRITE | HY_VU_DESC_F_NEXT, 2);
	c[2] = D(st_gpa, 1, HY_VU_DESC_F_WRITE, 0);
	if (!hostile(x, "read into a buffer whose address wraps around 2^64", c, 3))
		return;

	HDR(HY_VU_BLK_T_IN);
	c[0] = D(hole, 16, HY_VU_DESC_F_NEXT, 1);
	c[1] = D(data_gpa, 512, HY_VU_DESC_F_WRITE | HY_VU_DESC_F_NEXT, 2);
	c[2] = D(st_gpa, 1, HY_VU_DESC_F_WRITE, 0);
	if (!hostile(x, "header outside guest memory", c, 3))
		return;

	HDR(HY_VU_BLK_T_IN);
	c[0] = D(hdr_gpa, 16, HY_VU_DESC_F_NEXT, 1);
	c[1] = D(data_gpa, 512, HY_VU_DESC_F_WRITE | HY_VU_DESC_F_NEXT, 2);
	c[2] = D(hole, 1, HY_VU_DESC_F_WRITE, 0);
	if (!hostile(x, "status byte outside guest memory", c, 3))
		return;

	if (g_indirect) {
		HDR(HY_VU_BLK_T_IN);
		c[0] = D(hole, 3 * 16, HY_VU_DESC_F_INDIRECT, 0);
		hostile(x, "indirect table outside guest memory", c, 1);
	}
#undef D
#undef HDR
}

static void *run_queue(void *arg)
{
	struct qctx *x = arg;

	if (A.ro) {
		struct hy_vu_cpl cpl;
		int rc;

		fill(x->buf, 0, 4096, 1);
		rc = io(x, HY_VU_BLK_T_OUT, x->area / SECTOR, x->buf, 4096, SEG_ONE, 0, &cpl);
		check_io(x, rc, &cpl, HY_VU_BLK_S_IOERR, "write to a read-only device");
		for (size_t len = 512; len <= BUF_SIZE; len *= 8) {
			rc = io(x, HY_VU_BLK_T_IN, x->area / SECTOR, x->rbuf, len, SEG_ODD,
				HY_VU_REQ_INDIRECT, &cpl);
			check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "read from a read-only device");
		}
		test_flush_getid(x);
		test_errors(x);
		return NULL;
	}
	test_sizes(x);
	test_cross(x);
	test_batch(x);
	test_flush_getid(x);
	test_write_zeroes(x);
	test_discard(x);
	test_errors(x);
	queue_works(x, "the error cases");
	test_stress(x);
	if (A.hostile)
		test_hostile(x);
	check(x, hy_vu_queue_inflight(x->q) == 0 && !hy_vu_queue_broken(x->q),
	      "queue idle and healthy at the end (%u in flight)", hy_vu_queue_inflight(x->q));
	return NULL;
}

/* Phase 2: what phase 1 left on the disk is still there. */
static void *run_verify(void *arg)
{
	struct qctx *x = arg;
	struct hy_vu_cpl cpl;
	unsigned bad_blocks = 0;
	uint8_t *blk;
	long bad;
	int rc;

	if (A.ro) {
		rc = io(x, HY_VU_BLK_T_IN, x->area / SECTOR, x->rbuf, 4096, SEG_ONE, 0, &cpl);
		check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "read after reconnecting");
		return NULL;
	}
	for (unsigned i = 0; i < x->next; i++) {
		struct extent *e = &x->ext[i];
		char what[96];

		snprintf(what, sizeof(what), "after reconnect: read %u B at %" PRIu64, e->len,
			 e->off);
		memset(x->rbuf, 0xa5, e->len);
		rc = io(x, HY_VU_BLK_T_IN, e->off / SECTOR, x->rbuf, e->len, SEG_ALIGNED, 0, &cpl);
		if (!check_io(x, rc, &cpl, HY_VU_BLK_S_OK, what))
			continue;
		bad = verify(x->rbuf, e->off, e->len, e->seed);
		check(x, bad < 0, "%s: data written before the reconnect is there (+%ld)", what,
		      bad);
	}
	if (!A.stress)
		return NULL;
	memset(x->rbuf, 0xa5, STRESS_NBLK * STRESS_BLOCK);
	rc = io(x, HY_VU_BLK_T_IN, (x->area + STRESS_OFF) / SECTOR, x->rbuf,
		STRESS_NBLK * STRESS_BLOCK, SEG_ALIGNED, HY_VU_REQ_INDIRECT, &cpl);
	if (!check_io(x, rc, &cpl, HY_VU_BLK_S_OK, "after reconnect: read the stress area"))
		return NULL;
	for (unsigned b = 0; b < STRESS_NBLK; b++) {
		uint64_t off = x->area + STRESS_OFF + (uint64_t)b * STRESS_BLOCK;

		blk = x->rbuf + (size_t)b * STRESS_BLOCK;
		if (x->gen[b] && verify(blk, off, STRESS_BLOCK, x->stress_seed + x->gen[b]) >= 0)
			bad_blocks++;
	}
	check(x, !bad_blocks, "after reconnect: stress blocks hold their last generation (%u bad)",
	      bad_blocks);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hy-blk-io --socket PATH [options]\n"
		   "  --queues N            queues to use (default: all the device offers)\n"
		   "  --queue-size N        descriptors per ring, >= 8 (default 256)\n"
		   "  --size-check BYTES    the disk must be exactly this big\n"
		   "  --ro                  the device is read-only: writes must fail with IOERR\n"
		   "  --expect-discard      fail if VIRTIO_BLK_F_DISCARD is not offered\n"
		   "  --expect-write-zeroes fail if VIRTIO_BLK_F_WRITE_ZEROES is not offered\n"
		   "  --serial STR          GET_ID must return STR\n"
		   "  --hostile             post chains pointing outside guest memory\n"
		   "  --hostile-ring        also post a looping chain on queue 0 at the end\n"
		   "  --no-event-idx        do not negotiate VIRTIO_RING_F_EVENT_IDX\n"
		   "  --no-indirect         do not negotiate VIRTIO_RING_F_INDIRECT_DESC\n"
		   "  --add-mem-reg         ADD_MEM_REG instead of SET_MEM_TABLE\n"
		   "  --no-reconnect        skip phase 2\n"
		   "  --strict-len          used len must be exact (data written + status byte)\n"
		   "  --stress N            random requests per queue (default 4096, 0 to skip)\n"
		   "  --mem MIB             guest memory (default 64, multiple of 4)\n"
		   "  --seed N              pattern seed (default: time and pid)\n"
		   "  --timeout SEC         global timeout (default 120)\n"
		   "  --io-timeout MS       per-request timeout (default 10000)\n"
		   "  --connect-timeout MS  wait this long for the socket (default 5000)\n"
		   "  -v, --verbose         print passing checks and debug logs\n");
}

static int parse_args(int argc, char **argv)
{
	enum {
		O_QSIZE = 256,
		O_SIZE,
		O_RO,
		O_DISCARD,
		O_WZ,
		O_SERIAL,
		O_HOSTILE,
		O_HOSTILE_RING,
		O_NO_EVENT_IDX,
		O_NO_INDIRECT,
		O_ADD_MEM_REG,
		O_NO_RECONNECT,
		O_STRICT_LEN,
		O_STRESS,
		O_MEM,
		O_SEED,
		O_TIMEOUT,
		O_IO_TIMEOUT,
		O_CONNECT_TIMEOUT,
	};
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"queues", required_argument, NULL, 'q'},
		{"queue-size", required_argument, NULL, O_QSIZE},
		{"size-check", required_argument, NULL, O_SIZE},
		{"ro", no_argument, NULL, O_RO},
		{"expect-discard", no_argument, NULL, O_DISCARD},
		{"expect-write-zeroes", no_argument, NULL, O_WZ},
		{"serial", required_argument, NULL, O_SERIAL},
		{"hostile", no_argument, NULL, O_HOSTILE},
		{"hostile-ring", no_argument, NULL, O_HOSTILE_RING},
		{"no-event-idx", no_argument, NULL, O_NO_EVENT_IDX},
		{"no-indirect", no_argument, NULL, O_NO_INDIRECT},
		{"add-mem-reg", no_argument, NULL, O_ADD_MEM_REG},
		{"no-reconnect", no_argument, NULL, O_NO_RECONNECT},
		{"strict-len", no_argument, NULL, O_STRICT_LEN},
		{"stress", required_argument, NULL, O_STRESS},
		{"mem", required_argument, NULL, O_MEM},
		{"seed", required_argument, NULL, O_SEED},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"io-timeout", required_argument, NULL, O_IO_TIMEOUT},
		{"connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int o;

	A.seed = mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
	while ((o = getopt_long(argc, argv, "s:q:vh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			A.socket = optarg;
			break;
		case 'q':
			A.queues = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case O_QSIZE:
			A.queue_size = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case O_SIZE:
			A.size_check = strtoull(optarg, NULL, 0);
			break;
		case O_RO:
			A.ro = true;
			break;
		case O_DISCARD:
			A.expect_discard = true;
			break;
		case O_WZ:
			A.expect_write_zeroes = true;
			break;
		case O_SERIAL:
			A.serial = optarg;
			break;
		case O_HOSTILE:
			A.hostile = true;
			break;
		case O_HOSTILE_RING:
			A.hostile_ring = true;
			break;
		case O_NO_EVENT_IDX:
			A.no_event_idx = true;
			break;
		case O_NO_INDIRECT:
			A.no_indirect = true;
			break;
		case O_ADD_MEM_REG:
			A.add_mem_reg = true;
			break;
		case O_NO_RECONNECT:
			A.no_reconnect = true;
			break;
		case O_STRICT_LEN:
			A.strict_len = true;
			break;
		case O_STRESS:
			A.stress = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case O_MEM:
			A.mem_mib = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case O_SEED:
			A.seed = strtoull(optarg, NULL, 0);
			break;
		case O_TIMEOUT:
			A.timeout_s = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case O_IO_TIMEOUT:
			A.io_timeout_ms = (int)strtol(optarg, NULL, 0);
			break;
		case O_CONNECT_TIMEOUT:
			A.connect_timeout_ms = (int)strtol(optarg, NULL, 0);
			break;
		case 'v':
			A.verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!A.socket || optind != argc || A.mem_mib < 16 || A.mem_mib % 4 ||
	    (A.queue_size && A.queue_size < 8) || A.io_timeout_ms <= 0 || !A.timeout_s) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static struct hy_vu_client *connect_dev(void)
{
	struct hy_vu_opts o;

	hy_vu_opts_init(&o);
	o.num_queues = A.queues;
	o.queue_size = A.queue_size;
	o.connect_timeout_ms = A.connect_timeout_ms;
	o.add_mem_reg = A.add_mem_reg;
	o.mem = g_mem;
	if (A.no_event_idx)
		o.features_refuse |= 1ull << HY_VU_VIRTIO_F_EVENT_IDX;
	if (A.no_indirect)
		o.features_refuse |= 1ull << HY_VU_VIRTIO_F_INDIRECT_DESC;
	return hy_vu_connect(A.socket, &o);
}

/* Config space and feature checks, on the main thread's counters. */
static bool check_config(struct qctx *m, struct hy_vu_client *c)
{
	const struct hy_vu_blk_config *cfg = hy_vu_config(c);
	uint64_t f = hy_vu_features(c);
	unsigned nq = hy_vu_num_queues(c);

	fprintf(stdout,
		"info: features 0x%" PRIx64 " (offered 0x%" PRIx64 "), protocol features 0x%" PRIx64
		"\n"
		"info: capacity %" PRIu64 " sectors, blk_size %u, seg_max %u, size_max %u, "
		"num_queues %u (using %u), writeback %u\n"
		"info: discard max %u sectors / %u segs / align %u, write-zeroes max %u sectors / "
		"%u segs / may_unmap %u\n",
		f, hy_vu_device_features(c), hy_vu_protocol_features(c), cfg->capacity,
		cfg->blk_size, cfg->seg_max, cfg->size_max, cfg->num_queues, nq, cfg->writeback,
		cfg->max_discard_sectors, cfg->max_discard_seg, cfg->discard_sector_alignment,
		cfg->max_write_zeroes_sectors, cfg->max_write_zeroes_seg,
		cfg->write_zeroes_may_unmap);

	check(m, cfg->capacity > 0, "capacity %" PRIu64 " sectors is not zero", cfg->capacity);
	if (A.size_check)
		check(m, cfg->capacity * SECTOR == A.size_check,
		      "capacity %" PRIu64 " bytes equals --size-check %" PRIu64,
		      cfg->capacity * SECTOR, A.size_check);
	if (f & (1ull << HY_VU_BLK_F_BLK_SIZE))
		check(m, cfg->blk_size >= 512 && !(cfg->blk_size & (cfg->blk_size - 1)),
		      "blk_size %u is a power of two >= 512", cfg->blk_size);
	if (f & (1ull << HY_VU_BLK_F_SEG_MAX))
		check(m, cfg->seg_max > 0, "seg_max %u is not zero", cfg->seg_max);
	if (f & (1ull << HY_VU_BLK_F_MQ))
		check(m, cfg->num_queues >= nq, "num_queues %u >= queues in use %u",
		      cfg->num_queues, nq);
	if (A.queues)
		check(m, nq == A.queues, "%u queues brought up (asked for %u)", nq, A.queues);
	check(m, !!(f & (1ull << HY_VU_BLK_F_RO)) == A.ro, "VIRTIO_BLK_F_RO %s",
	      A.ro ? "offered (--ro)" : "not offered");
	if (f & (1ull << HY_VU_BLK_F_DISCARD))
		check(m, cfg->max_discard_sectors > 0 && cfg->max_discard_seg > 0,
		      "discard limits are set (%u sectors, %u segments)", cfg->max_discard_sectors,
		      cfg->max_discard_seg);
	if (f & (1ull << HY_VU_BLK_F_WRITE_ZEROES))
		check(m, cfg->max_write_zeroes_sectors > 0 && cfg->max_write_zeroes_seg > 0,
		      "write-zeroes limits are set (%u sectors, %u segments)",
		      cfg->max_write_zeroes_sectors, cfg->max_write_zeroes_seg);
	if (A.no_event_idx)
		check(m, !(f & (1ull << HY_VU_VIRTIO_F_EVENT_IDX)), "EVENT_IDX refused as asked");
	if (cfg->capacity * SECTOR < (uint64_t)nq * AREA_SIZE) {
		check(m, false, "disk of %" PRIu64 " bytes holds %u queue areas of %llu bytes",
		      cfg->capacity * SECTOR, nq, AREA_SIZE);
		return false;
	}
	return true;
}

/* Hostile ring: a chain whose second descriptor links back to the first. */
static void hostile_ring(struct qctx *m, struct hy_vu_client *c)
{
	struct hy_vu_queue *q = hy_vu_queue(c, 0);
	struct qctx *x = m;
	struct hy_vu_desc chain[2];
	struct hy_vu_cpl cpl;
	uint64_t gpa;
	int rc;

	hy_vu_ptr_to_gpa(g_mem, x->small, 512, &gpa);
	*(struct hy_vu_blk_outhdr *)x->small = (struct hy_vu_blk_outhdr){.type = HY_VU_BLK_T_IN};
	chain[0] =
		(struct hy_vu_desc){.addr = gpa, .len = 16, .flags = HY_VU_DESC_F_NEXT, .next = 1};
	chain[1] = (struct hy_vu_desc){
		.addr = gpa + 512, .len = 512, .flags = HY_VU_DESC_F_NEXT | HY_VU_DESC_F_WRITE};
	rc = hy_vu_raw_sync(q, chain, 2, 2000, &cpl);
	fprintf(stdout, "info: looping chain on queue 0: %s\n",
		rc ? strerror(-rc) : "completed (the backend failed it)");
}

int main(int argc, char **argv)
{
	struct qctx main_ctx = {.qi = 0};
	struct qctx *qs = NULL;
	struct hy_vu_client *c;
	unsigned nq, passed = 0, failed = 0;
	const struct hy_vu_region *r0, *r1;
	uint64_t boundary = 0, gpa;
	int rc;

	if (parse_args(argc, argv))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(A.timeout_s);
	hy_log_init("hy-blk-io", NULL, A.verbose ? HY_LOG_DEBUG : HY_LOG_INFO);
	fprintf(stdout, "info: seed 0x%" PRIx64 "\n", A.seed);

	g_mem = hy_vu_mem_create(NULL, 0, (uint64_t)A.mem_mib * MIB);
	if (!g_mem) {
		hy_log(ERR, errno, "cannot create %u MiB of guest memory", A.mem_mib);
		return 2;
	}
	/* The default layout has two regions back to back in gpa: put a buffer across them. */
	for (unsigned i = 0; i + 1 < hy_vu_mem_nregions(g_mem); i++) {
		r0 = hy_vu_mem_region(g_mem, i);
		r1 = hy_vu_mem_region(g_mem, i + 1);
		if (r0->gpa + r0->size == r1->gpa)
			boundary = r1->gpa;
	}
	g_cross = hy_vu_alloc_at(g_mem, boundary - BUF_SIZE / 2, BUF_SIZE);
	if (!boundary || !g_cross) {
		hy_log(ERR, errno, "no buffer across a region boundary");
		return 2;
	}
	hy_vu_ptr_to_gpa(g_mem, g_cross, BUF_SIZE, &gpa);
	check(&main_ctx, gpa < boundary && gpa + BUF_SIZE > boundary,
	      "buffer at gpa 0x%" PRIx64 "..0x%" PRIx64
	      " crosses the region boundary at 0x%" PRIx64,
	      gpa, (uint64_t)(gpa + BUF_SIZE), boundary);

	/* Phase 1. */
	c = connect_dev();
	if (!c) {
		fprintf(stdout, "FAIL: cannot bring up a vhost-user-blk device on %s: %s\n",
			A.socket, strerror(errno));
		fprintf(stdout, "0 passed, 1 failed\n");
		return 1;
	}
	nq = hy_vu_num_queues(c);
	g_cap_bytes = hy_vu_config(c)->capacity * SECTOR;
	/*
	 * One descriptor of slack: libvhost-user (qemu-storage-daemon) counts iovecs, not
	 * descriptors, against the queue size and calls a full-length chain with a buffer that
	 * crosses a region boundary (two iovecs) a "Looped descriptor".
	 */
	g_seg_max = hy_vu_seg_max(c);
	if (g_seg_max + 3 > hy_vu_queue_size(hy_vu_queue(c, 0)))
		g_seg_max = hy_vu_queue_size(hy_vu_queue(c, 0)) - 3;
	g_size_max = hy_vu_has_feature(c, HY_VU_BLK_F_SIZE_MAX) ? hy_vu_config(c)->size_max : 0;
	g_indirect = hy_vu_has_feature(c, HY_VU_VIRTIO_F_INDIRECT_DESC);
	if (!check_config(&main_ctx, c))
		goto out_close;

	qs = calloc(nq, sizeof(*qs));
	if (!qs)
		goto out_close;
	for (unsigned i = 0; i < nq; i++) {
		struct qctx *x = &qs[i];

		x->c = c;
		x->q = hy_vu_queue(c, i);
		x->qi = i;
		x->area = (uint64_t)i * AREA_SIZE;
		x->seed = mix64(A.seed + i);
		x->stress_seed = mix64(x->seed ^ 0x5757);
		x->buf = hy_vu_alloc(g_mem, BUF_SIZE, 4096);
		x->rbuf = hy_vu_alloc(g_mem, BUF_SIZE, 4096);
		x->small = hy_vu_alloc(g_mem, 4096, 4096);
		if (!x->buf || !x->rbuf || !x->small) {
			check(&main_ctx, false, "guest memory for queue %u's buffers (--mem?)", i);
			goto out_close;
		}
	}
	main_ctx.small = qs[0].small;
	for (unsigned i = 0; i < nq; i++) {
		rc = pthread_create(&qs[i].thread, NULL, run_queue, &qs[i]);
		if (rc) {
			hy_log(ERR, rc, "pthread_create() for queue %u failed", i);
			return 2;
		}
	}
	for (unsigned i = 0; i < nq; i++)
		pthread_join(qs[i].thread, NULL);
	for (unsigned i = 0; i < nq; i++) {
		const struct hy_vu_queue_stats *s = hy_vu_queue_stats(qs[i].q);

		fprintf(stdout,
			"info: q%u: %" PRIu64 " submitted, %" PRIu64 " completed, %" PRIu64
			" kicks (%" PRIu64 " suppressed), %" PRIu64 " waits, %" PRIu64 " calls\n",
			i, s->submitted, s->completed, s->kicks, s->kicks_suppressed, s->waits,
			s->calls);
	}
	if (A.hostile_ring)
		hostile_ring(&main_ctx, c);

	rc = hy_vu_stop(c);
	if (A.hostile_ring) {
		fprintf(stdout, "info: stop after the looping chain: %s\n",
			rc ? strerror(-rc) : "ok");
	} else {
		check(&main_ctx, !rc, "clean stop (SET_VRING_ENABLE 0, GET_VRING_BASE): %s",
		      rc ? strerror(-rc) : "ok");
		for (unsigned i = 0; i < nq; i++) {
			struct hy_vu_queue *q = hy_vu_queue(c, i);

			check(&main_ctx, hy_vu_queue_last_avail(q) == hy_vu_queue_avail_idx(q),
			      "q%u: GET_VRING_BASE says %d, the frontend published avail->idx %u",
			      i, hy_vu_queue_last_avail(q), hy_vu_queue_avail_idx(q));
		}
	}
	hy_vu_close(c);
	c = NULL;

	/* Phase 2. */
	if (!A.no_reconnect) {
		c = connect_dev();
		if (!check(&main_ctx, c != NULL, "reconnect to %s: %s", A.socket,
			   c ? "ok" : strerror(errno)))
			goto out_close;
		check(&main_ctx, hy_vu_num_queues(c) == nq,
		      "same number of queues after reconnect");
		check(&main_ctx, hy_vu_config(c)->capacity * SECTOR == g_cap_bytes,
		      "same capacity after reconnect");
		for (unsigned i = 0; i < nq && i < hy_vu_num_queues(c); i++) {
			qs[i].c = c;
			qs[i].q = hy_vu_queue(c, i);
			rc = pthread_create(&qs[i].thread, NULL, run_verify, &qs[i]);
			if (rc) {
				hy_log(ERR, rc, "pthread_create() for queue %u failed", i);
				return 2;
			}
		}
		for (unsigned i = 0; i < nq && i < hy_vu_num_queues(c); i++)
			pthread_join(qs[i].thread, NULL);
		rc = hy_vu_stop(c);
		check(&main_ctx, !rc, "clean stop after reconnect: %s", rc ? strerror(-rc) : "ok");
	}

out_close:
	hy_vu_close(c);
	passed = main_ctx.passed;
	failed = main_ctx.failed;
	for (unsigned i = 0; qs && i < nq; i++) {
		passed += qs[i].passed;
		failed += qs[i].failed;
		hy_vu_free(g_mem, qs[i].buf);
		hy_vu_free(g_mem, qs[i].rbuf);
		hy_vu_free(g_mem, qs[i].small);
	}
	free(qs);
	hy_vu_free(g_mem, g_cross);
	hy_vu_mem_destroy(g_mem);
	if (!passed && !failed)
		failed = 1;
	fprintf(stdout, "%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
