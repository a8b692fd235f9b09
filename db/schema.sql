-- schema.sql — the attnscope recording database, schema version 1.
--
-- This file is the one source of truth for the tables: the build embeds it
-- into the program (db/store.c runs it on a new database). It is written for
-- users who query a recording directly with sqlite3, pandas or DuckDB.
--
-- Conventions
--   * PRAGMA user_version holds the schema version (1 for this file). A
--     program that finds a newer version refuses the file.
--   * Every table is STRICT: a column holds only its declared type.
--   * Ids are INTEGER PRIMARY KEY (rowid) values assigned by SQLite.
--   * Positions, layers and heads count from 0.
--   * Log-probabilities, entropies and losses are in nats (natural log).
--   * Times are unix seconds (UTC) as REAL, with fractions.
--   * SQLite stores a NaN written to a REAL column as NULL, so NULL in a
--     REAL measurement column means "undefined / not computed" (NaN).
--   * Deleting a model deletes its runs; deleting a run deletes its samples;
--     deleting a sample deletes its tokens, attention maps, activations and
--     head statistics (foreign keys with ON DELETE CASCADE; enable them in
--     your session with PRAGMA foreign_keys=ON before deleting).
--
-- Tensor BLOBs (attention.data, activations.data)
--   dtype  'f32'  IEEE binary32, 4 bytes per value, little-endian
--          'f16'  IEEE binary16 (half), 2 bytes per value, little-endian;
--                 values were rounded to nearest even from float32
--   codec  'none' the bytes above, as they are
--          'zstd' the bytes above compressed as one zstd frame (level 3)
--                 whose header records the uncompressed size
--   layout 'full' all n_q*n_k values, row by row (C order, row = query)
--          'tri'  causal maps only (n_q = n_k = n): the lower triangle
--                 including the diagonal, row by row: row i holds columns
--                 0..i, so the BLOB has n*(n+1)/2 values; everything above
--                 the diagonal is 0
--   The encodings the program writes are f32/none, f16/none and f16/zstd
--   (its names "f32", "f16" and "f16z"). Reading one head back in Python:
--
--     import numpy as np, zstandard
--     raw = zstandard.ZstdDecompressor().decompress(data) \
--           if codec == 'zstd' else data
--     v = np.frombuffer(raw, '<f2' if dtype == 'f16' else '<f4')
--     if layout == 'tri':
--         A = np.zeros((n_q, n_k), np.float32)
--         A[np.tril_indices(n_q)] = v       # tril_indices is row by row
--     else:
--         A = v.reshape(n_q, n_k).astype(np.float32)


-- models: one row per model file that was recorded. The same file (same
-- sha256 and path) is stored once and shared by all its runs.
CREATE TABLE models (
	id          INTEGER PRIMARY KEY, -- model id
	name        TEXT NOT NULL,       -- file name without directory
	path        TEXT NOT NULL,       -- path as the user gave it
	arch        TEXT NOT NULL,       -- architecture: 'llama', 'gpt2', 'bert', ...
	sha256      TEXT NOT NULL,       -- SHA-256 of the model file, lowercase hex
	tokenizer   TEXT,                -- tokenizer path or kind; NULL if unknown
	bos_policy  TEXT,                -- 'bos' (BOS token prepended), 'none', ...
	dtype       TEXT,                -- weights as loaded and computed: 'f32'
	n_layer     INTEGER NOT NULL,    -- transformer blocks
	n_head      INTEGER NOT NULL,    -- query heads per block
	n_kv_head   INTEGER NOT NULL,    -- key/value heads (< n_head: grouped-query)
	d_model     INTEGER NOT NULL,    -- residual stream width
	d_head      INTEGER NOT NULL,    -- width of one head
	d_ff        INTEGER NOT NULL,    -- hidden width of the MLP
	vocab_size  INTEGER NOT NULL,    -- tokens in the vocabulary
	n_ctx       INTEGER NOT NULL     -- longest sequence the model accepts
) STRICT;
CREATE UNIQUE INDEX models_file ON models (sha256, path);

-- runs: one `attnscope record` invocation: a model over a dataset with one
-- set of options. `record --resume` continues the newest run with the same
-- model, dataset and options whose status is not 'done'.
CREATE TABLE runs (
	id          INTEGER PRIMARY KEY, -- run id
	model_id    INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
	dataset     TEXT NOT NULL,       -- data file path, or a marker for --text input
	options     TEXT NOT NULL DEFAULT '{}', -- JSON object: the recording options
	status      TEXT NOT NULL,       -- 'running', 'done' or 'failed'
	started     REAL NOT NULL,       -- unix seconds when the run began
	finished    REAL,                -- unix seconds when it ended; NULL while running
	n_total     INTEGER NOT NULL DEFAULT -1 -- samples the run is meant to hold; -1 unknown
) STRICT;
CREATE INDEX runs_model ON runs (model_id);
-- The number of samples recorded so far is
--   SELECT count(*) FROM samples WHERE run_id = ?

-- samples: one input sequence of a run. A sample's row and everything that
-- hangs off it are written in one transaction, so a sample is either
-- complete or absent.
CREATE TABLE samples (
	id          INTEGER PRIMARY KEY, -- sample id (what other tables reference)
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx         INTEGER NOT NULL CHECK (idx >= 0), -- 0-based position within the run
	text        TEXT,                -- the sample text; NULL if given as token ids
	n_tok       INTEGER NOT NULL CHECK (n_tok >= 0), -- tokens in the sample (T)
	loss        REAL,                -- mean next-token negative log-likelihood over
	                                 -- positions 0..T-2, nats; NULL if T < 2
	UNIQUE (run_id, idx)
) STRICT;

