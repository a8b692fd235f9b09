/*
 * npz.c — numpy .npz (zip of .npy members) and .npy reading for the golden
 * tests: zip central directory (zip64 aware), raw-deflate inflation with
 * zlib, CRC32 and size checks, the .npy header dict; and a .npy writer.
 */
#include "npz.h"
#include "util/util.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* a member this large is not test data: refuse before allocating */
#define NPZ_MAX_MEMBER ((uint64_t)1 << 31)

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u

#define EOCD_SIZE 22
#define EOCD64_LOC_SIZE 20
#define EOCD64_SIZE 56
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30

struct npz_entry {
	char *name;             /* NUL-terminated copy                       */
	uint16_t flags;
	uint16_t method;        /* 0 stored, 8 deflate                        */
	uint32_t crc;
	uint64_t csize;         /* compressed size                           */
	uint64_t usize;         /* uncompressed size                         */
	uint64_t local;         /* offset of the local header                */
};

struct npz {
	char *path;
	unsigned char *data;    /* the whole file                            */
	size_t size;
	uint64_t cd_off;        /* member data must end before this          */
	struct npz_entry *e;
	int n;
};

/* ------------------------------------------------------------------------
 * Little-endian reads (callers check bounds first)
 */

static uint16_t
rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* [off, off + len) lies inside [0, size) */
static bool
in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* ------------------------------------------------------------------------
 * .npy
 */

struct npy_header {
	char descr[16];
	int fortran;            /* -1 = missing */
	int ndim;               /* -1 = missing */
	int shape[NPY_MAX_DIM];
};

struct cursor {
	const char *p, *end;
};

