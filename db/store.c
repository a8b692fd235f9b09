/*
 * store.c — the recording database (see store.h): opening and migrating
 * (db/schema.sql is embedded as `schema_sql`), a cache of prepared
 * statements, writers and readers for models, runs, samples, tokens,
 * attention maps, activations and head statistics, the analysis results of
 * schema version 2 (summaries, roles, similarity, ablation, logit lens), and
 * the pure blob codecs (f32, f16, f16z; full and lower-triangle layouts).
 *
 * The database is untrusted input: every value read back is range-checked
 * and every blob's size is checked against its shape before it is decoded.
 */
#include "store.h"

#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>
#include <zstd.h>

#include "schema_sql.h"

/* Largest attention dimension (n_q, n_k) the codecs accept. */
#define MAX_DIM (1 << 20)
/* Largest tensor (values) the database functions write or read: 1 GiB of
 * float32, a 16384 x 16384 map. SQLite cannot hold much more in one blob
 * (SQLITE_MAX_LENGTH is 1e9 bytes on Debian), and a hostile row must not
 * make us allocate terabytes. */
#define MAX_ELEMS ((size_t)1 << 28)
#define ZSTD_LEVEL 3
#define BUSY_TIMEOUT_MS 5000
/* Waiting for readers when checkpointing at close is best effort only. */
#define CLOSE_BUSY_TIMEOUT_MS 200

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_BIG_ENDIAN 1
#else
#define HOST_BIG_ENDIAN 0
#endif

/* ==== SQL ============================================================== */

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

static const char SQL_FIND_MODEL[] =
	"SELECT id FROM models WHERE sha256 = ?1 AND path = ?2";
static const char SQL_PUT_MODEL[] =
	"INSERT INTO models (name, path, arch, sha256, tokenizer, bos_policy,"
	" dtype, n_layer, n_head, n_kv_head, d_model, d_head, d_ff, vocab_size,"
	" n_ctx) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	" ?14, ?15)";
static const char SQL_GET_MODEL[] =
	"SELECT name, path, arch, sha256, tokenizer, bos_policy, dtype, n_layer,"
	" n_head, n_kv_head, d_model, d_head, d_ff, vocab_size, n_ctx"
	" FROM models WHERE id = ?1";

#define RUN_COLUMNS \
	"id, model_id, dataset, options, status, started, finished, n_total," \
	" (SELECT count(*) FROM samples WHERE run_id = runs.id)"
static const char SQL_BEGIN_RUN[] =
	"INSERT INTO runs (model_id, dataset, options, status, started,"
	" finished, n_total) VALUES (?1, ?2, ?3, 'running', ?4, NULL, ?5)";
static const char SQL_FINISH_RUN[] =
	"UPDATE runs SET status = ?2, finished = ?3 WHERE id = ?1";
static const char SQL_LATEST_RUN[] = "SELECT max(id) FROM runs";
static const char SQL_GET_RUN[] =
	"SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1";
static const char SQL_FIND_RESUMABLE[] =
	"SELECT id FROM runs WHERE model_id = ?1 AND dataset = ?2"
	" AND options = ?3 AND status <> 'done' ORDER BY id DESC LIMIT 1";
static const char SQL_EACH_RUN[] =
	"SELECT " RUN_COLUMNS " FROM runs ORDER BY id";

#define SAMPLE_COLUMNS "id, run_id, idx, text, n_tok, loss"
static const char SQL_PUT_SAMPLE[] =
	"INSERT INTO samples (run_id, idx, text, n_tok, loss)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_SET_LOSS[] = "UPDATE samples SET loss = ?2 WHERE id = ?1";
static const char SQL_GET_SAMPLE[] =
	"SELECT " SAMPLE_COLUMNS " FROM samples WHERE run_id = ?1 AND idx = ?2";
static const char SQL_MAX_SAMPLE[] =
	"SELECT max(idx) FROM samples WHERE run_id = ?1";
static const char SQL_EACH_SAMPLE[] =
	"SELECT " SAMPLE_COLUMNS " FROM samples WHERE run_id = ?1 ORDER BY idx";

static const char SQL_PUT_TOKEN[] =
	"INSERT INTO tokens (sample_id, pos, token_id, piece, next_logprob,"
	" entropy, topk_ids, topk_logprobs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_GET_TOKENS[] =
	"SELECT pos, token_id, piece, next_logprob, entropy, topk_ids,"
	" topk_logprobs FROM tokens WHERE sample_id = ?1 ORDER BY pos";
/* the source side of encoder–decoder samples (version 3) */
static const char SQL_SET_SOURCE[] = "UPDATE samples SET source = ?2 WHERE id = ?1";
static const char SQL_PUT_SOURCE_TOKEN[] =
	"INSERT INTO source_tokens (sample_id, pos, token_id, piece) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_GET_SOURCE_TOKENS[] =
	"SELECT pos, token_id, piece, NULL, NULL, NULL, NULL FROM source_tokens"
	" WHERE sample_id = ?1 ORDER BY pos";

static const char SQL_PUT_ATTN[] =
	"INSERT INTO attention (sample_id, layer, head, kind, n_q, n_k, dtype,"
	" layout, codec, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char SQL_GET_ATTN[] =
	"SELECT n_q, n_k, dtype, layout, codec, data FROM attention"
	" WHERE sample_id = ?1 AND kind = ?2 AND layer = ?3 AND head = ?4";
static const char SQL_ATTN_DIMS[] =
	"SELECT count(DISTINCT layer), coalesce(max(head) + 1, 0),"
	" coalesce(max(layer) + 1, 0) FROM attention WHERE sample_id = ?1 AND kind = ?2";

static const char SQL_PUT_ACT[] =
	"INSERT INTO activations (sample_id, hook, dtype, codec, ndim, d0, d1,"
	" d2, d3, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char SQL_GET_ACT[] =
	"SELECT dtype, codec, ndim, d0, d1, d2, d3, data FROM activations"
	" WHERE sample_id = ?1 AND hook = ?2";

static const char SQL_PUT_STAT[] =
	"INSERT INTO head_stats (sample_id, layer, head, metric, value)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_GET_STAT[] =
	"SELECT value FROM head_stats WHERE sample_id = ?1 AND layer = ?2"
	" AND head = ?3 AND metric = ?4";

/* analysis results (schema version 2) */
/* an upsert, not INSERT OR REPLACE: a replace deletes the old row, which
 * costs foreign-key work on every one of a million rows */
static const char SQL_SET_STAT[] =
	"INSERT INTO head_stats (sample_id, layer, head, metric, value)"
	" VALUES (?1, ?2, ?3, ?4, ?5)"
	" ON CONFLICT (sample_id, layer, head, metric) DO UPDATE SET value = excluded.value";
static const char SQL_EACH_STAT[] =
	"SELECT h.sample_id, s.idx, h.layer, h.head, h.metric, h.value"
	" FROM samples s JOIN head_stats h ON h.sample_id = s.id"
	" WHERE s.run_id = ?1 AND (?2 IS NULL OR h.metric = ?2)"
	" ORDER BY s.idx, h.layer, h.head, h.metric";
static const char SQL_PUT_SUMMARY[] =
	"INSERT OR REPLACE INTO head_summary (run_id, layer, head, metric, n, mean,"
	" std, p50, p90) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_GET_SUMMARY[] =
	"SELECT n, mean, std, p50, p90, metric FROM head_summary WHERE run_id = ?1"
	" AND layer = ?2 AND head = ?3 AND metric = ?4";
static const char SQL_CLEAR_ROLES[] = "DELETE FROM head_roles WHERE run_id = ?1";
static const char SQL_PUT_ROLE[] =
	"INSERT INTO head_roles (run_id, layer, head, role, metric, value, threshold)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_EACH_ROLE[] =
	"SELECT layer, head, role, metric, value, threshold FROM head_roles"
	" WHERE run_id = ?1 ORDER BY layer, head, role";
static const char SQL_CLEAR_SIM[] = "DELETE FROM head_similarity WHERE run_id = ?1";
static const char SQL_CLEAR_LAYOUT[] = "DELETE FROM head_layout WHERE run_id = ?1";
static const char SQL_PUT_SIM[] =
	"INSERT OR REPLACE INTO head_similarity (run_id, layer_a, head_a, layer_b,"
	" head_b, js, n_samples) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_GET_SIM[] =
	"SELECT js FROM head_similarity WHERE run_id = ?1 AND layer_a = ?2"
	" AND head_a = ?3 AND layer_b = ?4 AND head_b = ?5";
static const char SQL_PUT_LAYOUT[] =
	"INSERT OR REPLACE INTO head_layout (run_id, layer, head, x, y)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_GET_LAYOUT[] =
	"SELECT x, y FROM head_layout WHERE run_id = ?1 AND layer = ?2 AND head = ?3";
static const char SQL_DELETE_ATTN[] =
	"DELETE FROM attention WHERE sample_id = ?1 AND kind = ?2";
static const char SQL_PUT_ABLATION[] =
	"INSERT OR REPLACE INTO head_ablation (run_id, layer, head, mode, loss,"
	" base_loss, delta, n_samples) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5 - ?6, ?7)";
static const char SQL_GET_ABLATION[] =
	"SELECT loss, base_loss FROM head_ablation WHERE run_id = ?1 AND layer = ?2"
	" AND head = ?3 AND mode = ?4";
static const char SQL_CLEAR_LENS[] =
	"DELETE FROM logit_lens WHERE sample_id = ?1 AND layer = ?2 AND pos = ?3";
static const char SQL_PUT_LENS[] =
	"INSERT INTO logit_lens (sample_id, layer, pos, rank, token_id, logprob)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_GET_LENS[] =
	"SELECT rank, token_id, logprob FROM logit_lens WHERE sample_id = ?1"
	" AND layer = ?2 AND pos = ?3 ORDER BY rank";
static const char SQL_SET_DATASET[] = "UPDATE runs SET dataset = ?2 WHERE id = ?1";

/* Run once while opening (sqlite3_exec or one-shot statements). */
static const char SQL_USER_VERSION[] = "PRAGMA user_version";
static const char SQL_COUNT_OBJECTS[] = "SELECT count(*) FROM sqlite_schema";
static const char SQL_COUNT_TABLES[] =
	"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
	" ('models', 'runs', 'samples', 'tokens', 'attention', 'activations',"
	" 'head_stats', 'head_summary', 'head_roles', 'head_similarity',"
	" 'head_layout', 'head_ablation', 'logit_lens', 'source_tokens')";
#define N_TABLES 14
/* The tables of version 1, checked before a version-1 file is upgraded. */
static const char SQL_COUNT_TABLES_V1[] =
	"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
	" ('models', 'runs', 'samples', 'tokens', 'attention', 'activations',"
	" 'head_stats')";
#define N_TABLES_V1 7
/* A new database: the page size must be set before the first table. */
static const char SQL_PRAGMA_NEW[] =
	"PRAGMA page_size = 65536; PRAGMA journal_mode = WAL";
static const char SQL_PRAGMA_WRITER[] =
	"PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
	" PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY";
static const char SQL_PRAGMA_READER[] = "PRAGMA query_only = ON";
static const char SQL_CHECKPOINT[] = "PRAGMA wal_checkpoint(TRUNCATE)";

/*
 * Migrations. schema.sql describes the current version; it is divided into
 * sections by lines "-- ==== version N ====". A new (empty) file runs the
 * whole text and gets STORE_SCHEMA_VERSION at once. A file at version v
 * runs the sections of versions v+1, v+2, ... in order, each in its own
 * transaction that also sets user_version. A later version appends its
 * section (only statements that upgrade the previous version: CREATE,
 * ALTER, ...) and bumps STORE_SCHEMA_VERSION.
 */
#define SECTION_MARK "\n-- ==== version "