-- tokens: the tokens of a sample, with what the model predicted AT each
-- position (that is, for the token that follows it).
CREATE TABLE tokens (
	sample_id     INTEGER NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
	pos           INTEGER NOT NULL,  -- 0-based position, 0..n_tok-1
	token_id      INTEGER NOT NULL,  -- vocabulary id
	piece         TEXT NOT NULL,     -- the token's text as the tokenizer spells
	                                 -- it (e.g. '▁the', 'Ġthe', '<0x0A>')
	next_logprob  REAL,              -- ln p(token at pos+1 | tokens 0..pos);
	                                 -- NULL at the last position
	entropy       REAL,              -- -sum p ln p of the predicted distribution, nats
	topk_ids      BLOB,              -- k int32 little-endian vocabulary ids of the
	                                 -- most probable next tokens, most probable
	                                 -- first (k <= 5); NULL when k = 0
	topk_logprobs BLOB,              -- k float32 little-endian ln p of those ids,
	                                 -- same order; NULL when k = 0
	PRIMARY KEY (sample_id, pos)
) STRICT, WITHOUT ROWID;
-- In pandas: np.frombuffer(topk_ids, '<i4'), np.frombuffer(topk_logprobs, '<f4').

-- attention: one attention map A of one head: A[i, j] is the weight query
-- position i gives key position j (post-softmax; each row sums to 1). See
-- "Tensor BLOBs" above for dtype, layout and codec.
CREATE TABLE attention (
	id          INTEGER PRIMARY KEY,
	sample_id   INTEGER NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0), -- block, 0-based
	head        INTEGER NOT NULL CHECK (head >= 0),  -- query head, 0-based
	kind        TEXT NOT NULL,       -- 'self' (decoder or encoder self-attention),
	                                 -- 'cross' (decoder queries, encoder keys), ...
	n_q         INTEGER NOT NULL CHECK (n_q > 0), -- rows: query positions
	n_k         INTEGER NOT NULL CHECK (n_k > 0), -- columns: key positions
	dtype       TEXT NOT NULL,       -- 'f32' or 'f16'
	layout      TEXT NOT NULL,       -- 'full' or 'tri' (lower triangle, n_q = n_k)
	codec       TEXT NOT NULL,       -- 'none' or 'zstd'
	data        BLOB NOT NULL        -- the values: n_q*n_k ('full') or
	                                 -- n_q*(n_q+1)/2 ('tri') of dtype, then codec
) STRICT;
-- dtype, layout and codec carry no CHECK so that a later version can add
-- encodings without rebuilding this (large) table; readers refuse values
-- they do not know.
CREATE UNIQUE INDEX attention_key ON attention (sample_id, kind, layer, head);

-- activations: a captured tensor, named by its TransformerLens-style hook
-- (e.g. 'blocks.0.hook_resid_post' [T, d_model], 'blocks.0.attn.hook_q'
-- [T, n_head, d_head]). Layout is always 'full' (C order).
CREATE TABLE activations (
	id          INTEGER PRIMARY KEY,
	sample_id   INTEGER NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
	hook        TEXT NOT NULL,       -- hook point name
	dtype       TEXT NOT NULL,       -- 'f32' or 'f16'
	codec       TEXT NOT NULL,       -- 'none' or 'zstd'
	ndim        INTEGER NOT NULL CHECK (ndim BETWEEN 1 AND 4), -- dimensions used
	d0          INTEGER NOT NULL CHECK (d0 > 0), -- shape[0] (outermost)
	d1          INTEGER,             -- shape[1]; NULL when ndim < 2
	d2          INTEGER,             -- shape[2]; NULL when ndim < 3
	d3          INTEGER,             -- shape[3] (innermost when ndim = 4); NULL when ndim < 4
	data        BLOB NOT NULL,       -- d0*d1*... values of dtype, row-major, then codec
	UNIQUE (sample_id, hook)
) STRICT;

-- head_stats: per-head statistics of the self-attention maps, one value per
-- (sample, layer, head, metric), computed by the recorder even when the
-- maps themselves are not stored. With A the head's map for the sample,
-- rows i = query positions 0..T-1 (T rows), columns j = key positions:
--
--   entropy      mean over rows of  -sum_j A[i,j] ln A[i,j]   (0 ln 0 = 0), nats
--   distance     mean over rows of   sum_j A[i,j] |i - j|     (positions)
--   first_token  mean over rows of   A[i,0]   (attention to the first token,
--                                             often BOS: "sink" heads)
--   prev_token   sum_{i>=1} A[i,i-1] / T      (TransformerLens previous-token
--                                             score, 'mul', no exclusions)
--   self         sum_i A[i,i] / T             (attention to the own position)
--   max_weight   mean over rows of   max_j A[i,j]
--
-- All lie in [0, 1] except entropy (0..ln T) and distance (0..T-1).
-- Dataset-scale summaries need no BLOB decoding, e.g.
--   SELECT layer, head, avg(value) FROM head_stats JOIN samples s
--     ON s.id = sample_id WHERE s.run_id = ? AND metric = 'prev_token'
--     GROUP BY layer, head ORDER BY 3 DESC;
CREATE TABLE head_stats (
	sample_id   INTEGER NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0), -- block, 0-based
	head        INTEGER NOT NULL CHECK (head >= 0),  -- query head, 0-based
	metric      TEXT NOT NULL,       -- one of the names above
	value       REAL,                -- the statistic; NULL if undefined (NaN)
	PRIMARY KEY (sample_id, layer, head, metric)
) STRICT, WITHOUT ROWID;
