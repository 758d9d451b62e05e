/* SPDX-License-Identifier: MIT */
/*
 * master/cpu.c: the probe on this machine (compared with what the kernel says), the probe on
 * hwloc synthetic machines (NUMA layouts this machine does not have), and cpulist formatting.
 * The .c is included so that the synthetic tests can reach probe_topology().
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "master/cpu.c"

static struct hy_machine m;

Test(cpu, probe_matches_sched_getaffinity)
{
	cpu_set_t set;
	unsigned n = 0, highest = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	cr_assert_eq(hy_machine_probe(&m), 0);
	cr_assert_geq(m.ncpus, 1);
	cr_assert_geq(m.nnodes, 1);
	for (unsigned i = 0; i < HY_MAX_CPUS && i < CPU_SETSIZE; i++) {
		cr_assert_eq(m.present[i], (bool)CPU_ISSET(i, &set), "cpu %u: probe says %d", i,
			     m.present[i]);
		if (m.present[i]) {
			n++;
			highest = i;
			cr_assert(m.node[i] >= 0 && (unsigned)m.node[i] < m.nnodes,
				  "cpu %u on node %d of %u", i, m.node[i], m.nnodes);
		}
	}
	cr_assert_eq(n, (unsigned)CPU_COUNT(&set));
	cr_assert_eq(m.ncpus, highest + 1);
	cr_assert_leq(n, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
}

/* The kernel lists each cpu's node as /sys/devices/system/cpu/cpuN/nodeM. */
Test(cpu, probe_nodes_match_sysfs)
{
	cr_assert_eq(hy_machine_probe(&m), 0);
	for (unsigned i = 0; i < m.ncpus; i++) {
		char path[64];
		struct dirent *e;
		DIR *d;

		if (!m.present[i])
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u", i);
		d = opendir(path);
		if (!d)
			continue; /* no sysfs in this container: nothing to compare with */
		while ((e = readdir(d))) {
			int node;
			char rest;

			if (sscanf(e->d_name, "node%d%c", &node, &rest) == 1)
				cr_assert_eq(m.node[i], node, "cpu %u: probe %d, sysfs %d", i,
					     m.node[i], node);
		}
		closedir(d);
	}
}

/* A process narrowed with sched_setaffinity() (taskset) sees only its cpus. */
Test(cpu, probe_follows_affinity)
{
	cpu_set_t set, one;
	unsigned first = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	while (!CPU_ISSET(first, &set))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cr_assert_eq(hy_machine_probe(&m), 0);
	sched_setaffinity(0, sizeof(set), &set);

	cr_assert_eq(m.ncpus, first + 1);
	for (unsigned i = 0; i < HY_MAX_CPUS; i++)
		cr_assert_eq(m.present[i], i == first, "cpu %u", i);
}

static void synthetic(const char *desc)
{
	hwloc_topology_t topo;

	cr_assert_eq(hwloc_topology_init(&topo), 0);
	cr_assert_eq(hwloc_topology_set_synthetic(topo, desc), 0, "%s", desc);
	cr_assert_eq(hwloc_topology_load(topo), 0);
	cr_assert_eq(probe_topology(topo, false, &m), 0);
	hwloc_topology_destroy(topo);
}

Test(cpu, synthetic_two_nodes)
{
	char list[64];

	synthetic("pack:2 numa:1 core:2 pu:1");
	cr_assert_eq(m.ncpus, 4);
	cr_assert_eq(m.nnodes, 2);
	for (int i = 0; i < 4; i++) {
		cr_assert(m.present[i]);
		cr_assert_eq(m.node[i], i / 2, "cpu %d on node %d", i, m.node[i]);
	}
	cr_assert_not(m.present[4]);
	hy_machine_cpulist(&m, list, sizeof(list));
	cr_assert_str_eq(list, "0-3");
}

/* A machine-wide memory node (CXL, HBM) spans every cpu; the package's node is the local one. */
Test(cpu, synthetic_memory_only_node)
{
	synthetic("[numa] pack:2 [numa] core:2 pu:1");
	cr_assert_eq(m.nnodes, 3);
	cr_assert_eq(m.node[0], 0);
	cr_assert_eq(m.node[1], 0);
	cr_assert_eq(m.node[2], 1);
	cr_assert_eq(m.node[3], 1);
}

Test(cpu, synthetic_one_node)
{
	synthetic("core:2 pu:1");
	cr_assert_eq(m.ncpus, 2);
	cr_assert_eq(m.nnodes, 1);
	cr_assert_eq(m.node[0], 0);
	cr_assert_eq(m.node[1], 0);
}

static void machine_of(const int *cpus, size_t n)
{
	memset(&m, 0, sizeof(m));
	m.nnodes = 1;
	for (size_t i = 0; i < n; i++) {
		m.present[cpus[i]] = true;
		if ((unsigned)cpus[i] + 1 > m.ncpus)
			m.ncpus = (unsigned)cpus[i] + 1;
	}
}

Test(cpu, cpulist_formats_ranges)
{
	static const int a[] = {0, 1}, b[] = {0, 1, 4, 6, 7}, c[] = {3}, d[] = {0, 2, 4},
			 e[] = {1, 2, 3, 1023};
	char buf[64];

	machine_of(a, 2);
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0-1");
	machine_of(b, 5);
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0-1,4,6-7");
	machine_of(c, 1);
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "3");
	machine_of(d, 3);
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0,2,4");
	machine_of(e, 4);
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "1-3,1023");
	machine_of(NULL, 0);
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_str_eq(buf, "none");
}

Test(cpu, cpulist_truncates_with_an_ellipsis)
{
	char buf[64];

	memset(&m, 0, sizeof(m));
	/* Every even cpu: "0,2,4,...": far longer than the buffer. */
	for (unsigned i = 0; i < HY_MAX_CPUS; i += 2)
		m.present[i] = true;
	m.ncpus = HY_MAX_CPUS - 1;
	hy_machine_cpulist(&m, buf, sizeof(buf));
	cr_assert_lt(strlen(buf), sizeof(buf));
	cr_assert(!strncmp(buf, "0,2,4,6,8,10,", 13), "%s", buf);
	cr_assert(!strcmp(buf + strlen(buf) - 3, "..."), "%s", buf);
	/* The last number before "..." is whole: never "1" standing for "12". */
	cr_assert(strstr(buf, ",..."), "%s", buf);

	hy_machine_cpulist(&m, buf, 3);
	cr_assert_lt(strlen(buf), 3);
	buf[0] = 'x';
	hy_machine_cpulist(&m, buf, 0);
	cr_assert_eq(buf[0], 'x');
}