static void
skip_ws(struct cursor *c)
{
	while (c->p < c->end &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool
eat(struct cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* a quoted string without escapes into buf */
static bool
parse_str(struct cursor *c, char *buf, size_t size)
{
	skip_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return false;
	char q = *c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '\\' || n + 1 >= size)
			return false;
		buf[n++] = *c->p++;
	}
	if (c->p >= c->end)
		return false;
	c->p++;
	buf[n] = '\0';
	return true;
}

static bool
parse_word(struct cursor *c, const char *w)
{
	size_t n = strlen(w);
	skip_ws(c);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* (a, b, ...) with an optional trailing comma; () is a scalar */
static bool
parse_shape(struct cursor *c, struct npy_header *h)
{
	if (!eat(c, '('))
		return false;
	h->ndim = 0;
	if (eat(c, ')'))
		return true;
	for (;;) {
		skip_ws(c);
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return false;
		long long v = 0;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			v = v * 10 + (*c->p++ - '0');
			if (v > INT_MAX)
				return false;
		}
		if (c->p < c->end && *c->p == 'L')  /* Python 2 long */
			c->p++;
		if (h->ndim == NPY_MAX_DIM)
			return false;
		h->shape[h->ndim++] = (int)v;
		if (eat(c, ')'))
			return true;
		if (!eat(c, ','))
			return false;
		if (eat(c, ')'))
			return true;
	}
}

static bool
parse_dict(const char *s, size_t n, struct npy_header *h)
{
	struct cursor c = { s, s + n };
	char key[32];
	h->descr[0] = '\0';
	h->fortran = -1;
	h->ndim = -1;
	if (!eat(&c, '{'))
		return false;
	while (!eat(&c, '}')) {
		if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
			return false;
		if (strcmp(key, "descr") == 0) {
			if (!parse_str(&c, h->descr, sizeof h->descr))
				return false;
		} else if (strcmp(key, "fortran_order") == 0) {
			if (parse_word(&c, "True"))
				h->fortran = 1;
			else if (parse_word(&c, "False"))
				h->fortran = 0;
			else
				return false;
		} else if (strcmp(key, "shape") == 0) {
			if (!parse_shape(&c, h))
				return false;
		} else {
			return false;
		}
		if (!eat(&c, ',')) {
			if (!eat(&c, '}'))
				return false;
			break;
		}
	}
	skip_ws(&c);
	return c.p == c.end && h->descr[0] && h->fortran >= 0 && h->ndim >= 0;
}

/* Parse a whole .npy image; `what` names it in messages. */
static int
npy_parse(const unsigned char *b, size_t len, const char *what,
          struct npy_array *out)
{
	struct npy_header h;
	size_t hstart, hlen, itemsize, n = 1, bytes;

	memset(out, 0, sizeof *out);
	if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
		return err_set(ERR_FORMAT, "%s: not a .npy array", what);
	if (b[6] == 1) {
		hstart = 10;
		hlen = rd16(b + 8);
	} else if (b[6] == 2 || b[6] == 3) {
		if (len < 12)
			return err_set(ERR_FORMAT, "%s: truncated .npy header", what);
		hstart = 12;
		hlen = rd32(b + 8);
	} else {
		return err_set(ERR_UNSUPPORTED, "%s: .npy version %d.%d", what,
		               b[6], b[7]);
	}
	if (!in_bounds(hstart, hlen, len))
		return err_set(ERR_FORMAT, "%s: truncated .npy header", what);
	if (!parse_dict((const char *)b + hstart, hlen, &h))
		return err_set(ERR_FORMAT, "%s: bad .npy header '%.*s'", what,
		               (int)(hlen < 120 ? hlen : 120),
		               (const char *)b + hstart);
	if (h.fortran)
		return err_set(ERR_UNSUPPORTED, "%s: fortran_order arrays are not "
		               "supported", what);
	if (strcmp(h.descr, "<f4") == 0) {
		out->dtype = 'f';
		itemsize = 4;
	} else if (strcmp(h.descr, "<f8") == 0) {
		out->dtype = 'd';
		itemsize = 8;
	} else if (strcmp(h.descr, "<i4") == 0) {
		out->dtype = 'i';
		itemsize = 4;
	} else if (strcmp(h.descr, "<i8") == 0) {
		out->dtype = 'l';
		itemsize = 8;
	} else {
		out->dtype = 0;
		return err_set(ERR_UNSUPPORTED, "%s: dtype '%s' is not supported",
		               what, h.descr);
	}
	for (int k = 0; k < h.ndim; k++)
		if (ckd_mul_size(&n, n, (size_t)h.shape[k]))
			goto too_big;
	if (ckd_mul_size(&bytes, n, itemsize))
		goto too_big;
	if (len - hstart - hlen != bytes) {
		out->dtype = 0;
		return err_set(ERR_FORMAT, "%s: %zu data bytes, shape needs %zu",
		               what, len - hstart - hlen, bytes);
	}

	const unsigned char *d = b + hstart + hlen;
	if (out->dtype == 'f' || out->dtype == 'd')
		out->fdata = malloc(n ? n * sizeof *out->fdata : 1);
	else
		out->idata = malloc(n ? n * sizeof *out->idata : 1);
	if (!out->fdata && !out->idata) {
		out->dtype = 0;
		return err_set(ERR_NOMEM, "%s: out of memory", what);
	}
	for (size_t k = 0; k < n; k++) {
		const unsigned char *p = d + k * itemsize;
		switch (out->dtype) {
		case 'f': {
			uint32_t u = rd32(p);
			memcpy(&out->fdata[k], &u, 4);
			break;
		}
		case 'd': {
			uint64_t u = rd64(p);
			double v;
			memcpy(&v, &u, 8);
			out->fdata[k] = (float)v;
			break;
		}
		case 'i':
			out->idata[k] = (int32_t)rd32(p);
			break;
		default: {
			int64_t v = (int64_t)rd64(p);
			if (v < INT32_MIN || v > INT32_MAX) {
				npy_array_release(out);
				return err_set(ERR_RANGE, "%s: value %lld at %zu does not "
				               "fit int32", what, (long long)v, k);
			}
			out->idata[k] = (int32_t)v;
		}
		}
	}
	out->ndim = h.ndim;
	memcpy(out->shape, h.shape, sizeof out->shape);
	out->n = n;
	return 0;

too_big:
	out->dtype = 0;
	return err_set(ERR_FORMAT, "%s: shape too large", what);
}

void
npy_array_release(struct npy_array *a)
{
	if (!a)
		return;
	free(a->fdata);
	free(a->idata);
	memset(a, 0, sizeof *a);
}

int
npy_read(const char *path, struct npy_array *out)
{
	char *data, what[512];
	size_t size;
	memset(out, 0, sizeof *out);
	int rc = util_read_file(path, &data, &size);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "npy '%s'", path);
	rc = npy_parse((const unsigned char *)data, size, what, out);
	free(data);
	return rc;
}

