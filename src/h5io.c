/*
 * h5io.c — validated, atomic HDF5 reading and writing (see h5io.h).
 *
 * All HDF5 calls are wrapped so that a failure becomes a dnateq error
 * naming the file and the object; HDF5's automatic error printing is
 * switched off once, on first use.  Groups and datasets are created
 * without timestamps (HDF5 records them by default), so that the same
 * content always gives the same bytes: results compare byte for byte.
 * Before HDF5 reads a file, its global heaps are checked, and before a
 * dataset is read, its dataspace is checked against what the file stores
 * (see h5_check_global_heaps and h5_check_extent): both guard against
 * corrupt files that HDF5 1.10 would otherwise trust.  What is left (HDF5
 * crashing, looping or allocating without bound inside its own parsers)
 * is contained by dq_h5_probe: a child process reads the file's metadata
 * first, and only a file whose child survives is opened here.
 */
#define _POSIX_C_SOURCE 200809L
#include "h5io.h"

#include "error.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct h5_attr h5_attr;

struct dq_h5 {
    hid_t fid;
    char *path;    /* final path */
    char *tmp;     /* temporary path while writing, else NULL */
    char format[64];
    int version;
    int snapped;          /* attributes come from the probe's snapshot */
    unsigned char *snap;  /* the snapshot (see the probe below) */
    h5_attr *attrs;       /* its attributes, by object address and name */
    int n_attrs;
};

static void h5_quiet(void)
{
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

const char *dq_h5_path(const dq_h5 *f) { return f->path; }
const char *dq_h5_format(const dq_h5 *f) { return f->format; }
int dq_h5_version(const dq_h5 *f) { return f->version; }

static void h5_free(dq_h5 *f)
{
    free(f->path);
    free(f->tmp);
    free(f->snap);
    free(f->attrs);
    free(f);
}

dq_h5 *dq_h5_create(const char *path, const char *format, int version)
{
    h5_quiet();
    if (dq_mkdirs_parent(path) != DQ_OK) return NULL;
    dq_h5 *f = calloc(1, sizeof *f);
    if (!f) DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", path);
    f->path = strdup(path);
    f->tmp = dq_tmp_path(path);
    snprintf(f->format, sizeof f->format, "%s", format);
    f->version = version;
    if (!f->path || !f->tmp) {
        h5_free(f); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", path);
    }
    f->fid = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f->fid < 0) {
        dq_error_set(DQ_EIO, "%s: cannot create HDF5 file", f->tmp);
        h5_free(f);
        return NULL;
    }
    if (dq_h5_set_attr_str(f, "/", "format", format) ||
        dq_h5_set_attr_int(f, "/", "version", version) ||
        dq_h5_set_attr_str(f, "/", "created_by", dq_git_revision())) {
        dq_h5_abort(f);
        return NULL;
    }
    return f;
}

int dq_h5_commit(dq_h5 *f)
{
    herr_t st = H5Fflush(f->fid, H5F_SCOPE_GLOBAL);
    st |= H5Fclose(f->fid);
    f->fid = -1;
    if (st < 0) {
        unlink(f->tmp);
        int rc = DQ_ERROR(DQ_EIO, "%s: cannot finish writing HDF5 file", f->path);
        h5_free(f);
        return rc;
    }
    if (rename(f->tmp, f->path) != 0) {
        unlink(f->tmp);
        int rc = DQ_ERROR(DQ_EIO, "%s: cannot rename temporary file", f->path);
        h5_free(f);
        return rc;
    }
    h5_free(f);
    return DQ_OK;
}

void dq_h5_abort(dq_h5 *f)
{
    if (!f) return;
    if (f->fid >= 0) H5Fclose(f->fid);
    if (f->tmp) unlink(f->tmp);
    h5_free(f);
}

/* ---- global heap check ---------------------------------------------------
 *
 * Variable-length strings (every string attribute h5py writes) live in
 * global heap collections: a block "GCOL", version 1, three zero bytes,
 * its size (8 bytes, little-endian), then objects, each a 16-byte header
 * (index: 2 bytes, reference count: 2, reserved: 4, size: 8) and its data
 * padded to 8 bytes; index 0 is the free space, whose size includes its
 * header and is not padded; fewer than 16 bytes at the end are free too.
 * HDF5 1.10 trusts those sizes: a corrupt one makes H5HG_read copy far
 * past the collection (a crash), and a zero-sized free space makes the
 * collection parser loop forever.  So before HDF5 reads a file, every
 * collection in it must tile exactly as above, each index used once.
 * (Not covered: a string whose heap reference names an index the
 * collection does not hold; HDF5 1.10 only asserts that, and checking it
 * would mean decoding the object headers.) */

#define GCOL_HDR 16
#define GCOL_SCAN (1 << 20)

static uint64_t le_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Walk the objects of a collection of size bytes (header included): they
 * must tile it, and no object index may appear twice. */
static int gcol_tiles(const unsigned char *c, uint64_t size)
{
    unsigned char seen[65536 / 8] = {0};
    uint64_t p = GCOL_HDR;
    while (size - p >= GCOL_HDR) {
        unsigned idx = (unsigned)c[p] | (unsigned)c[p + 1] << 8;
        uint64_t osize = le_u64(c + p + 8);
        if (osize > size - p) return 0;
        uint64_t need = idx ? GCOL_HDR + ((osize + 7) & ~(uint64_t)7) : osize;
        if (need < GCOL_HDR || need > size - p) return 0;
        if (idx && (seen[idx / 8] >> (idx % 8) & 1)) return 0;
        seen[idx / 8] |= (unsigned char)(1u << (idx % 8));
        p += need;
    }
    return 1;
}

/* The collection starting at offset off of the open file fp. */
static int gcol_check(FILE *fp, const char *path, uint64_t off,
                      uint64_t file_size)
{
    unsigned char hdr[GCOL_HDR];
    if (fseeko(fp, (off_t)off, SEEK_SET) != 0 ||
        fread(hdr, 1, sizeof hdr, fp) != sizeof hdr)
        return DQ_ERROR(DQ_EIO, "%s: cannot read", path);
    uint64_t size = le_u64(hdr + 8);
    if (size < GCOL_HDR || size > file_size - off)
        return DQ_ERROR(DQ_EFORMAT, "%s: truncated or corrupt HDF5 file: "
                        "the global heap at offset %llu claims %llu bytes, "
                        "the file has %llu", path, (unsigned long long)off,
                        (unsigned long long)size,
                        (unsigned long long)file_size);
    unsigned char *c = malloc(size);
    if (!c) return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    int ok = fseeko(fp, (off_t)off, SEEK_SET) == 0 &&
             fread(c, 1, size, fp) == size;
    int tiles = ok && gcol_tiles(c, size);
    free(c);
    if (!ok) return DQ_ERROR(DQ_EIO, "%s: cannot read", path);
    if (!tiles)
        return DQ_ERROR(DQ_EFORMAT, "%s: corrupt HDF5 file: the objects of "
                        "the global heap at offset %llu do not fit in it",
                        path, (unsigned long long)off);
    return DQ_OK;
}

/* 1 when b starts a collection: "GCOL", version 1, three zero bytes. */
static int gcol_at(const unsigned char *b)
{
    return memcmp(b, "GCOL\1\0\0\0", 8) == 0;
}

/* Check every collection of the file, found by scanning it in blocks
 * that overlap by 7 bytes (a header cut by a block boundary is seen in
 * the next block). */
