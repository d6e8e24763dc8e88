#ifndef TAPD_ALLOC_COUNTER_H
#define TAPD_ALLOC_COUNTER_H
#include <stdint.h>
/// Number of heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc) since the last reset.
uint64_t tapd_alloc_count(void);
void tapd_alloc_reset(void);
#endif