/* The upgrade section of `version` as a malloc'd string; NULL with the
 * message set if schema.sql has none (a build without it is broken). */
static char *
schema_section(int version)
{
	char mark[64];
	snprintf(mark, sizeof mark, SECTION_MARK "%d ====", version);
	const char *b = strstr(schema_sql, mark);
	if (!b) {
		err_set(ERR_VERSION, "schema.sql has no section for version %d", version);
		return NULL;
	}
	const char *e = strstr(b + 1, SECTION_MARK);
	size_t len = e ? (size_t)(e - b) : strlen(b);
	char *sql = malloc(len + 1);
	if (!sql) {
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(sql, b, len);
	sql[len] = '\0';
	return sql;
}

/* ==== the store object ================================================= */

enum stmt_id {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_FIND_MODEL, ST_PUT_MODEL, ST_GET_MODEL,
	ST_BEGIN_RUN, ST_FINISH_RUN, ST_LATEST_RUN, ST_GET_RUN,
	ST_FIND_RESUMABLE, ST_EACH_RUN,
	ST_PUT_SAMPLE, ST_SET_LOSS, ST_GET_SAMPLE, ST_MAX_SAMPLE, ST_EACH_SAMPLE,
	ST_PUT_TOKEN, ST_GET_TOKENS,
	ST_PUT_ATTN, ST_GET_ATTN, ST_ATTN_DIMS,
	ST_PUT_ACT, ST_GET_ACT,
	ST_PUT_STAT, ST_GET_STAT,
	ST_SET_STAT, ST_EACH_STAT, ST_PUT_SUMMARY, ST_GET_SUMMARY,
	ST_CLEAR_ROLES, ST_PUT_ROLE, ST_EACH_ROLE,
	ST_CLEAR_SIM, ST_CLEAR_LAYOUT, ST_PUT_SIM, ST_GET_SIM, ST_PUT_LAYOUT, ST_GET_LAYOUT,
	ST_DELETE_ATTN, ST_PUT_ABLATION, ST_GET_ABLATION,
	ST_CLEAR_LENS, ST_PUT_LENS, ST_GET_LENS, ST_SET_DATASET,
	ST_SET_SOURCE, ST_PUT_SOURCE_TOKEN, ST_GET_SOURCE_TOKENS,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = SQL_BEGIN,
	[ST_COMMIT] = SQL_COMMIT,
	[ST_ROLLBACK] = SQL_ROLLBACK,
	[ST_FIND_MODEL] = SQL_FIND_MODEL,
	[ST_PUT_MODEL] = SQL_PUT_MODEL,
	[ST_GET_MODEL] = SQL_GET_MODEL,
	[ST_BEGIN_RUN] = SQL_BEGIN_RUN,
	[ST_FINISH_RUN] = SQL_FINISH_RUN,
	[ST_LATEST_RUN] = SQL_LATEST_RUN,
	[ST_GET_RUN] = SQL_GET_RUN,
	[ST_FIND_RESUMABLE] = SQL_FIND_RESUMABLE,
	[ST_EACH_RUN] = SQL_EACH_RUN,
	[ST_PUT_SAMPLE] = SQL_PUT_SAMPLE,
	[ST_SET_LOSS] = SQL_SET_LOSS,
	[ST_GET_SAMPLE] = SQL_GET_SAMPLE,
	[ST_MAX_SAMPLE] = SQL_MAX_SAMPLE,
	[ST_EACH_SAMPLE] = SQL_EACH_SAMPLE,
	[ST_PUT_TOKEN] = SQL_PUT_TOKEN,
	[ST_SET_SOURCE] = SQL_SET_SOURCE,
	[ST_PUT_SOURCE_TOKEN] = SQL_PUT_SOURCE_TOKEN,
	[ST_GET_SOURCE_TOKENS] = SQL_GET_SOURCE_TOKENS,
	[ST_GET_TOKENS] = SQL_GET_TOKENS,
	[ST_PUT_ATTN] = SQL_PUT_ATTN,
	[ST_GET_ATTN] = SQL_GET_ATTN,
	[ST_ATTN_DIMS] = SQL_ATTN_DIMS,
	[ST_PUT_ACT] = SQL_PUT_ACT,
	[ST_GET_ACT] = SQL_GET_ACT,
	[ST_PUT_STAT] = SQL_PUT_STAT,
	[ST_GET_STAT] = SQL_GET_STAT,
	[ST_SET_STAT] = SQL_SET_STAT,
	[ST_EACH_STAT] = SQL_EACH_STAT,
	[ST_PUT_SUMMARY] = SQL_PUT_SUMMARY,
	[ST_GET_SUMMARY] = SQL_GET_SUMMARY,
	[ST_CLEAR_ROLES] = SQL_CLEAR_ROLES,
	[ST_PUT_ROLE] = SQL_PUT_ROLE,
	[ST_EACH_ROLE] = SQL_EACH_ROLE,
	[ST_CLEAR_SIM] = SQL_CLEAR_SIM,
	[ST_CLEAR_LAYOUT] = SQL_CLEAR_LAYOUT,
	[ST_PUT_SIM] = SQL_PUT_SIM,
	[ST_GET_SIM] = SQL_GET_SIM,
	[ST_PUT_LAYOUT] = SQL_PUT_LAYOUT,
	[ST_GET_LAYOUT] = SQL_GET_LAYOUT,
	[ST_DELETE_ATTN] = SQL_DELETE_ATTN,
	[ST_PUT_ABLATION] = SQL_PUT_ABLATION,
	[ST_GET_ABLATION] = SQL_GET_ABLATION,
	[ST_CLEAR_LENS] = SQL_CLEAR_LENS,
	[ST_PUT_LENS] = SQL_PUT_LENS,
	[ST_GET_LENS] = SQL_GET_LENS,
	[ST_SET_DATASET] = SQL_SET_DATASET,
};

/* Store-owned string storage for the getters; one per getter family so a
 * callback of store_each_run may call store_get_run or store_get_model
 * without clobbering the row it was given. */
enum buf_id { BUF_MODEL, BUF_RUN, BUF_EACH_RUN, BUF_SAMPLE, BUF_EACH_SAMPLE, BUF_SUMMARY,
              BUF_COUNT };

struct strbuf {
	char *p;
	size_t cap;
};

struct store {
	sqlite3 *db;
	char *path;
	bool readonly;
	bool opened;                 /* open succeeded: checkpoint at close */
	bool in_each_run, in_each_sample, in_each_stat, in_each_role;
	sqlite3_stmt *st[ST_COUNT];  /* prepared lazily, finalized at close */
	struct strbuf buf[BUF_COUNT];
};

/* ==== helpers ========================================================== */

/* Record "<operation>: <sqlite message>" and return the matching code. */
__attribute__((format(printf, 3, 4))) static int
sql_fail(struct store *s, int src, const char *fmt, ...)
{
	char op[256];
	va_list ap;
	int code;

	va_start(ap, fmt);
	vsnprintf(op, sizeof op, fmt, ap);
	va_end(ap);
	switch (src & 0xff) {
	case SQLITE_NOMEM: code = ERR_NOMEM; break;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT: code = ERR_FORMAT; break;
	case SQLITE_IOERR: code = ERR_IO; break;
	default: code = ERR_DB; break;
	}
	return err_set(code, "%s: %s", op, sqlite3_errmsg(s->db));
}

/* The cached statement `id`, prepared on first use. */
static int
prep(struct store *s, enum stmt_id id, sqlite3_stmt **out)
{
	if (!s->st[id]) {
		const char *tail = NULL;
		int src = sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
		                             SQLITE_PREPARE_PERSISTENT, &s->st[id], &tail);
		if (src != SQLITE_OK)
			return sql_fail(s, src, "prepare '%.48s...'", stmt_sql[id]);
		while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n'))
			tail++;
		if (tail && *tail) {
			sqlite3_finalize(s->st[id]);
			s->st[id] = NULL;
			return err_set(ERR_DB, "prepare '%.48s...': more than one statement",
			               stmt_sql[id]);
		}
	}
	*out = s->st[id];
	return 0;
}

/* Reset a statement after use and drop its bindings, which may point at
 * buffers about to be freed (SQLITE_STATIC). */