static int h5_check_global_heaps(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return DQ_ERROR(DQ_EIO, "%s: cannot open", path);
    unsigned char *buf = malloc(GCOL_SCAN);
    int rc = buf ? DQ_OK : DQ_ERROR(DQ_ENOMEM, "%s: out of memory", path);
    uint64_t base = 0, file_size = 0;
    if (rc == DQ_OK && (fseeko(fp, 0, SEEK_END) != 0 ||
                        (file_size = (uint64_t)ftello(fp)) == (uint64_t)-1))
        rc = DQ_ERROR(DQ_EIO, "%s: cannot read", path);
    while (rc == DQ_OK && base + 8 <= file_size) {
        size_t n = file_size - base < GCOL_SCAN ? (size_t)(file_size - base)
                                                : GCOL_SCAN;
        if (fseeko(fp, (off_t)base, SEEK_SET) != 0 || fread(buf, 1, n, fp) != n) {
            rc = DQ_ERROR(DQ_EIO, "%s: cannot read", path);
            break;
        }
        for (size_t i = 0; rc == DQ_OK && i + 8 <= n; i++) {
            const unsigned char *hit = memchr(buf + i, 'G', n - 7 - i);
            if (!hit) break;
            i = (size_t)(hit - buf);
            if (gcol_at(hit)) rc = gcol_check(fp, path, base + i, file_size);
        }
        if (n < GCOL_SCAN) break;
        base += n - 7;
    }
    free(buf);
    fclose(fp);
    return rc;
}

/* ---- probe: HDF5 reads the metadata in a child process first --------------
 *
 * HDF5 1.10 trusts more on-disk fields than the checks above cover (a
 * string's heap reference, the sizes inside an attribute message, a
 * string's length): on such files it crashes, allocates whatever a field
 * claims, or loops.  A child process opens the file first, as the loaders
 * will, and visits every object with its full info, every attribute
 * (opened, and read as the loaders read it: strings, variable-length ones
 * included, as strings, integers as int64 and as double, floats as
 * double), every link by name, and every dataset's type, dataspace,
 * creation properties and storage size; no bulk data.
 *
 * Where HDF5 reads out of bounds, whether it crashes depends on what
 * lies beyond, so a read that passes in the child could still crash here.
 * The child therefore also hands over what it read: every attribute's
 * class, length and values go into a snapshot (a shared anonymous
 * mapping), and a file opened for reading answers every attribute query
 * from it (snap_* below), so HDF5 never parses an attribute message or a
 * global heap object in this process.
 *
 * The child runs under limits (PROBE_*), with every signal at its
 * default action, and leaves by _exit() (no atexit handlers, no stdio
 * flush); only HDF5 and this file's code run in it, never OpenMP.  Before
 * each step it notes what it reads in the shared page, so that a crash is
 * reported with the object it was in.  Its stdout and stderr go to a pipe
 * that the parent reads: under a sanitizer, the report says what stopped
 * it. */

#define PROBE_HDF5 64  /* HDF5 reported an error: the loaders report it */
#define PROBE_NOMEM 65 /* an allocation failed */
#define PROBE_DIED 66  /* a sanitizer stopped the child */
#define PROBE_CPU_S 10
#define PROBE_WALL_S 30
#define PROBE_MEM_BASE ((uint64_t)1 << 30)
#define PROBE_MEM_PER_BYTE 4
#define PROBE_OUT 16384
#define PROBE_SNAP ((size_t)64 << 20) /* bytes of attribute snapshot */

/* The sanitizers' death callback (absent from other builds). */
void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));

enum { SNAP_OK, SNAP_NOOPEN, SNAP_NOREAD };

/* One attribute in the snapshot; followed by its name (name_len bytes and
 * a NUL) and len bytes of values: a scalar string's bytes and a NUL, an
 * integer attribute's values as int64 and then as double, a float
 * attribute's as double. */
typedef struct {
    uint64_t addr; /* its object's address in the file */
    int64_t np;    /* elements; -1 when unknown */
    uint64_t len;
    int32_t status, cls; /* SNAP_*, H5T_class_t */
    uint32_t name_len, pad;
} snap_rec;

/* The page shared by parent and child, then the snapshot. */
typedef struct {
    char where[512]; /* what the child reads now ("attribute 'x' of '/'") */
    char obj[256];   /* the object it is in, and its address */
    uint64_t addr;
    int opened;     /* HDF5 opened the file */
    int hdf5_error; /* HDF5 reported an error (the walk goes on) */
    int overflow;   /* the snapshot did not fit */
    uint64_t used;  /* bytes of data[] */
    unsigned char data[];
} probe_state;

/* The memory the child may map beyond what it inherits. */
static uint64_t probe_budget(uint64_t file_size)
{
    return PROBE_MEM_BASE + PROBE_MEM_PER_BYTE * file_size;
}

static void probe_at(probe_state *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void probe_at(probe_state *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->where, sizeof ps->where, fmt, ap);
    va_end(ap);
    errno = 0;
}

static herr_t probe_nomem_cb(unsigned n, const H5E_error2_t *e, void *op)
{
    (void)n;
    if (e->min_num == H5E_CANTALLOC || e->min_num == H5E_NOSPACE)
        *(int *)op = 1;
    return 0;
}

/* The step at ps->where failed: out of memory ends the child, any other
 * HDF5 error is noted and the walk goes on. */
static void probe_failed(probe_state *ps)
{
    int nomem = errno == ENOMEM;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, probe_nomem_cb, &nomem);
    if (nomem) _exit(PROBE_NOMEM);
    ps->hdf5_error = 1;
    H5Eclear2(H5E_DEFAULT);
}

static void snap_put(probe_state *ps, const void *p, size_t n)
{
    if (ps->overflow || n > PROBE_SNAP - ps->used) {
        ps->overflow = 1;
        return;
    }
    memcpy(ps->data + ps->used, p, n);
    ps->used += n;
}

static void snap_write(probe_state *ps, snap_rec *r, const char *name,
                       const void *v)
{
    r->name_len = (uint32_t)strlen(name);
    snap_put(ps, r, sizeof *r);
    snap_put(ps, name, r->name_len + 1);
    if (r->len) snap_put(ps, v, r->len);
}

/* H5Aread into buf; 0 on success, else the record says so. */
static int probe_read(probe_state *ps, hid_t a, hid_t mt, void *buf,
                      snap_rec *r)
{
    errno = 0;
    if (H5Aread(a, mt, buf) >= 0) return 0;
    probe_failed(ps);
    r->status = SNAP_NOREAD;
    return -1;
}

/* Every element of a string attribute, read as dq_h5_get_attr_str does;
 * the values of a scalar one (malloc()ed). */
static unsigned char *probe_strings(probe_state *ps, hid_t a, hid_t ft,
                                    hid_t space, snap_rec *r)
{
    int vlen = H5Tis_variable_str(ft) > 0;
    size_t el = vlen ? sizeof(char *) : H5Tget_size(ft) + 1;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, vlen ? H5T_VARIABLE : el);
    if (vlen) H5Tset_cset(mt, H5Tget_cset(ft));
    unsigned char *buf = calloc((size_t)r->np, el), *v = NULL;
    if (!buf) _exit(PROBE_NOMEM);
    if (probe_read(ps, a, mt, buf, r) == 0) {
        const char *s = vlen ? *(char **)buf : (const char *)buf;
        if (!s) r->status = SNAP_NOREAD;
        else if (r->np == 1 && !(v = (unsigned char *)strdup(s)))
            _exit(PROBE_NOMEM);
        r->len = v ? strlen(s) + 1 : 0;
        if (vlen) H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
    }
    free(buf);
    H5Tclose(mt);
    return v;
}

/* The values of a number attribute (malloc()ed): as int64 then as double
 * when ints, else as double. */
