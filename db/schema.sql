-- schema.sql — the attnscope recording database, schema version 2.
--
-- This file is the one source of truth for the tables: the build embeds it
-- into the program (db/store.c runs all of it on a new database). It is
-- written for users who query a recording directly with sqlite3, pandas or
-- DuckDB.
--
-- Versions. Each version after the first starts a section with a line
-- "-- ==== version N ====" below: the statements from that line to the next
-- such line upgrade a version N-1 database (db/store.c runs them, in order,
-- when it opens an older file for writing). A new database runs the whole
-- file. Version 1: the recording (models ... head_stats). Version 2: the
-- results of `attnscope analyze` and `attnscope probe` (head_summary ...
-- logit_lens). Version 3: the source side of encoder–decoder samples
-- (samples.source, source_tokens).
--
-- Conventions
--   * PRAGMA user_version holds the schema version (3 for this file). A
--     program that finds a newer version refuses the file; readers read an
--     older one as it is, and a writer (record, analyze, probe) upgrades it.
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
	                                 -- 'cross' (decoder queries, encoder keys),
	                                 -- 'rollout', 'flow' (derived maps, below), ...
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
-- Derived maps written by `attnscope analyze --rollout` / `--flow`
-- (Abnar & Zuidema 2020), one per (sample, layer) with head = 0, stored as
-- f32 ('tri' for causal models). With W_l = rownorm(mean over the heads of
-- layer l of A + I) (0.5 A + 0.5 I for rows that sum to 1):
--   'rollout'  R_l = W_l W_{l-1} ... W_0: R_l[i, j] is how much of input
--              token j reaches position i at the output of layer l
--   'flow'     F_l[i, j] = maximum flow from position i at the output of
--              layer l to input token j in the layered graph whose edges
--              (layer m + 1, i) -> (layer m, j) have capacity W_m[i, j];
--              each row normalised to sum 1
-- Both rows are distributions over the input tokens. A sample's flow covers
-- at most `--max-tokens` tokens (its first ones; exact for causal models).

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
--
-- `attnscope analyze` adds one row per sample, head and metric for the
-- metrics below (rows it writes again are replaced). Notation: t_i the
-- token ids, n = T, Σ over the whole map.
--
--   entropy_norm   mean over rows i >= 1 of (row entropy) / ln(i+1): 1 for
--                  uniform attention over the prefix, 0 for one-hot rows
--   TransformerLens head-detector scores (transformer_lens/head_detector.py)
--   for three detection patterns P (0/1, lower triangular):
--     prev_token       P[i,j] = 1 iff j = i-1 (recorder row above)
--     duplicate_token  P[i,j] = 1 iff j < i and t_j = t_i
--     induction        P[i,j] = 1 iff 1 <= j <= i and t_{j-1} = t_i
--   The plain names are the 'mul' measure without exclusions:
--     mul   sum(A' * P) / sum(A')
--     abs   1 - round(sum(|A - P|') / n, 3)
--   Variants NAME_mul_nobos, NAME_mul_nocur, NAME_mul_nobos_nocur,
--   NAME_abs, NAME_abs_nobos, NAME_abs_nocur, NAME_abs_nobos_nocur:
--   'nobos' zeroes column 0 and 'nocur' the diagonal of A (mul: A') or of
--   |A - P| (abs) first, as TransformerLens' exclude_bos and
--   exclude_current_token do. Undefined (NULL) for one-token samples.
--   Clark et al. 2019 ("What does BERT look at?"): sum(A * S) / n, the mean
--   over queries of the attention given to a class of keys S:
--     clark_special  special tokens: BOS, EOS, [CLS], [SEP] (a piece that,
--                    trimmed of white space, is <s>, </s>, <bos>, <eos>,
--                    [CLS], [SEP] or <|...|>)
--     clark_punct    punctuation: a piece made only of ASCII punctuation
--                    after one leading '▁', 'Ġ' or '##'
--     clark_self     A[i,i];  clark_prev  A[i,i-1];  clark_next  A[i,i+1]
--   Gu et al. 2024 (attention sink):
--     sink           1 when the first token's importance, the mean of
--                    A[i,0] over the queries that see it (= first_token),
--                    exceeds 0.3, else 0; its mean over a run is the head's
--                    sink rate. Undefined for one-token samples.
--   Kobayashi et al. 2020 (norm-based attention, only when the run captured
--   blocks.*.attn.hook_norm_pattern, N[i,j] = A[i,j] * |v_j W_O|): each row
--   of N as shares of its total (rows with total 0 left out):
--     norm_first_token  mean over rows of the share on position 0
--     norm_distance     mean over rows of sum_j share[i,j] * |i - j|
--   Undefined values are NULL.
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


-- ==== version 2 ====
-- Results of `attnscope analyze` and `attnscope probe`. Everything here can
-- be recomputed from the recording; analyze replaces a run's rows when it
-- runs again.

-- head_summary: one metric of one head summarised over the samples of a
-- run: its per-sample values (head_stats) that are defined (not NULL).
-- Metrics as in head_stats, plus 'induction_probe' (the induction probe's
-- score, see below) and the layer metrics, stored with head = -1, which
-- describe a whole layer: 'layer_norm_first_token' and 'layer_norm_distance'
-- (norm_first_token and norm_distance on the sum of the layer's
-- norm-based maps).
CREATE TABLE head_summary (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0), -- block, 0-based
	head        INTEGER NOT NULL CHECK (head >= -1), -- query head; -1 = the layer
	metric      TEXT NOT NULL,       -- metric name
	n           INTEGER NOT NULL CHECK (n >= 0), -- samples with a defined value
	mean        REAL,                -- mean of those values; NULL when n = 0
	std         REAL,                -- population standard deviation (divide by n)
	p50         REAL,                -- median (linear interpolation, as numpy)
	p90         REAL,                -- 90th percentile (linear interpolation)
	PRIMARY KEY (run_id, layer, head, metric)
) STRICT, WITHOUT ROWID;

-- head_roles: the roles analyze gives a head, each decided by the run mean
-- of one metric against a fixed threshold:
--   'previous-token'  prev_token   >= 0.5
--   'induction'       induction    >= 0.4
--   'sink'            sink         >= 0.5  (a first-token sink in at least
--                                          half of the samples)
--   'broad'           entropy_norm >= 0.95 (within 5% of uniform)
--   'self'            self         >= 0.5
--   'local'           distance     <= 2.0  tokens, for heads that are neither
--                                          previous-token nor self heads
-- A head may have several roles or none.
CREATE TABLE head_roles (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0),
	head        INTEGER NOT NULL CHECK (head >= 0),
	role        TEXT NOT NULL,       -- one of the names above
	metric      TEXT NOT NULL,       -- the metric that decided it
	value       REAL NOT NULL,       -- its run mean
	threshold   REAL NOT NULL,       -- the threshold it passed
	PRIMARY KEY (run_id, layer, head, role)
) STRICT, WITHOUT ROWID;

-- head_similarity: Clark et al.'s distance between two heads of a run
-- (their head_distances.py): with P, Q the heads' maps of one sample
-- (n x n), smoothed P' = 0.001/n + 0.999 P, M = (P' + Q')/2,
--   js = sum over all n*n entries of (P' ln(P'/M) + Q' ln(Q'/M)) / 2,
-- summed over the samples of the run (natural log). Both orders of every
-- pair are stored; js(a, a) = 0 is not.
CREATE TABLE head_similarity (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	layer_a     INTEGER NOT NULL CHECK (layer_a >= 0),
	head_a      INTEGER NOT NULL CHECK (head_a >= 0),
	layer_b     INTEGER NOT NULL CHECK (layer_b >= 0),
	head_b      INTEGER NOT NULL CHECK (head_b >= 0),
	js          REAL NOT NULL,       -- the distance (nats, summed over samples)
	n_samples   INTEGER NOT NULL CHECK (n_samples >= 0), -- samples summed
	PRIMARY KEY (run_id, layer_a, head_a, layer_b, head_b)
) STRICT, WITHOUT ROWID;

