/*
 * io.h - small file-descriptor helpers shared by the spool and the milter.
 */
#ifndef CRMGATE_IO_H
#define CRMGATE_IO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all len bytes, retrying short writes and EINTR. False on error
   (errno set). */
bool io_write_all(int fd, const void *data, size_t len);

#endif