static unsigned char *probe_numbers(probe_state *ps, hid_t a, snap_rec *r,
                                    int ints)
{
    size_t n = (size_t)r->np, per = ints ? 16 : 8;
    unsigned char *v = calloc(n, per);
    if (!v) _exit(PROBE_NOMEM);
    if ((ints && probe_read(ps, a, H5T_NATIVE_INT64, v, r) != 0) ||
        probe_read(ps, a, H5T_NATIVE_DOUBLE, v + (ints ? 8 * n : 0), r)) {
        free(v);
        return NULL;
    }
    r->len = per * n;
    return v;
}

/* Class and length of attribute a, and its values (malloc()ed). */
static unsigned char *probe_attr(probe_state *ps, hid_t a, snap_rec *r)
{
    errno = 0;
    hid_t ft = H5Aget_type(a), space = H5Aget_space(a);
    if (ft < 0 || space < 0) probe_failed(ps);
    r->cls = ft < 0 ? H5T_NO_CLASS : H5Tget_class(ft);
    r->np = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    unsigned char *v = NULL;
    if (ft >= 0 && space >= 0 && r->np > 0) {
        if (r->cls == H5T_STRING) v = probe_strings(ps, a, ft, space, r);
        else if (r->cls == H5T_INTEGER) v = probe_numbers(ps, a, r, 1);
        else if (r->cls == H5T_FLOAT) v = probe_numbers(ps, a, r, 0);
    }
    if (space >= 0) H5Sclose(space);
    if (ft >= 0) H5Tclose(ft);
    return v;
}

static herr_t probe_attr_cb(hid_t loc, const char *name,
                            const H5A_info_t *info, void *op)
{
    (void)info;
    probe_state *ps = op;
    probe_at(ps, "attribute '%s' of '%s'", name, ps->obj);
    if (H5Aexists_by_name(loc, ".", name, H5P_DEFAULT) <= 0) {
        probe_failed(ps); /* not recorded: the loaders see no attribute */
        return 0;
    }
    snap_rec r = {.addr = ps->addr, .np = -1, .cls = H5T_NO_CLASS};
    unsigned char *v = NULL;
    errno = 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        probe_failed(ps);
        r.status = SNAP_NOOPEN;
    } else {
        v = probe_attr(ps, a, &r);
        H5Aclose(a);
    }
    snap_write(ps, &r, name, v);
    free(v);
    return 0;
}

/* Chunk shape and filters of a dataset's creation properties. */
static void probe_dcpl(probe_state *ps, hid_t dcpl)
{
    hsize_t chunk[H5S_MAX_RANK];
    if (H5Pget_layout(dcpl) == H5D_CHUNKED &&
        H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) < 0)
        probe_failed(ps);
    int nf = H5Pget_nfilters(dcpl);
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[16], conf;
        size_t ncd = 16;
        char name[64];
        errno = 0;
        if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name,
                           name, &conf) < 0)
            probe_failed(ps);
    }
}

static void probe_dataset(probe_state *ps, hid_t ds)
{
    probe_at(ps, "dataset '%s'", ps->obj);
    hid_t t = H5Dget_type(ds), space = H5Dget_space(ds);
    hid_t dcpl = H5Dget_create_plist(ds);
    hsize_t dims[H5S_MAX_RANK];
    if (t < 0 || space < 0 || dcpl < 0 || H5Tget_class(t) < 0 ||
        H5Tget_size(t) == 0 || H5Sget_simple_extent_ndims(space) < 0 ||
        H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        probe_failed(ps);
    if (dcpl >= 0) probe_dcpl(ps, dcpl);
    (void)H5Dget_storage_size(ds); /* walks a chunked dataset's index */
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (t >= 0) H5Tclose(t);
}

static herr_t probe_link_cb(hid_t g, const char *name, const H5L_info_t *info,
                            void *op)
{
    (void)info;
    probe_state *ps = op;
    probe_at(ps, "link '%s' in '%s'", name, ps->obj);
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0) probe_failed(ps);
    return 0;
}

static herr_t probe_obj_cb(hid_t root, const char *name,
                           const H5O_info_t *info, void *op)
{
    probe_state *ps = op;
    snprintf(ps->obj, sizeof ps->obj, "/%s", strcmp(name, ".") ? name : "");
    ps->addr = info->addr;
    probe_at(ps, "object '%s'", ps->obj);
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0) {
        probe_failed(ps);
        return 0;
    }
    hsize_t idx = 0;
    probe_at(ps, "the attributes of '%s'", ps->obj);
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, probe_attr_cb, ps) < 0)
        probe_failed(ps);
    if (info->type == H5O_TYPE_DATASET) probe_dataset(ps, o);
    idx = 0;
    probe_at(ps, "the links of '%s'", ps->obj);
    if (info->type == H5O_TYPE_GROUP &&
        H5Literate(o, H5_INDEX_NAME, H5_ITER_INC, &idx, probe_link_cb, ps) < 0)
        probe_failed(ps);
    H5Oclose(o);
    probe_at(ps, "the objects after '%s'", ps->obj);
    return 0;
}

/* The walk; returns the child's exit status.  Nothing is closed: the
 * child ends right after. */
static int probe_walk(const char *path, probe_state *ps)
{
    probe_at(ps, "its superblock and root group");
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) {
        probe_failed(ps);
        return PROBE_HDF5;
    }
    ps->opened = 1;
    probe_at(ps, "its objects");
    if (H5Ovisit2(fid, H5_INDEX_NAME, H5_ITER_INC, probe_obj_cb, ps,
                  H5O_INFO_ALL) < 0)
        probe_failed(ps);
    return ps->hdf5_error ? PROBE_HDF5 : 0;
}

/* Set limit res to want (and its hard limit to hard), within the
 * inherited hard limit. */
static void probe_rlimit(int res, rlim_t want, rlim_t hard)
{
    struct rlimit r;
    if (getrlimit(res, &r) != 0) return;
    if (r.rlim_max != RLIM_INFINITY && hard > r.rlim_max) hard = r.rlim_max;
    r.rlim_cur = want < hard ? want : hard;
    r.rlim_max = hard;
    setrlimit(res, &r);
}

/* The address space the process maps now, in bytes (0 if unknown). */
static uint64_t probe_vm_size(void)
{
    char buf[64] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unsigned long long pages = n > 0 ? strtoull(buf, NULL, 10) : 0;
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void probe_died(void) { _exit(PROBE_DIED); }

/* Default signal actions, nothing blocked, no core file, the CPU, wall
 * time and memory limits.  The memory limit is relative to the address
 * space inherited (under AddressSanitizer that includes its shadow, so
 * the limit does not break it; its allocator maps small chunks inside a
 * region it reserved at start, so there only large allocations count). */
static void probe_limits(uint64_t file_size)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 65; s++)
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    probe_rlimit(RLIMIT_CORE, 0, 0);
    probe_rlimit(RLIMIT_CPU, PROBE_CPU_S, PROBE_CPU_S + 1);
    uint64_t vm = probe_vm_size();
    if (vm) {
        rlim_t as = (rlim_t)(vm + probe_budget(file_size));
        probe_rlimit(RLIMIT_AS, as, as);
    }
    alarm(PROBE_WALL_S);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(probe_died);
}

static _Noreturn void probe_child(const char *path, int out, uint64_t size,
                                  probe_state *ps)
{
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    if (out > STDERR_FILENO) close(out);
    probe_limits(size);
    _exit(probe_walk(path, ps));
}

/* Everything the child writes (the first PROBE_OUT - 1 bytes of it). */
static void probe_drain(int fd, char *out)
{
    size_t n = 0;
    char sink[4096];
    for (;;) {
        int keep = n < PROBE_OUT - 1;
        ssize_t r = read(fd, keep ? out + n : sink,
                         keep ? PROBE_OUT - 1 - n : sizeof sink);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (keep) n += (size_t)r;
    }
    out[n] = '\0';
}