int
npy_write_f32(const char *path, const float *data, int ndim, const int *shape)
{
	char hdr[512];
	size_t n = 1, h;
	if (ndim < 0 || ndim > NPY_MAX_DIM || (ndim > 0 && !shape))
		return err_set(ERR_ARG, "npy '%s': bad ndim %d", path, ndim);
	h = (size_t)snprintf(hdr, sizeof hdr,
	                     "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	for (int k = 0; k < ndim; k++) {
		if (shape[k] < 0 || ckd_mul_size(&n, n, (size_t)shape[k]))
			return err_set(ERR_ARG, "npy '%s': bad shape", path);
		h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s%d",
		                      k ? ", " : "", shape[k]);
	}
	h += (size_t)snprintf(hdr + h, sizeof hdr - h, "%s), }",
	                      ndim == 1 ? "," : "");
	if (n > 0 && !data)
		return err_set(ERR_ARG, "npy '%s': no data", path);
	/* pad with spaces and end with '\n' so the data starts at a multiple
	 * of 64 bytes, as numpy does (8 at most: the header fits easily) */
	while ((10 + h + 1) % 64 != 0)
		hdr[h++] = ' ';
	hdr[h++] = '\n';

	FILE *f = fopen(path, "wb");
	if (!f)
		return err_set(ERR_IO, "npy '%s': cannot create", path);
	unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
	                          (unsigned char)h, (unsigned char)(h >> 8) };
	bool ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre &&
	          fwrite(hdr, 1, h, f) == h;
	for (size_t k = 0; ok && k < n; k++) {
		uint32_t u;
		memcpy(&u, &data[k], 4);
		unsigned char le[4] = { (unsigned char)u, (unsigned char)(u >> 8),
		                        (unsigned char)(u >> 16),
		                        (unsigned char)(u >> 24) };
		ok = fwrite(le, 1, 4, f) == 4;
	}
	if (fclose(f) != 0)
		ok = false;
	if (!ok)
		return err_set(ERR_IO, "npy '%s': write failed", path);
	return 0;
}

/* ------------------------------------------------------------------------
 * Zip
 */

/* Find the end-of-central-directory record; 0 or ERR_FORMAT. */
static int
find_eocd(const struct npz *z, size_t *eocd)
{
	if (z->size < EOCD_SIZE)
		return err_set(ERR_FORMAT, "npz '%s': too short for a zip file",
		               z->path);
	size_t lowest = z->size - EOCD_SIZE > 0xffff ? z->size - EOCD_SIZE - 0xffff
	                                             : 0;
	for (size_t i = z->size - EOCD_SIZE + 1; i-- > lowest;) {
		const unsigned char *p = z->data + i;
		/* the archive comment must run exactly to the end of the file */
		if (rd32(p) == SIG_EOCD &&
		    i + EOCD_SIZE + rd16(p + 20) == z->size) {
			*eocd = i;
			return 0;
		}
	}
	return err_set(ERR_FORMAT, "npz '%s': no zip end of central directory",
	               z->path);
}

/* Widen the 0xffffffff fields of a central entry from its zip64 extra. */
static int
read_zip64_extra(const struct npz *z, const unsigned char *x, size_t len,
                 struct npz_entry *e, bool wide_usize, bool wide_csize,
                 bool wide_local)
{
	while (len >= 4) {
		uint16_t id = rd16(x), n = rd16(x + 2);
		if (n > len - 4)
			break;
		if (id == 0x0001) {
			const unsigned char *p = x + 4, *end = x + 4 + n;
			if (wide_usize) {
				if (end - p < 8)
					goto bad;
				e->usize = rd64(p);
				p += 8;
			}
			if (wide_csize) {
				if (end - p < 8)
					goto bad;
				e->csize = rd64(p);
				p += 8;
			}
			if (wide_local) {
				if (end - p < 8)
					goto bad;
				e->local = rd64(p);
			}
			return 0;
		}
		x += 4 + n;
		len -= 4 + (size_t)n;
	}
	if (!wide_usize && !wide_csize && !wide_local)
		return 0;
bad:
	return err_set(ERR_FORMAT, "npz '%s': member '%s': bad zip64 extra field",
	               z->path, e->name);
}