static void
done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* One value from a one-shot query (used while opening). */
static int
query_int(struct store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (src == SQLITE_OK) {
		src = sqlite3_step(st);
		if (src == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			src = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return src;
}

static int
writable(struct store *s, const char *op)
{
	if (s->readonly)
		return err_set(ERR_ARG, "%s: database '%s' is open read-only", op, s->path);
	return 0;
}

static double
now_unix(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *text)
{
	if (!text)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
}

/* NaN (and NULL) travel as SQL NULL. */
static int
bind_real(sqlite3_stmt *st, int i, double v)
{
	return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

static double
col_real(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NAN;
	return sqlite3_column_double(st, i);
}

/* An INTEGER column that must lie in [lo, hi]; false otherwise (also for
 * NULL or non-integer values, which a hostile file could hold). */
static bool
col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *out)
{
	if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
		return false;
	int64_t v = sqlite3_column_int64(st, i);
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static const char *
col_str(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return t ? t : "";
}

/*
 * Copy the text columns cols[0..n) of the current row into `b` and point
 * out[k] at them (NULL for SQL NULL). The column pointers die with the next
 * step or reset, the copies live until the next use of `b`.
 */
static int
copy_texts(struct strbuf *b, sqlite3_stmt *st, const int *cols, int n,
           const char **out)
{
	size_t total = 0, off = 0;

	for (int k = 0; k < n; k++) {
		if (sqlite3_column_type(st, cols[k]) == SQLITE_NULL)
			continue;
		sqlite3_column_text(st, cols[k]);
		if (ckd_add_size(&total, total, (size_t)sqlite3_column_bytes(st, cols[k]) + 1))
			return err_set(ERR_NOMEM, "copy row text: too large");
	}
	if (total > b->cap) {
		char *p = realloc(b->p, total);
		if (!p)
			return err_set(ERR_NOMEM, "copy row text: out of memory (%zu bytes)", total);
		b->p = p;
		b->cap = total;
	}
	for (int k = 0; k < n; k++) {
		out[k] = NULL;
		if (sqlite3_column_type(st, cols[k]) == SQLITE_NULL)
			continue;
		const unsigned char *t = sqlite3_column_text(st, cols[k]);
		size_t len = (size_t)sqlite3_column_bytes(st, cols[k]);
		if (!t) /* out of memory while converting */
			return err_set(ERR_NOMEM, "copy row text: out of memory");
		memcpy(b->p + off, t, len);
		b->p[off + len] = '\0';
		out[k] = b->p + off;
		off += len + 1;
	}
	return 0;
}

/* ==== little-endian values ============================================ */

static void
put_f32le(unsigned char *dst, const float *src, size_t n)
{
	if (!HOST_BIG_ENDIAN) {
		memcpy(dst, src, n * 4);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &src[i], 4);
		dst[4 * i] = (unsigned char)u;
		dst[4 * i + 1] = (unsigned char)(u >> 8);
		dst[4 * i + 2] = (unsigned char)(u >> 16);
		dst[4 * i + 3] = (unsigned char)(u >> 24);
	}
}

static void
get_f32le(float *dst, const unsigned char *src, size_t n)
{
	if (!HOST_BIG_ENDIAN) {
		memcpy(dst, src, n * 4);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 |
		             (uint32_t)src[4 * i + 2] << 16 | (uint32_t)src[4 * i + 3] << 24;
		memcpy(&dst[i], &u, 4);
	}
}

static void
put_i32le(unsigned char *dst, const int32_t *src, size_t n)
{
	put_f32le(dst, (const float *)(const void *)src, n);
}

static void
get_i32le(int32_t *dst, const unsigned char *src, size_t n)
{
	get_f32le((float *)(void *)dst, src, n);
}

/* Host uint16 <-> little-endian, in place (a no-op on little-endian). */
static void
swap16_if_be(uint16_t *p, size_t n)
{
	if (!HOST_BIG_ENDIAN)
		return;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint16_t)(p[i] >> 8 | p[i] << 8);
}

/* ==== blob codecs ====================================================== */

static size_t
enc_elem_size(enum store_enc enc)
{
	return enc == STORE_ENC_F32 ? 4 : 2;
}

/* Values stored for a [rows, cols] tensor: all of them, or the lower
 * triangle of a square one. true on overflow. */
static bool
stored_count(bool tri, size_t rows, size_t cols, size_t *count)
{
	size_t twice;

	if (!tri)
		return ckd_mul_size(count, rows, cols);
	if (ckd_mul_size(&twice, rows, rows + 1))
		return true;
	*count = twice / 2;
	return false;
}

/*
 * Check that `blob` (size bytes) can hold `count` values of `enc`, before
 * anything reads it: raw encodings must match exactly; a zstd blob must be
 * one frame whose header announces exactly the raw size.
 */
static int
blob_check(enum store_enc enc, size_t count, const void *blob, size_t size,
           const char *what)
{
	size_t raw;

	if (ckd_mul_size(&raw, count, enc_elem_size(enc)))
		return err_set(ERR_FORMAT, "%s: %zu values overflow", what, count);
	if (enc != STORE_ENC_F16Z) {
		if (size != raw)
			return err_set(ERR_FORMAT, "%s: %zu bytes, expected %zu for %zu %s values",
			               what, size, raw, count, store_enc_name(enc));
		return 0;
	}
	if (!blob || size == 0)
		return err_set(ERR_FORMAT, "%s: empty zstd data", what);
	unsigned long long content = ZSTD_getFrameContentSize(blob, size);
	if (content == ZSTD_CONTENTSIZE_ERROR)
		return err_set(ERR_FORMAT, "%s: not zstd data", what);
	if (content == ZSTD_CONTENTSIZE_UNKNOWN)
		return err_set(ERR_FORMAT, "%s: zstd frame without content size", what);
	if (content != (unsigned long long)raw)
		return err_set(ERR_FORMAT, "%s: zstd frame holds %llu bytes, expected %zu"
		               " for %zu f16 values", what, content, raw, count);
	return 0;
}

/*
 * Encode map [rows, cols] (all of it, or its lower triangle when `tri`,
 * rows == cols) into a malloc'd blob. Shapes are checked by the callers.
 */
static int
values_encode(enum store_enc enc, bool tri, size_t rows, size_t cols,
              const float *map, void **blob, size_t *size)
{
	size_t count, raw;
	/* the packed values go out in row chunks: one chunk unless tri */
	size_t n_chunk = tri ? rows : 1;
	unsigned char *out = NULL;
	uint16_t *half = NULL;
	int rc = ERR_NOMEM;

	if (stored_count(tri, rows, cols, &count) ||
	    ckd_mul_size(&raw, count, enc_elem_size(enc)))
		return err_set(ERR_RANGE, "encode blob: %zu x %zu values overflow", rows, cols);

	if (enc == STORE_ENC_F32) {
		out = malloc(raw);
		if (!out)
			goto nomem;
		for (size_t i = 0, off = 0; i < n_chunk; i++) {
			size_t len = tri ? i + 1 : count;
			put_f32le(out + off * 4, map + i * cols, len);
			off += len;
		}
		*blob = out;
		*size = raw;
		return 0;
	}

	half = malloc(raw); /* [count] */
	if (!half)
		goto nomem;
	for (size_t i = 0, off = 0; i < n_chunk; i++) {
		size_t len = tri ? i + 1 : count;
		f16_encode(half + off, map + i * cols, len);
		off += len;
	}
	swap16_if_be(half, count);
	if (enc == STORE_ENC_F16) {
		*blob = half;
		*size = raw;
		return 0;
	}

	size_t bound = ZSTD_compressBound(raw);
	if (bound == 0 || ZSTD_isError(bound)) {
		rc = err_set(ERR_RANGE, "encode blob: %zu bytes are too many for zstd", raw);
		goto out;
	}
	out = malloc(bound);
	if (!out)
		goto nomem;
	size_t z = ZSTD_compress(out, bound, half, raw, ZSTD_LEVEL);
	if (ZSTD_isError(z)) {
		rc = err_set(ERR_NOMEM, "encode blob: zstd: %s", ZSTD_getErrorName(z));
		goto out;
	}
	unsigned char *shrunk = realloc(out, z);
	*blob = shrunk ? shrunk : out;
	*size = z;
	out = NULL;
	rc = 0;
	goto out;
nomem:
	rc = err_set(ERR_NOMEM, "encode blob: out of memory (%zu values)", count);
out:
	free(half);
	free(out);
	return rc;
}

/*
 * Decode a blob of [rows, cols] (tri: lower triangle, rows == cols) into
 * map [rows, cols], zeros above the diagonal for tri. Checks the size first.
 */
static int
values_decode(enum store_enc enc, bool tri, size_t rows, size_t cols,
              const void *blob, size_t size, float *map, const char *what)
{
	size_t count, full, raw;
	uint16_t *half = NULL;
	int rc;

	if (stored_count(tri, rows, cols, &count) || ckd_mul_size(&full, rows, cols) ||
	    ckd_mul_size(&raw, count, enc_elem_size(enc)))
		return err_set(ERR_FORMAT, "%s: %zu x %zu values overflow", what, rows, cols);
	rc = blob_check(enc, count, blob, size, what);
	if (rc)
		return rc;

	/* the stored values into map[0..count) */
	if (enc == STORE_ENC_F32) {
		get_f32le(map, blob, count);
	} else {
		/* a copy: the blob need not be 2-byte aligned */
		half = malloc(raw);
		if (!half)
			return err_set(ERR_NOMEM, "%s: out of memory (%zu bytes)", what, raw);
		if (enc == STORE_ENC_F16) {
			memcpy(half, blob, raw);
		} else {
			size_t got = ZSTD_decompress(half, raw, blob, size);
			if (ZSTD_isError(got)) {
				rc = err_set(ERR_FORMAT, "%s: zstd: %s", what, ZSTD_getErrorName(got));
				goto out;
			}
			if (got != raw) {
				rc = err_set(ERR_FORMAT, "%s: zstd gave %zu bytes, expected %zu",
				             what, got, raw);
				goto out;
			}
		}
		swap16_if_be(half, count);
		f16_decode(map, half, count);
	}

	/* unpack the triangle in place, last row first: row i moves from
	 * i*(i+1)/2 to i*n, which is never below where it is, and rows < i
	 * sit below i*(i+1)/2, so nothing is overwritten before it moves */
	if (tri) {
		size_t n = rows;
		for (size_t i = n; i-- > 0;) {
			memmove(map + i * n, map + i * (i + 1) / 2, (i + 1) * sizeof *map);
			memset(map + i * n + i + 1, 0, (n - i - 1) * sizeof *map);
		}
	}
	rc = 0;
out:
	free(half);
	return rc;
}

/* Shape checks shared by the attention codecs. */
static int
attn_shape(enum store_enc enc, bool tri, int n_q, int n_k, int code, const char *what)
{
	if ((unsigned)enc >= STORE_ENC_COUNT)
		return err_set(code, "%s: unknown encoding %d", what, (int)enc);
	if (n_q <= 0 || n_k <= 0 || n_q > MAX_DIM || n_k > MAX_DIM)
		return err_set(code, "%s: shape %d x %d out of range (1..%d)", what,
		               n_q, n_k, MAX_DIM);
	if (tri && n_q != n_k)
		return err_set(code, "%s: triangular layout needs a square map, not %d x %d",
		               what, n_q, n_k);
	return 0;
}

int
store_blob_encode(enum store_enc enc, bool tri, int n_q, int n_k,
                  const float *map, void **blob, size_t *size)
{
	int rc = attn_shape(enc, tri, n_q, n_k, ERR_ARG, "encode attention blob");
	if (rc)
		return rc;
	if (!map || !blob || !size)
		return err_set(ERR_ARG, "encode attention blob: NULL argument");
	return values_encode(enc, tri, (size_t)n_q, (size_t)n_k, map, blob, size);
}

int
store_blob_decode(enum store_enc enc, bool tri, int n_q, int n_k,
                  const void *blob, size_t size, float *map)
{
	int rc = attn_shape(enc, tri, n_q, n_k, ERR_FORMAT, "attention blob");
	if (rc)
		return rc;
	if (!map || (!blob && size > 0))
		return err_set(ERR_ARG, "attention blob: NULL argument");
	return values_decode(enc, tri, (size_t)n_q, (size_t)n_k, blob, size, map,
	                     "attention blob");
}

int
store_enc_parse(const char *name, enum store_enc *enc)
{
	for (int e = 0; e < STORE_ENC_COUNT; e++) {
		if (name && strcmp(name, store_enc_name((enum store_enc)e)) == 0) {
			*enc = (enum store_enc)e;
			return 0;
		}
	}
	return err_set(ERR_ARG, "unknown encoding '%s' (expected f32, f16 or f16z)",
	               name ? name : "");
}

const char *
store_enc_name(enum store_enc enc)
{
	switch (enc) {
	case STORE_ENC_F32: return "f32";
	case STORE_ENC_F16: return "f16";
	case STORE_ENC_F16Z: return "f16z";
	default: return "?";
	}
}

/* The dtype and codec columns of an encoding. */
static const char *
enc_dtype(enum store_enc enc)
{
	return enc == STORE_ENC_F32 ? "f32" : "f16";
}

static const char *
enc_codec(enum store_enc enc)
{
	return enc == STORE_ENC_F16Z ? "zstd" : "none";
}

/* Back from the dtype and codec columns; false for anything we do not
 * write (f32 with zstd included). */
static bool
enc_from_columns(const char *dtype, const char *codec, enum store_enc *enc)
{
	if (strcmp(dtype, "f32") == 0 && strcmp(codec, "none") == 0)
		*enc = STORE_ENC_F32;
	else if (strcmp(dtype, "f16") == 0 && strcmp(codec, "none") == 0)
		*enc = STORE_ENC_F16;
	else if (strcmp(dtype, "f16") == 0 && strcmp(codec, "zstd") == 0)
		*enc = STORE_ENC_F16Z;
	else
		return false;
	return true;
}

/* ==== open, migrate, close ============================================ */

static int
open_fail(struct store *s, int src)
{
	struct stat sb;

	if ((src & 0xff) == SQLITE_NOMEM || !s->db)
		return err_set(ERR_NOMEM, "cannot open database '%s': out of memory", s->path);
	if ((src & 0xff) == SQLITE_CANTOPEN) {
		if (stat(s->path, &sb) != 0)
			return err_set(ERR_IO, "cannot open database '%s': %s", s->path,
			               errno == ENOENT ? "no such file" : strerror(errno));
		return err_set(ERR_IO, "cannot open database '%s': %s", s->path,
		               sqlite3_errmsg(s->db));
	}
	return sql_fail(s, src, "cannot open database '%s'", s->path);
}

/* A failure while inspecting the file: "not a database" is a format error
 * that names the file. */
static int
inspect_fail(struct store *s, int src, const char *op)
{
	if ((src & 0xff) == SQLITE_NOTADB)
		return err_set(ERR_FORMAT, "'%s' is not a SQLite database (%s)", s->path,
		               sqlite3_errmsg(s->db));
	return sql_fail(s, src, "%s '%s'", op, s->path);
}

static int
exec(struct store *s, const char *sql, const char *op)
{
	int src = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return src == SQLITE_OK ? 0 : inspect_fail(s, src, op);
}

/* Bring the file to STORE_SCHEMA_VERSION: the whole schema for a new
 * file, else the upgrade sections above its version, one transaction each.
 * The version is read again inside each transaction so that two writers
 * opening a new file at once create the schema once. */
static int
migrate(struct store *s)
{
	for (;;) {
		char sql[64], *section = NULL;
		int64_t ver = 0;
		int rc, src, to;

		rc = exec(s, SQL_BEGIN, "migrate: begin");
		if (rc)
			return rc;
		src = query_int(s, SQL_USER_VERSION, &ver);
		if (src != SQLITE_OK) {
			rc = inspect_fail(s, src, "migrate: read version of");
			goto fail;
		}
		if (ver > STORE_SCHEMA_VERSION) {
			rc = err_set(ERR_VERSION, "'%s': database version %lld is newer than"
			             " this attnscope (%d): upgrade attnscope", s->path,
			             (long long)ver, STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (ver == STORE_SCHEMA_VERSION)
			return exec(s, SQL_COMMIT, "migrate: commit");
		if (ver == 0) {
			rc = exec(s, schema_sql, "migrate: create tables in");
			to = STORE_SCHEMA_VERSION;
		} else {
			to = (int)ver + 1;
			section = schema_section(to);
			rc = section ? exec(s, section, "migrate: upgrade") : ERR_VERSION;
			free(section);
		}
		if (rc)
			goto fail;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d", to);
		rc = exec(s, sql, "migrate: set version of");
		if (rc)
			goto fail;
		rc = exec(s, SQL_COMMIT, "migrate: commit");
		if (rc)
			goto fail;
		continue;
fail:
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, SQL_ROLLBACK, NULL, NULL, NULL);
		return rc;
	}
}

/* Version check, creation or migration, and the table check. */
static int
check_schema(struct store *s, int flags)
{
	int64_t ver = 0, n_obj = 0, n_tab = 0;
	int src, rc;

	src = query_int(s, SQL_USER_VERSION, &ver);
	if (src == SQLITE_OK)
		src = query_int(s, SQL_COUNT_OBJECTS, &n_obj);
	if (src != SQLITE_OK)
		return inspect_fail(s, src, "read schema of");

	if (ver > STORE_SCHEMA_VERSION)
		return err_set(ERR_VERSION, "'%s': database version %lld is newer than this"
		               " attnscope (%d): upgrade attnscope", s->path,
		               (long long)ver, STORE_SCHEMA_VERSION);
	if (ver < 0)
		return err_set(ERR_FORMAT, "'%s': invalid database version %lld", s->path,
		               (long long)ver);
	if (ver == 0 && n_obj > 0)
		return err_set(ERR_FORMAT, "'%s' is a SQLite database but not an attnscope"
		               " recording (no schema version)", s->path);
	if (ver == 0 && (s->readonly || !(flags & STORE_CREATE)))
		return err_set(ERR_FORMAT, "'%s' is an empty database without attnscope"
		               " tables", s->path);
	if (ver == 1) {
		/* never upgrade a file that is not a whole version-1 recording */
		src = query_int(s, SQL_COUNT_TABLES_V1, &n_tab);
		if (src != SQLITE_OK)
			return inspect_fail(s, src, "read schema of");
		if (n_tab != N_TABLES_V1)
			return err_set(ERR_FORMAT, "'%s': database version 1 but %lld of the %d"
			               " attnscope tables are missing", s->path,
			               (long long)(N_TABLES_V1 - n_tab), N_TABLES_V1);
	}
	if (ver < STORE_SCHEMA_VERSION && s->readonly)
		return 0; /* read what an older version holds; writers upgrade it */
	if (ver == 0) {
		rc = exec(s, SQL_PRAGMA_NEW, "set page size and WAL mode of");
		if (rc)
			return rc;
	}
	if (ver < STORE_SCHEMA_VERSION) {
		rc = migrate(s);
		if (rc)
			return rc;
	}

	src = query_int(s, SQL_COUNT_TABLES, &n_tab);
	if (src != SQLITE_OK)
		return inspect_fail(s, src, "read schema of");
	if (n_tab != N_TABLES)
		return err_set(ERR_FORMAT, "'%s': database version %d but %lld of the %d"
		               " attnscope tables are missing", s->path, STORE_SCHEMA_VERSION,
		               (long long)(N_TABLES - n_tab), N_TABLES);
	return 0;
}

struct store *
store_open(const char *path, int flags, int *err)
{
	struct store *s = NULL;
	int rc, src, oflags;

	if (!path || !*path) {
		rc = err_set(ERR_ARG, "open database: no path given");
		goto out;
	}
	if ((flags & STORE_READONLY) && (flags & STORE_CREATE)) {
		rc = err_set(ERR_ARG, "open database '%s': read-only and create exclude"
		             " each other", path);
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (s)
		s->path = strdup(path);
	if (!s || !s->path) {
		rc = err_set(ERR_NOMEM, "open database '%s': out of memory", path);
		goto out;
	}
	s->readonly = flags & STORE_READONLY;

	/* never SQLITE_OPEN_CREATE for readers: a missing file stays missing */
	oflags = SQLITE_OPEN_NOMUTEX;
	if (s->readonly)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | (flags & STORE_CREATE ? SQLITE_OPEN_CREATE : 0);
	src = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (src != SQLITE_OK) {
		rc = open_fail(s, src);
		goto out;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	rc = check_schema(s, flags);
	if (rc)
		goto out;
	rc = exec(s, s->readonly ? SQL_PRAGMA_READER : SQL_PRAGMA_WRITER,
	          "set pragmas of");
	if (rc)
		goto out;
	s->opened = true;
out:
	if (rc) {
		store_close(s);
		s = NULL;
	}
	if (err)
		*err = rc;
	return s;
}

void
store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (s->db && s->opened && !s->readonly) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, SQL_ROLLBACK, NULL, NULL, NULL);
		sqlite3_busy_timeout(s->db, CLOSE_BUSY_TIMEOUT_MS);
		sqlite3_exec(s->db, SQL_CHECKPOINT, NULL, NULL, NULL);
	}
	sqlite3_close_v2(s->db);
	for (int i = 0; i < BUF_COUNT; i++)
		free(s->buf[i].p);
	free(s->path);
	free(s);
}

/* ==== transactions ===================================================== */

/* Run one of the argument-less cached statements. */
static int
run_simple(struct store *s, enum stmt_id id, const char *op)
{
	sqlite3_stmt *st;
	int rc = prep(s, id, &st);
	if (rc)
		return rc;
	int src = sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "%s", op);
	done(st);
	return rc;
}