static const char *probe_signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGXCPU: return "SIGXCPU";
    case SIGALRM: return "SIGALRM";
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    case SIGPIPE: return "SIGPIPE";
    default: return "a signal";
    }
}

/* What a sanitizer's report in out says stopped the child, e.g.
 * "heap-buffer-overflow"; NULL for running out of memory. */
static const char *probe_report(const char *out, char *buf, size_t len)
{
    static const char *const oom[] = {"out of memory", "failed to allocate",
                                      "allocation-size-too-big",
                                      "allocation size", "rss-limit", NULL};
    const char *e = strstr(out, "ERROR: ");
    if (!e) return strstr(out, "runtime error") ? "undefined behaviour"
                                                : "stopped by a sanitizer";
    size_t n = strcspn(e, "\n");
    for (int i = 0; oom[i]; i++) {
        const char *hit = strstr(e, oom[i]);
        if (hit && hit < e + n) return NULL;
    }
    const char *t = strstr(e, "Sanitizer: ");
    if (!t || t > e + n) return "stopped by a sanitizer";
    t += strlen("Sanitizer: ");
    snprintf(buf, len, "%.*s", (int)strcspn(t, " \n"), t);
    return buf;
}

static int probe_nomem(const char *path, const probe_state *ps,
                       uint64_t size)
{
    return DQ_ERROR(DQ_EFORMAT, "%s: corrupt HDF5 file: reading %s needs "
                    "more than the %llu MiB of memory allowed for it", path,
                    ps->where,
                    (unsigned long long)(probe_budget(size) >> 20));
}

static int probe_crashed(const char *path, const probe_state *ps,
                         const char *why)
{
    return DQ_ERROR(DQ_EFORMAT, "%s: corrupt HDF5 file: the HDF5 library "
                    "crashed while reading %s (%s)", path, ps->where, why);
}

/* The verdict on a child that exited with status code. */
static int probe_exited(const char *path, int code, const char *out,
                        const probe_state *ps, uint64_t size)
{
    char why[128];
    switch (code) {
    case 0:
    case PROBE_HDF5:
        if (!ps->opened) /* the loader would fail the same way */
            return DQ_ERROR(DQ_EFORMAT, "%s: corrupt or truncated HDF5 file",
                            path);
        if (ps->overflow)
            return DQ_ERROR(DQ_EFORMAT, "%s: its attributes take more than "
                            "%zu MiB", path, PROBE_SNAP >> 20);
        return DQ_OK; /* the loaders report HDF5's errors */
    case PROBE_NOMEM: return probe_nomem(path, ps, size);
    case PROBE_DIED: {
        const char *r = probe_report(out, why, sizeof why);
        return r ? probe_crashed(path, ps, r) : probe_nomem(path, ps, size);
    }
    default:
        return DQ_ERROR(DQ_EIO, "%s: cannot check the HDF5 file: its check "
                        "exited with status %d", path, code);
    }
}

/* The verdict on a child that ended with wait status st. */
static int probe_verdict(const char *path, int st, const char *out,
                         const probe_state *ps, uint64_t size)
{
    if (WIFEXITED(st))
        return probe_exited(path, WEXITSTATUS(st), out, ps, size);
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    if (sig == SIGXCPU || sig == SIGALRM)
        return DQ_ERROR(DQ_EFORMAT, "%s: corrupt HDF5 file: reading %s takes "
                        "more than %d s of CPU or %d s in all (the HDF5 "
                        "library loops on it)", path, ps->where, PROBE_CPU_S,
                        PROBE_WALL_S);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
        return DQ_ERROR(DQ_EIO, "%s: the check of the HDF5 file was "
                        "interrupted (signal %d, %s)", path, sig,
                        probe_signame(sig));
    char why[64];
    snprintf(why, sizeof why, "signal %d, %s", sig, probe_signame(sig));
    return probe_crashed(path, ps, why);
}

/* Collect the child's output and its wait status. */
static int probe_wait(const char *path, pid_t pid, int fd, char *out, int *st)
{
    probe_drain(fd, out);
    close(fd);
    pid_t w;
    while ((w = waitpid(pid, st, 0)) < 0 && errno == EINTR) {}
    if (w < 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot check the HDF5 file: waitpid: %s",
                        path, strerror(errno));
    return DQ_OK;
}

static int probe_enabled(void)
{
    const char *v = getenv("DNATEQ_H5_PROBE");
    return !v || strcmp(v, "0") != 0;
}

/* Fork the child with a pipe for its output and the shared state ps; the
 * parent gets its verdict. */
static int probe_run(const char *path, uint64_t size, probe_state *ps)
{
    int fds[2];
    if (pipe(fds) != 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot check the HDF5 file: pipe: %s",
                        path, strerror(errno));
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fflush(stdout); /* nothing buffered is written twice */
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        probe_child(path, fds[1], size, ps);
    }
    int err = errno;
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return DQ_ERROR(DQ_EIO, "%s: cannot check the HDF5 file: fork: %s "
                        "(DNATEQ_H5_PROBE=0 skips the check)", path,
                        strerror(err));
    }
    char out[PROBE_OUT];
    int st = 0;
    int rc = probe_wait(path, pid, fds[0], out, &st);
    return rc == DQ_OK ? probe_verdict(path, st, out, ps, size) : rc;
}

/* ---- the attribute snapshot, parent side ---------------------------------- */

struct h5_attr {
    uint64_t addr;
    const char *name;
    int status, cls;
    int64_t np;
    const unsigned char *val;
    uint64_t len;
};

