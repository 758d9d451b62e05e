/* SPDX-License-Identifier: MIT */
/*
 * The machine, read once with hwloc: which PUs exist and may be used by this process, and the
 * NUMA node of each. The topology parser checks queues against the result; workers later pin
 * themselves to the cpus named there.
 */
#define HY_LOG_COMPONENT "cpu"

#include "master/cpu.h"

#include <errno.h>
#include <hwloc.h>
#include <limits.h>
#include <string.h>

#include "shm/log.h"

/*
 * The NUMA node a PU belongs to. In hwloc 2 NUMA nodes are memory children, not ancestors of
 * PUs, so look at their cpusets. A PU may be in several (a package's DRAM node plus a
 * machine-wide CXL or HBM node): the node with the smallest cpuset is the local one.
 */
static int pu_node(hwloc_topology_t topo, unsigned pu)
{
	hwloc_obj_t node = NULL, best = NULL;
	int best_weight = INT_MAX;

	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node))) {
		int w;

		if (!node->cpuset || !hwloc_bitmap_isset(node->cpuset, pu))
			continue;
		w = hwloc_bitmap_weight(node->cpuset);
		if (w >= 0 && w < best_weight) {
			best = node;
			best_weight = w;
		}
	}
	if (!best || best->os_index > INT_MAX)
		return 0;
	return (int)best->os_index;
}

/*
 * Fill @m from a loaded @topo. @use_binding restricts the result to this thread's affinity
 * (false for synthetic topologies in tests, which describe no real process).
 */
static int probe_topology(hwloc_topology_t topo, bool use_binding, struct hy_machine *m)
{
	hwloc_bitmap_t usable, bound;
	hwloc_obj_t pu = NULL, node = NULL;
	bool warned = false;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	usable = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
	if (!usable)
		return -ENOMEM;
	if (use_binding) {
		bound = hwloc_bitmap_alloc();
		if (!bound) {
			ret = -ENOMEM;
			goto out_usable;
		}
		/* taskset(1) or a parent's sched_setaffinity() narrows what we may use. */
		if (!hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_THREAD))
			hwloc_bitmap_and(usable, usable, bound);
		else
			hy_log(WARN, errno,
			       "cannot read this process's cpu affinity; using every cpu hwloc allows");
		hwloc_bitmap_free(bound);
	}

	while ((pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu))) {
		unsigned i = pu->os_index;

		if (!hwloc_bitmap_isset(usable, i))
			continue;
		if (i >= HY_MAX_CPUS) {
			if (!warned)
				hy_log(WARN, 0,
				       "cpus from %u up are beyond HY_MAX_CPUS (%d) and unused", i,
				       HY_MAX_CPUS);
			warned = true;
			continue;
		}
		m->present[i] = true;
		m->node[i] = pu_node(topo, i);
		if (i + 1 > m->ncpus)
			m->ncpus = i + 1;
	}

	m->nnodes = 1;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)))
		if (node->os_index < INT_MAX && node->os_index + 1 > m->nnodes)
			m->nnodes = node->os_index + 1;

	if (!m->ncpus) {
		ret = -ENODEV;
		hy_log(ERR, 0, "hwloc found no cpu this process may run on");
	}
out_usable:
	hwloc_bitmap_free(usable);
	return ret;
}

int hy_machine_probe(struct hy_machine *m)
{
	hwloc_topology_t topo;
	char list[256];
	int ret;

	memset(m, 0, sizeof(*m));
	if (hwloc_topology_init(&topo) < 0) {
		ret = errno ? -errno : -ENOMEM;
		hy_log(ERR, ret, "hwloc_topology_init() failed");
		return ret;
	}
	if (hwloc_topology_load(topo) < 0) {
		ret = errno ? -errno : -EIO;
		hy_log(ERR, ret, "hwloc_topology_load() failed");
		goto out_destroy;
	}
	ret = probe_topology(topo, true, m);
	if (ret)
		goto out_destroy;
	hy_machine_cpulist(m, list, sizeof(list));
	hy_log(DEBUG, 0, "cpus %s on %u numa node(s)", list, m->nnodes);
out_destroy:
	hwloc_topology_destroy(topo);
	return ret;
}

void hy_machine_cpulist(const struct hy_machine *m, char *buf, size_t len)
{
	unsigned n = m->ncpus < HY_MAX_CPUS ? m->ncpus : HY_MAX_CPUS;
	char full[HY_MAX_CPUS * 6]; /* worst case "0,2,4,...,1022" */
	size_t used = 0, cut;

	if (!len)
		return;
	for (unsigned i = 0; i < n; i++) {
		unsigned last = i;
		int r;

		if (!m->present[i])
			continue;
		while (last + 1 < n && m->present[last + 1])
			last++;
		if (last == i)
			r = snprintf(full + used, sizeof(full) - used, "%s%u", used ? "," : "", i);
		else
			r = snprintf(full + used, sizeof(full) - used, "%s%u-%u", used ? "," : "",
				     i, last);
		if (r > 0)
			used += (size_t)r;
		i = last;
	}
	if (!used) {
		snprintf(buf, len, "none");
		return;
	}
	if (used < len) {
		memcpy(buf, full, used + 1);
		return;
	}
	/* Cut after a whole item and say so, rather than print a wrong number or range. */
	for (cut = len >= 5 ? len - 5 : 0; cut && full[cut] != ','; cut--)
		;
	if (cut) {
		memcpy(buf, full, cut);
		memcpy(buf + cut, ",...", 5);
	} else {
		snprintf(buf, len, "...");
	}
}
