/* SPDX-License-Identifier: MIT */
/*
 * Register access for nvme/ (private to the folder).
 *
 * Every access is a single 32-bit volatile load or store: 64-bit properties (CAP, ASQ, ACQ) are
 * accessed as two dwords, low first, as Linux's lo_hi_readq/lo_hi_writeq do, because not every
 * controller (nor every platform between the CPU and the device) supports 8-byte MMIO.
 *
 * Ordering against DMA memory is the caller's business (hy_wmb() before a doorbell, in
 * nvme/qpair.c), not these accessors'.
 *
 * Unit tests define HY_NVME_MMIO_HOOK before including the driver's .c files and provide the two
 * functions declared below, so a software model of the controller sees every register access.
 */
#ifndef HY_NVME_MMIO_H
#define HY_NVME_MMIO_H

#include <stdint.h>

#ifdef HY_NVME_MMIO_HOOK
uint32_t hy_nvme_test_mmio_read32(const volatile void *addr);
void hy_nvme_test_mmio_write32(volatile void *addr, uint32_t val);

static inline uint32_t mmio_read32(const volatile void *addr)
{
	return hy_nvme_test_mmio_read32(addr);
}

static inline void mmio_write32(volatile void *addr, uint32_t val)
{
	hy_nvme_test_mmio_write32(addr, val);
}
#else
static inline uint32_t mmio_read32(const volatile void *addr)
{
	return *(const volatile uint32_t *)addr;
}

static inline void mmio_write32(volatile void *addr, uint32_t val)
{
	*(volatile uint32_t *)addr = val;
}
#endif

static inline uint64_t mmio_read64_lo_hi(const volatile void *addr)
{
	uint64_t lo = mmio_read32(addr);
	uint64_t hi = mmio_read32((const volatile uint8_t *)addr + 4);

	return lo | hi << 32;
}

static inline void mmio_write64_lo_hi(volatile void *addr, uint64_t val)
{
	mmio_write32(addr, (uint32_t)val);
	mmio_write32((volatile uint8_t *)addr + 4, (uint32_t)(val >> 32));
}

#endif
