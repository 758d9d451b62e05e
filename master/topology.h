/* SPDX-License-Identifier: MIT */
/*
 * topology.yaml: which devices Hydra serves, on which backends, with which queues on which cores.
 * Parsed with libyaml and validated against the machine (master/cpu.h) before anything starts;
 * every error names file:line:column, the key and what was expected.
 */
#ifndef HY_MASTER_TOPOLOGY_H
#define HY_MASTER_TOPOLOGY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/cpu.h"

#define HY_MAX_DEVICES	 32
#define HY_MAX_QUEUES	 64
#define HY_NAME_MAX	 32  /* device name, NUL included */
#define HY_SOCK_PATH_MAX 108 /* sizeof(sun_path) */
#define HY_SERIAL_MAX	 21  /* virtio-blk GET_ID is 20 bytes, NUL included here */

enum hy_backend_type {
	HY_BE_URING = 0, /* file or block device through io_uring */
	HY_BE_RAM,	 /* shared anonymous memory owned by the master */
	HY_BE_NULL,	 /* completes at once, reads return zeroes */
	HY_BE_NVME,	 /* a namespace of an NVMe controller through Hydra's VFIO driver */
};

#define HY_PCI_ADDR_MAX 16 /* "0000:00:04.0" and a NUL */

struct hy_topo_queue {
	int cpu;  /* OS index of the PU */
	int numa; /* NUMA node of that PU (resolved from the machine when not given) */
};

struct hy_topo_device {
	char name[HY_NAME_MAX];
	char socket[HY_SOCK_PATH_MAX]; /* absolute, or relative to the topology file's folder */
	enum hy_backend_type type;
	char path[PATH_MAX];	   /* uring: file or block device */
	char pci[HY_PCI_ADDR_MAX]; /* nvme: the controller's PCI address, "0000:00:04.0" */
	uint32_t nsid;		   /* nvme: namespace ID, default 1 */
	bool read_zeroes; /* null: reads return zeroes (default) rather than leave the buffer */
	uint64_t size;	  /* bytes; 0 = uring and nvme: the file's, device's or namespace's size */
	uint32_t block_size; /* logical block size offered to the guest, 512..4096, power of 2 */
	bool block_size_set; /* given in the file (nvme: else the namespace's block size) */
	bool read_only;
	bool writeback;	     /* initial write cache mode (guest may toggle via CONFIG_WCE) */
	bool discard;	     /* offer VIRTIO_BLK_F_DISCARD (only where the backend supports it) */
	bool write_zeroes;   /* offer VIRTIO_BLK_F_WRITE_ZEROES */
	uint32_t queue_size; /* largest vring size accepted, power of 2, 2..32768 */
	uint32_t idle_us;    /* busy-poll this long after the last request, then sleep */
	char serial[HY_SERIAL_MAX];
	unsigned nqueues;
	struct hy_topo_queue queues[HY_MAX_QUEUES];
	int line; /* where the device starts in the file, for later messages */
};

struct hy_topology {
	char socket_dir[PATH_MAX];
	char status_socket[HY_SOCK_PATH_MAX];
	int log_level; /* enum hy_log_level */
	unsigned ndevices;
	struct hy_topo_device devices[HY_MAX_DEVICES];
};

/**
 * hy_topology_parse() - parse and validate a topology document held in memory.
 * @buf: YAML text
 * @len: its length
 * @filename: used in messages ("topology.yaml:12:7: ...")
 * @basedir: folder that relative paths are resolved against (the file's folder)
 * @machine: the machine's CPUs and NUMA nodes (hy_machine_probe(), or a test's fake)
 * @t: filled on success; left in an unspecified state on failure
 * @err: receives one human-readable message on failure
 * @errlen: size of @err
 * Return: 0, or -EINVAL with @err set.
 */
int hy_topology_parse(const char *buf, size_t len, const char *filename, const char *basedir,
		      const struct hy_machine *machine, struct hy_topology *t, char *err,
		      size_t errlen);

/**
 * hy_topology_load() - read @path and hy_topology_parse() it.
 * Return: 0, or -errno / -EINVAL with @err set.
 */
int hy_topology_load(const char *path, const struct hy_machine *machine, struct hy_topology *t,
		     char *err, size_t errlen);

/**
 * hy_topology_print() - write the resolved plan (what `hydra --check` prints): per device its
 * socket, backend, size and features; per queue its index, core and NUMA node.
 */
void hy_topology_print(const struct hy_topology *t, FILE *out);

/** hy_parse_size() - "1GiB", "512M", "4096" to bytes. Return: 0 or -EINVAL. */
int hy_parse_size(const char *s, uint64_t *out);

/** hy_backend_name() - "uring", "ram", "null" or "nvme". */
const char *hy_backend_name(enum hy_backend_type type);

#endif