static int
read_directory(struct npz *z)
{
	size_t eocd = 0;
	int rc = find_eocd(z, &eocd);
	if (rc)
		return rc;
	const unsigned char *p = z->data + eocd;
	uint64_t disk = rd16(p + 4), cd_disk = rd16(p + 6);
	uint64_t entries = rd16(p + 10), cd_size = rd32(p + 12);
	uint64_t cd_off = rd32(p + 16), cd_end = eocd;

	if (entries == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff) {
		if (eocd < EOCD64_LOC_SIZE ||
		    rd32(z->data + eocd - EOCD64_LOC_SIZE) != SIG_EOCD64_LOC)
			return err_set(ERR_FORMAT, "npz '%s': zip64 locator missing",
			               z->path);
		uint64_t off64 = rd64(z->data + eocd - EOCD64_LOC_SIZE + 8);
		if (!in_bounds(off64, EOCD64_SIZE, eocd - EOCD64_LOC_SIZE) ||
		    rd32(z->data + off64) != SIG_EOCD64)
			return err_set(ERR_FORMAT, "npz '%s': bad zip64 end of central "
			               "directory", z->path);
		p = z->data + off64;
		disk = rd32(p + 16);
		cd_disk = rd32(p + 20);
		entries = rd64(p + 32);
		cd_size = rd64(p + 40);
		cd_off = rd64(p + 48);
		cd_end = off64;
	}
	if (disk != 0 || cd_disk != 0)
		return err_set(ERR_UNSUPPORTED, "npz '%s': multi-disk zip archive",
		               z->path);
	if (!in_bounds(cd_off, cd_size, cd_end))
		return err_set(ERR_FORMAT, "npz '%s': central directory out of "
		               "bounds", z->path);
	if (entries > cd_size / CENTRAL_SIZE)
		return err_set(ERR_FORMAT, "npz '%s': %llu entries do not fit the "
		               "central directory", z->path,
		               (unsigned long long)entries);
	z->cd_off = cd_off;
	z->e = calloc(entries ? (size_t)entries : 1, sizeof *z->e);
	if (!z->e)
		return err_set(ERR_NOMEM, "npz '%s': out of memory", z->path);

	const unsigned char *c = z->data + cd_off, *c_end = c + cd_size;
	for (uint64_t i = 0; i < entries; i++) {
		if (c_end - c < CENTRAL_SIZE || rd32(c) != SIG_CENTRAL)
			return err_set(ERR_FORMAT, "npz '%s': bad central directory "
			               "entry %llu", z->path, (unsigned long long)i);
		size_t nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
		if ((size_t)(c_end - c) - CENTRAL_SIZE < nlen + xlen + clen)
			return err_set(ERR_FORMAT, "npz '%s': central directory entry "
			               "%llu out of bounds", z->path,
			               (unsigned long long)i);
		struct npz_entry *e = &z->e[z->n];
		e->name = malloc(nlen + 1);
		if (!e->name)
			return err_set(ERR_NOMEM, "npz '%s': out of memory", z->path);
		memcpy(e->name, c + CENTRAL_SIZE, nlen);
		e->name[nlen] = '\0';
		z->n++;
		if (strlen(e->name) != nlen)
			return err_set(ERR_FORMAT, "npz '%s': NUL in a member name",
			               z->path);
		e->flags = rd16(c + 8);
		e->method = rd16(c + 10);
		e->crc = rd32(c + 16);
		e->csize = rd32(c + 20);
		e->usize = rd32(c + 24);
		e->local = rd32(c + 42);
		rc = read_zip64_extra(z, c + CENTRAL_SIZE + nlen, xlen, e,
		                      e->usize == 0xffffffff, e->csize == 0xffffffff,
		                      e->local == 0xffffffff);
		if (rc)
			return rc;
		c += CENTRAL_SIZE + nlen + xlen + clen;
	}
	return 0;
}

struct npz *
npz_open(const char *path)
{
	struct npz *z = calloc(1, sizeof *z);
	char *data = NULL;
	int rc;
	if (!z || !(z->path = strdup(path))) {
		err_set(ERR_NOMEM, "npz '%s': out of memory", path);
		goto fail;
	}
	rc = util_read_file(path, &data, &z->size);
	if (rc)
		goto fail;
	z->data = (unsigned char *)data;
	if (read_directory(z))
		goto fail;
	return z;
fail:
	npz_close(z);
	return NULL;
}

void
npz_close(struct npz *z)
{
	if (!z)
		return;
	for (int i = 0; i < z->n; i++)
		free(z->e[i].name);
	free(z->e);
	free(z->data);
	free(z->path);
	free(z);
}

int
npz_count(const struct npz *z)
{
	return z->n;
}

const char *
npz_name(const struct npz *z, int i)
{
	return i >= 0 && i < z->n ? z->e[i].name : NULL;
}

