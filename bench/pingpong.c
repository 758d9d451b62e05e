/* SPDX-License-Identifier: MIT */
/*
 * pingpong: the machine's floor for any cross-core queue.
 *
 * Two threads, pinned to two cpus, bounce one cache line: the ping thread stores an odd value
 * and spins until it sees the next even one, the pong thread spins for the odd value and stores
 * the even one. Each round trip moves the line from one core's cache to the other's and back,
 * which is the least a request that crosses cores and whose completion crosses back can cost
 * (a vhost-user frontend publishing avail->idx to a worker on another core and seeing used->idx
 * come back; in practice a request touches several lines each way). 1e9 / round-trip-ns is thus
 * an upper bound on QD1 requests per second through one such queue.
 *
 * usage: pingpong [--cpus A,B] [--duration SECONDS] [--trials N] [--json]
 * Prints the best and the median trial. Exit 0, or 2 on a usage error or a cpu that cannot be
 * pinned.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TRIALS 64

/* The bounced line, alone on its cache line (and the next: adjacent-line prefetchers). */
static struct {
	alignas(128) uint64_t v;
	char pad[128 - sizeof(uint64_t)];
} line;

static uint64_t rounds;
static int stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct trial {
	int cpu;
	pthread_barrier_t *bar;
	int err;
};

static void *pong(void *arg)
{
	struct trial *t = arg;
	uint64_t want = 1;

	t->err = pin(t->cpu);
	pthread_barrier_wait(t->bar);
	for (;;) {
		uint64_t v;

		/* Pairs with the ping thread's release store of the odd value. */
		while ((v = __atomic_load_n(&line.v, __ATOMIC_ACQUIRE)) != want)
			if (__atomic_load_n(&stop, __ATOMIC_RELAXED))
				return NULL;
		/* Pairs with the ping thread's acquire load of the even value. */
		__atomic_store_n(&line.v, v + 1, __ATOMIC_RELEASE);
		want = v + 2;
	}
}

/* One trial: ping from @cpu_a for @ns nanoseconds. Return: ns per round trip, or < 0. */
static double trial(int cpu_a, int cpu_b, uint64_t ns)
{
	pthread_barrier_t bar;
	struct trial t = {.cpu = cpu_b, .bar = &bar};
	pthread_t th;
	uint64_t v = 0, n = 0, t0, t1;
	int err;

	__atomic_store_n(&line.v, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
	pthread_barrier_init(&bar, NULL, 2);
	err = pin(cpu_a);
	if (pthread_create(&th, NULL, pong, &t)) {
		pthread_barrier_destroy(&bar);
		return -1;
	}
	pthread_barrier_wait(&bar);
	t0 = now_ns();
	t1 = t0;
	while (t1 - t0 < ns) {
		/* 1024 round trips between clock reads: the clock must not be the cost. */
		for (unsigned k = 0; k < 1024; k++) {
			__atomic_store_n(&line.v, v + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&line.v, __ATOMIC_ACQUIRE) != v + 2)
				;
			v += 2;
		}
		n += 1024;
		t1 = now_ns();
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&bar);
	if (err || t.err) {
		errno = err ? err : t.err;
		return -2;
	}
	rounds += n;
	return (double)(t1 - t0) / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int cpu_a = 0, cpu_b = 1, trials = 5;
	double dur = 0.5, r[MAX_TRIALS];
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cpus") && i + 1 < argc) {
			if (sscanf(argv[++i], "%d,%d", &cpu_a, &cpu_b) != 2 || cpu_a < 0 ||
			    cpu_b < 0 || cpu_a == cpu_b) {
				fprintf(stderr, "pingpong: --cpus wants two different cpus: A,B\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			dur = atof(argv[++i]);
			if (dur <= 0 || dur > 60) {
				fprintf(stderr, "pingpong: --duration wants 0 to 60 seconds\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
			trials = atoi(argv[++i]);
			if (trials < 1 || trials > MAX_TRIALS) {
				fprintf(stderr, "pingpong: --trials wants 1 to %d\n", MAX_TRIALS);
				return 2;
			}
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else {
			fprintf(stderr,
				"usage: pingpong [--cpus A,B] [--duration S] [--trials N] [--json]\n");
			return 2;
		}
	}
	for (int i = 0; i < trials; i++) {
		r[i] = trial(cpu_a, cpu_b, (uint64_t)(dur * 1e9));
		if (r[i] < 0) {
			fprintf(stderr, "pingpong: cannot run on cpus %d and %d: %s\n", cpu_a,
				cpu_b, strerror(errno));
			return 2;
		}
	}
	qsort(r, (size_t)trials, sizeof(r[0]), cmp_double);
	double best = r[0], median = r[trials / 2];

	if (json)
		printf("{\"cpus\": [%d, %d], \"trials\": %d, \"round_trips\": %llu, "
		       "\"round_trip_ns_best\": %.2f, \"round_trip_ns_median\": %.2f, "
		       "\"one_way_ns\": %.2f, \"max_qd1_iops_per_queue\": %.0f}\n",
		       cpu_a, cpu_b, trials, (unsigned long long)rounds, best, median, median / 2,
		       1e9 / median);
	else
		printf("cache-line round trip cpu %d <-> cpu %d: best %.1f ns, median %.1f ns "
		       "(%.1f ns one way): at most %.0f QD1 requests/s through one cross-core "
		       "queue\n",
		       cpu_a, cpu_b, best, median, median / 2, 1e9 / median);
	return 0;
}