int
store_begin(struct store *s)
{
	int rc = writable(s, "begin transaction");
	return rc ? rc : run_simple(s, ST_BEGIN, "begin transaction");
}

int
store_commit(struct store *s)
{
	return run_simple(s, ST_COMMIT, "commit transaction");
}

void
store_rollback(struct store *s)
{
	sqlite3_stmt *st;

	/* no err_set here: the caller is usually reporting an earlier error */
	if (!s || !s->db || sqlite3_get_autocommit(s->db))
		return;
	if (s->st[ST_ROLLBACK] || sqlite3_prepare_v3(s->db, SQL_ROLLBACK, -1,
	    SQLITE_PREPARE_PERSISTENT, &s->st[ST_ROLLBACK], NULL) == SQLITE_OK) {
		st = s->st[ST_ROLLBACK];
		sqlite3_step(st);
		sqlite3_reset(st);
	} else {
		sqlite3_exec(s->db, SQL_ROLLBACK, NULL, NULL, NULL);
	}
}

/* ==== models and runs ================================================== */

int
store_put_model(struct store *s, const struct store_model_info *m, int64_t *model_id)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = writable(s, "put model");
	if (rc)
		return rc;
	if (!m || !model_id || !m->name || !m->path || !m->arch || !m->sha256)
		return err_set(ERR_ARG, "put model: name, path, arch and sha256 are required");

	rc = prep(s, ST_FIND_MODEL, &st);
	if (rc)
		return rc;
	if (bind_text(st, 1, m->sha256) || bind_text(st, 2, m->path)) {
		rc = sql_fail(s, sqlite3_errcode(s->db), "find model '%s'", m->path);
		goto out;
	}
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*model_id = sqlite3_column_int64(st, 0);
		goto out;
	}
	if (src != SQLITE_DONE) {
		rc = sql_fail(s, src, "find model '%s'", m->path);
		goto out;
	}
	done(st);

	rc = prep(s, ST_PUT_MODEL, &st);
	if (rc)
		return rc;
	const int dims[] = { m->n_layer, m->n_head, m->n_kv_head, m->d_model,
	                     m->d_head, m->d_ff, m->vocab_size, m->n_ctx };
	int b = bind_text(st, 1, m->name) || bind_text(st, 2, m->path) ||
	        bind_text(st, 3, m->arch) || bind_text(st, 4, m->sha256) ||
	        bind_text(st, 5, m->tokenizer) || bind_text(st, 6, m->bos_policy) ||
	        bind_text(st, 7, m->dtype);
	for (int i = 0; i < 8 && !b; i++)
		b = sqlite3_bind_int(st, 8 + i, dims[i]) != SQLITE_OK;
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE) {
		rc = sql_fail(s, src, "put model '%s'", m->path);
		goto out;
	}
	*model_id = sqlite3_last_insert_rowid(s->db);
out:
	done(st);
	return rc;
}

int
store_get_model(struct store *s, int64_t model_id, struct store_model_info *out)
{
	static const int text_cols[] = { 0, 1, 2, 3, 4, 5, 6 };
	const char *t[7];
	int64_t v[8];
	sqlite3_stmt *st;
	int rc, src;

	if (!out)
		return err_set(ERR_ARG, "get model: NULL argument");
	rc = prep(s, ST_GET_MODEL, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, model_id);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "model %lld not found", (long long)model_id);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = sql_fail(s, src, "get model %lld", (long long)model_id);
		goto out;
	}
	for (int i = 0; i < 8; i++) {
		if (!col_int(st, 7 + i, INT_MIN, INT_MAX, &v[i])) {
			rc = err_set(ERR_FORMAT, "model %lld: column %s is not an int",
			             (long long)model_id, sqlite3_column_name(st, 7 + i));
			goto out;
		}
	}
	rc = copy_texts(&s->buf[BUF_MODEL], st, text_cols, 7, t);
	if (rc)
		goto out;
	*out = (struct store_model_info){
		.name = t[0], .path = t[1], .arch = t[2], .sha256 = t[3],
		.tokenizer = t[4], .bos_policy = t[5], .dtype = t[6],
		.n_layer = (int)v[0], .n_head = (int)v[1], .n_kv_head = (int)v[2],
		.d_model = (int)v[3], .d_head = (int)v[4], .d_ff = (int)v[5],
		.vocab_size = (int)v[6], .n_ctx = (int)v[7],
	};
out:
	done(st);
	return rc;
}

int
store_begin_run(struct store *s, const struct store_run_info *info, int64_t *run_id)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = writable(s, "begin run");
	if (rc)
		return rc;
	if (!info || !run_id || !info->dataset)
		return err_set(ERR_ARG, "begin run: dataset is required");
	rc = prep(s, ST_BEGIN_RUN, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, info->model_id) ||
	        bind_text(st, 2, info->dataset) ||
	        bind_text(st, 3, info->options ? info->options : "{}") ||
	        sqlite3_bind_double(st, 4, info->started > 0 ? info->started : now_unix()) ||
	        sqlite3_bind_int64(st, 5, info->n_total < 0 ? -1 : info->n_total);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "begin run on '%s'", info->dataset);
	else
		*run_id = sqlite3_last_insert_rowid(s->db);
	done(st);
	return rc;
}