/* Inflate raw deflate data of exactly `usize` bytes into a new buffer. */
static int
inflate_member(const struct npz *z, const struct npz_entry *e,
               const unsigned char *src, unsigned char **dst)
{
	z_stream s;
	int zr;
	/* one spare byte: output longer than usize shows as total_out > usize */
	unsigned char *buf = malloc((size_t)e->usize + 1);
	*dst = NULL;
	if (!buf)
		return err_set(ERR_NOMEM, "npz '%s': out of memory", z->path);
	memset(&s, 0, sizeof s);
	if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
		free(buf);
		return err_set(ERR_NOMEM, "npz '%s': inflateInit2 failed", z->path);
	}
	/* both sizes are below NPZ_MAX_MEMBER, so they fit uInt */
	s.next_in = (Bytef *)src;
	s.avail_in = (uInt)e->csize;
	s.next_out = buf;
	s.avail_out = (uInt)e->usize + 1;
	zr = inflate(&s, Z_FINISH);
	bool ok = zr == Z_STREAM_END && s.total_out == e->usize &&
	          s.avail_in == 0;
	inflateEnd(&s);
	if (!ok) {
		free(buf);
		return err_set(ERR_FORMAT, "npz '%s': member '%s': bad deflate data "
		               "(zlib %d, %lu of %llu bytes)", z->path, e->name, zr,
		               (unsigned long)s.total_out,
		               (unsigned long long)e->usize);
	}
	*dst = buf;
	return 0;
}

int
npz_get(struct npz *z, const char *name, struct npy_array *out)
{
	const struct npz_entry *e = NULL;
	unsigned char *inflated = NULL;
	const unsigned char *bytes;
	char what[512];
	size_t nlen = strlen(name);
	bool has_ext = nlen >= 4 && strcmp(name + nlen - 4, ".npy") == 0;

	memset(out, 0, sizeof *out);
	for (int i = 0; i < z->n && !e; i++) {
		const char *m = z->e[i].name;
		if (strncmp(m, name, nlen) == 0 &&
		    strcmp(m + nlen, has_ext ? "" : ".npy") == 0)
			e = &z->e[i];
	}
	if (!e)
		return err_set(ERR_NOTFOUND, "npz '%s': no member '%s%s'", z->path,
		               name, has_ext ? "" : ".npy");
	snprintf(what, sizeof what, "npz '%s': member '%s'", z->path, e->name);

	if (e->flags & 0x41)
		return err_set(ERR_UNSUPPORTED, "%s: encrypted", what);
	if (e->method != 0 && e->method != 8)
		return err_set(ERR_UNSUPPORTED, "%s: compression method %u", what,
		               e->method);
	if (e->usize > NPZ_MAX_MEMBER || e->csize > NPZ_MAX_MEMBER)
		return err_set(ERR_RANGE, "%s: larger than 2 GiB", what);

	/* the local header gives where the data starts */
	if (!in_bounds(e->local, LOCAL_SIZE, z->cd_off) ||
	    rd32(z->data + e->local) != SIG_LOCAL)
		return err_set(ERR_FORMAT, "%s: bad local header", what);
	const unsigned char *lh = z->data + e->local;
	uint64_t lnlen = rd16(lh + 26), lxlen = rd16(lh + 28);
	uint64_t data_off = e->local + LOCAL_SIZE + lnlen + lxlen;
	if (rd16(lh + 8) != e->method || lnlen != strlen(e->name) ||
	    !in_bounds(e->local + LOCAL_SIZE, lnlen, z->cd_off) ||
	    memcmp(lh + LOCAL_SIZE, e->name, lnlen) != 0)
		return err_set(ERR_FORMAT, "%s: local header disagrees with the "
		               "central directory", what);
	if (!in_bounds(data_off, e->csize, z->cd_off))
		return err_set(ERR_FORMAT, "%s: data out of bounds", what);

	if (e->method == 0) {
		if (e->csize != e->usize)
			return err_set(ERR_FORMAT, "%s: stored sizes differ", what);
		bytes = z->data + data_off;
	} else {
		int rc = inflate_member(z, e, z->data + data_off, &inflated);
		if (rc)
			return rc;
		bytes = inflated;
	}
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, bytes, (uInt)e->usize);
	int rc;
	if (crc != e->crc)
		rc = err_set(ERR_FORMAT, "%s: CRC32 %08lx, expected %08lx", what,
		             (unsigned long)crc, (unsigned long)e->crc);
	else
		rc = npy_parse(bytes, (size_t)e->usize, what, out);
	free(inflated);
	return rc;
}
