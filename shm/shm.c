#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm/shm.h"

int
gh_shm_create(struct gh_shm *shm, size_t size, char *err, size_t errlen)
{
    void *p;
    int fd;

    shm->fd = -1;
    shm->hdr = NULL;
    if (size < (1 << 20)) {
        snprintf(err, errlen, "shared memory size %zu is below 1M", size);
        return GH_ERR;
    }
    /* Not MFD_CLOEXEC: a binary upgrade passes it on (#6). */
    fd = memfd_create("gatehouse-shm", 0);
    if (fd == -1) {
        snprintf(err, errlen, "memfd_create() failed (%d: %s)", errno,
                 strerror(errno));
        return GH_ERR;
    }
    if (ftruncate(fd, (off_t) size) == -1) {
        snprintf(err, errlen, "ftruncate(%zu) of the segment failed (%d: %s)",
                 size, errno, strerror(errno));
        (void) close(fd);
        return GH_ERR;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap(%zu) of the segment failed (%d: %s)",
                 size, errno, strerror(errno));
        (void) close(fd);
        return GH_ERR;
    }
    shm->fd = fd;
    shm->size = size;
    shm->hdr = p;
    *shm->hdr = (struct gh_shm_hdr) {
        .layout = GH_SHM_LAYOUT,
        .hdr_size = sizeof(struct gh_shm_hdr),
        .seg_size = size,
        .generation = 1,
        .created = (uint64_t) time(NULL),
    };
    /* Magic last: a reader that sees it sees a whole header. */
    __atomic_store_n(&shm->hdr->magic, GH_SHM_MAGIC, __ATOMIC_RELEASE);
    return GH_OK;
}

int
gh_shm_adopt(struct gh_shm *shm, int fd, char *err, size_t errlen)
{
    struct stat st;
    struct gh_shm_hdr *h;
    void *p;

    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "fstat() of the segment failed (%d: %s)",
                 errno, strerror(errno));
        return GH_ERR;
    }
    if ((size_t) st.st_size < sizeof(*h)) {
        snprintf(err, errlen, "segment of %jd bytes is too small",
                 (intmax_t) st.st_size);
        return GH_DECLINED;
    }
    p = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
             fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap() of the segment failed (%d: %s)", errno,
                 strerror(errno));
        return GH_ERR;
    }
    h = p;
    if (h->magic != GH_SHM_MAGIC || h->layout != GH_SHM_LAYOUT
        || h->hdr_size != sizeof(*h) || h->seg_size != (uint64_t) st.st_size) {
        snprintf(err, errlen, "segment has magic %#llx layout %u header %u "
                 "size %llu, we need %#llx/%u/%zu/%jd",
                 (unsigned long long) h->magic, h->layout, h->hdr_size,
                 (unsigned long long) h->seg_size,
                 (unsigned long long) GH_SHM_MAGIC, GH_SHM_LAYOUT,
                 sizeof(*h), (intmax_t) st.st_size);
        (void) munmap(p, (size_t) st.st_size);
        return GH_DECLINED;
    }
    __atomic_add_fetch(&h->generation, 1, __ATOMIC_RELAXED);
    shm->fd = fd;
    shm->size = (size_t) st.st_size;
    shm->hdr = h;
    return GH_OK;
}

void
gh_shm_close(struct gh_shm *shm)
{
    if (shm->hdr != NULL)
        (void) munmap(shm->hdr, shm->size);
    if (shm->fd != -1)
        (void) close(shm->fd);
    shm->hdr = NULL;
    shm->fd = -1;
}