int
store_finish_run(struct store *s, int64_t run_id, const char *status)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = writable(s, "finish run");
	if (rc)
		return rc;
	if (!status || !*status)
		return err_set(ERR_ARG, "finish run %lld: no status", (long long)run_id);
	rc = prep(s, ST_FINISH_RUN, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, run_id) || bind_text(st, 2, status) ||
	        sqlite3_bind_double(st, 3, now_unix());
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "finish run %lld", (long long)run_id);
	else if (sqlite3_changes(s->db) == 0)
		rc = err_set(ERR_NOTFOUND, "finish run %lld: no such run", (long long)run_id);
	done(st);
	return rc;
}

int
store_latest_run(struct store *s, int64_t *run_id)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = prep(s, ST_LATEST_RUN, &st);
	if (rc)
		return rc;
	src = sqlite3_step(st);
	if (src != SQLITE_ROW)
		rc = sql_fail(s, src, "find latest run");
	else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		rc = err_set(ERR_NOTFOUND, "'%s' holds no runs", s->path);
	else
		*run_id = sqlite3_column_int64(st, 0);
	done(st);
	return rc;
}

/* The current row of SQL_GET_RUN / SQL_EACH_RUN into *r. */
static int
read_run(struct store *s, sqlite3_stmt *st, struct strbuf *b, struct store_run_info *r)
{
	static const int text_cols[] = { 2, 3, 4 };
	const char *t[3];
	int rc;

	rc = copy_texts(b, st, text_cols, 3, t);
	if (rc)
		return rc;
	double finished = col_real(st, 6);
	*r = (struct store_run_info){
		.id = sqlite3_column_int64(st, 0),
		.model_id = sqlite3_column_int64(st, 1),
		.dataset = t[0] ? t[0] : "",
		.options = t[1] ? t[1] : "{}",
		.status = t[2] ? t[2] : "",
		.started = col_real(st, 5),
		.finished = isnan(finished) ? 0 : finished,
		.n_total = sqlite3_column_int64(st, 7),
		.n_samples = sqlite3_column_int64(st, 8),
	};
	return 0;
}

int
store_get_run(struct store *s, int64_t run_id, struct store_run_info *out)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!out)
		return err_set(ERR_ARG, "get run: NULL argument");
	rc = prep(s, ST_GET_RUN, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = read_run(s, st, &s->buf[BUF_RUN], out);
	else if (src == SQLITE_DONE)
		rc = err_set(ERR_NOTFOUND, "run %lld not found in '%s'", (long long)run_id,
		             s->path);
	else
		rc = sql_fail(s, src, "get run %lld", (long long)run_id);
	done(st);
	return rc;
}

int
store_find_resumable(struct store *s, int64_t model_id, const char *dataset,
                     const char *options, int64_t *run_id)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!dataset || !run_id)
		return err_set(ERR_ARG, "find resumable run: NULL argument");
	rc = prep(s, ST_FIND_RESUMABLE, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, model_id) || bind_text(st, 2, dataset) ||
	        bind_text(st, 3, options ? options : "{}");
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src == SQLITE_ROW)
		*run_id = sqlite3_column_int64(st, 0);
	else if (src == SQLITE_DONE)
		rc = err_set(ERR_NOTFOUND, "no unfinished run of model %lld on '%s' with"
		             " these options", (long long)model_id, dataset);
	else
		rc = sql_fail(s, src, "find resumable run");
	done(st);
	return rc;
}

int
store_each_run(struct store *s, int (*fn)(void *ctx, const struct store_run_info *r),
               void *ctx)
{
	struct store_run_info r;
	sqlite3_stmt *st;
	int rc, src;

	if (!fn)
		return err_set(ERR_ARG, "each run: NULL callback");
	if (s->in_each_run)
		return err_set(ERR_ARG, "each run: called again from its own callback");
	rc = prep(s, ST_EACH_RUN, &st);
	if (rc)
		return rc;
	s->in_each_run = true;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = read_run(s, st, &s->buf[BUF_EACH_RUN], &r);
		if (rc == 0)
			rc = fn(ctx, &r);
		if (rc)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "list runs");
out:
	s->in_each_run = false;
	done(st);
	return rc;
}

/* ==== samples and tokens =============================================== */

int
store_put_sample(struct store *s, const struct store_sample_info *info,
                 int64_t *sample_id)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = writable(s, "put sample");
	if (rc)
		return rc;
	if (!info || !sample_id || info->index < 0 || info->n_tok < 0)
		return err_set(ERR_ARG, "put sample: bad argument");
	rc = prep(s, ST_PUT_SAMPLE, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, info->run_id) ||
	        sqlite3_bind_int64(st, 2, info->index) || bind_text(st, 3, info->text) ||
	        sqlite3_bind_int(st, 4, info->n_tok) || bind_real(st, 5, info->loss);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "put sample %lld of run %lld", (long long)info->index,
		              (long long)info->run_id);
	else
		*sample_id = sqlite3_last_insert_rowid(s->db);
	done(st);
	return rc;
}

int
store_set_sample_loss(struct store *s, int64_t sample_id, double loss)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = writable(s, "set sample loss");
	if (rc)
		return rc;
	rc = prep(s, ST_SET_LOSS, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_real(st, 2, loss);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "set loss of sample %lld", (long long)sample_id);
	else if (sqlite3_changes(s->db) == 0)
		rc = err_set(ERR_NOTFOUND, "set loss of sample %lld: no such sample",
		             (long long)sample_id);
	done(st);
	return rc;
}

/* The current row of SQL_GET_SAMPLE / SQL_EACH_SAMPLE into *x. */
static int
read_sample(struct store *s, sqlite3_stmt *st, struct strbuf *b,
            struct store_sample_info *x)
{
	static const int text_cols[] = { 3 };
	const char *t[1];
	int64_t n_tok;
	int rc;

	if (!col_int(st, 4, 0, INT_MAX, &n_tok))
		return err_set(ERR_FORMAT, "sample %lld: bad token count",
		               (long long)sqlite3_column_int64(st, 0));
	rc = copy_texts(b, st, text_cols, 1, t);
	if (rc)
		return rc;
	*x = (struct store_sample_info){
		.id = sqlite3_column_int64(st, 0),
		.run_id = sqlite3_column_int64(st, 1),
		.index = sqlite3_column_int64(st, 2),
		.text = t[0],
		.n_tok = (int)n_tok,
		.loss = col_real(st, 5),
	};
	return 0;
}

int
store_get_sample(struct store *s, int64_t run_id, int64_t index,
                 struct store_sample_info *out)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!out)
		return err_set(ERR_ARG, "get sample: NULL argument");
	rc = prep(s, ST_GET_SAMPLE, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, index);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = read_sample(s, st, &s->buf[BUF_SAMPLE], out);
	else if (src == SQLITE_DONE)
		rc = err_set(ERR_NOTFOUND, "run %lld has no sample %lld", (long long)run_id,
		             (long long)index);
	else
		rc = sql_fail(s, src, "get sample %lld of run %lld", (long long)index,
		              (long long)run_id);
	done(st);
	return rc;
}

int
store_max_sample_index(struct store *s, int64_t run_id, int64_t *index)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = prep(s, ST_MAX_SAMPLE, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	src = sqlite3_step(st);
	if (src != SQLITE_ROW)
		rc = sql_fail(s, src, "find last sample of run %lld", (long long)run_id);
	else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		*index = -1;
	else
		*index = sqlite3_column_int64(st, 0);
	done(st);
	return rc;
}

int
store_each_sample(struct store *s, int64_t run_id,
                  int (*fn)(void *ctx, const struct store_sample_info *x), void *ctx)
{
	struct store_sample_info x;
	sqlite3_stmt *st;
	int rc, src;

	if (!fn)
		return err_set(ERR_ARG, "each sample: NULL callback");
	if (s->in_each_sample)
		return err_set(ERR_ARG, "each sample: called again from its own callback");
	rc = prep(s, ST_EACH_SAMPLE, &st);
	if (rc)
		return rc;
	s->in_each_sample = true;
	sqlite3_bind_int64(st, 1, run_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = read_sample(s, st, &s->buf[BUF_EACH_SAMPLE], &x);
		if (rc == 0)
			rc = fn(ctx, &x);
		if (rc)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "list samples of run %lld", (long long)run_id);
out:
	s->in_each_sample = false;
	done(st);
	return rc;
}

int
store_put_tokens(struct store *s, int64_t sample_id, const struct store_token *tok, int n)
{
	unsigned char ids[4 * STORE_TOPK], lps[4 * STORE_TOPK];
	sqlite3_stmt *st = NULL;
	bool own_txn = false;
	int rc, src;

	rc = writable(s, "put tokens");
	if (rc)
		return rc;
	if (n < 0 || (n > 0 && !tok))
		return err_set(ERR_ARG, "put tokens: bad argument");
	for (int i = 0; i < n; i++) {
		if (tok[i].k < 0 || tok[i].k > STORE_TOPK)
			return err_set(ERR_ARG, "put tokens: token %d has k = %d (0..%d)", i,
			               tok[i].k, STORE_TOPK);
	}
	rc = prep(s, ST_PUT_TOKEN, &st);
	if (rc)
		return rc;
	/* all or nothing, and one commit instead of n, outside a transaction */
	if (sqlite3_get_autocommit(s->db)) {
		rc = store_begin(s);
		if (rc)
			return rc;
		own_txn = true;
	}
	for (int i = 0; i < n; i++) {
		const struct store_token *t = &tok[i];
		int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, i) ||
		        sqlite3_bind_int(st, 3, t->id) ||
		        bind_text(st, 4, t->piece ? t->piece : "") ||
		        bind_real(st, 5, t->next_logprob) || bind_real(st, 6, t->entropy);
		if (t->k > 0) {
			put_i32le(ids, t->topk_id, (size_t)t->k);
			put_f32le(lps, t->topk_logprob, (size_t)t->k);
			b = b || sqlite3_bind_blob(st, 7, ids, 4 * t->k, SQLITE_STATIC) ||
			    sqlite3_bind_blob(st, 8, lps, 4 * t->k, SQLITE_STATIC);
		} else {
			b = b || sqlite3_bind_null(st, 7) || sqlite3_bind_null(st, 8);
		}
		src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
		if (src != SQLITE_DONE) {
			rc = sql_fail(s, src, "put token %d of sample %lld", i, (long long)sample_id);
			goto out;
		}
		sqlite3_reset(st);
	}
	if (own_txn) {
		rc = store_commit(s);
		own_txn = rc != 0;
	}
out:
	done(st);
	if (own_txn && rc)
		store_rollback(s);
	return rc;
}

/* Temporary row storage of store_get_tokens. */
struct tok_rows {
	struct store_token *tok; /* [cap], piece unset  */
	size_t *piece_off;       /* [cap] into pool     */
	char *pool;
	size_t n, cap, pool_len, pool_cap;
};

static int
tok_rows_push(struct tok_rows *r, const struct store_token *t, const char *piece,
              size_t len)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct store_token *tok = realloc(r->tok, cap * sizeof *tok);
		if (!tok)
			return ERR_NOMEM;
		r->tok = tok;
		size_t *off = realloc(r->piece_off, cap * sizeof *off);
		if (!off)
			return ERR_NOMEM;
		r->piece_off = off;
		r->cap = cap;
	}
	size_t need;
	if (ckd_add_size(&need, r->pool_len, len + 1))
		return ERR_NOMEM;
	if (need > r->pool_cap) {
		size_t cap = r->pool_cap ? r->pool_cap : 1024;
		while (cap < need)
			cap *= 2;
		char *p = realloc(r->pool, cap);
		if (!p)
			return ERR_NOMEM;
		r->pool = p;
		r->pool_cap = cap;
	}
	memcpy(r->pool + r->pool_len, piece, len);
	r->pool[r->pool_len + len] = '\0';
	r->piece_off[r->n] = r->pool_len;
	r->tok[r->n++] = *t;
	r->pool_len = need;
	return 0;
}

