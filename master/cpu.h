/* SPDX-License-Identifier: MIT */
/*
 * The machine's cores and NUMA nodes, read once with hwloc. The topology parser validates
 * against this structure rather than against hwloc directly so tests can describe any machine.
 */
#ifndef HY_MASTER_CPU_H
#define HY_MASTER_CPU_H

#include <stdbool.h>
#include <stdio.h>

#define HY_MAX_CPUS 1024

struct hy_machine {
	unsigned ncpus;	 /* highest OS index + 1 */
	unsigned nnodes; /* highest NUMA node OS index + 1 (1 on a machine without NUMA) */
	bool present[HY_MAX_CPUS]; /* a PU with this OS index exists and is allowed to us */
	int node[HY_MAX_CPUS];	   /* its NUMA node */
};

/**
 * hy_machine_probe() - fill @m from hwloc (the PUs this process may run on).
 * Return: 0 or -errno.
 */
int hy_machine_probe(struct hy_machine *m);

/**
 * hy_machine_cpulist() - "0-1,4" style list of the present cpus, for error messages.
 */
void hy_machine_cpulist(const struct hy_machine *m, char *buf, size_t len);

#endif
