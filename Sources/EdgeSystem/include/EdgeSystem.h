// System calls Swift's Glibc module does not expose (GNU extensions), wrapped for EdgeBlob.
#ifndef EDGE_SYSTEM_H
#define EDGE_SYSTEM_H

#include <stdint.h>

/// Starts writeback of the dirty pages of `fd` in [offset, offset + length) without waiting for
/// it (Linux `sync_file_range(..., SYNC_FILE_RANGE_WRITE)`), so a later fsync has less to do.
/// Returns 0, or -1 with errno set; elsewhere than Linux it does nothing and returns 0.
int edge_start_writeback(int fd, int64_t offset, int64_t length);

#endif