-- head_layout: a 2-D map of the heads: classical (Torgerson) MDS of the
-- head_similarity distances (x, y = the top two eigenvectors of
-- -1/2 J D^2 J scaled by the square roots of their eigenvalues).
CREATE TABLE head_layout (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0),
	head        INTEGER NOT NULL CHECK (head >= 0),
	x           REAL NOT NULL,
	y           REAL NOT NULL,
	PRIMARY KEY (run_id, layer, head)
) STRICT, WITHOUT ROWID;

-- head_ablation: `attnscope probe ablate`: the run's samples with one head's
-- output z (hook_z, before W_O) replaced, 'zero' by zeros, 'mean' by its
-- mean over every position of every sample of the run. loss is the mean
-- over the samples of each sample's mean next-token loss (nats), samples of
-- fewer than two tokens left out; base_loss the same without ablation
-- (also in samples.loss); delta = loss - base_loss (> 0: the head helps).
CREATE TABLE head_ablation (
	run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0),
	head        INTEGER NOT NULL CHECK (head >= 0),
	mode        TEXT NOT NULL CHECK (mode IN ('zero', 'mean')),
	loss        REAL NOT NULL,       -- mean loss with the head ablated
	base_loss   REAL NOT NULL,       -- mean loss of the intact model
	delta       REAL NOT NULL,       -- loss - base_loss
	n_samples   INTEGER NOT NULL CHECK (n_samples >= 0),
	PRIMARY KEY (run_id, layer, head, mode)
) STRICT, WITHOUT ROWID;
-- `attnscope probe induction` records its random repeated sequences as a
-- run of its own and stores per sample and head, in head_stats, the metric
-- 'induction_probe': the mean attention from each position i of the second
-- copy to i - S + 1 (the token after the earlier occurrence), S the length
-- of one copy; head_summary holds its run summary.