static int
get_tokens(struct store *s, enum stmt_id sid_stmt, int64_t sample_id,
           struct store_token **out, int *n)
{
	struct tok_rows r = { 0 };
	sqlite3_stmt *st = NULL;
	int rc, src;

	if (!out || !n)
		return err_set(ERR_ARG, "get tokens: NULL argument");
	*out = NULL;
	*n = 0;
	rc = prep(s, sid_stmt, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, sample_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_token t = { 0 };
		int64_t pos, id;
		if (!col_int(st, 0, 0, INT_MAX, &pos) || (size_t)pos != r.n ||
		    !col_int(st, 1, INT32_MIN, INT32_MAX, &id)) {
			rc = err_set(ERR_FORMAT, "tokens of sample %lld: bad position or id"
			             " at row %zu", (long long)sample_id, r.n);
			goto out;
		}
		t.id = (int32_t)id;
		t.next_logprob = (float)col_real(st, 3);
		t.entropy = (float)col_real(st, 4);
		const void *ids = sqlite3_column_blob(st, 5);
		size_t ids_len = (size_t)sqlite3_column_bytes(st, 5);
		const void *lps = sqlite3_column_blob(st, 6);
		size_t lps_len = (size_t)sqlite3_column_bytes(st, 6);
		if (ids_len != lps_len || ids_len % 4 || ids_len > 4 * STORE_TOPK ||
		    (ids_len && (!ids || !lps))) {
			rc = err_set(ERR_FORMAT, "tokens of sample %lld: bad top-k blobs at"
			             " position %zu", (long long)sample_id, r.n);
			goto out;
		}
		t.k = (int)(ids_len / 4);
		if (t.k) {
			get_i32le(t.topk_id, ids, (size_t)t.k);
			get_f32le(t.topk_logprob, lps, (size_t)t.k);
		}
		const char *piece = col_str(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);
		if (tok_rows_push(&r, &t, piece, len)) {
			rc = err_set(ERR_NOMEM, "get tokens of sample %lld: out of memory",
			             (long long)sample_id);
			goto out;
		}
	}
	if (src != SQLITE_DONE) {
		rc = sql_fail(s, src, "get tokens of sample %lld", (long long)sample_id);
		goto out;
	}
	if (r.n == 0)
		goto out;

	/* one block: [n] tokens, then the pieces */
	size_t head, total;
	if (ckd_mul_size(&head, r.n, sizeof *r.tok) ||
	    ckd_add_size(&total, head, r.pool_len)) {
		rc = err_set(ERR_NOMEM, "get tokens of sample %lld: too large",
		             (long long)sample_id);
		goto out;
	}
	struct store_token *block = malloc(total);
	if (!block) {
		rc = err_set(ERR_NOMEM, "get tokens of sample %lld: out of memory",
		             (long long)sample_id);
		goto out;
	}
	char *pool = (char *)block + head;
	memcpy(block, r.tok, head);
	memcpy(pool, r.pool, r.pool_len);
	for (size_t i = 0; i < r.n; i++)
		block[i].piece = pool + r.piece_off[i];
	*out = block;
	*n = (int)r.n;
out:
	done(st);
	free(r.tok);
	free(r.piece_off);
	free(r.pool);
	return rc;
}

int
store_get_tokens(struct store *s, int64_t sample_id, struct store_token **out, int *n)
{
	return get_tokens(s, ST_GET_TOKENS, sample_id, out, n);
}

int
store_get_source(struct store *s, int64_t sample_id, struct store_token **out, int *n)
{
	return get_tokens(s, ST_GET_SOURCE_TOKENS, sample_id, out, n);
}

int
store_put_source(struct store *s, int64_t sample_id, const char *text,
                 const struct store_token *tok, int n)
{
	sqlite3_stmt *st = NULL;
	int rc, src;

	rc = writable(s, "put source");
	if (rc)
		return rc;
	if (n < 0 || (n > 0 && !tok))
		return err_set(ERR_ARG, "put source: bad argument");
	if ((rc = prep(s, ST_SET_SOURCE, &st)) != 0)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_text(st, 2, text);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	done(st);
	if (src != SQLITE_DONE)
		return sql_fail(s, src, "put source text of sample %lld", (long long)sample_id);
	if ((rc = prep(s, ST_PUT_SOURCE_TOKEN, &st)) != 0)
		return rc;
	for (int i = 0; i < n; i++) {
		b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, i) ||
		    sqlite3_bind_int(st, 3, tok[i].id) ||
		    bind_text(st, 4, tok[i].piece ? tok[i].piece : "");
		src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
		if (src != SQLITE_DONE) {
			rc = sql_fail(s, src, "put source token %d of sample %lld", i,
			              (long long)sample_id);
			break;
		}
		sqlite3_reset(st);
	}
	done(st);
	return rc;
}

/* ==== attention maps =================================================== */

int
store_put_attn(struct store *s, int64_t sample_id, int layer, int head,
               const char *kind, int n_q, int n_k, bool causal,
               enum store_enc enc, const float *map)
{
	sqlite3_stmt *st = NULL;
	void *blob = NULL;
	size_t size = 0;
	char what[128];
	int rc, src;

	snprintf(what, sizeof what, "put attention for sample %lld layer %d head %d",
	         (long long)sample_id, layer, head);
	rc = writable(s, what);
	if (rc)
		return rc;
	rc = attn_shape(enc, causal, n_q, n_k, ERR_ARG, what);
	if (rc)
		return rc;
	if (layer < 0 || head < 0 || !kind || !*kind || !map)
		return err_set(ERR_ARG, "%s: bad argument", what);
	size_t full;
	if (ckd_mul_size(&full, (size_t)n_q, (size_t)n_k) || full > MAX_ELEMS)
		return err_set(ERR_RANGE, "%s: %d x %d map is larger than %zu values",
		               what, n_q, n_k, MAX_ELEMS);
	rc = prep(s, ST_PUT_ATTN, &st);
	if (rc)
		return rc;
	rc = values_encode(enc, causal, (size_t)n_q, (size_t)n_k, map, &blob, &size);
	if (rc)
		goto out;
	int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, kind) ||
	        sqlite3_bind_int(st, 5, n_q) || sqlite3_bind_int(st, 6, n_k) ||
	        bind_text(st, 7, enc_dtype(enc)) ||
	        bind_text(st, 8, causal ? "tri" : "full") ||
	        bind_text(st, 9, enc_codec(enc)) ||
	        sqlite3_bind_blob64(st, 10, blob, size, SQLITE_STATIC);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "%s (%s)", what, kind);
out:
	done(st);
	free(blob);
	return rc;
}

int
store_get_attn(struct store *s, int64_t sample_id, int layer, int head,
               const char *kind, float **map, int *n_q, int *n_k)
{
	sqlite3_stmt *st = NULL;
	float *m = NULL;
	char what[128];
	int rc, src;

	if (!kind || !map || !n_q || !n_k)
		return err_set(ERR_ARG, "get attention: NULL argument");
	*map = NULL;
	snprintf(what, sizeof what, "attention blob for sample %lld layer %d head %d",
	         (long long)sample_id, layer, head);
	rc = prep(s, ST_GET_ATTN, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_text(st, 2, kind) ||
	        sqlite3_bind_int(st, 3, layer) || sqlite3_bind_int(st, 4, head);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "no %s attention for sample %lld layer %d head %d",
		             kind, (long long)sample_id, layer, head);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = sql_fail(s, src, "get attention for sample %lld layer %d head %d",
		              (long long)sample_id, layer, head);
		goto out;
	}

	int64_t q, k;
	enum store_enc enc;
	const char *dtype = col_str(st, 2), *layout = col_str(st, 3), *codec = col_str(st, 4);
	bool tri = strcmp(layout, "tri") == 0;
	if (!tri && strcmp(layout, "full") != 0) {
		rc = err_set(ERR_FORMAT, "%s: unknown layout '%s'", what, layout);
		goto out;
	}
	if (!enc_from_columns(dtype, codec, &enc)) {
		rc = err_set(ERR_FORMAT, "%s: unknown encoding: dtype '%s', codec '%s'",
		             what, dtype, codec);
		goto out;
	}
	if (!col_int(st, 0, 1, MAX_DIM, &q) || !col_int(st, 1, 1, MAX_DIM, &k)) {
		rc = err_set(ERR_FORMAT, "%s: shape %lld x %lld out of range (1..%d)", what,
		             sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), MAX_DIM);
		goto out;
	}
	if (tri && q != k) {
		rc = err_set(ERR_FORMAT, "%s: triangular layout with a %lld x %lld shape",
		             what, (long long)q, (long long)k);
		goto out;
	}
	size_t full, count;
	if (ckd_mul_size(&full, (size_t)q, (size_t)k) || full > MAX_ELEMS) {
		rc = err_set(ERR_FORMAT, "%s: %lld x %lld map is larger than %zu values",
		             what, (long long)q, (long long)k, MAX_ELEMS);
		goto out;
	}
	/* size before allocation: a hostile shape must not cost memory */
	const void *data = sqlite3_column_blob(st, 5);
	size_t size = (size_t)sqlite3_column_bytes(st, 5);
	stored_count(tri, (size_t)q, (size_t)k, &count);
	rc = blob_check(enc, count, data, size, what);
	if (rc)
		goto out;
	m = malloc(full * sizeof *m);
	if (!m) {
		rc = err_set(ERR_NOMEM, "%s: out of memory (%lld x %lld)", what,
		             (long long)q, (long long)k);
		goto out;
	}
	rc = values_decode(enc, tri, (size_t)q, (size_t)k, data, size, m, what);
	if (rc)
		goto out;
	*map = m;
	*n_q = (int)q;
	*n_k = (int)k;
	m = NULL;
out:
	done(st);
	free(m);
	return rc;
}

int
store_attn_dims(struct store *s, int64_t sample_id, const char *kind, int *n_layer,
                int *n_head)
{
	sqlite3_stmt *st;
	int64_t l = 0, h = 0, lmax = 0;
	int rc, src;

	if (!kind || !n_layer || !n_head)
		return err_set(ERR_ARG, "attention dims: NULL argument");
	rc = prep(s, ST_ATTN_DIMS, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_text(st, 2, kind);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_ROW)
		rc = sql_fail(s, src, "attention dims of sample %lld", (long long)sample_id);
	else if (!col_int(st, 0, 0, INT_MAX, &l) || !col_int(st, 1, 0, INT_MAX, &h) ||
	         !col_int(st, 2, 0, INT_MAX, &lmax) || h > STORE_MAX_HEADS ||
	         lmax > STORE_MAX_LAYERS)
		/* a hostile row must not make readers allocate per-head state */
		rc = err_set(ERR_FORMAT, "attention rows of sample %lld claim layer %lld or "
		             "head %lld (at most %d layers and %d heads are read)",
		             (long long)sample_id, (long long)lmax - 1, (long long)h - 1,
		             STORE_MAX_LAYERS, STORE_MAX_HEADS);
	else {
		*n_layer = (int)l;
		*n_head = (int)h;
	}
	done(st);
	return rc;
}

/* ==== activations ====================================================== */