static int snap_cmp(const void *pa, const void *pb)
{
    const h5_attr *a = pa, *b = pb;
    if (a->addr != b->addr) return a->addr < b->addr ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The values of a record hold what its class promises (else unreadable). */
static void snap_check(h5_attr *a)
{
    uint64_t want = a->cls == H5T_INTEGER ? 16 : a->cls == H5T_FLOAT ? 8 : 0;
    int ok = a->cls == H5T_STRING
                 ? a->np != 1 || (a->len && !a->val[a->len - 1])
                 : !want || a->np <= 0 || a->len / want == (uint64_t)a->np;
    if (a->status == SNAP_OK && !ok) a->status = SNAP_NOREAD;
}

/* Parse the records of snap (n bytes) into a (NULL: count them only). */
static int snap_parse(const unsigned char *snap, uint64_t n, h5_attr *a)
{
    uint64_t off = 0;
    int k = 0;
    snap_rec r;
    while (n - off >= sizeof r) {
        memcpy(&r, snap + off, sizeof r);
        uint64_t body = (uint64_t)r.name_len + 1 + r.len;
        if (body > n - off - sizeof r) break;
        if (a) {
            const unsigned char *name = snap + off + sizeof r;
            a[k] = (h5_attr){r.addr, (const char *)name, r.status, r.cls,
                             r.np, name + r.name_len + 1, r.len};
            snap_check(&a[k]);
        }
        k++;
        off += sizeof r + body;
    }
    return k;
}

/* Keep the snapshot of ps in f, its attributes sorted by object and name. */
static int snap_load(dq_h5 *f, const probe_state *ps)
{
    f->snap = malloc(ps->used ? ps->used : 1);
    int n = snap_parse(ps->data, ps->used, NULL);
    f->attrs = calloc((size_t)(n ? n : 1), sizeof *f->attrs);
    if (!f->snap || !f->attrs)
        return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", f->path);
    memcpy(f->snap, ps->data, ps->used);
    f->n_attrs = snap_parse(f->snap, ps->used, f->attrs);
    qsort(f->attrs, (size_t)f->n_attrs, sizeof *f->attrs, snap_cmp);
    f->snapped = 1;
    return DQ_OK;
}

/* Run the probe; when f is not NULL, keep its snapshot there. */
static int h5_probe(const char *path, dq_h5 *f)
{
    if (!probe_enabled()) return DQ_OK;
    h5_quiet();
    struct stat sb;
    if (stat(path, &sb) != 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t len = sizeof(probe_state) + PROBE_SNAP;
    probe_state *ps = mmap(NULL, len, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ps == MAP_FAILED)
        return DQ_ERROR(DQ_EIO, "%s: cannot check the HDF5 file: mmap: %s",
                        path, strerror(errno));
    int rc = probe_run(path, (uint64_t)sb.st_size, ps);
    if (rc == DQ_OK && f) rc = snap_load(f, ps);
    munmap(ps, len);
    return rc;
}

int dq_h5_probe(const char *path) { return h5_probe(path, NULL); }

dq_h5 *dq_h5_open(const char *path, const char *format, int max_version)
{
    h5_quiet();
    if (access(path, R_OK) != 0)
        DQ_ERROR_NULL(DQ_EIO, "%s: cannot open: no such file or not readable",
                      path);
    if (H5Fis_hdf5(path) <= 0)
        DQ_ERROR_NULL(DQ_EFORMAT, "%s: not an HDF5 file (bad signature or "
                      "truncated)", path);
    if (h5_check_global_heaps(path) != DQ_OK) return NULL;
    dq_h5 *f = calloc(1, sizeof *f);
    if (!f) DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", path);
    f->fid = -1;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        DQ_ERROR_NULL(DQ_ENOMEM, "%s: out of memory", path);
    }
    if (h5_probe(path, f) != DQ_OK) {
        h5_free(f);
        return NULL;
    }
    f->fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->fid < 0) {
        dq_error_set(DQ_EFORMAT, "%s: corrupt or truncated HDF5 file", path);
        h5_free(f);
        return NULL;
    }
    char *fmt = NULL;
    int64_t ver = 0;
    if (dq_h5_get_attr_str(f, "/", "format", &fmt) != DQ_OK) {
        dq_error_set(DQ_EFORMAT, "%s: not a dnateq file (no 'format' "
                     "attribute)", path);
        dq_h5_close(f);
        return NULL;
    }
    snprintf(f->format, sizeof f->format, "%s", fmt);
    free(fmt);
    if (format && strcmp(f->format, format) != 0) {
        dq_error_set(DQ_EFORMAT, "%s: format is '%s', expected '%s'", path,
                     f->format, format);
        dq_h5_close(f);
        return NULL;
    }
    if (dq_h5_get_attr_int(f, "/", "version", &ver) != DQ_OK) {
        dq_error_set(DQ_EFORMAT, "%s: no 'version' attribute", path);
        dq_h5_close(f);
        return NULL;
    }
    if (ver < 1 || ver > max_version) {
        dq_error_set(DQ_EFORMAT, "%s: %s version %lld is not supported (this "
                     "build reads 1..%d)", path, f->format, (long long)ver,
                     max_version);
        dq_h5_close(f);
        return NULL;
    }
    f->version = (int)ver;
    return f;
}

void dq_h5_close(dq_h5 *f)
{
    if (!f) return;
    if (f->fid >= 0) H5Fclose(f->fid);
    h5_free(f);
}

