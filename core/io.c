/*
 * io.c - write(2) that finishes the job.
 */
#include "crmgate/io.h"

#include <errno.h>
#include <unistd.h>

bool io_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}