int
store_put_act(struct store *s, int64_t sample_id, const char *hook, int ndim,
              const int *shape, enum store_enc enc, const float *data)
{
	sqlite3_stmt *st = NULL;
	void *blob = NULL;
	size_t size = 0, count = 1;
	int rc, src;

	rc = writable(s, "put activation");
	if (rc)
		return rc;
	if (!hook || !*hook || !shape || !data || ndim < 1 || ndim > 4 ||
	    (unsigned)enc >= STORE_ENC_COUNT)
		return err_set(ERR_ARG, "put activation '%s' for sample %lld: bad argument",
		               hook ? hook : "", (long long)sample_id);
	for (int i = 0; i < ndim; i++) {
		if (shape[i] <= 0 || ckd_mul_size(&count, count, (size_t)shape[i]) ||
		    count > MAX_ELEMS)
			return err_set(ERR_RANGE, "put activation '%s' for sample %lld: shape"
			               " out of range (at most %zu values)", hook,
			               (long long)sample_id, MAX_ELEMS);
	}
	rc = prep(s, ST_PUT_ACT, &st);
	if (rc)
		return rc;
	rc = values_encode(enc, false, count, 1, data, &blob, &size);
	if (rc)
		goto out;
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_text(st, 2, hook) ||
	        bind_text(st, 3, enc_dtype(enc)) || bind_text(st, 4, enc_codec(enc)) ||
	        sqlite3_bind_int(st, 5, ndim);
	for (int i = 0; i < 4 && !b; i++)
		b = (i < ndim ? sqlite3_bind_int(st, 6 + i, shape[i]) :
		                sqlite3_bind_null(st, 6 + i)) != SQLITE_OK;
	b = b || sqlite3_bind_blob64(st, 10, blob, size, SQLITE_STATIC);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "put activation '%s' for sample %lld", hook,
		              (long long)sample_id);
out:
	done(st);
	free(blob);
	return rc;
}

int
store_get_act(struct store *s, int64_t sample_id, const char *hook, float **data,
              int *ndim, int shape[4])
{
	sqlite3_stmt *st = NULL;
	float *d = NULL;
	char what[160];
	int rc, src;

	if (!hook || !data || !ndim || !shape)
		return err_set(ERR_ARG, "get activation: NULL argument");
	*data = NULL;
	snprintf(what, sizeof what, "activation '%s' of sample %lld", hook,
	         (long long)sample_id);
	rc = prep(s, ST_GET_ACT, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_text(st, 2, hook);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "no %s", what);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = sql_fail(s, src, "get %s", what);
		goto out;
	}

	enum store_enc enc;
	int64_t nd, dim[4] = { 0, 0, 0, 0 };
	size_t count = 1;
	if (!enc_from_columns(col_str(st, 0), col_str(st, 1), &enc)) {
		rc = err_set(ERR_FORMAT, "%s: unknown encoding: dtype '%s', codec '%s'",
		             what, col_str(st, 0), col_str(st, 1));
		goto out;
	}
	if (!col_int(st, 2, 1, 4, &nd)) {
		rc = err_set(ERR_FORMAT, "%s: bad number of dimensions", what);
		goto out;
	}
	for (int i = 0; i < (int)nd; i++) {
		if (!col_int(st, 3 + i, 1, INT_MAX, &dim[i]) ||
		    ckd_mul_size(&count, count, (size_t)dim[i]) || count > MAX_ELEMS) {
			rc = err_set(ERR_FORMAT, "%s: shape out of range (at most %zu values)",
			             what, MAX_ELEMS);
			goto out;
		}
	}
	const void *blob = sqlite3_column_blob(st, 7);
	size_t size = (size_t)sqlite3_column_bytes(st, 7);
	rc = blob_check(enc, count, blob, size, what);
	if (rc)
		goto out;
	d = malloc(count * sizeof *d);
	if (!d) {
		rc = err_set(ERR_NOMEM, "%s: out of memory (%zu values)", what, count);
		goto out;
	}
	rc = values_decode(enc, false, count, 1, blob, size, d, what);
	if (rc)
		goto out;
	*data = d;
	*ndim = (int)nd;
	for (int i = 0; i < 4; i++)
		shape[i] = (int)dim[i];
	d = NULL;
out:
	done(st);
	free(d);
	return rc;
}

/* ==== per-head statistics ============================================== */

int
store_put_head_stat(struct store *s, int64_t sample_id, int layer, int head,
                    const char *metric, double value)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = writable(s, "put head stat");
	if (rc)
		return rc;
	if (!metric || !*metric || layer < 0 || head < 0)
		return err_set(ERR_ARG, "put head stat: bad argument");
	rc = prep(s, ST_PUT_STAT, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, metric) ||
	        bind_real(st, 5, value);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "put head stat '%s' for sample %lld layer %d head %d",
		              metric, (long long)sample_id, layer, head);
	done(st);
	return rc;
}

int
store_get_head_stat(struct store *s, int64_t sample_id, int layer, int head,
                    const char *metric, double *value)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!metric || !value)
		return err_set(ERR_ARG, "get head stat: NULL argument");
	rc = prep(s, ST_GET_STAT, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, metric);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src == SQLITE_ROW)
		*value = col_real(st, 0);
	else if (src == SQLITE_DONE)
		rc = err_set(ERR_NOTFOUND, "no head stat '%s' for sample %lld layer %d"
		             " head %d", metric, (long long)sample_id, layer, head);
	else
		rc = sql_fail(s, src, "get head stat '%s' for sample %lld layer %d head %d",
		              metric, (long long)sample_id, layer, head);
	done(st);
	return rc;
}

/* ==== analysis results (schema version 2) ============================== */

/* Bind-step-reset for statements that return no row; `what` names the
 * operation in the message. */
static int
step_done(struct store *s, sqlite3_stmt *st, int bind_failed, const char *what)
{
	int src = bind_failed ? sqlite3_errcode(s->db) : sqlite3_step(st);
	int rc = src == SQLITE_DONE ? 0 : sql_fail(s, src, "%s", what);
	done(st);
	return rc;
}

int
store_set_head_stat(struct store *s, int64_t sample_id, int layer, int head,
                    const char *metric, double value)
{
	sqlite3_stmt *st;
	char what[160];
	int rc;

	rc = writable(s, "set head stat");
	if (rc)
		return rc;
	if (!metric || !*metric || layer < 0 || head < 0)
		return err_set(ERR_ARG, "set head stat: bad argument");
	rc = prep(s, ST_SET_STAT, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, metric) ||
	        bind_real(st, 5, value);
	int src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE) {
		/* the message only on failure: this runs a million times */
		snprintf(what, sizeof what, "set head stat '%s' for sample %lld layer %d head %d",
		         metric, (long long)sample_id, layer, head);
		rc = sql_fail(s, src, "%s", what);
	}
	done(st);
	return rc;
}

int
store_each_head_stat(struct store *s, int64_t run_id, const char *metric,
                     int (*fn)(void *ctx, const struct store_head_stat *x), void *ctx)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!fn)
		return err_set(ERR_ARG, "each head stat: NULL callback");
	if (s->in_each_stat)
		return err_set(ERR_ARG, "each head stat: called again from its own callback");
	rc = prep(s, ST_EACH_STAT, &st);
	if (rc)
		return rc;
	s->in_each_stat = true;
	int b = sqlite3_bind_int64(st, 1, run_id) || bind_text(st, 2, metric);
	while (!b && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_head_stat x;
		int64_t l, h, idx;
		if (!col_int(st, 1, 0, INT64_MAX, &idx) || !col_int(st, 2, 0, INT_MAX, &l) ||
		    !col_int(st, 3, 0, INT_MAX, &h)) {
			rc = err_set(ERR_FORMAT, "head stats of run %lld: index, layer or head out"
			             " of range", (long long)run_id);
			goto out;
		}
		x.sample_id = sqlite3_column_int64(st, 0);
		x.sample_index = idx;
		x.layer = (int)l;
		x.head = (int)h;
		x.metric = col_str(st, 4);
		x.value = col_real(st, 5);
		if ((rc = fn(ctx, &x)) != 0)
			goto out;
	}
	if (b || src != SQLITE_DONE)
		rc = sql_fail(s, b ? sqlite3_errcode(s->db) : src, "list head stats of run %lld",
		              (long long)run_id);
out:
	s->in_each_stat = false;
	done(st);
	return rc;
}

int
store_put_summary(struct store *s, int64_t run_id, const struct store_summary *x)
{
	sqlite3_stmt *st;
	char what[160];
	int rc;

	rc = writable(s, "put summary");
	if (rc)
		return rc;
	if (!x || !x->metric || !*x->metric || x->layer < 0 || x->head < -1 || x->n < 0)
		return err_set(ERR_ARG, "put summary: bad argument");
	rc = prep(s, ST_PUT_SUMMARY, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "put summary '%s' of run %lld layer %d head %d",
	         x->metric, (long long)run_id, x->layer, x->head);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, x->layer) ||
	        sqlite3_bind_int(st, 3, x->head) || bind_text(st, 4, x->metric) ||
	        sqlite3_bind_int64(st, 5, x->n) || bind_real(st, 6, x->mean) ||
	        bind_real(st, 7, x->std) || bind_real(st, 8, x->p50) ||
	        bind_real(st, 9, x->p90);
	return step_done(s, st, b, what);
}

int
store_get_summary(struct store *s, int64_t run_id, int layer, int head,
                  const char *metric, struct store_summary *out)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!metric || !out)
		return err_set(ERR_ARG, "get summary: NULL argument");
	rc = prep(s, ST_GET_SUMMARY, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, metric);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src == SQLITE_ROW) {
		int64_t n;
		const char *m[1];
		int col = 5;
		if (!col_int(st, 0, 0, INT64_MAX, &n))
			rc = err_set(ERR_FORMAT, "summary '%s' of run %lld: bad count", metric,
			             (long long)run_id);
		else if ((rc = copy_texts(&s->buf[BUF_SUMMARY], st, &col, 1, m)) == 0) {
			out->layer = layer;
			out->head = head;
			out->metric = m[0];
			out->n = n;
			out->mean = col_real(st, 1);
			out->std = col_real(st, 2);
			out->p50 = col_real(st, 3);
			out->p90 = col_real(st, 4);
		}
	} else if (src == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "no summary '%s' for run %lld layer %d head %d",
		             metric, (long long)run_id, layer, head);
	} else {
		rc = sql_fail(s, src, "get summary '%s' of run %lld", metric, (long long)run_id);
	}
	done(st);
	return rc;
}

/* A statement with the run id as its only parameter (the clear_* family). */
static int
run_only(struct store *s, enum stmt_id id, int64_t run_id, const char *op)
{
	sqlite3_stmt *st;
	char what[128];
	int rc = writable(s, op);
	if (rc)
		return rc;
	rc = prep(s, id, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "%s of run %lld", op, (long long)run_id);
	return step_done(s, st, sqlite3_bind_int64(st, 1, run_id), what);
}

int
store_clear_roles(struct store *s, int64_t run_id)
{
	return run_only(s, ST_CLEAR_ROLES, run_id, "clear roles");
}

int
store_put_role(struct store *s, int64_t run_id, const struct store_role *r)
{
	sqlite3_stmt *st;
	char what[160];
	int rc;

	rc = writable(s, "put role");
	if (rc)
		return rc;
	if (!r || !r->role || !*r->role || !r->metric || !*r->metric || r->layer < 0 ||
	    r->head < 0 || isnan(r->value) || isnan(r->threshold))
		return err_set(ERR_ARG, "put role: bad argument");
	rc = prep(s, ST_PUT_ROLE, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "put role '%s' of run %lld layer %d head %d", r->role,
	         (long long)run_id, r->layer, r->head);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, r->layer) ||
	        sqlite3_bind_int(st, 3, r->head) || bind_text(st, 4, r->role) ||
	        bind_text(st, 5, r->metric) || sqlite3_bind_double(st, 6, r->value) ||
	        sqlite3_bind_double(st, 7, r->threshold);
	return step_done(s, st, b, what);
}

