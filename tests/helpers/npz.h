/*
 * npz.h — a small reader for numpy .npz archives and .npy arrays (test
 * helper for the golden tests), plus a float32 .npy writer.
 *
 * .npz: a zip archive holding one "<name>.npy" member per array, each
 * Stored (method 0) or Deflate-compressed (method 8); zip64 records are
 * understood. Every offset and size read from the file is checked against
 * the file, and each member's CRC32 and sizes are verified.
 *
 * .npy: magic "\x93NUMPY", version 1.0, 2.0 or 3.0, a Python dict literal
 * header {'descr': '<f4', 'fortran_order': False, 'shape': (65, 512), }
 * padded with spaces and '\n', then the data in C order. Supported descr:
 * '<f4', '<f8' (values converted to float), '<i4', '<i8' (converted to
 * int32, an out-of-range value is an error). fortran_order True and
 * big-endian data are refused.
 *
 * Errors follow util.h: functions return 0 or a negative enum err code
 * (constructors return NULL) with a message set by err_set(); nothing is
 * printed. Not thread-safe per object.
 */
#ifndef ATTNSCOPE_TESTS_NPZ_H
#define ATTNSCOPE_TESTS_NPZ_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIM 8

/* One array, owned by the caller: release with npy_array_release(). */
struct npy_array {
	char dtype;                 /* as stored: 'f' <f4, 'd' <f8, 'i' <i4,
	                             * 'l' <i8                                 */
	int ndim;                   /* 0 (a scalar) .. NPY_MAX_DIM            */
	int shape[NPY_MAX_DIM];     /* C order, shape[0] slowest              */
	size_t n;                   /* element count: product of shape        */
	float *fdata;               /* 'f' and 'd': n values, else NULL       */
	int32_t *idata;             /* 'i' and 'l': n values, else NULL       */
};

struct npz;

/*
 * Constructor: read the archive at `path` and index its central
 * directory. Returns NULL on error with the message set: ERR_IO (cannot
 * read), ERR_FORMAT (not a zip, or a record out of bounds),
 * ERR_UNSUPPORTED (multi-disk archive), ERR_NOMEM.
 */
struct npz *npz_open(const char *path);

/* Destructor; accepts NULL. */
void npz_close(struct npz *z);

/* Number of members, and the name of member i ("attn.npy"; NULL when i is
 * out of range; valid until npz_close()). */
int npz_count(const struct npz *z);
const char *npz_name(const struct npz *z, int i);

/*
 * Read the array `name` (the member "<name>.npy"; a name that already
 * ends in ".npy" is used as is) into *out, which is overwritten. Returns
 * 0, or ERR_NOTFOUND (no such member), ERR_FORMAT (bad local header,
 * compressed data, CRC32, size or .npy header), ERR_UNSUPPORTED (other
 * compression, encryption, dtype, fortran order), ERR_RANGE (an int64
 * value does not fit int32, a member larger than 2 GiB), ERR_NOMEM. On
 * error *out is zeroed, so releasing it is harmless.
 */
int npz_get(struct npz *z, const char *name, struct npy_array *out);

/* Read a plain .npy file into *out; errors as npz_get() plus ERR_IO. */
int npy_read(const char *path, struct npy_array *out);

/* Free the data of *a and zero it; accepts NULL and zeroed arrays. */
void npy_array_release(struct npy_array *a);

/*
 * Write `data` (C order, product of shape[0..ndim) floats) as a version 1.0
 * .npy file with descr '<f4', readable by numpy.load. ndim may be 0..8;
 * every shape[k] must be >= 0. Returns 0, ERR_ARG or ERR_IO.
 */
int npy_write_f32(const char *path, const float *data, int ndim,
                  const int *shape);

#endif