int dq_h5_exists(dq_h5 *f, const char *obj)
{
    if (strcmp(obj, "/") == 0) return 1;
    /* Check each prefix: H5Lexists fails when an intermediate is missing. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", obj);
    for (char *s = buf + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (H5Lexists(f->fid, buf, H5P_DEFAULT) <= 0) return 0;
            if (c == '\0') return 1;
            *s = c;
        }
    }
}

int dq_h5_mkgroup(dq_h5 *f, const char *obj)
{
    if (dq_h5_exists(f, obj)) return DQ_OK;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0); /* no timestamps: reproducible bytes */
    hid_t g = H5Gcreate2(f->fid, obj, lcpl, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    H5Pclose(lcpl);
    if (g < 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot create group '%s'", f->path, obj);
    H5Gclose(g);
    return DQ_OK;
}

/* Create parent groups of obj. */
static int h5_parents(dq_h5 *f, const char *obj)
{
    const char *slash = strrchr(obj, '/');
    if (!slash || slash == obj) return DQ_OK;
    char buf[1024];
    snprintf(buf, sizeof buf, "%.*s", (int)(slash - obj), obj);
    return dq_h5_mkgroup(f, buf);
}

/* Write a dataset of rank/dims with a memory type; optional gzip. */
static int h5_write(dq_h5 *f, const char *obj, hid_t filetype, hid_t memtype,
                    int rank, const hsize_t *dims, const void *buf,
                    int compress)
{
    DQ_TRY(h5_parents(f, obj));
    if (dq_h5_exists(f, obj) && H5Ldelete(f->fid, obj, H5P_DEFAULT) < 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot replace '%s'", f->path, obj);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0); /* no timestamps: reproducible bytes */
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    if (compress && rank > 0 && n >= 1024) {
        /* Chunks of whole trailing rows, about 256K elements each. */
        hsize_t chunk[H5S_MAX_RANK];
        hsize_t inner = 1;
        for (int i = 1; i < rank; i++) { chunk[i] = dims[i]; inner *= dims[i]; }
        hsize_t rows = inner ? (262144 + inner - 1) / inner : 1;
        chunk[0] = rows < dims[0] ? rows : dims[0];
        if (chunk[0] == 0) chunk[0] = 1;
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 4);
    }
    hid_t ds = H5Dcreate2(f->fid, obj, filetype, space, H5P_DEFAULT, dcpl,
                          H5P_DEFAULT);
    herr_t st = ds < 0 ? -1 : H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL,
                                      H5P_DEFAULT, buf);
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (st < 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot write dataset '%s'", f->path, obj);
    return DQ_OK;
}

int dq_h5_write_tensor(dq_h5 *f, const char *obj, const dq_tensor *t,
                       int compress)
{
    hsize_t dims[DQ_MAX_RANK];
    for (int i = 0; i < t->rank; i++) dims[i] = (hsize_t)t->shape[i];
    return h5_write(f, obj, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->rank, dims,
                    t->data, compress);
}

/* deflate never compresses more than 1032:1, so a dataset cannot hold more
 * than this many bytes per byte it stores (plus a small allowance). */
#define H5_MAX_RATIO 1032
#define H5_SLACK 4096

/* The dataspace of dataset ds (rank r, dims, elements of elsize bytes)
 * must fit in what the file stores for it: a corrupt dataspace would
 * otherwise make the reader allocate whatever it claims. */
static int h5_check_extent(dq_h5 *f, const char *obj, hid_t ds, int r,
                           const hsize_t *dims, size_t elsize)
{
    uint64_t bytes = elsize, stored = (uint64_t)H5Dget_storage_size(ds);
    int over = 0;
    for (int i = 0; i < r; i++) {
        if (dims[i] && bytes > UINT64_MAX / dims[i]) over = 1;
        else bytes *= dims[i];
    }
    if (!over && bytes <= (stored > (UINT64_MAX - H5_SLACK) / H5_MAX_RATIO
                               ? UINT64_MAX
                               : stored * H5_MAX_RATIO + H5_SLACK))
        return DQ_OK;
    return DQ_ERROR(DQ_EFORMAT, "%s: dataset '%s' claims %s%llu bytes but "
                    "the file stores %llu for it (corrupt dataspace)",
                    f->path, obj, over ? "more than " : "",
                    (unsigned long long)bytes, (unsigned long long)stored);
}

/* Open dataset obj, check its type class/size and return rank and dims. */
static hid_t h5_open_ds(dq_h5 *f, const char *obj, H5T_class_t want,
                        size_t want_size, const char *want_name, int *rank,
                        hsize_t *dims)
{
    if (!dq_h5_exists(f, obj)) {
        dq_error_set(DQ_EFORMAT, "%s: dataset '%s' is missing", f->path, obj);
        return -1;
    }
    hid_t ds = H5Dopen2(f->fid, obj, H5P_DEFAULT);
    if (ds < 0) {
        dq_error_set(DQ_EFORMAT, "%s: '%s' is not a readable dataset", f->path,
                     obj);
        return -1;
    }
    hid_t type = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    H5Tclose(type);
    if (cls != want || (want_size && size != want_size)) {
        dq_error_set(DQ_EFORMAT, "%s: dataset '%s' has the wrong dtype "
                     "(expected %s)", f->path, obj, want_name);
        H5Dclose(ds);
        return -1;
    }
    hid_t space = H5Dget_space(ds);
    int r = H5Sget_simple_extent_ndims(space);
    if (r < 0 || r > DQ_MAX_RANK) {
        dq_error_set(DQ_EFORMAT, "%s: dataset '%s' has rank %d (max %d)",
                     f->path, obj, r, DQ_MAX_RANK);
        H5Sclose(space);
        H5Dclose(ds);
        return -1;
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    if (h5_check_extent(f, obj, ds, r, dims, size) != DQ_OK) {
        H5Dclose(ds);
        return -1;
    }
    *rank = r;
    return ds;
}

int dq_h5_read_tensor_rank(dq_h5 *f, const char *obj, int rank,
                           dq_tensor **out)
{
    *out = NULL;
    int r;
    hsize_t dims[H5S_MAX_RANK];
    hid_t ds = h5_open_ds(f, obj, H5T_FLOAT, 4, "float32", &r, dims);
    if (ds < 0) return dq_error_status();
    if (rank >= 0 && r != rank) {
        H5Dclose(ds);
        return DQ_ERROR(DQ_EFORMAT, "%s: dataset '%s' has rank %d, expected %d",
                        f->path, obj, r, rank);
    }
    int64_t shape[DQ_MAX_RANK];
    for (int i = 0; i < r; i++) shape[i] = (int64_t)dims[i];
    const char *base = strrchr(obj, '/');
    dq_tensor *t = dq_tensor_alloc(base ? base + 1 : obj, r, shape);
    if (!t) {
        H5Dclose(ds);
        return dq_error_prefix(dq_error_status(), "%s: '%s'", f->path, obj);
    }
    herr_t st = t->size ? H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                                  H5P_DEFAULT, t->data) : 0;
    H5Dclose(ds);
    if (st < 0) {
        dq_tensor_free(t);
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot read dataset '%s' (corrupt or "
                        "truncated file)", f->path, obj);
    }
    *out = t;
    return DQ_OK;
}

int dq_h5_read_tensor(dq_h5 *f, const char *obj, dq_tensor **out)
{
    return dq_h5_read_tensor_rank(f, obj, -1, out);
}

static int h5_read_1d(dq_h5 *f, const char *obj, H5T_class_t cls, hid_t mem,
                      size_t elsize, const char *what, void **v, int64_t *n)
{
    int r;
    hsize_t dims[H5S_MAX_RANK];
    *v = NULL;
    hid_t ds = h5_open_ds(f, obj, cls, 0, what, &r, dims);
    if (ds < 0) return dq_error_status();
    if (r != 1) {
        H5Dclose(ds);
        return DQ_ERROR(DQ_EFORMAT, "%s: dataset '%s' has rank %d, expected 1",
                        f->path, obj, r);
    }
    void *buf = malloc((size_t)(dims[0] ? dims[0] : 1) * elsize);
    if (!buf) {
        H5Dclose(ds);
        return DQ_ERROR(DQ_ENOMEM, "%s: '%s': out of memory", f->path, obj);
    }
    herr_t st = dims[0] ? H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)
                        : 0;
    H5Dclose(ds);
    if (st < 0) {
        free(buf);
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot read dataset '%s' (corrupt or "
                        "truncated file)", f->path, obj);
    }
    *v = buf;
    *n = (int64_t)dims[0];
    return DQ_OK;
}

int dq_h5_write_ints(dq_h5 *f, const char *obj, const int64_t *v, int64_t n)
{
    hsize_t d = (hsize_t)n;
    return h5_write(f, obj, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &d, v, 1);
}

int dq_h5_read_ints(dq_h5 *f, const char *obj, int64_t **v, int64_t *n)
{
    return h5_read_1d(f, obj, H5T_INTEGER, H5T_NATIVE_INT64, sizeof(int64_t),
                      "integer", (void **)v, n);
}

int dq_h5_write_doubles(dq_h5 *f, const char *obj, const double *v, int64_t n)
{
    hsize_t d = (hsize_t)n;
    return h5_write(f, obj, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &d, v, 1);
}

int dq_h5_read_doubles(dq_h5 *f, const char *obj, double **v, int64_t *n)
{
    return h5_read_1d(f, obj, H5T_FLOAT, H5T_NATIVE_DOUBLE, sizeof(double),
                      "float", (void **)v, n);
}

/* ---- attributes ---------------------------------------------------- */

/* A file opened for reading answers from the probe's snapshot (snap_*),
 * with the same results and messages as HDF5 would give; a file being
 * written, or read without the probe, asks HDF5 (h5_*). */

/* The snapshot's attribute name of obj, or NULL. */
static const h5_attr *snap_find(dq_h5 *f, const char *obj, const char *name)
{
    H5O_info_t oi;
    if (!dq_h5_exists(f, obj) ||
        H5Oget_info_by_name2(f->fid, obj, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return NULL;
    h5_attr key = {.addr = oi.addr, .name = name};
    return bsearch(&key, f->attrs, (size_t)f->n_attrs, sizeof key, snap_cmp);
}

/* As h5_attr_open: NULL with the error set unless the attribute exists,
 * opened, and is of class cls (or an integer, when cls is H5T_FLOAT). */
static const h5_attr *snap_attr(dq_h5 *f, const char *obj, const char *name,
                                H5T_class_t cls, const char *what)
{
    const h5_attr *a = snap_find(f, obj, name);
    if (!a)
        dq_error_set(DQ_EFORMAT, "%s: '%s' has no attribute '%s'", f->path,
                     obj, name);
    else if (a->status == SNAP_NOOPEN)
        dq_error_set(DQ_EFORMAT, "%s: cannot open attribute '%s' on '%s'",
                     f->path, name, obj);
    else if (a->cls != (int)cls && !(cls == H5T_FLOAT && a->cls == H5T_INTEGER))
        dq_error_set(DQ_EFORMAT, "%s: attribute '%s' on '%s' is not %s",
                     f->path, name, obj, what);
    else
        return a;
    return NULL;
}

static int snap_get_str(dq_h5 *f, const char *obj, const char *name,
                        char **out)
{
    const h5_attr *a = snap_attr(f, obj, name, H5T_STRING, "a string");
    if (!a) return dq_error_status();
    if (a->np != 1)
        return DQ_ERROR(DQ_EFORMAT, "%s: attribute '%s' on '%s' is not a "
                        "scalar string", f->path, name, obj);
    if (a->status != SNAP_OK)
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot read attribute '%s' on '%s'",
                        f->path, name, obj);
    if (!(*out = strdup((const char *)a->val)))
        return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", f->path);
    return DQ_OK;
}

static int snap_read_array(dq_h5 *f, const char *obj, const char *name,
                           H5T_class_t cls, size_t elsize, const char *what,
                           void *v, int max, int *n)
{
    const h5_attr *a = snap_attr(f, obj, name, cls, what);
    if (!a) return dq_error_status();
    if (a->np < 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: bad attribute '%s' on '%s'", f->path,
                        name, obj);
    *n = 0;
    if (a->np == 0) return DQ_OK;
    if (a->status != SNAP_OK)
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot read attribute '%s' on '%s'",
                        f->path, name, obj);
    /* an integer attribute holds its values as int64, then as double */
    size_t skip = cls == H5T_FLOAT && a->cls == H5T_INTEGER ? 8 : 0;
    memcpy(v, a->val + skip * (size_t)a->np,
           (size_t)(a->np < max ? a->np : max) * elsize);
    *n = (int)a->np;
    return DQ_OK;
}

int dq_h5_has_attr(dq_h5 *f, const char *obj, const char *name)
{
    if (f->snapped) return snap_find(f, obj, name) != NULL;
    if (!dq_h5_exists(f, obj)) return 0;
    return H5Aexists_by_name(f->fid, obj, name, H5P_DEFAULT) > 0;
}

static int h5_attr_write(dq_h5 *f, const char *obj, const char *name,
                         hid_t type, hid_t memtype, hid_t space,
                         const void *buf)
{
    if (strcmp(obj, "/") != 0 && !dq_h5_exists(f, obj))
        DQ_TRY(dq_h5_mkgroup(f, obj));
    if (dq_h5_has_attr(f, obj, name))
        H5Adelete_by_name(f->fid, obj, name, H5P_DEFAULT);
    hid_t a = H5Acreate_by_name(f->fid, obj, name, type, space, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : H5Awrite(a, memtype, buf);
    if (a >= 0) H5Aclose(a);
    if (st < 0)
        return DQ_ERROR(DQ_EIO, "%s: cannot write attribute '%s' on '%s'",
                        f->path, name, obj);
    return DQ_OK;
}

int dq_h5_set_attr_str(dq_h5 *f, const char *obj, const char *name,
                       const char *val)
{
    /* Variable-length UTF-8, as h5py writes Python str attributes. */
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    const char *p = val ? val : "";
    int rc = h5_attr_write(f, obj, name, type, type, space, &p);
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

static int h5_attr_scalar(dq_h5 *f, const char *obj, const char *name,
                          hid_t ftype, hid_t mtype, const void *v)
{
    hid_t space = H5Screate(H5S_SCALAR);
    int rc = h5_attr_write(f, obj, name, ftype, mtype, space, v);
    H5Sclose(space);
    return rc;
}

int dq_h5_set_attr_int(dq_h5 *f, const char *obj, const char *name, int64_t v)
{
    return h5_attr_scalar(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int dq_h5_set_attr_double(dq_h5 *f, const char *obj, const char *name,
                          double v)
{
    return h5_attr_scalar(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int h5_attr_array(dq_h5 *f, const char *obj, const char *name,
                         hid_t ftype, hid_t mtype, const void *v, int n)
{
    hsize_t d = (hsize_t)n;
    hid_t space = n > 0 ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_NULL);
    int rc = h5_attr_write(f, obj, name, ftype, mtype, space, v);
    H5Sclose(space);
    return rc;
}

int dq_h5_set_attr_ints(dq_h5 *f, const char *obj, const char *name,
                        const int64_t *v, int n)
{
    return h5_attr_array(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v, n);
}

int dq_h5_set_attr_doubles(dq_h5 *f, const char *obj, const char *name,
                           const double *v, int n)
{
    return h5_attr_array(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, n);
}

/* Open attribute name on obj and check its class; -1 with error set. */
static hid_t h5_attr_open(dq_h5 *f, const char *obj, const char *name,
                          H5T_class_t cls, const char *what)
{
    if (!dq_h5_has_attr(f, obj, name)) {
        dq_error_set(DQ_EFORMAT, "%s: '%s' has no attribute '%s'", f->path, obj,
                     name);
        return -1;
    }
    hid_t a = H5Aopen_by_name(f->fid, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        dq_error_set(DQ_EFORMAT, "%s: cannot open attribute '%s' on '%s'",
                     f->path, name, obj);
        return -1;
    }
    hid_t t = H5Aget_type(a);
    H5T_class_t c = H5Tget_class(t);
    H5Tclose(t);
    int ok = c == cls || (cls == H5T_FLOAT && c == H5T_INTEGER);
    if (!ok) {
        dq_error_set(DQ_EFORMAT, "%s: attribute '%s' on '%s' is not %s",
                     f->path, name, obj, what);
        H5Aclose(a);
        return -1;
    }
    return a;
}

int dq_h5_get_attr_str(dq_h5 *f, const char *obj, const char *name, char **out)
{
    *out = NULL;
    if (f->snapped) return snap_get_str(f, obj, name, out);
    hid_t a = h5_attr_open(f, obj, name, H5T_STRING, "a string");
    if (a < 0) return dq_error_status();
    hid_t ft = H5Aget_type(a);
    hid_t space = H5Aget_space(a);
    int scalar = H5Sget_simple_extent_npoints(space) == 1;
    H5Sclose(space);
    int rc = DQ_OK;
    if (!scalar) {
        rc = DQ_ERROR(DQ_EFORMAT, "%s: attribute '%s' on '%s' is not a scalar "
                      "string", f->path, name, obj);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) {
            rc = DQ_ERROR(DQ_EFORMAT, "%s: cannot read attribute '%s' on '%s'",
                          f->path, name, obj);
        } else {
            *out = strdup(s);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        char *s = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        if (!s || H5Aread(a, mt, s) < 0) {
            free(s);
            rc = DQ_ERROR(DQ_EFORMAT, "%s: cannot read attribute '%s' on '%s'",
                          f->path, name, obj);
        } else {
            *out = s;
        }
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (rc == DQ_OK && !*out)
        rc = DQ_ERROR(DQ_ENOMEM, "%s: out of memory", f->path);
    return rc;
}

static int h5_attr_read_array(dq_h5 *f, const char *obj, const char *name,
                              H5T_class_t cls, hid_t mtype, size_t elsize,
                              const char *what, void *v, int max, int *n)
{
    if (f->snapped)
        return snap_read_array(f, obj, name, cls, elsize, what, v, max, n);
    hid_t a = h5_attr_open(f, obj, name, cls, what);
    if (a < 0) return dq_error_status();
    hid_t space = H5Aget_space(a);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    int rc = DQ_OK;
    if (np < 0) {
        rc = DQ_ERROR(DQ_EFORMAT, "%s: bad attribute '%s' on '%s'", f->path,
                      name, obj);
    } else if (np == 0) {
        *n = 0;
    } else {
        void *buf = malloc((size_t)np * elsize);
        if (!buf || H5Aread(a, mtype, buf) < 0) {
            rc = DQ_ERROR(DQ_EFORMAT, "%s: cannot read attribute '%s' on '%s'",
                          f->path, name, obj);
        } else {
            memcpy(v, buf, (size_t)(np < max ? np : max) * elsize);
            *n = (int)np;
        }
        free(buf);
    }
    H5Aclose(a);
    return rc;
}

int dq_h5_get_attr_int(dq_h5 *f, const char *obj, const char *name,
                       int64_t *out)
{
    int n = 0;
    DQ_TRY(h5_attr_read_array(f, obj, name, H5T_INTEGER, H5T_NATIVE_INT64,
                              sizeof(int64_t), "an integer", out, 1, &n));
    if (n != 1)
        return DQ_ERROR(DQ_EFORMAT, "%s: attribute '%s' on '%s' is not a "
                        "scalar", f->path, name, obj);
    return DQ_OK;
}

int dq_h5_get_attr_double(dq_h5 *f, const char *obj, const char *name,
                          double *out)
{
    int n = 0;
    DQ_TRY(h5_attr_read_array(f, obj, name, H5T_FLOAT, H5T_NATIVE_DOUBLE,
                              sizeof(double), "a number", out, 1, &n));
    if (n != 1)
        return DQ_ERROR(DQ_EFORMAT, "%s: attribute '%s' on '%s' is not a "
                        "scalar", f->path, name, obj);
    return DQ_OK;
}

int dq_h5_get_attr_ints(dq_h5 *f, const char *obj, const char *name,
                        int64_t *v, int max, int *n)
{
    return h5_attr_read_array(f, obj, name, H5T_INTEGER, H5T_NATIVE_INT64,
                              sizeof(int64_t), "integers", v, max, n);
}

int dq_h5_get_attr_doubles(dq_h5 *f, const char *obj, const char *name,
                           double *v, int max, int *n)
{
    return h5_attr_read_array(f, obj, name, H5T_FLOAT, H5T_NATIVE_DOUBLE,
                              sizeof(double), "numbers", v, max, n);
}

/* ---- listing -------------------------------------------------------- */

typedef struct {
    char **names;
    int n, cap;
} h5_names;

static int names_push(h5_names *ls, const char *name)
{
    if (ls->n == ls->cap) {
        int cap = ls->cap ? ls->cap * 2 : 16;
        char **nn = realloc(ls->names, (size_t)cap * sizeof *nn);
        if (!nn) return -1;
        ls->names = nn;
        ls->cap = cap;
    }
    ls->names[ls->n] = strdup(name);
    if (!ls->names[ls->n]) return -1;
    ls->n++;
    return 0;
}

static herr_t h5_list_cb(hid_t g, const char *name, const H5L_info_t *info,
                         void *op)
{
    (void)g;
    (void)info;
    return names_push(op, name);
}

int dq_h5_list(dq_h5 *f, const char *group, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    if (!dq_h5_exists(f, group))
        return DQ_ERROR(DQ_EFORMAT, "%s: group '%s' is missing", f->path, group);
    hid_t g = H5Gopen2(f->fid, group, H5P_DEFAULT);
    if (g < 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s' is not a group", f->path, group);
    h5_names ls = {0};
    hsize_t idx = 0;
    herr_t st = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_list_cb,
                            &ls);
    H5Gclose(g);
    if (st < 0) {
        dq_h5_list_free(ls.names, ls.n);
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot list group '%s'", f->path,
                        group);
    }
    *names = ls.names;
    *n = ls.n;
    return DQ_OK;
}

void dq_h5_list_free(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int dq_h5_is_group(dq_h5 *f, const char *obj)
{
    if (!dq_h5_exists(f, obj))
        return -DQ_ERROR(DQ_EFORMAT, "%s: '%s' is missing", f->path, obj);
    hid_t o = H5Oopen(f->fid, obj, H5P_DEFAULT);
    if (o < 0)
        return -DQ_ERROR(DQ_EFORMAT, "%s: cannot open '%s'", f->path, obj);
    int is_group = H5Iget_type(o) == H5I_GROUP;
    H5Oclose(o);
    return is_group;
}

/* ---- introspection -------------------------------------------------- */

static dq_h5_kind h5_kind_of(int cls)
{
    switch (cls) {
    case H5T_INTEGER: return DQ_H5_INT;
    case H5T_FLOAT: return DQ_H5_FLOAT;
    case H5T_STRING: return DQ_H5_STRING;
    default: return DQ_H5_OTHER;
    }
}

static dq_h5_kind h5_kind(hid_t type) { return h5_kind_of(H5Tget_class(type)); }

/* The snapshot's attribute names of obj, in name order. */
static int snap_list_attrs(dq_h5 *f, const char *obj, h5_names *ls)
{
    H5O_info_t oi;
    if (H5Oget_info_by_name2(f->fid, obj, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot open '%s'", f->path, obj);
    for (int i = 0; i < f->n_attrs; i++)
        if (f->attrs[i].addr == oi.addr && names_push(ls, f->attrs[i].name))
            return DQ_ERROR(DQ_ENOMEM, "%s: out of memory", f->path);
    return DQ_OK;
}

static int snap_attr_info(dq_h5 *f, const char *obj, const char *name,
                          dq_h5_kind *kind, int64_t *len)
{
    const h5_attr *a = snap_find(f, obj, name);
    if (!a)
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s' has no attribute '%s'", f->path,
                        obj, name);
    if (a->status == SNAP_NOOPEN)
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot open attribute '%s' on '%s'",
                        f->path, name, obj);
    *kind = h5_kind_of(a->cls);
    *len = a->np < 0 ? 0 : a->np;
    return DQ_OK;
}

static herr_t h5_attr_list_cb(hid_t loc, const char *name,
                              const H5A_info_t *info, void *op)
{
    (void)loc;
    (void)info;
    return names_push(op, name);
}

int dq_h5_list_attrs(dq_h5 *f, const char *obj, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    if (!dq_h5_exists(f, obj))
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s' is missing", f->path, obj);
    h5_names ls = {0};
    if (f->snapped) {
        int rc = snap_list_attrs(f, obj, &ls);
        if (rc != DQ_OK) dq_h5_list_free(ls.names, ls.n);
        *names = rc == DQ_OK ? ls.names : NULL;
        *n = rc == DQ_OK ? ls.n : 0;
        return rc;
    }
    hid_t o = H5Oopen(f->fid, obj, H5P_DEFAULT);
    if (o < 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot open '%s'", f->path, obj);
    hsize_t idx = 0;
    herr_t st = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx,
                            h5_attr_list_cb, &ls);
    H5Oclose(o);
    if (st < 0) {
        dq_h5_list_free(ls.names, ls.n);
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot list the attributes of '%s'",
                        f->path, obj);
    }
    *names = ls.names;
    *n = ls.n;
    return DQ_OK;
}

int dq_h5_attr_info(dq_h5 *f, const char *obj, const char *name,
                    dq_h5_kind *kind, int64_t *len)
{
    if (f->snapped) return snap_attr_info(f, obj, name, kind, len);
    if (!dq_h5_has_attr(f, obj, name))
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s' has no attribute '%s'", f->path,
                        obj, name);
    hid_t a = H5Aopen_by_name(f->fid, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: cannot open attribute '%s' on '%s'",
                        f->path, name, obj);
    hid_t t = H5Aget_type(a), space = H5Aget_space(a);
    *kind = h5_kind(t);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    *len = np < 0 ? 0 : (int64_t)np;
    H5Sclose(space);
    H5Tclose(t);
    H5Aclose(a);
    return DQ_OK;
}

int dq_h5_dataset_info(dq_h5 *f, const char *obj, dq_h5_kind *kind,
                       int *elsize, int *rank, int64_t *shape)
{
    if (!dq_h5_exists(f, obj))
        return DQ_ERROR(DQ_EFORMAT, "%s: dataset '%s' is missing", f->path,
                        obj);
    hid_t ds = H5Dopen2(f->fid, obj, H5P_DEFAULT);
    if (ds < 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s' is not a readable dataset",
                        f->path, obj);
    hid_t t = H5Dget_type(ds), space = H5Dget_space(ds);
    *kind = h5_kind(t);
    *elsize = (int)H5Tget_size(t);
    int r = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK];
    int rc = DQ_OK;
    if (r < 0 || r > DQ_MAX_RANK) {
        rc = DQ_ERROR(DQ_EFORMAT, "%s: dataset '%s' has rank %d (max %d)",
                      f->path, obj, r, DQ_MAX_RANK);
    } else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        for (int i = 0; i < r; i++) shape[i] = (int64_t)dims[i];
        *rank = r;
    }
    H5Sclose(space);
    H5Tclose(t);
    H5Dclose(ds);
    return rc;
}