int
store_each_role(struct store *s, int64_t run_id,
                int (*fn)(void *ctx, const struct store_role *r), void *ctx)
{
	sqlite3_stmt *st;
	int rc, src;

	if (!fn)
		return err_set(ERR_ARG, "each role: NULL callback");
	if (s->in_each_role)
		return err_set(ERR_ARG, "each role: called again from its own callback");
	rc = prep(s, ST_EACH_ROLE, &st);
	if (rc)
		return rc;
	s->in_each_role = true;
	int b = sqlite3_bind_int64(st, 1, run_id);
	while (!b && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_role r;
		int64_t l, h;
		if (!col_int(st, 0, 0, INT_MAX, &l) || !col_int(st, 1, 0, INT_MAX, &h)) {
			rc = err_set(ERR_FORMAT, "roles of run %lld: layer or head out of range",
			             (long long)run_id);
			goto out;
		}
		r.layer = (int)l;
		r.head = (int)h;
		r.role = col_str(st, 2);
		r.metric = col_str(st, 3);
		r.value = col_real(st, 4);
		r.threshold = col_real(st, 5);
		if ((rc = fn(ctx, &r)) != 0)
			goto out;
	}
	if (b || src != SQLITE_DONE)
		rc = sql_fail(s, b ? sqlite3_errcode(s->db) : src, "list roles of run %lld",
		              (long long)run_id);
out:
	s->in_each_role = false;
	done(st);
	return rc;
}

int
store_clear_similarity(struct store *s, int64_t run_id)
{
	int rc = run_only(s, ST_CLEAR_SIM, run_id, "clear head similarity");
	return rc ? rc : run_only(s, ST_CLEAR_LAYOUT, run_id, "clear head layout");
}

int
store_put_similarity(struct store *s, int64_t run_id, int layer_a, int head_a,
                     int layer_b, int head_b, double js, int64_t n_samples)
{
	sqlite3_stmt *st;
	char what[160];
	int rc;

	rc = writable(s, "put head similarity");
	if (rc)
		return rc;
	if (layer_a < 0 || head_a < 0 || layer_b < 0 || head_b < 0 || isnan(js) ||
	    n_samples < 0)
		return err_set(ERR_ARG, "put head similarity: bad argument");
	rc = prep(s, ST_PUT_SIM, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "put similarity of L%dH%d and L%dH%d in run %lld",
	         layer_a, head_a, layer_b, head_b, (long long)run_id);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer_a) ||
	        sqlite3_bind_int(st, 3, head_a) || sqlite3_bind_int(st, 4, layer_b) ||
	        sqlite3_bind_int(st, 5, head_b) || sqlite3_bind_double(st, 6, js) ||
	        sqlite3_bind_int64(st, 7, n_samples);
	return step_done(s, st, b, what);
}

/* One REAL (or two) from a one-row query; ERR_NOTFOUND without a row. */
static int
get_reals(struct store *s, sqlite3_stmt *st, int bind_failed, int n, double *a,
          double *b, const char *what)
{
	int rc = 0;
	int src = bind_failed ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*a = col_real(st, 0);
		if (n > 1)
			*b = col_real(st, 1);
	} else if (src == SQLITE_DONE) {
		rc = err_set(ERR_NOTFOUND, "no %s", what);
	} else {
		rc = sql_fail(s, src, "get %s", what);
	}
	done(st);
	return rc;
}

int
store_get_similarity(struct store *s, int64_t run_id, int layer_a, int head_a,
                     int layer_b, int head_b, double *js)
{
	sqlite3_stmt *st;
	char what[160];
	int rc;

	if (!js)
		return err_set(ERR_ARG, "get head similarity: NULL argument");
	rc = prep(s, ST_GET_SIM, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "similarity of L%dH%d and L%dH%d in run %lld", layer_a,
	         head_a, layer_b, head_b, (long long)run_id);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer_a) ||
	        sqlite3_bind_int(st, 3, head_a) || sqlite3_bind_int(st, 4, layer_b) ||
	        sqlite3_bind_int(st, 5, head_b);
	return get_reals(s, st, b, 1, js, NULL, what);
}

int
store_put_layout(struct store *s, int64_t run_id, int layer, int head, double x,
                 double y)
{
	sqlite3_stmt *st;
	char what[128];
	int rc;

	rc = writable(s, "put head layout");
	if (rc)
		return rc;
	if (layer < 0 || head < 0 || !isfinite(x) || !isfinite(y))
		return err_set(ERR_ARG, "put head layout: bad argument");
	rc = prep(s, ST_PUT_LAYOUT, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "put layout of L%dH%d in run %lld", layer, head,
	         (long long)run_id);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || sqlite3_bind_double(st, 4, x) ||
	        sqlite3_bind_double(st, 5, y);
	return step_done(s, st, b, what);
}

int
store_get_layout(struct store *s, int64_t run_id, int layer, int head, double *x,
                 double *y)
{
	sqlite3_stmt *st;
	char what[128];
	int rc;

	if (!x || !y)
		return err_set(ERR_ARG, "get head layout: NULL argument");
	rc = prep(s, ST_GET_LAYOUT, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "layout of L%dH%d in run %lld", layer, head,
	         (long long)run_id);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head);
	return get_reals(s, st, b, 2, x, y, what);
}

int
store_delete_attn(struct store *s, int64_t sample_id, const char *kind)
{
	sqlite3_stmt *st;
	char what[128];
	int rc;

	rc = writable(s, "delete attention");
	if (rc)
		return rc;
	if (!kind || !*kind)
		return err_set(ERR_ARG, "delete attention: no kind");
	rc = prep(s, ST_DELETE_ATTN, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "delete %.32s attention of sample %lld", kind,
	         (long long)sample_id);
	int b = sqlite3_bind_int64(st, 1, sample_id) || bind_text(st, 2, kind);
	return step_done(s, st, b, what);
}

static bool
ablation_mode(const char *mode)
{
	return mode && (strcmp(mode, "zero") == 0 || strcmp(mode, "mean") == 0);
}

int
store_put_ablation(struct store *s, int64_t run_id, int layer, int head,
                   const char *mode, double loss, double base_loss, int64_t n_samples)
{
	sqlite3_stmt *st;
	char what[128];
	int rc;

	rc = writable(s, "put ablation");
	if (rc)
		return rc;
	if (layer < 0 || head < 0 || !ablation_mode(mode) || !isfinite(loss) ||
	    !isfinite(base_loss) || n_samples < 0)
		return err_set(ERR_ARG, "put ablation: bad argument");
	rc = prep(s, ST_PUT_ABLATION, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "put %s ablation of L%dH%d in run %lld", mode, layer,
	         head, (long long)run_id);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, mode) ||
	        sqlite3_bind_double(st, 5, loss) || sqlite3_bind_double(st, 6, base_loss) ||
	        sqlite3_bind_int64(st, 7, n_samples);
	return step_done(s, st, b, what);
}

int
store_get_ablation(struct store *s, int64_t run_id, int layer, int head,
                   const char *mode, double *loss, double *base_loss)
{
	sqlite3_stmt *st;
	char what[128];
	int rc;

	if (!ablation_mode(mode) || !loss || !base_loss)
		return err_set(ERR_ARG, "get ablation: bad argument");
	rc = prep(s, ST_GET_ABLATION, &st);
	if (rc)
		return rc;
	snprintf(what, sizeof what, "%s ablation of L%dH%d in run %lld", mode, layer, head,
	         (long long)run_id);
	int b = sqlite3_bind_int64(st, 1, run_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, head) || bind_text(st, 4, mode);
	return get_reals(s, st, b, 2, loss, base_loss, what);
}

int
store_put_logit_lens(struct store *s, int64_t sample_id, int layer, int pos, int k,
                     const int32_t *ids, const float *logprobs)
{
	sqlite3_stmt *st;
	char what[128];
	bool own_txn = false;
	int rc;

	rc = writable(s, "put logit lens");
	if (rc)
		return rc;
	if (layer < 0 || pos < 0 || k < 1 || k > STORE_LENS_MAX_K || !ids || !logprobs)
		return err_set(ERR_ARG, "put logit lens: bad argument");
	for (int r = 0; r < k; r++)
		if (isnan(logprobs[r]))
			return err_set(ERR_ARG, "put logit lens: NaN log-probability");
	snprintf(what, sizeof what, "put logit lens of sample %lld layer %d position %d",
	         (long long)sample_id, layer, pos);
	if (sqlite3_get_autocommit(s->db)) {
		if ((rc = store_begin(s)) != 0)
			return rc;
		own_txn = true;
	}
	if ((rc = prep(s, ST_CLEAR_LENS, &st)) != 0)
		goto out;
	int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, pos);
	if ((rc = step_done(s, st, b, what)) != 0)
		goto out;
	if ((rc = prep(s, ST_PUT_LENS, &st)) != 0)
		goto out;
	for (int r = 0; r < k && !rc; r++) {
		b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
		    sqlite3_bind_int(st, 3, pos) || sqlite3_bind_int(st, 4, r) ||
		    sqlite3_bind_int(st, 5, ids[r]) ||
		    sqlite3_bind_double(st, 6, (double)logprobs[r]);
		rc = step_done(s, st, b, what);
	}
	if (!rc && own_txn) {
		rc = store_commit(s);
		own_txn = rc != 0;
	}
out:
	if (own_txn && rc)
		store_rollback(s);
	return rc;
}

int
store_get_logit_lens(struct store *s, int64_t sample_id, int layer, int pos, int max_k,
                     int *k, int32_t *ids, float *logprobs)
{
	sqlite3_stmt *st;
	int rc, src, n = 0;

	if (!k || max_k < 0 || (max_k > 0 && (!ids || !logprobs)))
		return err_set(ERR_ARG, "get logit lens: bad argument");
	*k = 0;
	rc = prep(s, ST_GET_LENS, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, sample_id) || sqlite3_bind_int(st, 2, layer) ||
	        sqlite3_bind_int(st, 3, pos);
	while (!b && (src = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t r, id;
		if (!col_int(st, 0, n, n, &r) || !col_int(st, 1, INT32_MIN, INT32_MAX, &id)) {
			rc = err_set(ERR_FORMAT, "logit lens of sample %lld layer %d position %d:"
			             " ranks not 0, 1, 2, ... or bad id", (long long)sample_id,
			             layer, pos);
			goto out;
		}
		if (n < max_k) {
			ids[n] = (int32_t)id;
			logprobs[n] = (float)col_real(st, 2);
		}
		n++;
	}
	if (b || src != SQLITE_DONE) {
		rc = sql_fail(s, b ? sqlite3_errcode(s->db) : src, "get logit lens of sample"
		              " %lld", (long long)sample_id);
		goto out;
	}
	*k = n < max_k ? n : max_k;
	if (n == 0)
		rc = err_set(ERR_NOTFOUND, "no logit lens for sample %lld layer %d position %d",
		             (long long)sample_id, layer, pos);
out:
	done(st);
	return rc;
}

int
store_set_run_dataset(struct store *s, int64_t run_id, const char *dataset)
{
	sqlite3_stmt *st;
	int rc, src;

	rc = writable(s, "set run dataset");
	if (rc)
		return rc;
	if (!dataset || !*dataset)
		return err_set(ERR_ARG, "set run dataset: empty label");
	rc = prep(s, ST_SET_DATASET, &st);
	if (rc)
		return rc;
	int b = sqlite3_bind_int64(st, 1, run_id) || bind_text(st, 2, dataset);
	src = b ? sqlite3_errcode(s->db) : sqlite3_step(st);
	if (src != SQLITE_DONE)
		rc = sql_fail(s, src, "set dataset of run %lld", (long long)run_id);
	else if (sqlite3_changes(s->db) == 0)
		rc = err_set(ERR_NOTFOUND, "set dataset of run %lld: no such run",
		             (long long)run_id);
	done(st);
	return rc;
}