-- logit_lens: `attnscope probe logit-lens`: each layer's residual stream
-- (blocks.L.hook_resid_post) put through the final norm and the unembedding,
-- as if the model ended there; the k most likely next tokens per position.
CREATE TABLE logit_lens (
	sample_id   INTEGER NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
	layer       INTEGER NOT NULL CHECK (layer >= 0), -- block whose output was decoded
	pos         INTEGER NOT NULL CHECK (pos >= 0),   -- position of the prediction
	rank        INTEGER NOT NULL CHECK (rank >= 0),  -- 0 = most likely
	token_id    INTEGER NOT NULL,    -- vocabulary id
	logprob     REAL NOT NULL,       -- ln p of that token under the lens
	PRIMARY KEY (sample_id, layer, pos, rank)
) STRICT, WITHOUT ROWID;

-- ==== version 3 ====
-- Encoder–decoder models (BART, T5). A sample is a (source, target) pair:
-- samples.text is the target text, tokens holds the decoder input
-- ([decoder start] + the target's labels shifted right, or the generated
-- tokens), and the encoder's input lives here. The attention table keeps
-- each map under its kind: 'encoder' [S, S], 'decoder' [T, T] causal,
-- 'cross' [T, S] (queries: decoder positions, keys: source positions);
-- head_stats names the encoder's and cross-attention's statistics
-- 'encoder.<metric>' and 'cross.<metric>', and holds per cross-attention
-- head the alignment metrics (src/analysis/analysis.h): 'cross.monotonicity'
-- (share of target steps whose argmax source position does not move
-- backwards), 'cross.coverage' (share of source tokens whose attention summed
-- over the target steps is >= 0.5) and 'cross.diagonality' (1 - mean
-- distance of the normalised argmax from the diagonal).
ALTER TABLE samples ADD COLUMN source TEXT; -- source text; NULL otherwise
CREATE TABLE source_tokens (
	sample_id   INTEGER NOT NULL REFERENCES samples (id) ON DELETE CASCADE,
	pos         INTEGER NOT NULL CHECK (pos >= 0), -- 0-based source position
	token_id    INTEGER NOT NULL,    -- vocabulary id
	piece       TEXT NOT NULL,       -- the token's text as the tokenizer spells it
	PRIMARY KEY (sample_id, pos)
) STRICT, WITHOUT ROWID;
